//! Breakpoints and watchpoints: where `continue` and `reverse-continue` stop.
//!
//! ```text
//! actor ACTOR        a step of that actor (a delivery to it, or an input for it)
//! kind KIND          a step containing an event of that kind (delivered, outputs, …)
//! failure            a handler failed or trapped
//! payload TEXT       a message whose payload contains TEXT
//! payload /REGEX/    a message whose payload matches REGEX
//! watch ACTOR        the actor's state changed
//! ```

use std::fmt;

use regex::Regex;
use theater_trace::{ActorId, EventBody, RecordedEvent, Trace};

use crate::inspect::{event_payload, payload_bytes};
use crate::predicate::{ActorRef, Predicate};
use crate::DebugError;

/// Event kinds a `kind` breakpoint accepts (`EventBody::kind_name`).
pub use theater_trace::EVENT_KIND_NAMES as EVENT_KINDS;

/// Where to stop.
#[derive(Clone, Debug)]
pub enum Breakpoint {
    Actor(ActorRef),
    Kind(String),
    Failure,
    /// Payload contains this text.
    Payload(String),
    /// Payload matches this regex.
    PayloadRegex(Regex),
    /// The actor's state changed.
    Watch(ActorRef),
}

/// The syntax, for error messages and help.
pub const BREAKPOINT_SYNTAX: &str =
    "actor ACTOR | kind KIND | failure | payload TEXT | payload /REGEX/";

impl Breakpoint {
    /// Parses the arguments of `break`.
    pub fn parse(args: &str) -> Result<Breakpoint, DebugError> {
        let args = args.trim();
        let (what, rest) = args.split_once(char::is_whitespace).unwrap_or((args, ""));
        let rest = rest.trim();
        let usage =
            |why: String| DebugError::Usage(format!("{why}; expected break {BREAKPOINT_SYNTAX}"));
        match what {
            "actor" => Ok(Breakpoint::Actor(rest.parse()?)),
            "kind" if EVENT_KINDS.contains(&rest) => Ok(Breakpoint::Kind(rest.to_string())),
            "kind" => Err(usage(format!(
                "unknown event kind {rest:?} (kinds: {})",
                EVENT_KINDS.join(", ")
            ))),
            "failure" | "failed" if rest.is_empty() => Ok(Breakpoint::Failure),
            "payload" if rest.len() >= 2 && rest.starts_with('/') && rest.ends_with('/') => {
                Regex::new(&rest[1..rest.len() - 1])
                    .map(Breakpoint::PayloadRegex)
                    .map_err(|e| usage(format!("bad regex: {e}")))
            }
            "payload" if !rest.is_empty() => Ok(Breakpoint::Payload(rest.to_string())),
            "" => Err(usage("what to break on is missing".into())),
            _ => Err(usage(format!("cannot break on {args:?}"))),
        }
    }

    /// Whether the step made of `events` hits this breakpoint. Watchpoints are decided by
    /// the session (they compare states), never here.
    pub(crate) fn hit_by(
        &self,
        trace: &Trace,
        events: &[RecordedEvent],
        is: &dyn Fn(&ActorRef, ActorId) -> bool,
    ) -> Result<bool, DebugError> {
        Ok(match self {
            Breakpoint::Actor(a) => events
                .first()
                .and_then(|e| e.event.body.actor())
                .is_some_and(|id| is(a, id)),
            Breakpoint::Kind(k) => events.iter().any(|e| e.event.body.kind_name() == k),
            Breakpoint::Failure => {
                let failed = Predicate::Failed(None);
                events
                    .iter()
                    .any(|e| failed.matches_event(&e.event.body, is))
            }
            Breakpoint::Payload(_) | Breakpoint::PayloadRegex(_) => {
                let mut hit = false;
                for e in events {
                    if let (EventBody::Delivered(_) | EventBody::Input(_), Some(p)) =
                        (&e.event.body, event_payload(&e.event.body))
                    {
                        let bytes = payload_bytes(trace, p)?;
                        let text = String::from_utf8_lossy(&bytes);
                        hit |= match self {
                            Breakpoint::Payload(s) => text.contains(s.as_str()),
                            Breakpoint::PayloadRegex(r) => r.is_match(&text),
                            _ => false,
                        };
                    }
                }
                hit
            }
            Breakpoint::Watch(_) => false,
        })
    }
}

impl fmt::Display for Breakpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Breakpoint::Actor(a) => write!(f, "actor {a}"),
            Breakpoint::Kind(k) => write!(f, "kind {k}"),
            Breakpoint::Failure => f.write_str("failure"),
            Breakpoint::Payload(s) => write!(f, "payload {s}"),
            Breakpoint::PayloadRegex(r) => write!(f, "payload /{}/", r.as_str()),
            Breakpoint::Watch(a) => write!(f, "watch {a}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_back() {
        for s in [
            "actor bank",
            "kind outputs",
            "failure",
            "payload alice",
            "payload /al+ice/",
        ] {
            assert_eq!(Breakpoint::parse(s).unwrap().to_string(), s);
        }
        for bad in ["", "kind nothing", "payload", "payload /(/", "everything"] {
            assert!(
                matches!(Breakpoint::parse(bad), Err(DebugError::Usage(_))),
                "{bad}"
            );
        }
    }
}
