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

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;

use theater_runtime::{HostCallOracle, UnmatchedCall};
use theater_trace::{ActorId, Digest, EventBody, Trace};

use crate::inspect::{decode, describe, payload_preview, text_diff};
use crate::rerun::{inputs_of, Rerun, RERUN_DELIVERIES_MAX};
use crate::{DebugError, Session, SessionOptions};

mod report;
mod stream;

use stream::{differences, Deliveries, Summary};

pub use report::REGRESS_JSON_VERSION;

/// A regression run may make this many times the recorded deliveries (at least
/// [`RERUN_DELIVERIES_MAX`]) before it is cut: a new build that loops forever ends.
pub const REGRESS_DELIVERIES_FACTOR: u64 = 2;

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
    /// Deliveries after which the new run is cut; `None`:
    /// [`REGRESS_DELIVERIES_FACTOR`] times the recorded ones, at least
    /// [`RERUN_DELIVERIES_MAX`].
    pub max_deliveries: Option<u64>,
    /// Where to write the new run as a trace (it must not exist); `None`: a temporary
    /// file, removed when the report is made.
    pub output: Option<PathBuf>,
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
    /// The new run stopped at `delivery_limit` with work still queued.
    pub cut: bool,
    pub delivery_limit: u64,
}

impl RegressReport {
    /// Whether the new builds behave exactly as recorded.
    pub fn identical(&self) -> bool {
        self.actors.iter().all(|a| a.differing == 0) && !self.cut
    }
}

/// Reruns `trace`'s external inputs against `options.swaps` and reports every change in
/// behaviour, per actor.
pub fn regress(trace: Trace, options: &RegressOptions) -> Result<RegressReport, DebugError> {
    let mut rerun = Rerun::with_swaps(&trace, &options.swaps)?;
    let inputs = inputs_of(&trace)?;
    let recorded = trace
        .events()
        .filter(|e| matches!(e, Ok(e) if matches!(e.event.body, EventBody::Delivered(_))))
        .count() as u64;
    let delivery_limit = options.max_deliveries.unwrap_or(
        recorded
            .saturating_mul(REGRESS_DELIVERIES_FACTOR)
            .max(RERUN_DELIVERIES_MAX),
    );
    rerun.set_delivery_limit(delivery_limit);
    // The new run is recorded to a file (the output, or a temporary one), so a long run
    // is never held in memory.
    let path = match &options.output {
        Some(p) => p.clone(),
        None => std::env::temp_dir().join(format!(
            "theater-regress-{}-{}.trace",
            std::process::id(),
            REGRESS_RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        )),
    };
    let _temporary = options.output.is_none().then(|| RemoveOnDrop(path.clone()));
    rerun.record_to(Some(path.clone()));
    let oracle = HostCallOracle::new(trace);
    let mut outcome = rerun.run_serving(&inputs.iter().collect::<Vec<_>>(), None, Some(oracle))?;
    let oracle = outcome.oracle.take().expect("the oracle comes back");
    let unmatched_call = oracle.first_unmatched().cloned();
    let trace = oracle.into_trace();
    let new = Trace::open(&path)?;
    let swapped: BTreeSet<Digest> = options.swaps.values().map(|b| Digest::of(b)).collect();
    let mut pairing = Pairing {
        runs: Runs {
            old: &trace,
            new: &new,
            options,
        },
        swapped,
        actors: BTreeMap::new(),
        fuel_differs: 0,
    };
    pairing.run()?;
    let fuel_differs = pairing.fuel_differs;
    let mut actors: Vec<ActorChanges> = pairing.actors.into_values().map(|a| a.changes).collect();
    let (recorded_events, new_events) = (trace.event_count(), new.event_count());
    let mut first = actors
        .iter()
        .filter_map(|a| a.first.first())
        .min_by_key(|c| (c.new_event.unwrap_or(u64::MAX), c.recorded_event))
        .cloned();
    for a in &mut actors {
        a.first.truncate(options.details);
    }
    // State diffs only for the changes shown (with `details` 0, the first alone).
    let shown = actors
        .iter_mut()
        .flat_map(|a| a.first.iter_mut())
        .chain(first.as_mut());
    fill_state_diffs(trace, new, shown.collect())?;
    Ok(RegressReport {
        recorded_events,
        new_events,
        inputs: inputs.len(),
        actors,
        first,
        unmatched_call,
        fuel_differs,
        cut: outcome.cut,
        delivery_limit,
    })
}

