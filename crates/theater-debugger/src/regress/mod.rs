//! Regression against new builds: a trace's external inputs rerun with components
//! swapped, and every change in behaviour reported per actor.
//!
//! A replay with a swapped component stops at the first divergence. A regression check
//! needs more: *which* deliveries behave differently, for which actors, and what follows
//! from them. [`regress`] reruns the recorded inputs against the new builds (serving
//! recorded host-call results where the new build makes the same calls, see
//! `theater_runtime::oracle`), then pairs the k-th delivery to each actor in the
//! recording with the k-th in the new run and compares them aspect by aspect:
//! [`ASPECTS`]. Fuel is compared only for components that were not swapped, or with
//! `compare_fuel` (any rebuild changes fuel; a budget that runs out is a trap, and so an
//! outcome).
//!
//! The first [`RegressOptions::details`] changed deliveries of each actor carry the
//! message delivered, the outputs recorded and produced, and a diff of the actor's state.
//! A delivery that behaves the same on a state that already differed (so its state after
//! differs too) is *carried*, not changed: a fix that changes one delivery of an actor
//! whose state accumulates reports that one delivery, and how far its difference carries.

use std::collections::{BTreeMap, BTreeSet};

use theater_runtime::{HostCallOracle, UnmatchedCall};
use theater_trace::{ActorId, Delivery, DeliveryOutputs, Digest, EventBody, RecordedEvent, Trace};

use crate::inspect::{decode, describe, payload_preview, text_diff};
use crate::rerun::{inputs_of, Rerun};
use crate::{DebugError, Session, SessionOptions};

mod report;

pub use report::REGRESS_JSON_VERSION;

/// Changed deliveries shown in full per actor, by default.
pub const REGRESS_DETAILS_DEFAULT: usize = 5;

/// What is compared for each pair of deliveries, in report order. `presence`: the
/// delivery happens in only one of the runs.
pub const ASPECTS: [&str; 8] = [
    "presence",
    "input",
    "state",
    "sent",
    "logs",
    "host-calls",
    "outcome",
    "fuel",
];

/// How to regress.
#[derive(Clone, Debug, Default)]
pub struct RegressOptions {
    /// New builds, by component name.
    pub swaps: BTreeMap<String, Vec<u8>>,
    /// Compare fuel for swapped components too.
    pub compare_fuel: bool,
    /// Changed deliveries shown in full per actor.
    pub details: usize,
}

/// One delivery that behaves differently.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryChange {
    pub actor: ActorId,
    /// Which delivery to the actor, counting from 1 (`init` is delivery 1).
    pub delivery: u64,
    /// Its `Delivered` event in the recording and in the new run (`None` where absent).
    pub recorded_event: Option<u64>,
    pub new_event: Option<u64>,
    /// The aspects that differ (names from [`ASPECTS`]).
    pub differs: Vec<&'static str>,
    /// The message delivered (recorded side when present), as text.
    pub input: String,
    /// The outputs, as `dump` prints them.
    pub recorded: String,
    pub actual: String,
    /// Unified diff of the actor's state after the delivery (when `state` differs).
    pub state_diff: Option<String>,
}

/// The behaviour changes of one actor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActorChanges {
    pub actor: ActorId,
    pub name: String,
    /// Whether its component was swapped.
    pub swapped: bool,
    pub recorded_deliveries: u64,
    pub new_deliveries: u64,
    /// Deliveries that differ in any aspect.
    pub differing: u64,
    /// Deliveries that behave the same but whose state still differs (and maybe their
    /// fuel) because it already differed before them: a difference carried forward,
    /// not a new one.
    pub carried: u64,
    /// Per aspect: how many deliveries differ in it.
    pub by_aspect: BTreeMap<&'static str, u64>,
    /// The first changes, in full.
    pub first: Vec<DeliveryChange>,
}

/// What [`regress`] found.
#[derive(Clone, Debug)]
pub struct RegressReport {
    pub recorded_events: u64,
    pub new_events: u64,
    pub inputs: usize,
    /// Every actor of either run, by id.
    pub actors: Vec<ActorChanges>,
    /// The earliest change of the run (by the new run's order).
    pub first: Option<DeliveryChange>,
    /// The first host call the recording could not serve.
    pub unmatched_call: Option<UnmatchedCall>,
    /// Deliveries of swapped components whose fuel differs while nothing else does.
    pub fuel_differs: u64,
    /// The new run stopped at the rerun delivery limit.
    pub cut: bool,
    /// The new run, recorded.
    pub trace: Vec<u8>,
}

impl RegressReport {
    /// Whether the new builds behave exactly as recorded.
    pub fn identical(&self) -> bool {
        self.actors.iter().all(|a| a.differing == 0) && !self.cut
    }
}

/// One delivery as read from a trace.
struct Seen {
    delivered: RecordedEvent,
    calls: Vec<EventBody>,
    outputs: Option<RecordedEvent>,
}

impl Seen {
    fn delivery(&self) -> &Delivery {
        match &self.delivered.event.body {
            EventBody::Delivered(d) => d,
            _ => unreachable!("a Seen starts at a Delivered event"),
        }
    }

