//! How the trace's values read to a person: the one place that spells an event, a
//! sender, a recipient, a message kind, a payload, an outcome, a trap, an exit reason, a
//! refusal, a drop, a host function, a restart policy, a log level and a run mode.
//!
//! Every listing uses these `Display`s — `dump`, the REPL, divergence reports, `diff`,
//! `bisect`, the Mermaid, DOT and Perfetto exports — so a value is spelled the same
//! everywhere, and no `Debug` output of a domain type reaches a person.

use std::fmt;

use crate::event::*;

/// Every [`EventBody::kind_name`], in the order of the variants (for breakpoints and
/// completion); a test checks each variant's name is here.
pub const EVENT_KIND_NAMES: [&str; 16] = [
    "run-started",
    "component",
    "spawned",
    "exited",
    "restarted",
    "input",
    "delivered",
    "refused",
    "host-call",
    "outputs",
    "run-ended",
    "dropped",
    "snapshot",
    "segment",
    "resumed",
    "forked",
];

impl fmt::Display for EventBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:<10}", self.kind_name())?;
        match self {
            EventBody::RunStarted(h) => write!(
                f,
                " {} mode={} seed={} engine={} manifest={}",
                h.producer,
                h.mode,
                h.seed,
                h.engine.engine,
                h.manifest.short()
            ),
            EventBody::ComponentRegistered { name, component } => {
                write!(f, " {name} = {}", component.short())
            }
            EventBody::ActorSpawned {
                actor,
                parent,
                name,
                component,
                restart,
            } => {
                write!(
                    f,
                    " actor {actor} {} component={}",
                    Quoted(name),
                    component.short()
                )?;
                if let Some(p) = parent {
                    write!(f, " parent={p}")?;
                }
                write!(f, " restart={restart}")
            }
            EventBody::ActorExited { actor, reason } => write!(f, " actor {actor}: {reason}"),
            EventBody::ActorRestarted { actor, restarts } => {
                write!(f, " actor {actor} (restart #{restarts})")
            }
            EventBody::Input(d) | EventBody::Delivered(d) => write!(
                f,
                " actor {} <- {} {} seq={} t={}ns {}",
                d.to,
                d.from,
                d.kind,
                d.seq,
                d.time_ns,
                PayloadPreview(&d.payload)
            ),
            EventBody::Refused {
                to,
                payload,
                reason,
            } => {
                write!(f, " actor {to} {reason} {}", PayloadPreview(payload))
            }
            EventBody::HostCall {
                actor,
                function,
                request,
                response,
            } => write!(
                f,
                " actor {actor} {function}({}) -> {}",
                PayloadPreview(request),
                PayloadPreview(response)
            ),
            EventBody::Outputs(o) => {
                write!(
                    f,
                    " actor {} seq={} {} fuel={}",
                    o.actor, o.seq, o.outcome, o.fuel_used
                )?;
                for m in &o.sent {
                    write!(
                        f,
                        " -> {} {} {}",
                        Recipient(m.to),
                        m.kind,
                        PayloadPreview(&m.payload)
                    )?;
                }
                for l in &o.logs {
                    write!(f, " log[{}] {}", l.level, Quoted(&l.message))?;
                }
                write!(f, " state={}", o.state.short())
            }
            EventBody::RunEnded { time_ns, reason } => write!(f, " t={time_ns}ns {reason}"),
            EventBody::IngressDropped { request, reason } => {
                let request = if request.is_empty() {
                    "(no request line)"
                } else {
                    request
                };
                write!(f, " {request}: {reason}")
            }
            EventBody::Snapshot { record, states } => {
                write!(f, " record={} states={}", record.short(), states.len())
            }
            EventBody::SegmentStarted {
                segment,
                previous_head,
                ..
            } => write!(f, " {segment} after={}", previous_head.short()),
            EventBody::Resumed {
                previous,
                lost_bytes,
                lost_events,
            } => write!(
                f,
                " after the previous process {}{}",
                match previous {
                    PreviousEnd::Finished => "finished",
                    PreviousEnd::Stopped => "was stopped",
                    PreviousEnd::Cut => "was cut",
                },
                if *previous == PreviousEnd::Cut {
                    format!(" (lost {lost_bytes} bytes, {lost_events} event(s))")
                } else {
                    String::new()
                }
            ),
            EventBody::Forked { parent_head, at } => {
                write!(
                    f,
                    " from event {at} of the trace with head {}",
                    parent_head.short()
                )
            }
        }
    }
}

