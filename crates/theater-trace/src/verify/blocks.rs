//! Verifying format version 3: blocks, zblobs, the derived chain.
//!
//! The chain is recomputed from the first event on. At every block boundary the chain
//! value the block's header records must be the one its predecessors hash to, and after
//! the last block the footer's head must be; a mismatch names the events between the
//! last boundary that held and this one ([`Problem::AlteredBlock`]).

use std::collections::BTreeMap;

use crate::block::{Block, BlockHeader, Record, ZBlobHeader};
use crate::codec::chain_link;
use crate::codec::wire::{body_bytes, decode_body};
use crate::digest::Digest;
use crate::error::{Corruption, Problem, TraceError};
use crate::event::{EventBody, INLINE_PAYLOAD_MAX_BYTES};
use crate::format::{FrameKind, IndexV3};
use crate::kinds::KindCounts;
use crate::reader::{BlockEntry, Decoded, RawFrame, StoredIndex, Trace};

use super::{check_payloads, incomplete, same_length, VerifyReport};

/// State of a verification pass (of the whole trace, or of one range of its blocks:
/// see `super::parallel`).
#[derive(Debug, Default)]
pub(super) struct Checker {
    pub(super) events: u64,
    pub(super) chain: Digest,
    /// (first event, offset, chain before) of every block.
    pub(super) blocks: Vec<(u64, u64, Digest)>,
    /// digest → (frame offset, len, where it starts in its block)
    pub(super) blobs: BTreeMap<Digest, (u64, u64, Option<u32>)>,
    /// The number of every snapshot event.
    pub(super) snapshots: Vec<u64>,
    /// The kinds of every block's events, as the index lists them.
    pub(super) kinds: Vec<Vec<(u8, u32)>>,
    /// Events a replay vouched for, checked without decoding (see `super::inline`).
    pub(super) vouched: u64,
    /// The first event's number, once the first block is read: 0, or where a segment
    /// starts (its first block's header says; its first event must agree).
    pub(super) start: Option<u64>,
    /// For a range that does not start at the first block: references to blobs stored
    /// before the range, to be checked once the ranges before it are (the blob, and the
    /// length a payload gives it). `None`: such a reference is an error here.
    pub(super) deferred: Option<Vec<(Digest, Option<u64>)>>,
}

impl Trace {
    /// [`Trace::verify`] for version 3.
    pub(super) fn verify_blocks(
        &self,
        jobs: usize,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<VerifyReport, TraceError> {
        let (check, threads) = match self.check_blocks_parallel(jobs, progress) {
            Some(checked) => checked,
            // One thread, or a problem in some range: the one-thread pass finds the
            // first problem in trace order.
            None => (
                self.check_blocks(Checker::default(), self.frames(), progress)?,
                1,
            ),
        };
        self.blocks_report(check, threads)
    }

    /// Checks `frames` with `check`, calling `progress` after each.
    pub(super) fn check_blocks(
        &self,
        mut check: Checker,
        frames: impl Iterator<Item = Result<RawFrame, TraceError>>,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Checker, TraceError> {
        let total = self.frames_end;
        for frame in frames {
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
                FrameKind::ZBlob => check.blob(&frame).map_err(|p| corrupt(None, p))?,
                FrameKind::XBlob => {
                    let (digest, raw_len) =
                        crate::source::parse_xblob(&frame.payload).map_err(|p| corrupt(None, p))?;
                    let object = crate::source::fetch(self.external.as_ref(), &digest)?;
                    check
                        .external_blob(&frame, &digest, raw_len, &object)
                        .map_err(|p| corrupt(None, p))?
                }
                FrameKind::Block => check.block(&frame)?,
                other => {
                    return Err(corrupt(
                        Some(check.events),
                        Problem::UnexpectedFrame {
                            expected: "block or zblob",
                            found: other.name(),
                        },
                    ))
                }
            }
            progress(frame.next_offset(), total);
        }
        Ok(check)
    }

    /// What the whole pass found, once every frame checked: the ends and the index.
    pub(super) fn blocks_report(
        &self,
        check: Checker,
        threads: usize,
    ) -> Result<VerifyReport, TraceError> {
        if let Some(r) = &self.recovery {
            return Err(incomplete(r, check.events));
        }
        if check.chain != self.head {
            return Err(check.altered_last(self.head));
        }
        if let Some(StoredIndex::Blocks(offset, index)) = &self.stored_index {
            check_index(*offset, index, &check)?;
        }
        Ok(VerifyReport {
            events: check.events,
            blobs: check.blobs.len() as u64,
            blob_bytes: check.blobs.values().map(|&(_, len, _)| len).sum(),
            file_bytes: self.file_len,
            head: check.chain,
            threads,
            inline_blocks: 0,
            vouched_events: 0,
        })
    }
}

impl Checker {
    /// A checker for a range that starts at block `b` of a trace whose first block
    /// starts at event `first`: blobs stored before the range are checked when the
    /// ranges are joined (`super::parallel::join`).
    pub(super) fn at_block(b: &BlockEntry, first: u64) -> Checker {
        Checker {
            events: b.first,
            chain: b.chain_before,
            start: Some(first),
            deferred: Some(Vec::new()),
            ..Checker::default()
        }
    }

