//! Verifying format versions 1 and 2: every frame, event digest, parent link and blob.

use std::collections::BTreeMap;

use crate::codec::legacy::{decode_event, event_bytes, event_digest};
use crate::digest::{Digest, DIGEST_LEN};
use crate::error::{Corruption, Problem, TraceError};
use crate::event::{EventBody, LEGACY_INLINE_PAYLOAD_MAX_BYTES};
use crate::format::{FrameKind, HEADER_LEN};
use crate::reader::{Layout, StoredIndex, Trace};

use super::{check_payloads, incomplete, same_length, VerifyReport};

impl Trace {
    /// [`Trace::verify`] for versions 1 and 2.
    pub(super) fn verify_frames(
        &self,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<VerifyReport, TraceError> {
        let every = match &self.layout {
            Layout::Frames { every, .. } => *every,
            Layout::Blocks(_) => 1,
        };
        let mut check = Checker::default();
        let total = self.frames_end;
        // Offset and digest of the last event checked.
        let mut previous: Option<(u64, Digest)> = None;
        for frame in self.frames() {
            let frame = frame.map_err(|e| match e {
                TraceError::Corrupt(mut c) => {
                    c.event.get_or_insert(check.events);
                    TraceError::Corrupt(c)
                }
                other => other,
            })?;
            let corrupt = |event, problem| -> TraceError {
                Corruption {
                    offset: frame.offset,
                    event,
                    problem,
                }
                .into()
            };
            match frame.kind {
                FrameKind::Blob => check
                    .blob(&frame.payload, frame.offset)
                    .map_err(|p| corrupt(None, p))?,
                FrameKind::Event => {
                    let n = check.events;
                    match check.event(&frame.payload, frame.offset, every) {
                        Ok(()) => previous = Some((frame.offset, check.head)),
                        Err(Problem::BrokenChain { expected, found }) => {
                            return Err(self.locate_break(n, previous, &frame, expected, found))
                        }
                        Err(p) => return Err(corrupt(Some(n), p)),
                    }
                }
                FrameKind::Index
                | FrameKind::Footer
                | FrameKind::Block
                | FrameKind::ZBlob
                | FrameKind::XBlob => {
                    return Err(corrupt(
                        Some(check.events),
                        Problem::UnexpectedFrame {
                            expected: "blob or event",
                            found: frame.kind.name(),
                        },
                    ))
                }
            }
            progress(frame.next_offset(), total);
        }
        if let Some(r) = &self.recovery {
            return Err(incomplete(r, check.events));
        }
        self.check_index(&check)?;
        Ok(VerifyReport {
            events: check.events,
            blobs: check.blobs.len() as u64,
            blob_bytes: check.blobs.values().map(|&(_, len)| len).sum(),
            file_bytes: self.file_len,
            head: check.head,
            threads: 1,
            inline_blocks: 0,
            vouched_events: 0,
        })
    }

    /// Event `n` (in `frame`) does not name the previous event's digest as its parent.
    /// Either the previous event was altered (or events went missing after it), or this
    /// one was altered or moved. When this event's own digest is what the next event (or
    /// the footer, for the last one) records, the chain from here on is intact, so the
    /// previous event is named; otherwise this one.
    fn locate_break(
        &self,
        n: u64,
        previous: Option<(u64, Digest)>,
        frame: &crate::reader::RawFrame,
        expected: Digest,
        found: Digest,
    ) -> TraceError {
        let own = event_digest(&frame.payload);
        let next_parent = match self.event(n + 1) {
            Ok(next) => Some(next.event.parent),
            Err(_) if n + 1 == self.event_count && self.recovery.is_none() => Some(self.head),
            Err(_) => None,
        };
        match previous {
            Some((offset, actual)) if next_parent == Some(own) => Corruption {
                offset,
                event: Some(n - 1),
                problem: Problem::AlteredEvent {
                    recorded: found,
                    actual,
                },
            }
            .into(),
            _ => Corruption {
                offset: frame.offset,
                event: Some(n),
                problem: Problem::BrokenChain { expected, found },
            }
            .into(),
        }
    }

    fn check_index(&self, check: &Checker) -> Result<(), TraceError> {
        let Some(StoredIndex::Frames(index_offset, index)) = &self.stored_index else {
            return Ok(());
        };
        let mismatch = |what: String| -> TraceError {
            Corruption {
                offset: *index_offset,
                event: None,
                problem: Problem::Index(what),
            }
            .into()
        };
        if index.event_count != check.events {
            return Err(mismatch(format!(
                "it counts {} events, the frames hold {}",
                index.event_count, check.events
            )));
        }
        if index.head != check.head {
            return Err(mismatch(format!(
                "its chain head is {}, the last event's digest is {}",
                index.head, check.head
            )));
        }
        if index.event_offsets != check.event_offsets {
            return Err(mismatch("event offsets differ from the frames".into()));
        }
        let blobs: Vec<(Digest, u64, u64)> =
            check.blobs.iter().map(|(d, &(o, l))| (*d, o, l)).collect();
        if index.blobs != blobs {
            return Err(mismatch("blob table differs from the frames".into()));
        }
        Ok(())
    }
}

/// State of a verification pass.
#[derive(Default)]
struct Checker {
    events: u64,
    head: Digest,
    event_offsets: Vec<u64>,
    /// digest → (offset, len)
    blobs: BTreeMap<Digest, (u64, u64)>,
}

impl Checker {
    fn blob(&mut self, payload: &[u8], offset: u64) -> Result<(), Problem> {
        if payload.len() < DIGEST_LEN {
            return Err(Problem::Index("blob frame shorter than a digest".into()));
        }
        let (stored, bytes) = payload.split_at(DIGEST_LEN);
        let stored = Digest(stored.try_into().unwrap_or_default());
        let computed = Digest::of(bytes);
        if stored != computed {
            return Err(Problem::BlobDigest { stored, computed });
        }
        if self
            .blobs
            .insert(stored, (offset, bytes.len() as u64))
            .is_some()
        {
            return Err(Problem::DuplicateBlob(stored));
        }
        Ok(())
    }

    fn event(&mut self, payload: &[u8], offset: u64, every: u32) -> Result<(), Problem> {
        debug_assert!(offset >= HEADER_LEN);
        let event = decode_event(payload).map_err(Problem::UndecodableEvent)?;
        if event_bytes(&event) != payload {
            return Err(Problem::NonCanonicalEvent(
                "re-encoding the decoded event gives different bytes",
            ));
        }
        if event.parent != self.head {
            return Err(Problem::BrokenChain {
                expected: self.head,
                found: event.parent,
            });
        }
        let is_header = matches!(event.body, EventBody::RunStarted(_));
        if is_header != (self.events == 0) {
            return Err(Problem::MisplacedHeader);
        }
        let mut problem = None;
        event.body.for_each_blob_ref(|d| {
            if problem.is_none() && !self.blobs.contains_key(d) {
                problem = Some(Problem::MissingBlob(*d));
            }
        });
        if let Some(p) = problem {
            return Err(p);
        }
        check_payloads(&event.body, LEGACY_INLINE_PAYLOAD_MAX_BYTES, |d, len| {
            same_length(d, self.blobs.get(d).map(|&(_, l)| l), len)
        })?;
        if self.events.is_multiple_of(u64::from(every.max(1))) {
            self.event_offsets.push(offset);
        }
        self.events += 1;
        self.head = event_digest(payload);
        Ok(())
    }
}
