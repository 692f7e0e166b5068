//! Soak: 10 million deliveries recorded in one run (what `theater run --record` does),
//! with throughput and host RSS over time and trace bytes per event and per delivery; then the whole
//! trace is replayed and the chain heads compared.
//!
//! `cargo bench -p theater-runtime --bench soak` (about 0.2 GB of trace in the
//! temporary directory, deleted afterwards; `THEATER_SOAK_DELIVERIES=N` for another
//! size). A bounded version runs in `cargo test` (`tests/soak.rs`). Figures go to
//! docs/benchmarks.md.

use std::time::Instant;

use theater_runtime::bench_support::soak;
use theater_trace::synth::Rng;
use theater_trace::Trace;

/// Median and slowest time of 1000 random seeks (`Trace::event`) in microseconds, and
/// the trace's block count.
fn seek_time(path: &std::path::Path) -> ((f64, f64), u64) {
    let trace = Trace::open(path).unwrap();
    let mut rng = Rng::new(7);
    let mut times: Vec<f64> = (0..1000)
        .map(|_| {
            let n = rng.below(trace.event_count());
            let start = Instant::now();
            std::hint::black_box(trace.event(n).unwrap());
            start.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    times.sort_by(f64::total_cmp);
    ((times[500], times[999]), trace.block_count().unwrap_or(0))
}

fn main() {
    let deliveries: u64 = std::env::var("THEATER_SOAK_DELIVERIES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000_000);
    let component = theater_testkit::fixture_component("ping-pong");
    let path = std::env::temp_dir().join(format!("theater-soak-{}.trace", std::process::id()));
    let _ = std::fs::remove_file(&path);
    println!(
        "soak: {deliveries} deliveries, ping-pong, recorder thread, trace {}",
        path.display()
    );
    println!(
        "{:>12} {:>9} {:>14} {:>9}",
        "deliveries", "seconds", "deliveries/s", "RSS MiB"
    );
    let r = soak(&component, deliveries, &path, 20, |row| {
        println!(
            "{:>12} {:>9.1} {:>14.0} {:>9.1}",
            row.deliveries,
            row.elapsed.as_secs_f64(),
            row.rate,
            row.rss_bytes as f64 / 1048576.0
        );
    })
    .unwrap();
    let (seek, blocks) = seek_time(&path);
    let _ = std::fs::remove_file(&path);
    println!(
        "recorded {} deliveries in {:.1} s ({:.0}/s): {} events, {} bytes ({:.1} bytes/event, {:.1} bytes/delivery), peak RSS {:.1} MiB",
        r.deliveries,
        r.record_time.as_secs_f64(),
        r.deliveries as f64 / r.record_time.as_secs_f64(),
        r.events,
        r.trace_bytes,
        r.trace_bytes as f64 / r.events as f64,
        r.trace_bytes as f64 / r.deliveries as f64,
        r.peak_rss_bytes as f64 / 1048576.0
    );
    println!(
        "replayed in {:.1} s ({:.0} events/s): chain head {} {}",
        r.replay_time.as_secs_f64(),
        r.events as f64 / r.replay_time.as_secs_f64(),
        r.replay_head,
        if r.replay_head == r.head {
            "== recorded"
        } else {
            "!= recorded (MISMATCH)"
        }
    );
    println!(
        "seek to a random event of the finished trace ({blocks} blocks): median {:.1} us, slowest {:.1} us, over 1000 seeks (open: footer and index, not counted)",
        seek.0, seek.1
    );
    assert_eq!(
        r.replay_head, r.head,
        "the soak trace must replay to the recorded head"
    );
}
