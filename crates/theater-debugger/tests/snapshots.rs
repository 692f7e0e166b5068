//! Sessions over traces with recorded snapshots: a seek starts from the nearest one
//! before its target, re-executing no more than the distance from it, and lands on the
//! same states as a replay from the first event.

use theater_debugger::{ActorRef, Session, SessionOptions, Stop};
use theater_runtime::{
    memory_sink, ActorSpec, ComponentSpec, Limits, Sink, SnapshotPolicy, SystemSpec,
};
use theater_trace::{Bytes, Digest, RestartPolicy, RunMode, Trace};

/// Two ping-pong actors rallying `hits` times, recorded with a snapshot after every
/// `every` deliveries (none for 0).
fn rally(hits: u64, every: u64) -> Trace {
    let actor = |name: &str, peer: u64| ActorSpec {
        name: name.into(),
        component: "ping-pong".into(),
        init_args: Bytes(format!(r#"{{"peer":{peer}}}"#).into_bytes()),
        restart: RestartPolicy::Permanent,
        fuel_per_delivery: None,
        grants: None,
    };
    let spec = SystemSpec {
        mode: RunMode::Simulated,
        seed: 3,
        limits: Limits::default(),
        components: vec![ComponentSpec {
            name: "ping-pong".into(),
            bytes: theater_testkit::fixture_component("ping-pong"),
        }],
        actors: vec![actor("ping", 1), actor("pong", 0)],
    };
    let mut system = theater_runtime::System::new(&spec, memory_sink(&spec).unwrap()).unwrap();
    system.record_snapshots(SnapshotPolicy {
        every_deliveries: every,
        every_ms: 0,
        budget_per_mille: 1000,
    });
    let ball = format!(r#"{{"ball":0,"max":{hits}}}"#).into_bytes();
    assert!(system.inject(0, ball).unwrap());
    system.run_until_idle(u64::MAX).unwrap();
    let (_, sink) = system.finish("done").unwrap();
    let Sink::Memory(w) = sink else {
        unreachable!("a memory sink")
    };
    Trace::from_bytes(w.finish().unwrap().1).unwrap()
}

/// No checkpoints kept in memory: only the recorded snapshots shorten a seek.
fn session(trace: Trace) -> Session {
    let options = SessionOptions {
        checkpoint_every: u64::MAX,
        ..SessionOptions::default()
    };
    Session::new(trace, &options).unwrap()
}

fn states(s: &mut Session) -> Vec<(u64, Digest)> {
    s.actors()
        .unwrap()
        .iter()
        .map(|a| (a.id, Digest::of(&s.state(&ActorRef::Id(a.id)).unwrap().1)))
        .collect()
}

#[test]
fn a_seek_starts_from_the_nearest_recorded_snapshot() {
    const EVERY: u64 = 25;
    let plain = rally(400, 0);
    let with = rally(400, EVERY);
    assert!(plain.snapshots().unwrap().is_empty());
    let snapshots = with.snapshots().unwrap().to_vec();
    assert!(snapshots.len() >= 10, "{} snapshots", snapshots.len());

    let mut straight = session(plain);
    let mut s = session(with);
    assert_eq!(straight.steps() + snapshots.len(), s.steps());
    // A delivery of ping-pong is 3 events (delivered, a host call, outputs); the longest
    // distance from a snapshot to any later step is EVERY deliveries and the snapshot.
    let most = 3 * EVERY + 1;
    let mut rng = theater_trace::synth::Rng::new(11);
    for i in 0..40 {
        // The last step first: opening a trace at its end is one snapshot away.
        let p = if i == 0 {
            s.steps()
        } else {
            rng.below(s.steps() as u64 + 1) as usize
        };
        let before = s.events_reexecuted();
        assert_eq!(s.goto_step(p).unwrap(), Stop::Moved);
        let cost = s.events_reexecuted() - before;
        assert!(cost <= most, "seek to step {p} re-executed {cost} events");
        // The same place in the run without snapshots has the same states.
        let event = s.position().event;
        straight
            .goto_event(event - snapshots.partition_point(|&n| n <= event) as u64)
            .unwrap();
        assert_eq!(states(&mut s), states(&mut straight), "step {p}");
    }
    assert!(s.notes().is_empty(), "{:?}", s.notes());
}

#[test]
fn bisect_with_snapshots_finds_the_same_step_re_executing_a_fraction() {
    let hits: theater_debugger::Predicate = "ping:/hits >= 150".parse().unwrap();
    let mut plain = session(rally(400, 0));
    let mut with = session(rally(400, 25));
    let a = theater_debugger::bisect(&mut plain, &hits)
        .unwrap()
        .unwrap();
    let b = theater_debugger::bisect(&mut with, &hits).unwrap().unwrap();
    // The same delivery, whatever the snapshots add to the step numbers.
    assert_eq!(a.events[0].event.body, b.events[0].event.body);
    assert_eq!(a.after, b.after);
    // Without checkpoints in memory the plain search re-executes from the start at every
    // probe; with snapshots, only from the nearest.
    assert!(
        b.events_reexecuted * 4 < a.events_reexecuted,
        "{} vs {}",
        b.events_reexecuted,
        a.events_reexecuted
    );
}
