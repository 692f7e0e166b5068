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
