//! Snapshots: a [`Checkpoint`] as bytes, from which a replay (or a resumed run) starts
//! without re-executing what came before.
//!
//! A snapshot is a record (MessagePack with field names, so that a field added later
//! reads as its default) of the whole world — queue, clock, generator, id counters,
//! requests, timers, supervision state, the store — and of the run summary, with every
//! actor's state held apart as a content-addressed blob: an
//! actor whose state did not change since the last snapshot costs only its digest. The
//! instances are not in it: a restore makes fresh ones, as [`System::restore`] does, so
//! the hidden-state check still holds.
//!
//! [`System::restore`]: crate::System::restore

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use theater_trace::{ActorId, Digest};

use crate::checkpoint::Checkpoint;
use crate::error::RuntimeError;
use crate::scheduler::RunSummary;
use crate::world::World;

/// The version of the snapshot record; a reader refuses any other.
pub const SNAPSHOT_VERSION: u32 = 1;

/// A checkpoint as bytes: the record, and the state blobs it names by digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub record: Vec<u8>,
    /// Every actor state the record names, by digest (each distinct state once).
    pub states: BTreeMap<Digest, Vec<u8>>,
}

#[derive(Serialize, Deserialize)]
struct Record<W> {
    version: u32,
    world: W,
    /// Each actor's state, by digest, in actor order.
    states: Vec<(ActorId, Digest)>,
    summary: RunSummary,
    instances: Vec<ActorId>,
    used: Vec<ActorId>,
}

impl Checkpoint {
    /// The checkpoint as a [`Snapshot`]. The record is canonical: the same checkpoint
    /// always gives the same bytes.
    pub fn to_snapshot(&self) -> Snapshot {
        let mut states = BTreeMap::new();
        let mut refs = Vec::with_capacity(self.world.actors.len());
        for (id, meta) in &self.world.actors {
            let digest = Digest::of(&meta.state);
            states.entry(digest).or_insert_with(|| meta.state.clone());
            refs.push((*id, digest));
        }
        let record = Record {
            version: SNAPSHOT_VERSION,
            world: &self.world,
            states: refs,
            summary: self.summary.clone(),
            instances: self.instances.clone(),
            used: self.used.clone(),
        };
        // Every part is plain data with string keys or integers; a Vec takes any length.
        let record = rmp_serde::to_vec_named(&record).expect("a checkpoint serializes");
        Snapshot { record, states }
    }

    /// The checkpoint a snapshot record holds; `state` gives the bytes of a state blob
    /// by digest (checked against it). A damaged or foreign record is an error, never a
    /// panic.
    pub fn from_snapshot(
        record: &[u8],
        mut state: impl FnMut(&Digest) -> Option<Vec<u8>>,
    ) -> Result<Checkpoint, RuntimeError> {
        let bad = |why: String| RuntimeError::Unreplayable(format!("snapshot: {why}"));
        let r: Record<World> =
            rmp_serde::from_slice(record).map_err(|e| bad(format!("cannot decode: {e}")))?;
        if r.version != SNAPSHOT_VERSION {
            return Err(bad(format!(
                "version {} (this build reads {SNAPSHOT_VERSION})",
                r.version
            )));
        }
        let mut world = r.world;
        if r.states.len() != world.actors.len() {
            return Err(bad(format!(
                "{} states for {} actors",
                r.states.len(),
                world.actors.len()
            )));
        }
        for (id, digest) in &r.states {
            let meta = world
                .actors
                .get_mut(id)
                .ok_or_else(|| bad(format!("a state for unknown actor {id}")))?;
            let bytes =
                state(digest).ok_or_else(|| bad(format!("state blob {digest} is missing")))?;
            if Digest::of(&bytes) != *digest {
                return Err(bad(format!(
                    "state blob {digest} does not match its digest"
                )));
            }
            meta.state = bytes;
        }
        Ok(Checkpoint {
            world,
            summary: r.summary,
            instances: r.instances,
            used: r.used,
            position: None,
        })
    }

    /// The checkpoint, for a replay that resumes comparing at event `next`, the last
    /// event matched before it having chain value `last`. A snapshot does not hold its
    /// position: it is where the snapshot is (a recording and its replay make the same
    /// snapshot record).
    pub fn resume_at(mut self, next: u64, last: Digest) -> Checkpoint {
        self.position = Some((next, last));
        self
    }
}
