//! Where a run's events go: nowhere, a trace writer, or a checker comparing them with a
//! recorded trace. The scheduler emits the same events in every mode.

use std::collections::VecDeque;
use std::fs::File;

use theater_trace::{ActorId, Digest, EventBody, Payload, RecordedEvent, Trace, TraceWriter};

use crate::delivery::{DeliveryRecord, EventOut, HostCallRecord, SentView};
use crate::error::{Divergence, RuntimeError};

/// Events read ahead from a trace during replay, at most…
const REPLAY_BATCH_EVENTS: usize = 4096;
/// …and at first, and after a seek: a seek is usually followed by a few steps only, and
/// decoding a full batch would cost more than they do. The batch doubles on each read.
const REPLAY_FIRST_BATCH_EVENTS: usize = 32;

/// What a divergence says was expected when the recording has no more events.
pub(crate) const END_OF_TRACE: &str = "(end of trace)";

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
            Sink::Replay(r) => Ok(r.peek()?.map(|e| e.event.body.clone())),
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

/// Reads a trace in order and compares the replay's events with it.
#[derive(Debug)]
pub struct Replayer {
    trace: Trace,
    /// Number of the next event to compare.
    pub(crate) next: u64,
    buffer: VecDeque<RecordedEvent>,
    /// Events to read on the next refill.
    batch: usize,
    /// Digest of the last event matched.
    pub(crate) last_digest: Digest,
    /// Swapped components: digest of the replacement → digest in the recording.
    pub(crate) aliases: std::collections::BTreeMap<Digest, Digest>,
    /// Actors whose fuel is not compared: their instance was replaced by a fresh one
    /// after it had run handlers (a checkpoint restore), so fuel may differ while
    /// everything else must match.
    pub(crate) fuel_exempt: std::collections::BTreeSet<ActorId>,
    /// Actors running a swapped component (see `aliases`): their fuel is not compared
    /// unless `compare_fuel`, and each difference is counted in `fuel_differs`.
    swapped_actors: std::collections::BTreeSet<ActorId>,
    pub(crate) compare_fuel: bool,
    /// Deliveries of swapped actors whose fuel differed.
    pub(crate) fuel_differs: u64,
}

impl Replayer {
    /// Starts comparing at event `start` (1 to skip the run header, which the replay
    /// driver checks itself).
    pub fn new(trace: Trace, start: u64) -> Replayer {
        let last_digest = if start == 0 {
            Digest::ZERO
        } else {
            trace
                .event(start - 1)
                .map(|e| e.digest)
                .unwrap_or(Digest::ZERO)
        };
        Replayer {
            trace,
            next: start,
            buffer: VecDeque::new(),
            batch: REPLAY_FIRST_BATCH_EVENTS,
            last_digest,
            aliases: std::collections::BTreeMap::new(),
            fuel_exempt: std::collections::BTreeSet::new(),
            swapped_actors: std::collections::BTreeSet::new(),
            compare_fuel: false,
            fuel_differs: 0,
        }
    }

    /// Resumes comparing at event `next`, whose parent is `last_digest`.
    pub(crate) fn seek(&mut self, next: u64, last_digest: Digest) {
        self.next = next;
        self.last_digest = last_digest;
        self.buffer.clear();
        self.batch = REPLAY_FIRST_BATCH_EVENTS;
    }

    /// The trace being replayed.
    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    fn fill(&mut self) -> Result<(), RuntimeError> {
        if self.buffer.is_empty() {
            let from = self.next;
            for e in self.trace.events_from(from).take(self.batch) {
                self.buffer.push_back(e?);
            }
            self.batch = (self.batch * 2).min(REPLAY_BATCH_EVENTS);
        }
        Ok(())
    }

    /// The next recorded event, without consuming it.
    pub(crate) fn peek(&mut self) -> Result<Option<&RecordedEvent>, RuntimeError> {
        self.fill()?;
        Ok(self.buffer.front())
    }

