//! Traces in an object store, measured side by side in one run against a real
//! S3-compatible server on loopback (`s3s-fs`):
//!
//! - **upload vs recording**: a ping-pong rally recorded to a spool of segments as
//!   `theater run --record` records it (recorder thread, snapshots, rotation), then the
//!   spool shipped to the store by the shipper; the ratio of the two rates (≥ 1: the
//!   shipper keeps up with the recording);
//! - **open and reach the last event**: a fresh process's view (new store client, empty
//!   cache): the time and bytes fetched to open the stored run, read its last event, and
//!   have the debugger stand at its last step (from the nearest snapshot), against the
//!   bytes the store holds;
//! - **verify-all**: traces per second over a prefix of stored traces with `--jobs 1`
//!   and `--jobs 2` (the real binary).
//!
//! `THEATER_BENCH_DELIVERIES` (default 1,000,000) sets the rally's length.
//! `cargo bench -p theater-replay --bench store`

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use theater_debugger::{Session, SessionOptions};
use theater_runtime::{Recorder, SegmentPlan, SegmentPolicy, Sink, SnapshotPolicy, System};
use theater_store::{Location, Shipper, ShipperOptions, Store};
use theater_testkit::s3::S3Server;
use theater_trace::WriterOptions;

fn main() {
    let deliveries: u64 = std::env::var("THEATER_BENCH_DELIVERIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = theater_testkit::scratch("bench-store");
    let server = S3Server::start(&dir.join("server"), &["bench"]);
    for (k, v) in server.env() {
        std::env::set_var(k, v);
    }

    // Recording, then shipping the same spool.
    let spool = dir.join("spool");
    let t = Instant::now();
    record_rally(&spool, deliveries);
    let record = t.elapsed();
    let spool_bytes: u64 = std::fs::read_dir(&spool)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    let url = "s3://bench/rally";
    let Location::Store(at) = Location::parse(url).unwrap() else {
        unreachable!()
    };
    let store = Store::connect(&at).unwrap();
    let t = Instant::now();
    let shipper = Shipper::spawn(
        store.clone(),
        at.clone(),
        spool.clone(),
        ShipperOptions::default(),
    )
    .unwrap();
    let report = shipper.finish(u64::MAX).unwrap();
    let ship = t.elapsed();
    let stored: u64 = store.list("").unwrap().iter().map(|(_, n)| n).sum();
    println!("rally: {deliveries} deliveries, {} segments, {spool_bytes} bytes in the spool, {stored} bytes in the store ({} blobs uploaded, {} already there)",
        report.segments, report.blobs_uploaded, report.blobs_present);
    println!(
        "recording: {:.2} s ({:.1} MB/s of trace)   shipping: {:.2} s ({:.1} MB/s)   upload rate / recording rate: {:.2}",
        record.as_secs_f64(),
        mb_per_s(spool_bytes, record),
        ship.as_secs_f64(),
        mb_per_s(spool_bytes, ship),
        record.as_secs_f64() / ship.as_secs_f64()
    );

    // A fresh reader: open, the last event, the debugger at the last step.
    let fresh = Store::connect(&at).unwrap();
    let t = Instant::now();
    let trace = theater_store::open_in(&fresh, &at).unwrap();
    let open = t.elapsed();
    let opened = fresh.stats();
    let t = Instant::now();
    let last = trace.event(trace.event_count() - 1).unwrap();
    let read_last = t.elapsed();
    let after_last = fresh.stats();
    assert_eq!(last.digest, trace.head());
    let options = SessionOptions {
        checkpoint_every: u64::MAX,
        ..SessionOptions::default()
    };
    let t = Instant::now();
    let mut session = Session::new(trace, &options).unwrap();
    session.goto_step(session.steps()).unwrap();
    let at_end = t.elapsed();
    let end = fresh.stats();
    println!(
        "open: {:.1} ms, {} bytes in {} requests   last event: +{:.1} ms, +{} bytes   debugger at the last step: +{:.1} ms, {} bytes in {} requests in all = {:.2} % of the {stored} bytes stored",
        ms(open),
        opened.fetched_bytes,
        opened.requests,
        ms(read_last),
        after_last.fetched_bytes - opened.fetched_bytes,
        ms(at_end),
        end.fetched_bytes,
        end.requests,
        100.0 * end.fetched_bytes as f64 / stored as f64
    );

    // verify-all over a prefix of stored traces, one and two at a time.
    let fleet = 24;
    for i in 0..fleet {
        for name in ["bank-bug", "supervisor", "ping-pong"] {
            let bytes =
                std::fs::read(theater_testkit::fixture_trace(&format!("{name}.bin"))).unwrap();
            store
                .put(&format!("fleet/node-{}/{name}-{i}.trace", i % 4), bytes)
                .unwrap();
        }
    }
    let traces = fleet * 3;
    let replay = Path::new(env!("CARGO_BIN_EXE_theater-replay"));
    let mut rates = Vec::new();
    for jobs in ["1", "2"] {
        let t = Instant::now();
        let o = Command::new(replay)
            .args(["verify-all", "s3://bench/fleet", "--jobs", jobs])
            .output()
            .unwrap();
        let took = t.elapsed();
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "{out}{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            out.contains(&format!("verified {traces} traces: {traces} ok")),
            "{out}"
        );
        rates.push(traces as f64 / took.as_secs_f64());
    }
    println!(
        "verify-all: {traces} traces   --jobs 1: {:.1} traces/s   --jobs 2: {:.1} traces/s   ratio {:.2}",
        rates[0],
        rates[1],
        rates[1] / rates[0]
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn mb_per_s(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64()
}

/// A ping-pong rally recorded into `spool` as `theater run --record DIR/ --segment-bytes
/// 4 MiB` records it.
fn record_rally(spool: &Path, deliveries: u64) {
    let component = theater_testkit::fixture_component("ping-pong");
    let spec = theater_runtime::bench_support::ping_pong_spec(&component, 3);
    std::fs::create_dir_all(spool).unwrap();
    let policy = SegmentPolicy {
        bytes: 4 << 20,
        ..SegmentPolicy::default()
    };
    let plan = SegmentPlan::for_run(spool, &spec, WriterOptions::default(), policy);
    let recorder = Recorder::spawn_segmented(plan).unwrap();
    let mut system = System::new(&spec, Sink::Background(Box::new(recorder))).unwrap();
    system.record_snapshots(SnapshotPolicy::default());
    let ball = format!(r#"{{"ball":0,"max":{}}}"#, deliveries - 3).into_bytes();
    system.inject(0, ball).unwrap();
    system.run_until_idle(u64::MAX).unwrap();
    let Sink::Background(recorder) = system.finish("done").unwrap().1 else {
        unreachable!("a recorder")
    };
    recorder.finish().unwrap();
}
