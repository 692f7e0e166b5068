//! Durable replies: `theater run --http --record DIR/ --fsync` under writes from
//! concurrent clients, killed with SIGKILL at seeded moments and resumed (`--resume`)
//! each time, 20 times over one recording. After each resume every write a client saw
//! answered 2xx in the killed process is read back over HTTP from the resumed one, and
//! at the end every write of every round is, and the whole directory of segments
//! replays. Without `--fsync` replies leave before their events are written, and the
//! same kills lose some (counted and printed, not asserted: the docs quote the figure).
//!
//! `THEATER_SEED=n` picks another schedule of kill times; the seed is printed on failure.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use theater_runtime::replay::{ReplayDriver, ReplayOptions, Step};
use theater_runtime::ComponentCache;
use theater_testkit::http::{serve as spawn_served, Client, Served};
use theater_testkit::repo;
use theater_trace::synth::Rng;
use theater_trace::Trace;

/// Kills (and resumes) per mode.
const KILLS: usize = 20;
/// Client connections writing at once.
const CLIENTS: usize = 4;

/// `theater run --http` of the kv example recording into the directory `dir`: a new
/// recording, or (`resume`) the one `dir` holds continued.
fn serve(dir: &Path, fsync: bool, resume: bool) -> Served {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_theater"));
    cmd.current_dir(repo()).args([
        "run",
        "fixtures/manifests/kv.toml",
        "--http",
        "127.0.0.1:0",
        "--record",
    ]);
    if resume {
        cmd.arg(dir).arg("--resume");
    } else {
        cmd.arg(format!("{}/", dir.display()));
    }
    if fsync {
        cmd.arg("--fsync");
    }
    spawn_served(cmd.stdout(Stdio::null()), theater::ingress::served_address)
}

/// Writes distinct keys from `CLIENTS` connections until `stop`; returns every
/// (key, value) whose PUT was answered 2xx.
fn write_until(addr: SocketAddr, stop: Arc<AtomicBool>, kill: usize) -> Vec<(String, String)> {
    let acked = Arc::new(Mutex::new(Vec::new()));
    let threads: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (stop, acked) = (stop.clone(), acked.clone());
            std::thread::spawn(move || {
                let Ok(mut client) = Client::connect(addr) else {
                    return;
                };
                for i in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let key = format!("k{kill}-{c}-{i}");
                    let value = format!("value {i} of client {c}");
                    match client.call("PUT", &format!("/kv/{key}"), value.as_bytes()) {
                        Ok((status, _)) if (200..300).contains(&status) => {
                            acked.lock().unwrap().push((key, value));
                        }
                        Ok((status, body)) => {
                            panic!("PUT {key}: {status} {}", String::from_utf8_lossy(&body))
                        }
                        // The server was killed.
                        Err(_) => return,
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    Arc::try_unwrap(acked).unwrap().into_inner().unwrap()
}

/// How many of `acked` the server at `addr` does not answer with their values, read
/// over `CLIENTS` connections.
fn missing(addr: SocketAddr, acked: &[(String, String)]) -> usize {
    let chunk = acked.len().div_ceil(CLIENTS).max(1);
    std::thread::scope(|s| {
        let threads: Vec<_> = acked
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    let mut client = Client::connect(addr).unwrap();
                    part.iter()
                        .filter(|(k, v)| {
                            let (status, body) =
                                client.call("GET", &format!("/kv/{k}"), b"").unwrap();
                            !(status == 200 && body == v.as_bytes())
                        })
                        .count()
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).sum()
    })
}

/// Replays the whole directory of segments (every process's, each resume included).
fn replays(dir: &Path) -> u64 {
    let trace = Trace::open(dir).unwrap();
    let mut cache = ComponentCache::new(&Default::default()).unwrap();
    let mut driver = ReplayDriver::new(trace, &ReplayOptions::default(), &mut cache).unwrap();
    loop {
        match driver.step() {
            Ok(Step::Ended) => return driver.events(),
            Ok(Step::Cut) => panic!("the last process was stopped cleanly: nothing is cut"),
            Ok(_) => {}
            Err(e) => panic!("replaying {}: {e}", dir.display()),
        }
    }
}

/// Kills and resumes `KILLS` times; returns the writes acknowledged and lost.
fn kills(fsync: bool, seed: u64, dir: &Path) -> (usize, usize) {
    let mut rng = Rng::new(seed);
    let _ = std::fs::remove_dir_all(dir);
    let mut all: Vec<(String, String)> = Vec::new();
    let mut lost_total = 0;
    let mut served = serve(dir, fsync, false);
    for kill in 0..KILLS {
        let stop = Arc::new(AtomicBool::new(false));
        let writers = {
            let (stop, addr) = (stop.clone(), served.addr);
            std::thread::spawn(move || write_until(addr, stop, kill))
        };
        std::thread::sleep(Duration::from_millis(50 + rng.below(400)));
        served.child.kill().unwrap();
        served.child.wait().unwrap();
        stop.store(true, Ordering::Relaxed);
        let acked = writers.join().unwrap();
        served = serve(dir, fsync, true);
        assert!(
            served
                .before
                .iter()
                .any(|l| l.contains("theater: resumed: the previous process was cut")),
            "kill {kill}: the resumed process said {:?}",
            served.before
        );
        let lost = missing(served.addr, &acked);
        if fsync {
            assert_eq!(
                lost,
                0,
                "kill {kill}: {lost} of {} acknowledged writes lost",
                acked.len()
            );
        }
        lost_total += lost;
        all.extend(acked);
    }
    if fsync {
        assert_eq!(
            missing(served.addr, &all),
            0,
            "a write of an earlier round was lost"
        );
    }
    let killed = Command::new("kill")
        .args(["-TERM", &served.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert!(served.child.wait().unwrap().success());
    let events = replays(dir);
    eprintln!("fsync {fsync}: the resumed recording replays whole: {events} events");
    (all.len(), lost_total)
}

#[test]
fn with_fsync_no_acknowledged_write_is_lost_to_sigkill_and_resume() {
    let seed: u64 = std::env::var("THEATER_SEED").map_or(20_261_203, |s| s.parse().unwrap());
    let dir = theater_testkit::scratch("durable");
    let result = std::panic::catch_unwind(|| {
        let (acked, lost) = kills(true, seed, &dir.join("fsync"));
        assert!(acked > 100 * KILLS / 10, "only {acked} writes acknowledged");
        eprintln!("--fsync: {KILLS} kills and resumes, {acked} acknowledged writes, {lost} lost");
        let (acked, lost) = kills(false, seed, &dir.join("no-fsync"));
        eprintln!(
            "without --fsync: {KILLS} kills and resumes, {acked} acknowledged writes, {lost} lost"
        );
    });
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = result {
        eprintln!("*** failing seed: THEATER_SEED={seed} ***");
        std::panic::resume_unwind(e);
    }
}
