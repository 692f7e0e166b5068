//! Conditions on a run, for breakpoints, `bisect --until` and `minimize`.
//!
//! ```text
//! failed                    any actor's handler failed or trapped
//! failed:ACTOR              that actor's handler failed or trapped
//! log:REGEX                 a log line matches REGEX
//! NAME:/json/pointer OP V   a comparison on the actor's decoded state, e.g.
//!                           bank:/accounts/alice < 0   (OP: < <= > >= == !=)
//! ```
//!
//! An ACTOR is an id, a name, a glob over names (`renderer-*`, `worker-?`: every actor
//! whose name fits, children spawned at run time included), or `component=NAME` (every
//! actor running that component). A state comparison on a group holds when it holds
//! for any actor of the group.
//!
//! `failed` and `log` are properties of events (they hold from the first matching event
//! on); a state comparison is evaluated on an actor's state at a position.

use std::fmt;
use std::str::FromStr;

use regex::Regex;
use theater_trace::{ActorId, EventBody, ExitReason, Outcome};

use crate::inspect::decode;
use crate::DebugError;

/// An actor, or a group of actors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ActorRef {
    Id(ActorId),
    Name(String),
    /// Every actor whose name fits the pattern (`*` any run of characters, `?` one).
    Glob(String),
    /// Every actor running the component of this name.
    Component(String),
}

impl ActorRef {
    /// Whether the actor `id`, named `name` and running `component`, is this one (or in
    /// this group).
    pub fn matches(&self, id: ActorId, name: &str, component: &str) -> bool {
        match self {
            ActorRef::Id(x) => *x == id,
            ActorRef::Name(n) => n == name,
            ActorRef::Glob(g) => glob_match(g, name),
            ActorRef::Component(c) => c == component,
        }
    }
}

/// Whether `text` fits `pattern`: `*` matches any run of characters (none included),
/// `?` any one character, everything else itself.
pub(crate) fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    // Greedy with backtracking to the last `*`: linear in practice, never exponential.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(c) if *c == '?' || *c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

impl FromStr for ActorRef {
    type Err = DebugError;
    fn from_str(s: &str) -> Result<ActorRef, DebugError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(DebugError::Usage("an actor name or id is needed".into()));
        }
        if let Some(c) = s.strip_prefix("component=") {
            if c.is_empty() {
                return Err(DebugError::Usage(
                    "component= needs a component name".into(),
                ));
            }
            return Ok(ActorRef::Component(c.to_string()));
        }
        if s.contains(['*', '?']) {
            return Ok(ActorRef::Glob(s.to_string()));
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
            ActorRef::Name(n) | ActorRef::Glob(n) => f.write_str(n),
            ActorRef::Component(c) => write!(f, "component={c}"),
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
    "failed | failed:ACTOR | log:REGEX | ACTOR:/json/pointer OP VALUE (OP is one of < <= > >= == !=; ACTOR is an id, a name, a glob like renderer-*, or component=NAME)";

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

    /// The first actor of `system` that `actor` names and whose state satisfies this
    /// state predicate.
    pub fn satisfied_by(&self, system: &theater_runtime::System) -> Option<ActorId> {
        let actor = self.state_actor()?;
        system
            .actors()
            .into_iter()
            .filter(|(id, _, name, _, _)| {
                actor.matches(*id, name, system.actor_component(*id).unwrap_or(""))
            })
            .map(|x| x.0)
            .find(|id| {
                system
                    .actor(*id)
                    .is_some_and(|(_, _, state)| self.holds_on_state(state))
            })
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
    fn groups_of_actors() {
        for (pattern, yes, no) in [
            ("renderer-*", "renderer-2", "router"),
            ("*-2", "renderer-2", "renderer-3"),
            ("worker-?", "worker-7", "worker-10"),
            ("*x", "x", "xy"),
            ("a*b*c", "aXXbYYc", "aXXcYYb"),
        ] {
            assert!(glob_match(pattern, yes), "{pattern} {yes}");
            assert!(!glob_match(pattern, no), "{pattern} {no}");
        }
        assert!(glob_match("*", "") && glob_match("*", "anything"));
        let p: Predicate = "renderer-*:/links < 0".parse().unwrap();
        assert_eq!(p.to_string(), "renderer-*:/links < 0");
        assert!(matches!(p.state_actor(), Some(ActorRef::Glob(g)) if g == "renderer-*"));
        let a: ActorRef = "component=renderer".parse().unwrap();
        assert!(a.matches(9, "x", "renderer") && !a.matches(9, "renderer", "docs"));
        assert_eq!(a.to_string(), "component=renderer");
        let f: Predicate = "failed:component=renderer".parse().unwrap();
        assert_eq!(f.to_string(), "failed:component=renderer");
        assert!("component=".parse::<ActorRef>().is_err());
    }

    #[test]
    fn refuses_what_does_not_parse() {
        for bad in ["", "nothing", "bank:/a", "bank:/a <", "log:(", "failed:"] {
            let e = bad.parse::<Predicate>().unwrap_err();
            assert!(matches!(e, DebugError::Usage(_)), "{bad}: {e}");
        }
    }
}
