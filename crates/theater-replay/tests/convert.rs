//! `theater-replay convert`: committed version 2 traces (a simulated bank run and a live
//! HTTP run) replay as they are, and become version 3 files that verify, replay, and
//! hold the same events; bad input leaves nothing behind and exits 2.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_theater-replay"))
        .args(args)
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("theater-convert-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path
}

fn v2(name: &str) -> PathBuf {
    theater_testkit::fixture_trace(&format!("v2/{name}"))
}

#[test]
fn version_2_fixtures_convert_to_traces_that_verify_and_replay() {
    for name in ["bank-bug.bin", "kv-http.bin"] {
        let old = v2(name);
        // The old trace itself still verifies and replays, unconverted.
        let out = bin(&["verify", old.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        assert!(text(&out).contains("replay ok"), "{}", text(&out));
        let new = scratch(name);
        let out = bin(&[
            "convert",
            old.to_str().unwrap(),
            "-o",
            new.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let report = text(&out);
        assert!(report.contains("format version 2"), "{report}");
        assert!(report.contains("format version 3"), "{report}");
        assert!(
            report.contains("same") && report.contains("events in the same order"),
            "{report}"
        );
        // The new file re-executes to its own chain head (verify replays), and holds the
        // same events as the old one.
        let out = bin(&["verify", new.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        assert!(text(&out).contains("replay ok"), "{}", text(&out));
        let a = theater_trace::Trace::open(&old).unwrap();
        let b = theater_trace::Trace::open(&new).unwrap();
        assert_eq!(b.format_version(), theater_trace::FORMAT_VERSION);
        assert_eq!(theater_trace::first_difference(&a, &b).unwrap(), None);
        assert!(!partial(&new).exists());
    }
}

fn partial(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
}

#[test]
fn an_existing_output_needs_force_and_a_cut_trace_is_refused() {
    let old = v2("bank-bug.bin");
    let new = scratch("exists.bin");
    std::fs::write(&new, b"keep me").unwrap();
    let out = bin(&[
        "convert",
        old.to_str().unwrap(),
        "-o",
        new.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--force"), "{}", text(&out));
    assert_eq!(std::fs::read(&new).unwrap(), b"keep me");
    let out = bin(&[
        "convert",
        old.to_str().unwrap(),
        "-o",
        new.to_str().unwrap(),
        "--force",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // A trace cut by a crash would come out looking finished: refused, nothing written.
    let bytes = std::fs::read(&old).unwrap();
    let cut = scratch("cut.bin");
    std::fs::write(&cut, &bytes[..bytes.len() - 500]).unwrap();
    let target = scratch("from-cut.bin");
    let out = bin(&[
        "convert",
        cut.to_str().unwrap(),
        "-o",
        target.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("incomplete"), "{}", text(&out));
    assert!(!target.exists() && !partial(&target).exists());
}
