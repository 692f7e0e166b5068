//! Crash safety of a real recording: `theater run --record` on a busy workload, killed
//! with SIGKILL at seeded pseudo-random moments. Each time the trace must open, its
//! intact prefix must verify, it must hold every event that was in the file shortly
//! before the kill (what was flushed stays flushed), and it must replay up to the cut.
//!
//! `THEATER_SEED=n` picks another schedule of kill times; the seed is printed on failure.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use theater_runtime::replay::{replay, ReplayOptions};
use theater_runtime::{RECORDER_BATCH_EVENTS, RECORDER_CHANNEL_BATCHES};
use theater_trace::synth::Rng;
use theater_trace::{Problem, Trace, TraceError};

/// Kills per run of this test.
const KILLS: usize = 20;

use theater_testkit::repo as root;

#[test]
fn sigkill_at_random_moments_loses_nothing_that_was_flushed() {
    let seed: u64 = std::env::var("THEATER_SEED").map_or(20_261_125, |s| s.parse().unwrap());
    let mut rng = Rng::new(seed);
    let dir = std::env::temp_dir().join(format!("theater-crash-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // A rally long enough to outlive every kill.
    let inputs = dir.join("inputs.jsonl");
    std::fs::write(
        &inputs,
        "{\"to\": \"ping\", \"message\": {\"ball\": 0, \"max\": 100000000}}\n",
    )
    .unwrap();
    let manifest = root().join("fixtures/manifests/ping-pong.toml");
    let mut report = Vec::new();
    for kill in 0..KILLS {
        let trace_path = dir.join(format!("kill-{kill}.bin"));
        let _ = std::fs::remove_file(&trace_path);
        let mut child = Command::new(env!("CARGO_BIN_EXE_theater"))
            .args([
                "run",
                manifest.to_str().unwrap(),
                "--inputs",
                inputs.to_str().unwrap(),
            ])
            .args(["--progress", "--record"])
            .arg(&trace_path)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The last "progress: N events" line read: events the run had produced (handed to
        // the recorder), a lower bound at the moment of the kill.
        let produced = Arc::new(AtomicU64::new(0));
        let reader = {
            let produced = produced.clone();
            let stderr = child.stderr.take().unwrap();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Some(n) = line
                        .strip_prefix("progress: ")
                        .and_then(|r| r.strip_suffix(" events"))
                        .and_then(|n| n.parse().ok())
                    {
                        produced.store(n, Ordering::Relaxed);
                    }
                }
            })
        };
        // Wait until the recording has started, then a seeded 20–400 ms more.
        let start = Instant::now();
        while std::fs::metadata(&trace_path).map_or(true, |m| m.len() == 0) {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "seed {seed}: theater never started recording"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        let delay = 20 + rng.below(380);
        std::thread::sleep(Duration::from_millis(delay));
        // What is in the file now was flushed; it must all survive the kill.
        let snapshot = std::fs::read(&trace_path).unwrap();
        let produced_before_kill = produced.load(Ordering::Relaxed);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();

        let before = Trace::from_bytes(snapshot)
            .unwrap_or_else(|e| panic!("seed {seed}, kill {kill}: snapshot: {e}"));
        let trace =
            Trace::open(&trace_path).unwrap_or_else(|e| panic!("seed {seed}, kill {kill}: {e}"));
        let recovery = trace
            .recovery()
            .unwrap_or_else(|| panic!("seed {seed}, kill {kill}: a killed recording has no footer"))
            .clone();
        assert!(
            trace.event_count() >= before.event_count() && before.event_count() > 0,
            "seed {seed}, kill {kill}: {} events in the file before the kill, {} after",
            before.event_count(),
            trace.event_count()
        );
        let last = before.event_count() - 1;
        assert_eq!(
            trace.event(last).unwrap().digest,
            before.event(last).unwrap().digest,
            "seed {seed}, kill {kill}: event {last} changed"
        );
        // The intact prefix verifies; only its incompleteness is reported.
        match trace.verify() {
            Err(TraceError::Corrupt(c)) if matches!(c.problem, Problem::Incomplete { .. }) => {}
            other => panic!("seed {seed}, kill {kill}: verify: {other:?}"),
        }
        let events = trace.event_count();
        let replayed = replay(trace, &ReplayOptions::default())
            .unwrap_or_else(|e| panic!("seed {seed}, kill {kill}: replay: {e}"));
        assert!(!replayed.finished);
        // The recorder thread's blocks end between steps: the cut never splits one, so
        // every event kept replays (and a run could resume right there).
        assert_eq!(
            replayed.events, events,
            "seed {seed}, kill {kill}: replayed {} of {events} events",
            replayed.events
        );
        let lost = produced_before_kill.saturating_sub(events);
        report.push((
            delay,
            events,
            recovery.dropped_bytes,
            recovery.dropped_events,
            lost,
        ));
        std::fs::remove_file(&trace_path).unwrap();
    }
    let worst_torn = report.iter().map(|r| r.3).max().unwrap_or(0);
    let fewest = report.iter().map(|r| r.1).min().unwrap_or(0);
    let worst_loss = report.iter().map(|r| r.4).max().unwrap_or(0);
    println!(
        "{KILLS} kills (seed {seed}): events kept {fewest}..{}, torn tail at most {} bytes / {worst_torn} event(s); worst loss seen {worst_loss} events (produced per the last progress line before the kill, minus kept)",
        report.iter().map(|r| r.1).max().unwrap_or(0),
        report.iter().map(|r| r.2).max().unwrap_or(0)
    );
    // The flush policy bounds the loss: what the writer holds (one open block: at most
    // FLUSH_EVERY_EVENTS_DEFAULT events, or 100 ms of run: at most ~40,000 events at this
    // machine's ~400k events/s), plus the recorder's channel and current batch.
    const EVENTS_IN_100_MS_MAX: u64 = 40_000;
    let bound = EVENTS_IN_100_MS_MAX.max(u64::from(theater_trace::FLUSH_EVERY_EVENTS_DEFAULT))
        + (RECORDER_CHANNEL_BATCHES as u64 + 1) * RECORDER_BATCH_EVENTS as u64;
    assert!(
        worst_loss <= bound,
        "seed {seed}: lost {worst_loss} events, more than the flush policy allows ({bound})"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
