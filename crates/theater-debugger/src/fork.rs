//! `fork`: what would have happened if the inputs after one event had been different.
//!
//! [`fork()`] rebuilds the recorded system at an event (`theater_runtime::fork`: from
//! the nearest snapshot at or before it), then feeds it the parent's external inputs
//! from that event on, with the edits applied (inputs dropped, payloads replaced), or
//! new inputs instead of them (an inputs file), and records the run into a new trace. Inputs are fed as `theater run --inputs` feeds a
//! file: the system runs until idle, then takes the next input. A trace recorded from
//! an inputs file was fed the same way, so a fork with no edits records the same events
//! as its parent after the fork point; inputs that arrived over HTTP in the parent
//! arrive, in the fork, each once the system is idle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use theater_runtime::inputs::InputLine;
use theater_trace::{Digest, Trace};

use crate::branch::Branch;
use crate::rerun::{inputs_from, Input, RERUN_DELIVERIES_MAX};
use crate::DebugError;

/// How the inputs after the fork point change.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ForkEdits {
    /// Inputs fed instead of every input of the parent at or after the fork point (an
    /// inputs file, as `theater run --inputs` reads); not with `drop` or `replace`.
    pub inputs: Option<Vec<InputLine>>,
    /// Inputs left out, by their event number in the parent.
    pub drop: BTreeSet<u64>,
    /// Inputs whose payload is replaced, by their event number in the parent.
    pub replace: BTreeMap<u64, Vec<u8>>,
}

/// What a fork did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForkReport {
    /// The parent's event the fork went on from, and the parent's chain head.
    pub at: u64,
    pub parent_head: Digest,
    /// Where the rebuild started (a snapshot, or the first step) and the recorded events
    /// it re-executed to reach `at`.
    pub from: u64,
    pub reexecuted: u64,
    /// Inputs fed after the fork point, and of the parent's, how many were dropped and
    /// replaced.
    pub inputs: usize,
    pub dropped: usize,
    pub replaced: usize,
    /// The inputs fed were new ones ([`ForkEdits::inputs`]), not the parent's.
    pub new_inputs: bool,
    /// The parent was recorded live: recorded host-call results served up to `at`,
    /// fresh ones after it.
    pub live: bool,
    /// The forked run: deliveries after the fork point, how many events its trace holds
    /// (numbered on from `at`), its chain head, and whether it stopped at its delivery
    /// limit.
    pub deliveries: u64,
    pub events: u64,
    pub head: Digest,
    pub cut: bool,
}

/// Forks the run recorded in `trace` at event `at` with `edits`, recording the fork into
/// a new trace file at `out` (which must not exist).
pub fn fork(
    trace: Trace,
    at: u64,
    edits: &ForkEdits,
    out: &Path,
) -> Result<ForkReport, DebugError> {
    let inputs = fed_inputs(&trace, at, edits)?;
    let mut branch = Branch::start(trace, at, out)?;
    let mut budget = RERUN_DELIVERIES_MAX;
    budget -= branch.run(budget)?;
    for (n, input) in inputs.iter().enumerate() {
        match input {
            Feed::Recorded(i) if i.request => {
                branch.request(i.to, i.payload.clone())?;
            }
            Feed::Recorded(i) => {
                branch.send(i.to, i.payload.clone())?;
            }
            Feed::Line(line) => {
                let to = line.recipient(branch.system()).map_err(|e| {
                    DebugError::NotFound(format!("input {} of the new inputs: {e}", n + 1))
                })?;
                branch.send(to, line.payload.clone())?;
            }
        }
        budget -= branch.run(budget)?;
    }
    let cut = budget == 0 && branch.busy();
    let (parent_head, from, reexecuted, live) = (
        branch.parent_head,
        branch.from,
        branch.reexecuted,
        branch.live,
    );
    // The reasons `theater run` records, so a fork with no edits ends as its parent did.
    let end = branch.finish(if cut {
        "delivery limit reached"
    } else {
        "idle"
    })?;
    Ok(ForkReport {
        at,
        parent_head,
        from,
        reexecuted,
        inputs: inputs.len(),
        dropped: edits.drop.len(),
        replaced: edits.replace.len(),
        new_inputs: edits.inputs.is_some(),
        live,
        deliveries: end.deliveries,
        events: end.trace.events - at,
        head: end.trace.head,
        cut,
    })
}

/// An input the fork feeds: one of the parent's (perhaps with another payload), or one
/// of the new inputs file's (its recipient resolved when it is fed).
enum Feed {
    Recorded(Input),
    Line(InputLine),
}

/// What the fork feeds after `at`: the new inputs, or the parent's there with the edits.
fn fed_inputs(trace: &Trace, at: u64, edits: &ForkEdits) -> Result<Vec<Feed>, DebugError> {
    if let Some(lines) = &edits.inputs {
        if !edits.drop.is_empty() || !edits.replace.is_empty() {
            return Err(DebugError::Usage(
                "new inputs replace every input after the fork point: they cannot be edited too"
                    .into(),
            ));
        }
        return Ok(lines.iter().cloned().map(Feed::Line).collect());
    }
    let parent_inputs = inputs_from(trace, at)?;
    check_edits(&parent_inputs, edits, at)?;
    Ok(parent_inputs
        .into_iter()
        .filter(|i| !edits.drop.contains(&i.event))
        .map(|mut i| {
            if let Some(p) = edits.replace.get(&i.event) {
                i.payload = p.clone();
            }
            Feed::Recorded(i)
        })
        .collect())
}

/// Every edited event must be one of the parent's inputs after the fork point.
fn check_edits(inputs: &[Input], edits: &ForkEdits, at: u64) -> Result<(), DebugError> {
    let known: BTreeSet<u64> = inputs.iter().map(|i| i.event).collect();
    let both = edits.drop.iter().find(|n| edits.replace.contains_key(n));
    if let Some(n) = both {
        return Err(DebugError::Usage(format!(
            "cannot fork: input {n} is both dropped and replaced"
        )));
    }
    let unknown = edits
        .drop
        .iter()
        .chain(edits.replace.keys())
        .find(|n| !known.contains(n));
    if let Some(n) = unknown {
        let listed: Vec<String> = known.iter().take(10).map(u64::to_string).collect();
        let more = if known.len() > 10 { ", …" } else { "" };
        return Err(DebugError::NotFound(if known.is_empty() {
            format!("cannot fork: event {n} is not an input: the trace has no inputs at or after event {at}")
        } else {
            format!(
                "cannot fork: event {n} is not an input at or after event {at}; the inputs there are events {}{more}",
                listed.join(", ")
            )
        }));
    }
    Ok(())
}
