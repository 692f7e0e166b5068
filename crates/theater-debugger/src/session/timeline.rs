//! The session's timeline: where each step starts, without reading the trace.
//!
//! A position `p` is "`get(p)` events replayed": position 0 is the end of the run's
//! setup, step `p` is the events `get(p - 1)..get(p)`, and the last position is the
//! trace's end. Steps start at events of the kinds in [`STEP_KINDS`]. The index of a
//! finished trace counts every block's events by kind, so the timeline is built from
//! those counts alone (one entry per block, not per step: opening a 10M-delivery trace
//! reads no block), and a block's step starts are found by decoding it when a position
//! inside it is asked for (a few recently used blocks are kept).

use std::cell::RefCell;
use std::rc::Rc;

use theater_trace::Trace;

use crate::error::DebugError;

/// The kinds ([`EventBody::kind_name`]) of the events that start a step.
///
/// [`EventBody::kind_name`]: theater_trace::EventBody::kind_name
pub(super) const STEP_KINDS: [&str; 7] = [
    "input",
    "refused",
    "dropped",
    "snapshot",
    "segment",
    "delivered",
    "run-ended",
];

fn starts_step(kind: &str) -> bool {
    STEP_KINDS.contains(&kind)
}

/// Blocks whose step starts are kept decoded.
const CACHED_BLOCKS: usize = 4;

/// One block: events `first..end`, holding `steps` step starts after the trace's
/// first event, `before` of them in the blocks before it.
#[derive(Clone, Copy, Debug)]
struct Stretch {
    first: u64,
    end: u64,
    before: u64,
    steps: u64,
}

/// Where each step starts, block by block.
#[derive(Debug)]
pub(super) struct Timeline {
    /// Step starts are counted after this event (the trace's first).
    after: u64,
    stretches: Vec<Stretch>,
    /// Step starts after `after`, in all.
    count: u64,
    /// Of them, those before position 0 (a trace that starts at a segment: the
    /// segment's setup, before its snapshot).
    skip: u64,
    /// The number after the last event.
    total: u64,
    cache: RefCell<Vec<(usize, Rc<Vec<u64>>)>>,
}

impl Timeline {
    /// The timeline of `trace`, from the block kind counts its index lists (counted by
    /// a scan where it lists none). Position 0 is the first step start after the first
    /// event until [`Timeline::start_at`] says otherwise.
    pub(super) fn new(trace: &Trace) -> Result<Timeline, DebugError> {
        let after = trace.first_event();
        let mut stretches = Vec::new();
        let mut count = 0;
        for b in trace.block_kinds()? {
            let steps = if b.first <= after {
                // The block holding the first event, which does not count.
                starts_in(trace, after, b.first, b.end)?.len() as u64
            } else {
                b.counts.count_where(starts_step)
            };
            stretches.push(Stretch {
                first: b.first,
                end: b.end,
                before: count,
                steps,
            });
            count += steps;
        }
        Ok(Timeline {
            after,
            stretches,
            count,
            skip: 0,
            total: trace.event_count(),
            cache: RefCell::new(Vec::new()),
        })
    }

    /// Makes position 0 the step start at event `setup_end` (where the replay starts:
    /// after the setup, or after the snapshot a segment starts from), dropping the step
    /// starts before it; `may_skip` allows there to be some. Else returns the event
    /// position 0 would be at.
    pub(super) fn start_at(
        &mut self,
        trace: &Trace,
        setup_end: u64,
        may_skip: bool,
    ) -> Result<(), DebugError> {
        let skip = if may_skip {
            self.rank(trace, setup_end.saturating_sub(1))?
        } else {
            0
        };
        let first = self.step_start(trace, skip)?;
        if first != setup_end {
            return Err(DebugError::Divergence(Box::new(
                theater_runtime::Divergence {
                    event: setup_end,
                    actor: None,
                    expected: format!("the run's setup to end at event {first}"),
                    actual: format!("setup ended at event {setup_end}"),
                },
            )));
        }
        self.skip = skip;
        Ok(())
    }

    /// Positions, from 0 to the end: steps plus one.
    pub(super) fn len(&self) -> usize {
        (self.count - self.skip + 1) as usize
    }

    /// Events replayed at position `p` (the trace's end past the last).
    pub(super) fn get(&self, trace: &Trace, p: usize) -> Result<u64, DebugError> {
        self.step_start(trace, p as u64 + self.skip)
    }

    /// The number of positions whose events replayed are at most `event`.
    pub(super) fn positions_through(&self, trace: &Trace, event: u64) -> Result<usize, DebugError> {
        let through = self.rank(trace, event)?.saturating_sub(self.skip);
        Ok((through + u64::from(event >= self.total)) as usize)
    }

    /// The `i`-th step start after the first event (0-based); the trace's end past them.
    fn step_start(&self, trace: &Trace, i: u64) -> Result<u64, DebugError> {
        if i >= self.count {
            return Ok(self.total);
        }
        let k = self.stretches.partition_point(|s| s.before <= i) - 1;
        let starts = self.block(trace, k)?;
        let s = self.stretches[k];
        Ok(starts[(i - s.before) as usize])
    }

    /// How many step starts after the first event are at or before `event`.
    fn rank(&self, trace: &Trace, event: u64) -> Result<u64, DebugError> {
        let k = self.stretches.partition_point(|s| s.first <= event);
        let Some(k) = k.checked_sub(1) else {
            return Ok(0);
        };
        let s = self.stretches[k];
        if event >= s.end {
            return Ok(s.before + s.steps);
        }
        let starts = self.block(trace, k)?;
        Ok(s.before + starts.partition_point(|&n| n <= event) as u64)
    }

    /// The step starts in block `k`, found once while it stays among the recent.
    fn block(&self, trace: &Trace, k: usize) -> Result<Rc<Vec<u64>>, DebugError> {
        if let Some((_, starts)) = self.cache.borrow().iter().find(|(i, _)| *i == k) {
            return Ok(starts.clone());
        }
        let s = self.stretches[k];
        let starts = Rc::new(starts_in(trace, self.after, s.first, s.end)?);
        if starts.len() as u64 != s.steps {
            // The trace checks a block's events against the kinds its index lists, so
            // this is a timeline built from other counts than it reads now.
            return Err(DebugError::NotFound(format!(
                "the timeline counts {} steps starting among events {}..{}, the trace holds {}",
                s.steps,
                s.first,
                s.end,
                starts.len()
            )));
        }
        let mut cache = self.cache.borrow_mut();
        if cache.len() == CACHED_BLOCKS {
            cache.remove(0);
        }
        cache.push((k, starts.clone()));
        Ok(starts)
    }
}

/// The step starts among events `first..end` that come after event `after`.
fn starts_in(trace: &Trace, after: u64, first: u64, end: u64) -> Result<Vec<u64>, DebugError> {
    let mut starts = Vec::new();
    trace.for_each_kind_in(first, end, |n, kind| {
        if n > after && starts_step(kind) {
            starts.push(n);
        }
    })?;
    Ok(starts)
}
