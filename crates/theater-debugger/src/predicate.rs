//! Conditions on a run, for breakpoints, `bisect --until` and `minimize`.
//!
//! ```text
//! failed                    any actor's handler failed or trapped
//! failed:NAME               that actor's handler failed or trapped (NAME or id)
//! log:REGEX                 a log line matches REGEX
//! NAME:/json/pointer OP V   a comparison on the actor's decoded state, e.g.
//!                           bank:/accounts/alice < 0   (OP: < <= > >= == !=)
//! ```
//!
//! `failed` and `log` are properties of events (they hold from the first matching event
//! on); a state comparison is evaluated on an actor's state at a position.

use std::fmt;
use std::str::FromStr;

use regex::Regex;
use theater_trace::{ActorId, EventBody, ExitReason, Outcome};

use crate::inspect::decode;
use crate::DebugError;

/// An actor, by id or by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ActorRef {
    Id(ActorId),
    Name(String),
}

impl FromStr for ActorRef {
    type Err = DebugError;
    fn from_str(s: &str) -> Result<ActorRef, DebugError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(DebugError::Usage("an actor name or id is needed".into()));
        }
        Ok(match s.parse::<u64>() {
            Ok(id) => ActorRef::Id(id),
            Err(_) => ActorRef::Name(s.to_string()),
        })
    }
}

impl fmt::Display for ActorRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ActorRef::Id(id) => write!(f, "{id}"),
            ActorRef::Name(n) => f.write_str(n),
        }
    }
}

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl Cmp {
    const ALL: [(&'static str, Cmp); 6] = [
        ("<=", Cmp::Le),
        (">=", Cmp::Ge),
        ("==", Cmp::Eq),
        ("!=", Cmp::Ne),
        ("<", Cmp::Lt),
        (">", Cmp::Gt),
    ];

    fn symbol(self) -> &'static str {
        Cmp::ALL
            .iter()
            .find(|(_, c)| *c == self)
            .map_or("?", |(s, _)| s)
    }

    /// Compares numbers as numbers and strings as strings; anything else only with
    /// `==` and `!=`.
    pub fn holds(self, left: &serde_json::Value, right: &serde_json::Value) -> bool {
        use std::cmp::Ordering;
        let order = match (left, right) {
            (serde_json::Value::Number(a), serde_json::Value::Number(b)) => {
                match (a.as_i64(), b.as_i64()) {
                    (Some(a), Some(b)) => Some(a.cmp(&b)),
                    _ => a
                        .as_f64()
                        .zip(b.as_f64())
                        .and_then(|(a, b)| a.partial_cmp(&b)),
                }
            }
            (serde_json::Value::String(a), serde_json::Value::String(b)) => Some(a.cmp(b)),
            _ => None,
        };
        match (self, order) {
            (Cmp::Eq, _) => left == right,
            (Cmp::Ne, _) => left != right,
            (Cmp::Lt, Some(o)) => o == Ordering::Less,
            (Cmp::Le, Some(o)) => o != Ordering::Greater,
            (Cmp::Gt, Some(o)) => o == Ordering::Greater,
            (Cmp::Ge, Some(o)) => o != Ordering::Less,
            (_, None) => false,
        }
    }
}

/// A condition on a run.
#[derive(Clone, Debug)]
pub enum Predicate {
    /// A handler of this actor (any actor when `None`) returned an error or trapped.
    Failed(Option<ActorRef>),
    /// A log line matches.
    Log(Regex),
    /// A comparison on an actor's decoded state.
    State {
        actor: ActorRef,
        pointer: String,
        cmp: Cmp,
        value: serde_json::Value,
    },
}

impl fmt::Display for Predicate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Predicate::Failed(None) => f.write_str("failed"),
            Predicate::Failed(Some(a)) => write!(f, "failed:{a}"),
            Predicate::Log(r) => write!(f, "log:{}", r.as_str()),
            Predicate::State {
                actor,
                pointer,
                cmp,
                value,
            } => write!(f, "{actor}:{pointer} {} {value}", cmp.symbol()),
        }
    }
}

/// The syntax, for error messages and help.
pub const PREDICATE_SYNTAX: &str =
    "failed | failed:ACTOR | log:REGEX | ACTOR:/json/pointer OP VALUE (OP is one of < <= > >= == !=)";

