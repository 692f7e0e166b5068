//! Traces in object stores, as users run them: `theater run --record s3://…` against a
//! real S3-compatible server on loopback (`s3s-fs`), and the same suite over `file://`
//! with no server. A run recorded to a store reads, verifies and diffs like its local
//! copy; a second run with the same components uploads no component again (counted
//! from the store's own files); the store going away mid-run and coming back loses
//! nothing; bad credentials, a missing bucket and an unreachable endpoint are one clear
//! error naming the URL, never a secret, never a panic.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use theater_testkit::s3::{S3Server, SECRET_KEY};
use theater_testkit::{fixture_manifest, repo, scratch};

fn bin(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_theater-replay")).with_file_name(name)
}

fn run(name: &str, args: &[&str], env: &[(&'static str, String)]) -> Output {
    Command::new(bin(name))
        .current_dir(repo())
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(o: &Output) -> String {
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}{}", text(&o.stderr));
    out
}

/// Records the bank example into `url` (small segments, so there are several) and into
/// a local file; returns `theater run`'s standard output.
fn record_bank(url: &str, local: &Path, spool: &Path, env: &[(&'static str, String)]) -> String {
    let manifest = fixture_manifest("bank.toml");
    let inputs = fixture_manifest("bank-inputs.jsonl");
    let common = [
        "run",
        manifest.to_str().unwrap(),
        "--inputs",
        inputs.to_str().unwrap(),
        "--snapshot-every",
        "4",
    ];
    let mut args = common.to_vec();
    args.extend(["--record", url, "--spool", spool.to_str().unwrap()]);
    args.extend(["--segment-bytes", "1"]);
    let stored = ok(&run("theater", &args, env));
    let mut args = common.to_vec();
    args.extend(["--record", local.to_str().unwrap()]);
    ok(&run("theater", &args, env));
    stored
}

/// Files under `dir`, recursively.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                dirs.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out
}

/// The whole suite over one store: `base` is the URL of a prefix in it, `objects` the
/// directory its objects end up in on disk.
fn round_trip(base: &str, objects: &Path, scratch_dir: &Path, env: &[(&'static str, String)]) {
    let url1 = format!("{base}/fleet/bank-1");
    let url2 = format!("{base}/fleet/bank-2");
    let local = scratch_dir.join("bank-local.trace");
    let stored = record_bank(&url1, &local, &scratch_dir.join("spool-1"), env);
    assert!(stored.contains(&format!("stored: {url1} (")), "{stored}");
    assert!(stored.contains("blobs: 1 uploaded, "), "{stored}");
    let segments = files(&objects.join("fleet/bank-1")).len();
    assert!(segments >= 1, "{segments}");

    // Read, verified, diffed against the local copy, dumped at its last event.
    let info = ok(&run("theater-replay", &["info", &url1], env));
    assert!(info.contains(&format!("segments: {segments} ")), "{info}");
    let verify = ok(&run(
        "theater-replay",
        &["verify", &url1, "--jobs", "2"],
        env,
    ));
    assert!(verify.contains("replay ok"), "{verify}");
    ok(&run(
        "theater-replay",
        &["diff", &url1, local.to_str().unwrap()],
        env,
    ));
    let last = run(
        "theater-replay",
        &["dump", &url1, "--from", "30", "--json"],
        env,
    );
    assert!(
        text(&last.stdout).contains("run-ended") || text(&last.stdout).contains("RunEnded"),
        "{}",
        text(&last.stdout)
    );

    // A second run with the same component: the component is not uploaded again.
    let local2 = scratch_dir.join("bank-local-2.trace");
    let stored = record_bank(&url2, &local2, &scratch_dir.join("spool-2"), env);
    assert!(stored.contains("blobs: 0 uploaded, "), "{stored}");
    let blobs = files(&objects.join("blobs"));
    assert_eq!(blobs.len(), 1, "one component blob in the store: {blobs:?}");
    let component = std::fs::read(repo().join("fixtures/components/bank.wasm")).unwrap();
    let in_segments: u64 = files(&objects.join("fleet"))
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    assert!(
        in_segments < component.len() as u64,
        "no segment holds the component's bytes ({in_segments} bytes in all segments)"
    );

    // Recording over an existing run is refused without --force.
    let o = run(
        "theater",
        &[
            "run",
            fixture_manifest("bank.toml").to_str().unwrap(),
            "--record",
            &url1,
        ],
        env,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("already holds a recording"),
        "{}",
        text(&o.stderr)
    );

    // The fleet, verified from the store.
    let all = ok(&run(
        "theater-replay",
        &["verify-all", &format!("{base}/fleet")],
        env,
    ));
    assert!(all.contains("verified 2 traces: 2 ok"), "{all}");
}

#[test]
fn a_run_recorded_to_a_file_store_reads_verifies_and_diffs_like_its_local_copy() {
    let dir = scratch("store-file");
    let root = dir.join("store");
    std::fs::create_dir_all(root.join("blobs")).unwrap();
    round_trip(&format!("file://{}", root.display()), &root, &dir, &[]);
}

#[test]
fn a_run_recorded_to_s3_reads_verifies_and_diffs_like_its_local_copy() {
    let dir = scratch("store-s3");
    let server = S3Server::start(&dir.join("server"), &["traces"]);
    round_trip(
        "s3://traces",
        &dir.join("server/traces"),
        &dir,
        &server.env(),
    );
}

#[test]
fn store_errors_name_the_url_and_never_a_secret() {
    let dir = scratch("store-errors");
    let server = S3Server::start(&dir.join("server"), &["traces"]);
    let manifest = fixture_manifest("bank.toml");
    let manifest = manifest.to_str().unwrap();
    let check = |url: &str, env: Vec<(&'static str, String)>, says: &str| {
        for (name, args) in [
            ("theater", vec!["run", manifest, "--record", url]),
            ("theater-replay", vec!["info", url]),
        ] {
            let o = run(name, &args, &env);
            let err = text(&o.stderr);
            assert_eq!(o.status.code(), Some(2), "{name} {url}: {err}");
            assert!(
                err.contains(url.trim_end_matches('/')),
                "{name} names {url}: {err}"
            );
            assert!(err.contains(says), "{name} {url} says {says}: {err}");
            assert!(
                !err.contains(SECRET_KEY) && !err.contains("wrong-secret"),
                "{err}"
            );
            assert!(!err.contains("panicked"), "{err}");
        }
    };
    let mut bad_secret = server.env();
    bad_secret[1].1 = "wrong-secret".into();
    check("s3://traces/run-1", bad_secret, "access denied");
    check(
        "s3://no-such-bucket/run-1",
        server.env(),
        "bucket does not exist",
    );
    let mut unreachable = server.env();
    unreachable[3].1 = "http://127.0.0.1:9".into();
    check("s3://traces/run-1", unreachable, "unreachable");
}

#[test]
fn the_store_going_away_mid_run_loses_nothing() {
    let dir = scratch("store-outage");
    let mut server = S3Server::start(&dir.join("server"), &["traces"]);
    let env = server.env();
    let url = "s3://traces/outage";
    // Inputs on standard input, fed while the server is down and after it is back.
    let mut child = Command::new(bin("theater"))
        .current_dir(repo())
        .args([
            "run",
            fixture_manifest("bank.toml").to_str().unwrap(),
            "--inputs",
            "-",
        ])
        .args([
            "--record",
            url,
            "--spool",
            dir.join("spool").to_str().unwrap(),
        ])
        .args(["--segment-bytes", "1", "--snapshot-every", "2"])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let inputs = std::fs::read_to_string(fixture_manifest("bank-inputs.jsonl")).unwrap();
    let lines: Vec<&str> = inputs.lines().collect();
    let mut stdin = child.stdin.take().unwrap();
    let feed = |stdin: &mut std::process::ChildStdin, part: &[&str]| {
        for l in part {
            writeln!(stdin, "{l}").unwrap();
        }
        stdin.flush().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(700));
    };
    let third = lines.len() / 3;
    feed(&mut stdin, &lines[..third]);
    server.stop();
    feed(&mut stdin, &lines[third..2 * third]);
    server.resume();
    feed(&mut stdin, &lines[2 * third..]);
    drop(stdin);
    let o = child.wait_with_output().unwrap();
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(err.contains("retrying"), "the outage was noticed: {err}");
    assert!(err.contains("resumed"), "and its end: {err}");
    // Everything recorded is in the store, and it verifies.
    let verify = ok(&run("theater-replay", &["verify", url], &env));
    assert!(verify.contains("replay ok"), "{verify}");
    let local = dir.join("local.trace");
    let plain = ok(&run(
        "theater",
        &[
            "run",
            fixture_manifest("bank.toml").to_str().unwrap(),
            "--inputs",
            fixture_manifest("bank-inputs.jsonl").to_str().unwrap(),
            "--record",
            local.to_str().unwrap(),
        ],
        &env,
    ));
    assert!(plain.contains("deliveries:"), "{plain}");
    let info = ok(&run("theater-replay", &["info", url], &env));
    let local_info = ok(&run(
        "theater-replay",
        &["info", local.to_str().unwrap()],
        &env,
    ));
    let deliveries = |s: &str| {
        s.lines()
            .find(|l| l.starts_with("deliveries"))
            .map(str::to_string)
    };
    assert_eq!(
        deliveries(&info),
        deliveries(&local_info),
        "{info}\n{local_info}"
    );
}

fn served_address(line: &str) -> Option<std::net::SocketAddr> {
    let rest = line.split("serving http://").nth(1)?;
    rest.split_whitespace().next()?.parse().ok()
}

/// PUTs `key` until the status is `want` (or 20 s pass); returns how many tries it took.
fn put_until(addr: std::net::SocketAddr, from: &mut u32, want: fn(u16) -> bool) -> u32 {
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut tries = 0;
    loop {
        *from += 1;
        tries += 1;
        let mut c = theater_testkit::http::Client::connect(addr).unwrap();
        let (status, body) = c
            .call(
                "PUT",
                &format!("/kv/key-{from}"),
                format!("value {from}").as_bytes(),
            )
            .unwrap();
        if want(status) {
            return tries;
        }
        assert!(
            std::time::Instant::now() < give_up,
            "status {status} ({}) for 20 s",
            text(&body)
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn a_full_spool_refuses_requests_with_503_until_uploads_catch_up() {
    let dir = scratch("store-spool");
    let mut server = S3Server::start(&dir.join("server"), &["traces"]);
    let env = server.env();
    let url = "s3://traces/spool";
    // The bound: about one segment (each holds the component again, compressed), so a
    // few segments waiting for a store that is down pass it.
    let bound = std::fs::metadata(repo().join("fixtures/components/kv.wasm"))
        .unwrap()
        .len()
        .to_string();
    let mut cmd = Command::new(bin("theater"));
    cmd.current_dir(repo())
        .args(["run", "fixtures/manifests/kv.toml", "--http", "127.0.0.1:0"])
        .args([
            "--record",
            url,
            "--spool",
            dir.join("spool").to_str().unwrap(),
        ])
        .args(["--segment-ms", "100", "--spool-bytes", &bound])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::piped());
    let served = theater_testkit::http::serve(&mut cmd, served_address);
    let mut n = 0;
    assert_eq!(
        put_until(served.addr, &mut n, |s| s < 300),
        1,
        "served at once"
    );
    server.stop();
    // Each fails the test after 20 s without the status it waits for.
    put_until(served.addr, &mut n, |s| s == 503);
    server.resume();
    put_until(served.addr, &mut n, |s| s < 300);
    let killed = Command::new("kill")
        .args(["-TERM", &served.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let o = served.child.wait_with_output().unwrap();
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains(&format!("stored: {url} (")), "{out}");
    // Every request is in the store's trace: accepted ones as inputs, the refused ones
    // as refused (backlog); and it verifies.
    let verify = ok(&run("theater-replay", &["verify", url], &env));
    assert!(verify.contains("replay ok"), "{verify}");
    let dump = ok(&run("theater-replay", &["dump", url, "--json"], &env));
    let backlog = dump.lines().filter(|l| l.contains("\"Backlog\"")).count();
    assert!(backlog >= 1, "refusals recorded: {dump}");
}

/// The last state digest each actor's `Outputs` recorded, from `dump --json`.
fn final_states(dump: &str) -> std::collections::BTreeMap<u64, String> {
    let mut out = std::collections::BTreeMap::new();
    for line in dump.lines().filter(|l| l.contains("\"kind\":\"outputs\"")) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let o = &v["body"]["Outputs"];
        out.insert(
            o["actor"].as_u64().unwrap(),
            o["state"].as_str().unwrap().to_string(),
        );
    }
    out
}

/// A run stopped on one machine (its spool) and resumed on another (an empty spool)
/// ends with the uninterrupted run's states, and the stored trace verifies.
fn resume_from_the_store_alone(base: &str, dir: &Path, env: &[(&'static str, String)]) {
    let url = &format!("{base}/resume");
    let manifest = fixture_manifest("bank.toml");
    let manifest = manifest.to_str().unwrap();
    let all = fixture_manifest("bank-inputs.jsonl");
    let lines = std::fs::read_to_string(&all).unwrap();
    let half: Vec<&str> = lines.lines().take(lines.lines().count() / 2).collect();
    let first = dir.join("first-half.jsonl");
    std::fs::write(&first, half.join("\n") + "\n").unwrap();
    let spool = |name: &str| dir.join(name).to_str().unwrap().to_string();
    // The first process, on one machine (its spool).
    ok(&run(
        "theater",
        &[
            "run",
            manifest,
            "--inputs",
            first.to_str().unwrap(),
            "--record",
            url,
            "--spool",
            &spool("a"),
        ],
        env,
    ));
    // The second, elsewhere: an empty spool; the run comes back from the store.
    let o = run(
        "theater",
        &[
            "run",
            manifest,
            "--inputs",
            all.to_str().unwrap(),
            "--record",
            url,
            "--spool",
            &spool("b"),
            "--resume",
        ],
        env,
    );
    let out = ok(&o);
    assert!(text(&o.stderr).contains("fetched"), "{}", text(&o.stderr));
    assert!(out.contains(&format!("stored: {url} (")), "{out}");
    // The same end as a run that never stopped, and the store's trace verifies.
    let local = dir.join("whole.trace");
    ok(&run(
        "theater",
        &[
            "run",
            manifest,
            "--inputs",
            all.to_str().unwrap(),
            "--record",
            local.to_str().unwrap(),
        ],
        env,
    ));
    let verify = ok(&run("theater-replay", &["verify", url, "--jobs", "2"], env));
    assert!(verify.contains("replay ok"), "{verify}");
    let resumed = final_states(&ok(&run("theater-replay", &["dump", url, "--json"], env)));
    let whole = final_states(&ok(&run(
        "theater-replay",
        &["dump", local.to_str().unwrap(), "--json"],
        env,
    )));
    assert!(!whole.is_empty());
    assert_eq!(resumed, whole);
}

#[test]
fn a_run_resumes_from_an_s3_store_alone() {
    let dir = scratch("store-resume-s3");
    let server = S3Server::start(&dir.join("server"), &["traces"]);
    resume_from_the_store_alone("s3://traces", &dir, &server.env());
}

#[test]
fn a_run_resumes_from_a_file_store_alone() {
    let dir = scratch("store-resume-file");
    let root = dir.join("store");
    std::fs::create_dir_all(root.join("blobs")).unwrap();
    resume_from_the_store_alone(&format!("file://{}", root.display()), &dir, &[]);
}

#[test]
fn a_fleet_in_s3_verifies_shard_by_shard_and_an_old_build_diverges() {
    let dir = scratch("store-fleet");
    let server = S3Server::start(&dir.join("server"), &["traces"]);
    let env = server.env();
    let bank = fixture_manifest("bank.toml");
    let inputs = fixture_manifest("bank-inputs.jsonl");
    let traces = 21;
    for k in 0..traces - 1 {
        let url = format!("s3://traces/fleet/node-{}/bank-{k}", k % 4);
        let seed = k.to_string();
        let spool = dir.join(format!("spool-{k}"));
        ok(&run(
            "theater",
            &[
                "run",
                bank.to_str().unwrap(),
                "--inputs",
                inputs.to_str().unwrap(),
                "--seed",
                &seed,
                "--record",
                &url,
                "--spool",
                spool.to_str().unwrap(),
            ],
            &env,
        ));
    }
    // The docs run, recorded with its buggy renderer.
    ok(&run(
        "theater",
        &[
            "run",
            fixture_manifest("docs.toml").to_str().unwrap(),
            "--inputs",
            fixture_manifest("docs-inputs.jsonl").to_str().unwrap(),
            "--record",
            "s3://traces/fleet/node-3/docs",
            "--spool",
            dir.join("spool-docs").to_str().unwrap(),
        ],
        &env,
    ));
    // Every bank run stored the same component once.
    let blobs = files(&dir.join("server/traces/blobs"));
    assert_eq!(blobs.len(), 2, "the bank and docs components: {blobs:?}");

    let swap = format!(
        "renderer={}",
        repo().join("fixtures/components/docs-fixed.wasm").display()
    );
    let mut seen = std::collections::BTreeMap::new();
    let mut codes = Vec::new();
    for shard in ["1/2", "2/2"] {
        let o = run(
            "theater-replay",
            &[
                "verify-all",
                "s3://traces/fleet",
                "--shard",
                shard,
                "--json",
                "--swap",
                &swap,
                "--jobs",
                "2",
            ],
            &env,
        );
        codes.push(o.status.code());
        for line in text(&o.stdout).lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let name = v["trace"].as_str().unwrap().to_string();
            let status = v["status"].as_str().unwrap().to_string();
            assert!(
                seen.insert(name.clone(), status).is_none(),
                "{name} in both shards"
            );
        }
    }
    assert_eq!(seen.len(), traces, "{seen:?}");
    assert_eq!(seen["node-3/docs"], "divergence");
    assert_eq!(seen.values().filter(|s| *s == "ok").count(), traces - 1);
    codes.sort();
    assert_eq!(codes, [Some(0), Some(1)], "one shard holds the divergence");
}

#[test]
fn a_store_still_down_at_the_end_leaves_the_rest_in_the_spool_for_a_resume() {
    let dir = scratch("store-down-at-end");
    let mut server = S3Server::start(&dir.join("server"), &["traces"]);
    let env = server.env();
    let url = "s3://traces/down-at-end";
    let spool = dir.join("spool");
    let spool = spool.to_str().unwrap();
    let manifest = fixture_manifest("bank.toml");
    let inputs = fixture_manifest("bank-inputs.jsonl");
    let mut child = Command::new(bin("theater"))
        .current_dir(repo())
        .args(["run", manifest.to_str().unwrap(), "--inputs", "-"])
        .args(["--record", url, "--spool", spool, "--ship-wait-ms", "300"])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(std::fs::read_to_string(&inputs).unwrap().as_bytes())
        .unwrap();
    // Recording (the store answered), and the inputs taken.
    let first = dir.join("spool").join("segment-00000000.trace");
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !first.exists() {
        assert!(
            std::time::Instant::now() < give_up,
            "the run never started recording"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    // The store goes away before the run ends: the last segment cannot be stored.
    server.stop();
    drop(stdin);
    let o = child.wait_with_output().unwrap();
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("--ship-wait-ms 300"), "{err}");
    assert!(err.contains(spool) && err.contains("--resume"), "{err}");
    // Back again: a resume from the same spool stores what was left.
    server.resume();
    ok(&run(
        "theater",
        &[
            "run",
            manifest.to_str().unwrap(),
            "--record",
            url,
            "--spool",
            spool,
            "--resume",
        ],
        &env,
    ));
    let verify = ok(&run("theater-replay", &["verify", url], &env));
    assert!(verify.contains("replay ok"), "{verify}");
    let local = dir.join("whole.trace");
    ok(&run(
        "theater",
        &[
            "run",
            manifest.to_str().unwrap(),
            "--inputs",
            inputs.to_str().unwrap(),
            "--record",
            local.to_str().unwrap(),
        ],
        &env,
    ));
    let stored = final_states(&ok(&run("theater-replay", &["dump", url, "--json"], &env)));
    let whole = final_states(&ok(&run(
        "theater-replay",
        &["dump", local.to_str().unwrap(), "--json"],
        &env,
    )));
    assert!(!whole.is_empty());
    assert_eq!(stored, whole);
}
