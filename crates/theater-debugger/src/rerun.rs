//! Running a trace's system again with other external inputs (for `minimize` and
//! `bisect --good/--bad`).
//!
//! A rerun builds the recorded system (manifest and components from the trace) and feeds
//! it inputs the way `theater run` does: run until idle, then for each input, inject it
//! and run until idle. It always runs in simulated mode with the trace's seed, so a rerun
//! is itself deterministic; a trace recorded live is rerun simulated.

use theater_runtime::replay::spec_from_trace;
use theater_runtime::{memory_sink, ComponentCache, Sink, System, SystemSpec};
use theater_trace::{ActorId, EventBody, MessageKind, RunMode, Trace};

use crate::inspect::payload_bytes;
use crate::predicate::{ActorRef, Predicate};
use crate::DebugError;

/// At most this many deliveries per rerun, so that an input set that makes actors loop
/// forever ends (the rerun then counts as not reproducing).
pub const RERUN_DELIVERIES_MAX: u64 = 1_000_000;

/// An external input: target actor and payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Input {
    /// The recorded event number (in the trace it came from).
    pub event: u64,
    pub to: ActorId,
    pub payload: Vec<u8>,
    /// An external request (its reply leaves the system), not a one-way message.
    pub request: bool,
}

/// The external inputs of a trace, accepted and refused, in order.
pub fn inputs_of(trace: &Trace) -> Result<Vec<Input>, DebugError> {
    let mut out = Vec::new();
    for e in trace.events() {
        let e = e?;
        let (to, payload, request) = match &e.event.body {
            EventBody::Input(d) => (
                d.to,
                &d.payload,
                matches!(d.kind, MessageKind::Request { .. }),
            ),
            EventBody::Refused { to, payload, .. } => (*to, payload, false),
            _ => continue,
        };
        out.push(Input {
            event: e.number,
            to,
            payload: payload_bytes(trace, payload)?,
            request,
        });
    }
    Ok(out)
}

/// What a rerun produced.
#[derive(Debug)]
pub struct RerunOutcome {
    /// Whether the predicate held at some point of the run.
    pub holds: bool,
    /// The run, recorded.
    pub trace: Vec<u8>,
    pub deliveries: u64,
}

/// Reruns of one trace's system.
#[derive(Debug)]
pub struct Rerun {
    spec: SystemSpec,
    cache: ComponentCache,
    /// Reruns made so far.
    pub runs: u64,
}

impl Rerun {
    /// Prepares reruns of the system recorded in `trace`.
    pub fn new(trace: &Trace) -> Result<Rerun, DebugError> {
        let (mut spec, _) = spec_from_trace(trace, &Default::default())?;
        spec.mode = RunMode::Simulated;
        let cache = ComponentCache::new(&spec.limits)?;
        Ok(Rerun {
            spec,
            cache,
            runs: 0,
        })
    }

    /// The spec being rerun.
    pub fn spec(&self) -> &SystemSpec {
        &self.spec
    }

    /// Runs the system with `inputs`, recording it, and tells whether `predicate` held at
    /// any step.
    pub fn run(
        &mut self,
        inputs: &[&Input],
        predicate: &Predicate,
    ) -> Result<RerunOutcome, DebugError> {
        self.runs += 1;
        let mut system = System::with_cache(&self.spec, memory_sink(&self.spec)?, &mut self.cache)?;
        let mut holds = false;
        let mut budget = RERUN_DELIVERIES_MAX;
        let watch = predicate.state_actor().cloned();
        let run =
            |system: &mut System, budget: &mut u64, holds: &mut bool| -> Result<(), DebugError> {
                while *budget > 0 && system.step()? {
                    *budget -= 1;
                    // A rerun has no client to answer: replies to external requests
                    // are recorded as outputs and otherwise dropped.
                    drop(system.take_replies());
                    if let (Some(a), false) = (&watch, *holds) {
                        *holds = state_holds(system, a, predicate);
                    }
                }
                Ok(())
            };
        run(&mut system, &mut budget, &mut holds)?;
        for input in inputs {
            if input.request {
                // Refused or accepted, the trace records which.
                let _ = system.inject_request(input.to, input.payload.clone())?;
            } else {
                system.inject(input.to, input.payload.clone())?;
            }
            run(&mut system, &mut budget, &mut holds)?;
        }
        let deliveries = system.summary().deliveries;
        let (_, sink) = system.finish(if budget == 0 {
            "delivery limit reached"
        } else {
            "idle"
        })?;
        let Sink::Memory(writer) = sink else {
            unreachable!("reruns record to memory")
        };
        let (_, bytes) = writer.finish()?;
        if predicate.is_event_predicate() {
            let trace = Trace::from_bytes(bytes.clone())?;
            holds = event_predicate_holds(&trace, predicate)?;
        }
        Ok(RerunOutcome {
            holds,
            trace: bytes,
            deliveries,
        })
    }
}

fn state_holds(system: &System, a: &ActorRef, predicate: &Predicate) -> bool {
    let id = match a {
        ActorRef::Id(id) => Some(*id),
        ActorRef::Name(n) => system
            .actor_id(n)
            .or_else(|| system.actors().into_iter().find(|x| &x.2 == n).map(|x| x.0)),
    };
    id.and_then(|id| system.actor(id))
        .is_some_and(|(_, _, state)| predicate.holds_on_state(state))
}

/// The first event of `trace` at which an event predicate holds.
pub fn first_event_matching(
    trace: &Trace,
    predicate: &Predicate,
) -> Result<Option<u64>, DebugError> {
    let mut names = std::collections::BTreeMap::new();
    for e in trace.events() {
        let e = e?;
        if let EventBody::ActorSpawned { actor, name, .. } = &e.event.body {
            names.insert(*actor, name.clone());
        }
        let is = |a: &ActorRef, id: ActorId| match a {
            ActorRef::Id(x) => *x == id,
            ActorRef::Name(n) => names.get(&id) == Some(n),
        };
        if predicate.matches_event(&e.event.body, &is) {
            return Ok(Some(e.number));
        }
    }
    Ok(None)
}

fn event_predicate_holds(trace: &Trace, predicate: &Predicate) -> Result<bool, DebugError> {
    Ok(first_event_matching(trace, predicate)?.is_some())
}
