//! Reading format versions 1 and 2: one frame per event, uncompressed blobs, each event
//! storing its parent's digest.
//!
//! State digests in these versions are 32 bytes; they are read as the 128-bit state
//! digests of version 3 ([`crate::truncate_state`]), so a replay, a diff or a conversion
//! compares them with what today's runtime computes. The event digests (the chain) are
//! those of the bytes as stored.

use std::collections::BTreeMap;

use crate::codec::legacy::{decode_event, event_digest};
use crate::codec::truncate_state;
use crate::digest::{Digest, DIGEST_LEN};
use crate::error::{Corruption, Problem, TraceError};
use crate::event::{Event, EventBody};
use crate::format::{Footer, FrameKind, IndexRecord, FRAME_HEADER_LEN, HEADER_LEN};

use super::frames::{FrameReader, Source};
use super::{BlobLocation, Events, Layout, Opened, RecordedEvent, Recovery, StoredIndex};

/// Spacing of the seek index a scan builds, in events.
const SCAN_INDEX_EVERY: u32 = 1024;

/// Decodes a version 1/2 event as the rest of the crate sees it.
pub(crate) fn decode(payload: &[u8]) -> Result<Event, String> {
    let mut event = decode_event(payload)?;
    if let EventBody::Outputs(o) = &mut event.body {
        o.state = truncate_state(o.state);
    }
    Ok(event)
}

/// Takes a finished trace's footer and index payload; `None` if they are inconsistent.
pub(super) fn from_index(footer: &Footer, payload: &[u8]) -> Option<Opened> {
    let index: IndexRecord = rmp_serde::from_slice(payload).ok()?;
    let expected_offsets = index.event_count.div_ceil(u64::from(index.every.max(1)));
    let consistent = index.every > 0
        && index.event_count == footer.event_count
        && index.head == footer.head
        && index.event_offsets.len() as u64 == expected_offsets
        && index
            .event_offsets
            .iter()
            .all(|&o| o >= HEADER_LEN && o < footer.index_offset);
    consistent.then(|| Opened {
        frames_end: footer.index_offset,
        layout: Layout::Frames {
            every: index.every,
            event_offsets: index.event_offsets.clone(),
        },
        event_count: footer.event_count,
        head: footer.head,
        blobs: index
            .blobs
            .iter()
            .map(|&(d, offset, len)| {
                (
                    d,
                    BlobLocation {
                        offset,
                        len,
                        at: None,
                    },
                )
            })
            .collect(),
        recovery: None,
        stored_index: Some(StoredIndex::Frames(footer.index_offset, index)),
    })
}

/// Opens a version 1/2 trace without a valid footer by walking its frames.
pub(super) fn scan(source: &Source, file_len: u64) -> Result<Opened, TraceError> {
    let every = SCAN_INDEX_EVERY;
    let mut event_offsets = Vec::new();
    let mut blobs = BTreeMap::new();
    let mut events = 0u64;
    let mut head = Digest::ZERO;
    let mut offset = HEADER_LEN;
    let mut reader = FrameReader::new(source, file_len);
    let stop_reason = loop {
        if offset == file_len {
            break "the file ends after the last complete frame".to_string();
        }
        let frame = match reader.frame(offset) {
            Ok(f) => f,
            Err(TraceError::Corrupt(c)) => break c.problem.to_string(),
            Err(e) => return Err(e),
        };
        match frame.kind {
            FrameKind::Event => {
                if events.is_multiple_of(u64::from(every)) {
                    event_offsets.push(offset);
                }
                head = event_digest(&frame.payload);
                events += 1;
            }
            FrameKind::Blob => {
                if frame.payload.len() < DIGEST_LEN {
                    break "blob frame shorter than a digest".to_string();
                }
                let digest = Digest(frame.payload[..DIGEST_LEN].try_into().unwrap_or_default());
                blobs.entry(digest).or_insert(BlobLocation {
                    offset,
                    len: (frame.payload.len() - DIGEST_LEN) as u64,
                    at: None,
                });
            }
            // An index ends the frames. Without a valid footer after it (the writer died
            // between the two, or the footer is damaged) it adds nothing the scan does
            // not know, so it is dropped with the footer.
            FrameKind::Index => {
                break "the footer after the index is missing or damaged".to_string()
            }
            FrameKind::Footer => break "a footer that does not match the trace".to_string(),
            FrameKind::Block | FrameKind::ZBlob | FrameKind::XBlob => {
                break format!(
                    "a {} frame, which versions 1 and 2 do not have",
                    frame.kind.name()
                )
            }
        }
        offset = frame.next_offset();
    };
    let dropped_events = u64::from(
        offset < file_len && {
            let mut kind = [0u8];
            source.read_at(offset, &mut kind)?;
            kind[0] == FrameKind::Event as u8
        },
    );
    Ok(Opened {
        frames_end: offset,
        layout: Layout::Frames {
            every,
            event_offsets,
        },
        event_count: events,
        head,
        blobs,
        recovery: Some(Recovery {
            valid_bytes: offset,
            dropped_bytes: file_len - offset,
            dropped_events,
            reason: stop_reason,
        }),
        stored_index: None,
    })
}

impl Events<'_> {
    /// Advances one frame of a version 1/2 trace; returns an event when the frame was
    /// one to yield.
    pub(super) fn step_frame(&mut self) -> Result<Option<RecordedEvent>, TraceError> {
        let offset = self.offset;
        let header = self.reader.header(offset)?;
        self.offset += header.frame_len();
        // Every frame passed over is checked: a damaged kind byte must not turn an event
        // into something skipped, or shift the numbering of the events after it.
        let payload = self.reader.bytes(offset + FRAME_HEADER_LEN, header.len)?;
        header.check(offset, payload)?;
        match header.kind {
            FrameKind::Event => {}
            FrameKind::Blob => return Ok(None),
            other => {
                return Err(Corruption {
                    offset,
                    event: Some(self.number),
                    problem: Problem::UnexpectedFrame {
                        expected: "blob or event",
                        found: other.name(),
                    },
                }
                .into())
            }
        }
        let number = self.number;
        self.number += 1;
        if number < self.skip_to {
            return Ok(None);
        }
        let digest = event_digest(payload);
        let event = decode(payload).map_err(|why| Corruption {
            offset,
            event: Some(number),
            problem: Problem::UndecodableEvent(why),
        })?;
        Ok(Some(RecordedEvent {
            number,
            offset,
            digest,
            event,
        }))
    }
}
