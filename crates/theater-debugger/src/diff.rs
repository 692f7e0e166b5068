//! Diff of two traces, aligned per actor.
//!
//! Each trace is split into one stream per actor (events that name no actor, such as the
//! run header and component registrations, form a stream of their own). Streams are
//! compared event by event (bodies, not digests: a digest differs after any earlier
//! difference anywhere in the run). The first divergence is the earliest, by event
//! number, of the per-actor first differences; it is shown with three events of context
//! on each side, in each trace. A summary follows: actors only in one run, event counts
//! and final states that differ, failures.
//!
//! A fork (`theater-replay fork`) diffed against its parent is aligned at the fork
//! point: the parent's events from the event the fork goes on from, against the fork's
//! events after its setup and snapshot. The history they share is not compared, and
//! neither is fuel: the fork runs fresh instances from its snapshot, and a fresh
//! allocator can burn different fuel for the same handler on the same state.

use std::collections::{BTreeMap, BTreeSet};

use theater_trace::{ActorId, Digest, EventBody, Outcome, RecordedEvent, Trace};

use crate::inspect::describe;
use crate::DebugError;

/// Events of context shown on each side of the first divergence.
pub const DIFF_CONTEXT_EVENTS: usize = 3;

/// One side of the first divergence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Side {
    /// The first differing event (`None`: this trace's stream ended first).
    pub event: Option<u64>,
    /// Lines of context: (event number, text, whether it is the differing event).
    pub context: Vec<(u64, String, bool)>,
}

/// Where two traces first differ.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FirstDivergence {
    /// The stream: an actor (id and name), or `None` for run-level events.
    pub actor: Option<(ActorId, String)>,
    /// Index of the differing event within the actor's stream.
    pub index: usize,
    pub a: Side,
    pub b: Side,
}

/// What differs for one actor.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ActorSummary {
    pub name: String,
    pub events: (u64, u64),
    pub deliveries: (u64, u64),
    pub failures: (u64, u64),
    pub final_state: (Option<Digest>, Option<Digest>),
}

/// The result of a diff.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceDiff {
    /// `None` when the traces record the same run.
    pub first: Option<FirstDivergence>,
    pub events: (u64, u64),
    pub heads: (Digest, Digest),
    /// Actors present in only one run: (id, name, in a).
    pub only_in_one: Vec<(ActorId, String, bool)>,
    /// Actors present in both whose streams differ.
    pub differing: BTreeMap<ActorId, ActorSummary>,
    /// One trace is a fork of the other: the events compared start here in each (the
    /// parent's fork point, the fork's first step).
    pub aligned_from: Option<(u64, u64)>,
}

impl TraceDiff {
    /// Whether the two traces record the same run.
    pub fn same(&self) -> bool {
        self.first.is_none()
    }
}

struct Streams {
    by_actor: BTreeMap<Option<ActorId>, Vec<RecordedEvent>>,
    names: BTreeMap<ActorId, String>,
}

/// The streams of `trace`'s events from event `from` on (actor names from all of them).
fn streams(trace: &Trace, from: u64) -> Result<Streams, DebugError> {
    let mut by_actor: BTreeMap<Option<ActorId>, Vec<RecordedEvent>> = BTreeMap::new();
    let mut names = BTreeMap::new();
    // Inside a segment's setup (its start, the components registered again).
    let mut setup = false;
    for e in trace.events() {
        let e = e?;
        if let EventBody::ActorSpawned { actor, name, .. } = &e.event.body {
            names.insert(*actor, name.clone());
        }
        // Where a recording put snapshots and segment boundaries depends on the wall
        // clock and the sizes, not on what the run did: two recordings of one run differ
        // there, and a diff does not show it.
        let bookkeeping = match &e.event.body {
            EventBody::SegmentStarted { .. } => {
                setup = true;
                true
            }
            EventBody::ComponentRegistered { .. } => setup,
            EventBody::Snapshot { .. } => true,
            _ => {
                setup = false;
                false
            }
        };
        if e.number >= from && !bookkeeping {
            by_actor.entry(e.event.body.actor()).or_default().push(e);
        }
    }
    // A trace that starts at a snapshot (a fork, or what retention left) spawned its
    // actors before its first event: their names are in that snapshot.
    let unnamed = by_actor.keys().flatten().any(|a| !names.contains_key(a));
    if let (true, Some(&first)) = (unnamed, trace.snapshots()?.first()) {
        let at = theater_runtime::replay::snapshot_at(trace, first)?;
        for (id, name) in at.names() {
            names.entry(id).or_insert_with(|| name.to_string());
        }
    }
    Ok(Streams { by_actor, names })
}

