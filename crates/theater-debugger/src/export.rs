//! Pictures of a run: a Perfetto / chrome://tracing timeline, a Mermaid sequence diagram
//! of message flow, and the supervision tree as Graphviz DOT.
//!
//! Time in the timeline is the event number (1 µs per event): simulated runs often
//! happen at one virtual instant, and the event order is what a reader needs to see. The
//! virtual time is in each slice's arguments.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;

use serde_json::{json, Value};
use theater_trace::{ActorId, EventBody, MessageKind, Outcome, RecordedEvent, Sender, Trace};

use crate::inspect::{event_payload, payload_preview};
use crate::DebugError;

/// Characters of payload shown in a diagram label.
pub const LABEL_PAYLOAD_CHARS: usize = 64;

/// The actors of a trace: id → (name, parent), from their `spawned` events.
fn actors(events: &[RecordedEvent]) -> BTreeMap<ActorId, (String, Option<ActorId>)> {
    events
        .iter()
        .filter_map(|e| match &e.event.body {
            EventBody::ActorSpawned {
                actor,
                name,
                parent,
                ..
            } => Some((*actor, (name.clone(), *parent))),
            _ => None,
        })
        .collect()
}

/// The top-level actor above `id` (its supervision subtree).
fn root_of(actors: &BTreeMap<ActorId, (String, Option<ActorId>)>, mut id: ActorId) -> ActorId {
    for _ in 0..actors.len() {
        match actors.get(&id).and_then(|a| a.1) {
            Some(p) => id = p,
            None => break,
        }
    }
    id
}

/// Supervision-tree order: each actor after its parent, siblings by id.
fn tree_order(actors: &BTreeMap<ActorId, (String, Option<ActorId>)>) -> Vec<ActorId> {
    fn visit(
        id: ActorId,
        actors: &BTreeMap<ActorId, (String, Option<ActorId>)>,
        out: &mut Vec<ActorId>,
    ) {
        out.push(id);
        for (child, _) in actors.iter().filter(|(_, a)| a.1 == Some(id)) {
            visit(*child, actors, out);
        }
    }
    let mut out = Vec::new();
    for (id, _) in actors.iter().filter(|(_, a)| a.1.is_none()) {
        visit(*id, actors, &mut out);
    }
    out
}

fn all_events(trace: &Trace) -> Result<Vec<RecordedEvent>, DebugError> {
    trace
        .events()
        .map(|e| e.map_err(DebugError::from))
        .collect()
}

