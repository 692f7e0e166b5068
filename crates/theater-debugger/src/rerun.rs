//! Running a trace's system again with other external inputs (for `minimize` and
//! `bisect --good/--bad`), or with the same inputs against new builds (`regress`).
//!
//! A rerun builds the recorded system (manifest and components from the trace) and feeds
//! it inputs the way `theater run` does: run until idle, then for each input, inject it
//! and run until idle. It always runs in simulated mode with the trace's seed, so a rerun
//! is itself deterministic; a trace recorded live is rerun simulated.

use std::collections::BTreeMap;
use theater_runtime::replay::spec_from_trace;

use theater_runtime::{
    memory_sink, run_header, ComponentCache, HostCallOracle, Sink, System, SystemSpec,
};
use theater_trace::{ActorId, EventBody, MessageKind, RunMode, Trace, TraceWriter, WriterOptions};

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
    inputs_from(trace, trace.first_event())
}

/// The external inputs of `trace` (accepted and refused) from event `at` on.
pub fn inputs_from(trace: &Trace, at: u64) -> Result<Vec<Input>, DebugError> {
    let mut out = Vec::new();
    for e in trace.events_from(at) {
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
    /// The run, recorded (empty when recorded to a file, see [`Rerun::record_to`]).
    pub trace: Vec<u8>,
    pub deliveries: u64,
    /// Whether the run stopped at its delivery limit ([`RERUN_DELIVERIES_MAX`] unless
    /// set with [`Rerun::set_delivery_limit`]) with work still queued.
    pub cut: bool,
    /// The oracle, given back (with its trace, and what it could not serve).
    pub oracle: Option<HostCallOracle>,
}

/// Reruns of one trace's system. A clone shares the compiled components (with other
/// threads too).
#[derive(Clone, Debug)]
pub struct Rerun {
    spec: SystemSpec,
    cache: ComponentCache,
    delivery_limit: u64,
    /// Record reruns to this file instead of memory.
    record_to: Option<std::path::PathBuf>,
    /// Reruns made so far.
    pub runs: u64,
}

impl Rerun {
    /// Prepares reruns of the system recorded in `trace`.
    pub fn new(trace: &Trace) -> Result<Rerun, DebugError> {
        Rerun::with_swaps(trace, &BTreeMap::new())
    }

    /// Prepares reruns of the system recorded in `trace`, with components replaced by
    /// name (new builds).
    pub fn with_swaps(
        trace: &Trace,
        swaps: &BTreeMap<String, Vec<u8>>,
    ) -> Result<Rerun, DebugError> {
        let (spec, _) = spec_from_trace(trace, swaps)?;
        Rerun::from_spec(spec)
    }

    /// Prepares runs of the system `spec` describes (from a manifest), in simulated
    /// mode, as `theater explore` makes them.
    pub fn from_spec(mut spec: SystemSpec) -> Result<Rerun, DebugError> {
        spec.mode = RunMode::Simulated;
        let cache = ComponentCache::new(&spec.limits)?;
        Ok(Rerun {
            spec,
            cache,
            delivery_limit: RERUN_DELIVERIES_MAX,
            record_to: None,
            runs: 0,
        })
    }

    /// Stops each rerun after `n` deliveries (default [`RERUN_DELIVERIES_MAX`]).
    pub fn set_delivery_limit(&mut self, n: u64) {
        self.delivery_limit = n;
    }

    /// Records the next rerun into the file at `path` (which must not exist; the
    /// caller removes it between reruns) instead of memory: [`RerunOutcome::trace`] is then empty.
    pub fn record_to(&mut self, path: Option<std::path::PathBuf>) {
        self.record_to = path;
    }

    /// Orders the next reruns' deliveries by `schedule` (recorded in their traces).
    pub fn set_schedule(&mut self, schedule: theater_runtime::Schedule) {
        self.spec.schedule = schedule;
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
        self.run_serving(inputs, Some(predicate), None)
    }

    /// [`Rerun::run`], optionally with no predicate, and optionally serving recorded
    /// host-call results through `oracle` (see [`HostCallOracle`]).
    pub fn run_serving(
        &mut self,
        inputs: &[&Input],
        predicate: Option<&Predicate>,
        oracle: Option<HostCallOracle>,
    ) -> Result<RerunOutcome, DebugError> {
        self.runs += 1;
        let sink = match &self.record_to {
            None => memory_sink(&self.spec)?,
            Some(path) => {
                let writer = TraceWriter::create(
                    path,
                    run_header(&self.spec),
                    &self.spec.manifest_bytes(),
                    WriterOptions::default(),
                )?;
                Sink::File(Box::new(writer))
            }
        };
        let mut system = System::with_cache(&self.spec, sink, &mut self.cache)?;
        if let Some(o) = oracle {
            system.serve_host_calls(o);
        }
        let mut holds = false;
        let mut budget = self.delivery_limit;
        let watch = predicate.filter(|p| p.state_actor().is_some());
        let run =
            |system: &mut System, budget: &mut u64, holds: &mut bool| -> Result<(), DebugError> {
                while *budget > 0 && system.step()? {
                    *budget -= 1;
                    // A rerun has no client to answer: replies to external requests
                    // are recorded as outputs and otherwise dropped.
                    drop(system.take_replies());
                    if let (Some(p), false) = (watch, *holds) {
                        *holds = p.satisfied_by(system).is_some();
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
        let cut = budget == 0 && system.next_time().is_some();
        let oracle = system.take_host_call_oracle();
        let (_, sink) = system.finish(if cut {
            "delivery limit reached"
        } else {
            "idle"
        })?;
        let bytes = match sink {
            Sink::Memory(writer) => writer.finish()?.1,
            Sink::File(writer) => {
                writer.finish()?;
                Vec::new()
            }
            _ => unreachable!("reruns record to memory or a file"),
        };
        if let Some(p) = predicate.filter(|p| p.is_event_predicate()) {
            let trace = match &self.record_to {
                None => Trace::from_bytes(bytes.clone())?,
                Some(path) => Trace::open(path)?,
            };
            holds = event_predicate_holds(&trace, p)?;
        }
        Ok(RerunOutcome {
            holds,
            trace: bytes,
            deliveries,
            cut,
            oracle,
        })
    }
}

/// The first event of `trace` at which an event predicate holds.
pub fn first_event_matching(
    trace: &Trace,
    predicate: &Predicate,
) -> Result<Option<u64>, DebugError> {
    // A trace names an actor's component by its digest: `component=NAME` matches the
    // actors whose component has the bytes registered as NAME.
    let mut names = BTreeMap::new();
    let mut components: BTreeMap<theater_trace::Digest, Vec<String>> = BTreeMap::new();
    for e in trace.events() {
        let e = e?;
        match &e.event.body {
            EventBody::ComponentRegistered { name, component } => {
                components.entry(*component).or_default().push(name.clone());
            }
            EventBody::ActorSpawned {
                actor,
                name,
                component,
                ..
            } => {
                names.insert(*actor, (name.clone(), *component));
            }
            _ => {}
        }
        let is = |a: &ActorRef, id: ActorId| {
            let Some((name, digest)) = names.get(&id) else {
                return matches!(a, ActorRef::Id(x) if *x == id);
            };
            match a {
                ActorRef::Component(c) => components.get(digest).is_some_and(|n| n.contains(c)),
                _ => a.matches(id, name, ""),
            }
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
