//! Replaying a trace: the same scheduler, fed from the trace.
//!
//! The replay rebuilds the system from the trace alone (manifest and components are
//! blobs in it), then walks the recorded events: external inputs are re-injected where
//! they were recorded, every other event is recomputed by the scheduler and compared
//! with the recording. The first difference stops the replay with a [`Divergence`]
//! report. A component may be swapped for another build (regression testing): its
//! digest is then mapped to the recorded one, and any behaviour change shows up as a
//! divergence in the events that follow.
//!
//! [`Divergence`]: crate::Divergence

use std::collections::BTreeMap;

use theater_trace::{Digest, EventBody, MessageKind, Payload, RefusalReason, Trace};

use crate::checkpoint::Checkpoint;
use crate::components::ComponentCache;
use crate::error::RuntimeError;
use crate::replayer::{Replayer, END_OF_TRACE};
use crate::scheduler::System;
use crate::sink::Sink;
use crate::spec::SystemSpec;

/// How to replay.
#[derive(Clone, Debug, Default)]
pub struct ReplayOptions {
    /// Components to replace, by name: their new bytes (regression testing).
    pub swaps: BTreeMap<String, Vec<u8>>,
    /// Restore from a checkpoint every K deliveries: each actor's instance is replaced by
    /// a fresh one while the host-held state is kept — exactly what resuming from a
    /// checkpoint does. An actor that keeps hidden state in linear memory then diverges.
    pub checkpoint_every: Option<u64>,
    /// Compare fuel for the deliveries of swapped components too. Off by default: any
    /// rebuild changes fuel, so a regression check compares behaviour (state, messages,
    /// logs, host calls, outcome; a fuel budget that runs out is an outcome, a trap).
    pub compare_fuel: bool,
}

/// What a successful replay matched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayReport {
    /// Events matched, the run header included.
    pub events: u64,
    /// Digest of the last event matched: equals the recording's chain head when the
    /// whole trace was replayed.
    pub head: Digest,
    /// Whether the recording ended with `RunEnded` (a crashed recording replays up to
    /// where it was cut).
    pub finished: bool,
    /// Deliveries of swapped components whose fuel differed from the recording (not
    /// compared unless [`ReplayOptions::compare_fuel`]).
    pub fuel_differs: u64,
}

/// The system spec recorded in a trace, with each component's bytes filled from the
/// trace (or from `swaps`, by component name).
pub fn spec_from_trace(
    trace: &Trace,
    swaps: &BTreeMap<String, Vec<u8>>,
) -> Result<(SystemSpec, BTreeMap<Digest, Digest>), RuntimeError> {
    let header = trace
        .header()
        .ok_or_else(|| RuntimeError::Unreplayable("the trace has no run header".into()))?;
    let manifest = trace
        .blob(&header.manifest)?
        .ok_or_else(|| RuntimeError::Unreplayable("the manifest blob is missing".into()))?;
    let mut spec = SystemSpec::from_manifest_bytes(&manifest)?;
    let mut recorded: BTreeMap<String, Digest> = BTreeMap::new();
    for e in trace.events_from(trace.first_event() + 1) {
        match e?.event.body {
            EventBody::ComponentRegistered { name, component } => {
                recorded.insert(name, component);
            }
            _ => break,
        }
    }
    if let Some(unknown) = swaps.keys().find(|n| !recorded.contains_key(*n)) {
        return Err(RuntimeError::Unreplayable(format!(
            "cannot swap component {unknown:?}: the trace has no component of that name (it has {})",
            recorded.keys().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ")
        )));
    }
    let mut aliases = BTreeMap::new();
    for c in &mut spec.components {
        let digest = *recorded.get(&c.name).ok_or_else(|| {
            RuntimeError::Unreplayable(format!(
                "component {:?} is not registered in the trace",
                c.name
            ))
        })?;
        c.bytes = match swaps.get(&c.name) {
            Some(bytes) => {
                aliases.insert(Digest::of(bytes), digest);
                bytes.clone()
            }
            None => trace.blob(&digest)?.ok_or_else(|| {
                RuntimeError::Unreplayable(format!("component blob {digest} is missing"))
            })?,
        };
    }
    Ok((spec, aliases))
}

/// Replays `trace` to its end (or to where a crashed recording was cut). Returns the
/// first divergence as an error.
pub fn replay(trace: Trace, options: &ReplayOptions) -> Result<ReplayReport, RuntimeError> {
    // The cache is rebuilt for the recorded stack limit if it differs from the default.
    replay_cached(
        trace,
        options,
        &mut ComponentCache::new(&crate::Limits::default())?,
    )
}