    fn outputs(&self) -> Option<&DeliveryOutputs> {
        match self.outputs.as_ref().map(|e| &e.event.body) {
            Some(EventBody::Outputs(o)) => Some(o),
            _ => None,
        }
    }
}

/// A trace's deliveries per actor, and its actors' names and components.
struct Deliveries {
    per_actor: BTreeMap<ActorId, Vec<Seen>>,
    actors: BTreeMap<ActorId, (String, Digest)>,
}

fn deliveries(trace: &Trace) -> Result<Deliveries, DebugError> {
    let mut per_actor: BTreeMap<ActorId, Vec<Seen>> = BTreeMap::new();
    let mut actors = BTreeMap::new();
    for e in trace.events() {
        let e = e?;
        match &e.event.body {
            EventBody::ActorSpawned {
                actor,
                name,
                component,
                ..
            } => {
                actors.insert(*actor, (name.clone(), *component));
            }
            EventBody::Delivered(d) => per_actor.entry(d.to).or_default().push(Seen {
                delivered: e.clone(),
                calls: Vec::new(),
                outputs: None,
            }),
            EventBody::HostCall { actor, .. } => {
                if let Some(s) = per_actor.get_mut(actor).and_then(|v| v.last_mut()) {
                    s.calls.push(e.event.body.clone());
                }
            }
            EventBody::Outputs(o) => {
                if let Some(s) = per_actor.get_mut(&o.actor).and_then(|v| v.last_mut()) {
                    s.outputs = Some(e.clone());
                }
            }
            _ => {}
        }
    }
    Ok(Deliveries { per_actor, actors })
}

/// The aspects in which two deliveries differ (`fuel` only when `fuel` is compared).
fn differences(
    a: Option<&Seen>,
    b: Option<&Seen>,
    compare_fuel: bool,
) -> (Vec<&'static str>, bool) {
    let (Some(a), Some(b)) = (a, b) else {
        return (vec!["presence"], false);
    };
    let (da, db) = (a.delivery(), b.delivery());
    let mut out = Vec::new();
    if (&da.from, &da.kind, &da.payload) != (&db.from, &db.kind, &db.payload) {
        out.push("input");
    }
    let (oa, ob) = (a.outputs(), b.outputs());
    if let (Some(x), Some(y)) = (oa, ob) {
        if x.state != y.state {
            out.push("state");
        }
        if x.sent != y.sent {
            out.push("sent");
        }
        if x.logs != y.logs {
            out.push("logs");
        }
    }
    if a.calls != b.calls {
        out.push("host-calls");
    }
    if oa.map(|o| &o.outcome) != ob.map(|o| &o.outcome) {
        out.push("outcome");
    }
    let fuel = matches!((oa, ob), (Some(x), Some(y)) if x.fuel_used != y.fuel_used);
    if fuel && compare_fuel {
        out.push("fuel");
    }
    (out, fuel && !compare_fuel)
}

/// Reruns `trace`'s external inputs against `options.swaps` and reports every change in
/// behaviour, per actor.
pub fn regress(trace: Trace, options: &RegressOptions) -> Result<RegressReport, DebugError> {
    let mut rerun = Rerun::with_swaps(&trace, &options.swaps)?;
    let inputs = inputs_of(&trace)?;
    let oracle = HostCallOracle::from_trace(&trace)?;
    let outcome = rerun.run_serving(&inputs.iter().collect::<Vec<_>>(), None, Some(oracle))?;
    let new = Trace::from_bytes(outcome.trace.clone())?;
    let new_events = new.event_count();
    let swapped: BTreeSet<Digest> = options.swaps.values().map(|b| Digest::of(b)).collect();
    let (old_d, new_d) = (deliveries(&trace)?, deliveries(&new)?);
    let ids: BTreeSet<ActorId> = old_d
        .actors
        .keys()
        .chain(new_d.actors.keys())
        .copied()
        .collect();
    let runs = Runs {
        old: &trace,
        new: &new,
        options,
    };
    let mut actors = Vec::new();
    let mut fuel_differs = 0;
    for id in ids {
        let (name, component) = new_d
            .actors
            .get(&id)
            .or_else(|| old_d.actors.get(&id))
            .cloned()
            .unwrap_or_default();
        let mut changes = ActorChanges {
            actor: id,
            name,
            swapped: swapped.contains(&component),
            recorded_deliveries: 0,
            new_deliveries: 0,
            differing: 0,
            carried: 0,
            by_aspect: BTreeMap::new(),
            first: Vec::new(),
        };
        fuel_differs += runs.compare(
            &mut changes,
            old_d.per_actor.get(&id).map_or(&[][..], |v| v.as_slice()),
            new_d.per_actor.get(&id).map_or(&[][..], |v| v.as_slice()),
        );
        actors.push(changes);
    }
    let recorded_events = trace.event_count();
    fill_state_diffs(trace, new, &mut actors)?;
    let first = actors
        .iter()
        .filter_map(|a| a.first.first())
        .min_by_key(|c| (c.new_event.unwrap_or(u64::MAX), c.recorded_event))
        .cloned();
    for a in &mut actors {
        a.first.truncate(options.details);
    }
    Ok(RegressReport {
        recorded_events,
        new_events,
        inputs: inputs.len(),
        actors,
        first,
        unmatched_call: outcome.unmatched,
        fuel_differs,
        cut: outcome.cut,
        trace: outcome.trace,
    })
}

