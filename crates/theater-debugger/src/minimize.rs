//! `minimize`: the smallest set of a failing trace's external inputs that still makes a
//! predicate hold, by delta debugging (Zeller's ddmin), written out as a new trace.
//!
//! Each test reruns the system with a subset of the inputs, in their recorded order (see
//! [`crate::rerun`]); results are cached by subset. The result is 1-minimal: removing any
//! single remaining input makes the predicate stop holding.

use std::collections::BTreeMap;

use theater_trace::Trace;

use crate::predicate::Predicate;
use crate::rerun::{inputs_of, Input, Rerun};
use crate::DebugError;

/// What `minimize` found.
#[derive(Debug)]
pub struct Minimized {
    /// Inputs of the original trace.
    pub original: Vec<Input>,
    /// The inputs kept, in order.
    pub kept: Vec<Input>,
    /// The run with only the kept inputs, recorded: a new trace.
    pub trace: Vec<u8>,
    /// Reruns made.
    pub runs: u64,
}

/// Minimizes `trace`'s inputs for `predicate`. `progress` is told (runs so far, inputs
/// left) after each rerun.
pub fn minimize(
    trace: &Trace,
    predicate: &Predicate,
    mut progress: impl FnMut(u64, usize),
) -> Result<Minimized, DebugError> {
    let original = inputs_of(trace)?;
    let mut rerun = Rerun::new(trace)?;
    let mut cache: BTreeMap<Vec<usize>, bool> = BTreeMap::new();
    let mut test = |subset: &[usize], rerun: &mut Rerun| -> Result<bool, DebugError> {
        if let Some(&r) = cache.get(subset) {
            return Ok(r);
        }
        let inputs: Vec<&Input> = subset.iter().map(|&i| &original[i]).collect();
        let holds = rerun.run(&inputs, predicate)?.holds;
        cache.insert(subset.to_vec(), holds);
        progress(rerun.runs, subset.len());
        Ok(holds)
    };
    let all: Vec<usize> = (0..original.len()).collect();
    if !test(&all, &mut rerun)? {
        return Err(DebugError::NotFound(format!(
            "the predicate `{predicate}` does not hold when the trace's {} inputs are run again, so there is nothing to minimize",
            original.len()
        )));
    }
    let mut current = all;
    let mut n = 2usize;
    'outer: while current.len() >= 2 {
        let chunk = current.len().div_ceil(n);
        let parts: Vec<Vec<usize>> = current.chunks(chunk).map(<[usize]>::to_vec).collect();
        for part in &parts {
            if test(part, &mut rerun)? {
                current = part.clone();
                n = 2;
                continue 'outer;
            }
        }
        if parts.len() > 2 {
            for i in 0..parts.len() {
                let complement: Vec<usize> = parts
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .flat_map(|(_, p)| p.iter().copied())
                    .collect();
                if test(&complement, &mut rerun)? {
                    current = complement;
                    n = (n - 1).max(2);
                    continue 'outer;
                }
            }
        }
        if n >= current.len() {
            break;
        }
        n = (n * 2).min(current.len());
    }
    if current.len() == 1 && test(&[], &mut rerun)? {
        current.clear();
    }
    let kept: Vec<Input> = current.iter().map(|&i| original[i].clone()).collect();
    let refs: Vec<&Input> = kept.iter().collect();
    let last = rerun.run(&refs, predicate)?;
    debug_assert!(last.holds);
    Ok(Minimized {
        original,
        kept,
        trace: last.trace,
        runs: rerun.runs,
    })
}
