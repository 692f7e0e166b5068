//! Resume after a crash, as a user runs it: a simulated run with file inputs, recorded
//! to a directory of segments, is killed with SIGKILL (a real process) at seeded moments
//! and resumed with `theater run --resume` until its inputs are done. It must end with
//! the same actor states, store contents and run summary as the same run uninterrupted,
//! and the trace it leaves (every segment, cut ones included) must verify and replay,
//! on one thread and on two.
//!
//! `THEATER_SEED=n` runs one seed; a failure prints its seed.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use theater_runtime::replay::{ReplayDriver, ReplayOptions, Step};
use theater_runtime::ComponentCache;
use theater_testkit::repo;
use theater_trace::synth::{for_seeds, Rng};
use theater_trace::Trace;

/// Kills (and resumes) at most this many times per seed.
const KILLS_MAX: usize = 4;

fn commands(rng: &mut Rng, actors: u64, depth: u32) -> Value {
    let cmds: Vec<Value> = (0..1 + rng.below(3))
        .map(|_| {
            let nested = |rng: &mut Rng| {
                if depth == 0 {
                    json!([])
                } else {
                    commands(rng, actors, depth - 1)
                }
            };
            match rng.below(10) {
                0 | 1 => json!({"send": {"to": rng.below(actors), "cmds": nested(rng)}}),
                2 => json!({"timer": {"delay_ns": rng.below(5_000_000), "cmds": nested(rng)}}),
                3 => json!({"put": {"key": format!("k{}", rng.below(6)), "value": format!("v{}", rng.below(1000))}}),
                4 => json!({"get": {"key": format!("k{}", rng.below(6))}}),
                5 => json!({"random": {"len": rng.below(32)}}),
                // Rare: three restarts in five virtual seconds make a top-level actor exit.
                6 if rng.below(300) == 0 => json!({"fail": {"message": "on purpose"}}),
                7 => json!({"log": {"message": "hello"}}),
                _ => json!({"add": {"n": rng.below(10)}}),
            }
        })
        .collect();
    Value::Array(cmds)
}

/// A manifest and an inputs file for `seed` in `dir`.
fn case(seed: u64, dir: &Path) -> (PathBuf, PathBuf) {
    let mut rng = Rng::new(seed);
    let actors = 1 + rng.below(4);
    let mut manifest = format!(
        "mode = \"simulated\"\nseed = {seed}\n\n[[component]]\nname = \"chaos\"\npath = \"{}\"\n",
        repo().join("fixtures/components/chaos.wasm").display()
    );
    for a in 0..actors {
        manifest.push_str(&format!(
            "\n[[actor]]\nname = \"a{a}\"\ncomponent = \"chaos\"\nrestart = \"permanent\"\ninit = {{}}\n"
        ));
    }
    let inputs: String = (0..600 + rng.below(900))
        .map(|_| {
            let line = json!({"to": format!("a{}", rng.below(actors)), "message": commands(&mut rng, actors, 2)});
            format!("{line}\n")
        })
        .collect();
    let (m, i) = (dir.join("run.toml"), dir.join("inputs.jsonl"));
    std::fs::write(&m, manifest).unwrap();
    std::fs::write(&i, inputs).unwrap();
    (m, i)
}

