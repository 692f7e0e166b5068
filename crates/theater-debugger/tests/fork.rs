//! Forking recorded runs: the bank example's bad transfer changed after the fact, and a
//! fork with no edits, at every step boundary of real runs, recording what its parent
//! recorded from there on.

use std::path::{Path, PathBuf};

use theater_debugger::{
    bisect, diff, fork, DebugError, ForkEdits, Predicate, Session, SessionOptions,
};
use theater_runtime::inputs::InputLine;
use theater_trace::{EventBody, Trace};

fn parent(name: &str) -> Trace {
    Trace::open(&theater_testkit::fixture_trace(name)).unwrap()
}

/// Where a fork is written: a fresh directory per name (tests run side by side).
fn out(name: &str) -> PathBuf {
    theater_testkit::scratch(&format!("fork-{name}")).join("fork.trace")
}

/// The bank trace's bad transfer: alice sends bob 125 at event 23, and goes negative.
const BAD_TRANSFER: u64 = 23;

fn overdraws(path: &Path) -> bool {
    let predicate: Predicate = "bank:/accounts/alice < 0".parse().unwrap();
    let trace = Trace::open(path).unwrap();
    let mut session = Session::new(trace, &SessionOptions::default()).unwrap();
    bisect(&mut session, &predicate).unwrap().is_some()
}

#[test]
fn a_fork_with_the_bad_transfer_changed_does_not_overdraw() {
    let original = theater_testkit::fixture_trace("bank-bug.bin");
    assert!(overdraws(&original), "the parent overdraws");
    let path = out("bank-fixed");
    let edits = ForkEdits {
        replace: [(
            BAD_TRANSFER,
            br#"{"transfer":{"from":"alice","to":"bob","amount":5}}"#.to_vec(),
        )]
        .into(),
        ..ForkEdits::default()
    };
    let report = fork(parent("bank-bug.bin"), BAD_TRANSFER, &edits, &path).unwrap();
    assert_eq!((report.at, report.replaced, report.dropped), (23, 1, 0));
    assert_eq!(
        report.inputs, 2,
        "the changed transfer and the deposit after it"
    );
    assert!(!report.live);
    assert!(!overdraws(&path), "the fork does not overdraw");

    // The forked trace verifies on its own bytes, and replays to the same head.
    let forked = Trace::open(&path).unwrap();
    assert_eq!(forked.first_event(), BAD_TRANSFER);
    assert_eq!(forked.verify().unwrap().head, report.head);
    let replayed = theater_runtime::replay::replay(forked, &Default::default()).unwrap();
    assert!(replayed.finished);
    assert_eq!(replayed.head, report.head);

    // Its setup names the parent: the parent's head and the event it forked at, on the
    // parent's chain value before that event.
    let forked = Trace::open(&path).unwrap();
    let parent_trace = parent("bank-bug.bin");
    let setup: Vec<EventBody> = forked
        .events()
        .take(4)
        .map(|e| e.unwrap().event.body)
        .collect();
    let before_fork = parent_trace.event(BAD_TRANSFER - 1).unwrap().digest;
    assert!(
        matches!(&setup[0], EventBody::SegmentStarted { previous_head, .. } if *previous_head == before_fork),
        "{:?}",
        setup[0]
    );
    assert!(
        setup.contains(&EventBody::Forked {
            parent_head: parent_trace.head(),
            at: BAD_TRANSFER
        }),
        "{setup:?}"
    );

    // diff aligns the two at the fork point: the first difference is the replaced input.
    let d = diff(&parent_trace, &forked).unwrap();
    let first = d.first.expect("the runs differ");
    assert_eq!(first.a.event, Some(BAD_TRANSFER));
    let b = first.b.event.unwrap();
    assert!(matches!(
        forked.event(b).unwrap().event.body,
        EventBody::Input(i) if i.payload == theater_trace::Payload::of(&edits.replace[&BAD_TRANSFER])
    ));
    assert!(d.aligned_from.is_some());
}