/// The run as Chrome trace-event JSON (opens in Perfetto and chrome://tracing): one track
/// per actor, grouped by supervision tree (one process per top-level actor); a slice per
/// delivery with its kind, fuel and outcome; flow arrows from each send (and each
/// external input) to its delivery; instants for inputs, refusals, exits and restarts.
pub fn perfetto(trace: &Trace) -> Result<Value, DebugError> {
    let events = all_events(trace)?;
    let actors = actors(&events);
    let mut out: Vec<Value> = Vec::new();
    let pid = |id: ActorId| root_of(&actors, id) + 1;
    for (i, id) in tree_order(&actors).into_iter().enumerate() {
        let (name, _) = &actors[&id];
        out.push(
            json!({"name": "thread_name", "ph": "M", "pid": pid(id), "tid": id,
            "args": {"name": format!("{name} #{id}")}}),
        );
        out.push(
            json!({"name": "thread_sort_index", "ph": "M", "pid": pid(id), "tid": id,
            "args": {"sort_index": i}}),
        );
        if actors[&id].1.is_none() {
            out.push(
                json!({"name": "process_name", "ph": "M", "pid": pid(id), "tid": id,
                "args": {"name": format!("supervision tree of {name} #{id}")}}),
            );
        }
    }
    // Sends waiting for their delivery, per (from, to): FIFO, as the scheduler delivers.
    let mut in_flight: BTreeMap<(ActorId, ActorId), VecDeque<u64>> = BTreeMap::new();
    // Inputs waiting for their delivery, by sequence number.
    let mut inputs: BTreeMap<u64, u64> = BTreeMap::new();
    let mut next_flow = 1u64;
    let mut i = 0;
    while i < events.len() {
        let e = &events[i];
        let ts = e.number;
        match &e.event.body {
            EventBody::Delivered(d) => {
                // The delivery's slice runs to its `outputs` event.
                let outputs = events[i..].iter().find_map(|x| match &x.event.body {
                    EventBody::Outputs(o) if o.seq == d.seq && o.actor == d.to => {
                        Some((x.number, o))
                    }
                    _ => None,
                });
                let end = outputs.map_or(ts + 1, |(n, _)| n + 1);
                let outputs = outputs.map(|(_, o)| o);
                let name = match d.from {
                    Sender::Actor(a) => format!("{} from {a}", d.kind),
                    Sender::External => format!("{} from outside", d.kind),
                    Sender::Timer(t) => format!("timer {t}"),
                    Sender::Runtime => d.kind.to_string(),
                };
                let mut args = json!({
                    "event": ts,
                    "seq": d.seq,
                    "virtual_time_ns": d.time_ns,
                    "payload": payload_preview(trace, &d.payload).unwrap_or_default(),
                });
                if let Some(o) = outputs {
                    args["fuel"] = json!(o.fuel_used);
                    args["outcome"] = json!(o.outcome.to_string());
                    args["sent"] = json!(o.sent.len());
                }
                out.push(json!({"name": name, "cat": "delivery", "ph": "X", "ts": ts,
                    "dur": end - ts, "pid": pid(d.to), "tid": d.to, "args": args}));
                let flow = match d.from {
                    Sender::Actor(a) => in_flight.get_mut(&(a, d.to)).and_then(VecDeque::pop_front),
                    Sender::External => inputs.remove(&d.seq),
                    _ => None,
                };
                if let Some(id) = flow {
                    out.push(
                        json!({"name": "message", "cat": "flow", "ph": "f", "bp": "e",
                        "id": id, "ts": ts, "pid": pid(d.to), "tid": d.to}),
                    );
                }
                if let Some(o) = outputs {
                    // A reply to an external request leaves the system: no arrow ends.
                    for m in o.sent.iter().filter(|m| m.to != theater_trace::EXTERNAL) {
                        let id = next_flow;
                        next_flow += 1;
                        in_flight.entry((d.to, m.to)).or_default().push_back(id);
                        out.push(
                            json!({"name": "message", "cat": "flow", "ph": "s", "id": id,
                            "ts": end - 1, "pid": pid(d.to), "tid": d.to}),
                        );
                    }
                }
            }
            EventBody::Input(d) => {
                let id = next_flow;
                next_flow += 1;
                inputs.insert(d.seq, id);
                out.push(
                    json!({"name": "input", "cat": "input", "ph": "i", "s": "t", "ts": ts,
                    "pid": pid(d.to), "tid": d.to,
                    "args": {"payload": payload_preview(trace, &d.payload).unwrap_or_default()}}),
                );
                out.push(
                    json!({"name": "message", "cat": "flow", "ph": "s", "id": id, "ts": ts,
                    "pid": pid(d.to), "tid": d.to}),
                );
            }
            EventBody::Refused { to, reason, .. } => {
                out.push(
                    json!({"name": format!("refused: {reason}"), "cat": "input", "ph": "i",
                    "s": "t", "ts": ts, "pid": pid(*to), "tid": to}),
                );
            }
            EventBody::ActorExited { actor, reason } => {
                out.push(json!({"name": format!("exit: {reason}"), "cat": "failure",
                    "ph": "i", "s": "t", "ts": ts, "pid": pid(*actor), "tid": actor}));
            }
            EventBody::ActorRestarted { actor, restarts } => {
                out.push(
                    json!({"name": format!("restarted ({restarts})"), "cat": "supervision",
                    "ph": "i", "s": "t", "ts": ts, "pid": pid(*actor), "tid": actor}),
                );
            }
            _ => {}
        }
        i += 1;
    }
    Ok(json!({"traceEvents": out, "displayTimeUnit": "ns",
        "otherData": {"producer": "theater-replay", "time_axis": "event number (1 us per event)",
            "chain_head": trace.head().to_string()}}))
}

fn participant(id: ActorId, actors: &BTreeMap<ActorId, (String, Option<ActorId>)>) -> String {
    let name = actors.get(&id).map_or("?", |a| a.0.as_str());
    // Mermaid identifiers: letters, digits, underscores.
    let clean: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("a{id}_{clean}")
}

fn label(text: &str) -> String {
    let mut t = String::new();
    for c in text.chars().take(LABEL_PAYLOAD_CHARS) {
        match c {
            // Mermaid's entity codes: `#` and `;` would end a label or start an entity.
            '#' => t.push_str("#35;"),
            ';' => t.push_str("#59;"),
            '\n' | '\r' => t.push(' '),
            c => t.push(c),
        }
    }
    if text.chars().count() > LABEL_PAYLOAD_CHARS {
        t.push('…');
    }
    t
}

