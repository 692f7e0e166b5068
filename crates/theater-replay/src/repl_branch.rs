//! The REPL's live branch: `fork` at the cursor, then `send`, `run`, `state` and `save`.
//!
//! The branch is recorded into a scratch file next to the system's temporary files while
//! it is open; `save FILE` seals it and moves it to FILE. Leaving the REPL with a branch
//! open discards it.

use std::path::Path;

use theater_debugger::command::Command;
use theater_debugger::rerun::RERUN_DELIVERIES_MAX;
use theater_debugger::{ActorRef, Branch, DebugError, Session};

use crate::render;

/// The branch the REPL has open, if any.
#[derive(Default)]
pub(crate) struct OpenBranch {
    branch: Option<Branch>,
    /// Branches opened so far (each gets its own scratch file).
    opened: u32,
}

impl OpenBranch {
    /// The prompt's prefix while a branch is open.
    pub(crate) fn prompt(&self) -> String {
        self.branch.as_ref().map_or(String::new(), |b| {
            format!("(branch from #{}, {} deliveries) ", b.at, b.deliveries())
        })
    }

    /// Runs `command` if it is a branch command (or `state` while a branch is open);
    /// `None` hands it to the session.
    pub(crate) fn execute(
        &mut self,
        session: &Session,
        trace: &Path,
        command: &Command,
    ) -> Option<Result<String, DebugError>> {
        Some(match command {
            Command::Fork => self.fork(session, trace),
            Command::Send {
                actor,
                payload,
                request,
            } => self.open().and_then(|b| send(b, actor, payload, *request)),
            Command::Run => self.open().and_then(|b| {
                let ran = b.run(RERUN_DELIVERIES_MAX)?;
                Ok(if b.busy() {
                    format!("ran {ran} deliveries and stopped at the limit; `run` again to go on")
                } else {
                    format!("ran {ran} deliveries; the branch is idle")
                })
            }),
            Command::Save(path) => self.save(path),
            Command::State(a) if self.branch.is_some() => match a {
                Some(a) => self.open().and_then(|b| state(b, a)),
                None => Err(DebugError::Usage(
                    "in a branch: `state ACTOR` (a name or an id)".into(),
                )),
            },
            _ => return None,
        })
    }

    fn open(&mut self) -> Result<&mut Branch, DebugError> {
        self.branch.as_mut().ok_or_else(|| {
            DebugError::Usage("no branch is open: `fork` opens one at the cursor".into())
        })
    }

    fn fork(&mut self, session: &Session, trace: &Path) -> Result<String, DebugError> {
        if let Some(b) = &self.branch {
            return Err(DebugError::Usage(format!(
                "a branch from #{} is open: `save FILE` it first",
                b.at
            )));
        }
        let at = session.position().event + 1;
        self.opened += 1;
        let scratch = std::env::temp_dir().join(format!(
            "theater-replay-branch-{}-{}.trace",
            std::process::id(),
            self.opened
        ));
        let _ = std::fs::remove_file(&scratch);
        let parent = crate::open_trace(trace).map_err(crate::store_to_debug)?;
        let b = Branch::start(parent, at, &scratch)?;
        let host_calls = if b.live {
            "recorded clock, randomness and HTTP results were served up to here; from now on they are fresh"
        } else {
            "simulated: the virtual clock and generator go on from here"
        };
        let text = format!(
            "branch from event #{at} (rebuilt from #{}, {} events re-executed); {host_calls}. `send ACTOR PAYLOAD`, `run`, `state ACTOR`, `save FILE`",
            b.from, b.reexecuted
        );
        self.branch = Some(b);
        Ok(text)
    }

    fn save(&mut self, path: &Path) -> Result<String, DebugError> {
        let b = self.branch.take().ok_or_else(|| {
            DebugError::Usage("no branch is open: `fork` opens one at the cursor".into())
        })?;
        let (at, scratch) = (b.at, b.path().to_path_buf());
        let end = b.finish("idle")?;
        move_file(&scratch, path)?;
        Ok(format!(
            "saved the branch to {}: events #{at} to #{}, {} deliveries after the fork, head {}",
            path.display(),
            end.trace.events.saturating_sub(1),
            end.deliveries,
            end.trace.head.short()
        ))
    }
}

impl Drop for OpenBranch {
    fn drop(&mut self) {
        if let Some(b) = self.branch.take() {
            let _ = std::fs::remove_file(b.path());
        }
    }
}

fn send(b: &mut Branch, actor: &str, payload: &str, request: bool) -> Result<String, DebugError> {
    let to = b.actor(actor)?;
    let bytes = payload.as_bytes().to_vec();
    let taken = if request {
        b.request(to, bytes)?
    } else {
        b.send(to, bytes)?
    };
    Ok(if taken {
        format!("queued for actor {to}; `run` delivers it")
    } else {
        format!("actor {to} refused it (recorded as refused)")
    })
}

fn state(b: &Branch, a: &ActorRef) -> Result<String, DebugError> {
    let name = match a {
        ActorRef::Name(n) => n.clone(),
        ActorRef::Id(id) => id.to_string(),
        ActorRef::Glob(_) | ActorRef::Component(_) => {
            return Err(DebugError::Usage(
                "in a branch, name one actor or give its id".into(),
            ))
        }
    };
    let id = b.actor(&name)?;
    let (_, actor_name, bytes) = b
        .system()
        .actor(id)
        .ok_or_else(|| DebugError::NotFound(format!("no actor {id} in the branch")))?;
    Ok(format!(
        "(in the branch) {}",
        render::state(id, actor_name, bytes)
    ))
}

/// Moves a finished trace into place (a copy where a rename cannot cross file systems).
fn move_file(from: &Path, to: &Path) -> Result<(), DebugError> {
    let io = |e| DebugError::Io(format!("cannot write {}", to.display()), e);
    if std::fs::rename(from, to).is_err() {
        std::fs::copy(from, to).map_err(io)?;
        let _ = std::fs::remove_file(from);
    }
    Ok(())
}
