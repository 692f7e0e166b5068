//! Events as stored, decoded only when asked.
//!
//! A replay compares the events it produces with the recorded ones, almost all of them
//! deliveries and their outputs. Decoding each recorded event (allocating its payloads
//! and messages) costs more than encoding the produced one into a reused buffer and
//! comparing bytes, which is exact in version 3: its encoding is canonical (`verify`
//! checks it), so two events are equal exactly when their bytes are. A [`RawEvent`] is
//! an event's place in its decompressed block: its kind and bytes are there for free,
//! its body is decoded on demand. (A version 1/2 event is decoded as it is read: those
//! formats have no bytes to compare.)

use std::ops::Range;
use std::sync::Arc;

use crate::codec::wire::decode_body;
use crate::digest::Digest;
use crate::display::EVENT_KIND_NAMES;
use crate::error::{Corruption, Problem, TraceError};
use crate::event::{Event, EventBody};

use super::blocks::Decoded;
use super::{Events, RecordedEvent, Trace};

/// An event read from a trace and not (yet) decoded.
#[derive(Clone, Debug)]
pub struct RawEvent {
    /// Position in the trace; the run header is event 0.
    pub number: u64,
    /// Byte offset of the frame holding the event (its block, in version 3).
    pub offset: u64,
    /// The chain value after the event.
    pub digest: Digest,
    /// The chain value before the event.
    pub parent: Digest,
    stored: Stored,
}

#[derive(Clone, Debug)]
enum Stored {
    /// Version 3: the event's bytes in its decompressed block.
    Block(Arc<Decoded>, Range<usize>),
    /// Versions 1 and 2: decoded as read.
    Decoded(Box<EventBody>),
}

impl RawEvent {
    pub(super) fn in_block(
        (number, offset): (u64, u64),
        (parent, digest): (Digest, Digest),
        block: Arc<Decoded>,
        range: Range<usize>,
    ) -> RawEvent {
        RawEvent {
            number,
            offset,
            digest,
            parent,
            stored: Stored::Block(block, range),
        }
    }

    pub(super) fn decoded(e: RecordedEvent) -> RawEvent {
        RawEvent {
            number: e.number,
            offset: e.offset,
            digest: e.digest,
            parent: e.event.parent,
            stored: Stored::Decoded(Box::new(e.event.body)),
        }
    }

    /// The event's kind ([`EventBody::kind_name`]), without decoding it; `"unknown"` for
    /// a tag no event has (decoding it fails).
    pub fn kind(&self) -> &'static str {
        match &self.stored {
            Stored::Block(..) => self
                .bytes()
                .and_then(|b| b.first())
                .and_then(|&tag| EVENT_KIND_NAMES.get(usize::from(tag)))
                .copied()
                .unwrap_or("unknown"),
            Stored::Decoded(body) => body.kind_name(),
        }
    }

    /// Vouches for the event: a replay produced exactly its bytes from a body that
    /// [`crate::vouchable`] accepts, so an inline integrity check need not decode it
    /// (see [`Trace::check_inline`]). Nothing for a version 1/2 event.
    pub fn vouch(&self) {
        if let Some(block) = self.block() {
            block.vouch((self.number - block.header.first_event) as usize);
        }
    }

    /// The decoded block holding the event (version 3).
    pub(crate) fn block(&self) -> Option<&Arc<Decoded>> {
        match &self.stored {
            Stored::Block(block, _) => Some(block),
            Stored::Decoded(_) => None,
        }
    }

    /// Whether this is the last event of its block (version 3).
    pub fn ends_block(&self) -> bool {
        self.block()
            .is_some_and(|b| self.number + 1 == b.header.first_event + b.events() as u64)
    }

    /// The event's version 3 encoding, as stored (`None` in versions 1 and 2).
    pub fn bytes(&self) -> Option<&[u8]> {
        match &self.stored {
            Stored::Block(block, range) => block.raw.get(range.clone()),
            Stored::Decoded(_) => None,
        }
    }

    /// The event, decoded.
    pub fn decode(&self) -> Result<EventBody, TraceError> {
        match &self.stored {
            Stored::Block(..) => decode_body(self.bytes().unwrap_or_default()).map_err(|why| {
                Corruption {
                    offset: self.offset,
                    event: Some(self.number),
                    problem: Problem::UndecodableEvent(why),
                }
                .into()
            }),
            Stored::Decoded(body) => Ok((**body).clone()),
        }
    }

    /// The event as [`Trace::events`] yields it.
    pub fn into_recorded(self) -> Result<RecordedEvent, TraceError> {
        let body = match self.stored {
            Stored::Decoded(body) => *body,
            Stored::Block(..) => self.decode()?,
        };
        Ok(RecordedEvent {
            number: self.number,
            offset: self.offset,
            digest: self.digest,
            event: Event {
                parent: self.parent,
                body,
            },
        })
    }
}

/// Iterator over a trace's events, not decoded ([`Trace::raw_events_from`]).
#[derive(Debug)]
pub struct RawEvents<'a>(pub(super) Events<'a>);

impl Iterator for RawEvents<'_> {
    type Item = Result<RawEvent, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next_raw()
    }
}

impl Trace {
    /// [`Trace::events_from`], each event not decoded until asked ([`RawEvent`]).
    pub fn raw_events_from(&self, n: u64) -> RawEvents<'_> {
        RawEvents(self.events_from(n))
    }
}