/// What `export` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// JSON Lines, one event per line (see docs/trace-format.md).
    Json,
    /// Chrome trace-event JSON: open it in https://ui.perfetto.dev or chrome://tracing.
    Perfetto,
    /// A Mermaid sequence diagram of the messages in a window of events.
    Mermaid,
    /// The supervision tree with exit reasons, as Graphviz DOT.
    Dot,
}

impl ExportFormat {
    pub const ALL: [ExportFormat; 4] = [
        ExportFormat::Json,
        ExportFormat::Perfetto,
        ExportFormat::Mermaid,
        ExportFormat::Dot,
    ];

    /// Every format's name, as commands spell it.
    pub const NAMES: [&'static str; 4] = ["json", "perfetto", "mermaid", "dot"];

    pub fn name(self) -> &'static str {
        ExportFormat::NAMES[self as usize]
    }

    /// What a file of this format holds, for the line that reports the export.
    pub fn what(self) -> &'static str {
        match self {
            ExportFormat::Json => "JSON lines",
            ExportFormat::Perfetto => "a Perfetto timeline (open it in https://ui.perfetto.dev)",
            ExportFormat::Mermaid => "a Mermaid sequence diagram",
            ExportFormat::Dot => "the supervision tree as DOT",
        }
    }
}

impl std::fmt::Display for ExportFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for ExportFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<ExportFormat, String> {
        ExportFormat::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                format!(
                    "no export format {s:?} (formats: {})",
                    ExportFormat::NAMES.join(", ")
                )
            })
    }
}

/// Writes `trace` to `out` in `format`; a Mermaid diagram shows the events
/// `window.0..window.0 + window.1`. Returns what was written, for a report line.
pub fn write(
    trace: &Trace,
    format: ExportFormat,
    window: (u64, u64),
    out: &mut dyn std::io::Write,
) -> Result<String, DebugError> {
    let io = |e: std::io::Error| DebugError::Io("writing the export".into(), e);
    match format {
        ExportFormat::Json => {
            let n = theater_trace::export_json_lines(trace, out)?;
            return Ok(format!("{n} events as JSON lines"));
        }
        ExportFormat::Perfetto => {
            serde_json::to_writer(&mut *out, &perfetto(trace)?).map_err(|e| io(e.into()))?;
            out.write_all(b"\n").map_err(io)?;
        }
        ExportFormat::Mermaid => {
            let text = mermaid(trace, window.0, window.1)?;
            out.write_all(text.as_bytes()).map_err(io)?;
        }
        ExportFormat::Dot => out.write_all(dot(trace)?.as_bytes()).map_err(io)?,
    }
    Ok(format.what().to_string())
}

/// Events a Mermaid diagram shows when the caller names no window: the REPL's export,
/// and the diagrams `bisect` and `diff` draw around what they found.
pub const MERMAID_WINDOW_EVENTS: u64 = 40;

/// A Mermaid sequence diagram of the messages delivered in events `from..from + count`.
/// Messages are labelled `e<N>` with their event number, then as `dump` spells them
/// (`#` and `;` as Mermaid entity codes).
pub fn mermaid(trace: &Trace, from: u64, count: u64) -> Result<String, DebugError> {
    mermaid_marked(trace, from, count, None)
}