/// [`replay`], reusing compiled components.
pub fn replay_cached(
    trace: Trace,
    options: &ReplayOptions,
    cache: &mut ComponentCache,
) -> Result<ReplayReport, RuntimeError> {
    let (cut_short, events, head) = (
        trace.recovery().is_some(),
        trace.event_count(),
        trace.head(),
    );
    let mut driver = match ReplayDriver::new(trace, options, cache) {
        Ok(d) => d,
        // A recording cut off during its setup (components, top-level actors) has nothing
        // to re-execute: what is there matched the header checks.
        Err(RuntimeError::Unreplayable(_)) | Err(RuntimeError::Divergence(_)) if cut_short => {
            return Ok(ReplayReport {
                events,
                head,
                finished: false,
                fuel_differs: 0,
            })
        }
        Err(e) => return Err(e),
    };
    loop {
        match driver.step()? {
            Step::Input | Step::Snapshot | Step::Segment | Step::Delivery => {}
            Step::Ended | Step::Cut => {
                return Ok(ReplayReport {
                    events: driver.events(),
                    head: driver.head(),
                    finished: driver.finished(),
                    fuel_differs: driver.fuel_differs(),
                })
            }
        }
    }
}

/// What one [`ReplayDriver::step`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Re-injected an external input (accepted or refused, as recorded), or matched the
    /// recorded end of a process whose run was resumed after it.
    Input,
    /// Passed over a recorded snapshot.
    Snapshot,
    /// Matched the start of a segment (a trace recorded to a directory): its
    /// `SegmentStarted` and the components registered again.
    Segment,
    /// Ran one delivery: its `Delivered`, host calls, `Outputs` and whatever the
    /// delivery caused (exits, restarts, spawns) all matched.
    Delivery,
    /// Matched the recorded `RunEnded`: the whole trace is replayed.
    Ended,
    /// The recording stops here without `RunEnded` (its writer was cut off); everything
    /// before matched.
    Cut,
}

/// A replay that advances one step at a time: the building block of the debugger.
///
/// Each step consumes one or more recorded events (an input, or a whole delivery, which
/// is atomic). [`ReplayDriver::checkpoint`] and [`ReplayDriver::restore`] move it back
/// to an earlier step boundary.
#[derive(Debug)]
pub struct ReplayDriver {
    system: System,
    deliveries: u64,
    restore_every: Option<u64>,
    ended: bool,
    /// The recording was cut off inside the last step (a crashed writer).
    cut: bool,
    /// Recorded snapshots are compared with the replay's own (not with swaps).
    compare_snapshots: bool,
    /// The cut fell inside a step (its first events recorded, the rest lost), which a
    /// recording on the recorder thread never leaves (its blocks end between steps).
    cut_inside_step: bool,
}

/// A [`ReplayDriver`] position (see [`Checkpoint`]).
#[derive(Clone, Debug)]
pub struct DriverCheckpoint {
    system: Checkpoint,
    deliveries: u64,
    ended: bool,
}

impl DriverCheckpoint {
    /// Events matched at the checkpoint (the number of the next event).
    pub fn events(&self) -> u64 {
        self.system.events()
    }

    /// The scheduler state held by the checkpoint.
    pub fn system(&self) -> &Checkpoint {
        &self.system
    }
}

impl ReplayDriver {
    /// Builds the recorded system from `trace` (with `options.swaps` applied), positioned
    /// after its setup events, before the first step.
    pub fn new(
        trace: Trace,
        options: &ReplayOptions,
        cache: &mut ComponentCache,
    ) -> Result<ReplayDriver, RuntimeError> {
        let (spec, aliases) = spec_from_trace(&trace, &options.swaps)?;
        // A trace that starts at a segment (one segment file, or a directory whose
        // oldest segments were deleted) starts from the snapshot after its setup.
        let first = trace.first_event();
        let mut replayer = Replayer::new(trace, first + 1);
        replayer.aliases = aliases;
        replayer.compare_fuel = options.compare_fuel;
        let sink = Sink::Replay(Box::new(replayer));
        let system = if first == 0 {
            System::with_cache(&spec, sink, cache)?
        } else {
            System::without_actors(&spec, sink, cache)?
        };
        let mut driver = ReplayDriver {
            system,
            deliveries: 0,
            restore_every: options.checkpoint_every,
            ended: false,
            cut: false,
            compare_snapshots: options.swaps.is_empty(),
            cut_inside_step: false,
        };
        if first > 0 {
            // A resumed run's segment says how the process before ended; a fork names
            // its parent. Either way the snapshot after it is where the replay starts.
            if let Some(body @ (EventBody::Resumed { .. } | EventBody::Forked { .. })) =
                driver.system.sink_mut().peek_recorded()?
            {
                driver.system.sink_mut().append(body)?;
            }
            let n = driver.events();
            match driver.system.sink_mut().peek_recorded()? {
                Some(EventBody::Snapshot { .. }) => driver.restore_snapshot(n)?,
                _ => {
                    return Err(RuntimeError::Unreplayable(format!(
                        "the segment starting at event {first} has no snapshot after its setup (event {n})"
                    )))
                }
            }
        }
        Ok(driver)
    }

