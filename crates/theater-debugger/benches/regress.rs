//! What a regression check costs against a replay, and that its memory stays flat.
//!
//! `cargo bench -p theater-debugger --bench regress` records a ping-pong run of 200,000
//! volleys (about 400,000 events) to a file, then measures side by side, in one run:
//! - `verify --swap` with the same build (a replay that compares every event);
//! - `regress` with the same build (a rerun of the inputs, served the recording's host
//!   calls, then both runs compared delivery by delivery);
//! - the process's resident memory after each, against the trace's size.
//!
//! Figures go to docs/benchmarks.md.

use std::collections::BTreeMap;
use std::time::Instant;

use theater_debugger::rerun::{Input, Rerun};
use theater_debugger::{regress, Predicate, RegressOptions};
use theater_runtime::bench_support::rss_bytes;
use theater_runtime::replay::{replay, ReplayOptions};
use theater_trace::Trace;

const VOLLEYS: u64 = 200_000;

fn main() {
    let dir = theater_testkit::scratch("bench-regress");
    let path = dir.join("ping-pong.trace");
    let small = Trace::open(&theater_testkit::fixture_trace("ping-pong.bin")).unwrap();
    let serve = Input {
        event: 0,
        to: 0,
        payload: format!(r#"{{"ball":0,"max":{VOLLEYS}}}"#).into_bytes(),
        request: false,
    };
    let never: Predicate = "failed".parse().unwrap();
    let mut rerun = Rerun::new(&small).unwrap();
    rerun.record_to(Some(path.clone()));
    rerun.run(&[&serve], &never).unwrap();
    let trace = Trace::open(&path).unwrap();
    let (events, bytes) = (trace.event_count(), trace.file_len());
    println!("trace: ping-pong, {VOLLEYS} volleys, {events} events, {bytes} bytes");
    let swaps: BTreeMap<String, Vec<u8>> = [(
        "ping-pong".to_string(),
        theater_testkit::fixture_component("ping-pong"),
    )]
    .into();
    let rss_before = rss_bytes();

    let t = Instant::now();
    let options = ReplayOptions {
        swaps: swaps.clone(),
        ..ReplayOptions::default()
    };
    let report = replay(trace, &options).unwrap();
    let verify = t.elapsed();
    assert!(report.finished);
    let rss_verify = rss_bytes();

    let t = Instant::now();
    let options = RegressOptions {
        swaps,
        details: 5,
        ..RegressOptions::default()
    };
    let report = regress(Trace::open(&path).unwrap(), &options).unwrap();
    let regressed = t.elapsed();
    assert!(report.identical());
    let rss_regress = rss_bytes();

    let mb = |b: u64| b as f64 / 1e6;
    println!(
        "verify --swap (replay, same build): {:.2} s ({:.2} µs/event)",
        verify.as_secs_f64(),
        verify.as_secs_f64() * 1e6 / events as f64
    );
    println!(
        "regress (rerun + compare, same build): {:.2} s ({:.2} µs/event)",
        regressed.as_secs_f64(),
        regressed.as_secs_f64() * 1e6 / events as f64
    );
    println!(
        "ratio (regress / verify): {:.2}x",
        regressed.as_secs_f64() / verify.as_secs_f64()
    );
    println!(
        "resident memory: {:.1} MB before, {:.1} MB after verify, {:.1} MB after regress (trace {:.1} MB)",
        mb(rss_before),
        mb(rss_verify),
        mb(rss_regress),
        mb(bytes)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
