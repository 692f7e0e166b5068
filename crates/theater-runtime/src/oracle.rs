//! Recorded host-call results, served to a run that is not a replay (for `regress`).
//!
//! A regression run feeds a trace's external inputs to a new build. The new build may
//! behave differently, so the run is not a replay: it is a fresh run, compared
//! afterwards. But the outside world it talked to (the clock of a live run, its
//! randomness, the HTTP services it called) is gone. A [`HostCallOracle`] keeps what the
//! recording got from outside, per actor and per delivery: the k-th delivery to an actor
//! in the new run is served the k-th recorded delivery's host calls, in order, as long
//! as it makes the same calls (same function, same request). From the first call that
//! differs in a delivery on, that delivery takes fresh values; the first such call of
//! the run is kept ([`HostCallOracle::first_unmatched`]).
//!
//! Only results that come from outside the system are served: `now`, `random-bytes`
//! and `http-client.send`. The key-value store is the system's own state, so its calls
//! always run against the run's store (a new build that writes other values reads them
//! back), and are only checked against the recording.

use std::collections::{BTreeMap, VecDeque};

use theater_trace::{ActorId, EventBody, EventPosition, HostFunction, Payload, Trace};

use crate::delivery::HostCallRecord;
use crate::error::RuntimeError;

/// The first host call of a regression run that the recording could not serve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnmatchedCall {
    pub actor: ActorId,
    /// Which delivery to `actor` made it, counting from 1 (its `init` is delivery 1).
    pub delivery: u64,
    /// The recorded `Delivered` event that delivery was paired with; `None` when the
    /// recording has fewer deliveries to that actor.
    pub recorded_event: Option<u64>,
    /// What was called, and what the recording has there.
    pub what: String,
}

/// One recorded delivery's host calls.
#[derive(Debug)]
struct RecordedDelivery {
    event: u64,
    calls: VecDeque<HostCallRecord>,
}

/// The recorded host calls of a trace, per actor and delivery, served in order.
///
/// It reads the trace as the run asks, a little ahead of it: a delivery to an actor
/// reads forward to that actor's next recorded delivery, keeping the deliveries to
/// other actors it passes until they are asked for. A run that follows the recording
/// keeps almost nothing; memory grows only with how far the new run's order drifts
/// from the recorded one.
#[derive(Debug)]
pub struct HostCallOracle {
    trace: Trace,
    /// Where reading goes on.
    at: EventPosition,
    exhausted: bool,
    /// Recorded deliveries read and not yet served, per actor.
    pending: BTreeMap<ActorId, VecDeque<RecordedDelivery>>,
    /// The actor whose delivery was read last (its host calls follow it).
    open: Option<ActorId>,
    /// Deliveries served so far, per actor.
    served: BTreeMap<ActorId, u64>,
    /// The delivery being served: actor, its number, its recorded event.
    current: Option<(ActorId, u64, Option<u64>)>,
    first_unmatched: Option<UnmatchedCall>,
}

/// Whether a function's result comes from outside the system (and so is served from the
/// recording), rather than from the system's own state.
pub(crate) fn served_from_recording(function: &HostFunction) -> bool {
    !matches!(
        function,
        HostFunction::StoreGet
            | HostFunction::StoreSet
            | HostFunction::StoreDelete
            | HostFunction::StoreListKeys
    )
}

impl HostCallOracle {
    /// Serves the host calls recorded in `trace` (given back by
    /// [`HostCallOracle::into_trace`]).
    pub fn new(trace: Trace) -> HostCallOracle {
        let at = trace.events().position();
        HostCallOracle {
            trace,
            at,
            exhausted: false,
            pending: BTreeMap::new(),
            open: None,
            served: BTreeMap::new(),
            current: None,
            first_unmatched: None,
        }
    }

    /// The trace, back.
    pub fn into_trace(self) -> Trace {
        self.trace
    }

    /// Reads on until `actor` has a complete recorded delivery pending, or the trace
    /// ends. A damaged trace ends where it is damaged (the run then takes fresh values,
    /// and what it could not be served is reported).
    fn read_for(&mut self, actor: ActorId) -> Result<(), RuntimeError> {
        let ready = |o: &HostCallOracle| {
            let n = o.pending.get(&actor).map_or(0, VecDeque::len);
            n > 1 || (n == 1 && o.open != Some(actor))
        };
        if self.exhausted || ready(self) {
            return Ok(());
        }
        let mut events = self.trace.events_at(self.at);
        loop {
            let Some(e) = events.next() else {
                self.exhausted = true;
                self.open = None;
                break;
            };
            let e = e?;
            match e.event.body {
                EventBody::Delivered(d) => {
                    self.pending
                        .entry(d.to)
                        .or_default()
                        .push_back(RecordedDelivery {
                            event: e.number,
                            calls: VecDeque::new(),
                        });
                    self.open = Some(d.to);
                }
                EventBody::HostCall {
                    actor: a,
                    function,
                    request,
                    response,
                } if self.open == Some(a) => {
                    let call = (function, self.bytes(&request)?, self.bytes(&response)?);
                    if let Some(last) = self.pending.get_mut(&a).and_then(|d| d.back_mut()) {
                        last.calls.push_back(call);
                    }
                }
                _ => self.open = None,
            }
            self.at = events.position();
            if ready(self) {
                break;
            }
        }
        Ok(())
    }

    fn bytes(&self, p: &Payload) -> Result<Vec<u8>, RuntimeError> {
        Ok(match p {
            Payload::Inline(b) => b.0.clone(),
            Payload::Blob { digest, .. } => self.trace.blob(digest)?.ok_or_else(|| {
                RuntimeError::Unreplayable(format!("host call payload blob {digest} is missing"))
            })?,
        })
    }

    /// The recorded calls of the next delivery to `actor` (empty once the recording has
    /// no more deliveries to it).
    pub(crate) fn next_for(&mut self, actor: ActorId) -> VecDeque<HostCallRecord> {
        let read = self.read_for(actor);
        let n = self.served.entry(actor).or_default();
        *n += 1;
        let n = *n;
        let recorded = self.pending.get_mut(&actor).and_then(|d| d.pop_front());
        self.current = Some((actor, n, recorded.as_ref().map(|r| r.event)));
        if let Err(e) = read {
            self.exhausted = true;
            self.note(format!("the recording could not be read further: {e}"));
        }
        recorded.map(|r| r.calls).unwrap_or_default()
    }

    /// Notes that the current delivery made a call the recording could not serve.
    pub(crate) fn note(&mut self, what: String) {
        if self.first_unmatched.is_none() {
            if let Some((actor, delivery, recorded_event)) = self.current {
                self.first_unmatched = Some(UnmatchedCall {
                    actor,
                    delivery,
                    recorded_event,
                    what,
                });
            }
        }
    }

    /// The first call the recording could not serve, if any.
    pub fn first_unmatched(&self) -> Option<&UnmatchedCall> {
        self.first_unmatched.as_ref()
    }
}
