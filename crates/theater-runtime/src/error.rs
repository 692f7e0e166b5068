//! Typed errors of the runtime.

use std::fmt;

use theater_trace::{ActorId, TraceError};

/// Why a run could not go on.
#[derive(Debug)]
pub enum RuntimeError {
    /// A component failed to compile, link or instantiate.
    Component { name: String, message: String },
    /// The system spec is inconsistent (unknown component, duplicate name, …).
    Spec(String),
    /// Writing or reading the trace failed.
    Trace(TraceError),
    /// Replay found a difference from the recording.
    Divergence(Box<Divergence>),
    /// The trace cannot be replayed (missing header, manifest or component).
    Unreplayable(String),
    /// An operation on a trace refused, with why (a fork point inside a step, say).
    Refused(String),
}

impl fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuntimeError::Component { name, message } => write!(f, "component {name:?}: {message}"),
            RuntimeError::Spec(m) => write!(f, "invalid system spec: {m}"),
            RuntimeError::Trace(e) => e.fmt(f),
            RuntimeError::Divergence(d) => d.fmt(f),
            RuntimeError::Unreplayable(m) => write!(f, "trace cannot be replayed: {m}"),
            RuntimeError::Refused(m) => f.write_str(m),
        }
    }
}

/// The message carries its causes (an I/O error, a trace problem…), so `source` is
/// empty: printers that walk the chain would otherwise say everything twice.
impl std::error::Error for RuntimeError {}

impl From<TraceError> for RuntimeError {
    fn from(e: TraceError) -> RuntimeError {
        RuntimeError::Trace(e)
    }
}

/// The first difference between a replay and its recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Divergence {
    /// Number of the recorded event that differs (or that replay expected next).
    pub event: u64,
    /// The actor concerned, when there is one.
    pub actor: Option<ActorId>,
    /// What the trace holds (one line per event, as `dump` prints it).
    pub expected: String,
    /// What the replay produced.
    pub actual: String,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "divergence at event {}", self.event)?;
        if let Some(a) = self.actor {
            write!(f, " (actor {a})")?;
        }
        write!(
            f,
            "\n  expected: {}\n  actual:   {}",
            self.expected, self.actual
        )
    }
}
