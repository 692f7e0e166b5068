//! Format versions 1 and 2: their event encoding and digests, and a writer of version 2
//! for comparing the formats side by side and testing the version 2 reader.

use crate::digest::Digest;
use crate::error::TraceError;
use crate::event::{Event, Payload, LEGACY_INLINE_PAYLOAD_MAX_BYTES};
use crate::format::{file_header, push_frame, Footer, FrameKind, IndexRecord};
use crate::reader::Trace;

pub use crate::codec::legacy::{
    decode_event, encode_event, event_bytes, event_digest, EVENT_DIGEST_CONTEXT,
};

/// Writes the events and blobs of `trace` as a version 2 trace (one frame per event,
/// uncompressed blobs, an index entry every 1024 events), in memory: what this crate
/// wrote before version 3. For comparing the formats side by side (benchmarks) and for
/// testing the version 2 reader on generated traces; nothing records in version 2.
pub fn write_v2(trace: &Trace) -> Result<Vec<u8>, TraceError> {
    const EVERY: u32 = 1024;
    let mut out = file_header().to_vec();
    out[8..12].copy_from_slice(&2u32.to_le_bytes());
    let crc = crc32fast::hash(&out[..12]);
    out[12..16].copy_from_slice(&crc.to_le_bytes());
    let mut blobs = std::collections::BTreeMap::new();
    let mut event_offsets = Vec::new();
    let (mut parent, mut events) = (Digest::ZERO, 0u64);
    let mut encoded = Vec::new();
    for e in trace.events() {
        let mut e = e?;
        // Version 2 inlined at most 32 bytes: longer payloads become blobs.
        let mut long = Vec::new();
        e.event.body.for_each_payload_mut(|p| {
            if let Payload::Inline(b) = p {
                if b.0.len() > LEGACY_INLINE_PAYLOAD_MAX_BYTES {
                    let bytes = std::mem::take(&mut b.0);
                    let digest = Digest::of(&bytes);
                    *p = Payload::Blob {
                        digest,
                        len: bytes.len() as u64,
                    };
                    long.push((digest, bytes));
                }
            }
        });
        for (d, bytes) in long {
            if let std::collections::btree_map::Entry::Vacant(v) = blobs.entry(d) {
                v.insert((out.len() as u64, bytes.len() as u64));
                push_frame(&mut out, FrameKind::Blob, &[&d.0, &bytes]);
            }
        }
        let mut missing = Vec::new();
        e.event.body.for_each_blob_ref(|d| {
            if !blobs.contains_key(d) {
                missing.push(*d);
            }
        });
        for d in missing {
            if blobs.contains_key(&d) {
                continue; // referenced twice by this event
            }
            let bytes = trace
                .blob(&d)?
                .ok_or(TraceError::UnknownBlob { digest: d })?;
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
