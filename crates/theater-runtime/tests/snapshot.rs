//! Snapshots: a replay checkpoint written as bytes and read back starts the replay of
//! the rest of the trace, with fresh instances, and every event still matches. Seeded
//! random systems (those of `property.rs`); `THEATER_SEED=n` reruns one seed.

mod common;

use std::collections::BTreeMap;

use common::*;
use serde_json::json;
use theater_runtime::replay::{ReplayDriver, Step};
use theater_runtime::{Checkpoint, RuntimeError, SnapshotPolicy};
use theater_trace::synth::{for_seeds, Rng};
use theater_trace::{
    Digest, EventBody, RestartPolicy, Trace, TraceWriter, VerifyReport, WriterOptions,
};

/// `n` permanent chaos actors, `a0`…
fn chaos_actors(n: u64) -> Vec<theater_runtime::ActorSpec> {
    (0..n)
        .map(|i| {
            actor(
                &format!("a{i}"),
                "chaos",
                json!({}),
                RestartPolicy::Permanent,
            )
        })
        .collect()
}

fn random_case(seed: u64) -> (theater_runtime::SystemSpec, Vec<(u64, Vec<u8>)>) {
    let mut rng = Rng::new(seed);
    let spec = spec(
        &["chaos"],
        chaos_actors(1 + rng.below(4)),
        small_limits(),
        seed,
    );
    let inputs = (0..3 + rng.below(20))
        .map(|_| {
            let to = rng.below(6);
            let mut cmds = commands(&mut rng, 2, false);
            // A timer in every input, so snapshots often hold pending ones.
            let timer =
                json!({"timer": {"delay_ns": rng.below(5_000_000), "cmds": [{"add": {"n": 1}}]}});
            cmds.as_array_mut().unwrap().push(timer);
            (to, serde_json::to_vec(&cmds).unwrap())
        })
        .collect();
    (spec, inputs)
}

fn driver(trace: Trace, spec: &theater_runtime::SystemSpec) -> ReplayDriver {
    with_cache(spec, |c| ReplayDriver::new(trace, &Default::default(), c)).unwrap()
}

/// Steps to the end; the step count.
fn run_out(d: &mut ReplayDriver) -> u64 {
    let mut steps = 0;
    loop {
        match d.step().unwrap() {
            Step::Input | Step::Snapshot | Step::Segment | Step::Delivery => steps += 1,
            Step::Ended => return steps,
            Step::Cut => panic!("a finished trace replays to its end"),
        }
    }
}

#[test]
fn a_replay_restarted_from_a_snapshot_matches_the_rest_of_the_trace() {
    for_seeds(60, |seed| {
        let (spec, inputs) = random_case(seed);
        let (_, bytes) = record(&spec, &inputs);
        let trace = Trace::from_bytes(bytes.clone()).unwrap();
        let head = trace.head();

        // Replay part of the way and take a snapshot there.
        let mut first = driver(trace, &spec);
        let total = run_out(&mut driver(
            Trace::from_bytes(bytes.clone()).unwrap(),
            &spec,
        ));
        let at = Rng::new(seed ^ 0x5a).below(total + 1);
        for _ in 0..at {
            first.step().unwrap();
        }
        let snapshot = first.checkpoint().system().to_snapshot();

        // Read back, it is the same checkpoint: encoding it again gives the same bytes.
        let decoded =
            Checkpoint::from_snapshot(&snapshot.record, |d| snapshot.states.get(d).cloned())
                .unwrap()
                .resume_at(first.events(), first.head());
        assert_eq!(decoded.to_snapshot(), snapshot);

        // A new driver started from it replays the rest, every event matching.
        let mut second = driver(Trace::from_bytes(bytes).unwrap(), &spec);
        second.restore_from(&decoded).unwrap();
        assert_eq!(second.events(), first.events());
        run_out(&mut second);
        assert!(second.finished());
        assert_eq!(second.head(), head);
    });
}

