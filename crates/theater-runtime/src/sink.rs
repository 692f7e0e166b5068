//! Where a run's events go: nowhere, a trace writer, or a checker comparing them with a
//! recorded trace. The scheduler emits the same events in every mode.

use std::collections::VecDeque;
use std::fs::File;

use theater_trace::{ActorId, Digest, EventBody, Payload, TraceWriter};

use crate::delivery::{DeliveryRecord, HostCallRecord, SentView};
use crate::error::RuntimeError;
use crate::replayer::Replayer;

/// The destination of a run's events.
#[derive(Debug)]
pub enum Sink {
    /// Record nothing (for measuring the cost of recording).
    Off,
    /// Record to a trace file.
    File(Box<TraceWriter<File>>),
    /// Record to memory (tests).
    Memory(Box<TraceWriter<Vec<u8>>>),
    /// Record to a trace file on a background thread (see `Recorder`). The chain head
    /// is known once `Recorder::finish` returns.
    Background(Box<crate::recorder::Recorder>),
    /// Compare with a recorded trace.
    Replay(Box<Replayer>),
}

impl Sink {
    /// Whether events are built at all.
    pub(crate) fn is_on(&self) -> bool {
        !matches!(self, Sink::Off)
    }

    pub(crate) fn blob(&mut self, bytes: &[u8]) -> Result<Digest, RuntimeError> {
        Ok(match self {
            Sink::File(w) => w.blob(bytes)?,
            Sink::Memory(w) => w.blob(bytes)?,
            Sink::Background(r) => r.blob(bytes)?,
            Sink::Off | Sink::Replay(_) => Digest::of(bytes),
        })
    }

    /// [`Sink::blob`] for bytes whose digest is known.
    pub(crate) fn blob_known(&mut self, digest: Digest, bytes: &[u8]) -> Result<(), RuntimeError> {
        match self {
            Sink::File(w) => drop(w.blob(bytes)?),
            Sink::Memory(w) => drop(w.blob(bytes)?),
            Sink::Background(r) => r.blob_known(digest, bytes)?,
            Sink::Off | Sink::Replay(_) => {}
        }
        Ok(())
    }

    pub(crate) fn payload(&mut self, bytes: &[u8]) -> Result<Payload, RuntimeError> {
        Ok(match self {
            Sink::File(w) => w.payload(bytes)?,
            Sink::Memory(w) => w.payload(bytes)?,
            Sink::Background(r) => r.payload(bytes)?,
            Sink::Off | Sink::Replay(_) => Payload::of(bytes),
        })
    }

    pub(crate) fn append(&mut self, body: EventBody) -> Result<(), RuntimeError> {
        match self {
            Sink::Off => Ok(()),
            Sink::File(w) => w.append(body).map(drop).map_err(Into::into),
            Sink::Memory(w) => w.append(body).map(drop).map_err(Into::into),
            Sink::Background(r) => r.append(body),
            Sink::Replay(r) => r.expect(&body),
        }
    }

