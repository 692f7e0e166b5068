//! The example actors do what their docs say, and every run replays to the same head.

mod common;

use common::*;
use serde_json::json;
use theater_runtime::replay::{replay, ReplayOptions};
use theater_runtime::{Limits, RuntimeError};
use theater_trace::{EventBody, ExitReason, RestartPolicy, Trace};

fn msg(v: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&v).unwrap()
}

#[test]
fn ping_pong_plays_the_requested_rounds() {
    let spec = spec(
        &["ping-pong"],
        vec![
            actor(
                "ping",
                "ping-pong",
                json!({"peer": 1}),
                RestartPolicy::Permanent,
            ),
            actor(
                "pong",
                "ping-pong",
                json!({"peer": 0}),
                RestartPolicy::Permanent,
            ),
        ],
        Limits::default(),
        3,
    );
    let (summary, bytes) = record(&spec, &[(0, msg(json!({"ball": 0, "max": 100})))]);
    // Two inits, 101 hits.
    assert_eq!(summary.deliveries, 2 + 101);
    assert_eq!(summary.failures, 0);
    assert_replays(&bytes);
}

#[test]
fn bank_bug_needs_the_exact_sequence() {
    let spec = spec(
        &["bank"],
        vec![actor("bank", "bank", json!(null), RestartPolicy::Permanent)],
        Limits::default(),
        1,
    );
    let ops = [
        json!({"open": {"name": "alice", "amount": 150}}),
        json!({"open": {"name": "bob", "amount": 10}}),
        json!({"transfer": {"from": "alice", "to": "bob", "amount": 40}}),
        json!({"withdraw": {"name": "bob", "amount": 500}}),
        // Empties alice exactly with a transfer of 110 >= 100: the fee makes her -1.
        json!({"transfer": {"from": "alice", "to": "bob", "amount": 110}}),
    ];
    let inputs: Vec<(u64, Vec<u8>)> = ops.iter().map(|o| (0, msg(o.clone()))).collect();
    let (_, bytes) = record(&spec, &inputs);
    assert_replays(&bytes);
    // Without the last transfer, nobody goes negative; with it, alice is at -1. The
    // state digests in the trace tell which: compare with the digest of the JSON states.
    let outputs: Vec<theater_trace::Digest> = Trace::from_bytes(bytes)
        .unwrap()
        .events()
        .filter_map(|e| match e.unwrap().event.body {
            EventBody::Outputs(o) => Some(o.state),
            _ => None,
        })
        .collect();
    let state = |accounts: serde_json::Value, transfers: u64| {
        theater_trace::state_digest(
            &serde_json::to_vec(&json!({"accounts": accounts, "transfers": transfers})).unwrap(),
        )
    };
    assert_eq!(outputs[4], state(json!({"alice": 110, "bob": 50}), 1));
    assert_eq!(outputs[5], state(json!({"alice": -1, "bob": 160}), 2));
}

#[test]
fn supervisor_restarts_crashing_workers() {
    let spec = spec(
        &["supervisor", "worker"],
        vec![actor(
            "supervisor",
            "supervisor",
            json!({"workers": 3}),
            RestartPolicy::Permanent,
        )],
        Limits::default(),
        1,
    );
    let inputs: Vec<(u64, Vec<u8>)> = (1..=30).map(|j| (0, msg(json!({"job": j})))).collect();
    let (summary, bytes) = record(&spec, &inputs);
    // Jobs 7, 14, 21 and 28 crash a worker each; each crash is followed by a restart.
    assert_eq!(summary.restarts, 4);
    let events: Vec<EventBody> = Trace::from_bytes(bytes.clone())
        .unwrap()
        .events()
        .map(|e| e.unwrap().event.body)
        .collect();
    let crashes = events
        .iter()
        .filter(|e| matches!(e, EventBody::ActorExited { reason: ExitReason::Error(m), .. } if m.starts_with("unlucky")))
        .count();
    assert_eq!(crashes, 4);
    assert_replays(&bytes);
}

#[test]
fn hidden_state_is_a_divergence_when_replayed_from_checkpoints() {
    let spec = spec(
        &["hidden-state"],
        vec![actor(
            "h",
            "hidden-state",
            json!(null),
            RestartPolicy::Permanent,
        )],
        Limits::default(),
        1,
    );
    let inputs: Vec<(u64, Vec<u8>)> = (0..6).map(|_| (0, b"tick".to_vec())).collect();
    let (_, bytes) = record(&spec, &inputs);
    // A straight replay runs the same instance through the same calls: it matches.
    assert_replays(&bytes);
    // Restoring from checkpoints (fresh instances, same host state) exposes it.
    let options = ReplayOptions {
        checkpoint_every: Some(3),
        ..ReplayOptions::default()
    };
    match replay(Trace::from_bytes(bytes).unwrap(), &options) {
        Err(RuntimeError::Divergence(d)) => {
            assert_eq!(d.actor, Some(0));
            assert!(d.expected.contains("outputs"), "{d}");
        }
        other => panic!("expected a divergence, got {other:?}"),
    }
}

