//! Sessions over the committed example traces: stepping, going back through
//! checkpoints, breakpoints, watchpoints, state inspection, bisect, minimize and diff.

use theater_debugger::inspect::decode;
use theater_debugger::rerun::{inputs_of, Rerun};
use theater_debugger::{
    bisect, diff, minimize, regression, ActorRef, Breakpoint, Method, Predicate, Session,
    SessionOptions, Stop,
};
use theater_trace::{Digest, EventBody, Trace};

use theater_testkit::fixture_trace as fixture;

fn open(name: &str, every: u64) -> Session {
    let options = SessionOptions {
        checkpoint_every: every,
        ..SessionOptions::default()
    };
    Session::open(&fixture(name), &options).unwrap()
}

fn bank_state(s: &mut Session) -> serde_json::Value {
    let (_, bytes) = s.state(&ActorRef::Name("bank".into())).unwrap();
    decode(&bytes).json().cloned().unwrap()
}

#[test]
fn steps_forward_and_back_through_the_bank_run() {
    let mut s = open("bank-bug.bin", 4);
    let p = s.position();
    assert_eq!((p.step, p.event, p.last_event), (0, 2, 29));
    // Step 1 is bank's init delivery; then each input is one step and its delivery one.
    assert_eq!(s.step(1).unwrap(), Stop::Moved);
    assert_eq!(s.position().actor, Some((0, "bank".to_string())));
    assert_eq!(
        bank_state(&mut s),
        serde_json::json!({"accounts": {}, "transfers": 0})
    );
    s.goto_event(25).unwrap();
    assert_eq!(s.position().event, 25);
    assert_eq!(bank_state(&mut s)["accounts"]["alice"], -1);
    s.back(2).unwrap();
    assert_eq!(s.position().event, 22);
    assert_eq!(bank_state(&mut s)["accounts"]["alice"], 125);
    assert_eq!(s.step(100).unwrap(), Stop::Moved);
    assert_eq!(s.step(1).unwrap(), Stop::End);
    assert_eq!(bank_state(&mut s)["accounts"]["alice"], 2);
    assert_eq!(s.back(1000).unwrap(), Stop::Moved);
    assert_eq!(s.back(1).unwrap(), Stop::Start);
    assert!(s.checkpoint_count() > 1);
    assert!(s.notes().is_empty(), "{:?}", s.notes());
    assert!(s.goto_event(30).is_err());
}

#[test]
fn breakpoints_and_watchpoints_stop_forward_and_backward() {
    let mut s = open("bank-bug.bin", 4);
    let bp = s.add_breakpoint(Breakpoint::parse("payload /\"amount\":125/").unwrap());
    match s.cont().unwrap() {
        // The input event of the transfer comes first, then its delivery.
        Stop::Breakpoint { id, .. } => assert_eq!(id, bp),
        other => panic!("{other:?}"),
    }
    assert_eq!(s.position().event, 23);
    assert!(matches!(s.cont().unwrap(), Stop::Breakpoint { .. }));
    assert_eq!(s.position().event, 25);
    assert_eq!(s.cont().unwrap(), Stop::End);
    assert!(matches!(s.reverse_cont().unwrap(), Stop::Breakpoint { .. }));
    assert_eq!(s.position().event, 25);
    assert!(matches!(s.reverse_cont().unwrap(), Stop::Breakpoint { .. }));
    assert_eq!(s.position().event, 23);
    assert_eq!(s.reverse_cont().unwrap(), Stop::Start);
    s.delete_breakpoint(bp).unwrap();
    // A watchpoint stops at each state change: the init (from no state to the initial
    // one) and every operation but the refused withdrawal (event 19).
    s.add_breakpoint(Breakpoint::Watch(ActorRef::Name("bank".into())));
    let mut stops = Vec::new();
    while let Stop::Breakpoint { .. } = s.cont().unwrap() {
        stops.push(s.position().event);
    }
    assert_eq!(stops, vec![4, 7, 10, 13, 16, 22, 25, 28]);
    let failure = Breakpoint::parse("failure").unwrap();
    s.clear_breakpoints();
    s.add_breakpoint(failure);
    s.goto_event(0).unwrap();
    assert_eq!(s.cont().unwrap(), Stop::End, "the bank never fails");
}