/// Text in double quotes, with quotes, backslashes and control characters escaped.
#[derive(Clone, Copy, Debug)]
pub struct Quoted<'a>(pub &'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for c in self.0.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                c if c.is_control() => write!(f, "{}", c.escape_default())?,
                c => write!(f, "{c}")?,
            }
        }
        f.write_str("\"")
    }
}

/// An actor id as the recipient of a message: the id, or `outside` for [`EXTERNAL`].
#[derive(Clone, Copy, Debug)]
pub struct Recipient(pub ActorId);

impl fmt::Display for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == EXTERNAL {
            f.write_str("outside")
        } else {
            write!(f, "{}", self.0)
        }
    }
}

impl fmt::Display for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sender::External => f.write_str("external"),
            Sender::Actor(a) => write!(f, "actor {a}"),
            Sender::Timer(t) => write!(f, "timer {t}"),
            Sender::Runtime => f.write_str("runtime"),
        }
    }
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MessageKind::Init => f.write_str("init"),
            MessageKind::OneWay => f.write_str("message"),
            MessageKind::Request { correlation } => write!(f, "request#{correlation}"),
            MessageKind::Reply { correlation, ok } => {
                write!(
                    f,
                    "reply#{correlation}{}",
                    if *ok { "" } else { " (failed)" }
                )
            }
            MessageKind::ChildExit { child } => write!(f, "child-exit({child})"),
        }
    }
}

/// Payloads of at most this many bytes are shown within an event's line; longer ones
/// show only their length there (a debugger prints them on a line of their own).
pub const PREVIEW_IN_LINE_MAX_BYTES: usize = 32;

/// A payload as `[N B "text"]` when it is short printable UTF-8, `[N B 0x…]` when it is
/// short, `[N B]` when it is longer than [`PREVIEW_IN_LINE_MAX_BYTES`], or
/// `[N B blob digest]` when it is stored as a blob.
#[derive(Clone, Copy, Debug)]
pub struct PayloadPreview<'a>(pub &'a Payload);

impl fmt::Display for PayloadPreview<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Payload::Inline(b) if b.0.len() > PREVIEW_IN_LINE_MAX_BYTES => {
                write!(f, "[{} B]", b.0.len())
            }
            Payload::Inline(b) => {
                write!(f, "[{} B ", b.0.len())?;
                match std::str::from_utf8(&b.0) {
                    Ok(s) if !s.chars().any(char::is_control) => write!(f, "{}]", Quoted(s)),
                    _ => write!(f, "0x{}]", crate::digest::hex(&b.0)),
                }
            }
            Payload::Blob { digest, len } => write!(f, "[{len} B blob {}]", digest.short()),
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Ok => f.write_str("ok"),
            Outcome::Error(m) => write!(f, "error: {m}"),
            Outcome::Trap(t) => write!(f, "trap: {t}"),
        }
    }
}

/// A trap by its WIT name (`out-of-fuel`, `unreachable`, …).
impl fmt::Display for TrapCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TrapCode::OutOfFuel => "out-of-fuel",
            TrapCode::Unreachable => "unreachable",
            TrapCode::MemoryOutOfBounds => "memory-out-of-bounds",
            TrapCode::MemoryLimit => "memory-limit",
            TrapCode::StackOverflow => "stack-overflow",
            TrapCode::IntegerOverflow => "integer-overflow",
            TrapCode::IntegerDivisionByZero => "integer-division-by-zero",
            TrapCode::BadConversionToInteger => "bad-conversion-to-integer",
            TrapCode::IndirectCallTypeMismatch => "indirect-call-type-mismatch",
            TrapCode::TableOutOfBounds => "table-out-of-bounds",
            TrapCode::NullReference => "null-reference",
            TrapCode::Other(s) => s,
        })
    }
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitReason::Normal => f.write_str("normal"),
            ExitReason::Error(m) => write!(f, "error: {m}"),
            ExitReason::Trap(t) => write!(f, "trap: {t}"),
            ExitReason::Killed => f.write_str("killed"),
            ExitReason::Escalated => f.write_str("escalated"),
        }
    }
}

