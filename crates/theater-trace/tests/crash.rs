//! Crash safety: a child process writes a trace and is killed with SIGKILL mid-stream;
//! every event it reported as flushed must read back.
//!
//! The test binary re-runs itself as the child (`THEATER_CRASH_CHILD` names the trace
//! file), so the writer under test is the real one in a real, separate process.

#![cfg(unix)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use theater_trace::synth::{self, Rng};
use theater_trace::{Digest, Problem, Trace, TraceError, TraceWriter, WriterOptions};

const CHILD_ENV: &str = "THEATER_CRASH_CHILD";

/// The child: writes ping-pong rounds forever with a short flush policy, and reports
/// each flush on stdout as `flushed <events> <head>`.
#[test]
fn crash_child_writer() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return; // Only does something when run as the child.
    };
    let options = WriterOptions {
        flush_every_events: 37,
        flush_interval_ms: 5,
        ..WriterOptions::default()
    };
    let mut w =
        TraceWriter::create(path.as_ref(), synth::header(7), synth::MANIFEST, options).unwrap();
    let mut reported = (0, Digest::ZERO);
    for round in 0.. {
        synth::ping_pong_round(&mut w, round).unwrap();
        if w.flushed() != reported {
            reported = w.flushed();
            println!("flushed {} {}", reported.0, reported.1);
        }
    }
}

#[test]
fn sigkill_mid_stream_loses_nothing_that_was_flushed() {
    let dir = std::env::temp_dir().join(format!("theater-crash-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut rng = Rng::new(0xc4a54);
    let mut worst_unflushed = 0u64;
    for attempt in 0..6 {
        let path: PathBuf = dir.join(format!("run-{attempt}.trace"));
        let _ = std::fs::remove_file(&path);
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "crash_child_writer",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        // Kill after a seeded number of reported flushes.
        let kill_after = 1 + rng.below(40);
        let mut last: Option<(u64, Digest)> = None;
        let mut seen = 0;
        for line in stdout.lines() {
            let line = line.unwrap();
            let Some(rest) = line.strip_prefix("flushed ") else {
                continue;
            };
            let (events, head) = rest.split_once(' ').unwrap();
            last = Some((events.parse().unwrap(), Digest::from_hex(head).unwrap()));
            seen += 1;
            if seen == kill_after {
                child.kill().unwrap(); // SIGKILL on Unix
                break;
            }
        }
        child.wait().unwrap();
        let (flushed, head) = last.expect("child reported at least one flush");

        let trace = Trace::open(&path).unwrap();
        assert!(
            trace.recovery().is_some(),
            "a killed writer leaves no footer"
        );
        assert!(
            trace.event_count() >= flushed,
            "attempt {attempt}: {} events readable, {flushed} were flushed",
            trace.event_count()
        );
        assert_eq!(
            trace.event(flushed - 1).unwrap().digest,
            head,
            "attempt {attempt}"
        );
        worst_unflushed = worst_unflushed.max(trace.recovery().unwrap().dropped_bytes);
        // Everything kept is intact; the only complaint is the missing footer.
        match trace.verify() {
            Err(TraceError::Corrupt(c)) => {
                assert!(matches!(c.problem, Problem::Incomplete { .. }), "{c}")
            }
            other => panic!("expected an incomplete trace, got {other:?}"),
        }
    }
    eprintln!("worst torn tail after SIGKILL: {worst_unflushed} bytes");
    let _ = std::fs::remove_dir_all(&dir);
}
