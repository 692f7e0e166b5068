//! HTTP benchmark: the kv example served by a real `theater run --http` process, driven
//! by a load generator on loopback, with recording off and on, side by side in one run.
//!
//! The load generator keeps `CONNECTIONS` keep-alive HTTP/1.1 connections busy, each
//! sending its next request as soon as the previous response arrived (a closed loop),
//! half `PUT /kv/KEY` and half `GET /kv/KEY`, until `REQUESTS` requests were answered or
//! `TIME_LIMIT` passed. It reports requests per second and latency percentiles. Modes
//! alternate (off, on, off, on, …) so that drift on a shared machine hits both alike;
//! the best run of each mode is compared.
//!
//! Run: `cargo bench -p theater --bench http`. `docs/benchmarks.md` holds the latest.

use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CONNECTIONS: usize = 16;
const REQUESTS: usize = 40_000;
const TIME_LIMIT: Duration = Duration::from_secs(60);
const ROUNDS: usize = 3;

use theater_testkit::http::{serve as serve_http, Client};
use theater_testkit::repo;

/// Starts the kv service; returns the process and its address.
fn serve(record: Option<&Path>, durable: bool) -> (Child, SocketAddr) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_theater"));
    cmd.current_dir(repo())
        .args(["run", "fixtures/manifests/kv.toml", "--http", "127.0.0.1:0"]);
    if let Some(path) = record {
        cmd.args(["--record", path.to_str().unwrap(), "--force"]);
    }
    if durable {
        // Durable replies: each reply waits for its events to be synced.
        cmd.arg("--fsync");
    }
    let served = serve_http(cmd.stdout(Stdio::piped()), theater::ingress::served_address);
    (served.child, served.addr)
}

/// Stops the service with SIGTERM; returns its summary (standard output).
fn stop(mut child: Child) -> String {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(child.wait().unwrap().success(), "{out}");
    out
}

struct Load {
    requests: usize,
    elapsed: Duration,
    /// Sorted latencies.
    latencies: Vec<Duration>,
    errors: usize,
}

impl Load {
    fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> Duration {
        let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[i]
    }
}

fn load(addr: SocketAddr) -> Load {
    let per = REQUESTS / CONNECTIONS;
    let start = Instant::now();
    let deadline = start + TIME_LIMIT;
    let threads: Vec<_> = (0..CONNECTIONS)
        .map(|c| {
            std::thread::spawn(move || {
                let mut client = Client::connect(addr).unwrap();
                let mut latencies = Vec::with_capacity(per);
                let mut errors = 0;
                for i in 0..per {
                    if Instant::now() >= deadline {
                        break;
                    }
                    let key = format!("/kv/c{c}-k{}", i / 2 % 64);
                    let t = Instant::now();
                    let (status, _) = if i % 2 == 0 {
                        client.call("PUT", &key, format!("value {i} of client {c}").as_bytes())
                    } else {
                        client.call("GET", &key, b"")
                    }
                    .unwrap();
                    latencies.push(t.elapsed());
                    if !(200..300).contains(&status) {
                        errors += 1;
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut errors = 0;
    for t in threads {
        let (l, e) = t.join().unwrap();
        latencies.extend(l);
        errors += e;
    }
    let elapsed = start.elapsed();
    latencies.sort();
    Load {
        requests: latencies.len(),
        elapsed,
        latencies,
        errors,
    }
}

/// The trace's bytes per request, and the same events' in format version 2.
fn print_trace_size(path: &Path, requests: u64) {
    let trace = theater_trace::Trace::open(path).unwrap();
    let v3 = trace.file_len();
    let v2 = theater_trace::legacy::write_v2(&trace).unwrap().len() as u64;
    let per = |b: u64| b as f64 / requests.max(1) as f64;
    println!(
        "           trace {v3} bytes, {:.0} per request; the same events in format version 2: {v2} bytes, {:.0} per request ({:.1}x)",
        per(v3),
        per(v2),
        v2 as f64 / v3.max(1) as f64
    );
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let dir = std::env::temp_dir().join(format!("theater-http-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let trace = dir.join("kv.bin");
    println!(
        "kv service, {CONNECTIONS} keep-alive connections, {REQUESTS} requests per run \
         (half PUT, half GET; at most {}s), {ROUNDS} runs per mode, alternating",
        TIME_LIMIT.as_secs()
    );
    println!(
        "{:<10} {:>9} {:>10} {:>9} {:>9} {:>9} {:>9} {:>7}",
        "recording", "requests", "req/s", "p50", "p90", "p99", "max", "errors"
    );
    let mut best: [Option<Load>; 3] = [None, None, None];
    let modes = [
        ("off", None, false),
        ("on", Some(trace.as_path()), false),
        ("durable", Some(trace.as_path()), true),
    ];
    for _ in 0..ROUNDS {
        for (i, (name, record, durable)) in modes.into_iter().enumerate() {
            let (child, addr) = serve(record, durable);
            let l = load(addr);
            let summary = stop(child);
            println!(
                "{:<10} {:>9} {:>10.0} {:>9} {:>9} {:>9} {:>9} {:>7}",
                name,
                l.requests,
                l.rate(),
                ms(l.percentile(0.5)),
                ms(l.percentile(0.9)),
                ms(l.percentile(0.99)),
                ms(*l.latencies.last().unwrap()),
                l.errors
            );
            if let (Some(path), false) = (record, durable) {
                if let Some(line) = summary.lines().find(|l| l.starts_with("trace:")) {
                    println!("           {line}");
                }
                print_trace_size(path, l.requests as u64);
            }
            if best[i].as_ref().is_none_or(|b| l.rate() > b.rate()) {
                best[i] = Some(l);
            }
        }
    }
    let [Some(off), Some(on), Some(durable)] = best else {
        unreachable!()
    };
    println!(
        "best runs: off {:.0} req/s, on {:.0} req/s; recorded/unrecorded throughput {:.3}; \
         p50 {} vs {}, p99 {} vs {}",
        off.rate(),
        on.rate(),
        on.rate() / off.rate(),
        ms(off.percentile(0.5)),
        ms(on.percentile(0.5)),
        ms(off.percentile(0.99)),
        ms(on.percentile(0.99)),
    );
    println!(
        "durable replies (--fsync, each reply after its events are synced): {:.0} req/s; \
         durable/recorded throughput {:.3}; p50 {}, p99 {}",
        durable.rate(),
        durable.rate() / on.rate(),
        ms(durable.percentile(0.5)),
        ms(durable.percentile(0.99)),
    );
    let _ = std::fs::remove_dir_all(&dir);
}
