//! One trace's deliveries as a stream of compact summaries, so that two runs of any
//! length are compared in memory proportional to how far apart they drift, not to
//! their length.
//!
//! A delivery's events are contiguous in a trace (`Delivered`, its `HostCall`s, its
//! `Outputs`), so a summary is complete at its `Outputs` (or at the end of a cut trace).
//! Each compared part is kept as a digest of its canonical encoding; the events
//! themselves are read again, by number, only for the changes shown in full.

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;
use theater_trace::{ActorId, Digest, EventBody, Events, Outcome, Trace};

use crate::DebugError;

/// What is compared of one delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Summary {
    pub(super) actor: ActorId,
    /// Its `Delivered` event, and its `Outputs` event (`None` in a cut trace).
    pub(super) delivered: u64,
    pub(super) outputs_event: Option<u64>,
    /// Sender, kind and payload.
    pub(super) input: Digest,
    /// Every recorded host call: function, request, response.
    pub(super) calls: Digest,
    pub(super) outputs: Option<Outputs>,
}

/// What is compared of a delivery's outputs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Outputs {
    pub(super) state: Digest,
    pub(super) sent: Digest,
    pub(super) logs: Digest,
    pub(super) outcome: Outcome,
    pub(super) fuel: u64,
}

/// The digest of a value's canonical (MessagePack) encoding.
fn digest_of(value: &impl Serialize) -> Digest {
    // Every type of the event model serializes; a Vec cannot fail to take the bytes.
    Digest::of(&rmp_serde::to_vec(value).expect("the event model serializes"))
}

/// A trace's deliveries, in trace order, and its actors as they are spawned.
pub(super) struct Deliveries<'a> {
    events: Events<'a>,
    current: Option<(Summary, Vec<u8>)>,
    ready: VecDeque<Summary>,
    /// Name and component digest of every actor spawned so far.
    pub(super) actors: BTreeMap<ActorId, (String, Digest)>,
    done: bool,
}

impl<'a> Deliveries<'a> {
    pub(super) fn new(trace: &'a Trace) -> Deliveries<'a> {
        Deliveries {
            events: trace.events(),
            current: None,
            ready: VecDeque::new(),
            actors: BTreeMap::new(),
            done: false,
        }
    }

    /// The delivery in progress, finished (its host calls hashed).
    fn close(&mut self) {
        if let Some((mut s, calls)) = self.current.take() {
            s.calls = Digest::of(&calls);
            self.ready.push_back(s);
        }
    }

    /// The next complete delivery.
    pub(super) fn next_delivery(&mut self) -> Result<Option<Summary>, DebugError> {
        while self.ready.is_empty() && !self.done {
            let Some(e) = self.events.next() else {
                self.done = true;
                self.close();
                break;
            };
            let mut e = e?;
            // Compared by content: a payload is inline or a blob depending on its size
            // and the trace's format version.
            e.event.body.for_each_payload_mut(|p| *p = p.by_reference());
            match e.event.body {
                EventBody::ActorSpawned {
                    actor,
                    name,
                    component,
                    ..
                } => {
                    self.actors.insert(actor, (name, component));
                }
                EventBody::Delivered(d) => {
                    self.close();
                    let summary = Summary {
                        actor: d.to,
                        delivered: e.number,
                        outputs_event: None,
                        input: digest_of(&(&d.from, &d.kind, &d.payload)),
                        calls: Digest::ZERO,
                        outputs: None,
                    };
                    self.current = Some((summary, Vec::new()));
                }
                EventBody::HostCall {
                    actor,
                    function,
                    request,
                    response,
                } => {
                    if let Some((_, calls)) =
                        self.current.as_mut().filter(|(s, _)| s.actor == actor)
                    {
                        calls.extend_from_slice(
                            &rmp_serde::to_vec(&(&function, &request, &response))
                                .expect("the event model serializes"),
                        );
                    }
                }
                EventBody::Outputs(o) => {
                    if let Some((s, _)) = self.current.as_mut().filter(|(s, _)| s.actor == o.actor)
                    {
                        s.outputs_event = Some(e.number);
                        s.outputs = Some(Outputs {
                            state: o.state,
                            sent: digest_of(&o.sent),
                            logs: digest_of(&o.logs),
                            outcome: o.outcome,
                            fuel: o.fuel_used,
                        });
                        self.close();
                    }
                }
                _ => {}
            }
        }
        Ok(self.ready.pop_front())
    }
}

/// The aspects in which two deliveries differ (`fuel` only when `compare_fuel`), and
/// whether their fuel differs while fuel is not compared.
pub(super) fn differences(
    a: Option<&Summary>,
    b: Option<&Summary>,
    compare_fuel: bool,
) -> (Vec<&'static str>, bool) {
    let (Some(a), Some(b)) = (a, b) else {
        return (vec!["presence"], false);
    };
    let mut out = Vec::new();
    if a.input != b.input {
        out.push("input");
    }
    if let (Some(x), Some(y)) = (&a.outputs, &b.outputs) {
        for (name, differs) in [
            ("state", x.state != y.state),
            ("sent", x.sent != y.sent),
            ("logs", x.logs != y.logs),
        ] {
            if differs {
                out.push(name);
            }
        }
    }
    if a.calls != b.calls {
        out.push("host-calls");
    }
    if a.outputs.as_ref().map(|o| &o.outcome) != b.outputs.as_ref().map(|o| &o.outcome) {
        out.push("outcome");
    }
    let fuel = matches!((&a.outputs, &b.outputs), (Some(x), Some(y)) if x.fuel != y.fuel);
    if fuel && compare_fuel {
        out.push("fuel");
    }
    (out, fuel && !compare_fuel)
}