#[test]
fn live_mode_records_clock_and_randomness_and_replays_them() {
    let mut spec = spec(
        &["chaos"],
        vec![actor("a", "chaos", json!({}), RestartPolicy::Permanent)],
        Limits::default(),
        1,
    );
    spec.mode = theater_trace::RunMode::Live;
    let inputs = vec![(0, msg(json!(["now", {"random": {"len": 16}}, "now"])))];
    let (_, a) = record(&spec, &inputs);
    let (_, b) = record(&spec, &inputs);
    // Live inputs differ between runs (OS randomness, wall clock)…
    assert_ne!(a, b);
    // …and each run replays exactly from its own trace.
    assert_replays(&a);
    assert_replays(&b);
    let calls = Trace::from_bytes(a)
        .unwrap()
        .events()
        .filter(|e| matches!(e.as_ref().unwrap().event.body, EventBody::HostCall { .. }))
        .count();
    assert_eq!(calls, 3);
}

#[test]
fn timers_fire_in_virtual_time_order() {
    let spec = spec(
        &["chaos"],
        vec![actor("a", "chaos", json!({}), RestartPolicy::Permanent)],
        Limits::default(),
        1,
    );
    let cmds = json!([
        {"timer": {"delay_ns": 3000, "cmds": [{"add": {"n": 3}}]}},
        {"timer": {"delay_ns": 1000, "cmds": [{"add": {"n": 1}}]}},
        {"timer": {"delay_ns": 2000, "cmds": [{"add": {"n": 2}}]}}
    ]);
    let (summary, bytes) = record(&spec, &[(0, msg(cmds))]);
    assert_eq!(summary.time_ns, 3000);
    let fired: Vec<(u64, theater_trace::Sender)> = Trace::from_bytes(bytes.clone())
        .unwrap()
        .events()
        .filter_map(|e| match e.unwrap().event.body {
            EventBody::Delivered(d) if matches!(d.from, theater_trace::Sender::Timer(_)) => {
                Some((d.time_ns, d.from))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        fired,
        vec![
            (1000, theater_trace::Sender::Timer(1)),
            (2000, theater_trace::Sender::Timer(2)),
            (3000, theater_trace::Sender::Timer(0)),
        ]
    );
    assert_replays(&bytes);
}

/// A replay of recorded HTTP traffic answers no client: the replies to external requests
/// are compared as outputs and dropped, never kept for the length of the replay.
#[test]
fn replaying_external_requests_keeps_no_replies() {
    use theater_runtime::replay::{ReplayDriver, Step};
    let trace = Trace::open(&theater_testkit::fixture_trace("kv-http.bin")).unwrap();
    let replies = trace
        .events()
        .filter(|e| match &e.as_ref().unwrap().event.body {
            EventBody::Outputs(o) => o.sent.iter().any(|m| m.to == theater_trace::EXTERNAL),
            _ => false,
        })
        .count();
    assert!(
        replies >= 7,
        "the fixture answers its HTTP requests ({replies})"
    );
    let limits = Limits::default();
    let mut cache = theater_runtime::ComponentCache::new(&limits).unwrap();
    let mut driver = ReplayDriver::new(trace, &ReplayOptions::default(), &mut cache).unwrap();
    loop {
        match driver.step().unwrap() {
            Step::Ended => break,
            Step::Cut => panic!("the fixture is a finished run"),
            Step::Input | Step::Snapshot | Step::Segment | Step::Delivery => {
                assert_eq!(driver.system().pending_replies(), 0);
            }
        }
    }
    assert!(driver.finished());
}

/// `store.list-keys` once joined keys with "\n": a key holding a newline came back
/// split, and an empty key was lost. The kv example's store lists what it holds.
#[test]
fn listed_keys_may_hold_newlines_or_be_empty() {
    let mut store = actor("store", "kv", json!("store"), RestartPolicy::Permanent);
    store.grants = Some(theater_runtime::INTERFACES.map(String::from).to_vec());
    let spec = spec(&["kv"], vec![store], Limits::default(), 1);
    let mut system = with_cache(&spec, |c| {
        theater_runtime::System::with_cache(&spec, theater_runtime::memory_sink(&spec).unwrap(), c)
    })
    .unwrap();
    system.run_until_idle(100).unwrap();
    for op in [
        json!({"Put": ["a\nb", "1"]}),
        json!({"Put": ["", "2"]}),
        json!({"Put": ["c", "3"]}),
        json!("List"),
    ] {
        system.inject_request(0, msg(op)).unwrap().unwrap();
        system.run_until_idle(100).unwrap();
    }
    let replies = system.take_replies();
    let listed: theater_wire::IngressResponse =
        serde_json::from_slice(replies.last().unwrap().answer.as_ref().unwrap()).unwrap();
    let keys: Vec<String> = serde_json::from_str(&listed.body.text()).unwrap();
    assert_eq!(keys, ["", "a\nb", "c"]);
    let (_, sink) = system.finish("done").unwrap();
    let theater_runtime::Sink::Memory(w) = sink else {
        unreachable!("memory sink")
    };
    assert_replays(&w.finish().unwrap().1);
}
