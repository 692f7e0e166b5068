//! Resuming a recorded run: the trace is the run's write-ahead log.
//!
//! [`resume`] opens a directory of segments, checks the run it records is the one the
//! manifest describes (the same components, actors, limits, mode and seed; a
//! difference is named), and rebuilds the system: from the last snapshot, the recorded
//! events after it are re-executed and compared with the trace, as a replay does. The
//! recorder thread's blocks end between steps, so what a crash left ends between two
//! steps too. The rebuilt system then goes on live, recording into a new segment whose
//! chain continues the old head; that segment says how the previous process ended (a
//! `Resumed` event: finished, stopped, or cut, with what the cut lost) and starts with a
//! snapshot, like every segment.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::Path;

use theater_trace::{Digest, EventBody, MessageKind, PreviousEnd, Trace};

use crate::components::ComponentCache;
use crate::error::RuntimeError;
use crate::recorder::Recorder;
use crate::replay::{spec_from_trace, ReplayDriver, ReplayOptions, Step};
use crate::rotation::{SegmentPlan, Segmenter};
use crate::scheduler::System;
use crate::sink::Sink;
use crate::spec::SystemSpec;

/// A resumed run, recording again.
#[derive(Debug)]
pub struct Resumed {
    /// The rebuilt system, recording into the new segment.
    pub system: System,
    /// How the previous process ended, and what its crash lost.
    pub previous: PreviousEnd,
    pub lost_bytes: u64,
    pub lost_events: u64,
    /// The snapshot the rebuild started from, and the events it re-executed after it.
    pub from_snapshot: u64,
    pub reexecuted: u64,
    /// The external one-way inputs the trace holds (from an inputs file), in order:
    /// (recipient, payload). A resumed run skips the ones it is given again.
    pub recorded_inputs: Vec<(u64, Vec<u8>)>,
}

/// Resumes the run recorded in `plan.dir`, described by `spec`, recording from now on as
/// `plan` says (the new segment's number and first event follow the trace's).
pub fn resume(
    spec: &SystemSpec,
    plan: SegmentPlan,
    cache: &mut ComponentCache,
) -> Result<Resumed, RuntimeError> {
    let refuse = |why: String| RuntimeError::Unreplayable(format!("cannot resume: {why}"));
    let trace = Trace::open(&plan.dir)?;
    let last = trace.segments().last().cloned().ok_or_else(|| {
        refuse(format!(
            "{} is a trace file; a run resumes from a directory of segments (record with --record DIR/)",
            plan.dir.display()
        ))
    })?;
    same_run(&trace, spec).map_err(refuse)?;
    let (previous, lost_bytes, lost_events) = previous_end(&trace)?;
    let recorded_inputs = recorded_inputs(&trace)?;
    let (end, head) = (trace.event_count(), trace.head());
    let last_snapshot = trace.snapshot_at_or_before(end)?;
    let mut driver = ReplayDriver::new(trace, &ReplayOptions::default(), cache)?;
    let mut from_snapshot = driver.events().saturating_sub(1);
    if let Some(s) = last_snapshot.filter(|&s| s >= driver.events()) {
        driver.restore_snapshot(s)?;
        from_snapshot = s;
    }
    let start = driver.events();
    while !matches!(driver.step()?, Step::Ended | Step::Cut) {}
    if driver.cut_inside_step() || driver.events() != end {
        return Err(refuse(format!(
            "the trace ends inside a step (event {} of {end}); a recording made on the recorder thread never does",
            driver.events()
        )));
    }
    let reexecuted = end - start;
    let mut system = driver.into_system();
    let (writer, segmenter) = Segmenter::resume(plan, last.number + 1, end, head)?;
    let flush_ms = writer_flush_ms(&segmenter);
    let recorder = Recorder::spawn_resumed(writer, flush_ms, segmenter)?;
    system.sink = Sink::Background(Box::new(recorder));
    // Fresh instances from here on, as a replay of this trace makes at the `Resumed`
    // event: what an instance kept from the rebuild cannot differ between the two.
    system.restore_instances()?;
    system.sink.append(EventBody::Resumed {
        previous,
        lost_bytes,
        lost_events,
    })?;
    system.write_segment_snapshot()?;
    Ok(Resumed {
        system,
        previous,
        lost_bytes,
        lost_events,
        from_snapshot,
        reexecuted,
        recorded_inputs,
    })
}

fn writer_flush_ms(s: &Segmenter) -> u64 {
    s.options().flush_interval_ms
}

