//! `bisect`: the first step at which a predicate holds, and the input that caused it.
//!
//! - Event predicates (`failed`, `log:`) are decided from the recorded events: the culprit
//!   is the step holding the first matching event, found without re-executing anything.
//! - State predicates are evaluated on replayed state. When the predicate holds at the
//!   end of the trace, bisection assumes it keeps holding once it holds (as `git bisect`
//!   does) and binary-searches the steps: each probe seeks with the session's checkpoints,
//!   so it re-executes at most one checkpoint interval beyond the nearest checkpoint, and
//!   the search takes O(log n) probes. Probes go to recorded snapshots first (each is a
//!   restore, nothing re-executed) until the step lies between two of them. When it does
//!   not hold at the end (a condition that comes and goes), every step is checked in one
//!   forward pass instead.
//!
//! [`bisect_inputs`] compares two runs of the same system that got different inputs.

use theater_trace::{ActorId, EventBody, MessageKind, RecordedEvent, Sender, Trace};

use crate::predicate::Predicate;
use crate::rerun::{first_event_matching, inputs_of, Input, Rerun};
use crate::session::Session;
use crate::DebugError;

/// How far back `bisect` follows a chain of messages to the input that started it.
pub const CAUSE_CHAIN_MAX: usize = 64;

/// How the culprit was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// From recorded events, no re-execution.
    Events,
    /// Binary search over steps.
    Binary,
    /// Step-by-step forward pass.
    Linear,
}

/// What `bisect` found.
#[derive(Clone, Debug)]
pub struct BisectReport {
    /// The step after which the predicate first holds (0: it holds from the start).
    pub step: usize,
    /// The step's events (the culprit delivery or input).
    pub events: Vec<RecordedEvent>,
    /// The chain of causes, from the culprit back to what started it (an external
    /// input, a timer, or the runtime).
    pub causes: Vec<RecordedEvent>,
    /// The actor whose state is shown.
    pub actor: Option<(ActorId, String)>,
    /// Its state before and after the step.
    pub before: Option<Vec<u8>>,
    pub after: Option<Vec<u8>>,
    pub method: Method,
    /// Predicate evaluations on replayed state.
    pub probes: u32,
    /// Events re-executed by the search.
    pub events_reexecuted: u64,
}

impl BisectReport {
    /// The external input at the root of the cause chain, if the chain starts outside.
    pub fn input(&self) -> Option<&RecordedEvent> {
        self.causes
            .last()
            .filter(|e| matches!(e.event.body, EventBody::Input(_)))
    }
}

/// Of the ascending `steps`, the one strictly between `lo` and `hi` nearest their middle.
fn nearest_between(steps: &[usize], lo: usize, hi: usize) -> Option<usize> {
    let mid = lo + (hi - lo) / 2;
    let i = steps.partition_point(|&p| p < mid);
    [i.checked_sub(1), Some(i)]
        .into_iter()
        .flatten()
        .filter_map(|i| steps.get(i).copied())
        .filter(|&p| p > lo && p < hi)
        .min_by_key(|&p| p.abs_diff(mid))
}