/// Numbers the temporary files of regression runs within one process.
static REGRESS_RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Removes a temporary file when dropped.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The two runs being compared.
struct Runs<'a> {
    old: &'a Trace,
    new: &'a Trace,
    options: &'a RegressOptions,
}

/// One actor's comparison in progress: the deliveries of each run not paired yet.
struct ActorPairing {
    changes: ActorChanges,
    old: VecDeque<Summary>,
    new: VecDeque<Summary>,
    /// Deliveries paired so far.
    k: usize,
    /// Whether the actor's state after its previous delivery differed.
    state_differed: bool,
}

/// Both runs read side by side, each actor's k-th delivery paired with its k-th.
struct Pairing<'a> {
    runs: Runs<'a>,
    swapped: BTreeSet<Digest>,
    actors: BTreeMap<ActorId, ActorPairing>,
    fuel_differs: u64,
}

impl Pairing<'_> {
    fn run(&mut self) -> Result<(), DebugError> {
        let (mut old, mut new) = (
            Deliveries::new(self.runs.old),
            Deliveries::new(self.runs.new),
        );
        let (mut old_open, mut new_open) = (true, true);
        while old_open || new_open {
            if old_open {
                match old.next_delivery()? {
                    Some(s) => self.push(s, false, &old, &new)?,
                    None => old_open = false,
                }
            }
            if new_open {
                match new.next_delivery()? {
                    Some(s) => self.push(s, true, &old, &new)?,
                    None => new_open = false,
                }
            }
        }
        // What is left happened in one run only.
        let ids: Vec<ActorId> = self.actors.keys().copied().collect();
        for id in ids {
            loop {
                let a = self.actors.get_mut(&id).expect("listed");
                let (x, y) = (a.old.pop_front(), a.new.pop_front());
                if x.is_none() && y.is_none() {
                    break;
                }
                self.compare(id, x, y)?;
            }
        }
        Ok(())
    }

    /// Queues a delivery of one run and compares what can now be paired.
    fn push(
        &mut self,
        s: Summary,
        is_new: bool,
        old: &Deliveries<'_>,
        new: &Deliveries<'_>,
    ) -> Result<(), DebugError> {
        let id = s.actor;
        let swapped = &self.swapped;
        let a = self.actors.entry(id).or_insert_with(|| {
            let (name, component) = new
                .actors
                .get(&id)
                .or_else(|| old.actors.get(&id))
                .cloned()
                .unwrap_or_default();
            ActorPairing {
                changes: ActorChanges {
                    actor: id,
                    name,
                    swapped: swapped.contains(&component),
                    recorded_deliveries: 0,
                    new_deliveries: 0,
                    differing: 0,
                    carried: 0,
                    by_aspect: BTreeMap::new(),
                    first: Vec::new(),
                },
                old: VecDeque::new(),
                new: VecDeque::new(),
                k: 0,
                state_differed: false,
            }
        });
        if is_new {
            a.changes.new_deliveries += 1;
            a.new.push_back(s);
        } else {
            a.changes.recorded_deliveries += 1;
            a.old.push_back(s);
        }
        self.drain(id)
    }

    /// Compares every pair now at the front of actor `id`'s queues.
    fn drain(&mut self, id: ActorId) -> Result<(), DebugError> {
        loop {
            let a = self.actors.get_mut(&id).expect("queued");
            if a.old.is_empty() || a.new.is_empty() {
                return Ok(());
            }
            let (x, y) = (a.old.pop_front(), a.new.pop_front());
            self.compare(id, x, y)?;
        }
    }

    /// Compares actor `id`'s next pair of deliveries (either may be missing).
    fn compare(
        &mut self,
        id: ActorId,
        x: Option<Summary>,
        y: Option<Summary>,
    ) -> Result<(), DebugError> {
        let details = self.runs.options.details.max(1);
        let a = self.actors.get_mut(&id).expect("queued");
        let k = a.k;
        a.k += 1;
        let compare_fuel = self.runs.options.compare_fuel || !a.changes.swapped;
        let (differs, fuel_only) = differences(x.as_ref(), y.as_ref(), compare_fuel);
        self.fuel_differs += u64::from(fuel_only && differs.is_empty());
        let carried = a.state_differed
            && !differs.is_empty()
            && differs.iter().all(|d| matches!(*d, "state" | "fuel"));
        a.state_differed = differs.contains(&"state");
        if carried {
            a.changes.carried += 1;
            return Ok(());
        }
        if differs.is_empty() {
            return Ok(());
        }
        a.changes.differing += 1;
        for d in &differs {
            *a.changes.by_aspect.entry(d).or_default() += 1;
        }
        // At least one, for the report's first change; trimmed to `details` later.
        if a.changes.first.len() < details {
            let c = self.runs.change(id, k, x.as_ref(), y.as_ref(), differs)?;
            self.actors
                .get_mut(&id)
                .expect("queued")
                .changes
                .first
                .push(c);
        }
        Ok(())
    }
}