/// `Ok` if `spec` describes the run `trace` records; else the first difference.
fn same_run(trace: &Trace, spec: &SystemSpec) -> Result<(), String> {
    let (recorded, _) = spec_from_trace(trace, &BTreeMap::new()).map_err(|e| e.to_string())?;
    if recorded.mode != spec.mode {
        return Err(format!(
            "the trace was recorded in {} mode, the manifest says {}",
            recorded.mode, spec.mode
        ));
    }
    if recorded.seed != spec.seed {
        return Err(format!(
            "the trace was recorded with seed {}, the manifest (or --seed) says {}",
            recorded.seed, spec.seed
        ));
    }
    if recorded.schedule != spec.schedule {
        return Err(format!(
            "the trace was recorded with schedule {}, the manifest (or --schedule) says {}",
            recorded.schedule, spec.schedule
        ));
    }
    if recorded.limits != spec.limits {
        return Err("the manifest's [limits] differ from the trace's".into());
    }
    let names = |s: &SystemSpec| {
        s.components
            .iter()
            .map(|c| c.name.clone())
            .collect::<Vec<_>>()
    };
    if names(&recorded) != names(spec) {
        return Err(format!(
            "the trace has components {:?}, the manifest {:?}",
            names(&recorded),
            names(spec)
        ));
    }
    for (r, c) in recorded.components.iter().zip(&spec.components) {
        let (was, now) = (Digest::of(&r.bytes), Digest::of(&c.bytes));
        if was != now {
            return Err(format!(
                "component {:?} changed: the trace has {}, the manifest's file is {} (replay the trace against the new build with `theater-replay verify --swap`)",
                c.name,
                was.short(),
                now.short()
            ));
        }
    }
    if recorded.actors.len() != spec.actors.len() {
        return Err(format!(
            "the trace starts {} actors, the manifest {}",
            recorded.actors.len(),
            spec.actors.len()
        ));
    }
    for (r, a) in recorded.actors.iter().zip(&spec.actors) {
        if r != a {
            return Err(format!(
                "actor {:?} differs from the trace's {:?} (name, component, init, restart, fuel or grants)",
                a.name, r.name
            ));
        }
    }
    Ok(())
}

/// How the process that wrote the last segment ended.
fn previous_end(trace: &Trace) -> Result<(PreviousEnd, u64, u64), RuntimeError> {
    if let Some(r) = trace.recovery() {
        return Ok((PreviousEnd::Cut, r.dropped_bytes, r.dropped_events));
    }
    let last = trace.event(trace.event_count().saturating_sub(1))?;
    Ok(match last.event.body {
        EventBody::RunEnded { reason, .. } if reason == "interrupted" || reason == "terminated" => {
            (PreviousEnd::Stopped, 0, 0)
        }
        EventBody::RunEnded { .. } => (PreviousEnd::Finished, 0, 0),
        // A finished trace file always ends with `RunEnded`; anything else was cut at a
        // block boundary.
        _ => (PreviousEnd::Cut, 0, 0),
    })
}

/// The one-way external inputs in the trace, in order: accepted ones (`Input`) and
/// refused ones, outside the stretches where a process served HTTP (from its first
/// request or dropped connection to the next `Resumed`: a process takes its file inputs
/// before it serves). Only the blocks holding such events are read (the index says
/// which), and none of a process's after it began to serve.
fn recorded_inputs(trace: &Trace) -> Result<Vec<(u64, Vec<u8>)>, RuntimeError> {
    let all = trace.first_event()..trace.event_count();
    // Where each process's events start.
    let mut starts = vec![all.start];
    trace.for_each_event_of_kinds(&["resumed"], all.clone(), |e| {
        starts.push(e.number);
        Ok::<_, RuntimeError>(ControlFlow::Continue(()))
    })?;
    let ends = starts.iter().skip(1).copied().chain([all.end]);
    let mut inputs = Vec::new();
    for range in starts.iter().copied().zip(ends).map(|(a, b)| a..b) {
        trace.for_each_event_of_kinds(&["input", "refused", "dropped"], range, |e| {
            let (to, payload) = match e.event.body {
                EventBody::Input(d) if !matches!(d.kind, MessageKind::Request { .. }) => {
                    (d.to, d.payload)
                }
                EventBody::Refused { to, payload, .. } => (to, payload),
                // A request or a dropped connection: this process serves from here on.
                _ => return Ok::<_, RuntimeError>(ControlFlow::Break(())),
            };
            let bytes = match &payload {
                theater_trace::Payload::Inline(b) => b.0.clone(),
                theater_trace::Payload::Blob { digest, .. } => {
                    trace.blob(digest)?.ok_or_else(|| {
                        RuntimeError::Unreplayable(format!("input blob {digest} is missing"))
                    })?
                }
            };
            inputs.push((to, bytes));
            Ok(ControlFlow::Continue(()))
        })?;
    }
    Ok(inputs)
}

/// Whether `dir` holds a recording to resume.
pub fn has_segments(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.filter_map(Result::ok).any(|e| {
            e.file_name()
                .to_str()
                .and_then(theater_trace::segment_number)
                .is_some()
        })
    })
}
