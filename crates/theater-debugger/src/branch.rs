//! A live branch of a recorded run: the system rebuilt at one event and driven from
//! there, by [`fork()`](crate::fork()) or by hand (the REPL's `fork`, `send`, `run`,
//! `save`), recording into a new trace that branches from the parent's chain.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use theater_runtime::replay::spec_from_trace;
use theater_runtime::{ComponentCache, RunSummary, Sink, System};
use theater_trace::{ActorId, Digest, Trace, TraceSummary, WriterOptions};

use crate::DebugError;

/// A run forked from a trace, recording into a new trace file.
#[derive(Debug)]
pub struct Branch {
    system: System,
    path: PathBuf,
    /// The parent's event the branch goes on from, and the parent's chain head.
    pub at: u64,
    pub parent_head: Digest,
    /// Where the rebuild started (a snapshot, or the first step), and the recorded
    /// events it re-executed to reach `at`.
    pub from: u64,
    pub reexecuted: u64,
    /// The parent was recorded live: host-call results were the recorded ones up to
    /// `at`, and are fresh after it.
    pub live: bool,
    deliveries_before: u64,
}

/// How a branch ended: its run and its trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BranchEnd {
    /// Deliveries after the fork point.
    pub deliveries: u64,
    pub run: RunSummary,
    pub trace: TraceSummary,
}

impl Branch {
    /// Rebuilds the run recorded in `trace` at event `at` (a step boundary) and starts
    /// recording it into a new file at `out` (which must not exist).
    pub fn start(trace: Trace, at: u64, out: &Path) -> Result<Branch, DebugError> {
        let (spec, _) = spec_from_trace(&trace, &BTreeMap::new())?;
        let mut cache = ComponentCache::new(&spec.limits)?;
        let forked =
            theater_runtime::fork::fork(trace, at, out, WriterOptions::default(), &mut cache)?;
        let deliveries_before = forked.system.summary().deliveries;
        Ok(Branch {
            system: forked.system,
            path: out.to_path_buf(),
            at,
            parent_head: forked.parent_head,
            from: forked.from,
            reexecuted: forked.reexecuted,
            live: forked.live,
            deliveries_before,
        })
    }

    /// The system as it is now.
    pub fn system(&self) -> &System {
        &self.system
    }

    /// The trace file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Deliveries run since the fork point.
    pub fn deliveries(&self) -> u64 {
        self.system.summary().deliveries - self.deliveries_before
    }

    /// An actor's id by top-level name, or a number.
    pub fn actor(&self, name: &str) -> Result<ActorId, DebugError> {
        self.system
            .actor_id(name)
            .or_else(|| {
                name.trim_start_matches('#')
                    .parse()
                    .ok()
                    .filter(|&id| self.system.actor(id).is_some())
            })
            .ok_or_else(|| DebugError::NotFound(format!("no actor {name:?} in the branch")))
    }

    /// Queues an external one-way message; whether the actor took it (a refusal is
    /// recorded as one).
    pub fn send(&mut self, to: ActorId, payload: Vec<u8>) -> Result<bool, DebugError> {
        Ok(self.system.inject(to, payload)?)
    }

    /// Queues an external request; whether the actor took it.
    pub fn request(&mut self, to: ActorId, payload: Vec<u8>) -> Result<bool, DebugError> {
        Ok(self.system.inject_request(to, payload)?.is_ok())
    }

    /// Runs until idle or `max` deliveries; how many ran. Replies to external requests
    /// have no client: they are recorded as outputs and dropped.
    pub fn run(&mut self, max: u64) -> Result<u64, DebugError> {
        let mut ran = 0;
        while ran < max && self.system.step()? {
            ran += 1;
            drop(self.system.take_replies());
        }
        Ok(ran)
    }

    /// Whether deliveries are still queued.
    pub fn busy(&self) -> bool {
        self.system.next_time().is_some()
    }

    /// Ends the run (`reason` recorded in `RunEnded`) and seals the trace.
    pub fn finish(self, reason: &str) -> Result<BranchEnd, DebugError> {
        let deliveries = self.deliveries();
        let (run, sink) = self.system.finish(reason)?;
        let Sink::File(writer) = sink else {
            unreachable!("a branch records to a file")
        };
        let trace = writer.finish()?.0;
        Ok(BranchEnd {
            deliveries,
            run,
            trace,
        })
    }
}
