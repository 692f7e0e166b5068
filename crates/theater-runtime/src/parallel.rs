//! Replaying a trace on several threads, split at its recorded snapshots.
//!
//! The trace is cut into `jobs` ranges of about equal length, each starting at a
//! recorded snapshot (the first at the run's start). Each range is replayed on its own
//! thread by its own driver, from its snapshot (fresh instances, nothing before it
//! re-executed) through the snapshot that starts the next range: there the replay takes
//! its own snapshot and compares it with the recorded one, so the world at the end of
//! range *k* must be the one range *k + 1* started from. Together the ranges replay
//! every event once, and every one is compared as in a sequential replay.
//!
//! A replay with swapped components is sequential: its snapshots are not compared (the
//! world differs by design), so a range could not trust the one it starts from.

use std::sync::atomic::{AtomicU64, Ordering};

use theater_trace::{InlineChecked, Trace, VerifyReport};

use crate::components::ComponentCache;
use crate::error::RuntimeError;
use crate::replay::{ReplayDriver, ReplayOptions, ReplayReport, Step};

/// Where each range of the events `first..end` starts: the snapshot event it restores
/// (`None`: where the trace starts).
fn range_starts(snapshots: &[u64], (first, end): (u64, u64), jobs: usize) -> Vec<Option<u64>> {
    let mut starts = vec![None];
    let events = end.saturating_sub(first);
    for k in 1..jobs as u64 {
        let target = first + (u128::from(events) * u128::from(k) / jobs as u128) as u64;
        let i = snapshots.partition_point(|&s| s <= target);
        if let Some(&s) = i.checked_sub(1).map(|i| &snapshots[i]) {
            if starts.last().is_none_or(|last| last.is_none_or(|l| l < s)) {
                starts.push(Some(s));
            }
        }
    }
    starts
}

/// Events a range replays between two updates of the shared progress count.
const PROGRESS_EVERY_EVENTS: u64 = 4096;

/// What one range's replay ended with.
struct RangeEnd {
    events: u64,
    head: theater_trace::Digest,
    finished: bool,
    fuel_differs: u64,
    /// Its part of the integrity check, when made inline.
    checked: Option<InlineChecked>,
}

/// Replays `[start, stop]`: from the snapshot `start` (or the beginning) until event
/// `stop` (a snapshot) has been matched, or to the end; with `inline`, checking the
/// integrity of the range's blocks as they are read (see [`Trace::check_inline`]).
fn replay_range(
    trace: Trace,
    options: &ReplayOptions,
    (start, stop): (Option<u64>, Option<u64>),
    (cache, inline): (&mut ComponentCache, bool),
    done: &AtomicU64,
) -> Result<RangeEnd, RuntimeError> {
    if inline {
        trace.check_inline(start, stop);
    }
    let mut driver = ReplayDriver::new(trace, options, cache)?;
    if let Some(s) = start {
        driver.restore_snapshot(s)?;
    }
    let mut last = driver.events();
    let mut counted = last;
    loop {
        let step = driver.step()?;
        last = driver.events();
        let end = matches!(step, Step::Ended | Step::Cut) || stop.is_some_and(|s| last > s);
        // Counted in bunches: one counter written by every thread at every step costs
        // each of them a cache miss per step.
        if end || last - counted >= PROGRESS_EVERY_EVENTS {
            done.fetch_add(last - counted, Ordering::Relaxed);
            counted = last;
        }
        if end {
            return Ok(RangeEnd {
                events: last,
                head: driver.head(),
                finished: driver.finished(),
                fuel_differs: driver.fuel_differs(),
                checked: inline.then(|| driver.trace().finish_inline()),
            });
        }
    }
}

/// Replays the trace that `open` opens (once per thread) on up to `jobs` threads, as
/// [`crate::replay::replay_cached`] does on one, compiling with `cache` (shared by every
/// thread); `done` counts the events replayed so far. The first divergence (in trace
/// order) is the error.
pub fn replay_parallel(
    open: &(dyn Fn() -> Result<Trace, RuntimeError> + Sync),
    options: &ReplayOptions,
    jobs: usize,
    cache: &mut ComponentCache,
    done: &AtomicU64,
) -> Result<ReplayReport, RuntimeError> {
    replay_ranges(open, options, jobs, cache, done, false).map(|(report, _)| report)
}

