//! Runtime benchmark: ping-pong deliveries per second with recording off, to memory and
//! to a file, side by side; the raw call rate of the same component called in a loop
//! (the ceiling); and spawn latency.
//!
//! Run: `cargo bench -p theater-runtime --bench runtime`. Figures are medians of 9 runs;
//! the cost of recording is also given from the fastest run of each mode, which is less
//! disturbed by other load on a shared machine;
//! `docs/benchmarks.md` holds the latest.

use std::time::{Duration, Instant};

use theater_runtime::{
    run_header, ActorSpec, ComponentCache, ComponentSpec, Limits, Recorder, Sink, System,
    SystemSpec,
};
use theater_trace::{Bytes, RestartPolicy, RunMode, TraceWriter, WriterOptions};

const RUNS: usize = 9;
const BALLS: u64 = 20_000;

fn component(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../../fixtures/components/{name}.wasm",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn ping_pong_spec() -> SystemSpec {
    let actor = |name: &str, peer: u64| ActorSpec {
        name: name.into(),
        component: "ping-pong".into(),
        init_args: Bytes(format!("{{\"peer\": {peer}}}").into_bytes()),
        restart: RestartPolicy::Permanent,
        fuel_per_delivery: None,
        grants: None,
    };
    SystemSpec {
        mode: RunMode::Simulated,
        seed: 1,
        limits: Limits::default(),
        components: vec![ComponentSpec {
            name: "ping-pong".into(),
            bytes: component("ping-pong"),
        }],
        actors: vec![actor("ping", 1), actor("pong", 0)],
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Off,
    Memory,
    File,
    Background,
}

/// Deliveries per second of one ping-pong rally of `BALLS` hits.
fn rally(mode: Mode, cache: &mut ComponentCache) -> (Duration, u64) {
    let spec = ping_pong_spec();
    let path = std::env::temp_dir().join(format!("theater-bench-{}.trace", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let sink = match mode {
        Mode::Off => Sink::Off,
        Mode::Memory => Sink::Memory(Box::new(
            TraceWriter::new(
                Vec::new(),
                run_header(&spec),
                &spec.manifest_bytes(),
                WriterOptions::default(),
            )
            .unwrap(),
        )),
        Mode::File => Sink::File(Box::new(
            TraceWriter::create(
                &path,
                run_header(&spec),
                &spec.manifest_bytes(),
                WriterOptions::default(),
            )
            .unwrap(),
        )),
        Mode::Background => {
            let writer = TraceWriter::create(
                &path,
                run_header(&spec),
                &spec.manifest_bytes(),
                WriterOptions::default(),
            )
            .unwrap();
            Sink::Background(Box::new(Recorder::spawn(writer, 100).unwrap()))
        }
    };
    let mut system = System::with_cache(&spec, sink, cache).unwrap();
    system.run_until_idle(10).unwrap();
    let ball = format!("{{\"ball\": 0, \"max\": {BALLS}}}").into_bytes();
    let start = Instant::now();
    system.inject(0, ball).unwrap();
    let n = system.run_until_idle(u64::MAX).unwrap();
    let (_, sink) = system.finish("done").unwrap();
    match sink {
        Sink::Memory(w) => drop(w.finish().unwrap()),
        Sink::File(w) => drop(w.finish().unwrap()),
        Sink::Background(r) => drop(r.finish().unwrap()),
        _ => {}
    }
    let t = start.elapsed();
    let _ = std::fs::remove_file(&path);
    (t, n)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let mut cache = ComponentCache::new(&Limits::default()).unwrap();
    println!("theater-runtime benchmark: ping-pong rally of {BALLS} hits (16-byte JSON balls), median of {RUNS}, runs interleaved");
    let mut times = [Vec::new(), Vec::new(), Vec::new(), Vec::new()];
    let mut deliveries = 0;
    for _ in 0..RUNS {
        for (i, mode) in [Mode::Off, Mode::Memory, Mode::File, Mode::Background]
            .into_iter()
            .enumerate()
        {
            let (t, n) = rally(mode, &mut cache);
            times[i].push(t);
            deliveries = n;
        }
    }
    let fastest = |v: &Vec<Duration>| v.iter().copied().min().unwrap_or_default();
    let (off_min, background_min) = (fastest(&times[0]), fastest(&times[3]));
    let [off, mem, file, background] = times.map(median);
    let rate = |t: Duration| deliveries as f64 / t.as_secs_f64();
    println!(
        "recording off:       {:>9.0} deliveries/s ({:.2} us each)",
        rate(off),
        off.as_secs_f64() * 1e6 / deliveries as f64
    );
    println!(
        "recording to memory: {:>9.0} deliveries/s ({:.2} us each)",
        rate(mem),
        mem.as_secs_f64() * 1e6 / deliveries as f64
    );
    println!(
        "recording to file:   {:>9.0} deliveries/s ({:.2} us each)",
        rate(file),
        file.as_secs_f64() * 1e6 / deliveries as f64
    );
    println!(
        "recording to file on the recorder thread: {:>9.0} deliveries/s ({:.2} us each)",
        rate(background),
        background.as_secs_f64() * 1e6 / deliveries as f64
    );
    println!(
        "cost of recording to file inline: {:+.1}% time per delivery (on/off ratio {:.3})",
        (file.as_secs_f64() / off.as_secs_f64() - 1.0) * 100.0,
        rate(file) / rate(off)
    );
    println!(
        "cost of recording on the recorder thread (`theater run --record`): {:+.1}% time per delivery (on/off ratio {:.3})",
        (background.as_secs_f64() / off.as_secs_f64() - 1.0) * 100.0,
        rate(background) / rate(off)
    );
    println!(
        "cost of recording on the recorder thread, fastest runs: {:+.1}% ({:.2} vs {:.2} us per delivery)",
        (background_min.as_secs_f64() / off_min.as_secs_f64() - 1.0) * 100.0,
        background_min.as_secs_f64() * 1e6 / deliveries as f64,
        off_min.as_secs_f64() * 1e6 / deliveries as f64
    );

    let ping = component("ping-pong");
    // The same message the rally delivers, at its end (no further send): the guest does
    // the same JSON decode/encode of state and message.
    let ball = format!("{{\"ball\": {BALLS}, \"max\": {BALLS}}}").into_bytes();
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
        "recorded throughput / raw call rate: {:.3} inline, {:.3} on the recorder thread",
        rate(file) / raw_rate,
        rate(background) / raw_rate
    );

    // Spawn latency: a supervisor spawning 200 workers (instantiate + init delivery each).
    let spec = SystemSpec {
        mode: RunMode::Simulated,
        seed: 1,
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
