//! Runtime benchmark: ping-pong deliveries per second with recording off and on (on the
//! recorder thread as `theater run --record` does, the same with `--fsync`, and inline
//! for comparison), runs interleaved; the raw call rate of the same component called in
//! a loop (the ceiling); and spawn latency.
//!
//! Each recording mode's cost is given twice: while the system runs (the time until the
//! last delivery has run: the throughput a running system loses), and for the whole
//! rally until the trace is finished (adding the end of the run: the recorder thread
//! writing its last batches, the index and the footer, and syncing with fsync).
//!
//! Run: `cargo bench -p theater-runtime --bench runtime` (`THEATER_BENCH_BALLS=N` for
//! rallies of N hits instead of 20,000). Figures are medians of 9 runs; the cost while
//! running is also given from the fastest run of each mode, which is less disturbed by
//! other load on a shared machine. `docs/benchmarks.md` holds the latest.

use std::time::{Duration, Instant};

use theater_runtime::{
    run_header, ActorSpec, ComponentCache, ComponentSpec, Limits, Recorder, Sink, SnapshotPolicy,
    System, SystemSpec,
};
use theater_trace::{Bytes, RestartPolicy, RunMode, TraceWriter, WriterOptions};

const RUNS: usize = 9;
const BALLS: u64 = 20_000;

use theater_testkit::fixture_component as component;

fn ping_pong_spec() -> SystemSpec {
    theater_runtime::bench_support::ping_pong_spec(&component("ping-pong"), 1)
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Off,
    /// `theater run --record --snapshot-every 0 --snapshot-ms 0`.
    Background,
    /// What `theater run --record` does: the same with the default snapshots.
    BackgroundSnapshots,
    /// `theater run --record --fsync`.
    BackgroundFsync,
    /// Events built and written on the scheduler's thread, for comparison.
    Inline,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Background => {
                "recorder thread, no snapshots (`--snapshot-every 0 --snapshot-ms 0`)"
            }
            Mode::BackgroundSnapshots => "recorder thread with snapshots (`theater run --record`)",
            Mode::BackgroundFsync => "recorder thread with fsync (`--record --fsync`)",
            Mode::Inline => "inline, on the scheduler's thread (for comparison)",
        }
    }
}

const MODES: [Mode; 5] = [
    Mode::Off,
    Mode::Background,
    Mode::BackgroundSnapshots,
    Mode::BackgroundFsync,
    Mode::Inline,
];

/// What one rally measured.
struct Rally {
    /// Until the last delivery has run and the system is finished (the scheduler's part).
    running: Duration,
    /// Until the trace is finished too (the recorder has written the last batches, the
    /// index and the footer, and synced with fsync).
    total: Duration,
    deliveries: u64,
    /// How often the scheduler waited for the recorder thread.
    waits: u64,
    /// The trace's size (0 with recording off) and, when asked, the size of the same
    /// events in format version 2.
    size: (u64, u64),
    /// Snapshots taken, and the scheduler's time they took.
    snapshots: (u64, Duration),
}