impl Runs<'_> {
    /// One change in full: the events read again by number.
    fn change(
        &self,
        actor: ActorId,
        k: usize,
        x: Option<&Summary>,
        y: Option<&Summary>,
        differs: Vec<&'static str>,
    ) -> Result<DeliveryChange, DebugError> {
        let input = match x.map(|s| (self.old, s)).or(y.map(|s| (self.new, s))) {
            None => String::new(),
            Some((t, s)) => match t.event(s.delivered)?.event.body {
                EventBody::Delivered(d) => {
                    let text = payload_preview(t, &d.payload)
                        .unwrap_or_else(|| format!("({} bytes)", d.payload.len()));
                    format!("{} from {}: {text}", d.kind, d.from)
                }
                _ => String::new(),
            },
        };
        let outputs = |t: &Trace, s: Option<&Summary>| -> Result<String, DebugError> {
            Ok(match s {
                None => "(no such delivery)".to_string(),
                Some(s) => match s.outputs_event {
                    None => "(no outputs: the run was cut)".into(),
                    Some(n) => describe(t, &t.event(n)?),
                },
            })
        };
        Ok(DeliveryChange {
            actor,
            delivery: k as u64 + 1,
            recorded_event: x.map(|s| s.delivered),
            new_event: y.map(|s| s.delivered),
            differs,
            input,
            recorded: outputs(self.old, x)?,
            actual: outputs(self.new, y)?,
            state_diff: None,
        })
    }
}

/// Fills the state diff of every shown change whose state differs: the actor's state
/// after the delivery in each run, decoded, as a unified diff.
fn fill_state_diffs(
    old: Trace,
    new: Trace,
    mut changes: Vec<&mut DeliveryChange>,
) -> Result<(), DebugError> {
    // (actor, delivery, recorded event, new event) of each shown change of state.
    let mut keys: Vec<(ActorId, u64, Option<u64>, Option<u64>)> = changes
        .iter()
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
    for c in changes.iter_mut() {
        if let (Some(b), Some(a)) = (
            before.get(&(c.actor, c.delivery)),
            after.get(&(c.actor, c.delivery)),
        ) {
            c.state_diff = Some(text_diff(b, a, "recorded", "new build"));
        }
    }
    Ok(())
}