impl fmt::Display for RefusalReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RefusalReason::NoSuchActor => "no-such-actor",
            RefusalReason::MailboxFull => "mailbox-full",
            RefusalReason::TooLarge => "too-large",
            RefusalReason::Backlog => "backlog",
        })
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DropReason::Malformed(m) => write!(f, "malformed ({m})"),
            DropReason::TooLarge { limit } => write!(f, "too large (limit {limit} B)"),
            DropReason::TimedOut { limit_ms } => write!(f, "timed out (limit {limit_ms} ms)"),
            DropReason::ClientGone => f.write_str("client gone"),
            DropReason::NoRoute => f.write_str("no route"),
            DropReason::Busy { limit } => write!(f, "busy (queue limit {limit})"),
            DropReason::ClientGoneBeforeReply { correlation } => {
                write!(f, "client gone before the reply to request#{correlation}")
            }
            DropReason::ReplyTimedOut {
                correlation,
                limit_ms,
            } => write!(
                f,
                "no reply to request#{correlation} in time (limit {limit_ms} ms)"
            ),
        }
    }
}

/// A host function by its WIT name (`store.get`, `http-client.send`, …).
impl fmt::Display for HostFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HostFunction::Now => "now",
            HostFunction::RandomBytes => "random-bytes",
            HostFunction::StoreGet => "store.get",
            HostFunction::StoreSet => "store.set",
            HostFunction::StoreDelete => "store.delete",
            HostFunction::StoreListKeys => "store.list-keys",
            HostFunction::HttpSend => "http-client.send",
            HostFunction::Other(name) => name,
        })
    }
}

impl fmt::Display for RestartPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RestartPolicy::Permanent => "permanent",
            RestartPolicy::Transient => "transient",
            RestartPolicy::Temporary => "temporary",
        })
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        })
    }
}

impl fmt::Display for RunMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RunMode::Live => "live",
            RunMode::Simulated => "simulated",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_name_is_listed() {
        let d = Delivery {
            seq: 0,
            from: Sender::External,
            to: 0,
            kind: MessageKind::Init,
            payload: Payload::Inline(Vec::new().into()),
            time_ns: 0,
        };
        let o = DeliveryOutputs {
            actor: 0,
            seq: 0,
            sent: Vec::new(),
            logs: Vec::new(),
            state: crate::Digest::ZERO,
            fuel_used: 0,
            outcome: Outcome::Ok,
        };
        let p = || Payload::Inline(Vec::new().into());
        let bodies = [
            EventBody::RunStarted(crate::synth::header(1)),
            EventBody::ComponentRegistered {
                name: String::new(),
                component: crate::Digest::ZERO,
            },
            EventBody::ActorSpawned {
                actor: 0,
                parent: None,
                name: String::new(),
                component: crate::Digest::ZERO,
                restart: RestartPolicy::Permanent,
            },
            EventBody::Input(d.clone()),
            EventBody::Delivered(d),
            EventBody::Outputs(o),
            EventBody::Refused {
                to: 0,
                payload: p(),
                reason: RefusalReason::TooLarge,
            },
            EventBody::HostCall {
                actor: 0,
                function: HostFunction::Now,
                request: p(),
                response: p(),
            },
            EventBody::RunEnded {
                time_ns: 0,
                reason: String::new(),
            },
            EventBody::ActorExited {
                actor: 0,
                reason: ExitReason::Normal,
            },
            EventBody::ActorRestarted {
                actor: 0,
                restarts: 1,
            },
            EventBody::IngressDropped {
                request: String::new(),
                reason: DropReason::NoRoute,
            },
            EventBody::Snapshot {
                record: crate::Digest::ZERO,
                states: Vec::new(),
            },
            EventBody::SegmentStarted {
                run: crate::synth::header(1),
                segment: 1,
                previous_head: crate::Digest::ZERO,
            },
            EventBody::Resumed {
                previous: PreviousEnd::Cut,
                lost_bytes: 1,
                lost_events: 1,
            },
            EventBody::Forked {
                parent_head: crate::Digest::ZERO,
                at: 1,
            },
        ];
        for b in &bodies {
            assert!(
                EVENT_KIND_NAMES.contains(&b.kind_name()),
                "{}",
                b.kind_name()
            );
        }
    }

    #[test]
    fn quoting_escapes_what_would_break_a_line() {
        assert_eq!(Quoted("a \"b\"\n\\").to_string(), r#""a \"b\"\n\\""#);
    }
}