/// One ping-pong rally of `balls` hits, snapshots (where the mode takes them) as
/// `policy` says.
fn rally(
    mode: Mode,
    balls: u64,
    cache: &mut ComponentCache,
    v2: bool,
    policy: SnapshotPolicy,
) -> Rally {
    let spec = ping_pong_spec();
    let path = std::env::temp_dir().join(format!("theater-bench-{}.trace", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let writer = |fsync: bool| {
        let options = WriterOptions {
            fsync,
            ..WriterOptions::default()
        };
        TraceWriter::create(&path, run_header(&spec), &spec.manifest_bytes(), options).unwrap()
    };
    let sink = match mode {
        Mode::Off => Sink::Off,
        Mode::Inline => Sink::File(Box::new(writer(false))),
        Mode::Background | Mode::BackgroundSnapshots | Mode::BackgroundFsync => {
            let w = writer(mode == Mode::BackgroundFsync);
            Sink::Background(Box::new(Recorder::spawn(w, 100).unwrap()))
        }
    };
    let mut system = System::with_cache(&spec, sink, cache).unwrap();
    if mode == Mode::BackgroundSnapshots {
        system.record_snapshots(policy);
    }
    system.run_until_idle(10).unwrap();
    let ball = format!("{{\"ball\": 0, \"max\": {balls}}}").into_bytes();
    let start = Instant::now();
    system.inject(0, ball).unwrap();
    let n = system.run_until_idle(u64::MAX).unwrap();
    let snapshots = (system.snapshots_written(), system.snapshot_time());
    let (_, sink) = system.finish("done").unwrap();
    let running = start.elapsed();
    let mut waits = 0;
    match sink {
        Sink::File(w) => drop(w.finish().unwrap()),
        Sink::Background(r) => {
            waits = r.waits();
            r.finish().unwrap();
        }
        _ => {}
    }
    let total = start.elapsed();
    let mut size = (0, 0);
    if mode != Mode::Off {
        size.0 = std::fs::metadata(&path).unwrap().len();
        if v2 {
            let trace = theater_trace::Trace::open(&path).unwrap();
            size.1 = theater_trace::legacy::write_v2(&trace).unwrap().len() as u64;
        }
    }
    let _ = std::fs::remove_file(&path);
    Rally {
        running,
        total,
        deliveries: n,
        waits,
        size,
        snapshots,
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn fastest(v: &[Duration]) -> Duration {
    v.iter().copied().min().unwrap_or_default()
}

fn main() {
    let balls = std::env::var("THEATER_BENCH_BALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(BALLS);
    let mut cache = ComponentCache::new(&Limits::default()).unwrap();
    println!("theater-runtime benchmark: ping-pong rally of {balls} hits (26-byte JSON balls), median of {RUNS}, modes interleaved");
    let policy = SnapshotPolicy {
        every_deliveries: std::env::var("THEATER_BENCH_SNAPSHOT_EVERY")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(SnapshotPolicy::EVERY_DELIVERIES_DEFAULT),
        ..SnapshotPolicy::default()
    };
    let mut running: [Vec<Duration>; 5] = Default::default();
    let mut total: [Vec<Duration>; 5] = Default::default();
    let mut waits = [0; 5];
    let mut deliveries = 0;
    let mut size = (0, 0);
    let mut snapshots = (0, 0);
    let mut snapshot_share = Vec::new();
    for run in 0..RUNS {
        for (i, mode) in MODES.into_iter().enumerate() {
            let v2 = run == 0 && mode == Mode::Background;
            let r = rally(mode, balls, &mut cache, v2, policy);
            running[i].push(r.running);
            total[i].push(r.total);
            waits[i] += r.waits;
            deliveries = r.deliveries;
            if v2 {
                size = r.size;
            }
            if mode == Mode::BackgroundSnapshots {
                snapshots = (r.snapshots.0, r.size.0);
                snapshot_share.push(r.snapshots.1.as_secs_f64() / r.running.as_secs_f64());
            }
        }
    }
    let per = |t: Duration| t.as_secs_f64() * 1e6 / deliveries as f64;
    let rate = |t: Duration| deliveries as f64 / t.as_secs_f64();
    let cost = |on: Duration, off: Duration| (on.as_secs_f64() / off.as_secs_f64() - 1.0) * 100.0;
    let off = median(running[0].clone());
    let off_min = fastest(&running[0]);
    println!(
        "recording off: {:>9.0} deliveries/s ({:.2} us each)",
        rate(off),
        per(off)
    );
    for (i, mode) in MODES.into_iter().enumerate().skip(1) {
        let (r, t) = (median(running[i].clone()), median(total[i].clone()));
        let end = median(
            running[i]
                .iter()
                .zip(&total[i])
                .map(|(r, t)| *t - *r)
                .collect(),
        );
        println!("recording, {}:", mode.name());
        if mode != Mode::Inline {
            println!(
                "  hand-overs that waited for the recorder thread (channel full): {} in {RUNS} runs",
                waits[i]
            );
        }
        println!(
            "  while running: {:>9.0} deliveries/s ({:.2} us each), cost {:+.1}% (fastest runs {:+.1}%), on/off ratio {:.3}",
            rate(r),
            per(r),
            cost(r, off),
            cost(fastest(&running[i]), off_min),
            rate(r) / rate(off)
        );
        println!(
            "  whole rally, until the trace is finished: cost {:+.1}% (the end, writing the last batches, index and footer{}: {:.2} ms)",
            cost(t, off),
            if mode == Mode::BackgroundFsync {
                " and syncing"
            } else {
                ""
            },
            end.as_secs_f64() * 1e3
        );
    }

    let (with, without) = (median(running[2].clone()), median(running[1].clone()));
    snapshot_share.sort_by(f64::total_cmp);
    println!(
        "snapshots (every {} deliveries or {} ms, budget {} per mille): {} per rally; the scheduler's time in them / its running time: median {:.4}% (range {:.4}% to {:.4}%); recording with them / without, while running: {:.4} ({:+.2}%, the noise of separate runs); trace {} bytes with them",
        policy.every_deliveries,
        policy.every_ms,
        policy.budget_per_mille,
        snapshots.0,
        snapshot_share[snapshot_share.len() / 2] * 100.0,
        snapshot_share[0] * 100.0,
        snapshot_share[snapshot_share.len() - 1] * 100.0,
        with.as_secs_f64() / without.as_secs_f64(),
        cost(with, without),
        snapshots.1
    );
    println!(
        "trace size: {} bytes, {:.1} bytes per delivery; the same events in format version 2: {} bytes, {:.1} per delivery; version 2 / version 3 = {:.1}x",
        size.0,
        size.0 as f64 / deliveries as f64,
        size.1,
        size.1 as f64 / deliveries as f64,
        size.1 as f64 / size.0.max(1) as f64
    );

    let ping = component("ping-pong");
    // The same message the rally delivers, at its end (no further send): the guest does
    // the same JSON decode/encode of state and message.
    let ball = format!("{{\"ball\": {balls}, \"max\": {balls}}}").into_bytes();
    let n = 100_000;
    let raw = median(
        (0..RUNS)
            .map(|_| {
                let start = Instant::now();
                let ok =
                    theater_runtime::bench_support::raw_calls(&ping, b"{\"peer\": 1}", &ball, n)
                        .unwrap();
                assert_eq!(ok, n);
                start.elapsed()
            })
            .collect(),
    );
    let raw_rate = n as f64 / raw.as_secs_f64();
    println!("raw call rate (same component, handle-message in a loop): {raw_rate:.0} calls/s ({:.2} us each)", raw.as_secs_f64() * 1e6 / n as f64);
    println!(
        "recorded throughput (while running) / raw call rate: {:.3} on the recorder thread, {:.3} inline",
        rate(median(running[2].clone())) / raw_rate,
        rate(median(running[4].clone())) / raw_rate
    );

    // Spawn latency: a supervisor spawning 200 workers (instantiate + init delivery each).
    let spec = SystemSpec {
        mode: RunMode::Simulated,
        seed: 1,
        schedule: Default::default(),
        limits: Limits::default(),
        components: vec![ComponentSpec {
            name: "chaos".into(),
            bytes: component("chaos"),
        }],
        actors: vec![ActorSpec {
            name: "sup".into(),
            component: "chaos".into(),
            init_args: Bytes(b"{}".to_vec()),
            restart: RestartPolicy::Permanent,
            fuel_per_delivery: None,
            grants: None,
        }],
    };
    let spawns = 200;
    let cmd = format!(
        "[{}]",
        vec![r#"{"spawn": {"restart": 0, "init": {}}}"#; spawns].join(",")
    );
    let t = median(
        (0..RUNS)
            .map(|_| {
                let mut system = System::with_cache(&spec, Sink::Off, &mut cache).unwrap();
                system.run_until_idle(10).unwrap();
                let start = Instant::now();
                system.inject(0, cmd.clone().into_bytes()).unwrap();
                system.run_until_idle(u64::MAX).unwrap();
                start.elapsed()
            })
            .collect(),
    );
    println!(
        "spawn (instantiate + init delivery), warm: {:.1} us per actor ({spawns} spawns)",
        t.as_secs_f64() * 1e6 / spawns as f64
    );
}
