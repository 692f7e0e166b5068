//! Text for people: positions, stops, states, the supervision tree, bisect and diff
//! reports. Shared by the REPL and the subcommands so both say the same thing.

use std::fmt::Write as _;

use theater_debugger::inspect::{decode, describe, text_diff};
use theater_debugger::{ActorInfo, BisectReport, Method, Position, Session, Stop, TraceDiff};
use theater_runtime::ActorStatus;
use theater_trace::Digest;

/// An event's description, every line indented by two spaces.
fn event_line(trace: &theater_trace::Trace, e: &theater_trace::RecordedEvent) -> String {
    format!("  {}", describe(trace, e).replace('\n', "\n  "))
}

/// The REPL prompt: the last event replayed, the last event of the trace, and the actor of
/// the current step.
pub(crate) fn prompt(p: &Position) -> String {
    match &p.actor {
        Some((id, name)) => format!("theater #{}/{} {name}#{id}> ", p.event, p.last_event),
        None => format!("theater #{}/{}> ", p.event, p.last_event),
    }
}

/// What a movement did: the current step's events and why it stopped.
pub(crate) fn stop(session: &Session, stop: &Stop) -> String {
    let mut out = String::new();
    if let Stop::Divergence(d) = stop {
        let _ = writeln!(out, "replay diverged from the recording: {d}");
        let _ = write!(
            out,
            "stopped at step {} (the last one that matched)",
            session.cursor()
        );
        return out;
    }
    match stop {
        Stop::Breakpoint { id, why } => {
            let _ = writeln!(out, "breakpoint {id} hit: {why}");
        }
        Stop::Start => out.push_str("at the start of the trace\n"),
        Stop::End => out.push_str("at the end of the trace\n"),
        _ => {}
    }
    out.push_str(&step_events(session, session.cursor()));
    out
}

/// The events of step `p`, one per line (payloads shown).
pub(crate) fn step_events(session: &Session, p: usize) -> String {
    let mut out = String::new();
    match session.step_events(p) {
        Ok(events) => {
            let _ = writeln!(
                out,
                "step {p}/{}{}",
                session.steps(),
                if p == 0 { " (setup)" } else { "" }
            );
            for e in &events {
                let _ = writeln!(out, "{}", event_line(session.trace(), e));
            }
        }
        Err(e) => {
            let _ = writeln!(out, "cannot read step {p}: {e}");
        }
    }
    out.pop();
    out
}

/// An actor's state, decoded.
pub(crate) fn state(id: u64, name: &str, bytes: &[u8]) -> String {
    format!(
        "actor {id} {name}: {} bytes, digest {}\n{}",
        bytes.len(),
        Digest::of(bytes).short(),
        decode(bytes).render()
    )
}

/// A state diff between two labelled versions.
pub(crate) fn state_diff(
    old: Option<&[u8]>,
    new: Option<&[u8]>,
    old_label: &str,
    new_label: &str,
) -> String {
    let text = |b: Option<&[u8]>| {
        b.map_or(String::from("(no such actor)\n"), |b| {
            decode(b).render() + "\n"
        })
    };
    let d = text_diff(&text(old), &text(new), old_label, new_label);
    if d.is_empty() {
        format!("no change between {old_label} and {new_label}")
    } else {
        d.trim_end().to_string()
    }
}

