//! The debugger's error type.

use std::fmt;

use theater_runtime::{Divergence, RuntimeError};
use theater_trace::TraceError;

/// Why a debugger operation failed.
#[derive(Debug)]
pub enum DebugError {
    /// The trace cannot be read (missing, corrupt, truncated beyond use).
    Trace(TraceError),
    /// The trace cannot be re-executed (bad manifest or components in it).
    Runtime(RuntimeError),
    /// Re-execution did not match the recording.
    Divergence(Box<Divergence>),
    /// A command argument, breakpoint or predicate that does not parse.
    Usage(String),
    /// An actor, event or position that does not exist.
    NotFound(String),
    /// Reading or writing a file.
    Io(String, std::io::Error),
}

impl fmt::Display for DebugError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DebugError::Trace(e) => write!(f, "{e}"),
            DebugError::Runtime(e) => write!(f, "{e}"),
            DebugError::Divergence(d) => write!(f, "{d}"),
            DebugError::Usage(m) | DebugError::NotFound(m) => f.write_str(m),
            DebugError::Io(what, e) => write!(f, "{what}: {e}"),
        }
    }
}

/// The message carries its causes (an I/O error, a trace problem…), so `source` is
/// empty: printers that walk the chain would otherwise say everything twice.
impl std::error::Error for DebugError {}

impl From<TraceError> for DebugError {
    fn from(e: TraceError) -> DebugError {
        DebugError::Trace(e)
    }
}

impl From<RuntimeError> for DebugError {
    fn from(e: RuntimeError) -> DebugError {
        match e {
            RuntimeError::Divergence(d) => DebugError::Divergence(d),
            RuntimeError::Trace(t) => DebugError::Trace(t),
            other => DebugError::Runtime(other),
        }
    }
}