/// Groups of actors: the docs example's router spawns `renderer-1` to `renderer-3` at run
/// time; `break actor renderer-*` stops at each of their deliveries and nothing else,
/// `watch component=renderer` at each of their state changes, and bisect over the group
/// names the renderer whose state went wrong.
#[test]
fn globs_and_components_name_groups_of_spawned_actors() {
    let mut s = open("docs.bin", 16);
    s.add_breakpoint(Breakpoint::parse("actor renderer-*").unwrap());
    let mut actors = std::collections::BTreeSet::new();
    let mut stops = 0;
    while let Stop::Breakpoint { .. } = s.cont().unwrap() {
        let (id, name) = s.position().actor.expect("a delivery");
        assert!(name.starts_with("renderer-"), "stopped at {name}");
        actors.insert(id);
        stops += 1;
    }
    assert_eq!(
        actors,
        [1, 2, 3].into(),
        "children spawned at run time match"
    );
    assert_eq!(stops, 3 * 10 + 3, "30 documents and 3 inits");
    s.clear_breakpoints();
    s.goto_event(0).unwrap();
    s.add_breakpoint(Breakpoint::Watch("component=renderer".parse().unwrap()));
    let mut watched = 0;
    while let Stop::Breakpoint { .. } = s.cont().unwrap() {
        watched += 1;
    }
    assert_eq!(
        watched,
        3 + 3 * 10,
        "each init, and every document, changes a renderer's state"
    );

    let until: Predicate = "renderer-*:/links < 0".parse().unwrap();
    let r = bisect(&mut s, &until).unwrap().expect("it holds");
    assert_eq!(r.actor.as_ref().map(|a| a.1.as_str()), Some("renderer-2"));
    assert!(decode(r.after.as_ref().unwrap()).json().unwrap()["links"] == -1);
    let none: Predicate = "router-*:/links < 0".parse().unwrap();
    assert!(
        bisect(&mut s, &none).unwrap().is_none(),
        "no actor fits the glob"
    );
}

/// Random seeks with a checkpoint every event give exactly the states of one straight
/// forward pass. Prints the seed on failure; `THEATER_SEED=n` reruns one.
#[test]
fn random_seeks_match_a_straight_pass() {
    let seeds: Vec<u64> = match std::env::var("THEATER_SEED") {
        Ok(s) => vec![s.parse().unwrap()],
        Err(_) => (0..24).collect(),
    };
    let mut straight = open("supervisor.bin", u64::MAX);
    let steps = straight.steps();
    let mut expected = Vec::new();
    for p in 0..=steps {
        straight.goto_step(p).unwrap();
        let states: Vec<(u64, Digest)> = straight
            .actors()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a.id,
                    Digest::of(&straight.state(&ActorRef::Id(a.id)).unwrap().1),
                )
            })
            .collect();
        expected.push(states);
    }
    for seed in seeds {
        let mut rng = theater_trace::synth::Rng::new(seed);
        let mut s = open("supervisor.bin", 1 + rng.below(16));
        for _ in 0..40 {
            let p = rng.below(steps as u64 + 1) as usize;
            assert_eq!(s.goto_step(p).unwrap(), Stop::Moved, "seed {seed}");
            let states: Vec<(u64, Digest)> = s
                .actors()
                .unwrap()
                .iter()
                .map(|a| (a.id, Digest::of(&s.state(&ActorRef::Id(a.id)).unwrap().1)))
                .collect();
            assert_eq!(states, expected[p], "seed {seed}: states at step {p}");
        }
        assert!(s.notes().is_empty(), "seed {seed}: {:?}", s.notes());
    }
}

#[test]
fn hidden_state_turns_checkpoints_off_and_stays_faithful() {
    let mut s = open("hidden-state.bin", 4);
    assert_eq!(s.step(1000).unwrap(), Stop::Moved);
    assert_eq!(s.verify_rest().unwrap(), s.trace().head());
    // Back to the middle: restoring a checkpoint loses the counter in linear memory, so
    // stepping on from it diverges, and the session falls back to re-executing from the
    // start.
    s.goto_event(12).unwrap();
    while s.step(1).unwrap() == Stop::Moved {}
    assert_eq!(s.position().event, 29);
    assert_eq!(s.notes().len(), 1, "{:?}", s.notes());
    assert!(s.notes()[0].contains("hidden state"), "{}", s.notes()[0]);
    assert_eq!(s.checkpoint_count(), 1);
    s.back(3).unwrap();
    let (_, state) = s.state(&ActorRef::Name("h".into())).unwrap();
    assert!(decode(&state).json().is_some());
    assert!(s.divergence().is_none());
}

