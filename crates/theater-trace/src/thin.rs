//! Segments whose large blobs live outside them: the form a segment takes in an object
//! store, where blobs (components, large payloads, large snapshot states) are kept once
//! under a shared prefix, keyed by digest, whatever run or node stored them.
//!
//! [`externalize`] turns a sealed segment into that form: every zblob frame is replaced
//! by an xblob frame (kind 7: the digest and length only), the blocks are copied byte for
//! byte (so the events, the chain and the block checksums are untouched), and the index
//! and footer are rewritten for the new offsets. The zblob frames come out whole, to be
//! stored as objects named by their digests. A reader resolves an xblob through a
//! [`BlobSource`](crate::BlobSource), and checks what it gets against the digest, as it checks a zblob in
//! the file. Blobs small enough to live in a block (at most 16 KiB) stay there: they are
//! compressed with the events around them.
//!
//! The bytes of a segment that is not a local file, and the blobs it names, come
//! through [`crate::source`].

use crate::block::ZBlobHeader;
use crate::digest::Digest;
use crate::error::{Corruption, Problem, TraceError};
use crate::format::{
    push_frame, Footer, FrameKind, IndexV3, FRAME_HEADER_LEN, FRAME_PAYLOAD_MAX_BYTES, HEADER_LEN,
};
use crate::reader::StoredIndex;
use crate::source::{check_fetched, fetch, parse_xblob, xblob_payload, SharedBlobSource};
use crate::Trace;

/// A sealed segment with its zblobs taken out.
#[derive(Debug)]
pub struct Externalized {
    /// The segment with an xblob frame where each zblob was.
    pub thin: Vec<u8>,
    /// Each zblob taken out: its digest, and the whole frame (to be stored as is).
    pub blobs: Vec<(Digest, Vec<u8>)>,
}

/// Takes the zblobs out of a sealed (finished) version 3 segment.
pub fn externalize(bytes: Vec<u8>) -> Result<Externalized, TraceError> {
    let trace = Trace::from_bytes(bytes)?;
    let mut blobs = Vec::new();
    let thin = rewrite(&trace, &mut |frame, out| {
        if frame.kind != FrameKind::ZBlob {
            push_frame(out, frame.kind, &[&frame.payload]);
            return Ok(());
        }
        let z = ZBlobHeader::parse(&frame.payload).map_err(|p| Corruption {
            offset: frame.offset,
            event: None,
            problem: p,
        })?;
        push_frame(
            out,
            FrameKind::XBlob,
            &[&xblob_payload(&z.digest, z.raw_len)],
        );
        let mut whole = Vec::with_capacity(frame.payload.len() + FRAME_HEADER_LEN as usize);
        push_frame(&mut whole, FrameKind::ZBlob, &[&frame.payload]);
        blobs.push((z.digest, whole));
        Ok(())
    })?;
    Ok(Externalized { thin, blobs })
}

/// The inverse of [`externalize`]: a sealed thin segment with every xblob replaced by the
/// zblob it names, fetched from `blobs` and checked, so the segment is a plain trace
/// file again (a resume from a store rebuilds its spool so).
pub fn internalize(bytes: Vec<u8>, blobs: &SharedBlobSource) -> Result<Vec<u8>, TraceError> {
    let trace = Trace::from_bytes(bytes)?;
    rewrite(&trace, &mut |frame, out| {
        if frame.kind != FrameKind::XBlob {
            push_frame(out, frame.kind, &[&frame.payload]);
            return Ok(());
        }
        let corrupt = |problem| -> TraceError {
            Corruption {
                offset: frame.offset,
                event: None,
                problem,
            }
            .into()
        };
        let (digest, raw_len) = parse_xblob(&frame.payload).map_err(corrupt)?;
        let object = fetch(Some(blobs), &digest)?;
        let (z, payload) = check_fetched(&digest, raw_len, &object).map_err(corrupt)?;
        z.content(&payload).map_err(corrupt)?;
        push_frame(out, FrameKind::ZBlob, &[&payload]);
        Ok(())
    })
}

/// What [`rewrite`] does with one frame: append what replaces it.
type EachFrame<'a> =
    dyn FnMut(&crate::reader::RawFrame, &mut Vec<u8>) -> Result<(), TraceError> + 'a;

/// A sealed version 3 trace's frames rewritten one by one by `each` (which appends the
/// frames that replace one), with the index's offsets moved to match and a new footer.
fn rewrite(trace: &Trace, each: &mut EachFrame<'_>) -> Result<Vec<u8>, TraceError> {
    let index = match &trace.stored_index {
        Some(StoredIndex::Blocks(_, index)) if trace.recovery.is_none() => index,
        _ => {
            return Err(TraceError::Misuse(
                "only a sealed version 3 segment (with its index and footer) can be rewritten",
            ))
        }
    };
    let mut index: IndexV3 = index.clone();
    let mut out = crate::format::file_header().to_vec();
    // Old frame offset → new, for every frame.
    let mut moved: Vec<(u64, u64)> = Vec::new();
    for frame in trace.frames() {
        let frame = frame?;
        moved.push((frame.offset, out.len() as u64));
        each(&frame, &mut out)?;
    }
    let map = |old: u64| -> Result<u64, TraceError> {
        moved
            .binary_search_by_key(&old, |m| m.0)
            .map(|i| moved[i].1)
            .map_err(|_| {
                Corruption {
                    offset: old,
                    event: None,
                    problem: Problem::Index("it names an offset where no frame starts".into()),
                }
                .into()
            })
    };
    for b in &mut index.blocks {
        b.1 = map(b.1)?;
    }
    for b in &mut index.blobs {
        b.1 = map(b.1)?;
    }
    let encoded = rmp_serde::to_vec(&index).map_err(|e| TraceError::Segments(e.to_string()))?;
    if encoded.len() as u64 > FRAME_PAYLOAD_MAX_BYTES {
        return Err(TraceError::LimitExceeded {
            limit: "FRAME_PAYLOAD_MAX_BYTES",
            requested: encoded.len() as u64,
            max: FRAME_PAYLOAD_MAX_BYTES,
        });
    }
    let footer = Footer {
        index_offset: out.len() as u64,
        event_count: trace.event_count(),
        head: trace.head(),
    };
    push_frame(&mut out, FrameKind::Index, &[&encoded]);
    push_frame(&mut out, FrameKind::Footer, &[&footer.encode()]);
    debug_assert!(out.len() as u64 >= HEADER_LEN);
    Ok(out)
}
