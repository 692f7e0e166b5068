//! One-line human descriptions of events, for listings (`theater-replay dump`, the REPL).

use std::fmt;

use crate::event::*;

impl fmt::Display for EventBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:<10}", self.kind_name())?;
        match self {
            EventBody::RunStarted(h) => write!(
                f,
                " {} mode={:?} seed={} engine={} manifest={}",
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
                write!(f, " actor {actor} {name:?} component={}", component.short())?;
                if let Some(p) = parent {
                    write!(f, " parent={p}")?;
                }
                write!(f, " restart={restart:?}")
            }
            EventBody::ActorExited { actor, reason } => write!(f, " actor {actor}: {reason:?}"),
            EventBody::ActorRestarted { actor, restarts } => {
                write!(f, " actor {actor} (restart #{restarts})")
            }
            EventBody::Input(d) | EventBody::Delivered(d) => write!(
                f,
                " actor {} <- {} {} seq={} t={}ns {}",
                d.to,
                sender(&d.from),
                kind(&d.kind),
                d.seq,
                d.time_ns,
                PayloadPreview(&d.payload)
            ),
            EventBody::Refused {
                to,
                payload,
                reason,
            } => {
                write!(f, " actor {to} {reason:?} {}", PayloadPreview(payload))
            }
            EventBody::HostCall {
                actor,
                function,
                request,
                response,
            } => write!(
                f,
                " actor {actor} {function:?}({}) -> {}",
                PayloadPreview(request),
                PayloadPreview(response)
            ),
            EventBody::Outputs(o) => {
                write!(
                    f,
                    " actor {} seq={} {:?} fuel={}",
                    o.actor, o.seq, o.outcome, o.fuel_used
                )?;
                for m in &o.sent {
                    write!(
                        f,
                        " -> {} {} {}",
                        Recipient(m.to),
                        kind(&m.kind),
                        PayloadPreview(&m.payload)
                    )?;
                }
                for l in &o.logs {
                    write!(f, " log[{:?}] {:?}", l.level, l.message)?;
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
                write!(f, " {request}: {reason:?}")
            }
        }
    }
}

/// An actor id, or `outside` for [`EXTERNAL`].
struct Recipient(ActorId);

impl fmt::Display for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == EXTERNAL {
            f.write_str("outside")
        } else {
            write!(f, "{}", self.0)
        }
    }
}

fn sender(s: &Sender) -> String {
    match s {
        Sender::External => "external".into(),
        Sender::Actor(a) => format!("actor {a}"),
        Sender::Timer(t) => format!("timer {t}"),
        Sender::Runtime => "runtime".into(),
    }
}

fn kind(k: &MessageKind) -> String {
    match k {
        MessageKind::Init => "init".into(),
        MessageKind::OneWay => "message".into(),
        MessageKind::Request { correlation } => format!("request#{correlation}"),
        MessageKind::Reply { correlation, ok } => {
            format!("reply#{correlation}{}", if *ok { "" } else { " (failed)" })
        }
        MessageKind::ChildExit { child } => format!("child-exit({child})"),
    }
}

/// A payload as `N B` plus its text when it is short printable UTF-8, else hex.
struct PayloadPreview<'a>(&'a Payload);

impl fmt::Display for PayloadPreview<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Payload::Inline(b) => {
                write!(f, "[{} B ", b.0.len())?;
                match std::str::from_utf8(&b.0) {
                    Ok(s) if !s.chars().any(char::is_control) => write!(f, "{s:?}]"),
                    _ => write!(f, "0x{}]", crate::digest::hex(&b.0)),
                }
            }
            Payload::Blob { digest, len } => write!(f, "[{len} B blob {}]", digest.short()),
        }
    }
}
