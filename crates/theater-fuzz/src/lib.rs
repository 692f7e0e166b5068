//! The bodies of Theater's fuzz targets. `fuzz/` (cargo-fuzz, nightly) calls them under
//! libFuzzer; `tests/smoke.rs` calls them on stable over the committed seed corpus and a
//! bounded number of generated inputs, so CI runs them on every change.
//!
//! Each target must never panic, hang or allocate without bound on any input.

use std::path::Path;

use theater_debugger::command::{help, parse_command};
use theater_debugger::{Breakpoint, Predicate};
use theater_trace::{export_json_lines, Trace};

/// Events read from one fuzzed trace at most (its length bounds them anyway).
const EVENTS_MAX: usize = 10_000;

/// Opens `data` as a trace and exercises everything a developer's `theater-replay` does
/// with an untrusted file: header, events, blobs, verify, JSON export.
pub fn trace_reader(data: &[u8]) {
    let Ok(trace) = Trace::from_bytes(data.to_vec()) else {
        return;
    };
    let _ = trace.header();
    let _ = trace.recovery();
    for e in trace.events().take(EVENTS_MAX) {
        let Ok(e) = e else { break };
        e.event.body.for_each_blob_ref(|d| {
            let _ = trace.blob(d);
        });
        let _ = e.event.body.to_string();
    }
    let _ = trace.event(trace.event_count() / 2);
    let _ = trace.verify();
    let _ = export_json_lines(&trace, &mut std::io::sink());
}

/// Parses `data` as a manifest (component files are never read: a stand-in reader
/// answers).
pub fn manifest(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut read = |p: &Path| -> std::io::Result<Vec<u8>> {
        if p.to_string_lossy().contains("missing") {
            Err(std::io::Error::from(std::io::ErrorKind::NotFound))
        } else {
            Ok(b"\0asm\x01\0\0\0".to_vec())
        }
    };
    let _ = theater::manifest::parse_with(text, Path::new("."), &mut read);
}

/// Parses every line of `data` as a REPL command, and as a predicate and a breakpoint.
pub fn repl_command(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for line in text.lines().take(1_000) {
        if let Ok(Some(_)) = parse_command(line) {
            let _ = help(line.split_whitespace().next());
        }
        let _ = line.parse::<Predicate>();
        let _ = Breakpoint::parse(line);
    }
}