    fn blob(&mut self, frame: &RawFrame) -> Result<(), Problem> {
        let header = ZBlobHeader::parse(&frame.payload)?;
        self.zblob(frame.offset, header, &frame.payload)
    }

    /// A zblob's bytes checked against its digest, and the blob counted at `offset`
    /// (once: a blob stored twice is damage).
    fn zblob(&mut self, offset: u64, header: ZBlobHeader, payload: &[u8]) -> Result<(), Problem> {
        header.content(payload)?;
        if self
            .blobs
            .insert(header.digest, (offset, header.raw_len, None))
            .is_some()
        {
            return Err(Problem::DuplicateBlob(header.digest));
        }
        Ok(())
    }

    /// An xblob frame: the blob it names, fetched from the store, checked as a zblob in
    /// the file would be, and counted where the xblob stands.
    fn external_blob(
        &mut self,
        frame: &RawFrame,
        digest: &Digest,
        raw_len: u64,
        object: &[u8],
    ) -> Result<(), Problem> {
        let (header, payload) = crate::source::check_fetched(digest, raw_len, object)?;
        self.zblob(frame.offset, header, &payload)
    }

    fn block(&mut self, frame: &RawFrame) -> Result<(), TraceError> {
        let block = Block::decode(&frame.payload)
            .map_err(|p| corrupt_at(frame.offset, Some(self.events), p))?;
        let records = block
            .records()
            .map_err(|p| corrupt_at(frame.offset, Some(self.events), p))?;
        self.records(frame.offset, &block.header, &block.raw, &records, None)
    }

    /// A block a reader decoded (its frame checksum checked on the way): checked as
    /// [`Checker::block`] checks one, with the chain values the reader computed.
    pub(super) fn decoded_block(&mut self, offset: u64, block: &Decoded) -> Result<(), TraceError> {
        self.records(
            offset,
            &block.header,
            &block.raw,
            &block.records,
            Some(block),
        )
    }

    /// The records of the block at `offset`, in order: its blobs counted, its events
    /// checked and chained (`decoded`: the block as a reader decoded it, with its chain
    /// values and the events a replay vouched for).
    fn records(
        &mut self,
        offset: u64,
        h: &BlockHeader,
        raw: &[u8],
        records: &[Record],
        decoded: Option<&Decoded>,
    ) -> Result<(), TraceError> {
        let digests = decoded.map(Decoded::digests);
        let corrupt = |event, problem| corrupt_at(offset, event, problem);
        if self.start.is_none() {
            self.start = Some(h.first_event);
            self.events = h.first_event;
            self.chain = h.chain_before;
        }
        if h.first_event != self.events {
            return Err(corrupt(
                Some(self.events),
                Problem::BlockNumbering {
                    expected: self.events,
                    found: h.first_event,
                },
            ));
        }
        if h.chain_before != self.chain {
            return Err(self.altered_last(h.chain_before));
        }
        self.blocks.push((h.first_event, offset, h.chain_before));
        let mut kinds = KindCounts::default();
        let mut n = 0;
        for record in records {
            let bytes = &raw[record.range.clone()];
            if record.blob {
                let digest = Digest::of(bytes);
                let at = Some(record.range.start as u32);
                if self
                    .blobs
                    .insert(digest, (offset, bytes.len() as u64, at))
                    .is_some()
                {
                    return Err(corrupt(None, Problem::DuplicateBlob(digest)));
                }
                continue;
            }
            let snapshot = if decoded.is_some_and(|d| d.is_vouched(n)) {
                self.vouched += 1;
                self.vouched_event()
            } else {
                self.event(bytes)
            }
            .map_err(|p| corrupt(Some(self.events), p))?;
            kinds.add(bytes.first().copied().unwrap_or(u8::MAX));
            if snapshot {
                self.snapshots.push(self.events);
            }
            self.chain = match digests.and_then(|d| d.get(n)) {
                Some(d) => *d,
                None => chain_link(&self.chain, bytes),
            };
            n += 1;
            self.events += 1;
        }
        self.kinds.push(kinds.to_wire());
        Ok(())
    }