/// [`replay_parallel`] checking the trace's integrity as it goes: each range's blocks
/// are checked as its replay reads them, so each block is decompressed and hashed once
/// for both (see [`Trace::check_inline`]). Returns the replay's report and, when every
/// range checked out and they join up, what [`Trace::verify`] would have reported;
/// `None` when the trace cannot be checked so (see [`Trace::can_check_inline`]) or
/// something did not check out: run [`Trace::verify`] then, which names the first
/// problem in trace order.
pub fn replay_verifying(
    open: &(dyn Fn() -> Result<Trace, RuntimeError> + Sync),
    options: &ReplayOptions,
    jobs: usize,
    cache: &mut ComponentCache,
    done: &AtomicU64,
) -> Result<(ReplayReport, Option<VerifyReport>), RuntimeError> {
    replay_ranges(open, options, jobs, cache, done, true)
}

fn replay_ranges(
    open: &(dyn Fn() -> Result<Trace, RuntimeError> + Sync),
    options: &ReplayOptions,
    jobs: usize,
    cache: &mut ComponentCache,
    done: &AtomicU64,
    inline: bool,
) -> Result<(ReplayReport, Option<VerifyReport>), RuntimeError> {
    let trace = open()?;
    let inline = inline && trace.can_check_inline();
    let starts = if options.swaps.is_empty() {
        let events = (trace.first_event(), trace.event_count());
        range_starts(trace.snapshots()?, events, jobs.max(1))
    } else {
        vec![None]
    };
    let results: Vec<Result<RangeEnd, RuntimeError>> = if starts.len() == 1 {
        if !inline {
            // The sequential replay, with its handling of a trace cut during setup.
            let report = crate::replay::replay_cached(trace, options, cache)?;
            done.store(report.events, Ordering::Relaxed);
            return Ok((report, None));
        }
        vec![replay_range(
            trace,
            options,
            (None, None),
            (cache, true),
            done,
        )]
    } else {
        // The components compiled once, on this thread; every range's driver shares them.
        drop(ReplayDriver::new(trace, options, cache)?);
        let traces = (0..starts.len())
            .map(|_| open())
            .collect::<Result<Vec<_>, _>>()?;
        std::thread::scope(|s| {
            let handles: Vec<_> = traces
                .into_iter()
                .enumerate()
                .map(|(i, trace)| {
                    let range = (starts[i], starts.get(i + 1).copied().flatten());
                    let mut cache = cache.clone();
                    s.spawn(move || replay_range(trace, options, range, (&mut cache, inline), done))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        })
    };
    let mut fuel_differs = 0;
    let mut last = None;
    let mut parts = Vec::new();
    for r in results {
        let mut end = r?;
        fuel_differs += end.fuel_differs;
        parts.extend(end.checked.take());
        last = Some(end);
    }
    let last = last.expect("at least one range");
    let integrity = if inline {
        open()?.inline_report(parts)
    } else {
        None
    };
    let report = ReplayReport {
        events: last.events,
        head: last.head,
        finished: last.finished,
        fuel_differs,
    };
    Ok((report, integrity))
}

#[cfg(test)]
mod tests {
    use super::range_starts;

    #[test]
    fn ranges_start_at_the_snapshot_before_each_share_and_never_twice() {
        let s = [100, 200, 300, 900];
        assert_eq!(range_starts(&s, (0, 1000), 1), [None]);
        assert_eq!(range_starts(&s, (0, 1000), 2), [None, Some(300)]);
        assert_eq!(range_starts(&s, (0, 1000), 4), [None, Some(200), Some(300)]);
        assert_eq!(range_starts(&[], (0, 1000), 4), [None]);
        assert_eq!(range_starts(&[900], (0, 1000), 2), [None]);
        // A trace that starts at a segment: the shares are of what it holds.
        assert_eq!(
            range_starts(&[850, 900, 950], (800, 1000), 2),
            [None, Some(900)]
        );
    }
}
