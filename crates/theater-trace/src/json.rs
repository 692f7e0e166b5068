//! JSON export of events, for other tools.
//!
//! [`export_json_lines`] writes one JSON object per line (JSON Lines), one line per event:
//!
//! ```json
//! {"number":5,"offset":1234,"digest":"<64 hex>","parent":"<64 hex>","kind":"delivered","actor":1,"body":{"Delivered":{...}}}
//! ```
//!
//! `body` is the event body in serde's externally tagged form: the variant name is the
//! key. Digests and byte strings (inline payloads) are lowercase hex strings; blob
//! payloads appear as `{"Blob":{"digest":"<hex>","len":N}}` and are not expanded. The
//! field names are those of the Rust types in [`crate::event`], which are the
//! documentation of each field.

use std::io::Write;

use serde::Serialize;

use crate::digest::Digest;
use crate::error::TraceError;
use crate::event::{ActorId, EventBody};
use crate::reader::{RecordedEvent, Trace};

#[derive(Serialize)]
struct JsonEvent<'a> {
    number: u64,
    offset: u64,
    digest: Digest,
    parent: Digest,
    kind: &'static str,
    actor: Option<ActorId>,
    body: &'a EventBody,
}

/// One event as a JSON object (one line, no trailing newline).
pub fn event_to_json(e: &RecordedEvent) -> String {
    let json = JsonEvent {
        number: e.number,
        offset: e.offset,
        digest: e.digest,
        parent: e.event.parent,
        kind: e.event.body.kind_name(),
        actor: e.event.body.actor(),
        body: &e.event.body,
    };
    serde_json::to_string(&json).expect("event model serializes to JSON")
}

/// Writes every event of `trace` as JSON Lines to `out`; returns the number of events.
pub fn export_json_lines(trace: &Trace, out: &mut dyn Write) -> Result<u64, TraceError> {
    let mut n = 0;
    for event in trace.events() {
        let line = event_to_json(&event?);
        out.write_all(line.as_bytes())
            .and_then(|()| out.write_all(b"\n"))
            .map_err(|e| TraceError::Io {
                context: "writing JSON".into(),
                source: e,
            })?;
        n += 1;
    }
    Ok(n)
}