    /// Replays the next step. After [`Step::Ended`] or [`Step::Cut`] every further call
    /// returns the same.
    pub fn step(&mut self) -> Result<Step, RuntimeError> {
        if self.ended {
            return Ok(Step::Ended);
        }
        if self.cut {
            return Ok(Step::Cut);
        }
        // A delivery (almost every step) is told by its kind alone: nothing to decode.
        match self.system.sink_mut().peek_kind()? {
            None => return Ok(Step::Cut),
            Some("delivered") => return self.deliver(),
            Some(_) => {}
        }
        let Some(next) = self.system.sink_mut().peek_recorded()? else {
            return Ok(Step::Cut);
        };
        match next {
            EventBody::Input(d) => {
                let bytes = payload_bytes(&mut self.system, &d.payload)?;
                // Accepted or refused, the emitted event is compared with the recording.
                if let MessageKind::Request { .. } = d.kind {
                    let _ = self.system.inject_request(d.to, bytes)?;
                } else {
                    self.system.inject(d.to, bytes)?;
                }
                Ok(Step::Input)
            }
            EventBody::IngressDropped { request, reason } => {
                self.system.record_dropped(request, reason)?;
                Ok(Step::Input)
            }
            // A snapshot changes nothing in the run. The replay takes its own where the
            // recording has one and compares the two: the whole world, the store and
            // every actor's state must be what the recording saw. (With a component
            // swapped, the world differs by design: the recorded one is passed over.)
            body @ EventBody::Snapshot { .. } => {
                let body = if self.compare_snapshots {
                    self.system.snapshot_event()?
                } else {
                    body
                };
                self.system.sink_mut().append(body)?;
                Ok(Step::Snapshot)
            }
            // A new segment: the header again, then the components registered again; the
            // snapshot that follows is compared as any other.
            body @ EventBody::SegmentStarted { .. } => {
                self.system.sink_mut().append(body)?;
                while let Some(EventBody::ComponentRegistered { name, .. }) =
                    self.system.sink_mut().peek_recorded()?
                {
                    self.system.register_again(&name)?;
                }
                // A resumed run's segment says how the process before ended (a fork's,
                // which run it branched from).
                if let Some(body @ (EventBody::Resumed { .. } | EventBody::Forked { .. })) =
                    self.system.sink_mut().peek_recorded()?
                {
                    self.system.sink_mut().append(body)?;
                    // The resumed process went on with fresh instances, so does the replay.
                    self.system.restore_instances()?;
                }
                Ok(Step::Segment)
            }
            EventBody::Refused {
                to,
                payload,
                reason: RefusalReason::Backlog,
            } => {
                let bytes = payload_bytes(&mut self.system, &payload)?;
                self.system.refuse(to, &bytes, RefusalReason::Backlog)?;
                Ok(Step::Input)
            }
            EventBody::Refused { to, payload, .. } => {
                let bytes = payload_bytes(&mut self.system, &payload)?;
                self.system.inject(to, bytes)?;
                Ok(Step::Input)
            }
            EventBody::RunEnded { reason, .. } => {
                self.system.end(&reason)?;
                // A resumed run goes on in the next segment: this was the end of one
                // process, not of the run.
                if self.system.sink_mut().peek_recorded()?.is_some() {
                    return Ok(Step::Input);
                }
                self.ended = true;
                Ok(Step::Ended)
            }
            // What the scheduler does next (a delivery, an exit, a restart) is compared
            // as it happens.
            _ => self.deliver(),
        }
    }

    /// Runs the scheduler's next step, compared with the recording as it goes.
    fn deliver(&mut self) -> Result<Step, RuntimeError> {
        if let Some(k) = self.restore_every {
            if self.deliveries > 0 && self.deliveries.is_multiple_of(k.max(1)) {
                self.system.restore_instances()?;
            }
        }
        self.deliveries += 1;
        let stepped = match self.system.step() {
            // A recording cut off by a crash can end inside a delivery: its first
            // events matched and the rest were never written. That is the end of
            // the recording, not a divergence.
            Err(RuntimeError::Divergence(d))
                if d.expected == END_OF_TRACE && self.trace().recovery().is_some() =>
            {
                self.cut = true;
                self.cut_inside_step = true;
                return Ok(Step::Cut);
            }
            other => other?,
        };
        // Replies to external requests have no client to go to in a replay (their
        // bytes were compared as the actor's outputs): drop them as they come.
        drop(self.system.take_replies());
        if !stepped {
            // Nothing was matched: the recorded event is still the next one.
            let recorded = self.system.sink_mut().peek_recorded()?;
            return Err(RuntimeError::Divergence(Box::new(crate::Divergence {
                event: self.system.sink().events(),
                actor: recorded.as_ref().and_then(EventBody::actor),
                expected: recorded.map_or_else(|| END_OF_TRACE.into(), |r| r.to_string()),
                actual: "(nothing: the replayed system is idle)".into(),
            })));
        }
        Ok(Step::Delivery)
    }
    /// Events matched so far: the number of the next recorded event.
    pub fn events(&self) -> u64 {
        self.system.sink().events()
    }

