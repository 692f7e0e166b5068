//! A replay session: a cursor over a trace that moves forward and back.
//!
//! The trace is cut into *steps*, the units the scheduler executes atomically: an
//! external input (accepted or refused), or one delivery with everything it caused
//! (host calls, outputs, exits, restarts, spawns). Position 0 is after the run's setup
//! events; position `i` is after step `i`. Step boundaries are read from the trace
//! alone (a step starts at each `input`, `refused`, `delivered` and `run-ended` event),
//! so the session knows the whole timeline before executing anything.
//!
//! Moving forward re-executes steps with the runtime's replay driver, comparing every
//! event with the recording. Every `checkpoint_every` events a checkpoint (the scheduler
//! state, with every actor's state bytes) is kept; moving back restores the nearest
//! checkpoint at or before the target and re-executes forward from it, so any seek
//! re-executes at most about `checkpoint_every` events past the checkpoint.
//!
//! Restoring a checkpoint makes every instance fresh. An actor that keeps hidden state in
//! linear memory then behaves differently: when a replay that started from a checkpoint
//! diverges, the session turns checkpoints off (notes why) and re-executes from the
//! start, which is always faithful. A divergence from the start is real: the session
//! stops there and reports it.

use std::collections::BTreeMap;
use std::path::Path;

use theater_runtime::replay::{DriverCheckpoint, ReplayDriver, ReplayOptions, Step};
use theater_runtime::{ActorStatus, ComponentCache, Divergence, Limits};
use theater_trace::{ActorId, EventBody, RecordedEvent, Trace};
use timeline::Timeline;

use crate::breakpoint::Breakpoint;
use crate::DebugError;

mod breakpoints;
mod query;
mod timeline;

/// Default distance between checkpoints, in events.
pub const CHECKPOINT_EVERY_EVENTS_DEFAULT: u64 = 256;

/// How to open a session.
#[derive(Clone, Debug)]
pub struct SessionOptions {
    /// Keep a checkpoint every this many events (at the next step boundary).
    pub checkpoint_every: u64,
    /// Components to replace, by name (replay a recording against a new build).
    pub swaps: BTreeMap<String, Vec<u8>>,
}

impl Default for SessionOptions {
    fn default() -> SessionOptions {
        SessionOptions {
            checkpoint_every: CHECKPOINT_EVERY_EVENTS_DEFAULT,
            swaps: BTreeMap::new(),
        }
    }
}

/// Where the cursor is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Position {
    /// Steps executed (0: only the setup).
    pub step: usize,
    /// Steps in the trace.
    pub steps: usize,
    /// The last event replayed.
    pub event: u64,
    /// The trace's last event.
    pub last_event: u64,
    /// The actor of the step just executed, with its name.
    pub actor: Option<(ActorId, String)>,
}

/// Why a movement stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    /// Moved as asked.
    Moved,
    /// A breakpoint (by id) hit; `why` says what it saw.
    Breakpoint { id: u32, why: String },
    /// At the start of the trace.
    Start,
    /// At the end of the trace.
    End,
    /// Re-execution diverged from the recording; the cursor is at the last step that
    /// matched.
    Divergence(Box<Divergence>),
}

/// An actor at the cursor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActorInfo {
    pub id: ActorId,
    pub parent: Option<ActorId>,
    pub name: String,
    pub status: ActorStatus,
    pub restarts: u32,
}

/// Reports progress of long operations: (events done, events in all).
pub type ProgressFn = Box<dyn FnMut(u64, u64)>;

/// A replay session over one trace.
pub struct Session {
    driver: ReplayDriver,
    /// Events replayed at each position.
    timeline: Timeline,
    cursor: usize,
    /// The driver's position (valid when `driver_clean`).
    driver_at: usize,
    driver_clean: bool,
    /// Checkpoints by position, ascending; the first is position 0.
    checkpoints: Vec<(usize, DriverCheckpoint)>,
    /// The recorded snapshots after the setup, by event number, ascending. Empty once
    /// checkpoints are off.
    snapshots: Vec<u64>,
    every: u64,
    /// Position of the checkpoint the driver last started from.
    restored_from: usize,
    /// The first real divergence: re-execution cannot pass this position.
    divergence: Option<(usize, Box<Divergence>)>,
    breakpoints: BTreeMap<u32, Breakpoint>,
    next_breakpoint: u32,
    notes: Vec<String>,
    reexecuted: u64,
    progress: Option<ProgressFn>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("cursor", &self.cursor)
            .field("steps", &self.steps())
            .field("checkpoints", &self.checkpoints.len())
            .finish()
    }
}

impl Session {
    /// Opens the trace at `path`.
    pub fn open(path: &Path, options: &SessionOptions) -> Result<Session, DebugError> {
        Session::new(Trace::open(path)?, options)
    }