impl FromStr for Predicate {
    type Err = DebugError;
    fn from_str(s: &str) -> Result<Predicate, DebugError> {
        let s = s.trim();
        let bad = |why: &str| {
            DebugError::Usage(format!(
                "bad predicate {s:?}: {why}; expected {PREDICATE_SYNTAX}"
            ))
        };
        if s == "failed" {
            return Ok(Predicate::Failed(None));
        }
        if let Some(actor) = s.strip_prefix("failed:") {
            return Ok(Predicate::Failed(Some(actor.parse()?)));
        }
        if let Some(re) = s.strip_prefix("log:") {
            return Regex::new(re)
                .map(Predicate::Log)
                .map_err(|e| bad(&format!("bad regex: {e}")));
        }
        let (actor, rest) = s.split_once(":/").ok_or_else(|| bad("no ACTOR:/pointer"))?;
        let rest = format!("/{rest}");
        let (at, symbol, cmp) = Cmp::ALL
            .iter()
            .filter_map(|(sym, c)| rest.find(sym).map(|at| (at, *sym, *c)))
            // The leftmost operator; at one place, the two-character one (listed first).
            .min_by_key(|(at, _, _)| *at)
            .ok_or_else(|| bad("no comparison operator"))?;
        let pointer = rest[..at].trim().to_string();
        let literal = rest[at + symbol.len()..].trim();
        if literal.is_empty() {
            return Err(bad("no value to compare with"));
        }
        // A bare word is taken as a string, so `bank:/owner == alice` works unquoted.
        let value = serde_json::from_str(literal)
            .unwrap_or_else(|_| serde_json::Value::String(literal.to_string()));
        Ok(Predicate::State {
            actor: actor.parse()?,
            pointer,
            cmp,
            value,
        })
    }
}

impl Predicate {
    /// Whether the predicate is about events (decided from the trace alone) rather than
    /// state.
    pub fn is_event_predicate(&self) -> bool {
        !matches!(self, Predicate::State { .. })
    }

    /// For event predicates: whether this event makes the predicate hold. `is` tells
    /// whether an actor id is the one an [`ActorRef`] names.
    pub fn matches_event(&self, body: &EventBody, is: &dyn Fn(&ActorRef, ActorId) -> bool) -> bool {
        match self {
            Predicate::Failed(who) => {
                let failed = match body {
                    EventBody::Outputs(o) => (!matches!(o.outcome, Outcome::Ok)).then_some(o.actor),
                    EventBody::ActorExited { actor, reason } => {
                        matches!(reason, ExitReason::Error(_) | ExitReason::Trap(_))
                            .then_some(*actor)
                    }
                    _ => None,
                };
                failed.is_some_and(|a| who.as_ref().is_none_or(|w| is(w, a)))
            }
            Predicate::Log(re) => match body {
                EventBody::Outputs(o) => o.logs.iter().any(|l| re.is_match(&l.message)),
                _ => false,
            },
            Predicate::State { .. } => false,
        }
    }

    /// For state predicates: whether it holds on `state`, the bytes of the actor it
    /// names. A state that is not JSON (or MessagePack), or lacks the pointer, does not
    /// satisfy it.
    pub fn holds_on_state(&self, state: &[u8]) -> bool {
        let Predicate::State {
            pointer,
            cmp,
            value,
            ..
        } = self
        else {
            return false;
        };
        decode(state)
            .json()
            .and_then(|v| v.pointer(pointer))
            .is_some_and(|left| cmp.holds(left, value))
    }

    /// The actor a state predicate reads.
    pub fn state_actor(&self) -> Option<&ActorRef> {
        match self {
            Predicate::State { actor, .. } => Some(actor),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        assert!(matches!(
            "failed".parse::<Predicate>().unwrap(),
            Predicate::Failed(None)
        ));
        assert!(matches!(
            "failed:bank".parse::<Predicate>().unwrap(),
            Predicate::Failed(Some(ActorRef::Name(n))) if n == "bank"
        ));
        assert!(matches!(
            "log:ref.sed".parse::<Predicate>().unwrap(),
            Predicate::Log(_)
        ));
        let p: Predicate = "bank:/accounts/alice < 0".parse().unwrap();
        assert_eq!(p.to_string(), "bank:/accounts/alice < 0");
        assert!(p.holds_on_state(br#"{"accounts":{"alice":-1}}"#));
        assert!(!p.holds_on_state(br#"{"accounts":{"alice":0}}"#));
        assert!(!p.holds_on_state(br#"{"accounts":{}}"#));
        assert!(!p.holds_on_state(b"\xff not json"));
        let p: Predicate = "3:/a<=2".parse().unwrap();
        assert!(matches!(
            &p,
            Predicate::State {
                actor: ActorRef::Id(3),
                cmp: Cmp::Le,
                ..
            }
        ));
        let p: Predicate = "x:/owner == alice".parse().unwrap();
        assert!(p.holds_on_state(br#"{"owner":"alice"}"#));
    }

    #[test]
    fn refuses_what_does_not_parse() {
        for bad in ["", "nothing", "bank:/a", "bank:/a <", "log:(", "failed:"] {
            let e = bad.parse::<Predicate>().unwrap_err();
            assert!(matches!(e, DebugError::Usage(_)), "{bad}: {e}");
        }
    }
}