#[test]
fn equal_states_are_stored_once_and_damage_is_an_error() {
    // Three actors of the same component, none sent anything: one state blob.
    let spec = spec(&["chaos"], chaos_actors(3), small_limits(), 1);
    let (_, bytes) = record(&spec, &[]);
    let d = driver(Trace::from_bytes(bytes).unwrap(), &spec);
    let snapshot = d.checkpoint().system().to_snapshot();
    assert_eq!(snapshot.states.len(), 1);

    let read = |record: &[u8], states: &BTreeMap<Digest, Vec<u8>>| {
        Checkpoint::from_snapshot(record, |d| states.get(d).cloned()).map(|_| ())
    };
    read(&snapshot.record, &snapshot.states).unwrap();
    // A missing or altered state blob, a cut or flipped record: errors, never panics.
    let unreadable = |r: Result<(), RuntimeError>| {
        assert!(
            matches!(&r, Err(RuntimeError::Unreplayable(m)) if m.starts_with("snapshot: ")),
            "{r:?}"
        );
    };
    unreadable(read(&snapshot.record, &BTreeMap::new()));
    let altered = snapshot
        .states
        .keys()
        .map(|k| (*k, b"other".to_vec()))
        .collect();
    unreadable(read(&snapshot.record, &altered));
    for cut in [0, 1, snapshot.record.len() / 2, snapshot.record.len() - 1] {
        unreadable(read(&snapshot.record[..cut], &snapshot.states));
    }
    let mut rng = Rng::new(7);
    for _ in 0..200 {
        let mut flipped = snapshot.record.clone();
        let i = rng.below(flipped.len() as u64) as usize;
        flipped[i] ^= 1 << rng.below(8);
        // A flip may still decode (a changed counter); it must never panic.
        let _ = read(&flipped, &snapshot.states);
    }
}

/// A policy writing a snapshot after every `every` deliveries, with no cost bound to
/// thin them out.
fn every(every: u64) -> SnapshotPolicy {
    SnapshotPolicy {
        every_deliveries: every,
        every_ms: 0,
        budget_per_mille: 1000,
    }
}

/// Event numbers of the snapshots in `trace`.
fn snapshots(trace: &Trace) -> Vec<u64> {
    trace
        .events()
        .map(Result::unwrap)
        .filter(|e| matches!(e.event.body, EventBody::Snapshot { .. }))
        .map(|e| e.number)
        .collect()
}

#[test]
fn recorded_snapshots_replay_and_each_one_starts_the_rest_of_the_run() {
    for_seeds(30, |seed| {
        let (spec, inputs) = random_case(seed);
        let k = 1 + seed % 4;
        let (summary, bytes) = record_with(&spec, &inputs, every(k));
        // The replay compares its own snapshot with each recorded one.
        assert_replays(&bytes);
        let trace = Trace::from_bytes(bytes.clone()).unwrap();
        let at = snapshots(&trace);
        assert_eq!(at.len() as u64, summary.deliveries / k);
        if at.is_empty() {
            return;
        }
        let head = trace.head();
        // From any recorded snapshot, a fresh driver replays the rest of the trace with
        // nothing before it re-executed.
        let n = at[Rng::new(seed).below(at.len() as u64) as usize];
        let mut d = driver(trace, &spec);
        d.restore_snapshot(n).unwrap();
        assert_eq!(d.events(), n + 1);
        run_out(&mut d);
        assert!(d.finished());
        assert_eq!(d.head(), head);
    });
}

/// Seed 3's run with its second snapshot's record replaced by the first one's, and the
/// number of that snapshot event.
fn altered_second_snapshot() -> (theater_runtime::SystemSpec, Vec<u8>, u64) {
    let (spec, inputs) = random_case(3);
    let (_, bytes) = record_with(&spec, &inputs, every(2));
    let old = Trace::from_bytes(bytes).unwrap();
    let header = old.header().unwrap().clone();
    let manifest = old.blob(&header.manifest).unwrap().unwrap();
    let mut w = TraceWriter::new(Vec::new(), header, &manifest, WriterOptions::default()).unwrap();
    let mut first = None;
    let mut seen = 0;
    let mut altered = None;
    for e in old.events().skip(1) {
        let e = e.unwrap();
        let mut body = e.event.body;
        if let EventBody::Snapshot { record, .. } = &mut body {
            seen += 1;
            match (seen, first) {
                (1, _) => first = Some(*record),
                (2, Some(r)) => {
                    *record = r;
                    altered = Some(e.number);
                }
                _ => {}
            }
        }
        let mut refs = Vec::new();
        body.for_each_blob_ref(|d| refs.push(*d));
        for d in refs {
            w.blob(&old.blob(&d).unwrap().unwrap()).unwrap();
        }
        w.append(body).unwrap();
    }
    let (_, bytes) = w.finish().unwrap();
    (spec, bytes, altered.expect("two snapshots"))
}