    fn expect(&mut self, body: &EventBody) -> Result<(), RuntimeError> {
        self.fill()?;
        let aliased;
        let body = if self.aliases.is_empty() {
            body
        } else {
            aliased = self.alias(body.clone());
            &aliased
        };
        let Some(recorded) = self.buffer.front() else {
            return Err(self.divergence(body.actor(), END_OF_TRACE.into(), body.to_string()));
        };
        let refueled;
        let swapped_fuel = |o: &theater_trace::DeliveryOutputs| {
            !self.compare_fuel && self.swapped_actors.contains(&o.actor)
        };
        let mut fuel_differs = false;
        let body = match (body, &recorded.event.body) {
            (EventBody::Outputs(o), EventBody::Outputs(r))
                if o.fuel_used != r.fuel_used
                    && (self.fuel_exempt.contains(&o.actor) || swapped_fuel(o)) =>
            {
                fuel_differs = swapped_fuel(o);
                refueled = EventBody::Outputs(theater_trace::DeliveryOutputs {
                    fuel_used: r.fuel_used,
                    ..o.clone()
                });
                &refueled
            }
            _ => body,
        };
        if recorded.event.body != *body {
            let expected = recorded.event.body.to_string();
            return Err(self.divergence(
                body.actor().or(recorded.event.body.actor()),
                expected,
                body.to_string(),
            ));
        }
        if fuel_differs {
            self.fuel_differs += 1;
        }
        if let EventBody::ActorSpawned {
            actor, component, ..
        } = body
        {
            if self.aliases.values().any(|d| d == component) {
                self.swapped_actors.insert(*actor);
            }
        }
        let recorded = self.buffer.pop_front().expect("peeked above");
        self.last_digest = recorded.digest;
        self.next += 1;
        Ok(())
    }

    /// Rewrites a swapped component's digest to the recorded one.
    fn alias(&self, mut body: EventBody) -> EventBody {
        if let EventBody::ComponentRegistered { component, .. }
        | EventBody::ActorSpawned { component, .. } = &mut body
        {
            if let Some(old) = self.aliases.get(component) {
                *component = *old;
            }
        }
        body
    }

    /// The host calls recorded for the next delivery: the `HostCall` events after its
    /// `Delivered` (none if the next event is not a delivery; the comparison then
    /// reports the divergence).
    fn upcoming_host_calls(&mut self) -> Result<VecDeque<HostCallRecord>, RuntimeError> {
        let mut calls = VecDeque::new();
        self.fill()?;
        if !matches!(
            self.buffer.front().map(|e| &e.event.body),
            Some(EventBody::Delivered(_))
        ) {
            return Ok(calls);
        }
        let mut i = 1;
        loop {
            if i >= self.buffer.len() {
                // Read further ahead without losing what is buffered.
                let from = self.next + self.buffer.len() as u64;
                let before = self.buffer.len();
                for e in self.trace.events_from(from).take(self.batch) {
                    self.buffer.push_back(e?);
                }
                self.batch = (self.batch * 2).min(REPLAY_BATCH_EVENTS);
                if self.buffer.len() == before {
                    break;
                }
            }
            match &self.buffer[i].event.body {
                EventBody::HostCall {
                    function,
                    request,
                    response,
                    ..
                } => {
                    let request = self.payload_bytes(request)?;
                    let response = self.payload_bytes(response)?;
                    calls.push_back((function.clone(), request, response));
                }
                _ => break,
            }
            i += 1;
        }
        Ok(calls)
    }

    fn payload_bytes(&self, p: &Payload) -> Result<Vec<u8>, RuntimeError> {
        match p {
            Payload::Inline(b) => Ok(b.0.clone()),
            Payload::Blob { digest, .. } => self
                .trace
                .blob(digest)?
                .ok_or_else(|| RuntimeError::Unreplayable(format!("blob {digest} missing"))),
        }
    }

    fn divergence(&self, actor: Option<u64>, expected: String, actual: String) -> RuntimeError {
        RuntimeError::Divergence(Box::new(Divergence {
            event: self.next,
            actor,
            expected,
            actual,
        }))
    }
}

impl EventOut for Replayer {
    /// A replay stores nothing: the payload is what the recording names.
    fn payload(&mut self, bytes: &[u8]) -> Result<Payload, RuntimeError> {
        Ok(Payload::of(bytes))
    }

    fn append(&mut self, body: EventBody) -> Result<(), RuntimeError> {
        self.expect(&body)
    }

    fn events(&self) -> u64 {
        self.next
    }
}
