//! The REPL as a person uses it: the real binary in a real terminal (a tmux pane), keys
//! typed, and what the screen shows checked.
//!
//! Needs `tmux` (`.ci/run` installs it).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// How long to wait for the screen to show something before giving up (a hang guard,
/// not a performance bound).
const SCREEN_WAIT: Duration = Duration::from_secs(60);

struct Pane {
    socket: String,
    home: PathBuf,
}

impl Pane {
    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux is needed for the REPL tests (apt-get install tmux)");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn start(trace: &Path) -> Pane {
        let socket = format!("theater-repl-test-{}", std::process::id());
        let home = std::env::temp_dir().join(&socket);
        let _ = std::fs::remove_dir_all(&home);
        std::fs::create_dir_all(&home).unwrap();
        let pane = Pane { socket, home };
        let command = format!(
            "env HOME={} TERM=xterm {} {} --checkpoint-every 4",
            pane.home.display(),
            env!("CARGO_BIN_EXE_theater-replay"),
            trace.display()
        );
        pane.tmux(&[
            "new-session",
            "-d",
            "-s",
            "repl",
            "-x",
            "150",
            "-y",
            "50",
            &command,
        ]);
        pane
    }

    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "repl", "-S", "-2000"])
    }

    /// Waits until the screen holds `text` `count` times; returns the screen.
    fn wait_for(&self, text: &str, count: usize) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if screen.matches(text).count() >= count {
                return screen;
            }
            assert!(
                start.elapsed() < SCREEN_WAIT,
                "the screen never showed {text:?} {count} time(s):\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Types a line and waits for the next prompt; returns what the command printed.
    fn run(&self, line: &str) -> String {
        let prompts = self.screen().matches("theater #").count();
        self.tmux(&["send-keys", "-t", "repl", "-l", line]);
        self.tmux(&["send-keys", "-t", "repl", "Enter"]);
        let screen = self.wait_for("theater #", prompts + 1);
        let echoed = screen
            .rfind(&format!("> {line}"))
            .expect("the line is echoed");
        let after = &screen[echoed..];
        let end = after.rfind("theater #").unwrap_or(after.len());
        after[..end].lines().skip(1).collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .arg("kill-server")
            .status();
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/traces")
        .join(name)
}

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

    pane.tmux(&["send-keys", "-t", "repl", "-l", "quit"]);
    pane.tmux(&["send-keys", "-t", "repl", "Enter"]);
    // The program exits (its tmux session ends with it), writing the history file on
    // the way out.
    let start = Instant::now();
    while Command::new("tmux")
        .args(["-L", &pane.socket, "has-session", "-t", "repl"])
        .output()
        .is_ok_and(|o| o.status.success())
    {
        assert!(
            start.elapsed() < SCREEN_WAIT,
            "quit did not end the program"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let history = pane.home.join(".theater-replay-history");
    let saved = std::fs::read_to_string(&history).unwrap();
    assert!(
        saved.contains("state-diff") && saved.contains("watch bank"),
        "{saved}"
    );
}