#[test]
fn a_recorded_snapshot_that_is_not_the_replayed_world_is_a_divergence() {
    let (spec, bytes, altered) = altered_second_snapshot();
    let trace = Trace::from_bytes(bytes.clone()).unwrap();
    trace.verify().unwrap();
    let mut d = driver(trace, &spec);
    let err = loop {
        match d.step() {
            Ok(Step::Ended) => panic!("the altered snapshot was not noticed"),
            Ok(_) => {}
            Err(e) => break e,
        }
    };
    let at = |err: RuntimeError| match err {
        RuntimeError::Divergence(div) => {
            assert!(div.expected.starts_with("snapshot"), "{div:?}");
            div.event
        }
        other => panic!("{other}"),
    };
    assert_eq!(at(err), altered);
    // Split across threads, the part that ends at the altered snapshot notices it (with
    // 64 jobs, every snapshot of this short run starts a part).
    for jobs in [2, 4, 64] {
        assert_eq!(
            at(parallel(&bytes, jobs).unwrap_err()),
            altered,
            "{jobs} jobs"
        );
    }
}

#[test]
fn only_an_event_that_is_a_snapshot_restores() {
    let (spec, inputs) = random_case(5);
    let (_, bytes) = record_with(&spec, &inputs, every(3));
    let trace = Trace::from_bytes(bytes.clone()).unwrap();
    let mut d = driver(Trace::from_bytes(bytes).unwrap(), &spec);
    let not = (1..trace.event_count())
        .find(|n| !snapshots(&trace).contains(n))
        .unwrap();
    let err = d.restore_snapshot(not).unwrap_err().to_string();
    assert!(err.contains("not a snapshot"), "{err}");
    let err = d
        .restore_snapshot(trace.event_count())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("out of range") || err.contains("range"),
        "{err}"
    );
}

/// [`theater_runtime::replay_parallel`] of `bytes` on `jobs` threads.
fn parallel(
    bytes: &[u8],
    jobs: usize,
) -> Result<theater_runtime::replay::ReplayReport, RuntimeError> {
    let open = || Trace::from_bytes(bytes.to_vec()).map_err(RuntimeError::from);
    let done = std::sync::atomic::AtomicU64::new(0);
    let spec = spec_stub();
    let report = with_cache(&spec, |c| {
        theater_runtime::replay_parallel(&open, &Default::default(), jobs, c, &done)
    })?;
    // Every event after the setup once: no range overlaps another.
    assert!(done.into_inner() <= report.events);
    Ok(report)
}

/// [`theater_runtime::replay_verifying`] of `bytes` on `jobs` threads.
fn verifying(
    bytes: &[u8],
    jobs: usize,
) -> Result<(theater_runtime::replay::ReplayReport, Option<VerifyReport>), RuntimeError> {
    let open = || Trace::from_bytes(bytes.to_vec()).map_err(RuntimeError::from);
    let done = std::sync::atomic::AtomicU64::new(0);
    with_cache(&spec_stub(), |c| {
        theater_runtime::replay_verifying(&open, &Default::default(), jobs, c, &done)
    })
}