    /// Starts a session over `trace`, positioned after its setup.
    pub fn new(trace: Trace, options: &SessionOptions) -> Result<Session, DebugError> {
        // The timeline from the index's kind counts (no block read): opening a long
        // trace costs one entry per block.
        let mut timeline = Timeline::new(&trace)?;
        let first_event = trace.first_event();
        let replay = ReplayOptions {
            swaps: options.swaps.clone(),
            ..ReplayOptions::default()
        };
        let mut cache = ComponentCache::new(&Limits::default())?;
        let driver = ReplayDriver::new(trace, &replay, &mut cache)?;
        // A trace that starts at a segment: its setup ends after the snapshot the replay
        // starts from, past the segment's first steps.
        timeline.start_at(driver.trace(), driver.events(), first_event > 0)?;
        let first = driver.checkpoint();
        let setup_end = driver.events();
        let snapshots = driver
            .trace()
            .snapshots()?
            .iter()
            .copied()
            .filter(|&n| n >= setup_end)
            .collect();
        Ok(Session {
            driver,
            snapshots,
            timeline,
            cursor: 0,
            driver_at: 0,
            driver_clean: true,
            checkpoints: vec![(0, first)],
            every: options.checkpoint_every.max(1),
            restored_from: 0,
            divergence: None,
            breakpoints: BTreeMap::new(),
            next_breakpoint: 1,
            notes: Vec::new(),
            reexecuted: 0,
            progress: None,
        })
    }

    /// Reports progress of long movements to `f`.
    pub fn set_progress(&mut self, f: Option<ProgressFn>) {
        self.progress = f;
    }

    /// The trace.
    pub fn trace(&self) -> &Trace {
        self.driver.trace()
    }

    /// Number of steps in the trace.
    pub fn steps(&self) -> usize {
        self.timeline.len() - 1
    }

    /// The cursor's step number.
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// Events replayed at position `p`.
    pub fn events_at(&self, p: usize) -> Result<u64, DebugError> {
        self.timeline.get(self.trace(), p.min(self.steps()))
    }

    /// The position reached once event `event` is replayed (the end of its step).
    pub fn position_of_event(&self, event: u64) -> Result<usize, DebugError> {
        let total = self.trace().event_count();
        if event >= total {
            return Err(DebugError::NotFound(format!(
                "no event {event}: the trace has events 0 to {}",
                total.saturating_sub(1)
            )));
        }
        self.timeline.positions_through(self.trace(), event)
    }

    /// The steps at which a recorded snapshot can be restored (reaching one re-executes
    /// nothing), ascending; none once checkpoints are off.
    pub fn snapshot_steps(&self) -> Result<Vec<usize>, DebugError> {
        self.snapshots
            .iter()
            .map(|&n| self.timeline.positions_through(self.trace(), n))
            .collect()
    }

    /// Things the session learned that a user should know (checkpoints turned off…).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Events re-executed since the session opened.
    pub fn events_reexecuted(&self) -> u64 {
        self.reexecuted
    }

    /// Checkpoints held.
    pub fn checkpoint_count(&self) -> usize {
        self.checkpoints.len()
    }

    /// The first divergence found, if any.
    pub fn divergence(&self) -> Option<&Divergence> {
        self.divergence.as_ref().map(|(_, d)| &**d)
    }

    /// Where the cursor is.
    pub fn position(&self) -> Position {
        let actor = self
            .step_first_event(self.cursor)
            .and_then(|e| e.event.body.actor())
            .map(|id| (id, self.actor_name(id)));
        Position {
            step: self.cursor,
            steps: self.steps(),
            // The cursor's position was reached, so its block was read before.
            event: self
                .events_at(self.cursor)
                .unwrap_or_else(|_| self.trace().event_count())
                .saturating_sub(1),
            last_event: self.trace().event_count().saturating_sub(1),
            actor,
        }
    }

    fn actor_name(&self, id: ActorId) -> String {
        self.driver
            .system()
            .actor(id)
            .map(|(_, n, _)| n.to_string())
            .unwrap_or_else(|| self.spawned_name(id).unwrap_or_default())
    }

    /// An actor's name from its `spawned` event (for actors not spawned yet at the driver's
    /// position).
    fn spawned_name(&self, id: ActorId) -> Option<String> {
        self.trace()
            .events()
            .filter_map(Result::ok)
            .find_map(|e| match e.event.body {
                EventBody::ActorSpawned { actor, name, .. } if actor == id => Some(name),
                _ => None,
            })
    }

    fn step_first_event(&self, p: usize) -> Option<RecordedEvent> {
        if p == 0 {
            return None;
        }
        self.trace().event(self.events_at(p - 1).ok()?).ok()
    }

