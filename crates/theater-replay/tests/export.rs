//! Pictures: the Perfetto export is checked against the trace-event format on every
//! example trace; the Mermaid and DOT exports against golden files in
//! `fixtures/golden/` (`THEATER_BLESS=1 cargo test -p theater-replay --test export`
//! rewrites them; a mismatch is shown as a diff).

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::Value;

use theater_testkit::{golden, repo as root};

fn export(trace: &str, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_theater-replay"))
        .arg("export")
        .arg(root().join("fixtures/traces").join(trace))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn num(e: &Value, field: &str) -> u64 {
    e[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} is not a non-negative integer in {e}"))
}

#[test]
fn perfetto_exports_follow_the_trace_event_format() {
    for trace in [
        "bank-bug.bin",
        "supervisor.bin",
        "ping-pong.bin",
        "hidden-state.bin",
        // Replies to HTTP requests leave the system: no flow may start for them.
        "kv-http.bin",
    ] {
        let v: Value = serde_json::from_str(&export(trace, &["--format", "perfetto"])).unwrap();
        let events = v["traceEvents"].as_array().expect("traceEvents");
        let mut named_tracks = BTreeMap::new();
        let mut last_ts: BTreeMap<(u64, u64), u64> = BTreeMap::new();
        let mut starts: BTreeMap<u64, u64> = BTreeMap::new();
        let mut finishes: BTreeMap<u64, u64> = BTreeMap::new();
        let mut slices = 0;
        for e in events {
            assert!(e["name"].is_string(), "{trace}: no name in {e}");
            let (pid, tid) = (num(e, "pid"), num(e, "tid"));
            match e["ph"].as_str().unwrap() {
                "M" => {
                    if e["name"] == "thread_name" {
                        named_tracks.insert((pid, tid), e["args"]["name"].clone());
                    }
                }
                "X" => {
                    slices += 1;
                    let (ts, dur) = (num(e, "ts"), num(e, "dur"));
                    assert!(dur >= 1, "{trace}: empty slice {e}");
                    let last = last_ts.entry((pid, tid)).or_insert(0);
                    assert!(
                        ts >= *last,
                        "{trace}: slices out of order on track {tid}: {e}"
                    );
                    *last = ts + dur;
                }
                "i" => {
                    num(e, "ts");
                    assert_eq!(e["s"], "t", "{trace}: instant scope");
                }
                "s" => {
                    assert!(
                        starts.insert(num(e, "id"), num(e, "ts")).is_none(),
                        "{trace}: flow id reused"
                    );
                }
                "f" => {
                    assert_eq!(e["bp"], "e");
                    assert!(
                        finishes.insert(num(e, "id"), num(e, "ts")).is_none(),
                        "{trace}: flow finished twice"
                    );
                }
                other => panic!("{trace}: unexpected phase {other}"),
            }
        }
        assert!(slices > 0, "{trace}: no deliveries");
        assert_eq!(
            starts.keys().collect::<Vec<_>>(),
            finishes.keys().collect::<Vec<_>>(),
            "{trace}: every flow that starts finishes, and only those"
        );
        for (id, ts) in &finishes {
            assert!(
                *ts >= starts[id],
                "{trace}: flow {id} ends before it starts"
            );
        }
        for (pid, tid) in last_ts.keys() {
            assert!(
                named_tracks.contains_key(&(*pid, *tid)),
                "{trace}: track {tid} has no name"
            );
        }
    }
    // Failures and restarts are marked.
    let v: Value =
        serde_json::from_str(&export("supervisor.bin", &["--format", "perfetto"])).unwrap();
    let names: Vec<&str> = v["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert!(
        names.iter().any(|n| n.starts_with("exit: error")),
        "{names:?}"
    );
    assert!(
        names.iter().any(|n| n.starts_with("restarted")),
        "{names:?}"
    );
}

#[test]
fn mermaid_and_dot_exports_match_their_golden_files() {
    golden(
        "bank-bug.mmd",
        &export("bank-bug.bin", &["--format", "mermaid"]),
    );
    golden(
        "supervisor-window.mmd",
        &export(
            "supervisor.bin",
            &["--format", "mermaid", "--from", "20", "--count", "60"],
        ),
    );
    golden(
        "supervisor.dot",
        &export("supervisor.bin", &["--format", "dot"]),
    );
    golden(
        "bank-bug.dot",
        &export("bank-bug.bin", &["--format", "dot"]),
    );
}

#[test]
fn bisect_and_diff_draw_the_region_they_found() {
    let dir = std::env::temp_dir().join(format!("theater-export-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let traces = root().join("fixtures/traces");
    let bisect_md = dir.join("bisect.md");
    let out = Command::new(env!("CARGO_BIN_EXE_theater-replay"))
        .arg("bisect")
        .arg(traces.join("bank-bug.bin"))
        .args(["--until", "bank:/accounts/alice < 0", "--mermaid"])
        .arg(&bisect_md)
        .output()
        .unwrap();
    assert!(out.status.success());
    let md = std::fs::read_to_string(&bisect_md).unwrap();
    assert!(
        md.contains("```mermaid\n") && md.contains("sequenceDiagram"),
        "{md}"
    );
    assert!(
        md.contains("e24 message {\"transfer\":{\"amount\":125"),
        "{md}"
    );
    assert!(md.contains("Note over a0_bank: culprit"), "{md}");

    let diff_md = dir.join("diff.md");
    let out = Command::new(env!("CARGO_BIN_EXE_theater-replay"))
        .arg("diff")
        .arg(traces.join("bank-bug.bin"))
        .arg(traces.join("bank-bug-min.bin"))
        .arg("--mermaid")
        .arg(&diff_md)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let md = std::fs::read_to_string(&diff_md).unwrap();
    assert_eq!(md.matches("```mermaid\n").count(), 2, "{md}");
    assert!(md.starts_with("# First divergence"), "{md}");
    assert_eq!(md.matches(": first divergence").count(), 2, "{md}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn mermaid_draws_requests_from_and_replies_to_outside() {
    let text = export("kv-http.bin", &["--format", "mermaid"]);
    let from = text
        .lines()
        .filter(|l| l.trim_start().starts_with("outside->>a0_api:") && l.contains("request"))
        .count();
    let to = text
        .lines()
        .filter(|l| l.trim_start().starts_with("a0_api-->>outside:") && l.contains("reply"))
        .count();
    assert!(
        from >= 7 && to == from,
        "{from} requests, {to} replies:\n{text}"
    );
    assert!(text.contains(r#"{"status":201"#), "{text}");
}
