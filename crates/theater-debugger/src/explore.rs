//! `theater explore`: run one system with the same inputs under many seeded schedules
//! (PCT, see `theater_runtime::schedule`), in parallel, and report those under which a
//! predicate held.
//!
//! Run `i` uses `Schedule::Pct { seed: first_seed + i, depth, steps }`, where `steps` is
//! the deliveries of the run under the spec's own schedule (the baseline, run first):
//! PCT draws its change points from the steps a run takes. Runs are handed out to the
//! threads one at a time, so the result does not depend on `jobs`: the same options
//! always give the same failures, and the first failing run (the smallest `i`) is the
//! one reported, its trace kept. That trace names its schedule in its manifest, so it
//! replays, verifies, forks and minimizes like any other.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use theater_runtime::{Schedule, SystemSpec};

use crate::predicate::Predicate;
use crate::rerun::{Input, Rerun};
use crate::DebugError;

/// The most runs one exploration makes.
pub const EXPLORE_RUNS_MAX: u64 = 1_000_000;

/// What to explore.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExploreOptions {
    /// Schedules to try (1 to [`EXPLORE_RUNS_MAX`]).
    pub runs: u64,
    /// Threads running them (at least 1; they share the compiled components).
    pub jobs: usize,
    /// The bug depth PCT aims at (1 to `Schedule::PCT_DEPTH_MAX`).
    pub depth: u32,
    /// The seed of run 0; run `i` has seed `first_seed + i`.
    pub first_seed: u64,
}

impl Default for ExploreOptions {
    fn default() -> ExploreOptions {
        ExploreOptions {
            runs: 100,
            jobs: 1,
            depth: Schedule::PCT_DEPTH_DEFAULT,
            first_seed: 0,
        }
    }
}

/// A run under which the predicate held.
#[derive(Debug)]
pub struct Failure {
    /// Its number, from 0: `run + 1` runs find it one at a time.
    pub run: u64,
    /// Its schedule (`theater run --schedule` takes its `Display`).
    pub schedule: Schedule,
    pub deliveries: u64,
    /// The run, recorded.
    pub trace: Vec<u8>,
}

/// What an exploration found.
#[derive(Debug)]
pub struct ExploreReport {
    /// Runs made (not counting the baseline).
    pub runs: u64,
    /// Runs under which the predicate held.
    pub failures: u64,
    /// Whether it held under the spec's own schedule.
    pub baseline_holds: bool,
    /// The baseline's deliveries: PCT's `steps`.
    pub steps: u64,
    /// The first failing run, with its trace.
    pub first: Option<Failure>,
}

/// Explores `spec` fed `inputs` (as `theater run --inputs` feeds them) under
/// `options.runs` schedules. `progress` is told (runs done, failures) after each run.
pub fn explore(
    spec: &SystemSpec,
    inputs: &[Input],
    predicate: &Predicate,
    options: &ExploreOptions,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<ExploreReport, DebugError> {
    check(options)?;
    let refs: Vec<&Input> = inputs.iter().collect();
    let mut baseline = Rerun::from_spec(spec.clone())?;
    let base = baseline.run(&refs, predicate)?;
    let steps = base.deliveries.max(1);
    let next = AtomicU64::new(0);
    let done = AtomicU64::new(0);
    let failures = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let first: Mutex<Option<Failure>> = Mutex::new(None);
    let worker = || -> Result<(), DebugError> {
        // A clone shares the baseline's compiled components.
        let mut rerun = baseline.clone();
        loop {
            let run = next.fetch_add(1, Ordering::Relaxed);
            if run >= options.runs || stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            let schedule = Schedule::Pct {
                seed: options.first_seed.wrapping_add(run),
                depth: options.depth,
                steps,
            };
            rerun.set_schedule(schedule);
            let out = rerun.run(&refs, predicate)?;
            let failed = if out.holds {
                let mut first = first.lock().unwrap_or_else(PoisonError::into_inner);
                if first.as_ref().is_none_or(|f| run < f.run) {
                    *first = Some(Failure {
                        run,
                        schedule,
                        deliveries: out.deliveries,
                        trace: out.trace,
                    });
                }
                failures.fetch_add(1, Ordering::Relaxed) + 1
            } else {
                failures.load(Ordering::Relaxed)
            };
            progress(done.fetch_add(1, Ordering::Relaxed) + 1, failed);
        }
    };
    let jobs = options.jobs.min(options.runs as usize).max(1);
    std::thread::scope(|s| {
        let threads: Vec<_> = (0..jobs)
            .map(|_| {
                s.spawn(|| {
                    let r = worker();
                    if r.is_err() {
                        stop.store(true, Ordering::Relaxed);
                    }
                    r
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect::<Result<Vec<()>, DebugError>>()
    })?;
    Ok(ExploreReport {
        runs: done.into_inner(),
        failures: failures.into_inner(),
        baseline_holds: base.holds,
        steps,
        first: first.into_inner().unwrap_or_else(PoisonError::into_inner),
    })
}

fn check(options: &ExploreOptions) -> Result<(), DebugError> {
    if options.runs == 0 || options.runs > EXPLORE_RUNS_MAX {
        return Err(DebugError::Usage(format!(
            "explore makes 1 to {EXPLORE_RUNS_MAX} runs (EXPLORE_RUNS_MAX), not {}",
            options.runs
        )));
    }
    if options.jobs == 0 {
        return Err(DebugError::Usage("explore needs at least one job".into()));
    }
    if options.depth == 0 || options.depth > Schedule::PCT_DEPTH_MAX {
        return Err(DebugError::Usage(format!(
            "the depth must be 1 to {} (PCT_DEPTH_MAX), not {}",
            Schedule::PCT_DEPTH_MAX,
            options.depth
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_checked_at_their_limits() {
        let at = |runs, jobs, depth| {
            check(&ExploreOptions {
                runs,
                jobs,
                depth,
                first_seed: 0,
            })
        };
        assert!(at(EXPLORE_RUNS_MAX, 1, Schedule::PCT_DEPTH_MAX).is_ok());
        assert!(at(1, 64, 1).is_ok());
        for (runs, jobs, depth) in [
            (EXPLORE_RUNS_MAX + 1, 1, 3),
            (0, 1, 3),
            (1, 0, 3),
            (1, 1, 0),
            (1, 1, Schedule::PCT_DEPTH_MAX + 1),
        ] {
            let e = at(runs, jobs, depth).unwrap_err().to_string();
            assert!(e.contains("explore") || e.contains("depth"), "{e}");
        }
    }
}