    /// Checks an event a replay vouched for: it is canonical (the replay encoded it to
    /// these bytes) and [`vouchable`](super::vouchable) (neither a header nor a snapshot, no blob
    /// referenced, every payload as the format wants it), so what is left of
    /// [`Checker::event`] is where it stands. Never a snapshot.
    fn vouched_event(&self) -> Result<bool, Problem> {
        let at_start = self.start == Some(self.events);
        if self.events == 0 || (at_start && self.events > 0) {
            return Err(Problem::MisplacedHeader);
        }
        Ok(false)
    }

    /// Checks one event; whether it is a snapshot.
    fn event(&mut self, bytes: &[u8]) -> Result<bool, Problem> {
        let body = decode_body(bytes).map_err(Problem::UndecodableEvent)?;
        if body_bytes(&body).ok().as_deref() != Some(bytes) {
            return Err(Problem::NonCanonicalEvent(
                "re-encoding the decoded event gives different bytes",
            ));
        }
        let is_header = matches!(body, EventBody::RunStarted(_));
        let at_start = self.start == Some(self.events);
        if is_header != (self.events == 0) {
            return Err(Problem::MisplacedHeader);
        }
        // A segment after the first starts with `SegmentStarted`, which names the chain
        // value before it; nothing else may.
        let segment_start = match &body {
            EventBody::SegmentStarted { previous_head, .. } => Some(*previous_head),
            _ => None,
        };
        let misplaced = match segment_start {
            Some(previous) => !at_start || self.events == 0 || previous != self.chain,
            None => at_start && self.events > 0,
        };
        if misplaced {
            return Err(Problem::MisplacedHeader);
        }
        let mut problem = None;
        let (blobs, deferred) = (&self.blobs, &mut self.deferred);
        body.for_each_blob_ref(|d| match deferred {
            _ if blobs.contains_key(d) => {}
            Some(later) => later.push((*d, None)),
            None => {
                problem.get_or_insert(Problem::MissingBlob(*d));
            }
        });
        if let Some(p) = problem {
            return Err(p);
        }
        check_payloads(&body, INLINE_PAYLOAD_MAX_BYTES, |digest, len| {
            match (blobs.get(digest), deferred.as_mut()) {
                (None, Some(later)) => {
                    later.push((*digest, Some(len)));
                    Ok(())
                }
                (stored, _) => same_length(digest, stored.map(|&(_, l, _)| l), len),
            }
        })?;
        Ok(matches!(body, EventBody::Snapshot { .. }))
    }

    /// The events of the last block checked do not hash to `recorded`, the chain value
    /// recorded after them.
    fn altered_last(&self, recorded: Digest) -> TraceError {
        let (first, offset) = self
            .blocks
            .last()
            .map_or((0, 0), |&(first, offset, _)| (first, offset));
        Corruption {
            offset,
            event: Some(first),
            problem: Problem::AlteredBlock {
                first,
                last: self.events.saturating_sub(1),
                recorded,
                actual: self.chain,
            },
        }
        .into()
    }
}

pub(super) fn check_index(
    index_offset: u64,
    index: &IndexV3,
    check: &Checker,
) -> Result<(), TraceError> {
    let mismatch = |what: String| -> TraceError {
        Corruption {
            offset: index_offset,
            event: None,
            problem: Problem::Index(what),
        }
        .into()
    };
    if index.event_count != check.events {
        return Err(mismatch(format!(
            "it counts {} events, the blocks hold {}",
            index.event_count, check.events
        )));
    }
    if index.blocks != check.blocks {
        return Err(mismatch("its block table differs from the blocks".into()));
    }
    let blobs: Vec<(Digest, u64, u64, Option<u32>)> = check
        .blobs
        .iter()
        .map(|(d, &(o, l, at))| (*d, o, l, at))
        .collect();
    if index.blobs != blobs {
        return Err(mismatch("its blob table differs from the frames".into()));
    }
    if index.snapshots != check.snapshots {
        return Err(mismatch("its snapshot list differs from the events".into()));
    }
    // An index written before kinds were counted lists none.
    if !index.kinds.is_empty() && index.kinds != check.kinds {
        return Err(mismatch(
            "its event kinds per block differ from the blocks".into(),
        ));
    }
    Ok(())
}

/// A problem at the frame at `offset`.
fn corrupt_at(offset: u64, event: Option<u64>, problem: Problem) -> TraceError {
    Corruption {
        offset,
        event,
        problem,
    }
    .into()
}
