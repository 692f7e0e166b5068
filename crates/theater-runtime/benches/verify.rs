//! `verify` against recording: how fast a recorded run is checked and re-executed,
//! compared with how fast it was recorded.
//!
//! `cargo bench -p theater-runtime --bench verify` records a ping-pong rally of
//! 1,000,000 deliveries as `theater run --record` does (to a file, on the recorder
//! thread, a snapshot every 10,000 deliveries), then verifies the file as
//! `theater-replay verify` does:
//! - **inline** (what `verify` runs): the replay split at snapshots over `--jobs`
//!   threads, each range checking the integrity of its blocks as it reads them
//!   (`replay_verifying`), on 1 and 2 threads;
//! - **two passes** (what `verify` ran before): the integrity pass, then the replay
//!   (`Trace::verify_jobs`, then `replay_parallel`), on 2 threads.
//!
//! Each round records afresh and verifies right after, so every ratio compares runs
//! made side by side; `THEATER_BENCH_ROUNDS` rounds (3), medians and ranges printed.
//! `THEATER_BENCH_DELIVERIES` sets the rally's length. Figures go to docs/benchmarks.md.

use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use theater_runtime::replay::ReplayOptions;
use theater_runtime::{
    replay_parallel, replay_verifying, run_header, ComponentCache, Limits, Recorder, RuntimeError,
    Sink, SnapshotPolicy, System,
};
use theater_trace::{Trace, TraceWriter, WriterOptions};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A ping-pong rally of `deliveries` recorded to `path` as `theater run --record` does;
/// how long it took, the component compiled included.
fn record(path: &Path, deliveries: u64) -> Duration {
    let component = theater_testkit::fixture_component("ping-pong");
    let spec = theater_runtime::bench_support::ping_pong_spec(&component, 3);
    let _ = std::fs::remove_file(path);
    let t = Instant::now();
    let options = WriterOptions::default();
    let flush_ms = options.flush_interval_ms;
    let writer =
        TraceWriter::create(path, run_header(&spec), &spec.manifest_bytes(), options).unwrap();
    let recorder = Recorder::spawn(writer, flush_ms).unwrap();
    let mut system = System::new(&spec, Sink::Background(Box::new(recorder))).unwrap();
    system.record_snapshots(SnapshotPolicy {
        every_ms: 0,
        ..SnapshotPolicy::default()
    });
    let ball = format!(r#"{{"ball":0,"max":{}}}"#, deliveries - 3).into_bytes();
    system.inject(0, ball).unwrap();
    system.run_until_idle(u64::MAX).unwrap();
    let Sink::Background(recorder) = system.finish("done").unwrap().1 else {
        unreachable!("a recorder")
    };
    recorder.finish().unwrap();
    t.elapsed()
}

/// `verify` of the trace at `path` on `jobs` threads: inline, or in two passes.
fn verify(path: &Path, jobs: usize, inline: bool) -> Duration {
    let open = || Trace::open(path).map_err(RuntimeError::from);
    let options = ReplayOptions::default();
    let done = AtomicU64::new(0);
    let t = Instant::now();
    let mut cache = ComponentCache::new(&Limits::default()).unwrap();
    let (report, integrity) = if inline {
        replay_verifying(&open, &options, jobs, &mut cache, &done).unwrap()
    } else {
        let integrity = open().unwrap().verify_jobs(jobs).unwrap();
        let report = replay_parallel(&open, &options, jobs, &mut cache, &done).unwrap();
        (report, Some(integrity))
    };
    let elapsed = t.elapsed();
    let integrity = integrity.expect("an intact trace checks inline");
    assert!(report.finished && report.head == integrity.head);
    if inline {
        let blocks = open().unwrap().block_count().unwrap_or(0);
        assert!(
            integrity.inline_blocks * 10 >= blocks * 9,
            "most blocks are checked as the replay reads them: {} of {blocks}",
            integrity.inline_blocks
        );
        assert!(
            integrity.vouched_events * 10 >= integrity.events * 9,
            "most events are vouched for: {} of {}",
            integrity.vouched_events,
            integrity.events
        );
    }
    elapsed
}

/// "median (min–max)" of `values`.
fn spread(values: &mut [f64], digits: usize) -> String {
    values.sort_by(f64::total_cmp);
    format!(
        "{:.digits$} ({:.digits$}–{:.digits$})",
        values[values.len() / 2],
        values[0],
        values[values.len() - 1]
    )
}

fn main() {
    let deliveries = env("THEATER_BENCH_DELIVERIES", 1_000_000);
    let rounds = env("THEATER_BENCH_ROUNDS", 3).max(1);
    let path = std::env::temp_dir().join(format!("theater-verify-{}.trace", std::process::id()));
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mut rows: [Vec<f64>; 4] = Default::default();
    let mut ratios: [Vec<f64>; 3] = Default::default();
    for round in 1..=rounds {
        let recording = record(&path, deliveries);
        let inline2 = verify(&path, 2, true);
        let two_pass2 = verify(&path, 2, false);
        let inline1 = verify(&path, 1, true);
        println!(
            "round {round}: recording {:.0} ms; verify --jobs 2 {:.0} ms (two passes {:.0} ms); --jobs 1 {:.0} ms",
            ms(recording),
            ms(inline2),
            ms(two_pass2),
            ms(inline1)
        );
        for (row, d) in rows
            .iter_mut()
            .zip([recording, inline2, two_pass2, inline1])
        {
            row.push(ms(d));
        }
        let r = recording.as_secs_f64();
        for (row, d) in ratios.iter_mut().zip([inline2, two_pass2, inline1]) {
            row.push(r / d.as_secs_f64());
        }
    }
    let trace = Trace::open(&path).unwrap();
    let (events, bytes) = (trace.event_count(), trace.file_len());
    drop(trace);
    let _ = std::fs::remove_file(&path);
    println!(
        "{deliveries} deliveries ({events} events, {bytes} bytes), {rounds} rounds, median (range):"
    );
    let names = [
        "recording",
        "verify --jobs 2 (inline)",
        "verify --jobs 2 (two passes)",
        "verify --jobs 1 (inline)",
    ];
    for (name, row) in names.iter().zip(rows.iter_mut()) {
        println!("  {name}: {} ms", spread(row, 0));
    }
    println!("throughput / recording throughput:");
    for (name, row) in names[1..].iter().zip(ratios.iter_mut()) {
        println!("  {name}: {}", spread(row, 2));
    }
}