/// Finds the first step at which `predicate` holds; `None` if it never does.
pub fn bisect(
    session: &mut Session,
    predicate: &Predicate,
) -> Result<Option<BisectReport>, DebugError> {
    let start = session.events_reexecuted();
    let mut probes = 0u32;
    let (step, method) = if predicate.is_event_predicate() {
        match first_event_matching(session.trace(), predicate)? {
            None => return Ok(None),
            Some(e) => (session.position_of_event(e)?, Method::Events),
        }
    } else {
        let mut holds = |s: &mut Session, p: usize| -> Result<bool, DebugError> {
            probes += 1;
            s.at(p, |system| predicate.satisfied_by(system).is_some())
        };
        let last = session.steps();
        if holds(session, last)? {
            let (mut lo, mut hi) = (0usize, last);
            if holds(session, 0)? {
                hi = 0;
            }
            // Invariant: holds(hi), and !holds(lo) unless hi == 0. A probe at a recorded
            // snapshot costs a restore and no re-execution, so while one lies between lo
            // and hi the probe goes to the one nearest the middle.
            let snapshots = session.snapshot_steps()?;
            while hi > 0 && hi - lo > 1 {
                let mid = nearest_between(&snapshots, lo, hi).unwrap_or(lo + (hi - lo) / 2);
                if holds(session, mid)? {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            (hi, Method::Binary)
        } else {
            let mut found = None;
            for p in 0..last {
                if holds(session, p)? {
                    found = Some(p);
                    break;
                }
            }
            match found {
                None => return Ok(None),
                Some(p) => (p, Method::Linear),
            }
        }
    };
    let events = session.step_events(step)?;
    let causes = cause_chain(session, step)?;
    // The actor it holds for: with a group (`renderer-*`), the one of the group.
    let actor_id = match predicate.state_actor() {
        Some(_) => session.at(step, |system| predicate.satisfied_by(system))?,
        None => events.first().and_then(|e| e.event.body.actor()),
    };
    let (actor, before, after) = match actor_id {
        Some(id) => {
            let before = if step > 0 {
                session.state_at(id, step - 1)?
            } else {
                None
            };
            let after = session.state_at(id, step)?;
            session.goto_step(step)?;
            let name = session
                .actors()?
                .into_iter()
                .find(|a| a.id == id)
                .map(|a| a.name)
                .unwrap_or_default();
            (Some((id, name)), before, after)
        }
        None => {
            session.goto_step(step)?;
            (None, None, None)
        }
    };
    Ok(Some(BisectReport {
        step,
        events,
        causes,
        actor,
        before,
        after,
        method,
        probes,
        events_reexecuted: session.events_reexecuted() - start,
    }))
}

/// From step `step` back to what started it: for a delivery from an actor, the delivery
/// of that actor that sent the message; for one from outside, the input event.
fn cause_chain(session: &Session, step: usize) -> Result<Vec<RecordedEvent>, DebugError> {
    let mut chain = Vec::new();
    let mut p = step;
    while chain.len() < CAUSE_CHAIN_MAX && p > 0 {
        let events = session.step_events(p)?;
        let Some(first) = events.first() else { break };
        chain.push(first.clone());
        let EventBody::Delivered(d) = &first.event.body else {
            break;
        };
        match d.from {
            Sender::External => {
                // The input with the same sequence number, earlier in the trace.
                let trace: &Trace = session.trace();
                for q in (1..p).rev() {
                    let e = trace.event(session.events_at(q - 1)?)?;
                    if let EventBody::Input(i) = &e.event.body {
                        if i.seq == d.seq {
                            chain.push(e);
                            break;
                        }
                    }
                }
                break;
            }
            Sender::Actor(sender) => {
                // The latest earlier delivery to the sender whose outputs sent this.
                let wanted_kind = match &d.kind {
                    MessageKind::Reply { .. } => None,
                    k => Some(k.clone()),
                };
                let mut found = None;
                for q in (1..p).rev() {
                    let step_events = session.step_events(q)?;
                    let sent_it = step_events.iter().any(|e| match &e.event.body {
                        EventBody::Outputs(o) if o.actor == sender => o.sent.iter().any(|m| {
                            m.to == d.to
                                && m.payload == d.payload
                                && wanted_kind.as_ref().is_none_or(|k| *k == m.kind)
                        }),
                        _ => false,
                    });
                    if sent_it {
                        found = Some(q);
                        break;
                    }
                }
                match found {
                    Some(q) => p = q,
                    None => break,
                }
            }
            Sender::Timer(_) | Sender::Runtime => break,
        }
    }
    Ok(chain)
}

/// What [`bisect_inputs`] found.
#[derive(Clone, Debug)]
pub struct InputBisect {
    /// Index (0-based) of the first input at which the runs differ in a way that makes
    /// the predicate hold.
    pub index: usize,
    /// That input in the bad run.
    pub bad: Option<Input>,
    /// The input at the same index in the good run.
    pub good: Option<Input>,
    /// Reruns made.
    pub runs: u64,
}

/// Two runs of one system (`good`: the predicate never holds; `bad`: it does) that got
/// different inputs: finds the first input index `i` such that running the bad run's
/// inputs up to `i` followed by the good run's inputs from `i` on makes the predicate
/// hold — the first input difference that changes the outcome. Binary search over such
/// hybrid input sequences: O(log n) reruns.
pub fn bisect_inputs(
    good: &Trace,
    bad: &Trace,
    predicate: &Predicate,
) -> Result<InputBisect, DebugError> {
    let (hg, hb) = (good.header(), bad.header());
    if hg.map(|h| h.manifest) != hb.map(|h| h.manifest) {
        return Err(DebugError::Usage(
            "the two traces were recorded from different manifests: bisect --good/--bad needs two runs of the same system".into(),
        ));
    }
    let gi = inputs_of(good)?;
    let bi = inputs_of(bad)?;
    let n = gi.len().max(bi.len());
    let mut rerun = Rerun::new(good)?;
    let hybrid = |k: usize, rerun: &mut Rerun| -> Result<bool, DebugError> {
        let inputs: Vec<&Input> = bi.iter().take(k).chain(gi.iter().skip(k)).collect();
        Ok(rerun.run(&inputs, predicate)?.holds)
    };
    if hybrid(0, &mut rerun)? {
        return Err(DebugError::NotFound(format!(
            "the predicate `{predicate}` already holds when the good run's inputs are run again"
        )));
    }
    if !hybrid(n, &mut rerun)? {
        return Err(DebugError::NotFound(format!(
            "the predicate `{predicate}` does not hold when the bad run's inputs are run again"
        )));
    }
    // Invariant: !hybrid(lo), hybrid(hi).
    let (mut lo, mut hi) = (0, n);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if hybrid(mid, &mut rerun)? {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Ok(InputBisect {
        index: hi - 1,
        bad: bi.get(hi - 1).cloned(),
        good: gi.get(hi - 1).cloned(),
        runs: rerun.runs,
    })
}

#[cfg(test)]
mod tests {
    use super::nearest_between;

    #[test]
    fn the_snapshot_probed_is_strictly_inside_and_nearest_the_middle() {
        let s = [10, 20, 30, 45];
        assert_eq!(nearest_between(&s, 0, 100), Some(45));
        assert_eq!(nearest_between(&s, 0, 40), Some(20));
        assert_eq!(nearest_between(&s, 20, 30), None);
        assert_eq!(nearest_between(&s, 19, 31), Some(20));
        assert_eq!(nearest_between(&s, 30, 46), Some(45));
        assert_eq!(nearest_between(&[], 0, 9), None);
    }
}
