//! Iterating a trace's events: from the first, from any number (a seek by the index),
//! or from where an earlier iterator stopped ([`EventPosition`]).

use crate::digest::Digest;
use crate::error::{Corruption, Problem, TraceError};

use super::blocks;
use super::frames::{with_event, FrameReader};
use super::{Layout, RawEvent, RecordedEvent, Trace};

impl Trace {
    /// Event number `n`: decodes at most one block (version 3) or K frames from the
    /// nearest index entry (versions 1 and 2).
    pub fn event(&self, n: u64) -> Result<RecordedEvent, TraceError> {
        if n < self.first {
            return Err(TraceError::EventBeforeFirst {
                event: n,
                first: self.first,
            });
        }
        if n >= self.event_count {
            return Err(TraceError::EventOutOfRange {
                event: n,
                count: self.event_count,
            });
        }
        let mut iter = self.events_from(n);
        match iter.next() {
            Some(Ok(e)) if e.number == n => Ok(e),
            Some(Err(e)) => Err(e),
            _ => Err(Corruption {
                offset: iter.offset,
                event: Some(n),
                problem: Problem::Index("event not found where the index says".into()),
            }
            .into()),
        }
    }

    /// All events in order (from [`Trace::first_event`]).
    pub fn events(&self) -> Events<'_> {
        self.events_from(self.first)
    }

    /// Events from number `n` on (seeks via the index).
    pub fn events_from(&self, n: u64) -> Events<'_> {
        let start = match &self.layout {
            Layout::Frames {
                every,
                event_offsets,
            } => {
                let every = u64::from(*every);
                let slot = (n / every) as usize;
                event_offsets
                    .get(slot)
                    .map(|&offset| (offset, slot as u64 * every, None))
            }
            Layout::Blocks(blocks) => {
                let i = blocks.partition_point(|b| b.first <= n);
                i.checked_sub(1).map(|i| {
                    (
                        blocks[i].offset,
                        blocks[i].first,
                        Some(blocks[i].chain_before),
                    )
                })
            }
        };
        match start {
            Some((offset, number, chain)) if n < self.event_count => {
                let mut iter = self.events_from_offset(offset, number, chain);
                iter.skip_to = n;
                iter
            }
            _ => {
                let mut iter = self.events_from_offset(self.frames_end, self.event_count, None);
                iter.done = true;
                iter
            }
        }
    }

    /// Events from where an earlier iterator stopped ([`Events::position`]): resumes
    /// without reading anything before it (in version 3, it decodes the block it stopped
    /// in again), so a reader that holds the trace can walk it in pieces.
    pub fn events_at(&self, at: EventPosition) -> Events<'_> {
        let mut iter = self.events_from_offset(at.offset, at.first, at.chain);
        iter.skip_to = at.number;
        iter
    }

    fn events_from_offset(&self, offset: u64, number: u64, chain: Option<Digest>) -> Events<'_> {
        Events {
            trace: self,
            reader: FrameReader::new(&self.source, self.frames_end),
            offset,
            number,
            skip_to: number,
            done: false,
            chain,
            block: None,
            last_block_first: None,
        }
    }
}

/// Where an [`Events`] iterator is, to resume there with [`Trace::events_at`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventPosition {
    /// The frame to read from: the block holding the next event, or the next frame.
    offset: u64,
    /// The number of the first event read from that frame on.
    first: u64,
    /// The chain value before `first`, when known.
    chain: Option<Digest>,
    /// The number of the next event.
    number: u64,
}

impl EventPosition {
    /// The number of the next event.
    pub fn number(&self) -> u64 {
        self.number
    }
}

/// Iterator over events, decoding each and checking its frame.
pub struct Events<'a> {
    pub(super) trace: &'a Trace,
    pub(super) reader: FrameReader<'a>,
    /// The next frame to read.
    pub(super) offset: u64,
    /// Number of the next event read (the first of the next frame, in version 3).
    pub(super) number: u64,
    /// Events before this one are skipped without being yielded.
    pub(super) skip_to: u64,
    pub(super) done: bool,
    /// Version 3: the chain value before event `number`, when known (not at a seek).
    pub(super) chain: Option<Digest>,
    /// Version 3: the block being read.
    pub(super) block: Option<blocks::OpenBlock>,
    /// Version 3: the first event of the block read before, for error reports.
    pub(super) last_block_first: Option<u64>,
}

impl std::fmt::Debug for Events<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events")
            .field("offset", &self.offset)
            .field("number", &self.number)
            .finish()
    }
}

impl Iterator for Events<'_> {
    type Item = Result<RecordedEvent, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        let result = self.next_raw()?.and_then(RawEvent::into_recorded);
        if result.is_err() {
            self.done = true;
        }
        Some(result)
    }
}

impl Events<'_> {
    /// The next event, not decoded.
    pub(super) fn next_raw(&mut self) -> Option<Result<RawEvent, TraceError>> {
        while !self.done && self.next_number() < self.trace.event_count {
            let result = match self.trace.layout {
                Layout::Frames { .. } => self.step_frame().map(|e| e.map(RawEvent::decoded)),
                Layout::Blocks(_) => self.step_block(),
            };
            match result {
                Ok(Some(event)) => return Some(Ok(event)),
                Ok(None) => {}
                Err(e) => {
                    self.done = true;
                    return Some(Err(with_event(e, self.next_number())));
                }
            }
        }
        None
    }
}

impl Events<'_> {
    /// Where the iterator is: resume there with [`Trace::events_at`]. Only meaningful
    /// between events yielded (not after an error); the start of a fresh trace is
    /// `Trace::events().position()`.
    pub fn position(&self) -> EventPosition {
        match &self.block {
            Some(b) => EventPosition {
                offset: b.offset,
                first: b.first,
                chain: Some(b.chain_before),
                number: b.first + b.next as u64,
            },
            None => EventPosition {
                offset: self.offset,
                first: self.number,
                chain: self.chain,
                number: self.number.max(self.skip_to),
            },
        }
    }

    /// The number of the next event this iterator reads.
    pub(super) fn next_number(&self) -> u64 {
        match &self.block {
            Some(b) => b.first + b.next as u64,
            None => self.number,
        }
    }
}
