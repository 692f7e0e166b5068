//! What a session shows about the system at its cursor: actors by name or id, their
//! states (now, or at any step), the log lines so far, and a check of the rest.

use theater_runtime::ActorStatus;
use theater_trace::{ActorId, Digest, EventBody, LogLine};

use super::{ActorInfo, Session};
use crate::predicate::ActorRef;
use crate::DebugError;

impl Session {
    /// The actor `a` names at the cursor: by id, or by name (a live one first). A group
    /// (a glob, `component=NAME`) resolves to its first live member.
    pub fn resolve(&mut self, a: &ActorRef) -> Result<ActorId, DebugError> {
        self.sync()?;
        let actors = self.driver.system().actors();
        let found = match a {
            ActorRef::Id(id) => actors.iter().find(|x| x.0 == *id),
            _ => {
                let system = self.driver.system();
                actors
                    .iter()
                    .filter(|x| a.matches(x.0, &x.2, system.actor_component(x.0).unwrap_or("")))
                    .max_by_key(|x| (x.3 != ActorStatus::Exited, std::cmp::Reverse(x.0)))
            }
        };
        found.map(|x| x.0).ok_or_else(|| {
            let names: Vec<String> = actors
                .iter()
                .map(|x| format!("{} ({})", x.2, x.0))
                .collect();
            DebugError::NotFound(format!(
                "no actor {a} at step {} (actors: {})",
                self.cursor,
                if names.is_empty() {
                    "none".into()
                } else {
                    names.join(", ")
                }
            ))
        })
    }

    /// Every actor at the cursor.
    pub fn actors(&mut self) -> Result<Vec<ActorInfo>, DebugError> {
        self.sync()?;
        Ok(self
            .driver
            .system()
            .actors()
            .into_iter()
            .map(|(id, parent, name, status, restarts)| ActorInfo {
                id,
                parent,
                name,
                status,
                restarts,
            })
            .collect())
    }

    /// An actor's state bytes at the cursor.
    pub fn state(&mut self, a: &ActorRef) -> Result<(ActorId, Vec<u8>), DebugError> {
        let id = self.resolve(a)?;
        let (_, _, state) = self
            .driver
            .system()
            .actor(id)
            .ok_or_else(|| DebugError::NotFound(format!("no actor {id}")))?;
        Ok((id, state.to_vec()))
    }

    /// An actor's state bytes at position `p` (`None` if it does not exist there). The
    /// cursor does not move.
    pub fn state_at(&mut self, id: ActorId, p: usize) -> Result<Option<Vec<u8>>, DebugError> {
        self.seek(p)?;
        Ok(self.driver.system().actor(id).map(|(_, _, s)| s.to_vec()))
    }

    /// Evaluates `f` on the replayed system at position `p` (the cursor does not move).
    pub(crate) fn at<T>(
        &mut self,
        p: usize,
        f: impl FnOnce(&theater_runtime::System) -> T,
    ) -> Result<T, DebugError> {
        self.seek(p)?;
        Ok(f(self.driver.system()))
    }

    /// Log lines written up to the cursor (the last `max`), with their event numbers.
    pub fn logs(&self, max: usize) -> Result<Vec<(u64, ActorId, LogLine)>, DebugError> {
        let mut out = std::collections::VecDeque::new();
        let end = self.events_at(self.cursor)?;
        for e in self.trace().events().take(end as usize) {
            let e = e?;
            if let EventBody::Outputs(o) = e.event.body {
                for line in o.logs {
                    out.push_back((e.number, o.actor, line));
                    if out.len() > max {
                        out.pop_front();
                    }
                }
            }
        }
        Ok(out.into())
    }

    /// Re-executes the rest of the trace from the cursor, comparing everything; the
    /// cursor does not move. Returns the chain head reached.
    pub fn verify_rest(&mut self) -> Result<Digest, DebugError> {
        self.seek(self.steps())?;
        Ok(self.driver.head())
    }
}