/// If `fork` is a fork of `parent` (its setup names `parent`'s head): the parent event
/// it goes on from, and the fork's first event after its snapshot.
fn fork_of(parent: &Trace, fork: &Trace) -> Result<Option<(u64, u64)>, DebugError> {
    let Some((head, at)) = fork.fork_origin()? else {
        return Ok(None);
    };
    if head != parent.head() {
        return Ok(None);
    }
    // The fork's own run starts after the snapshot that ends its setup.
    for e in fork.events() {
        let e = e?;
        if matches!(e.event.body, EventBody::Snapshot { .. }) {
            return Ok(Some((at, e.number + 1)));
        }
    }
    Ok(None)
}

fn summary(events: &[RecordedEvent]) -> (u64, u64, u64, Option<Digest>) {
    let (mut deliveries, mut failures, mut state) = (0, 0, None);
    for e in events {
        match &e.event.body {
            EventBody::Delivered(_) => deliveries += 1,
            EventBody::Outputs(o) => {
                state = Some(o.state);
                if !matches!(o.outcome, Outcome::Ok) {
                    failures += 1;
                }
            }
            _ => {}
        }
    }
    (events.len() as u64, deliveries, failures, state)
}

fn context(trace: &Trace, stream: &[RecordedEvent], at: usize) -> Side {
    let lo = at.saturating_sub(DIFF_CONTEXT_EVENTS);
    let hi = (at + DIFF_CONTEXT_EVENTS + 1).min(stream.len());
    Side {
        event: stream.get(at).map(|e| e.number),
        context: stream[lo.min(hi)..hi]
            .iter()
            .enumerate()
            .map(|(i, e)| (e.number, describe(trace, e), lo + i == at))
            .collect(),
    }
}

/// Whether two events are the same (but for fuel, with `any_fuel`).
fn same_event(a: Option<&EventBody>, b: Option<&EventBody>, any_fuel: bool) -> bool {
    match (a, b) {
        (Some(EventBody::Outputs(x)), Some(EventBody::Outputs(y))) if any_fuel => {
            let y = theater_trace::DeliveryOutputs {
                fuel_used: x.fuel_used,
                ..y.clone()
            };
            *x == y
        }
        _ => a == b,
    }
}

/// Compares two traces.
pub fn diff(a: &Trace, b: &Trace) -> Result<TraceDiff, DebugError> {
    let aligned_from = match fork_of(a, b)? {
        Some(from) => Some(from),
        None => fork_of(b, a)?.map(|(parent, fork)| (fork, parent)),
    };
    let (from_a, from_b) = aligned_from.unwrap_or((0, 0));
    let sa = streams(a, from_a)?;
    let sb = streams(b, from_b)?;
    let keys: BTreeSet<Option<ActorId>> = sa
        .by_actor
        .keys()
        .chain(sb.by_actor.keys())
        .copied()
        .collect();
    let empty = Vec::new();
    // (event number where it shows first, key, index in the stream)
    let mut firsts: Vec<(u64, Option<ActorId>, usize)> = Vec::new();
    let mut only_in_one = Vec::new();
    let mut differing = BTreeMap::new();
    for key in keys {
        let ea = sa.by_actor.get(&key).unwrap_or(&empty);
        let eb = sb.by_actor.get(&key).unwrap_or(&empty);
        let fork = aligned_from.is_some();
        let Some(i) = (0..ea.len().max(eb.len())).find(|&i| {
            !same_event(
                ea.get(i).map(|e| &e.event.body),
                eb.get(i).map(|e| &e.event.body),
                fork,
            )
        }) else {
            continue;
        };
        let at = ea.get(i).or(eb.get(i)).map_or(u64::MAX, |e| e.number);
        let at = at.min(eb.get(i).map_or(u64::MAX, |e| e.number));
        firsts.push((at, key, i));
        if let Some(id) = key {
            if ea.is_empty() || eb.is_empty() {
                let name = sa
                    .names
                    .get(&id)
                    .or(sb.names.get(&id))
                    .cloned()
                    .unwrap_or_default();
                only_in_one.push((id, name, eb.is_empty()));
            } else {
                let name = sa.names.get(&id).cloned().unwrap_or_default();
                let (xa, da, fa, sa_) = summary(ea);
                let (xb, db, fb, sb_) = summary(eb);
                differing.insert(
                    id,
                    ActorSummary {
                        name,
                        events: (xa, xb),
                        deliveries: (da, db),
                        failures: (fa, fb),
                        final_state: (sa_, sb_),
                    },
                );
            }
        }
    }
    let first = firsts.iter().min().map(|&(_, key, i)| {
        let ea = sa.by_actor.get(&key).unwrap_or(&empty);
        let eb = sb.by_actor.get(&key).unwrap_or(&empty);
        FirstDivergence {
            actor: key.map(|id| {
                (
                    id,
                    sa.names
                        .get(&id)
                        .or(sb.names.get(&id))
                        .cloned()
                        .unwrap_or_default(),
                )
            }),
            index: i,
            a: context(a, ea, i),
            b: context(b, eb, i),
        }
    });
    Ok(TraceDiff {
        first,
        events: (a.event_count(), b.event_count()),
        heads: (a.head(), b.head()),
        only_in_one,
        differing,
        aligned_from,
    })
}
