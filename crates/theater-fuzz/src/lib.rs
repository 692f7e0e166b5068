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
/// with an untrusted file: header, events, blobs, verify, JSON export. Also decodes
/// `data` as one version 3 event: whatever decodes must re-encode to the same bytes (the
/// encoding is canonical), which a panic here would disprove.
pub fn trace_reader(data: &[u8]) {
    if let Ok(body) = theater_trace::wire::decode_body(data) {
        let again = theater_trace::wire::body_bytes(&body);
        assert_eq!(
            again.as_deref().ok(),
            Some(data),
            "a decoded event re-encodes differently"
        );
    }
    open_trace(data);
    // Mutations almost always break a frame checksum, and then nothing past the frame
    // reader is reached. The same bytes with every checksum repaired reach the block,
    // zblob and event decoders.
    let repaired = repair_checksums(data);
    if repaired != data {
        open_trace(&repaired);
    }
}

/// `data` with the CRC of every frame that fits recomputed.
pub fn repair_checksums(data: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    let mut at = 16usize;
    while at + 9 <= out.len() {
        let len = u32::from_le_bytes([out[at + 1], out[at + 2], out[at + 3], out[at + 4]]) as usize;
        let Some(end) = (at + 9).checked_add(len).filter(|&e| e <= out.len()) else {
            break;
        };
        let mut crc = crc32fast::Hasher::new();
        crc.update(&out[at..at + 5]);
        crc.update(&out[at + 9..end]);
        out[at + 5..at + 9].copy_from_slice(&crc.finalize().to_le_bytes());
        at = end;
    }
    out
}

fn open_trace(data: &[u8]) {
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
