//! When a recording writes a snapshot event.
//!
//! A snapshot is due after a number of deliveries, or after an interval of wall-clock
//! time; either way it is taken at the next delivery boundary, and never sooner after
//! the last one than its cost allows: a snapshot that took *t* is followed by none for
//! *t* × (1000 − `budget_per_mille`) ÷ `budget_per_mille`, so snapshots take at most
//! that share of the scheduler's time however large the world grows (1000: no bound).
//!
//! The wall clock decides only *where* snapshots fall, never what the run does: a
//! snapshot changes nothing in the system, it is an event in the trace, and a replay
//! meets the recorded ones where they are (it never places its own). The time trigger
//! is the recorder thread's (a flag it raises on its interval), so the scheduler reads
//! no clock for it; the clock is read only to time a snapshot being taken. Writing the
//! snapshot event is `System::snapshot_event`, in `snapshot`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// When a recording writes snapshots. A recording setting, not a limit of the system:
/// it is not in the manifest, and a replay follows the recorded snapshots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotPolicy {
    /// A snapshot after this many deliveries since the last one (0: never by count).
    pub every_deliveries: u64,
    /// A snapshot once this many milliseconds passed since the last one (0: never by
    /// time). Only a recording on a recorder thread keeps time.
    pub every_ms: u64,
    /// The largest share of the scheduler's time snapshots may take, in thousandths
    /// (read as 1 to 1000; 1000: no bound).
    pub budget_per_mille: u32,
}

impl SnapshotPolicy {
    /// Deliveries between snapshots: a seek replays at most this many (tens of
    /// milliseconds), and a snapshot of a small world is a few hundred bytes among the
    /// tens of kilobytes these deliveries take in the trace.
    pub const EVERY_DELIVERIES_DEFAULT: u64 = 10_000;
    /// Time between snapshots of a slow run.
    pub const EVERY_MS_DEFAULT: u64 = 1_000;
    /// 1 %.
    pub const BUDGET_PER_MILLE_DEFAULT: u32 = 10;

    /// No snapshots.
    pub const OFF: SnapshotPolicy = SnapshotPolicy {
        every_deliveries: 0,
        every_ms: 0,
        budget_per_mille: Self::BUDGET_PER_MILLE_DEFAULT,
    };

    pub(crate) fn is_off(&self) -> bool {
        self.every_deliveries == 0 && self.every_ms == 0
    }
}

impl Default for SnapshotPolicy {
    fn default() -> SnapshotPolicy {
        SnapshotPolicy {
            every_deliveries: Self::EVERY_DELIVERIES_DEFAULT,
            every_ms: Self::EVERY_MS_DEFAULT,
            budget_per_mille: Self::BUDGET_PER_MILLE_DEFAULT,
        }
    }
}

/// A recording's snapshot schedule (see the module documentation).
#[derive(Debug)]
pub(crate) struct SnapshotTimer {
    policy: SnapshotPolicy,
    /// Deliveries since the last snapshot.
    deliveries: u64,
    /// Raised by the recorder thread when `every_ms` passed.
    wanted: Option<Arc<AtomicBool>>,
    /// When the last snapshot was taken, and how long none may follow it.
    last: Option<(Instant, Duration)>,
    /// Snapshots written, and the scheduler's time they took.
    pub(crate) written: u64,
    pub(crate) spent: Duration,
}

impl SnapshotTimer {
    /// A schedule for `policy`; `wanted` is the recorder thread's time flag, if any.
    pub(crate) fn new(policy: SnapshotPolicy, wanted: Option<Arc<AtomicBool>>) -> SnapshotTimer {
        SnapshotTimer {
            policy,
            deliveries: 0,
            wanted,
            last: None,
            written: 0,
            spent: Duration::ZERO,
        }
    }

    /// Counts one delivery; whether a snapshot is due after it.
    pub(crate) fn due(&mut self) -> bool {
        self.deliveries += 1;
        let by_count =
            self.policy.every_deliveries > 0 && self.deliveries >= self.policy.every_deliveries;
        let by_time = self
            .wanted
            .as_ref()
            .is_some_and(|w| w.load(Ordering::Relaxed));
        (by_count || by_time) && self.last.is_none_or(|(at, gap)| at.elapsed() >= gap)
    }

    pub(crate) fn taken(&mut self, started: Instant) {
        let took = started.elapsed();
        let budget = self.policy.budget_per_mille.clamp(1, 1000);
        // took / (took + gap) = budget / 1000.
        self.last = Some((Instant::now(), took * (1000 - budget) / budget));
        self.deliveries = 0;
        self.written += 1;
        self.spent += took;
        if let Some(w) = &self.wanted {
            w.store(false, Ordering::Relaxed);
        }
    }
}
