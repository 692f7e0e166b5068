//! A real terminal for the REPL tests: the `theater-replay` binary in a tmux pane, keys
//! typed into it, and the screen read back. Needs `tmux` (`.ci/run` installs it).
//! Each test crate that includes it uses a different part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// How long to wait for the screen to show something before giving up (a hang guard,
/// not a performance bound).
const SCREEN_WAIT: Duration = Duration::from_secs(60);

pub(crate) struct Pane {
    socket: String,
    home: PathBuf,
}

impl Pane {
    pub(crate) fn tmux(&self, args: &[&str]) -> String {
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

    pub(crate) fn start(trace: &Path) -> Pane {
        // One tmux server per pane: tests run side by side, some on the same trace.
        static PANES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let socket = format!(
            "theater-repl-test-{}-{}-{}",
            std::process::id(),
            PANES.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            trace.file_stem().unwrap_or_default().to_string_lossy()
        );
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

    pub(crate) fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "repl", "-S", "-2000"])
    }

    /// Waits until the screen holds `text` `count` times; returns the screen.
    pub(crate) fn wait_for(&self, text: &str, count: usize) -> String {
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
    pub(crate) fn run(&self, line: &str) -> String {
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

impl Pane {
    /// Where the program's `HOME` is (its history file).
    pub(crate) fn home(&self) -> &Path {
        &self.home
    }

    /// Types `quit` and waits until the program has exited (its tmux session ends
    /// with it).
    pub(crate) fn quit(&self) {
        self.tmux(&["send-keys", "-t", "repl", "-l", "quit"]);
        self.tmux(&["send-keys", "-t", "repl", "Enter"]);
        let start = Instant::now();
        while Command::new("tmux")
            .args(["-L", &self.socket, "has-session", "-t", "repl"])
            .output()
            .is_ok_and(|o| o.status.success())
        {
            assert!(
                start.elapsed() < SCREEN_WAIT,
                "quit did not end the program"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
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