#[test]
fn bisect_names_the_transfer_that_overdraws() {
    let mut s = open("bank-bug.bin", 4);
    let p: Predicate = "bank:/accounts/alice < 0".parse().unwrap();
    let r = bisect(&mut s, &p).unwrap().expect("alice goes negative");
    // The deposit after the bug brings alice back to 2: the condition comes and goes, so
    // it is searched step by step.
    assert_eq!(r.method, Method::Linear);
    assert_eq!(
        r.events[0].number, 24,
        "the culprit is the delivery at event 24"
    );
    assert!(matches!(r.events[0].event.body, EventBody::Delivered(_)));
    assert_eq!(r.input().map(|e| e.number), Some(23));
    let before = decode(r.before.as_ref().unwrap()).json().cloned().unwrap();
    let after = decode(r.after.as_ref().unwrap()).json().cloned().unwrap();
    assert_eq!(before["accounts"]["alice"], 125);
    assert_eq!(after["accounts"]["alice"], -1);
    assert_eq!(
        s.position().event,
        25,
        "bisect leaves the cursor on the culprit"
    );

    // A condition that stays true is bisected in O(log n) probes.
    let mut s = open("bank-bug.bin", 4);
    let p: Predicate = "bank:/transfers >= 3".parse().unwrap();
    let r = bisect(&mut s, &p).unwrap().unwrap();
    assert_eq!(r.method, Method::Binary);
    assert_eq!(r.events[0].number, 24);
    assert!(
        r.probes <= 2 + (s.steps() as f64).log2().ceil() as u32,
        "{} probes",
        r.probes
    );

    // Never true: none.
    let p: Predicate = "bank:/accounts/bob < 0".parse().unwrap();
    assert!(bisect(&mut s, &p).unwrap().is_none());
    // An event predicate comes from the recording alone.
    let p: Predicate = "log:insufficient".parse().unwrap();
    let r = bisect(&mut s, &p).unwrap().unwrap();
    assert_eq!((r.method, r.events[0].number), (Method::Events, 18));
}