/// The two runs being compared.
struct Runs<'a> {
    old: &'a Trace,
    new: &'a Trace,
    options: &'a RegressOptions,
}

impl Runs<'_> {
    /// Compares one actor's deliveries, `a` recorded and `b` new, pairing the k-th with
    /// the k-th, into `changes`. Returns how many differ in fuel only (not compared).
    fn compare(&self, changes: &mut ActorChanges, a: &[Seen], b: &[Seen]) -> u64 {
        changes.recorded_deliveries = a.len() as u64;
        changes.new_deliveries = b.len() as u64;
        let compare_fuel = self.options.compare_fuel || !changes.swapped;
        let mut fuel_differs = 0;
        // Whether the actor's state after its previous delivery differed.
        let mut state_differed = false;
        for k in 0..a.len().max(b.len()) {
            let (x, y) = (a.get(k), b.get(k));
            let (differs, fuel_only) = differences(x, y, compare_fuel);
            fuel_differs += u64::from(fuel_only && differs.is_empty());
            let carried = state_differed
                && !differs.is_empty()
                && differs.iter().all(|d| matches!(*d, "state" | "fuel"));
            state_differed = differs.contains(&"state");
            if carried {
                changes.carried += 1;
                continue;
            }
            if differs.is_empty() {
                continue;
            }
            changes.differing += 1;
            for d in &differs {
                *changes.by_aspect.entry(d).or_default() += 1;
            }
            // At least one, for the report's first change; trimmed to `details` later.
            if changes.first.len() < self.options.details.max(1) {
                let c = change(self.old, self.new, changes.actor, k, x, y, differs);
                changes.first.push(c);
            }
        }
        fuel_differs
    }
}

fn change(
    old: &Trace,
    new: &Trace,
    actor: ActorId,
    k: usize,
    x: Option<&Seen>,
    y: Option<&Seen>,
    differs: Vec<&'static str>,
) -> DeliveryChange {
    let input = x
        .map(|s| (old, s))
        .or(y.map(|s| (new, s)))
        .map(|(t, s)| {
            let d = s.delivery();
            let text = payload_preview(t, &d.payload)
                .unwrap_or_else(|| format!("({} bytes)", d.payload.len()));
            format!("{} from {}: {text}", d.kind, d.from)
        })
        .unwrap_or_default();
    let outputs = |t: &Trace, s: Option<&Seen>| match s {
        None => "(no such delivery)".to_string(),
        Some(s) => s
            .outputs
            .as_ref()
            .map_or("(no outputs: the run was cut)".into(), |e| describe(t, e)),
    };
    DeliveryChange {
        actor,
        delivery: k as u64 + 1,
        recorded_event: x.map(|s| s.delivered.number),
        new_event: y.map(|s| s.delivered.number),
        differs,
        input,
        recorded: outputs(old, x),
        actual: outputs(new, y),
        state_diff: None,
    }
}

/// Fills the state diff of every shown change whose state differs: the actor's state
/// after the delivery in each run, decoded, as a unified diff.
fn fill_state_diffs(old: Trace, new: Trace, actors: &mut [ActorChanges]) -> Result<(), DebugError> {
    // (actor, delivery, recorded event, new event) of each shown change of state.
    let mut keys: Vec<(ActorId, u64, Option<u64>, Option<u64>)> = actors
        .iter()
        .flat_map(|a| a.first.iter())
        .filter(|c| c.differs.contains(&"state"))
        .map(|c| (c.actor, c.delivery, c.recorded_event, c.new_event))
        .collect();
    if keys.is_empty() {
        return Ok(());
    }
    let state = |s: &mut Session, event: Option<u64>, actor| -> Result<String, DebugError> {
        let Some(event) = event else {
            return Ok(String::new());
        };
        let p = s.position_of_event(event)?;
        Ok(s.state_at(actor, p)?
            .map(|b| decode(&b).render() + "\n")
            .unwrap_or_default())
    };
    // Each session seeks forward only: keys in its run's event order.
    let mut before = BTreeMap::new();
    let mut session = Session::new(old, &SessionOptions::default())?;
    keys.sort_by_key(|k| k.2);
    for &(actor, k, event, _) in &keys {
        before.insert((actor, k), state(&mut session, event, actor)?);
    }
    let mut after = BTreeMap::new();
    let mut session = Session::new(new, &SessionOptions::default())?;
    keys.sort_by_key(|k| k.3);
    for &(actor, k, _, event) in &keys {
        after.insert((actor, k), state(&mut session, event, actor)?);
    }
    for c in actors.iter_mut().flat_map(|a| a.first.iter_mut()) {
        if let (Some(b), Some(a)) = (
            before.get(&(c.actor, c.delivery)),
            after.get(&(c.actor, c.delivery)),
        ) {
            c.state_diff = Some(text_diff(b, a, "recorded", "new build"));
        }
    }
    Ok(())
}
