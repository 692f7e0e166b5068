//! The canonical event encoding of format versions 1 and 2, and their event digests.
//!
//! An event is encoded with MessagePack (rmp-serde's compact form: structs as arrays,
//! enum variants by name, integers in their shortest form, byte strings as `bin`). That
//! encoding is a function of the event's value alone — no maps, no floats, no
//! platform-sized integers — so the same events always produce the same bytes.
//!
//! The digest of an event is blake3 in key-derivation mode over its encoding, with a
//! context string of its own, so an event digest can never equal a blob digest.

use crate::digest::Digest;
use crate::event::Event;

/// blake3 key-derivation context for event digests.
pub const EVENT_DIGEST_CONTEXT: &str = "theater.trace 2026-11 event digest v1";

/// Appends the canonical encoding of `event` to `out`.
pub fn encode_event(event: &Event, out: &mut Vec<u8>) {
    // Writing into a Vec cannot fail, and every type in the event model is serializable.
    rmp_serde::encode::write(out, event).expect("encoding an Event into a Vec cannot fail");
}

/// The canonical encoding of `event`.
pub fn event_bytes(event: &Event) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    encode_event(event, &mut out);
    out
}

/// Decodes an event; the error says why the bytes are not an event. Decoding borrows
/// from `bytes`, so no length claimed inside them can make it allocate more than
/// `bytes.len()`. Trailing bytes are caught by the canonical check in `verify`.
pub fn decode_event(bytes: &[u8]) -> Result<Event, String> {
    rmp_serde::from_slice(bytes).map_err(|e| e.to_string())
}

/// The digest of an encoded event: the link its child stores as `parent`.
pub fn event_digest(encoded: &[u8]) -> Digest {
    let mut h = blake3::Hasher::new_derive_key(EVENT_DIGEST_CONTEXT);
    h.update(encoded);
    Digest(*h.finalize().as_bytes())
}

/// Writes the events and blobs of `trace` as a version 2 trace (one frame per event,
/// uncompressed blobs, an index entry every 1024 events), in memory: what this crate
/// wrote before version 3. For comparing the formats side by side (benchmarks) and for
/// testing the version 2 reader on generated traces; nothing records in version 2.
pub fn write_v2(trace: &crate::Trace) -> Result<Vec<u8>, crate::TraceError> {
    use crate::format::{push_frame, Footer, FrameKind, IndexRecord};

    const EVERY: u32 = 1024;
    let mut out = crate::format::file_header().to_vec();
    out[8..12].copy_from_slice(&2u32.to_le_bytes());
    let crc = crc32fast::hash(&out[..12]);
    out[12..16].copy_from_slice(&crc.to_le_bytes());
    let mut blobs = std::collections::BTreeMap::new();
    let mut event_offsets = Vec::new();
    let (mut parent, mut events) = (Digest::ZERO, 0u64);
    let mut encoded = Vec::new();
    for e in trace.events() {
        let e = e?;
        let mut missing = Vec::new();
        e.event.body.for_each_blob_ref(|d| {
            if !blobs.contains_key(d) {
                missing.push(*d);
            }
        });
        for d in missing {
            let bytes = trace
                .blob(&d)?
                .ok_or(crate::TraceError::UnknownBlob { digest: d })?;
            blobs.insert(d, (out.len() as u64, bytes.len() as u64));
            push_frame(&mut out, FrameKind::Blob, &[&d.0, &bytes]);
        }
        if events.is_multiple_of(u64::from(EVERY)) {
            event_offsets.push(out.len() as u64);
        }
        let event = Event {
            parent,
            body: e.event.body,
        };
        encoded.clear();
        encode_event(&event, &mut encoded);
        push_frame(&mut out, FrameKind::Event, &[&encoded]);
        parent = event_digest(&encoded);
        events += 1;
    }
    let index = IndexRecord {
        every: EVERY,
        event_count: events,
        head: parent,
        event_offsets,
        blobs: blobs.iter().map(|(d, &(o, l))| (*d, o, l)).collect(),
    };
    let index_offset = out.len() as u64;
    let encoded = rmp_serde::to_vec(&index).expect("encoding the index into a Vec cannot fail");
    push_frame(&mut out, FrameKind::Index, &[&encoded]);
    let footer = Footer {
        index_offset,
        event_count: events,
        head: parent,
    }
    .encode();
    push_frame(&mut out, FrameKind::Footer, &[&footer]);
    Ok(out)
}
