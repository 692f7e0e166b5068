//! Snapshots: a replay checkpoint written as bytes and read back starts the replay of
//! the rest of the trace, with fresh instances, and every event still matches. Seeded
//! random systems (those of `property.rs`); `THEATER_SEED=n` reruns one seed.

mod common;

use std::collections::BTreeMap;

use common::*;
use serde_json::json;
use theater_runtime::replay::{ReplayDriver, Step};
use theater_runtime::{Checkpoint, RuntimeError};
use theater_trace::synth::{for_seeds, Rng};
use theater_trace::{Digest, EventBody, RestartPolicy, Trace, TraceWriter, WriterOptions};

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
            Step::Input | Step::Snapshot | Step::Delivery => steps += 1,
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

#[test]
fn replay_passes_over_recorded_snapshots() {
    for_seeds(10, |seed| {
        let (spec, inputs) = random_case(seed);
        let (_, bytes) = record(&spec, &inputs);
        let old = Trace::from_bytes(bytes).unwrap();
        // The same run with a snapshot event before every input.
        let header = old.header().unwrap().clone();
        let manifest = old.blob(&header.manifest).unwrap().unwrap();
        let mut w =
            TraceWriter::new(Vec::new(), header, &manifest, WriterOptions::default()).unwrap();
        let mut snapshots = 0;
        for e in old.events().skip(1) {
            let body = e.unwrap().event.body;
            if matches!(body, EventBody::Input(_)) {
                let record = w.blob(format!("record {snapshots}").as_bytes()).unwrap();
                w.append(EventBody::Snapshot {
                    record,
                    states: Vec::new(),
                })
                .unwrap();
                snapshots += 1;
            }
            let mut refs = Vec::new();
            body.for_each_blob_ref(|d| refs.push(*d));
            for d in refs {
                w.blob(&old.blob(&d).unwrap().unwrap()).unwrap();
            }
            w.append(body).unwrap();
        }
        assert!(snapshots > 0);
        let (_, with_snapshots) = w.finish().unwrap();
        assert_replays(&with_snapshots);
    });
}
