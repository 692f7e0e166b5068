//! The replay's sink: reads the recorded trace in order and compares every event the
//! replayed system emits with the next recorded one.
//!
//! Recorded events are read ahead in batches and kept as stored ([`RawEvent`]), not
//! decoded. An emitted event is encoded into a reused buffer and compared with the
//! recorded bytes: in format version 3 an event's encoding is canonical, so equal bytes
//! are an exact match, and almost every event of a replay (deliveries, their host calls
//! and outputs) matches this way without allocating. Only when the bytes differ is the
//! recorded event decoded and compared as a value, which is where the exceptions live
//! (fuel that may differ, a version 1/2 trace, a divergence to report).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use theater_trace::{wire, ActorId, DeliveryOutputs, Digest, EventBody, Payload, RawEvent, Trace};

use crate::delivery::{EventOut, HostCallRecord};
use crate::error::{Divergence, RuntimeError};

/// Events read ahead from a trace during replay, at most…
const REPLAY_BATCH_EVENTS: usize = 4096;
/// …and at first, and after a seek: a seek is usually followed by a few steps only, and
/// reading a full batch would cost more than they do. The batch doubles on each read.
const REPLAY_FIRST_BATCH_EVENTS: usize = 32;

/// What a divergence says was expected when the recording has no more events.
pub(crate) const END_OF_TRACE: &str = "(end of trace)";

/// Reads a trace in order and compares the replay's events with it.
#[derive(Debug)]
pub struct Replayer {
    trace: Trace,
    /// Number of the next event to compare.
    pub(crate) next: u64,
    buffer: VecDeque<RawEvent>,
    /// Events to read on the next refill.
    batch: usize,
    /// The emitted event being compared, encoded.
    encoded: Vec<u8>,
    /// Digest of the last event matched.
    pub(crate) last_digest: Digest,
    /// Swapped components: digest of the replacement → digest in the recording.
    pub(crate) aliases: BTreeMap<Digest, Digest>,
    /// Actors whose fuel is not compared: their instance was replaced by a fresh one
    /// after it had run handlers (a checkpoint restore), so fuel may differ while
    /// everything else must match.
    pub(crate) fuel_exempt: BTreeSet<ActorId>,
    /// Actors running a swapped component (see `aliases`): their fuel is not compared
    /// unless `compare_fuel`, and each difference is counted in `fuel_differs`.
    swapped_actors: BTreeSet<ActorId>,
    pub(crate) compare_fuel: bool,
    /// Deliveries of swapped actors whose fuel differed.
    pub(crate) fuel_differs: u64,
    /// The trace has an inline integrity check attached (`Trace::check_inline`), which
    /// the comparison feeds.
    checking: bool,
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
            checking: trace.checking_inline(),
            trace,
            next: start,
            buffer: VecDeque::new(),
            batch: REPLAY_FIRST_BATCH_EVENTS,
            encoded: Vec::with_capacity(256),
            last_digest,
            aliases: BTreeMap::new(),
            fuel_exempt: BTreeSet::new(),
            swapped_actors: BTreeSet::new(),
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

    /// Reads the next batch after what is buffered; whether it read anything.
    fn read_ahead(&mut self) -> Result<bool, RuntimeError> {
        let from = self.next + self.buffer.len() as u64;
        let before = self.buffer.len();
        for e in self.trace.raw_events_from(from).take(self.batch) {
            self.buffer.push_back(e?);
        }
        self.batch = (self.batch * 2).min(REPLAY_BATCH_EVENTS);
        Ok(self.buffer.len() > before)
    }

    fn fill(&mut self) -> Result<(), RuntimeError> {
        if self.buffer.is_empty() {
            self.read_ahead()?;
        }
        Ok(())
    }

    /// The next recorded event, without consuming it.
    pub(crate) fn peek(&mut self) -> Result<Option<&RawEvent>, RuntimeError> {
        self.fill()?;
        Ok(self.buffer.front())
    }

    /// The next recorded event decoded, without consuming it.
    pub(crate) fn peek_body(&mut self) -> Result<Option<EventBody>, RuntimeError> {
        Ok(match self.peek()? {
            Some(e) => Some(e.decode()?),
            None => None,
        })
    }

    pub(crate) fn expect(&mut self, body: &EventBody) -> Result<(), RuntimeError> {
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
        self.encoded.clear();
        let same_bytes = recorded.bytes().is_some_and(|bytes| {
            wire::encode_body(body, &mut self.encoded).is_ok() && self.encoded == bytes
        });
        if !same_bytes {
            let recorded = recorded.decode()?;
            self.compare_decoded(body, &recorded)?;
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
        // An inline integrity check (verify) need not decode an event the replay
        // produced to the byte, and checks a block once all its events are compared.
        if self.checking && same_bytes && theater_trace::vouchable(body) {
            recorded.vouch();
        }
        if self.checking && recorded.ends_block() {
            self.trace.block_compared(&recorded);
        }
        self.last_digest = recorded.digest;
        self.next += 1;
        Ok(())
    }

    /// Compares an emitted event whose bytes differ from the recorded event's with the
    /// decoded recorded event: equal but for fuel where fuel is not compared, or (in a
    /// version 1/2 trace) equal as values, it matches; anything else is the divergence.
    fn compare_decoded(
        &mut self,
        body: &EventBody,
        recorded: &EventBody,
    ) -> Result<(), RuntimeError> {
        let swapped_fuel =
            |o: &DeliveryOutputs| !self.compare_fuel && self.swapped_actors.contains(&o.actor);
        let mut fuel_differs = false;
        let refueled;
        let body = match (body, recorded) {
            (EventBody::Outputs(o), EventBody::Outputs(r))
                if o.fuel_used != r.fuel_used
                    && (self.fuel_exempt.contains(&o.actor) || swapped_fuel(o)) =>
            {
                fuel_differs = swapped_fuel(o);
                refueled = EventBody::Outputs(DeliveryOutputs {
                    fuel_used: r.fuel_used,
                    ..o.clone()
                });
                &refueled
            }
            _ => body,
        };
        if recorded != body {
            return Err(self.divergence(
                body.actor().or(recorded.actor()),
                recorded.to_string(),
                body.to_string(),
            ));
        }
        if fuel_differs {
            self.fuel_differs += 1;
        }
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
    pub(crate) fn upcoming_host_calls(&mut self) -> Result<VecDeque<HostCallRecord>, RuntimeError> {
        let mut calls = VecDeque::new();
        self.fill()?;
        if self.buffer.front().map(RawEvent::kind) != Some("delivered") {
            return Ok(calls);
        }
        let mut i = 1;
        loop {
            // Read further ahead without losing what is buffered.
            if i >= self.buffer.len() && !self.read_ahead()? {
                break;
            }
            if self.buffer[i].kind() != "host-call" {
                break;
            }
            if let EventBody::HostCall {
                function,
                request,
                response,
                ..
            } = self.buffer[i].decode()?
            {
                let request = self.payload_bytes(&request)?;
                let response = self.payload_bytes(&response)?;
                calls.push_back((function, request, response));
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
