//! The REPL as a person uses it: the real binary in a real terminal (a tmux pane), keys
//! typed, and what the screen shows checked.
//!
//! Needs `tmux` (`.ci/run` installs it).

mod common;

use common::Pane;

use theater_testkit::fixture_trace as fixture;

#[test]
fn a_person_steps_goes_back_breaks_inspects_and_mistypes() {
    let pane = Pane::start(&fixture("bank-bug.bin"));
    let screen = pane.wait_for("theater #2/29>", 1);
    assert!(screen.contains("30 events, 18 steps"), "{screen}");

    let out = pane.run("step");
    assert!(
        out.contains("step 1/18") && out.contains("runtime init"),
        "{out}"
    );
    assert!(pane.screen().contains("theater #4/29 bank#0>"));

    let out = pane.run("step 3");
    assert!(
        out.contains("step 4/18") && out.contains(r#"{"open":{"amount":10,"name":"bob"}}"#),
        "{out}"
    );

    let out = pane.run("back");
    assert!(out.contains("step 3/18") && out.contains("#7 "), "{out}");
    assert!(pane.screen().contains("theater #7/29 bank#0>"));

    let out = pane.run(r#"break payload "amount":125"#);
    assert!(out.contains("breakpoint 1: payload"), "{out}");
    let out = pane.run("continue");
    assert!(
        out.contains("breakpoint 1 hit") && out.contains("#23 "),
        "{out}"
    );
    let out = pane.run("c");
    assert!(
        out.contains("breakpoint 1 hit") && out.contains("#24 "),
        "{out}"
    );

    let out = pane.run("state bank");
    assert!(
        out.contains(r#""alice": -1"#) && out.contains(r#""bob": 165"#),
        "{out}"
    );
    let out = pane.run("state-diff");
    assert!(
        out.contains(r#"-    "alice": 125,"#) && out.contains(r#"+    "alice": -1,"#),
        "{out}"
    );

    let out = pane.run("stpe 2");
    assert!(
        out.contains("unknown command `stpe` (did you mean `step`?)"),
        "{out}"
    );
    let out = pane.run("goto twelve");
    assert!(
        out.contains("not an event number") && out.contains("usage: goto EVENT"),
        "{out}"
    );
    // The session goes on where it was.
    assert!(pane.screen().contains("theater #25/29 bank#0>"));

    let out = pane.run("reverse-continue");
    assert!(
        out.contains("breakpoint 1 hit") && out.contains("#23 "),
        "{out}"
    );
    let out = pane.run("goto 3");
    assert!(out.contains("step 1/18"), "{out}");
    let out = pane.run("actors");
    assert!(out.contains("bank #0 (running)"), "{out}");
    let out = pane.run("event 24");
    assert!(
        out.contains("#24 ")
            && out.contains("\"kind\": \"delivered\"")
            && out.contains("\"Delivered\": {"),
        "{out}"
    );
    let out = pane.run("help back");
    assert!(
        out.contains("back [N]") && out.contains("checkpoint"),
        "{out}"
    );

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
