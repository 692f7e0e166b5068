//! `theater run` as a user runs it: real manifests, real files, exit codes.

use std::path::PathBuf;
use std::process::{Command, Output};

use theater_testkit::repo;

fn theater(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_theater"))
        .current_dir(repo())
        .args(args)
        .output()
        .expect("theater runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("theater-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn head_of(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.split("chain head ").nth(1))
        .expect("summary names the chain head")
        .to_string()
}

#[test]
fn bank_run_records_the_same_trace_twice() {
    let a = temp("bank-a.trace");
    let b = temp("bank-b.trace");
    // The second run syncs the trace to disk: durability, not content.
    for (path, fsync) in [(&a, None), (&b, Some("--fsync"))] {
        let mut args = vec![
            "run",
            "fixtures/manifests/bank.toml",
            "--inputs",
            "fixtures/manifests/bank-inputs.jsonl",
            "--record",
            path.to_str().unwrap(),
            "--force",
        ];
        args.extend(fsync);
        let out = theater(&args);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let stdout = text(&out.stdout);
        assert!(stdout.contains("deliveries: 9"), "{stdout}");
        assert!(!head_of(&stdout).is_empty());
    }
    assert_eq!(
        std::fs::read(&a).unwrap(),
        std::fs::read(&b).unwrap(),
        "same manifest and seed, same bytes"
    );
    // `--fsync` without a trace to sync is a usage error, not silently nothing.
    let out = theater(&["run", "fixtures/manifests/bank.toml", "--fsync"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--record"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn supervisor_run_reports_restarts() {
    let out = theater(&[
        "run",
        "fixtures/manifests/supervisor.toml",
        "--inputs",
        "fixtures/manifests/supervisor-inputs.jsonl",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("failures: 4  restarts: 4"), "{stdout}");
    assert!(stdout.contains("worker-0"), "{stdout}");
}

#[test]
fn existing_trace_is_not_overwritten_without_force() {
    let path = temp("exists.trace");
    std::fs::write(&path, b"precious").unwrap();
    let out = theater(&[
        "run",
        "fixtures/manifests/bank.toml",
        "--record",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--force"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");
}

#[test]
fn bad_manifests_and_inputs_are_clear_errors() {
    let cases: &[(&str, &str)] = &[
        ("mode = \"fast\"\n", "mode must be"),
        (
            "[[component]]\nname = \"x\"\npath = \"missing.wasm\"\n",
            "cannot read",
        ),
        (
            "[[actor]]\nname = \"a\"\ncomponent = \"nope\"\n",
            "unknown component",
        ),
        ("seed = \"x\"\n", "invalid manifest"),
        ("colour = 1\n", "unknown field"),
        (
            "[[component]]\nname = \"bad\"\npath = \"garbage.wasm\"\n",
            "component \"bad\"",
        ),
        (
            "[[component]]\nname = \"g\"\npath = \"garbage.wasm\"\n[[actor]]\nname = \"a\"\ncomponent = \"g\"\ngrants = [\"filesystem\"]\n",
            "cannot grant \"filesystem\"",
        ),
        (
            "[[http.route]]\nprefix = \"/kv\"\nactor = \"nobody\"\n",
            "no top-level actor named \"nobody\"",
        ),
        (
            "[[http.route]]\nprefix = \"kv/\"\nactor = \"a\"\n",
            "a prefix starts with `/`",
        ),
        ("[http.limits]\nbody_megabytes = 1\n", "unknown field"),
    ];
    let garbage = temp("garbage.wasm");
    std::fs::write(&garbage, b"not wasm at all").unwrap();
    for (manifest, expected) in cases {
        let path = temp("m.toml");
        std::fs::write(&path, manifest).unwrap();
        let out = theater(&["run", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{manifest}");
        assert!(
            text(&out.stderr).contains(expected),
            "{manifest}: {}",
            text(&out.stderr)
        );
    }
    // `--http` needs routes, and an address it can listen on.
    let bank = repo().join("fixtures/manifests/bank.toml");
    let out = theater(&["run", bank.to_str().unwrap(), "--http", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no [[http.route]]"),
        "{}",
        text(&out.stderr)
    );
    let kv = repo().join("fixtures/manifests/kv.toml");
    for addr in ["not an address", "192.0.2.1:80"] {
        let out = theater(&["run", kv.to_str().unwrap(), "--http", addr]);
        assert_eq!(out.status.code(), Some(2), "{addr}");
        assert!(
            text(&out.stderr).contains(&format!("cannot serve HTTP on {addr}")),
            "{}",
            text(&out.stderr)
        );
    }
    // A manifest over MANIFEST_MAX_BYTES is refused before it is parsed.
    let huge = temp("huge.toml");
    let limit = theater::manifest::MANIFEST_MAX_BYTES as usize;
    std::fs::write(&huge, "#".repeat(limit + 1)).unwrap();
    let out = theater(&["run", huge.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains(&format!("more than the {limit}-byte limit")),
        "{}",
        text(&out.stderr)
    );
    let inputs = temp("bad-inputs.jsonl");
    std::fs::write(&inputs, "{\"to\": \"nobody\", \"message\": 1}\n").unwrap();
    let out = theater(&[
        "run",
        "fixtures/manifests/bank.toml",
        "--inputs",
        inputs.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no top-level actor named \"nobody\""),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn delivery_limit_stops_an_endless_rally() {
    let inputs = temp("endless.jsonl");
    std::fs::write(
        &inputs,
        "{\"to\": \"ping\", \"message\": {\"ball\": 0, \"max\": 1000000000}}\n",
    )
    .unwrap();
    let out = theater(&[
        "run",
        "fixtures/manifests/ping-pong.toml",
        "--inputs",
        inputs.to_str().unwrap(),
        "--max-deliveries",
        "5000",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("run ended: delivery limit reached"),
        "{stdout}"
    );
    assert!(stdout.contains("deliveries: 5000"), "{stdout}");
}

#[test]
fn demo_inputs_trip_the_bank_fee_bug() {
    let path = temp("bank-bug.trace");
    let out = theater(&[
        "run",
        "fixtures/manifests/bank.toml",
        "--inputs",
        "fixtures/manifests/bank-inputs.jsonl",
        "--record",
        path.to_str().unwrap(),
        "--force",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let states: Vec<theater_trace::Digest> = theater_trace::Trace::open(&path)
        .unwrap()
        .events()
        .filter_map(|e| match e.unwrap().event.body {
            theater_trace::EventBody::Outputs(o) => Some(o.state),
            _ => None,
        })
        .collect();
    let state =
        |v: serde_json::Value| theater_trace::state_digest(&serde_json::to_vec(&v).unwrap());
    // After the 7th input (a transfer of 125 that empties alice): the fee leaves -1.
    let overdrawn =
        state(serde_json::json!({"accounts": {"alice": -1, "bob": 165}, "transfers": 3}));
    assert_eq!(
        states.iter().position(|s| *s == overdrawn),
        Some(7),
        "init is output 0"
    );
}

#[test]
fn inputs_can_come_from_stdin() {
    use std::io::Write as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_theater"))
        .current_dir(repo())
        .args(["run", "fixtures/manifests/bank.toml", "--inputs", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"{\"to\": \"bank\", \"message\": {\"open\": {\"name\": \"zoe\", \"amount\": 1}}}\n\n{\"to\": 0, \"text\": \"not json\"}\n")
        .unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // The init, the two inputs (the blank line is skipped), and — since text that is not
    // JSON makes the bank's handler fail — the init of its restart by the root supervisor.
    assert!(
        text(&out.stdout).contains("deliveries: 4  failures: 1  restarts: 1"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn a_recorded_run_holds_snapshots_that_a_seek_starts_from() {
    let inputs = temp("rally.jsonl");
    std::fs::write(
        &inputs,
        "{\"to\": \"ping\", \"message\": {\"ball\": 0, \"max\": 3000}}\n",
    )
    .unwrap();
    let record = |name: &str, every: &str| {
        let trace = temp(name);
        let out = theater(&[
            "run",
            "fixtures/manifests/ping-pong.toml",
            "--inputs",
            inputs.to_str().unwrap(),
            "--record",
            trace.to_str().unwrap(),
            "--force",
            "--snapshot-every",
            every,
            "--snapshot-ms",
            "0",
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert!(text(&out.stdout).contains("deliveries: 3003"));
        trace
    };
    let none = theater_trace::Trace::open(&record("rally-plain.trace", "0")).unwrap();
    assert!(none.snapshots().unwrap().is_empty());
    let trace = record("rally.trace", "500");
    let options = theater_debugger::SessionOptions {
        checkpoint_every: u64::MAX,
        ..Default::default()
    };
    let mut s = theater_debugger::Session::open(&trace, &options).unwrap();
    // 3003 deliveries (two inits, 3001 hits): a snapshot after every 500th, fewer if
    // one took so long that the next would pass the 1 % budget.
    let snapshots = s.trace().snapshots().unwrap().to_vec();
    assert!((1..=6).contains(&snapshots.len()), "{snapshots:?}");
    let end = s.steps();
    assert_eq!(s.goto_step(end).unwrap(), theater_debugger::Stop::Moved);
    // Only what follows the last snapshot is re-executed.
    let after = s.trace().event_count() - 1 - snapshots[snapshots.len() - 1];
    assert!(
        s.events_reexecuted() <= after,
        "{} > {after}",
        s.events_reexecuted()
    );
    assert!(s.notes().is_empty(), "{:?}", s.notes());
}

/// `theater run --record DIR/ --segment-bytes … --keep-segments …`: the run rotates to
/// new segment files and deletes the oldest; what is kept opens as one trace that
/// starts at its oldest segment, verifies (in parallel too), replays to the recorded
/// head, and a debugger session reaches its last step from a snapshot.
#[test]
fn a_run_recorded_to_segments_rotates_keeps_the_newest_and_replays() {
    let inputs = temp("segments.jsonl");
    std::fs::write(
        &inputs,
        "{\"to\": \"ping\", \"message\": {\"ball\": 0, \"max\": 20000}}\n",
    )
    .unwrap();
    let dir = temp("segments-run");
    let _ = std::fs::remove_dir_all(&dir);
    let out = theater(&[
        "run",
        "fixtures/manifests/ping-pong.toml",
        "--inputs",
        inputs.to_str().unwrap(),
        "--record",
        dir.to_str().unwrap(),
        "--segment-bytes",
        "30000",
        "--keep-segments",
        "4",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let head = head_of(&text(&out.stdout));
    let trace = theater_trace::Trace::open(&dir).unwrap();
    assert_eq!(trace.head().to_string(), head);
    let segments = trace.segments().to_vec();
    assert_eq!(segments.len(), 4, "{segments:?}");
    assert!(segments[0].number > 0 && trace.first_event() > 0);
    trace.verify().unwrap();
    let report = theater_runtime::replay::replay(trace, &Default::default()).unwrap();
    assert!(report.finished);
    assert_eq!(report.head.to_string(), head);
    let mut cache = theater_runtime::ComponentCache::new(&Default::default()).unwrap();
    let done = std::sync::atomic::AtomicU64::new(0);
    let parallel = theater_runtime::replay_parallel(
        &|| Ok(theater_trace::Trace::open(&dir)?),
        &Default::default(),
        2,
        &mut cache,
        &done,
    )
    .unwrap();
    assert_eq!(parallel.head.to_string(), head);
    let mut s = theater_debugger::Session::open(&dir, &Default::default()).unwrap();
    let end = s.steps();
    assert_eq!(s.goto_step(end).unwrap(), theater_debugger::Stop::Moved);
    assert!(s.notes().is_empty(), "{:?}", s.notes());
    // Recording again into the same directory needs --force.
    let again = theater(&[
        "run",
        "fixtures/manifests/ping-pong.toml",
        "--record",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        text(&again.stderr).contains("--force"),
        "{}",
        text(&again.stderr)
    );
}
