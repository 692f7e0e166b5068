//! The `theater-replay` binary as a script or CI job uses it: real files, real process,
//! exit codes and what it prints.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use theater_trace::synth::{self, Rng};
use theater_trace::{Trace, TraceWriter, WriterOptions};

fn bin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_theater-replay"))
        .args(args)
        .output()
        .expect("theater-replay runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

struct TempTrace {
    path: PathBuf,
    head: String,
    events: u64,
}

impl TempTrace {
    fn new(name: &str) -> TempTrace {
        let dir = std::env::temp_dir().join(format!("theater-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.trace"));
        let _ = std::fs::remove_file(&path);
        let mut w = TraceWriter::create(
            &path,
            synth::header(3),
            synth::MANIFEST,
            WriterOptions::default(),
        )
        .unwrap();
        synth::random_run(&mut Rng::new(3), &mut w, 120).unwrap();
        let (summary, _) = w.finish().unwrap();
        TempTrace {
            path,
            head: summary.head.to_hex(),
            events: summary.events,
        }
    }

    fn arg(&self) -> &str {
        self.path.to_str().unwrap()
    }
}

impl Drop for TempTrace {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn damage(path: &Path, f: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = std::fs::read(path).unwrap();
    f(&mut bytes);
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn verify_intact_trace_exits_0_and_prints_the_chain_head() {
    let t = TempTrace::new("intact");
    let out = bin(&["verify", "--integrity-only", t.arg()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains(&t.head), "{stdout}");
    assert!(stdout.contains(&format!("{} events", t.events)), "{stdout}");
}

#[test]
fn verify_flipped_byte_exits_2_naming_offset_and_event() {
    let t = TempTrace::new("flipped");
    // A byte inside the block holding the 40th event: past the manifest, header and
    // early events. The report names the block's offset and its first event.
    let trace = Trace::open(&t.path).unwrap();
    let target = trace.event(40).unwrap().offset;
    let first = (0..=40)
        .find(|&n| trace.event(n).unwrap().offset == target)
        .unwrap();
    drop(trace);
    damage(&t.path, |b| b[target as usize + 12] ^= 0x40);
    let out = bin(&["verify", t.arg()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains(&format!("byte {target}")), "{stderr}");
    assert!(stderr.contains(&format!("(event {first})")), "{stderr}");
    assert!(stderr.contains("checksum"), "{stderr}");
}

#[test]
fn verify_reports_an_altered_event_as_damage_not_as_a_divergence() {
    // One event per block: blocks that small are stored, not compressed, so an event's
    // bytes can be altered in place and the frame's checksum made right, as a tamperer
    // would. The replay meets the altered event before the chain does (at the next
    // block): `verify` still says damage, exit 2, not divergence, exit 1.
    let options = WriterOptions {
        flush_every_events: 1,
        ..WriterOptions::default()
    };
    let path = record_bank_in_blocks("altered", &[OPEN_ALICE, OPEN_BOB, OPEN_ALICE], options);
    let arg = path.to_str().unwrap();
    assert_eq!(bin(&["verify", arg]).status.code(), Some(0));
    damage(&path, |bytes| {
        let mut at = 16;
        while at + 9 <= bytes.len() {
            let len = u32::from_le_bytes(bytes[at + 1..at + 5].try_into().unwrap()) as usize;
            let payload = at + 9..at + 9 + len;
            let found = bytes[payload.clone()]
                .windows(5)
                .position(|w| w == b"alice");
            if let (5, Some(i)) = (bytes[at], found) {
                bytes[payload.start + i] = b'b';
                let mut crc = crc32fast::Hasher::new();
                crc.update(&bytes[at..at + 5]);
                crc.update(&bytes[payload]);
                bytes[at + 5..at + 9].copy_from_slice(&crc.finalize().to_le_bytes());
                return;
            }
            at = payload.end;
        }
        panic!("no stored block holds \"alice\"");
    });
    for jobs in ["1", "2"] {
        let out = bin(&["verify", arg, "--jobs", jobs]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "--jobs {jobs}: {stderr}");
        assert!(stderr.contains("verify failed"), "{stderr}");
        assert!(
            stderr.contains("one of these events was altered"),
            "{stderr}"
        );
    }
}

#[test]
fn a_cut_trace_verifies_up_to_the_cut_and_fails_only_when_completeness_is_required() {
    // Blocks of 4 events; the cut goes into the last one, as a crash mid-write leaves it.
    let options = WriterOptions {
        flush_every_events: 4,
        ..WriterOptions::default()
    };
    let path = record_bank_in_blocks("cut", &[OPEN_ALICE, OPEN_BOB, OPEN_ALICE], options);
    let whole = Trace::open(&path).unwrap();
    let events = whole.event_count();
    // Past the last block's header (frame header and 49 bytes), so what it held is known.
    let block = whole.event(events - 1).unwrap().offset;
    let cut_at = block + 64;
    drop(whole);
    damage(&path, |b| b.truncate(cut_at as usize));
    let arg = path.to_str().unwrap();
    let dump = bin(&["dump", arg, "--count", "3"]);
    assert_eq!(dump.status.code(), Some(0));
    assert!(
        text(&dump.stderr).contains("no valid footer"),
        "{}",
        text(&dump.stderr)
    );
    assert_eq!(text(&dump.stdout).lines().count(), 3);

    let kept = Trace::open(&path).unwrap().event_count();
    assert!(kept > 0 && kept < events, "kept {kept} of {events}");
    let out = bin(&["verify", arg]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains(&format!("integrity ok up to the cut: {kept} events")),
        "{stdout}"
    );
    let lost = events - kept;
    assert!(
        stdout.contains(&format!(
            "lost {} bytes ({lost} event(s)) after byte {block}",
            cut_at - block
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("replay ok: {kept} events re-executed")),
        "{stdout}"
    );

    let strict = bin(&["verify", "--require-complete", arg]);
    assert_eq!(strict.status.code(), Some(2));
    assert!(
        text(&strict.stderr).contains("incomplete"),
        "{}",
        text(&strict.stderr)
    );
}

#[test]
fn dump_json_prints_one_parseable_object_per_event() {
    let t = TempTrace::new("json");
    let out = bin(&["dump", t.arg(), "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = text(&out.stdout);
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len() as u64, t.events);
    assert_eq!(lines.last().unwrap()["digest"], t.head.as_str());
}

#[test]
fn export_json_to_file_matches_dump_json() {
    let t = TempTrace::new("export");
    let json_path = t.path.with_extension("jsonl");
    let out = bin(&[
        "export",
        t.arg(),
        "--format",
        "json",
        "-o",
        json_path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let exported = std::fs::read_to_string(&json_path).unwrap();
    let dumped = text(&bin(&["dump", t.arg(), "--json"]).stdout);
    assert_eq!(exported, dumped);
    let _ = std::fs::remove_file(json_path);
}

#[test]
fn unusable_input_exits_2_with_a_message() {
    let missing = bin(&["verify", "/nonexistent/theater.trace"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        text(&missing.stderr).contains("cannot open"),
        "{}",
        text(&missing.stderr)
    );

    let not_a_trace =
        std::env::temp_dir().join(format!("theater-cli-garbage-{}", std::process::id()));
    std::fs::write(&not_a_trace, b"definitely not a trace file").unwrap();
    let out = bin(&["info", not_a_trace.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("bad magic"),
        "{}",
        text(&out.stderr)
    );
    let _ = std::fs::remove_file(not_a_trace);

    let typo = bin(&["verfy", "x.trace"]);
    assert_eq!(typo.status.code(), Some(2));
    assert!(
        text(&typo.stderr).contains("verify"),
        "clap suggests the right command: {}",
        text(&typo.stderr)
    );
}

/// Records the bank example in-process (the same code `theater run` uses).
fn record_bank(name: &str) -> PathBuf {
    record_bank_with(
        name,
        &[
            r#"{"open": {"name": "alice", "amount": 150}}"#,
            r#"{"open": {"name": "bob", "amount": 1}}"#,
            r#"{"transfer": {"from": "alice", "to": "bob", "amount": 150}}"#,
        ],
    )
}

/// Records the bank example with these inputs.
fn record_bank_with(name: &str, ops: &[&str]) -> PathBuf {
    record_bank_in_blocks(name, ops, WriterOptions::default())
}

fn record_bank_in_blocks(name: &str, ops: &[&str], options: WriterOptions) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("theater-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.trace"));
    let _ = std::fs::remove_file(&path);
    let root = theater_testkit::repo();
    let spec = theater_runtime::SystemSpec {
        mode: theater_trace::RunMode::Simulated,
        seed: 1,
        schedule: Default::default(),
        limits: Default::default(),
        components: vec![theater_runtime::ComponentSpec {
            name: "bank".into(),
            bytes: std::fs::read(root.join("fixtures/components/bank.wasm")).unwrap(),
        }],
        actors: vec![theater_runtime::ActorSpec {
            name: "bank".into(),
            component: "bank".into(),
            init_args: Default::default(),
            restart: theater_trace::RestartPolicy::Permanent,
            fuel_per_delivery: None,
            grants: None,
        }],
    };
    let writer = TraceWriter::create(
        &path,
        theater_runtime::run_header(&spec),
        &spec.manifest_bytes(),
        options,
    )
    .unwrap();
    let mut system =
        theater_runtime::System::new(&spec, theater_runtime::Sink::File(Box::new(writer))).unwrap();
    system.run_until_idle(100).unwrap();
    for op in ops {
        system.inject(0, op.as_bytes().to_vec()).unwrap();
        system.run_until_idle(100).unwrap();
    }
    let (_, sink) = system.finish("done").unwrap();
    let theater_runtime::Sink::File(w) = sink else {
        unreachable!()
    };
    w.finish().unwrap();
    path
}

#[test]
fn verify_re_executes_a_real_run() {
    let path = record_bank("bank-verify");
    let out = bin(&["verify", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("replay ok"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn verify_with_a_swapped_component_reports_the_divergence_and_exits_1() {
    let path = record_bank("bank-swap");
    let counter = theater_testkit::repo().join("fixtures/components/counter.wasm");
    let swap = format!("bank={}", counter.display());
    let out = bin(&["verify", path.to_str().unwrap(), "--swap", &swap]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("divergence at event"), "{stderr}");
    assert!(
        stderr.contains("expected:") && stderr.contains("actual:"),
        "{stderr}"
    );
}

#[test]
fn verify_of_a_trace_that_cannot_be_replayed_exits_2_after_its_integrity_check() {
    // Synthetic traces have a manifest that is not a system spec.
    let t = TempTrace::new("unreplayable");
    let out = bin(&["verify", t.arg()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stdout).contains("integrity ok"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stderr).contains("cannot replay"),
        "{}",
        text(&out.stderr)
    );
}

fn fixture(name: &str) -> String {
    theater_testkit::fixture_trace(name).display().to_string()
}

const OPEN_ALICE: &str = r#"{"open": {"name": "alice", "amount": 150}}"#;
const OPEN_BOB: &str = r#"{"open": {"name": "bob", "amount": 1}}"#;

#[test]
fn diff_exits_0_for_the_same_run_and_1_naming_the_input_that_differs() {
    let bank = fixture("bank-bug.bin");
    let same = bin(&["diff", &bank, &bank]);
    assert_eq!(same.status.code(), Some(0), "{}", text(&same.stderr));
    assert!(
        text(&same.stdout).starts_with("same run"),
        "{}",
        text(&same.stdout)
    );

    let a = record_bank_with(
        "diff-a",
        &[
            OPEN_ALICE,
            OPEN_BOB,
            r#"{"deposit": {"name": "bob", "amount": 5}}"#,
        ],
    );
    let b = record_bank_with(
        "diff-b",
        &[
            OPEN_ALICE,
            OPEN_BOB,
            r#"{"deposit": {"name": "bob", "amount": 6}}"#,
        ],
    );
    let out = bin(&["diff", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    // Setup is events 0-2, init 3-4, then each input is an input, a delivery and outputs:
    // the third input is event 11.
    assert!(
        report.starts_with("first divergence: actor bank #0"),
        "{report}"
    );
    let marked: Vec<&str> = report.lines().filter(|l| l.starts_with("> ")).collect();
    assert_eq!(marked.len(), 2, "{report}");
    assert!(
        marked[0].contains("#11 ") && marked[0].contains("input"),
        "{report}"
    );
    assert!(
        report.contains(r#"{"deposit": {"name": "bob", "amount": 5}}"#),
        "{report}"
    );
    assert!(
        report.contains(r#"{"deposit": {"name": "bob", "amount": 6}}"#),
        "{report}"
    );
    assert!(
        report.contains("summary:") && report.contains("final state"),
        "{report}"
    );
}

#[test]
fn bisect_names_the_culprit_and_exits_1_when_the_predicate_never_holds() {
    let bank = fixture("bank-bug.bin");
    let out = bin(&["bisect", &bank, "--until", "bank:/accounts/alice < 0"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    assert!(report.contains("first holds after event #24"), "{report}");
    assert!(report.contains("caused by input:\n  #23 "), "{report}");
    assert!(report.contains(r#"+    "alice": -1,"#), "{report}");

    let never = bin(&["bisect", &bank, "--until", "failed"]);
    assert_eq!(never.status.code(), Some(1), "{}", text(&never.stderr));
    assert!(text(&never.stdout).contains("never holds"));

    let bad = bin(&["bisect", &bank, "--until", "bank:/accounts/alice <"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr).contains("bad predicate"),
        "{}",
        text(&bad.stderr)
    );
}

#[test]
fn bisect_good_bad_finds_the_first_input_that_changes_the_outcome() {
    let good = record_bank_with(
        "good",
        &[
            OPEN_ALICE,
            OPEN_BOB,
            r#"{"transfer": {"from": "alice", "to": "bob", "amount": 100}}"#,
        ],
    );
    let bad = record_bank_with(
        "bad",
        &[
            OPEN_ALICE,
            OPEN_BOB,
            r#"{"transfer": {"from": "alice", "to": "bob", "amount": 150}}"#,
        ],
    );
    let out = bin(&[
        "bisect",
        "--good",
        good.to_str().unwrap(),
        "--bad",
        bad.to_str().unwrap(),
        "--until",
        "bank:/accounts/alice < 0",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    assert!(report.contains("is input 3"), "{report}");
    assert!(
        report.contains(r#""amount": 150"#) && report.contains(r#""amount": 100"#),
        "{report}"
    );
}

#[test]
fn minimize_writes_a_smaller_trace_that_still_fails_and_verifies() {
    let dir = std::env::temp_dir().join(format!("theater-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out_path = dir.join("minimized.bin");
    let _ = std::fs::remove_file(&out_path);
    let out = bin(&[
        "minimize",
        &fixture("bank-bug.bin"),
        "--until",
        "bank:/accounts/alice < 0",
        "-o",
        out_path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("kept 5 of 8 inputs"),
        "{}",
        text(&out.stdout)
    );
    let verify = bin(&["verify", out_path.to_str().unwrap()]);
    assert_eq!(verify.status.code(), Some(0), "{}", text(&verify.stdout));
    let still = bin(&[
        "bisect",
        out_path.to_str().unwrap(),
        "--until",
        "bank:/accounts/alice < 0",
    ]);
    assert_eq!(still.status.code(), Some(0));
    // An existing output is not replaced without --force.
    let again = bin(&[
        "minimize",
        &fixture("bank-bug.bin"),
        "--until",
        "failed",
        "-o",
        out_path.to_str().unwrap(),
    ]);
    assert_eq!(again.status.code(), Some(2));
    assert!(text(&again.stderr).contains("--force"));
}

/// `dump` of the committed traces, line for line (`THEATER_BLESS=1` to accept a change):
/// every kind of event, payloads inline and as blobs, HTTP traffic, drops.
#[test]
fn dump_matches_its_golden_files() {
    for (trace, golden) in [
        ("bank-bug.bin", "dump-bank-bug.txt"),
        ("supervisor.bin", "dump-supervisor.txt"),
        ("kv-http.bin", "dump-kv-http.txt"),
    ] {
        let out = bin(&["dump", &fixture(trace)]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        theater_testkit::golden(golden, &text(&out.stdout));
    }
}
