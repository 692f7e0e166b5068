//! What the scheduler hands the recorder thread: batches of small records, a
//! delivery's byte strings laid in the batch's arena (see the parent module).

use std::ops::Range;

use theater_trace::{ActorId, EventBody, LogLine, MessageKind, Outcome, Sender};

use crate::delivery::{DeliveryRecord, HostCallRecord, SentView};

use super::RECORDER_BATCH_EVENTS;

/// What the scheduler hands over, one per event (or blob, or whole delivery). Kept small:
/// every byte of it is written by the scheduler's core and read by the recorder's, so
/// the rare kinds are boxed.
#[derive(Debug)]
pub(super) enum Msg {
    Blob(Vec<u8>),
    Event(Box<EventBody>),
    /// A whole delivery; its bytes are in the batch's arena.
    Delivery(Compact),
    /// Seal the segment and start the next (see [`crate::rotation`]).
    Rotate,
    /// Flush now (see [`Recorder::request_sync`]).
    Sync,
}

/// A delivery as the scheduler hands it over: everything [`DeliveryRecord`] says, with
/// byte strings as ranges of the batch's arena, and what most deliveries lack (host
/// calls, logs, a failure) boxed.
#[derive(Debug)]
pub(super) struct Compact {
    pub(super) seq: u64,
    pub(super) from: Sender,
    pub(super) to: ActorId,
    pub(super) kind: MessageKind,
    pub(super) time_ns: u64,
    pub(super) payload: Range<usize>,
    /// Range of the batch's `sent` list.
    pub(super) sent: Range<usize>,
    pub(super) state: Range<usize>,
    pub(super) fuel_used: u64,
    /// `None`: no host calls, no logs, outcome `Ok`.
    pub(super) rare: Option<Box<Rare>>,
}

#[derive(Debug)]
pub(super) struct Rare {
    pub(super) host_calls: Vec<HostCallRecord>,
    pub(super) logs: Vec<LogLine>,
    pub(super) outcome: Outcome,
}

/// A message a delivery sent, its payload in the batch's arena.
#[derive(Debug)]
pub(super) struct SentRef {
    pub(super) to: ActorId,
    pub(super) kind: MessageKind,
    pub(super) payload: Range<usize>,
}

/// What crosses the channel: messages, and the arena and sent list that
/// [`Msg::Delivery`] points into. Emptied batches come back to be refilled.
#[derive(Debug, Default)]
pub(super) struct Batch {
    pub(super) msgs: Vec<Msg>,
    pub(super) bytes: Vec<u8>,
    pub(super) sent: Vec<SentRef>,
    /// Events the batch will make.
    pub(super) events: usize,
}

impl Batch {
    pub(super) fn new() -> Batch {
        Batch {
            msgs: Vec::with_capacity(RECORDER_BATCH_EVENTS),
            ..Batch::default()
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.msgs.is_empty()
    }

    pub(super) fn push_bytes(&mut self, bytes: &[u8]) -> Range<usize> {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(bytes);
        start..self.bytes.len()
    }
}

impl Compact {
    /// The delivery record this stands for, its bytes in `bytes` and its sent messages
    /// in `sent` (the batch's).
    pub(super) fn record<'a>(
        self,
        bytes: &'a [u8],
        sent: &'a [SentRef],
    ) -> DeliveryRecord<'a, impl Iterator<Item = SentView<'a>> + 'a> {
        let Rare {
            host_calls,
            logs,
            outcome,
        } = self.rare.map_or(
            Rare {
                host_calls: Vec::new(),
                logs: Vec::new(),
                outcome: Outcome::Ok,
            },
            |r| *r,
        );
        DeliveryRecord {
            seq: self.seq,
            from: self.from,
            to: self.to,
            kind: self.kind,
            time_ns: self.time_ns,
            payload: &bytes[self.payload],
            host_calls,
            logs,
            state: &bytes[self.state],
            fuel_used: self.fuel_used,
            outcome,
            sent: sent[self.sent]
                .iter()
                .map(move |m| (m.to, m.kind.clone(), &bytes[m.payload.clone()])),
            host_call_mismatch: None,
        }
    }
}
