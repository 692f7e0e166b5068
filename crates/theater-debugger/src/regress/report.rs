//! A regression report as JSON (stable for CI) and as text.

use super::{DeliveryChange, RegressReport, ASPECTS};

/// Version of the JSON shape of [`RegressReport::to_json`]; bumped when a field changes
/// meaning or goes away (new fields may be added without a bump).
pub const REGRESS_JSON_VERSION: u64 = 1;

impl DeliveryChange {
    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "actor": self.actor,
            "delivery": self.delivery,
            "recorded_event": self.recorded_event,
            "new_event": self.new_event,
            "differs": self.differs,
            "input": self.input,
            "recorded": self.recorded,
            "actual": self.actual,
            "state_diff": self.state_diff,
        })
    }
}

impl RegressReport {
    /// The report as text, as `theater-replay regress` prints it.
    pub fn render(&self) -> String {
        text(self)
    }

    /// One change as text: its headline (actor, delivery, events, what differs), then
    /// the input, the outputs recorded and produced, and the state diff.
    pub fn render_change(&self, c: &DeliveryChange) -> String {
        let name = self
            .actors
            .iter()
            .find(|a| a.actor == c.actor)
            .map_or("", |a| a.name.as_str());
        format!("{}\n{}", headline(name, c), change_body(c))
    }

    /// The report as JSON, stable for CI: every key is always present (`null` where
    /// there is nothing), and `by_aspect` lists every one of [`ASPECTS`].
    pub fn to_json(&self) -> serde_json::Value {
        let actors: Vec<serde_json::Value> = self
            .actors
            .iter()
            .map(|a| {
                let by_aspect: serde_json::Map<String, serde_json::Value> = ASPECTS
                    .iter()
                    .map(|x| {
                        (
                            (*x).to_string(),
                            a.by_aspect.get(x).copied().unwrap_or(0).into(),
                        )
                    })
                    .collect();
                serde_json::json!({
                    "actor": a.actor,
                    "name": a.name,
                    "swapped": a.swapped,
                    "recorded_deliveries": a.recorded_deliveries,
                    "new_deliveries": a.new_deliveries,
                    "differing": a.differing,
                    "carried": a.carried,
                    "by_aspect": by_aspect,
                    "first": a.first.iter().map(DeliveryChange::to_json).collect::<Vec<_>>(),
                })
            })
            .collect();
        serde_json::json!({
            "version": REGRESS_JSON_VERSION,
            "identical": self.identical(),
            "recorded_events": self.recorded_events,
            "new_events": self.new_events,
            "inputs": self.inputs,
            "differing_deliveries": self.actors.iter().map(|a| a.differing).sum::<u64>(),
            "fuel_differs": self.fuel_differs,
            "cut": self.cut,
            "delivery_limit": self.delivery_limit,
            "first": self.first.as_ref().map(DeliveryChange::to_json),
            "unmatched_call": self.unmatched_call.as_ref().map(|u| serde_json::json!({
                "actor": u.actor,
                "delivery": u.delivery,
                "recorded_event": u.recorded_event,
                "what": u.what,
            })),
            "actors": actors,
        })
    }
}

/// The report as text.
pub(super) fn text(r: &RegressReport) -> String {
    let mut s = format!(
        "regress: {} inputs rerun: {} events recorded, {} in the new run\n",
        r.inputs, r.recorded_events, r.new_events
    );
    if r.cut {
        s += &format!(
            "the new run was cut at its limit of {} deliveries with work still queued\n",
            r.delivery_limit
        );
    }
    if let Some(u) = &r.unmatched_call {
        s += &format!(
            "first host call the recording could not serve: actor {} delivery {}{}: {}\n",
            u.actor,
            u.delivery,
            u.recorded_event
                .map_or(" (beyond the recording)".into(), |e| format!(
                    " (recorded event #{e})"
                )),
            u.what
        );
    }
    let total: u64 = r.actors.iter().map(|a| a.differing).sum();
    if r.identical() {
        s += "behaviour identical";
        if r.fuel_differs > 0 {
            s += &format!(" (fuel differs in {} deliveries)", r.fuel_differs);
        }
        return s + "\n";
    }
    let changed: Vec<_> = r
        .actors
        .iter()
        .filter(|a| a.differing > 0 || a.carried > 0)
        .collect();
    s += &format!(
        "behaviour differs in {total} deliveries of {} actor(s):\n",
        changed.len()
    );
    for a in &changed {
        let aspects: Vec<String> = a
            .by_aspect
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        s += &format!(
            "  {} (actor {}{}): {} of {} deliveries differ ({}){}\n",
            a.name,
            a.actor,
            if a.swapped { ", swapped" } else { "" },
            a.differing,
            a.recorded_deliveries.max(a.new_deliveries),
            aspects.join(", "),
            if a.recorded_deliveries == a.new_deliveries {
                String::new()
            } else {
                format!(
                    "; {} recorded, {} in the new run",
                    a.recorded_deliveries, a.new_deliveries
                )
            }
        );
        if a.carried > 0 {
            s += &format!(
                "    and its state still differs after {} later deliveries that behave the same\n",
                a.carried
            );
        }
    }
    if let Some(f) = &r.first {
        let name = r
            .actors
            .iter()
            .find(|a| a.actor == f.actor)
            .map_or("", |a| a.name.as_str());
        s += &format!("\nfirst change: {}\n", headline(name, f));
        s += &change_body(f);
    }
    for a in &changed {
        for c in a.first.iter().filter(|c| Some(*c) != r.first.as_ref()) {
            s += &format!("\n{}\n", headline(&a.name, c));
            s += &change_body(c);
        }
        if a.differing > a.first.len() as u64 {
            s += &format!(
                "\n({} more changed deliveries of {} not shown; --details K shows more)\n",
                a.differing - a.first.len() as u64,
                a.name
            );
        }
    }
    s
}

fn headline(name: &str, c: &DeliveryChange) -> String {
    let at = |e: Option<u64>| e.map_or("none".to_string(), |e| format!("#{e}"));
    format!(
        "{name} (actor {}) delivery {} (recorded {}, new run {}): {} differ",
        c.actor,
        c.delivery,
        at(c.recorded_event),
        at(c.new_event),
        c.differs.join(", ")
    )
}

fn change_body(c: &DeliveryChange) -> String {
    let indent = |t: &str| t.replace('\n', "\n            ");
    let mut s = format!(
        "  input:    {}\n  recorded: {}\n  new run:  {}\n",
        c.input,
        indent(&c.recorded),
        indent(&c.actual)
    );
    if let Some(d) = c.state_diff.as_deref().filter(|d| !d.is_empty()) {
        s += "  state diff:\n";
        for line in d.lines() {
            s += &format!("    {line}\n");
        }
    }
    s
}
