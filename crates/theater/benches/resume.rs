//! Resume benchmark: how long a crashed run of 10M deliveries takes to serve again.
//!
//! One real `theater run --http --record DIR/` process records a ping-pong rally of
//! `THEATER_BENCH_DELIVERIES` deliveries (10,000,000 by default) beside the kv service,
//! with the default snapshots and segments, and serves once the rally is over; it is
//! killed with SIGKILL. Then, `ROUNDS` times: `theater run … --resume` is started, the
//! time until it answers an HTTP request is measured (process start, opening the
//! directory, restoring the last snapshot, re-executing the events after it, serving),
//! and it is SIGKILLed again, so each round resumes a cut run. Side by side, in the same
//! invocation: a fresh start of the same manifest without a trace (the floor: the
//! process and the components' compilation), and recording the run.
//!
//! Run: `cargo bench -p theater --bench resume`. `docs/benchmarks.md` holds the latest.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use theater_testkit::http::{serve, Client, Served};
use theater_testkit::repo;

/// Resumes measured (and fresh starts).
const ROUNDS: usize = 5;

/// The manifest: the ping-pong pair and the kv service, with an HTTP route to it.
fn manifest(dir: &Path) -> std::path::PathBuf {
    let components = repo().join("fixtures/components");
    let text = format!(
        r#"mode = "simulated"
seed = 3

[[component]]
name = "ping-pong"
path = "{pp}"

[[component]]
name = "kv"
path = "{kv}"

[[actor]]
name = "ping"
component = "ping-pong"
init = {{ peer = 1 }}

[[actor]]
name = "pong"
component = "ping-pong"
init = {{ peer = 0 }}

[[actor]]
name = "api"
component = "kv"
init = "api"
restart = "permanent"
grants = ["runtime", "messaging", "supervision", "store", "http-client"]

[[http.route]]
prefix = "/kv"
actor = "api"
"#,
        pp = components.join("ping-pong.wasm").display(),
        kv = components.join("kv.wasm").display(),
    );
    let path = dir.join("bench.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Starts `theater run MANIFEST --http` with `args`; returns it once it has answered a
/// request, and how long that took from the spawn.
fn start(manifest: &Path, args: &[&str]) -> (Served, Duration) {
    let t = Instant::now();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_theater"));
    cmd.arg("run")
        .arg(manifest)
        .args(["--http", "127.0.0.1:0", "--max-deliveries", "1000000000"])
        .args(args)
        .stdout(Stdio::null());
    let served = serve(&mut cmd, theater::ingress::served_address);
    let (status, _) = Client::connect(served.addr)
        .unwrap()
        .call("GET", "/kv/probe", b"")
        .unwrap();
    assert!(status == 404 || status == 200, "GET /kv/probe: {status}");
    (served, t.elapsed())
}

fn kill(mut served: Served) {
    served.child.kill().unwrap();
    served.child.wait().unwrap();
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Median, lowest and highest.
fn spread(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

fn main() {
    let deliveries: u64 = std::env::var("THEATER_BENCH_DELIVERIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let dir = theater_testkit::scratch("resume-bench");
    let manifest = manifest(&dir);
    let inputs = dir.join("inputs.jsonl");
    std::fs::write(
        &inputs,
        format!(
            "{{\"to\": \"ping\", \"message\": {{\"ball\": 0, \"max\": {}}}}}\n",
            deliveries.saturating_sub(3)
        ),
    )
    .unwrap();
    let trace = dir.join("trace");
    let (inputs, record) = (inputs.to_str().unwrap(), format!("{}/", trace.display()));

    let (served, recording) = start(&manifest, &["--inputs", inputs, "--record", &record]);
    kill(served);
    let t = theater_trace::Trace::open(&trace).unwrap();
    println!(
        "recorded: {deliveries} deliveries in {:.1} s, {} events, {} bytes in {} segments, {} snapshots; then SIGKILLed",
        recording.as_secs_f64(),
        t.event_count(),
        t.file_len(),
        t.segments().len(),
        t.snapshots().unwrap().len()
    );
    drop(t);

    let (mut resumes, mut fresh, mut inside) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let (served, took) = start(
            &manifest,
            &[
                "--inputs",
                inputs,
                "--record",
                trace.to_str().unwrap(),
                "--resume",
            ],
        );
        let said = served
            .before
            .iter()
            .find(|l| l.starts_with("theater: resumed:"))
            .cloned()
            .unwrap_or_else(|| panic!("no resume line in {:?}", served.before));
        kill(served);
        // "… re-executing N events, in M ms; …"
        let rebuild: f64 = said
            .split(" events, in ")
            .nth(1)
            .and_then(|r| r.split(" ms").next())
            .and_then(|m| m.parse().ok())
            .unwrap_or(f64::NAN);
        println!(
            "resume {round}: serving again after {:.0} ms ({said})",
            ms(took)
        );
        resumes.push(ms(took));
        inside.push(rebuild);
        let (served, took) = start(&manifest, &[]);
        kill(served);
        fresh.push(ms(took));
    }
    let (r, r_lo, r_hi) = spread(resumes);
    let (f, f_lo, f_hi) = spread(fresh);
    let (i, i_lo, i_hi) = spread(inside);
    println!(
        "resume of a {deliveries}-delivery run, to serving again: median {r:.0} ms ({r_lo:.0}–{r_hi:.0}) over {ROUNDS}; of it the rebuild (open, restore, re-execute) {i:.0} ms ({i_lo:.0}–{i_hi:.0})"
    );
    println!(
        "a fresh start of the same manifest, no trace, to serving: median {f:.0} ms ({f_lo:.0}–{f_hi:.0}); resume / fresh start: {:.2}; recording the run / resume: {:.0}x",
        r / f,
        recording.as_secs_f64() * 1e3 / r
    );
    let _ = std::fs::remove_dir_all(&dir);
}
