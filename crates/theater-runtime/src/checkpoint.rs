//! Checkpoints: everything a [`System`] holds but its WebAssembly instances, and the way
//! back to it with fresh instances.

use theater_trace::{ActorId, Digest};

use crate::error::RuntimeError;
use crate::scheduler::{RunSummary, System};
use crate::world::{ActorStatus, World};

/// Everything a [`System`] holds but its WebAssembly instances: the queue, the clock,
/// the generator, every actor's host-held state, open requests and timers, and (when
/// replaying) the position in the trace. [`System::restore`] rebuilds the instances
/// fresh, so an actor that keeps hidden state in linear memory diverges after a restore
/// — which is how such an actor is caught.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    pub(crate) world: World,
    pub(crate) summary: RunSummary,
    pub(crate) instances: Vec<ActorId>,
    /// Instances in which a handler had run (see [`System::restore`]).
    pub(crate) used: Vec<ActorId>,
    /// Replay position: next event to compare and the digest of the last one matched.
    pub(crate) position: Option<(u64, Digest)>,
}

impl Checkpoint {
    /// Events emitted (or matched, in replay) when the checkpoint was taken.
    pub fn events(&self) -> u64 {
        self.position.map_or(self.summary.events, |(next, _)| next)
    }

    /// Each actor's id and name at the checkpoint (a trace that starts with a snapshot,
    /// such as a fork, names its actors only there).
    pub fn names(&self) -> impl Iterator<Item = (ActorId, &str)> {
        self.world
            .actors
            .iter()
            .map(|(id, m)| (*id, m.name.as_str()))
    }

    /// Each actor's id, status and host-held state at the checkpoint.
    pub fn states(&self) -> impl Iterator<Item = (ActorId, ActorStatus, &[u8])> {
        self.world
            .actors
            .iter()
            .map(|(id, m)| (*id, m.status, m.state.as_slice()))
    }
}

impl System {
    /// Replaces every live actor's instance with a fresh one, keeping the host-held
    /// state: what resuming from a checkpoint does.
    pub fn restore_instances(&mut self) -> Result<(), RuntimeError> {
        let live: Vec<ActorId> = self.instances.keys().copied().collect();
        let used: Vec<ActorId> = self.used_instances();
        self.fresh_instances(&live, &used)
    }

    fn used_instances(&self) -> Vec<ActorId> {
        self.instances
            .iter()
            .filter(|(_, i)| i.used)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Replaces the instances with fresh ones for exactly `ids`. In replay, the fuel of
    /// actors in `used` is no longer compared: their recorded instances had a history
    /// (allocator state in linear memory) that a fresh one lacks, so the same handler
    /// on the same state may burn a different amount of fuel. Their state, messages,
    /// logs and outcomes are still compared.
    fn fresh_instances(&mut self, ids: &[ActorId], used: &[ActorId]) -> Result<(), RuntimeError> {
        self.sink.exempt_fuel(used);
        self.instances.clear();
        for id in ids {
            let component = self.world.actors[id].component.clone();
            let mut fresh = self.instantiate(*id, &component)?;
            fresh.used = used.contains(id);
            self.instances.insert(*id, fresh);
        }
        Ok(())
    }

    /// A snapshot of the scheduler's state (see [`Checkpoint`]).
    pub fn checkpoint(&self) -> Checkpoint {
        let (summary, instances, used) = self.checkpoint_parts();
        Checkpoint {
            world: self.world.clone(),
            summary,
            instances,
            used,
            position: self.sink.replay_position(),
        }
    }

    /// What a checkpoint holds besides the world: the summary (counting the events so
    /// far), the live instances, and those in which a handler had run.
    pub(crate) fn checkpoint_parts(&self) -> (RunSummary, Vec<ActorId>, Vec<ActorId>) {
        let mut summary = self.summary.clone();
        summary.events = self.sink.events();
        let instances = self.instances.keys().copied().collect();
        (summary, instances, self.used_instances())
    }

    /// Returns to `checkpoint`, taken from this system (or one built from the same spec
    /// and trace): the scheduler state is copied back, every instance is made fresh,
    /// and a replay resumes comparing at the checkpoint's event.
    pub fn restore(&mut self, checkpoint: &Checkpoint) -> Result<(), RuntimeError> {
        let http = self.world.http.take();
        self.world = checkpoint.world.clone();
        self.world.http = http;
        self.replies.clear();
        self.summary = checkpoint.summary.clone();
        self.sink.clear_fuel_exempt();
        self.fresh_instances(&checkpoint.instances, &checkpoint.used)?;
        self.sink.rewind_to(checkpoint.position);
        Ok(())
    }
}
