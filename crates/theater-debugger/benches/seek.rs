//! What checkpoints buy: the cost of going back, and of bisecting, with and without them.
//!
//! `cargo bench -p theater-debugger --bench seek` records a ping-pong run of 20,000
//! volleys (about 60,000 events) in memory, then measures side by side, in one run:
//! - a straight replay of the whole trace;
//! - 200 random seeks with a checkpoint every 256 events vs none (every seek back then
//!   re-executes from the start): time and events re-executed per seek, and the ratio;
//! - `bisect` on a condition that stays true: probes and events re-executed;
//! - on a long run recorded with snapshots (1,000,000 deliveries; set
//!   `THEATER_BENCH_DELIVERIES`), a fresh session: opening it, reaching its last step,
//!   and random seeks, against the same run recorded without snapshots. (`verify`
//!   against recording it: `cargo bench -p theater-runtime --bench verify`.)
//!
//! Figures go to docs/benchmarks.md.

use std::time::{Duration, Instant};

use theater_debugger::rerun::{Input, Rerun};
use theater_debugger::{bisect, Predicate, Session, SessionOptions};
use theater_runtime::{run_header, Recorder, Sink, SnapshotPolicy, System};
use theater_trace::{Trace, TraceWriter, WriterOptions};

const VOLLEYS: u64 = 20_000;
const SEEKS: usize = 200;

