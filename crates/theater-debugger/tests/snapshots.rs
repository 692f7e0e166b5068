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
    Trace::from_bytes(rally_bytes(hits, every)).unwrap()
}

fn rally_bytes(hits: u64, every: u64) -> Vec<u8> {
    let spec = spec();
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
    w.finish().unwrap().1
}

fn spec() -> SystemSpec {
    let actor = |name: &str, peer: u64| ActorSpec {
        name: name.into(),
        component: "ping-pong".into(),
        init_args: Bytes(format!(r#"{{"peer":{peer}}}"#).into_bytes()),
        restart: RestartPolicy::Permanent,
        fuel_per_delivery: None,
        grants: None,
    };
    SystemSpec {
        mode: RunMode::Simulated,
        seed: 3,
        schedule: Default::default(),
        limits: Limits::default(),
        components: vec![ComponentSpec {
            name: "ping-pong".into(),
            bytes: theater_testkit::fixture_component("ping-pong"),
        }],
        actors: vec![actor("ping", 1), actor("pong", 0)],
    }
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

/// The kinds of the events that start a step (the debugger's own list, written out
/// again so that a change to it shows here).
const STEP_KINDS: [&str; 7] = [
    "input",
    "refused",
    "dropped",
    "snapshot",
    "segment",
    "delivered",
    "run-ended",
];

/// Checks the session's timeline, built from the index's kind counts and read block by
/// block, against one made from a scan of every event's kind.
fn check_timeline(s: &Session) {
    let trace = s.trace();
    let first = trace.first_event();
    let setup_end = s.events_at(0).unwrap();
    let mut expected = Vec::new();
    trace
        .for_each_kind(|n, kind| {
            if n > first && n >= setup_end && STEP_KINDS.contains(&kind) {
                expected.push(n);
            }
        })
        .unwrap();
    expected.push(trace.event_count());
    assert_eq!(expected[0], setup_end);
    assert_eq!(s.steps() + 1, expected.len());
    for (p, &end) in expected.iter().enumerate() {
        assert_eq!(s.events_at(p).unwrap(), end, "position {p}");
    }
    for event in first..trace.event_count() {
        assert_eq!(
            s.position_of_event(event).unwrap(),
            expected.partition_point(|&end| end <= event),
            "event {event}"
        );
    }
}

#[test]
fn the_timeline_from_the_index_is_the_one_a_scan_of_every_event_gives() {
    let bytes = rally_bytes(3_000, 250);
    let trace = Trace::from_bytes(bytes.clone()).unwrap();
    assert!(trace.block_kinds().unwrap().len() > 3, "several blocks");
    check_timeline(&session(trace));
    // Cut by a crash: no index, the kinds are counted when the trace is opened.
    let cut = Trace::from_bytes(bytes[..bytes.len() * 2 / 3].to_vec()).unwrap();
    assert!(cut.recovery().is_some());
    check_timeline(&session(cut));
}

#[test]
fn a_trace_kept_from_its_later_segments_has_the_timeline_a_scan_gives() {
    use theater_runtime::{Recorder, SegmentPlan, SegmentPolicy};
    let dir = theater_testkit::scratch("timeline-segments");
    let spec = spec();
    let policy = SegmentPolicy {
        bytes: u64::MAX,
        ms: 0,
        keep: Some(3),
    };
    let plan = SegmentPlan::for_run(
        &dir.join("run"),
        &spec,
        theater_trace::WriterOptions::default(),
        policy,
    );
    let recorder = Recorder::spawn_segmented(plan).unwrap();
    let mut system =
        theater_runtime::System::new(&spec, Sink::Background(Box::new(recorder))).unwrap();
    assert!(system
        .inject(0, br#"{"ball":0,"max":4000}"#.to_vec())
        .unwrap());
    while system.run_until_idle(700).unwrap() > 0 {
        assert!(system.start_segment().unwrap());
    }
    let Sink::Background(recorder) = system.finish("done").unwrap().1 else {
        unreachable!("a recorder")
    };
    recorder.finish().unwrap();
    let trace = Trace::open(&dir.join("run")).unwrap();
    assert_eq!(trace.segments().len(), 3);
    assert!(trace.first_event() > 0);
    let middle = trace.segments()[1].path.clone();
    check_timeline(&session(trace));
    check_timeline(&session(Trace::open(&middle).unwrap()));
    let _ = std::fs::remove_dir_all(&dir);
}