    /// Takes one delivery: writes its events (inline or on the recorder thread),
    /// compares them with the recording (replay), or drops them (off).
    pub(crate) fn delivery<'a>(
        &mut self,
        d: DeliveryRecord<'a, impl Iterator<Item = SentView<'a>>>,
    ) -> Result<(), RuntimeError> {
        match self {
            Sink::Off => Ok(()),
            Sink::File(w) => crate::delivery::write(d, w.as_mut()),
            Sink::Memory(w) => crate::delivery::write(d, w.as_mut()),
            Sink::Background(r) => r.delivery(d),
            Sink::Replay(r) => crate::delivery::write(d, r.as_mut()),
        }
    }

    /// In replay: where the comparison stands (the next event to compare, and the
    /// digest of the last one matched).
    pub(crate) fn replay_position(&self) -> Option<(u64, Digest)> {
        match self {
            Sink::Replay(r) => Some((r.next, r.last_digest)),
            _ => None,
        }
    }

    /// In replay: forgets which actors were exempt from fuel comparison (a restore
    /// starts over).
    pub(crate) fn clear_fuel_exempt(&mut self) {
        if let Sink::Replay(r) = self {
            r.fuel_exempt.clear();
        }
    }

    /// In replay: resumes comparing at `position` (a checkpoint's).
    pub(crate) fn rewind_to(&mut self, position: Option<(u64, Digest)>) {
        if let (Sink::Replay(r), Some((next, digest))) = (self, position) {
            r.seek(next, digest);
        }
    }

    /// In replay: fuel is no longer compared for `actors`, whose instances were
    /// replaced after they had run (see `Replayer::fuel_exempt`).
    pub(crate) fn exempt_fuel(&mut self, actors: &[ActorId]) {
        if let Sink::Replay(r) = self {
            r.fuel_exempt.extend(actors.iter().copied());
        }
    }

    /// In replay, the host calls recorded for the next delivery.
    pub(crate) fn recorded_host_calls(
        &mut self,
    ) -> Result<Option<VecDeque<HostCallRecord>>, RuntimeError> {
        match self {
            Sink::Replay(r) => r.upcoming_host_calls().map(Some),
            _ => Ok(None),
        }
    }

    /// The chain head so far (record modes), or of the trace being replayed. Zero for
    /// `Off`, and for `Background` until its recorder is finished.
    pub fn head(&self) -> Digest {
        match self {
            Sink::Off | Sink::Background(_) => Digest::ZERO,
            Sink::File(w) => w.head(),
            Sink::Memory(w) => w.head(),
            Sink::Replay(r) => r.last_digest,
        }
    }

    /// Events emitted so far.
    pub fn events(&self) -> u64 {
        match self {
            Sink::Off => 0,
            Sink::File(w) => w.event_count(),
            Sink::Memory(w) => w.event_count(),
            Sink::Background(r) => r.events(),
            Sink::Replay(r) => r.next,
        }
    }

    /// In replay, the next recorded event (what the replay driver must do next).
    pub(crate) fn peek_recorded(&mut self) -> Result<Option<EventBody>, RuntimeError> {
        match self {
            Sink::Replay(r) => r.peek_body(),
            _ => Ok(None),
        }
    }

    /// In replay, the kind of the next recorded event ([`EventBody::kind_name`]), found
    /// without decoding it.
    pub(crate) fn peek_kind(&mut self) -> Result<Option<&'static str>, RuntimeError> {
        match self {
            Sink::Replay(r) => Ok(r.peek()?.map(|e| e.kind())),
            _ => Ok(None),
        }
    }

    /// Makes everything recorded so far durable as far as the flush policy allows: a
    /// recorder calls it before waiting for input.
    pub fn flush(&mut self) -> Result<(), RuntimeError> {
        match self {
            Sink::File(w) => w.flush()?,
            Sink::Memory(w) => w.flush()?,
            Sink::Background(r) => r.send_batch()?,
            Sink::Off | Sink::Replay(_) => {}
        }
        Ok(())
    }

    /// Between two steps (after an input): hands a full batch to the recorder thread.
    pub(crate) fn step_done(&mut self) -> Result<(), RuntimeError> {
        match self {
            Sink::Background(r) => r.step_done(),
            _ => Ok(()),
        }
    }

    /// Between two steps: flushes a recording if its flush interval has passed (on the
    /// recorder thread: hands over a full batch, or a partial one the thread asks for).
    pub(crate) fn flush_if_due(&mut self) -> Result<(), RuntimeError> {
        match self {
            Sink::File(w) => w.flush_if_due()?,
            Sink::Memory(w) => w.flush_if_due()?,
            Sink::Background(r) => {
                r.step_done()?;
                r.send_if_due()?
            }
            Sink::Off | Sink::Replay(_) => {}
        }
        Ok(())
    }
}