/// [`mermaid`], with a note (`mark.1`) over the receiver of the delivery at event
/// `mark.0`: the culprit of a bisection, the first divergence of a diff.
pub fn mermaid_marked(
    trace: &Trace,
    from: u64,
    count: u64,
    mark: Option<(u64, &str)>,
) -> Result<String, DebugError> {
    let events = all_events(trace)?;
    let actors = actors(&events);
    let end = from.saturating_add(count);
    let window: Vec<&RecordedEvent> = events
        .iter()
        .filter(|e| e.number >= from && e.number < end)
        .collect();
    let mut out = format!(
        "%% theater-replay export --format mermaid: events {from} to {}\nsequenceDiagram\n    participant outside as outside\n",
        end.min(events.len() as u64).saturating_sub(1)
    );
    for id in tree_order(&actors) {
        let _ = writeln!(
            out,
            "    participant {} as {} ({id})",
            participant(id, &actors),
            label(&actors[&id].0)
        );
    }
    for e in window {
        match &e.event.body {
            EventBody::Delivered(d) => {
                let to = participant(d.to, &actors);
                let from_p = match d.from {
                    Sender::Actor(a) => participant(a, &actors),
                    Sender::External => "outside".into(),
                    Sender::Timer(_) | Sender::Runtime => to.clone(),
                };
                let payload = event_payload(&e.event.body)
                    .and_then(|p| payload_preview(trace, p))
                    .unwrap_or_default();
                let arrow = if matches!(d.kind, MessageKind::Reply { .. }) {
                    "-->>"
                } else {
                    "->>"
                };
                let line = format!(
                    "    {from_p}{arrow}{to}: e{} {} {}",
                    e.number,
                    label(&d.kind.to_string()),
                    label(&payload)
                );
                let _ = writeln!(out, "{}", line.trim_end());
                if let Some((_, note)) = mark.filter(|(at, _)| *at == e.number) {
                    let _ = writeln!(out, "    Note over {to}: {}", label(note));
                }
            }
            // Replies that leave the system (HTTP responses) end at `outside`.
            EventBody::Outputs(o) if o.sent.iter().any(|m| m.to == theater_trace::EXTERNAL) => {
                for m in o.sent.iter().filter(|m| m.to == theater_trace::EXTERNAL) {
                    let payload = payload_preview(trace, &m.payload).unwrap_or_default();
                    let line = format!(
                        "    {}-->>outside: e{} {} {}",
                        participant(o.actor, &actors),
                        e.number,
                        label(&m.kind.to_string()),
                        label(&payload)
                    );
                    let _ = writeln!(out, "{}", line.trim_end());
                }
            }
            EventBody::Outputs(o) if o.outcome != Outcome::Ok => {
                let what = label(&o.outcome.to_string());
                let _ = writeln!(
                    out,
                    "    Note over {}: e{} {what}",
                    participant(o.actor, &actors),
                    e.number
                );
            }
            EventBody::Input(d) if mark.is_some_and(|(at, _)| at == e.number) => {
                let note = mark.map_or("", |(_, n)| n);
                let payload = payload_preview(trace, &d.payload).unwrap_or_default();
                let _ = writeln!(
                    out,
                    "    Note over {}: e{} input {}: {}",
                    participant(d.to, &actors),
                    e.number,
                    label(&payload),
                    label(note)
                );
            }
            EventBody::Refused { to, reason, .. } => {
                let _ = writeln!(
                    out,
                    "    outside-x{}: e{} refused {reason}",
                    participant(*to, &actors),
                    e.number
                );
            }
            EventBody::ActorRestarted { actor, restarts } => {
                let _ = writeln!(
                    out,
                    "    Note over {}: e{} restarted ({restarts})",
                    participant(*actor, &actors),
                    e.number
                );
            }
            _ => {}
        }
    }
    Ok(out)
}

/// The supervision tree as Graphviz DOT: each actor with how it ended (or `running`),
/// its restarts, and an edge from its supervisor (the runtime for top-level actors).
pub fn dot(trace: &Trace) -> Result<String, DebugError> {
    let events = all_events(trace)?;
    let actors = actors(&events);
    let mut exits: BTreeMap<ActorId, String> = BTreeMap::new();
    let mut restarts: BTreeMap<ActorId, u32> = BTreeMap::new();
    for e in &events {
        match &e.event.body {
            EventBody::ActorExited { actor, reason } => {
                exits.insert(*actor, reason.to_string());
            }
            EventBody::ActorRestarted { actor, restarts: n } => {
                restarts.insert(*actor, *n);
                exits.remove(actor);
            }
            _ => {}
        }
    }
    let mut out = String::from(
        "// theater-replay export --format dot: the supervision tree\ndigraph supervision {\n    rankdir=TB;\n    node [shape=box, fontname=\"monospace\"];\n    runtime [label=\"runtime\", shape=ellipse];\n",
    );
    for id in tree_order(&actors) {
        let (name, parent) = &actors[&id];
        let status = exits
            .get(&id)
            .map_or("running".to_string(), |r| format!("exited: {r}"));
        let n = restarts.get(&id).copied().unwrap_or(0);
        let restarted = if n > 0 {
            format!("\\n{n} restart(s)")
        } else {
            String::new()
        };
        let color = if exits.get(&id).is_some_and(|r| r != "normal") {
            ", color=red"
        } else {
            ""
        };
        let escape = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
        let _ = writeln!(
            out,
            "    a{id} [label=\"{} #{id}\\n{}{restarted}\"{color}];",
            escape(name),
            escape(&status)
        );
        match parent {
            Some(p) => {
                let _ = writeln!(out, "    a{p} -> a{id};");
            }
            None => {
                let _ = writeln!(out, "    runtime -> a{id};");
            }
        }
    }
    out.push_str("}\n");
    Ok(out)
}