    /// The events of step `p` (for `p` = 0, the setup events).
    pub fn step_events(&self, p: usize) -> Result<Vec<RecordedEvent>, DebugError> {
        let p = p.min(self.steps());
        let (from, to) = if p == 0 {
            (0, self.events_at(0)?)
        } else {
            (self.events_at(p - 1)?, self.events_at(p)?)
        };
        self.trace()
            .events_from(from)
            .take((to - from) as usize)
            .map(|e| e.map_err(DebugError::from))
            .collect()
    }

    // ----- movement -----

    /// Moves the driver to the end of the step after its position.
    fn advance(&mut self) -> Result<(), DebugError> {
        let from = self.driver.events();
        let want = self.events_at(self.driver_at + 1)?;
        loop {
            match self.driver.step() {
                Ok(Step::Input | Step::Snapshot | Step::Segment | Step::Delivery) => {}
                Ok(Step::Ended | Step::Cut) => break,
                Err(e) => {
                    self.driver_clean = false;
                    return Err(e.into());
                }
            }
            if self.driver.events() >= want {
                break;
            }
        }
        let got = self.driver.events();
        if got != want {
            self.driver_clean = false;
            return Err(DebugError::Divergence(Box::new(Divergence {
                event: got,
                actor: None,
                expected: format!("a step ending at event {want}"),
                actual: format!("the replay stopped at event {got}"),
            })));
        }
        self.driver_at += 1;
        self.reexecuted += got - from;
        let (last, _) = self
            .checkpoints
            .last()
            .map(|(p, c)| (*p, c.events()))
            .unwrap_or((0, 0));
        if self.driver_at > last && got - self.events_at(last)? >= self.every {
            self.checkpoints
                .push((self.driver_at, self.driver.checkpoint()));
        }
        let total = self.trace().event_count();
        if let Some(f) = self.progress.as_mut() {
            f(got, total);
        }
        Ok(())
    }

    fn seek_once(&mut self, target: usize) -> Result<(), DebugError> {
        let i = self.checkpoints.partition_point(|(p, _)| *p <= target) - 1;
        // The snapshots whose step ends at or before the target start before the
        // target's events end.
        let limit = self.events_at(target)?;
        let j = self.snapshots.partition_point(|&n| n < limit);
        // The nearest place to start from at or before the target: a checkpoint kept in
        // memory, or a snapshot in the trace when it is nearer.
        let snapshot = match j.checked_sub(1).map(|j| self.snapshots[j]) {
            Some(n) => Some((self.timeline.positions_through(self.trace(), n)?, n)),
            None => None,
        }
        .filter(|&(p, _)| p > self.checkpoints[i].0);
        let mut nearest = snapshot.map_or(self.checkpoints[i].0, |(p, _)| p);
        // Restore when the driver cannot get there by going forward, or when a checkpoint
        // is closer to the target than the driver is.
        if !self.driver_clean || target < self.driver_at || nearest > self.driver_at {
            let restored = match snapshot {
                Some((p, event)) => self.driver.restore_snapshot(event).map(|()| {
                    // Kept as a checkpoint: coming back costs no decoding.
                    let checkpoint = self.driver.checkpoint();
                    self.checkpoints.insert(i + 1, (p, checkpoint));
                }),
                None => self.driver.restore(&self.checkpoints[i].1),
            };
            if let Err(e) = restored {
                if snapshot.is_none() {
                    return Err(e.into());
                }
                // A snapshot that cannot be read (a missing or damaged blob) is not the
                // end of the session: the checkpoints in memory still work.
                self.notes.push(format!(
                    "cannot start from the snapshot at event {}: {e}; snapshots are not used",
                    snapshot.map_or(0, |(_, n)| n)
                ));
                self.snapshots.clear();
                nearest = self.checkpoints[i].0;
                self.driver.restore(&self.checkpoints[i].1)?;
            }
            self.driver_at = nearest;
            self.restored_from = nearest;
            self.driver_clean = true;
        }
        while self.driver_at < target {
            self.advance()?;
        }
        Ok(())
    }

    /// Puts the driver at position `target` (not past a known divergence).
    fn seek(&mut self, target: usize) -> Result<(), DebugError> {
        let target = target.min(self.steps());
        let result = match self.seek_once(target) {
            Err(DebugError::Divergence(d)) if self.restored_from > 0 => {
                self.notes.push(format!(
                    "re-execution from a checkpoint diverged at event {}{}: an actor keeps state outside its state bytes (hidden state in linear memory), so checkpoints are now off and every move back re-executes from the start",
                    d.event,
                    d.actor.map_or(String::new(), |a| format!(" (actor {a})"))
                ));
                self.checkpoints.truncate(1);
                self.snapshots.clear();
                self.every = u64::MAX;
                self.driver_clean = false;
                self.seek_once(target)
            }
            r => r,
        };
        if let Err(DebugError::Divergence(d)) = &result {
            if self.divergence.is_none() {
                self.divergence = Some((self.driver_at, d.clone()));
            }
        }
        result
    }