#[test]
fn a_dropped_input_is_not_fed() {
    let path = out("bank-dropped");
    let edits = ForkEdits {
        drop: [BAD_TRANSFER].into(),
        ..ForkEdits::default()
    };
    let report = fork(parent("bank-bug.bin"), BAD_TRANSFER, &edits, &path).unwrap();
    assert_eq!((report.inputs, report.dropped), (1, 1));
    assert!(!overdraws(&path));
    Trace::open(&path).unwrap().verify().unwrap();
}

/// Two forks of one run start at their snapshots, with no spawn events: diff names
/// their actors from those snapshots.
#[test]
fn a_diff_of_two_forks_names_the_actors() {
    let (a, b) = (out("bank-two-a"), out("bank-two-b"));
    let replace = |amount: u32| ForkEdits {
        replace: [(
            BAD_TRANSFER,
            format!(r#"{{"transfer":{{"from":"alice","to":"bob","amount":{amount}}}}}"#)
                .into_bytes(),
        )]
        .into(),
        ..ForkEdits::default()
    };
    fork(parent("bank-bug.bin"), BAD_TRANSFER, &replace(5), &a).unwrap();
    fork(parent("bank-bug.bin"), BAD_TRANSFER, &replace(6), &b).unwrap();
    let d = diff(&Trace::open(&a).unwrap(), &Trace::open(&b).unwrap()).unwrap();
    let first = d.first.expect("the forks differ");
    assert_eq!(first.actor, Some((0, "bank".to_string())));
    assert_eq!(d.differing[&0].name, "bank");
}

/// New inputs instead of the parent's: a file's lines, names resolved in the fork.
#[test]
fn new_inputs_replace_the_parents_after_the_fork_point() {
    let path = out("bank-new-inputs");
    let lines = InputLine::parse_all(concat!(
        r#"{"to": "bank", "message": {"deposit": {"name": "alice", "amount": 1000}}}"#,
        "\n",
        r#"{"to": 0, "message": {"transfer": {"from": "alice", "to": "bob", "amount": 125}}}"#,
    ))
    .unwrap();
    let edits = ForkEdits {
        inputs: Some(lines),
        ..ForkEdits::default()
    };
    let report = fork(parent("bank-bug.bin"), BAD_TRANSFER, &edits, &path).unwrap();
    assert!(report.new_inputs);
    assert_eq!((report.inputs, report.deliveries), (2, 2));
    assert!(!overdraws(&path), "the deposit came first");
    Trace::open(&path).unwrap().verify().unwrap();
    // A name the fork does not know is refused when its input is fed.
    let edits = ForkEdits {
        inputs: Some(InputLine::parse_all(r#"{"to": "nobody", "text": "x"}"#).unwrap()),
        ..ForkEdits::default()
    };
    let e = fork(
        parent("bank-bug.bin"),
        BAD_TRANSFER,
        &edits,
        &out("bank-nobody"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("no top-level actor named \"nobody\""), "{e}");
    // New inputs and edits of the parent's do not mix.
    let mixed = ForkEdits {
        inputs: Some(Vec::new()),
        drop: [BAD_TRANSFER].into(),
        ..ForkEdits::default()
    };
    let e = fork(
        parent("bank-bug.bin"),
        BAD_TRANSFER,
        &mixed,
        &out("bank-mixed"),
    );
    assert!(matches!(e, Err(DebugError::Usage(_))), "{e:?}");
}

/// With no edits, a fork of a run fed from an inputs file goes on exactly as its parent
/// did: at step boundaries all through two runs, `diff` finds nothing after the fork
/// point (fuel aside: see `diff`).
#[test]
fn a_fork_with_no_edits_records_what_its_parent_recorded() {
    for name in ["bank-bug.bin", "supervisor.bin"] {
        let trace = parent(name);
        let mut session = Session::new(parent(name), &SessionOptions::default()).unwrap();
        // Each step's first event: after the setup and after every step, the last
        // being the run's end.
        let mut boundaries = Vec::new();
        loop {
            let p = session.position();
            if p.step >= p.steps {
                break;
            }
            boundaries.push(p.event + 1);
            session.step(1).unwrap();
        }
        assert!(boundaries.len() > 5, "{name}: {boundaries:?}");
        // Every other boundary and the last: each fork compiles the component again.
        let last = *boundaries.last().unwrap();
        for &at in boundaries.iter().step_by(2).chain([&last]) {
            let path = out(&format!("{name}-same-{at}"));
            let report = fork(parent(name), at, &ForkEdits::default(), &path)
                .unwrap_or_else(|e| panic!("{name} at {at}: {e}"));
            let forked = Trace::open(&path).unwrap();
            let d = diff(&trace, &forked).unwrap();
            assert!(d.same(), "{name} forked at {at}: {:?}", d.first);
            assert_eq!(d.aligned_from.map(|(a, _)| a), Some(at));
            assert_eq!(forked.verify().unwrap().head, report.head);
            let _ = std::fs::remove_dir_all(path.parent().unwrap());
        }
    }
}

#[test]
fn bad_fork_points_and_edits_are_refused_with_a_reason() {
    let refused = |at: u64, edits: ForkEdits| -> String {
        let path = out("bank-refused");
        let e = fork(parent("bank-bug.bin"), at, &edits, &path).unwrap_err();
        assert!(!path.exists(), "nothing written for {at}");
        e.to_string()
    };
    // Inside a step: the delivery of the input at 23 is events 24 and 25.
    let inside = refused(25, ForkEdits::default());
    assert!(inside.contains("inside a step"), "{inside}");
    assert!(inside.contains("fork at event 24 or 26"), "{inside}");
    let setup = refused(1, ForkEdits::default());
    assert!(setup.contains("setup"), "{setup}");
    let past = refused(1_000, ForkEdits::default());
    assert!(past.contains("fork at event 29 at the latest"), "{past}");
    // An edit must name an input at or after the fork point.
    let before = refused(
        BAD_TRANSFER,
        ForkEdits {
            drop: [5].into(),
            ..ForkEdits::default()
        },
    );
    assert!(before.contains("event 5 is not an input"), "{before}");
    assert!(before.contains("23, 26"), "{before}");
    let both = fork(
        parent("bank-bug.bin"),
        BAD_TRANSFER,
        &ForkEdits {
            drop: [23].into(),
            replace: [(23, b"{}".to_vec())].into(),
            ..ForkEdits::default()
        },
        &out("bank-both"),
    );
    assert!(matches!(both, Err(DebugError::Usage(_))), "{both:?}");
    // The output must not exist.
    let taken = out("bank-taken");
    std::fs::write(&taken, b"keep me").unwrap();
    let e = fork(
        parent("bank-bug.bin"),
        BAD_TRANSFER,
        &ForkEdits::default(),
        &taken,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("bank-taken"), "{e}");
    assert_eq!(std::fs::read(&taken).unwrap(), b"keep me");
}

/// A run recorded live (HTTP requests to the kv example): the fork says so, feeds the
/// later requests again, and its own recording (fresh host-call results after the fork
/// point) verifies and replays.
#[test]
fn a_live_run_forks_with_fresh_host_calls_after_the_fork_point() {
    let path = out("kv-live");
    let parent_trace = parent("kv-http.bin");
    let later = theater_debugger::rerun::inputs_from(&parent_trace, 17).unwrap();
    assert!(later.iter().all(|i| i.request) && !later.is_empty());
    let report = fork(parent("kv-http.bin"), 17, &ForkEdits::default(), &path).unwrap();
    assert!(report.live);
    assert_eq!(report.inputs, later.len());
    let forked = Trace::open(&path).unwrap();
    assert_eq!(
        forked.fork_origin().unwrap(),
        Some((parent_trace.head(), 17))
    );
    forked.verify().unwrap();
    let replayed = theater_runtime::replay::replay(forked, &Default::default()).unwrap();
    assert!(replayed.finished);
    assert_eq!(replayed.head, report.head);
}