    /// Digest of the last event matched.
    pub fn head(&self) -> Digest {
        self.system.sink().head()
    }

    /// Whether the recording was cut inside a step (see [`Step::Cut`]): the system is
    /// then not at a step boundary, and a run cannot resume from it.
    pub fn cut_inside_step(&self) -> bool {
        self.cut_inside_step
    }

    /// Whether the recorded `RunEnded` was matched.
    pub fn finished(&self) -> bool {
        self.ended
    }

    /// Deliveries of swapped components whose fuel differed from the recording.
    pub fn fuel_differs(&self) -> u64 {
        match self.system.sink() {
            Sink::Replay(r) => r.fuel_differs,
            _ => 0,
        }
    }

    /// Deliveries replayed so far.
    pub fn deliveries(&self) -> u64 {
        self.deliveries
    }

    /// The replayed system, to go on with: a resumed run continues live from where the
    /// replay of its trace ended.
    pub fn into_system(self) -> System {
        self.system
    }

    /// The replayed system (actors, states, clock).
    pub fn system(&self) -> &System {
        &self.system
    }

    /// The trace being replayed.
    pub fn trace(&self) -> &Trace {
        match self.system.sink() {
            Sink::Replay(r) => r.trace(),
            _ => unreachable!("a replay driver always holds a replay sink"),
        }
    }

    /// A snapshot of the replay at the current step boundary.
    pub fn checkpoint(&self) -> DriverCheckpoint {
        DriverCheckpoint {
            system: self.system.checkpoint(),
            deliveries: self.deliveries,
            ended: self.ended,
        }
    }

    /// Starts over from `checkpoint`, taken from a replay of the same trace (by this
    /// driver or another, possibly read back from a [`crate::Snapshot`]): fresh instances,
    /// comparing from the checkpoint's event on.
    pub fn restore_from(&mut self, checkpoint: &Checkpoint) -> Result<(), RuntimeError> {
        self.system.restore(checkpoint)?;
        self.deliveries = checkpoint.summary.deliveries;
        self.ended = false;
        self.cut = false;
        Ok(())
    }

    /// Starts over from the recorded snapshot that is event `n`: the system it holds,
    /// with fresh instances, comparing from event `n + 1` on. Nothing before it is
    /// re-executed.
    pub fn restore_snapshot(&mut self, n: u64) -> Result<(), RuntimeError> {
        let checkpoint = snapshot_at(self.trace(), n)?;
        self.restore_from(&checkpoint)
    }

    /// Returns to `checkpoint` (taken from this driver).
    pub fn restore(&mut self, checkpoint: &DriverCheckpoint) -> Result<(), RuntimeError> {
        self.system.restore(&checkpoint.system)?;
        self.deliveries = checkpoint.deliveries;
        self.ended = checkpoint.ended;
        self.cut = false;
        Ok(())
    }
}

/// The system held by the recorded snapshot that is event `n` of `trace`, positioned
/// after it.
pub fn snapshot_at(trace: &Trace, n: u64) -> Result<Checkpoint, RuntimeError> {
    let e = trace.event(n)?;
    let EventBody::Snapshot { record, .. } = &e.event.body else {
        return Err(RuntimeError::Unreplayable(format!(
            "event {n} is a {}, not a snapshot",
            e.event.body.kind_name()
        )));
    };
    let bytes = trace.blob(record)?.ok_or_else(|| {
        RuntimeError::Unreplayable(format!("snapshot {n}: record blob {record} is missing"))
    })?;
    let mut damaged = None;
    let checkpoint = Checkpoint::from_snapshot(&bytes, |d| match trace.blob(d) {
        Ok(b) => b,
        Err(e) => {
            damaged.get_or_insert(e);
            None
        }
    });
    if let Some(e) = damaged {
        return Err(e.into());
    }
    Ok(checkpoint?.resume_at(n + 1, e.digest))
}

fn payload_bytes(system: &mut System, p: &Payload) -> Result<Vec<u8>, RuntimeError> {
    match p {
        Payload::Inline(b) => Ok(b.0.clone()),
        Payload::Blob { digest, .. } => match system.sink_mut() {
            Sink::Replay(r) => r.trace().blob(digest)?.ok_or_else(|| {
                RuntimeError::Unreplayable(format!("payload blob {digest} is missing"))
            }),
            _ => Err(RuntimeError::Unreplayable("not replaying".into())),
        },
    }
}
