//! Forking a recorded run: the system as it was at one event of a trace, going on from
//! there with other inputs, recorded into a new trace.
//!
//! [`fork`] rebuilds the system at event `at` of a trace as a replay does (from the
//! nearest snapshot at or before it, re-executing and comparing the events after it),
//! then records from there into a new file. The new trace is a branch of the parent's
//! chain: a segment that starts at event `at` (`SegmentStarted`, with the parent's run
//! header and the parent's chain value before `at`), registers the components, names the
//! parent by its chain head (`Forked`) and holds a snapshot of the system, so it reads,
//! verifies and replays on its own bytes, and its events line up with the parent's by
//! number. The caller feeds it inputs and finishes it.
//!
//! The forked run goes on with fresh instances, as a replay of the new trace starts from
//! its snapshot with fresh ones. A trace recorded live had its clock, randomness and
//! outbound HTTP served from the recording up to `at`; after it they are fresh.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;

use theater_trace::{Digest, EventBody, RunMode, SegmentStart, Trace, TraceWriter, WriterOptions};

use crate::components::ComponentCache;
use crate::error::RuntimeError;
use crate::replay::{spec_from_trace, ReplayDriver, ReplayOptions, Step};
use crate::scheduler::System;
use crate::sink::Sink;

/// A run forked from a trace, recording into the new trace.
#[derive(Debug)]
pub struct Forked {
    /// The rebuilt system, recording into the new trace (a file sink).
    pub system: System,
    /// The parent's chain head, which the new trace names.
    pub parent_head: Digest,
    /// The event the rebuild started from (a snapshot, or the trace's first step), and
    /// how many recorded events it re-executed to reach the fork point.
    pub from: u64,
    pub reexecuted: u64,
    /// The parent was recorded live: host-call results were the recorded ones up to the
    /// fork point, and are fresh after it.
    pub live: bool,
}

/// Rebuilds the system recorded in `trace` at event `at` (a step boundary: the first
/// event of an input, a delivery, a snapshot, or the end) and starts recording a fork
/// of it into a new file at `out` (which must not exist).
pub fn fork(
    trace: Trace,
    at: u64,
    out: &Path,
    options: WriterOptions,
    cache: &mut ComponentCache,
) -> Result<Forked, RuntimeError> {
    let refuse = |why: String| RuntimeError::Refused(format!("cannot fork: {why}"));
    let header = trace
        .header()
        .cloned()
        .ok_or_else(|| refuse("the trace has no run header".into()))?;
    let manifest = trace
        .blob(&header.manifest)?
        .ok_or_else(|| refuse("the trace's manifest blob is missing".into()))?;
    let (spec, _) = spec_from_trace(&trace, &BTreeMap::new())?;
    let parent_head = trace.head();
    let end = trace.event_count();
    let snapshot = trace.snapshot_at_or_before(at.min(end))?;
    let mut driver = ReplayDriver::new(trace, &ReplayOptions::default(), cache)?;
    let setup_end = driver.events();
    if at < setup_end {
        return Err(refuse(format!(
            "event {at} is part of the trace's setup; its first step starts at event {setup_end}"
        )));
    }
    let mut from = setup_end;
    if let Some(s) = snapshot.filter(|&s| s > setup_end) {
        driver.restore_snapshot(s)?;
        from = s;
    }
    let mut before = driver.events();
    let mut ended = false;
    while driver.events() < at {
        before = driver.events();
        match driver.step()? {
            Step::Ended => {
                ended = true;
                break;
            }
            Step::Cut => break,
            _ => {}
        }
    }
    let reached = driver.events();
    if ended {
        return Err(refuse(format!(
            "the run ended at event {before}: fork at event {before} at the latest"
        )));
    }
    if reached < at {
        return Err(refuse(format!(
            "the trace ends at event {reached}, before event {at}"
        )));
    }
    if reached > at {
        return Err(refuse(format!(
            "event {at} is inside a step (events {before} to {}): fork at event {before} or {reached}",
            reached - 1
        )));
    }
    let chain = driver.system().sink().head();
    let mut system = driver.into_system();
    let file = File::options()
        .write(true)
        .create_new(true)
        .open(out)
        .map_err(|e| refuse(format!("{}: {e}", out.display())))?;
    let start = SegmentStart {
        run: header.clone(),
        segment: 1,
        first_event: at,
        previous_head: chain,
    };
    let mut writer = TraceWriter::segment(file, start, &manifest, options)?;
    for c in &spec.components {
        let component = writer.blob(&c.bytes)?;
        writer.append(EventBody::ComponentRegistered {
            name: c.name.clone(),
            component,
        })?;
    }
    writer.append(EventBody::Forked { parent_head, at })?;
    system.sink = Sink::File(Box::new(writer));
    // Fresh instances from here on, as a replay of the new trace makes at its snapshot.
    system.restore_instances()?;
    system.write_segment_snapshot()?;
    Ok(Forked {
        system,
        parent_head,
        from,
        reexecuted: at - from,
        live: header.mode == RunMode::Live,
    })
}
