//! `theater explore` and `theater run --schedule` on the race fixture, as a user runs
//! them: the default schedule never shows the ordering bug, the explorer finds a
//! schedule that does, that schedule's trace verifies, replays and is reproduced by
//! `theater run --schedule`, and `theater-replay minimize` shrinks its inputs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use theater_testkit::repo;

const MANIFEST: &str = "fixtures/manifests/race.toml";
const INPUTS: &str = "fixtures/manifests/race-inputs.jsonl";

fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).unwrap().join(name)
}

fn run(name: &str, args: &[&str]) -> Output {
    Command::new(bin(name))
        .current_dir(repo())
        .args(args)
        .output()
        .expect("the binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("theater-explore-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn explore(extra: &[&str], out: &Path) -> Output {
    let mut args = vec![
        "explore",
        MANIFEST,
        "--inputs",
        INPUTS,
        "--until",
        "failed:ledger",
        "-o",
        out.to_str().unwrap(),
        "--force",
    ];
    args.extend(extra);
    run("theater", &args)
}

/// The value after `key` on the line of `stdout` that has it.
fn after<'a>(stdout: &'a str, key: &str) -> &'a str {
    stdout
        .lines()
        .find_map(|l| l.split(key).nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no {key:?} in {stdout}"))
}

/// How many runs the summary line says failed.
fn failed(stdout: &str) -> u64 {
    let line = stdout.lines().find(|l| l.starts_with("explored ")).unwrap();
    let count = line
        .rsplit(": ")
        .next()
        .unwrap()
        .trim_end_matches(" failed");
    count.parse().unwrap_or_else(|_| panic!("{line}"))
}

#[test]
fn the_default_schedule_never_shows_the_race() {
    let out = run("theater", &["run", MANIFEST, "--inputs", INPUTS]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("failures: 0"), "{stdout}");
    // Nor does an explicit `fifo`, which is the same run.
    let fifo = run(
        "theater",
        &["run", MANIFEST, "--inputs", INPUTS, "--schedule", "fifo"],
    );
    assert_eq!(text(&fifo.stdout), stdout);
}

#[test]
fn explore_finds_the_race_and_its_trace_replays_reproduces_and_minimizes() {
    let found = temp("found.trace");
    let out = explore(&["--runs", "40", "--jobs", "2"], &found);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert!(!stdout.contains("note:"), "FIFO must pass: {stdout}");
    let failed = failed(&stdout);
    assert!(failed > 0 && failed <= 40, "{stdout}");
    assert!(stdout.contains("theater-replay minimize"), "{stdout}");
    let schedule = after(&stdout, "--schedule ");

    // The failing trace verifies (integrity and replay), names its schedule, and shows
    // the ledger's failure.
    let verify = run("theater-replay", &["verify", found.to_str().unwrap()]);
    assert_eq!(verify.status.code(), Some(0), "{}", text(&verify.stdout));
    assert!(text(&verify.stdout).contains("same chain head"));
    let info = text(&run("theater-replay", &["info", found.to_str().unwrap()]).stdout);
    assert!(info.contains(&format!("schedule={schedule}")), "{info}");
    let head = after(&info, "head:");

    // `theater run --schedule` with the printed schedule is that very run.
    let again = temp("again.trace");
    let rerun = run(
        "theater",
        &[
            "run",
            MANIFEST,
            "--inputs",
            INPUTS,
            "--schedule",
            schedule,
            "--record",
            again.to_str().unwrap(),
            "--force",
        ],
    );
    assert_eq!(rerun.status.code(), Some(0), "{}", text(&rerun.stderr));
    let rerun = text(&rerun.stdout);
    assert!(!rerun.contains("failures: 0"), "{rerun}");
    assert_eq!(after(&rerun, "chain head "), head, "{rerun}");

    // Minimize keeps the schedule and shrinks the six inputs.
    let small = temp("small.trace");
    let m = run(
        "theater-replay",
        &[
            "minimize",
            found.to_str().unwrap(),
            "--until",
            "failed:ledger",
            "-o",
            small.to_str().unwrap(),
            "--force",
        ],
    );
    let m = text(&m.stdout);
    let kept: usize = after(&m, "kept ").parse().unwrap();
    assert!(kept < 6 && kept > 0, "{m}");
    let verify = run("theater-replay", &["verify", small.to_str().unwrap()]);
    assert_eq!(verify.status.code(), Some(0), "{}", text(&verify.stdout));
}

/// Runs are handed out one by one, so the threads do not change what is found.
#[test]
fn the_same_options_find_the_same_failures_on_any_number_of_threads() {
    let (a, b) = (temp("one.trace"), temp("two.trace"));
    let one = text(&explore(&["--runs", "12", "--jobs", "1", "--first-seed", "9"], &a).stdout);
    let two = text(&explore(&["--runs", "12", "--jobs", "2", "--first-seed", "9"], &b).stdout);
    let line = |s: &str| {
        let l = s.lines().find(|l| l.starts_with("first failing")).unwrap();
        l.split("; wrote").next().unwrap().to_string()
    };
    assert_eq!(line(&one), line(&two), "{one}\n{two}");
    assert_eq!(failed(&one), failed(&two));
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
}

#[test]
fn bad_explore_arguments_are_clear_errors() {
    let out = temp("bad.trace");
    for (args, says) in [
        (vec!["--runs", "0"], "EXPLORE_RUNS_MAX"),
        (vec!["--runs", "1000001"], "EXPLORE_RUNS_MAX"),
        (vec!["--depth", "65"], "PCT_DEPTH_MAX"),
        (vec!["--depth", "0"], "PCT_DEPTH_MAX"),
    ] {
        let o = explore(&args, &out);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(
            text(&o.stderr).contains(says),
            "{args:?}: {}",
            text(&o.stderr)
        );
    }
    let o = run(
        "theater",
        &[
            "explore", MANIFEST, "--inputs", INPUTS, "--until", "failed:", "-o", "x.trace",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    let inputs = temp("nobody.jsonl");
    std::fs::write(&inputs, "{\"to\": \"nobody\", \"message\": 1}\n").unwrap();
    let o = run(
        "theater",
        &[
            "explore",
            MANIFEST,
            "--inputs",
            inputs.to_str().unwrap(),
            "--until",
            "failed",
            "-o",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("no top-level actor named \"nobody\""));
    for bad in ["pct:x", "lifo", "pct:1:0"] {
        let o = run("theater", &["run", MANIFEST, "--schedule", bad]);
        assert_eq!(o.status.code(), Some(2), "{bad}");
        assert!(text(&o.stderr).contains("schedule"), "{}", text(&o.stderr));
    }
    // In a manifest, a bad schedule names the manifest.
    let manifest = temp("race.toml");
    let text_of = std::fs::read_to_string(repo().join(MANIFEST)).unwrap();
    let text_of = text_of
        .replace("seed = 5", "seed = 5\nschedule = \"pct:1:99\"")
        .replace(
            "../components/",
            &format!("{}/fixtures/components/", repo().display()),
        );
    std::fs::write(&manifest, text_of).unwrap();
    let o = run("theater", &["run", manifest.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let e = text(&o.stderr);
    assert!(
        e.contains("race.toml") && e.contains("PCT_DEPTH_MAX"),
        "{e}"
    );
}