#[test]
fn minimize_keeps_fewer_inputs_and_the_result_still_fails_and_replays() {
    let trace = Trace::open(&fixture("bank-bug.bin")).unwrap();
    let p: Predicate = "bank:/accounts/alice < 0".parse().unwrap();
    let m = minimize(&trace, &p, |_, _| {}).unwrap();
    assert_eq!(m.original.len(), 8);
    assert!(m.kept.len() < m.original.len());
    // Five inputs are needed: open both accounts, bring alice to exactly 125, transfer it.
    assert_eq!(m.kept.len(), 5, "{:?}", m.kept);
    let minimized = Trace::from_bytes(m.trace.clone()).unwrap();
    assert_eq!(inputs_of(&minimized).unwrap().len(), 5);
    let dir = std::env::temp_dir().join(format!("theater-min-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("min.bin");
    std::fs::write(&path, &m.trace).unwrap();
    regression::assert_trace_replays(&path);
    let mut s = Session::open(&path, &SessionOptions::default()).unwrap();
    assert!(bisect(&mut s, &p).unwrap().is_some());
    std::fs::remove_dir_all(&dir).unwrap();
    // Nothing to minimize when the predicate never holds.
    let never: Predicate = "failed".parse().unwrap();
    assert!(minimize(&trace, &never, |_, _| {}).is_err());
}

#[test]
fn diff_reports_the_one_input_that_differs() {
    let a = Trace::open(&fixture("bank-bug.bin")).unwrap();
    assert!(diff(&a, &a).unwrap().same());
    // The same run with input 3 (the first transfer) changed.
    let mut inputs = inputs_of(&a).unwrap();
    inputs[2].payload = br#"{"transfer":{"amount":41,"from":"alice","to":"bob"}}"#.to_vec();
    let refs: Vec<_> = inputs.iter().collect();
    let bytes = Rerun::new(&a)
        .unwrap()
        .run(&refs, &"failed".parse().unwrap())
        .unwrap()
        .trace;
    let b = Trace::from_bytes(bytes).unwrap();
    let d = diff(&a, &b).unwrap();
    let first = d.first.expect("they differ");
    assert_eq!(first.actor, Some((0, "bank".to_string())));
    assert_eq!(
        first.a.event,
        Some(11),
        "the input event of the changed transfer"
    );
    assert_eq!(first.b.event, Some(11));
    let line = &first.a.context.iter().find(|c| c.2).unwrap().1;
    assert!(
        line.contains("input") && line.contains("\"amount\":40"),
        "{line}"
    );
    assert!(first.a.context.len() <= 7 && first.a.context.len() >= 4);
    assert!(d.differing.contains_key(&0));
}

#[test]
fn the_fixed_docs_build_changes_one_delivery_and_an_identical_one_none() {
    let fixed = theater_testkit::repo().join("fixtures/components/docs-fixed.wasm");
    let same = theater_testkit::repo().join("fixtures/components/docs.wasm");
    regression::assert_behaviour_unchanged(fixture("docs.bin"), &[("renderer", &same)]);
    let swaps = [("renderer".to_string(), std::fs::read(&fixed).unwrap())].into();
    let r = regression::regress_trace(&fixture("docs.bin"), &swaps).unwrap();
    assert!(!r.identical());
    let differing: Vec<(&str, u64, u64)> = r
        .actors
        .iter()
        .filter(|a| a.differing > 0)
        .map(|a| (a.name.as_str(), a.differing, a.carried))
        .collect();
    // renderer-2's delivery of the empty link, and the router's tally of its report;
    // both states then differ until the end.
    assert_eq!(differing, [("router", 1, 32), ("renderer-2", 1, 5)]);
    let first = r.first.as_ref().unwrap();
    assert_eq!((first.actor, first.delivery), (2, 6));
    assert!(first
        .state_diff
        .as_ref()
        .unwrap()
        .contains("+  \"links\": 0"));
    let panic = std::panic::catch_unwind(|| {
        regression::assert_behaviour_unchanged(fixture("docs.bin"), &[("renderer", &fixed)])
    })
    .unwrap_err();
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(message.contains("behaves differently"), "{message}");
    assert!(
        message.contains("renderer-2 (actor 2, swapped): 1 of 11"),
        "{message}"
    );
}

/// The regression run's delivery limit, at its edge: the docs run makes 94 deliveries.
#[test]
fn a_regression_run_is_cut_at_its_delivery_limit() {
    let same = std::fs::read(theater_testkit::repo().join("fixtures/components/docs.wasm"));
    let options = |max| theater_debugger::RegressOptions {
        swaps: [("renderer".to_string(), same.as_ref().unwrap().clone())].into(),
        details: 1,
        max_deliveries: Some(max),
        ..Default::default()
    };
    let open = || Trace::open(&fixture("docs.bin")).unwrap();
    let at = theater_debugger::regress(open(), &options(94)).unwrap();
    assert!(!at.cut && at.identical(), "{}", at.render());
    let below = theater_debugger::regress(open(), &options(93)).unwrap();
    assert!(below.cut && !below.identical());
    assert!(
        below.render().contains("cut at its limit of 93 deliveries"),
        "{}",
        below.render()
    );
    let json = below.to_json();
    assert_eq!(
        (json["cut"].clone(), json["delivery_limit"].clone()),
        (true.into(), 93.into())
    );
}

#[test]
fn committed_traces_replay() {
    // Every trace `scripts/record-fixture-traces.sh` writes is there, and replays.
    let checked: Vec<String> = regression::assert_traces_replay(fixture(""))
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        checked,
        [
            "bank-bug-min.bin",
            "bank-bug.bin",
            "docs.bin",
            "hidden-state.bin",
            "kv-http.bin",
            "ping-pong.bin",
            "supervisor.bin"
        ]
    );
}

/// Any seek re-executes at most one checkpoint interval (plus the step that crosses it)
/// past the nearest checkpoint: counted in events, not timed.
#[test]
fn a_seek_re_executes_at_most_one_checkpoint_interval() {
    const K: u64 = 64;
    let mut s = open("ping-pong.bin", K);
    let steps = s.steps();
    let longest = (1..=steps)
        .map(|p| s.step_events(p).unwrap().len() as u64)
        .max()
        .unwrap();
    s.goto_step(steps).unwrap();
    let mut rng = theater_trace::synth::Rng::new(7);
    for _ in 0..50 {
        let target = rng.below(steps as u64 + 1) as usize;
        let before = s.events_reexecuted();
        s.goto_step(target).unwrap();
        let cost = s.events_reexecuted() - before;
        assert!(
            cost <= K + longest,
            "seek to step {target} re-executed {cost} events (K = {K}, longest step {longest})"
        );
    }
    assert!(s.notes().is_empty(), "{:?}", s.notes());
}

/// The minimized bank trace committed as a regression fixture still shows the bug.
#[test]
fn the_minimized_bank_trace_still_fails() {
    let mut s = open("bank-bug-min.bin", 4);
    let p: Predicate = "bank:/accounts/alice < 0".parse().unwrap();
    let r = bisect(&mut s, &p).unwrap().expect("still overdraws");
    assert!(r.input().is_some());
    assert_eq!(inputs_of(s.trace()).unwrap().len(), 5);
}
