//! Breakpoints and watchpoints of a session: adding and removing them, and deciding
//! whether the step just executed hits one (a watchpoint compares state digests before
//! and after it).

use std::collections::BTreeMap;

use theater_trace::{ActorId, Digest};

use super::Session;
use crate::breakpoint::Breakpoint;
use crate::predicate::ActorRef;
use crate::DebugError;

impl Session {
    /// Adds a breakpoint; returns its id.
    pub fn add_breakpoint(&mut self, bp: Breakpoint) -> u32 {
        let id = self.next_breakpoint;
        self.next_breakpoint += 1;
        self.breakpoints.insert(id, bp);
        id
    }

    /// Deletes a breakpoint by id.
    pub fn delete_breakpoint(&mut self, id: u32) -> Result<(), DebugError> {
        self.breakpoints
            .remove(&id)
            .map(drop)
            .ok_or_else(|| DebugError::NotFound(format!("no breakpoint {id}")))
    }

    /// Deletes every breakpoint.
    pub fn clear_breakpoints(&mut self) {
        self.breakpoints.clear();
    }

    /// The breakpoints, by id.
    pub fn breakpoints(&self) -> &BTreeMap<u32, Breakpoint> {
        &self.breakpoints
    }

    /// Whether actor `id` is the one `a` names, at the driver's position.
    pub(super) fn is(&self, a: &ActorRef, id: ActorId) -> bool {
        let system = self.driver.system();
        match system.actor(id) {
            Some((_, name, _)) => a.matches(id, name, system.actor_component(id).unwrap_or("")),
            None => matches!(a, ActorRef::Id(x) if *x == id),
        }
    }

    /// States of the actors watched, at the driver's position.
    pub(super) fn watched_states(&self) -> Vec<(u32, ActorId, Digest)> {
        let mut out = Vec::new();
        for (bp, b) in &self.breakpoints {
            if let Breakpoint::Watch(a) = b {
                for (id, ..) in self.driver.system().actors() {
                    if self.is(a, id) {
                        if let Some((_, _, state)) = self.driver.system().actor(id) {
                            out.push((*bp, id, Digest::of(state)));
                        }
                    }
                }
            }
        }
        out
    }

    /// The first breakpoint the step just executed (the driver's position) hits.
    pub(super) fn hit(
        &self,
        before: &[(u32, ActorId, Digest)],
    ) -> Result<Option<(u32, String)>, DebugError> {
        if self.breakpoints.is_empty() {
            return Ok(None);
        }
        let events = self.step_events(self.driver_at)?;
        let is = |a: &ActorRef, id: ActorId| self.is(a, id);
        for (id, bp) in &self.breakpoints {
            if let Breakpoint::Watch(_) = bp {
                for (bp_id, actor, old) in before.iter().filter(|(b, ..)| b == id) {
                    let new = self
                        .driver
                        .system()
                        .actor(*actor)
                        .map(|(_, _, s)| Digest::of(s));
                    if new != Some(*old) {
                        return Ok(Some((
                            *bp_id,
                            format!("{bp}: state of actor {actor} changed"),
                        )));
                    }
                }
            } else if bp.hit_by(self.trace(), &events, &is)? {
                return Ok(Some((*id, bp.to_string())));
            }
        }
        Ok(None)
    }

    // ----- inspection -----

    /// Makes the driver's position the cursor's (after a look elsewhere).
    pub(super) fn sync(&mut self) -> Result<(), DebugError> {
        if !self.driver_clean || self.driver_at != self.cursor {
            self.seek(self.cursor)?;
        }
        Ok(())
    }
}
