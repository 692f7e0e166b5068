//! The REPL as a person uses it: the real binary in a real terminal (a tmux pane), keys
//! typed, and what the screen shows checked.
//!
//! Needs `tmux` (`.ci/run` installs it).

mod common;

use common::Pane;

use theater_testkit::fixture_trace as fixture;

/// The screens of a session as a person types through it: stepping, going back,
/// breakpoints both ways, state and its diff, a mistyped command and a bad argument,
/// actors, an event in full, help. Each command's output and the prompt after it are
/// compared with `fixtures/golden/repl-bank-bug.txt` (`THEATER_BLESS=1` to accept a
/// change).
#[test]
fn a_person_steps_goes_back_breaks_inspects_and_mistypes() {
    let pane = Pane::start(&fixture("bank-bug.bin"));
    let screen = pane.wait_for("theater #2/29>", 1);
    let mut transcript = format!("{}\n", screen.trim_end());
    for line in [
        "step",
        "step 3",
        "back",
        r#"break payload "amount":125"#,
        "continue",
        "c",
        "state bank",
        "state-diff",
        "stpe 2",
        "goto twelve",
        "reverse-continue",
        "goto 3",
        "actors",
        "event 24",
        "help back",
    ] {
        let out = pane.run(line);
        let prompt = pane
            .screen()
            .lines()
            .rev()
            .find(|l| l.starts_with("theater #"))
            .unwrap_or_default()
            .trim_end()
            .to_string();
        transcript.push_str(&format!("> {line}\n{out}\n{prompt}\n"));
    }
    // The trace's path is the clone's; the golden file names it from the repository.
    let repo = format!("{}/", theater_testkit::repo().display());
    theater_testkit::golden("repl-bank-bug.txt", &transcript.replace(&repo, ""));

    // Tab completion: a command name, then an actor name.
    pane.tmux(&["send-keys", "-t", "repl", "-l", "wat"]);
    pane.tmux(&["send-keys", "-t", "repl", "Tab"]);
    pane.wait_for("> watch", 1);
    pane.tmux(&["send-keys", "-t", "repl", "-l", "ba"]);
    pane.tmux(&["send-keys", "-t", "repl", "Tab"]);
    pane.wait_for("> watch bank", 1);
    pane.tmux(&["send-keys", "-t", "repl", "Enter"]);
    pane.wait_for("watchpoint 2: watch bank", 1);

    // The program exits, writing the history file on the way out.
    pane.quit();
    let history = pane.home().join(".theater-replay-history");
    let saved = std::fs::read_to_string(&history).unwrap();
    assert!(
        saved.contains("state-diff") && saved.contains("watch bank"),
        "{saved}"
    );
}

/// A live branch at the cursor: before the bank's bad transfer (event 23), `fork`, send
/// a smaller transfer instead, `run`, look at the state, `save`; the saved trace is a
/// fork of the recording that verifies and does not overdraw.
#[test]
fn a_person_forks_at_the_cursor_sends_runs_and_saves() {
    let saved = theater_testkit::scratch("repl-fork").join("branch.trace");
    let pane = Pane::start(&fixture("bank-bug.bin"));
    pane.wait_for("theater #2/29>", 1);
    let out = pane.run("send bank {}");
    assert!(out.contains("no branch is open"), "{out}");
    pane.run("goto 22");
    let out = pane.run("fork");
    assert!(out.contains("branch from event #23"), "{out}");
    assert!(out.contains("simulated"), "{out}");
    let out = pane.run("fork");
    assert!(out.contains("a branch from #23 is open"), "{out}");
    let out = pane.run(r#"send bank {"transfer":{"from":"alice","to":"bob","amount":5}}"#);
    assert!(out.contains("queued for actor 0"), "{out}");
    let out = pane.run("send nobody {}");
    assert!(out.contains("no actor \"nobody\" in the branch"), "{out}");
    let out = pane.run("run");
    assert!(
        out.contains("ran 1 deliveries; the branch is idle"),
        "{out}"
    );
    assert!(
        pane.screen()
            .contains("(branch from #23, 1 deliveries) theater #"),
        "the prompt says a branch is open:\n{}",
        pane.screen()
    );
    let out = pane.run("state bank");
    assert!(out.contains("(in the branch)"), "{out}");
    assert!(out.contains("\"alice\": 120"), "{out}");
    let out = pane.run(&format!("save {}", saved.display()));
    assert!(out.contains("saved the branch"), "{out}");
    let out = pane.run("run");
    assert!(out.contains("no branch is open"), "{out}");
    pane.quit();

    let parent = theater_trace::Trace::open(&fixture("bank-bug.bin")).unwrap();
    let branch = theater_trace::Trace::open(&saved).unwrap();
    assert_eq!(branch.first_event(), 23);
    branch.verify().unwrap();
    let names_parent = branch.events().take(4).any(|e| {
        matches!(e.unwrap().event.body,
            theater_trace::EventBody::Forked { parent_head, at: 23 } if parent_head == parent.head())
    });
    assert!(names_parent, "the branch's setup names the recording");
    let replayed = theater_runtime::replay::replay(branch, &Default::default()).unwrap();
    assert!(replayed.finished);
}
