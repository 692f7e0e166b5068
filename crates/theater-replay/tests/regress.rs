//! Regression against a new build, as a user runs it: `theater run --record` of the
//! `docs` example (a router and three renderers with a planted bug in one branch), then
//! `theater-replay verify --swap` and `regress` with the fixed build (`docs-fixed`, the
//! same source with that branch fixed), with an identical build, and with bad input; and
//! `bisect` with a predicate over the group `renderer-*`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use theater_testkit::{repo, scratch};

fn replay(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_theater-replay"))
        .args(args)
        .output()
        .expect("theater-replay runs")
}

fn theater_bin() -> PathBuf {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_theater-replay")).with_file_name("theater");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo test --workspace` (or `cargo build -p theater` first)",
        bin.display()
    );
    bin
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn component(name: &str) -> String {
    repo()
        .join(format!("fixtures/components/{name}.wasm"))
        .display()
        .to_string()
}

/// Records the docs example with its committed inputs into `dir/docs.trace`.
fn record_docs(dir: &Path) -> PathBuf {
    let trace = dir.join("docs.trace");
    let out = Command::new(theater_bin())
        .arg("run")
        .arg(repo().join("fixtures/manifests/docs.toml"))
        .arg("--inputs")
        .arg(repo().join("fixtures/manifests/docs-inputs.jsonl"))
        .arg("--record")
        .arg(&trace)
        .output()
        .unwrap();
    assert!(out.status.success(), "theater run: {}", text(&out.stderr));
    trace
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

#[test]
fn verify_with_the_fix_names_the_one_delivery_that_changed_with_its_state_diff() {
    let dir = scratch("regress-verify");
    let trace = record_docs(&dir);
    let t = trace.to_str().unwrap();
    let fixed = format!("renderer={}", component("docs-fixed"));
    let out = replay(&["verify", t, "--swap", &fixed]);
    let err = text(&out.stderr);
    assert_eq!(code(&out), 1, "{}{err}", text(&out.stdout));
    // The first divergence is renderer-2's delivery of input 13, the one with the
    // empty link, shown with its input and the state diff.
    assert!(
        err.contains("first delivery that behaves differently: renderer-2"),
        "{err}"
    );
    assert!(err.contains(r#""id":13"#), "the input is shown: {err}");
    assert!(err.contains("state diff:"), "{err}");
    assert!(
        err.contains(r#"-  "links": -1"#) && err.contains(r#"+  "links": 0"#),
        "{err}"
    );

    // The identical build (the same component swapped in) verifies.
    let same = format!("renderer={}", component("docs"));
    let out = replay(&["verify", t, "--swap", &same]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("replay ok"));
}

#[test]
fn regress_reports_the_changed_delivery_and_its_consequences() {
    let dir = scratch("regress-fixed");
    let trace = record_docs(&dir);
    let t = trace.to_str().unwrap();
    let fixed = format!("renderer={}", component("docs-fixed"));
    let new = dir.join("fixed.trace");
    let out = replay(&["regress", t, "--swap", &fixed, "-o", new.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert_eq!(code(&out), 1, "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("behaviour differs in 2 deliveries of 2 actor(s)"),
        "{stdout}"
    );
    // renderer-2: the delivery of input 13 (its state and the report it sends)…
    assert!(
        stdout
            .contains("renderer-2 (actor 2, swapped): 1 of 11 deliveries differ (sent 1, state 1)"),
        "{stdout}"
    );
    // …and its consequence: the router receives another report and tallies it.
    assert!(
        stdout.contains("router (actor 0): 1 of 61 deliveries differ (fuel 1, input 1, state 1)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("first change: renderer-2 (actor 2) delivery 6"),
        "{stdout}"
    );
    assert!(stdout.contains(r#"+  "links": 0"#), "{stdout}");
    // The other renderers behave as recorded.
    assert!(!stdout.contains("renderer-1 (actor"), "{stdout}");
    // The new run was written, and it is a trace that verifies on its own.
    let out = replay(&["verify", new.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    // An existing output is kept unless --force.
    let o = new.to_str().unwrap();
    let out = replay(&["regress", t, "--swap", &fixed, "-o", o]);
    assert_eq!(code(&out), 2);
    assert!(
        text(&out.stderr).contains("exists (use --force"),
        "{}",
        text(&out.stderr)
    );
    let out = replay(&["regress", t, "--swap", &fixed, "-o", o, "--force"]);
    assert_eq!(code(&out), 1, "{}", text(&out.stderr));
    assert_eq!(code(&replay(&["verify", o])), 0);

    // The same as JSON, for CI.
    let out = replay(&["regress", t, "--swap", &fixed, "--json"]);
    assert_eq!(code(&out), 1);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(v["version"], 1);
    assert_eq!(v["identical"], false);
    assert_eq!(v["differing_deliveries"], 2);
    assert_eq!(v["first"]["actor"], 2);
    assert_eq!(v["first"]["differs"], serde_json::json!(["state", "sent"]));
    assert!(v["unmatched_call"].is_null());
    let actors = v["actors"].as_array().unwrap();
    assert_eq!(actors.len(), 4, "router and three renderers");
    for a in actors {
        let aspects = a["by_aspect"].as_object().unwrap();
        let names: Vec<&str> = aspects.keys().map(String::as_str).collect();
        let mut expected = theater_debugger::ASPECTS.to_vec();
        expected.sort_unstable();
        assert_eq!(names, expected, "every aspect is always listed");
    }
}

#[test]
fn regress_with_an_identical_build_is_identical_and_bad_input_exits_2() {
    let dir = scratch("regress-same");
    let trace = record_docs(&dir);
    let t = trace.to_str().unwrap();
    let same = format!("renderer={}", component("docs"));
    let out = replay(&["regress", t, "--swap", &same]);
    assert_eq!(code(&out), 0, "{}{}", text(&out.stdout), text(&out.stderr));
    assert!(text(&out.stdout).contains("behaviour identical"));

    // A component name the trace does not have, a missing file, no swap at all, a file
    // that is not a trace.
    let out = replay(&[
        "regress",
        t,
        "--swap",
        &format!("nosuch={}", component("docs")),
    ]);
    assert_eq!(code(&out), 2);
    assert!(text(&out.stderr).contains(r#"no component of that name (it has "docs", "renderer")"#));
    let out = replay(&["regress", t, "--swap", "renderer=/nonexistent.wasm"]);
    assert_eq!(code(&out), 2);
    assert!(text(&out.stderr).contains("cannot read /nonexistent.wasm"));
    let out = replay(&["regress", t]);
    assert_eq!(code(&out), 2);
    assert!(text(&out.stderr).contains("at least one --swap"));
    let not_a_trace = dir.join("text.trace");
    std::fs::write(&not_a_trace, "hello").unwrap();
    let out = replay(&["regress", not_a_trace.to_str().unwrap(), "--swap", &same]);
    assert_eq!(code(&out), 2, "{}", text(&out.stderr));
    // A non-component file as the new build.
    let out = replay(&[
        "regress",
        t,
        "--swap",
        &format!("renderer={}", not_a_trace.display()),
    ]);
    assert_eq!(code(&out), 2, "{}", text(&out.stderr));
}

#[test]
fn bisect_over_a_group_of_spawned_actors_names_the_one() {
    let dir = scratch("regress-bisect");
    let trace = record_docs(&dir);
    let t = trace.to_str().unwrap();
    let out = replay(&["bisect", t, "--until", "renderer-*:/links < 0"]);
    let stdout = text(&out.stdout);
    assert_eq!(code(&out), 0, "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("renderer-2"), "{stdout}");
    assert!(
        !stdout.contains("renderer-1") && !stdout.contains("renderer-3"),
        "{stdout}"
    );
    // The same by component.
    let out = replay(&["bisect", t, "--until", "component=renderer:/links < 0"]);
    let by_component = text(&out.stdout);
    assert_eq!(code(&out), 0, "{by_component}");
    assert!(by_component.contains("renderer-2"), "{by_component}");
    // A group that never gets there.
    let out = replay(&["bisect", t, "--until", "renderer-*:/links < -5"]);
    assert_eq!(code(&out), 1);
}