    /// Moves the cursor to `target`; a divergence leaves it at the last matching step.
    fn move_to(&mut self, target: usize) -> Result<Stop, DebugError> {
        match self.seek(target) {
            Ok(()) => {
                self.cursor = target.min(self.steps());
                Ok(Stop::Moved)
            }
            Err(DebugError::Divergence(d)) => {
                self.cursor = self.driver_at;
                Ok(Stop::Divergence(d))
            }
            Err(e) => Err(e),
        }
    }

    fn limit(&self) -> usize {
        self.divergence.as_ref().map_or(self.steps(), |(p, _)| *p)
    }

    fn stopped_at_limit(&self) -> Stop {
        match &self.divergence {
            Some((p, d)) if self.cursor >= *p => Stop::Divergence(d.clone()),
            _ => Stop::End,
        }
    }

    /// Forward `n` steps, ignoring breakpoints.
    pub fn step(&mut self, n: usize) -> Result<Stop, DebugError> {
        if self.cursor >= self.limit() {
            return Ok(self.stopped_at_limit());
        }
        let target = self.cursor.saturating_add(n).min(self.steps());
        self.move_to(target)
    }

    /// Back `n` steps.
    pub fn back(&mut self, n: usize) -> Result<Stop, DebugError> {
        if self.cursor == 0 {
            return Ok(Stop::Start);
        }
        self.move_to(self.cursor.saturating_sub(n))
    }

    /// To the end of the step that contains event `event`.
    pub fn goto_event(&mut self, event: u64) -> Result<Stop, DebugError> {
        let p = self.position_of_event(event)?;
        self.move_to(p)
    }

    /// To position `p`.
    pub fn goto_step(&mut self, p: usize) -> Result<Stop, DebugError> {
        if p > self.steps() {
            return Err(DebugError::NotFound(format!(
                "no step {p}: the trace has {} steps",
                self.steps()
            )));
        }
        self.move_to(p)
    }

    /// Forward to the next step of the actor of the current step (or a breakpoint).
    pub fn next_same_actor(&mut self) -> Result<Stop, DebugError> {
        let actor = self
            .step_first_event(self.cursor)
            .and_then(|e| e.event.body.actor());
        self.run_forward(actor)
    }

    /// Forward to the next breakpoint (or the end).
    pub fn cont(&mut self) -> Result<Stop, DebugError> {
        self.run_forward(None)
    }

    fn run_forward(&mut self, same_actor: Option<ActorId>) -> Result<Stop, DebugError> {
        if let Err(e) = self.seek(self.cursor) {
            return self.stop_on(e);
        }
        loop {
            if self.cursor >= self.limit() {
                return Ok(self.stopped_at_limit());
            }
            let before = self.watched_states();
            if let Err(e) = self.seek(self.cursor + 1) {
                return self.stop_on(e);
            }
            self.cursor += 1;
            if let Some((id, why)) = self.hit(&before)? {
                return Ok(Stop::Breakpoint { id, why });
            }
            if let Some(actor) = same_actor {
                let first = self.step_first_event(self.cursor);
                if first.and_then(|e| e.event.body.actor()) == Some(actor) {
                    return Ok(Stop::Moved);
                }
            }
        }
    }

    fn stop_on(&mut self, e: DebugError) -> Result<Stop, DebugError> {
        match e {
            DebugError::Divergence(d) => {
                self.cursor = self.driver_at;
                Ok(Stop::Divergence(d))
            }
            e => Err(e),
        }
    }

    /// Back to the latest earlier step where a breakpoint hits (or the start).
    pub fn reverse_cont(&mut self) -> Result<Stop, DebugError> {
        let mut hi = self.cursor.saturating_sub(1);
        while hi > 0 {
            let i = self.checkpoints.partition_point(|(p, _)| *p < hi) - 1;
            let lo = self.checkpoints[i].0;
            if let Err(e) = self.seek(lo) {
                return self.stop_on(e);
            }
            let mut last_hit = None;
            for p in lo + 1..=hi {
                let before = self.watched_states();
                if let Err(e) = self.seek(p) {
                    return self.stop_on(e);
                }
                if let Some(hit) = self.hit(&before)? {
                    last_hit = Some((p, hit));
                }
            }
            if let Some((p, (id, why))) = last_hit {
                self.seek(p)?;
                self.cursor = p;
                return Ok(Stop::Breakpoint { id, why });
            }
            hi = lo;
        }
        self.move_to(0)?;
        Ok(Stop::Start)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_step_kind_is_a_kind() {
        for kind in super::timeline::STEP_KINDS {
            assert!(theater_trace::EVENT_KIND_NAMES.contains(&kind), "{kind}");
        }
    }
}
