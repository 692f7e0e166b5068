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
//! A recording writes snapshot events when [`SnapshotPolicy`] says
//! ([`System::record_snapshots`]); a replay computes its own where the recording has one
//! and compares the two.
//!
//! [`System::restore`]: crate::System::restore

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use theater_trace::{ActorId, Digest, EventBody};

use crate::checkpoint::Checkpoint;
use crate::error::RuntimeError;
use crate::scheduler::{RunSummary, System};
use crate::sink::Sink;
use crate::snapshot_policy::{SnapshotPolicy, SnapshotTimer};
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

/// The record of a world, and each actor's state digest in actor order. The record is
/// canonical: the same world always gives the same bytes.
pub(crate) fn encode(
    world: &World,
    summary: &RunSummary,
    instances: &[ActorId],
    used: &[ActorId],
) -> (Vec<u8>, Vec<(ActorId, Digest)>) {
    let refs: Vec<(ActorId, Digest)> = world
        .actors
        .iter()
        .map(|(id, meta)| (*id, Digest::of(&meta.state)))
        .collect();
    let record = Record {
        version: SNAPSHOT_VERSION,
        world,
        states: refs.clone(),
        summary: summary.clone(),
        instances: instances.to_vec(),
        used: used.to_vec(),
    };
    // Every part is plain data with string keys or integers; a Vec takes any length.
    let record = rmp_serde::to_vec_named(&record).expect("a world serializes");
    (record, refs)
}

impl Checkpoint {
    /// The checkpoint as a [`Snapshot`]. The record is canonical: the same checkpoint
    /// always gives the same bytes.
    pub fn to_snapshot(&self) -> Snapshot {
        let (record, refs) = encode(&self.world, &self.summary, &self.instances, &self.used);
        let mut states = BTreeMap::new();
        for (id, digest) in refs {
            states
                .entry(digest)
                .or_insert_with(|| self.world.actors[&id].state.clone());
        }
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

impl System {
    /// Writes snapshot events into the recording as `policy` says (see
    /// [`SnapshotPolicy`]). Does nothing unless the system is recording.
    pub fn record_snapshots(&mut self, policy: SnapshotPolicy) {
        if policy.is_off() || matches!(self.sink, Sink::Off | Sink::Replay(_)) {
            self.snapshots = None;
            return;
        }
        let wanted = match &mut self.sink {
            Sink::Background(r) if policy.every_ms > 0 => Some(r.snapshot_clock(policy.every_ms)),
            _ => None,
        };
        self.snapshots = Some(SnapshotTimer::new(policy, wanted));
    }

    /// Snapshot events written so far.
    pub fn snapshots_written(&self) -> u64 {
        self.snapshots.as_ref().map_or(0, |t| t.written)
    }

    /// The scheduler's time spent taking them (what the budget bounds).
    pub fn snapshot_time(&self) -> std::time::Duration {
        self.snapshots
            .as_ref()
            .map_or(std::time::Duration::ZERO, |t| t.spent)
    }

    /// After a delivery: starts a new segment if the recorder thread asks for one (see
    /// `crate::rotation`): the rotation, then a snapshot, which a segment starts with
    /// whatever the snapshot policy. Returns whether it rotated.
    pub(crate) fn rotate_if_due(&mut self) -> Result<bool, RuntimeError> {
        match &self.sink {
            Sink::Background(r) if r.rotate_due() => self.start_segment(),
            _ => Ok(false),
        }
    }

    /// Starts a new segment now, between two steps (a recording to a directory of
    /// segments; see `theater_runtime::SegmentPlan`): the recorder thread seals the
    /// current one, and the new one starts with a snapshot. Returns `false`, doing
    /// nothing, when the run is not recorded to segments.
    pub fn start_segment(&mut self) -> Result<bool, RuntimeError> {
        let Sink::Background(r) = &mut self.sink else {
            return Ok(false);
        };
        if !r.rotate()? {
            return Ok(false);
        }
        self.write_snapshot()?;
        Ok(true)
    }

    /// After a delivery: writes a snapshot if one is due.
    pub(crate) fn snapshot_if_due(&mut self) -> Result<(), RuntimeError> {
        if !self.snapshots.as_mut().is_some_and(SnapshotTimer::due) {
            return Ok(());
        }
        self.write_snapshot()
    }

    /// The snapshot a segment starts with, whatever the snapshot policy.
    pub(crate) fn write_segment_snapshot(&mut self) -> Result<(), RuntimeError> {
        self.write_snapshot()
    }

    fn write_snapshot(&mut self) -> Result<(), RuntimeError> {
        let started = Instant::now();
        let body = self.snapshot_event()?;
        self.sink.append(body)?;
        if let Some(t) = &mut self.snapshots {
            t.taken(started);
        }
        Ok(())
    }

    /// The snapshot event of the system as it is now, its record and state blobs handed
    /// to the sink (a replay only computes their digests).
    pub(crate) fn snapshot_event(&mut self) -> Result<EventBody, RuntimeError> {
        // The world is encoded where it is, not cloned as a checkpoint would.
        let (summary, instances, used) = self.checkpoint_parts();
        let (record, refs) = encode(&self.world, &summary, &instances, &used);
        let mut states = BTreeSet::new();
        for (id, digest) in refs {
            if states.insert(digest) {
                self.sink
                    .blob_known(digest, &self.world.actors[&id].state)?;
            }
        }
        let record = self.sink.blob(&record)?;
        Ok(EventBody::Snapshot {
            record,
            states: states.into_iter().collect(),
        })
    }
}