/// The supervision tree.
pub(crate) fn actors(list: &[ActorInfo]) -> String {
    fn line(
        out: &mut String,
        list: &[ActorInfo],
        a: &ActorInfo,
        prefix: &str,
        last: bool,
        root: bool,
    ) {
        let branch = if root {
            ""
        } else if last {
            "└─ "
        } else {
            "├─ "
        };
        let status = match a.status {
            ActorStatus::Running => "running",
            ActorStatus::Restarting => "restarting",
            ActorStatus::Exited => "exited",
        };
        let restarts = if a.restarts > 0 {
            format!(
                ", {} restart{}",
                a.restarts,
                if a.restarts == 1 { "" } else { "s" }
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "{prefix}{branch}{} #{} ({status}{restarts})",
            a.name, a.id
        );
        let children: Vec<&ActorInfo> = list.iter().filter(|c| c.parent == Some(a.id)).collect();
        let next = if root {
            String::new()
        } else {
            format!("{prefix}{}", if last { "   " } else { "│  " })
        };
        for (i, c) in children.iter().enumerate() {
            line(out, list, c, &next, i + 1 == children.len(), false);
        }
    }
    let mut out = String::new();
    if list.is_empty() {
        return "no actors yet".into();
    }
    for a in list.iter().filter(|a| a.parent.is_none()) {
        line(&mut out, list, a, "", true, true);
    }
    out.pop();
    out
}

/// A bisect report.
pub(crate) fn bisect(session: &Session, predicate: &str, r: &BisectReport) -> String {
    let mut out = String::new();
    let how = match r.method {
        Method::Events => "decided from the recorded events, nothing re-executed".to_string(),
        Method::Binary => format!(
            "binary search: {} probes, {} events re-executed",
            r.probes, r.events_reexecuted
        ),
        Method::Linear => format!(
            "the condition does not hold at the end, so every step was checked: {} probes, {} events re-executed",
            r.probes, r.events_reexecuted
        ),
    };
    if r.step == 0 {
        let _ = writeln!(
            out,
            "`{predicate}` already holds after the run's setup ({how})"
        );
        return out.trim_end().to_string();
    }
    let culprit = r.events.first().map_or(0, |e| e.number);
    let _ = writeln!(
        out,
        "`{predicate}` first holds after event #{culprit} (step {}; {how})",
        r.step
    );
    let _ = writeln!(out, "culprit:");
    for e in &r.events {
        let _ = writeln!(out, "{}", event_line(session.trace(), e));
    }
    match r.input() {
        Some(input) => {
            let _ = writeln!(
                out,
                "caused by input:\n{}",
                event_line(session.trace(), input)
            );
        }
        None if r.causes.len() > 1 => {
            let _ = writeln!(out, "caused by:");
            for e in &r.causes[1..] {
                let _ = writeln!(out, "{}", event_line(session.trace(), e));
            }
        }
        None => {}
    }
    if r.causes.len() > 2 {
        let _ = writeln!(
            out,
            "through {} message(s) between actors",
            r.causes.len() - 2
        );
    }
    if let Some((id, name)) = &r.actor {
        let _ = writeln!(
            out,
            "state of {name} #{id} before and after:\n{}",
            state_diff(
                r.before.as_deref(),
                r.after.as_deref(),
                &format!("before event #{culprit}"),
                &format!("after step {}", r.step)
            )
        );
    }
    out.trim_end().to_string()
}

/// A diff report.
pub(crate) fn diff(d: &TraceDiff, a_name: &str, b_name: &str) -> String {
    let mut out = String::new();
    if let Some((from_a, from_b)) = d.aligned_from {
        let _ = writeln!(
            out,
            "aligned at the fork point: {a_name} from event #{from_a}, {b_name} from event #{from_b} (the history before it is shared)"
        );
    }
    let Some(first) = &d.first else {
        let _ = match d.aligned_from {
            Some(_) => write!(out, "same run after the fork point"),
            None => write!(
                out,
                "same run: {} events, chain head {}",
                d.events.0, d.heads.0
            ),
        };
        return out;
    };
    let who = first
        .actor
        .as_ref()
        .map_or("run-level events".to_string(), |(id, n)| {
            format!("actor {n} #{id}")
        });
    let at = |s: &theater_debugger::Side| {
        s.event
            .map_or("(its stream ended)".to_string(), |e| format!("event #{e}"))
    };
    let _ = writeln!(
        out,
        "first divergence: {who}, its event {} in stream order: {} in {a_name}, {} in {b_name}",
        first.index + 1,
        at(&first.a),
        at(&first.b)
    );
    for (name, side) in [(a_name, &first.a), (b_name, &first.b)] {
        let _ = writeln!(out, "--- {name}");
        for (_, text, here) in &side.context {
            let mark = if *here { ">" } else { " " };
            for (i, l) in text.lines().enumerate() {
                let _ = writeln!(out, "{} {l}", if i == 0 { mark } else { " " });
            }
        }
    }
    let _ = writeln!(out, "summary:");
    let _ = writeln!(out, "  events: {} vs {}", d.events.0, d.events.1);
    for (id, name, in_a) in &d.only_in_one {
        let _ = writeln!(
            out,
            "  actor {name} #{id} only in {}",
            if *in_a { a_name } else { b_name }
        );
    }
    for (id, s) in &d.differing {
        let state = |x: &Option<Digest>| x.map_or("-".to_string(), |d| d.short());
        let _ = writeln!(
            out,
            "  actor {} #{id}: events {} vs {}, deliveries {} vs {}, failures {} vs {}, final state {} vs {}",
            s.name,
            s.events.0,
            s.events.1,
            s.deliveries.0,
            s.deliveries.1,
            s.failures.0,
            s.failures.1,
            state(&s.final_state.0),
            state(&s.final_state.1)
        );
    }
    let _ = write!(
        out,
        "  chain heads: {} vs {}",
        d.heads.0.short(),
        d.heads.1.short()
    );
    out
}
