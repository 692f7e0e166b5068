//! `theater-replay verify-all` over a fleet's worth of traces on disk: 20 bank runs
//! recorded by `theater run` with different seeds on four "nodes", one run recorded to a
//! directory of segments, and one run of the docs example recorded with its buggy
//! build. Shards cover the listing exactly once; a swap applies to the traces that have
//! that component and reports the old build's run as a divergence; a damaged trace is
//! reported and makes the exit code 2.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use theater_testkit::repo;

fn replay(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_theater-replay"))
        .current_dir(repo())
        .args(args)
        .output()
        .unwrap()
}

fn theater(args: &[&str]) {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_theater-replay")).with_file_name("theater");
    let o = Command::new(bin)
        .current_dir(repo())
        .args(args)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The fleet: 20 bank traces, a segmented one and the docs example's.
fn fleet(dir: &Path) -> usize {
    for k in 0..20 {
        let node = dir.join(format!("node-{}", k % 4));
        std::fs::create_dir_all(&node).unwrap();
        let path = node.join(format!("run-{k}.trace"));
        let seed = k.to_string();
        theater(&[
            "run",
            "fixtures/manifests/bank.toml",
            "--inputs",
            "fixtures/manifests/bank-inputs.jsonl",
            "--seed",
            &seed,
            "--record",
            path.to_str().unwrap(),
        ]);
    }
    let segmented = dir.join("node-0/segmented");
    theater(&[
        "run",
        "fixtures/manifests/bank.toml",
        "--inputs",
        "fixtures/manifests/bank-inputs.jsonl",
        "--record",
        segmented.to_str().unwrap(),
        "--segment-bytes",
        "1",
    ]);
    let docs = dir.join("node-3/docs.trace");
    theater(&[
        "run",
        "fixtures/manifests/docs.toml",
        "--inputs",
        "fixtures/manifests/docs-inputs.jsonl",
        "--record",
        docs.to_str().unwrap(),
    ]);
    // Not traces: skipped.
    std::fs::write(dir.join("node-1/notes.txt"), "not a trace").unwrap();
    22
}

/// `trace` → `status` of each JSON line.
fn statuses(stdout: &str) -> BTreeMap<String, String> {
    stdout
        .lines()
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"));
            (
                v["trace"].as_str().unwrap().to_string(),
                v["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_fleet_verifies_shard_by_shard_and_an_old_build_diverges() {
    let dir = theater_testkit::scratch("verify-all-fleet");
    let traces = fleet(&dir);
    let prefix = dir.to_str().unwrap();

    let all = replay(&["verify-all", prefix, "--jobs", "2"]);
    let stdout = text(&all.stdout);
    assert_eq!(all.status.code(), Some(0), "{stdout}{}", text(&all.stderr));
    assert!(
        stdout.contains(&format!(
            "verified {traces} traces: {traces} ok, 0 diverged, 0 damaged"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("ok          node-0/segmented: "),
        "{stdout}"
    );

    // The two shards: disjoint, and together every trace once.
    let docs_fixed = repo().join("fixtures/components/docs-fixed.wasm");
    let swap = format!("renderer={}", docs_fixed.display());
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut codes = Vec::new();
    for shard in ["1/2", "2/2"] {
        let o = replay(&[
            "verify-all",
            &format!("file://{prefix}"),
            "--shard",
            shard,
            "--json",
            "--swap",
            &swap,
        ]);
        codes.push(o.status.code());
        for (trace, status) in statuses(&text(&o.stdout)) {
            assert!(
                seen.insert(trace.clone(), status).is_none(),
                "{trace} in both shards"
            );
        }
    }
    assert_eq!(seen.len(), traces, "{seen:?}");
    // The docs run was recorded with the buggy renderer: against the fixed one it
    // diverges; the bank runs have no `renderer` component and verify as they are.
    assert_eq!(seen["node-3/docs.trace"], "divergence");
    assert_eq!(seen.values().filter(|s| *s == "ok").count(), traces - 1);
    codes.sort();
    assert_eq!(codes, [Some(0), Some(1)], "one shard holds the divergence");

    // The same shard twice lists the same traces.
    let again = replay(&[
        "verify-all",
        prefix,
        "--shard",
        "1/2",
        "--json",
        "--jobs",
        "1",
    ]);
    let once = replay(&[
        "verify-all",
        prefix,
        "--shard",
        "1/2",
        "--json",
        "--jobs",
        "2",
    ]);
    assert_eq!(text(&again.stdout), text(&once.stdout));
}

#[test]
fn a_damaged_trace_is_reported_and_fails_the_run() {
    let dir = theater_testkit::scratch("verify-all-damaged");
    let good = dir.join("good.trace");
    theater(&[
        "run",
        "fixtures/manifests/bank.toml",
        "--inputs",
        "fixtures/manifests/bank-inputs.jsonl",
        "--record",
        good.to_str().unwrap(),
    ]);
    let mut bytes = std::fs::read(&good).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(dir.join("flipped.trace"), &bytes).unwrap();
    std::fs::write(dir.join("garbage.trace"), b"this is not a trace at all").unwrap();
    // A process killed before it wrote anything: a trace cut before its first event,
    // as `verify` sees it.
    std::fs::write(dir.join("empty.trace"), b"").unwrap();
    let o = replay(&["verify-all", dir.to_str().unwrap(), "--json"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    let s = statuses(&text(&o.stdout));
    assert_eq!(s["good.trace"], "ok");
    assert_eq!(s["flipped.trace"], "damaged");
    assert_eq!(s["garbage.trace"], "damaged");
    assert_eq!(s["empty.trace"], "ok");
    assert!(text(&o.stdout).contains(r#""cut":true"#));
}

#[test]
fn bad_prefixes_and_shards_are_clear_errors() {
    for (args, says) in [
        (
            vec!["verify-all", "/nonexistent/theater"],
            "not a directory",
        ),
        (vec!["verify-all", "s3://bucket/runs"], "s3://"),
        (vec!["verify-all", "fixtures", "--shard", "3/2"], "--shard"),
        (vec!["verify-all", "fixtures", "--shard", "0/2"], "--shard"),
    ] {
        let o = replay(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(
            text(&o.stderr).contains(says),
            "{args:?}: {}",
            text(&o.stderr)
        );
    }
}

/// One trace over `VERIFY_ALL_TRACES_MAX` (100,000): refused before anything is
/// verified, naming the limit.
#[test]
fn a_prefix_over_the_listing_limit_is_refused() {
    let dir = theater_testkit::scratch("verify-all-limit");
    for i in 0..=100_000u32 {
        std::fs::write(dir.join(format!("{i}.trace")), b"").unwrap();
    }
    let o = replay(&["verify-all", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("VERIFY_ALL_TRACES_MAX"),
        "{}",
        text(&o.stderr)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