fn main() {
    let fixture = theater_testkit::fixture_trace("ping-pong.bin");
    let small = Trace::open(&fixture).expect("the ping-pong fixture trace");
    let serve = Input {
        event: 0,
        to: 0,
        payload: format!(r#"{{"ball":0,"max":{VOLLEYS}}}"#).into_bytes(),
        request: false,
    };
    let never: Predicate = "failed".parse().unwrap();
    let bytes = Rerun::new(&small)
        .unwrap()
        .run(&[&serve], &never)
        .unwrap()
        .trace;
    let events = Trace::from_bytes(bytes.clone()).unwrap().event_count();
    println!(
        "trace: ping-pong, {VOLLEYS} volleys, {events} events, {} bytes",
        bytes.len()
    );

    let open = |every: u64| {
        let options = SessionOptions {
            checkpoint_every: every,
            ..SessionOptions::default()
        };
        Session::new(Trace::from_bytes(bytes.clone()).unwrap(), &options).unwrap()
    };

    // Straight replay, laying checkpoints (K = 256) on the way.
    let mut with = open(256);
    let t = Instant::now();
    with.goto_step(with.steps()).unwrap();
    let straight = t.elapsed();
    println!(
        "straight replay: {:.1} ms ({:.2} µs/event), {} checkpoints laid",
        straight.as_secs_f64() * 1e3,
        straight.as_secs_f64() * 1e6 / events as f64,
        with.checkpoint_count()
    );
    let mut without = open(u64::MAX);
    without.goto_step(without.steps()).unwrap();

    let mut rng = theater_trace::synth::Rng::new(11);
    let targets: Vec<usize> = (0..SEEKS)
        .map(|_| rng.below(with.steps() as u64 + 1) as usize)
        .collect();
    let measure = |s: &mut Session| {
        let before = s.events_reexecuted();
        let t = Instant::now();
        for &p in &targets {
            s.goto_step(p).unwrap();
        }
        (
            t.elapsed().as_secs_f64() / SEEKS as f64,
            (s.events_reexecuted() - before) / SEEKS as u64,
        )
    };
    let (t_with, e_with) = measure(&mut with);
    let (t_without, e_without) = measure(&mut without);
    println!(
        "random seek, checkpoint every 256 events: {:.3} ms/seek, {e_with} events re-executed/seek",
        t_with * 1e3
    );
    println!(
        "random seek, no checkpoints:              {:.3} ms/seek, {e_without} events re-executed/seek",
        t_without * 1e3
    );
    println!(
        "ratio (no checkpoints / checkpoints): {:.1}x",
        t_without / t_with
    );

    let hits: Predicate = format!("ping:/hits >= {}", VOLLEYS / 2 - 7)
        .parse()
        .unwrap();
    let mut fresh = open(256);
    fresh.goto_step(fresh.steps()).unwrap();
    let t = Instant::now();
    let r = bisect(&mut fresh, &hits)
        .unwrap()
        .expect("holds at the end");
    println!(
        "bisect `{hits}` (checkpoints laid): {:.2} ms, {} probes, {} events re-executed (of {events})",
        t.elapsed().as_secs_f64() * 1e3,
        r.probes,
        r.events_reexecuted
    );

    long_run();
}

/// A ping-pong rally of `deliveries`, recorded with `policy` as `theater run --record`
/// does (to a file, on the recorder thread); the trace's bytes.
fn record_rally(deliveries: u64, policy: SnapshotPolicy) -> Vec<u8> {
    let component = theater_testkit::fixture_component("ping-pong");
    let spec = theater_runtime::bench_support::ping_pong_spec(&component, 3);
    let path = std::env::temp_dir().join(format!("theater-seek-{}.trace", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let writer = TraceWriter::create(
        &path,
        run_header(&spec),
        &spec.manifest_bytes(),
        WriterOptions::default(),
    )
    .unwrap();
    let recorder = Recorder::spawn(writer, WriterOptions::default().flush_interval_ms).unwrap();
    let mut system = System::new(&spec, Sink::Background(Box::new(recorder))).unwrap();
    system.record_snapshots(policy);
    let ball = format!(r#"{{"ball":0,"max":{}}}"#, deliveries - 3).into_bytes();
    system.inject(0, ball).unwrap();
    system.run_until_idle(u64::MAX).unwrap();
    let Sink::Background(recorder) = system.finish("done").unwrap().1 else {
        unreachable!("a recorder")
    };
    recorder.finish().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    bytes
}

/// What a fresh session on a long trace measured.
struct Fresh {
    /// Opening it (the trace from memory, its timeline, the system built).
    open: Duration,
    /// Of that, the scan of the events' kinds that makes the timeline.
    kinds: Duration,
    /// Then reaching its last step.
    end: Duration,
    /// The median and slowest random seek after that.
    median: Duration,
    worst: Duration,
}

/// A fresh session on `bytes` (no checkpoints kept in memory), and `seeks` random seeks.
fn fresh_session(bytes: &[u8], seeks: usize) -> Fresh {
    let options = SessionOptions {
        checkpoint_every: u64::MAX,
        ..SessionOptions::default()
    };
    let trace = Trace::from_bytes(bytes.to_vec()).unwrap();
    let t = Instant::now();
    trace.for_each_kind(|_, _| {}).unwrap();
    let kinds = t.elapsed();
    drop(trace);
    let t = Instant::now();
    let mut s = Session::new(Trace::from_bytes(bytes.to_vec()).unwrap(), &options).unwrap();
    let open = t.elapsed();
    let t = Instant::now();
    s.goto_step(s.steps()).unwrap();
    let end = t.elapsed();
    let mut rng = theater_trace::synth::Rng::new(5);
    let mut times: Vec<Duration> = (0..seeks)
        .map(|_| {
            let p = rng.below(s.steps() as u64 + 1) as usize;
            let t = Instant::now();
            s.goto_step(p).unwrap();
            t.elapsed()
        })
        .collect();
    times.sort();
    Fresh {
        open,
        kinds,
        end,
        median: times.get(times.len() / 2).copied().unwrap_or_default(),
        worst: times.last().copied().unwrap_or_default(),
    }
}

fn long_run() {
    let deliveries = std::env::var("THEATER_BENCH_DELIVERIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000u64);
    let policy = SnapshotPolicy {
        every_ms: 0,
        ..SnapshotPolicy::default()
    };
    let with = record_rally(deliveries, policy);
    let without = record_rally(deliveries, SnapshotPolicy::OFF);
    let snapshots = Trace::from_bytes(with.clone())
        .unwrap()
        .snapshots()
        .unwrap()
        .len();
    println!(
        "long run: ping-pong, {deliveries} deliveries; with a snapshot every {} deliveries ({snapshots} snapshots): {} bytes; without: {} bytes",
        policy.every_deliveries,
        with.len(),
        without.len()
    );
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    // bisect on a fresh session: a condition that starts holding in the middle.
    let hits: Predicate = format!("ping:/hits >= {}", deliveries / 4).parse().unwrap();
    let options = SessionOptions::default();
    let bisect_fresh = |bytes: &[u8]| {
        let t = Instant::now();
        let mut s = Session::new(Trace::from_bytes(bytes.to_vec()).unwrap(), &options).unwrap();
        let r = bisect(&mut s, &hits).unwrap().expect("holds at the end");
        (t.elapsed(), r.probes, r.events_reexecuted)
    };
    let (t, probes, events) = bisect_fresh(&with);
    println!(
        "  bisect `{hits}`, opening included, with snapshots: {:.0} ms, {probes} probes, {events} events re-executed",
        ms(t)
    );
    if deliveries <= 1_000_000 {
        let (t0, probes0, events0) = bisect_fresh(&without);
        println!(
            "  the same without snapshots: {:.0} ms, {probes0} probes, {events0} events re-executed; ratio {:.1}x",
            ms(t0),
            t0.as_secs_f64() / t.as_secs_f64()
        );
    }
    let with = fresh_session(&with, 50);
    println!(
        "  with snapshots: open {:.0} ms (the kind scan {:.0} ms), then the last step {:.1} ms; random seek median {:.2} ms, slowest {:.2} ms (50 seeks)",
        ms(with.open),
        ms(with.kinds),
        ms(with.end),
        ms(with.median),
        ms(with.worst)
    );
    // Without snapshots every seek back replays from the first event: a few are enough.
    let seeks = if deliveries <= 1_000_000 { 3 } else { 0 };
    let without = fresh_session(&without, seeks);
    println!(
        "  without:        open {:.0} ms (the kind scan {:.0} ms), then the last step {:.1} ms; random seek median {:.0} ms, slowest {:.0} ms ({seeks} seeks)",
        ms(without.open),
        ms(without.kinds),
        ms(without.end),
        ms(without.median),
        ms(without.worst)
    );
    println!(
        "  ratio (without / with): last step {:.0}x, random seek {:.0}x",
        without.end.as_secs_f64() / with.end.as_secs_f64(),
        without.median.as_secs_f64() / with.median.as_secs_f64()
    );
}
