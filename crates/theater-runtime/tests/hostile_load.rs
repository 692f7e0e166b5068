//! Hostile load, all at once: every round, one child allocates to its memory limit,
//! one recurses until its stack overflows, one spins until it runs out of fuel, one
//! floods its own mailbox or spawns until the children limit; and the outside world sends
//! twice the bystander's mailbox limit. Meanwhile the bystander must keep making
//! progress, nothing accepted may be lost, everything refused must be recorded as
//! refused, the trace must replay, and the host's resident memory must stay bounded.
//!
//! The RSS figures are printed (`cargo test -p theater-runtime --test hostile_load --
//! --nocapture`) and written down in docs/limits.md.

mod common;

use common::*;
use serde_json::json;
use theater_runtime::bench_support::rss_bytes;
use theater_runtime::replay::{replay, ReplayOptions};
use theater_runtime::{run_header, Sink, System};
use theater_trace::{
    EventBody, ExitReason, RefusalReason, RestartPolicy, Trace, TraceWriter, TrapCode,
    WriterOptions,
};

const ROUNDS: usize = 100;
/// Rounds before the resident set is taken as the baseline (engine, code, first pages).
const WARM_UP: usize = 10;
/// How much the resident set may grow after warm-up: a leak of one instance per round
/// (8 MiB of linear memory here) would exceed it many times over.
const RSS_GROWTH_MAX_BYTES: u64 = 64 << 20;

fn msg(v: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&v).unwrap()
}

#[test]
fn hostile_actors_at_their_limits_leave_the_host_bounded_and_others_progressing() {
    let limits = small_limits();
    let spec = spec(
        &["chaos"],
        vec![
            actor("sup", "chaos", json!({}), RestartPolicy::Permanent),
            actor("bystander", "chaos", json!({}), RestartPolicy::Permanent),
        ],
        limits,
        7,
    );
    let dir = std::env::temp_dir().join(format!("theater-hostile-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("load.bin");
    let writer = TraceWriter::create(
        &path,
        run_header(&spec),
        &spec.manifest_bytes(),
        WriterOptions::default(),
    )
    .unwrap();
    let mut system = System::new(&spec, Sink::File(Box::new(writer))).unwrap();
    let (sup, bystander) = (0, 1);
    system.run_until_idle(1_000).unwrap();
    // The supervisor tolerates any number of restarts, then gets four children (2..=5).
    let setup = json!([
        {"configure": {"strategy": 0, "max_restarts": 1_000_000, "window_ns": 1}},
        {"spawn": {"restart": 0, "init": {}}},
        {"spawn": {"restart": 0, "init": {}}},
        {"spawn": {"restart": 0, "init": {}}},
        {"spawn": {"restart": 0, "init": {}}}
    ]);
    assert!(system.inject(sup, msg(setup)).unwrap());
    system.run_until_idle(1_000).unwrap();

    let (mut accepted, mut refused) = (0u64, 0u64);
    let mut baseline = 0;
    let mut peak = 0;
    for round in 0..ROUNDS {
        let fifth = if round % 2 == 0 {
            json!("flood")
        } else {
            json!("spawn_bomb")
        };
        let attack = json!([
            {"send": {"to": 2, "cmds": [{"grow": {"mib": 64}}]}},
            {"send": {"to": 3, "cmds": ["recurse"]}},
            {"send": {"to": 4, "cmds": ["spin"]}},
            {"send": {"to": 5, "cmds": [fifth]}}
        ]);
        assert!(system.inject(sup, msg(attack)).unwrap());
        for _ in 0..2 * limits.mailbox_len {
            if system
                .inject(bystander, msg(json!([{"add": {"n": 1}}])))
                .unwrap()
            {
                accepted += 1;
            } else {
                refused += 1;
            }
        }
        system.run_until_idle(1_000_000).unwrap();
        let rss = rss_bytes();
        if round == WARM_UP {
            baseline = rss;
        }
        peak = peak.max(rss);
    }
    let (_, state) = system
        .actor(bystander)
        .map(|(s, _, st)| (s, st.to_vec()))
        .unwrap();
    let state: serde_json::Value = serde_json::from_slice(&state).unwrap();
    let (summary, sink) = system.finish("done").unwrap();
    let Sink::File(writer) = sink else {
        unreachable!()
    };
    writer.finish().unwrap();

    // The bystander did every accepted add; the rest were refused as mailbox-full.
    assert_eq!(state["count"], json!(accepted), "bystander progress");
    assert!(refused > 0 && accepted > 0);
    let trace = Trace::open(&path).unwrap();
    let events: Vec<EventBody> = trace.events().map(|e| e.unwrap().event.body).collect();
    let recorded_refusals = events
        .iter()
        .filter(|e| {
            matches!(e, EventBody::Refused { to, reason: RefusalReason::MailboxFull, .. } if *to == bystander)
        })
        .count() as u64;
    assert_eq!(recorded_refusals, refused, "every refusal is recorded");
    let exits = |actor: u64, code: TrapCode| {
        events
            .iter()
            .filter(|e| matches!(e, EventBody::ActorExited { actor: a, reason: ExitReason::Trap(c) } if *a == actor && *c == code))
            .count()
    };
    assert_eq!(exits(2, TrapCode::MemoryLimit), ROUNDS);
    assert_eq!(exits(3, TrapCode::StackOverflow), ROUNDS);
    assert_eq!(exits(4, TrapCode::OutOfFuel), ROUNDS);
    // The spawn bomb stopped at the children limit.
    let bombs = events
        .iter()
        .filter(|e| {
            matches!(
                e,
                EventBody::ActorSpawned {
                    parent: Some(5),
                    ..
                }
            )
        })
        .count();
    assert_eq!(bombs as u32, limits.children_per_supervisor);

    let head = trace.head();
    let report = replay(Trace::open(&path).unwrap(), &ReplayOptions::default()).unwrap();
    assert_eq!(report.head, head, "the hostile run replays");
    let size = std::fs::metadata(&path).unwrap().len();
    std::fs::remove_dir_all(&dir).unwrap();

    println!(
        "{ROUNDS} rounds, {} deliveries, {} failures, {accepted} external messages accepted, {refused} refused; trace {size} bytes",
        summary.deliveries, summary.failures
    );
    println!(
        "host RSS after {WARM_UP} rounds: {:.1} MiB; peak over the rest: {:.1} MiB (growth {:.1} MiB)",
        baseline as f64 / 1048576.0,
        peak as f64 / 1048576.0,
        peak.saturating_sub(baseline) as f64 / 1048576.0
    );
    assert!(
        peak.saturating_sub(baseline) < RSS_GROWTH_MAX_BYTES,
        "resident memory grew from {baseline} to {peak} bytes"
    );
}