#[test]
fn a_replay_split_at_snapshots_across_threads_matches_a_sequential_one() {
    for_seeds(30, |seed| {
        let (spec, inputs) = random_case(seed);
        let (_, bytes) = record_with(&spec, &inputs, every(1 + seed % 3));
        let sequential = with_cache(&spec, |c| {
            theater_runtime::replay::replay_cached(
                Trace::from_bytes(bytes.clone()).unwrap(),
                &Default::default(),
                c,
            )
        })
        .unwrap();
        for jobs in [2, 3, 8] {
            let r = parallel(&bytes, jobs).unwrap();
            assert_eq!(
                (r.events, r.head, r.finished),
                (sequential.events, sequential.head, true)
            );
        }
        // verify's one pass: the same replay, and the integrity pass's report.
        let plain = |r: VerifyReport| VerifyReport {
            threads: 0,
            inline_blocks: 0,
            vouched_events: 0,
            ..r
        };
        let whole = plain(Trace::from_bytes(bytes.clone()).unwrap().verify().unwrap());
        for jobs in [1, 2, 3] {
            let (r, checked) = verifying(&bytes, jobs).unwrap();
            assert_eq!(
                (r.events, r.head, r.finished),
                (sequential.events, sequential.head, true),
                "seed {seed}, {jobs} jobs"
            );
            let checked = checked.unwrap_or_else(|| panic!("seed {seed}: not checked inline"));
            assert_eq!(plain(checked), whole, "seed {seed}, {jobs} jobs");
            assert!(checked.inline_blocks > 0, "seed {seed}, {jobs} jobs");
            assert!(checked.vouched_events > 0, "seed {seed}, {jobs} jobs");
        }
        // Cut by a crash: the same prefix as a sequential replay of it.
        let cut = bytes.len() * 2 / 3;
        let cut = bytes[..cut].to_vec();
        let sequential = with_cache(&spec, |c| {
            theater_runtime::replay::replay_cached(
                Trace::from_bytes(cut.clone()).unwrap(),
                &Default::default(),
                c,
            )
        })
        .unwrap();
        let r = parallel(&cut, 3).unwrap();
        assert_eq!(
            (r.events, r.head, r.finished),
            (sequential.events, sequential.head, false)
        );
    });
}

/// A ping-pong rally of `hits` with `policy`, recorded on a recorder thread to `name`:
/// the snapshots the system wrote, and the trace's bytes.
fn rally_on_recorder_thread(name: &str, hits: u64, policy: SnapshotPolicy) -> (u64, Vec<u8>) {
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
        theater_runtime::Limits::default(),
        1,
    );
    let path = theater_testkit::scratch(name).join("rally.trace");
    let writer = trace_file(&spec, &path, WriterOptions::default());
    let mut system = on_recorder_thread(&spec, writer, 100);
    system.record_snapshots(policy);
    let ball = serde_json::to_vec(&json!({"ball": 0, "max": hits})).unwrap();
    system.inject(0, ball).unwrap();
    system.run_until_idle(u64::MAX).unwrap();
    let written = system.snapshots_written();
    finish_on_recorder_thread(system).1.unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
    (written, bytes)
}

#[test]
fn the_recorder_threads_clock_writes_snapshots_of_a_run_by_time() {
    // No count: only the recorder thread's 1 ms clock asks for snapshots, and a rally of
    // 20,000 hits lasts far longer than that.
    let by_time = SnapshotPolicy {
        every_deliveries: 0,
        every_ms: 1,
        budget_per_mille: 1000,
    };
    let (written, bytes) = rally_on_recorder_thread("snapshot-clock", 20_000, by_time);
    let trace = Trace::from_bytes(bytes.clone()).unwrap();
    assert!(written > 0);
    assert_eq!(trace.snapshots().unwrap().len() as u64, written);
    assert_replays(&bytes);
}

#[test]
fn the_budget_thins_snapshots_that_cost_more_than_their_share() {
    // A snapshot after every delivery, but at most 0.1 % of the time: after a snapshot
    // that took t none comes for 999 t, far longer than a delivery takes.
    let greedy = SnapshotPolicy {
        every_deliveries: 1,
        every_ms: 0,
        budget_per_mille: 1,
    };
    let (written, bytes) = rally_on_recorder_thread("snapshot-budget", 2_000, greedy);
    assert!(written >= 1, "the first one is never held back");
    assert!(written < 200, "{written} snapshots in 2,003 deliveries");
    assert_replays(&bytes);
    // With no bound, every delivery has one.
    let unbounded = SnapshotPolicy {
        budget_per_mille: 1000,
        ..greedy
    };
    let (written, _) = rally_on_recorder_thread("snapshot-unbounded", 2_000, unbounded);
    assert_eq!(written, 2_003);
}