fn theater(args: &[&str], record: &Path, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_theater"))
        .args(args)
        .arg("--record")
        .arg(record)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The summary lines a run prints that must agree (not its trace, nor the inputs this
/// process refused).
fn summary(out: &Output) -> Vec<String> {
    text(&out.stdout)
        .lines()
        .filter(|l| {
            !l.starts_with("trace:") && !l.starts_with("run ended") && !l.starts_with("progress")
        })
        .map(|l| l.split("  refused inputs").next().unwrap_or(l).to_string())
        .collect()
}

/// The world at the end of the trace in `dir`: actor states and store contents.
fn final_world(dir: &Path, cache: &mut ComponentCache) -> String {
    let trace = Trace::open(dir).unwrap();
    trace.verify().unwrap();
    let mut driver = ReplayDriver::new(trace, &ReplayOptions::default(), cache).unwrap();
    while !matches!(driver.step().unwrap(), Step::Ended | Step::Cut) {}
    assert!(driver.finished());
    let checkpoint = driver.checkpoint();
    let mut world = String::new();
    for (id, status, state) in checkpoint.system().states() {
        world.push_str(&format!("actor {id} {status}: {}\n", text(state)));
    }
    for (id, key, value) in driver.system().store_entries() {
        world.push_str(&format!("store {id} {key} = {}\n", text(value)));
    }
    world
}

#[test]
fn runs_killed_and_resumed_end_as_the_uninterrupted_run() {
    let mut cache = ComponentCache::new(&Default::default()).unwrap();
    let (kills, seeds) = (std::cell::Cell::new(0), std::cell::Cell::new(0));
    let cache = std::cell::RefCell::new(&mut cache);
    for_seeds(50, |seed| {
        let dir = theater_testkit::scratch(&format!("resume-{seed}"));
        let (manifest, inputs) = case(seed, &dir);
        let run = [
            "run",
            manifest.to_str().unwrap(),
            "--inputs",
            inputs.to_str().unwrap(),
        ];
        let mut rng = Rng::new(seed ^ 0x7e5);
        let options = [
            "--snapshot-every".to_string(),
            (50 + rng.below(400)).to_string(),
            "--progress".to_string(),
            "--segment-bytes".to_string(),
            (2_000 + rng.below(30_000)).to_string(),
        ];
        let options: Vec<&str> = options.iter().map(String::as_str).collect();

        let reference = dir.join("reference");
        let started = Instant::now();
        let whole = theater(&run, &reference, &options)
            .wait_with_output()
            .unwrap();
        // Kills land anywhere in a run as long as the uninterrupted one.
        let took = started.elapsed().as_millis() as u64;
        if std::env::var_os("THEATER_SEED").is_some() {
            eprintln!("uninterrupted, {took} ms: {:?}", summary(&whole));
        }
        assert!(
            whole.status.success(),
            "seed {seed}: {}",
            text(&whole.stderr)
        );

        let resumed = dir.join("resumed");
        let mut last = None;
        for attempt in 0..=KILLS_MAX {
            let has_trace =
                Trace::open(&resumed).is_ok_and(|t| t.header().is_some() && t.event_count() > 3);
            let mut extra = options.clone();
            if has_trace {
                extra.push("--resume");
            } else {
                // Killed before anything but its first events reached the file: start
                // the run over.
                let _ = std::fs::remove_dir_all(&resumed);
            }
            let mut child = theater(&run, &resumed, &extra);
            // The kill clock starts once the run is under way: it has made its first
            // 1024 deliveries (after the rebuild, for a resumed run).
            let ready = Arc::new(AtomicBool::new(false));
            let stderr = {
                let (ready, pipe) = (ready.clone(), child.stderr.take().unwrap());
                std::thread::spawn(move || {
                    let mut all = String::new();
                    for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                        if std::env::var_os("THEATER_SEED").is_some() {
                            eprintln!("{line}");
                        }
                        if line.starts_with("progress:") {
                            ready.store(true, Ordering::Relaxed);
                        }
                        all.push_str(&line);
                        all.push('\n');
                    }
                    all
                })
            };
            if attempt < KILLS_MAX {
                while child.try_wait().unwrap().is_none() && !ready.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(1));
                }
                let deadline = Instant::now() + Duration::from_millis(rng.below(took.max(3) / 3));
                while Instant::now() < deadline && child.try_wait().unwrap().is_none() {
                    std::thread::sleep(Duration::from_millis(2));
                }
                if child.try_wait().unwrap().is_none() {
                    child.kill().unwrap();
                    child.wait().unwrap();
                    let _ = stderr.join();
                    kills.set(kills.get() + 1);
                    continue;
                }
            }
            let mut out = child.wait_with_output().unwrap();
            out.stderr = stderr.join().unwrap().into_bytes();
            assert!(
                out.status.success(),
                "seed {seed}, attempt {attempt}: {}",
                text(&out.stderr)
            );
            last = Some(out);
            break;
        }
        let last = last.expect("the last attempt is never killed");
        assert_eq!(
            summary(&last),
            summary(&whole),
            "seed {seed}: run summaries differ"
        );
        let mut cache = cache.borrow_mut();
        assert_eq!(
            final_world(&resumed, &mut cache),
            final_world(&reference, &mut cache),
            "seed {seed}: actor states or store contents differ"
        );
        // The resumed trace verifies on two threads too.
        let done = std::sync::atomic::AtomicU64::new(0);
        let parallel = theater_runtime::replay_parallel(
            &|| Ok(Trace::open(&resumed)?),
            &Default::default(),
            2,
            &mut cache,
            &done,
        )
        .unwrap_or_else(|e| panic!("seed {seed}: parallel replay: {e}"));
        assert!(parallel.finished, "seed {seed}");
        let _ = std::fs::remove_dir_all(&dir);
        seeds.set(seeds.get() + 1);
    });
    eprintln!("{} seeds, {} kills resumed", seeds.get(), kills.get());
    if seeds.get() >= 50 {
        assert!(
            kills.get() >= 50,
            "only {} kills: the runs end too soon",
            kills.get()
        );
    }
}
