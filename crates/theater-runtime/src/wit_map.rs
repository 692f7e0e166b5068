//! Translation between the WIT world's types (`bindings`) and the trace's types: the
//! one place that knows both spellings of a sender, a trap, an exit reason, a restart
//! policy, a child's status, a log level and a failed request.

use theater_trace::{ExitReason, LogLevel, RestartPolicy, Sender, TrapCode};

use crate::bindings::theater::actor::{messaging, runtime, supervision, types};
use crate::request::RequestFailure;
use crate::world::ActorStatus;

/// The sender as a handler sees it: the runtime and the outside look alike.
pub(crate) fn sender(from: Sender) -> types::Sender {
    match from {
        Sender::External | Sender::Runtime => types::Sender::External,
        Sender::Actor(a) => types::Sender::Actor(a),
        Sender::Timer(t) => types::Sender::Timer(t),
    }
}

/// An exit reason as a parent's `handle-child-exit` sees it.
pub(crate) fn exit_reason(reason: ExitReason) -> types::ExitReason {
    match reason {
        ExitReason::Normal => types::ExitReason::Normal,
        ExitReason::Error(m) => types::ExitReason::Error(m),
        ExitReason::Trap(t) => types::ExitReason::Trap(t.to_string()),
        ExitReason::Killed | ExitReason::Escalated => types::ExitReason::Killed,
    }
}

pub(crate) fn restart_policy(p: types::RestartPolicy) -> RestartPolicy {
    match p {
        types::RestartPolicy::Permanent => RestartPolicy::Permanent,
        types::RestartPolicy::Transient => RestartPolicy::Transient,
        types::RestartPolicy::Temporary => RestartPolicy::Temporary,
    }
}

pub(crate) fn child_status(s: ActorStatus) -> supervision::ChildStatus {
    match s {
        ActorStatus::Running => supervision::ChildStatus::Running,
        ActorStatus::Restarting => supervision::ChildStatus::Restarting,
        ActorStatus::Exited => supervision::ChildStatus::Exited,
    }
}

pub(crate) fn log_level(level: runtime::Level) -> LogLevel {
    match level {
        runtime::Level::Trace => LogLevel::Trace,
        runtime::Level::Debug => LogLevel::Debug,
        runtime::Level::Info => LogLevel::Info,
        runtime::Level::Warn => LogLevel::Warn,
        runtime::Level::Error => LogLevel::Error,
    }
}

/// What `handler-failed` says about a failed handler: its error message, or for a
/// trap the spelling the first traces recorded (`Trap(OutOfFuel)`). The text is part
/// of recorded payloads (the requester's reply), so it stays as it is: replaying an
/// older trace recomputes it and compares.
pub(crate) fn handler_failure(outcome: &theater_trace::Outcome) -> String {
    match outcome {
        theater_trace::Outcome::Error(m) => m.clone(),
        other => format!("{other:?}"),
    }
}

/// A failed reply's payload as the requester's `handle-reply` sees it.
pub(crate) fn request_error(payload: &[u8]) -> messaging::RequestError {
    match RequestFailure::decode(payload) {
        RequestFailure::TargetExited => messaging::RequestError::TargetExited,
        RequestFailure::HandlerFailed(m) => messaging::RequestError::HandlerFailed(m),
    }
}

/// The trace's trap code for a wasmtime error out of a handler call.
pub(crate) fn trap_code(e: &wasmtime::Error, memory_refused: bool) -> TrapCode {
    use wasmtime::Trap;
    let code = match e.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => TrapCode::OutOfFuel,
        Some(Trap::UnreachableCodeReached) => TrapCode::Unreachable,
        Some(Trap::MemoryOutOfBounds) => TrapCode::MemoryOutOfBounds,
        Some(Trap::StackOverflow) => TrapCode::StackOverflow,
        Some(Trap::IntegerOverflow) => TrapCode::IntegerOverflow,
        Some(Trap::IntegerDivisionByZero) => TrapCode::IntegerDivisionByZero,
        Some(Trap::BadConversionToInteger) => TrapCode::BadConversionToInteger,
        Some(Trap::BadSignature) => TrapCode::IndirectCallTypeMismatch,
        Some(Trap::TableOutOfBounds) => TrapCode::TableOutOfBounds,
        Some(Trap::NullReference) => TrapCode::NullReference,
        Some(other) => TrapCode::Other(other.to_string()),
        None => TrapCode::Other(format!("{e}")),
    };
    // A guest whose allocation failed at the memory limit aborts (`unreachable`).
    if memory_refused && code == TrapCode::Unreachable {
        TrapCode::MemoryLimit
    } else {
        code
    }
}
