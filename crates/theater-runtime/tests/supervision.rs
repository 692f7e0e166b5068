//! Supervision strategies, stops and the root supervisor of top-level actors.

mod common;

use common::*;
use serde_json::{json, Value};
use theater_trace::{EventBody, ExitReason, RestartPolicy, TrapCode};

fn msg(v: Value) -> Vec<u8> {
    serde_json::to_vec(&v).unwrap()
}

fn events(inputs: Vec<(u64, Vec<u8>)>) -> Vec<EventBody> {
    let spec = spec(
        &["chaos"],
        vec![actor("sup", "chaos", json!({}), RestartPolicy::Permanent)],
        small_limits(),
        1,
    );
    record_events(&spec, &inputs)
}

fn exits(events: &[EventBody]) -> Vec<(u64, ExitReason)> {
    events
        .iter()
        .filter_map(|e| match e {
            EventBody::ActorExited { actor, reason } => Some((*actor, reason.clone())),
            _ => None,
        })
        .collect()
}

fn restarted(events: &[EventBody]) -> Vec<u64> {
    events
        .iter()
        .filter_map(|e| match e {
            EventBody::ActorRestarted { actor, .. } => Some(*actor),
            _ => None,
        })
        .collect()
}

/// The supervisor (0) sets `strategy`, spawns three permanent children (1, 2, 3), and
/// child 2 traps.
fn strategy_case(strategy: u8) -> Vec<EventBody> {
    events(vec![
        (
            0,
            msg(json!([
                {"configure": {"strategy": strategy, "max_restarts": 5, "window_ns": 1_000_000_000u64}},
                {"spawn": {"restart": 0, "init": {}}},
                {"spawn": {"restart": 0, "init": {}}},
                {"spawn": {"restart": 0, "init": {}}}
            ])),
        ),
        (0, msg(json!([{"send": {"to": 2, "cmds": ["trap"]}}]))),
    ])
}

#[test]
fn one_for_one_restarts_only_the_failed_child() {
    let e = strategy_case(0);
    assert_eq!(
        exits(&e),
        vec![(2, ExitReason::Trap(TrapCode::Unreachable))]
    );
    assert_eq!(restarted(&e), vec![2]);
}

#[test]
fn one_for_all_restarts_every_child() {
    let e = strategy_case(1);
    assert_eq!(
        exits(&e),
        vec![
            (2, ExitReason::Trap(TrapCode::Unreachable)),
            (1, ExitReason::Killed),
            (3, ExitReason::Killed)
        ]
    );
    assert_eq!(restarted(&e), vec![2, 1, 3]);
}

#[test]
fn rest_for_one_restarts_the_failed_child_and_those_after_it() {
    let e = strategy_case(2);
    assert_eq!(
        exits(&e),
        vec![
            (2, ExitReason::Trap(TrapCode::Unreachable)),
            (3, ExitReason::Killed)
        ]
    );
    assert_eq!(restarted(&e), vec![2, 3]);
}

#[test]
fn a_stopped_permanent_child_stays_stopped() {
    let e = events(vec![
        (0, msg(json!([{"spawn": {"restart": 0, "init": {}}}]))),
        (0, msg(json!([{"stop": {"child": 1}}]))),
    ]);
    assert_eq!(exits(&e), vec![(1, ExitReason::Normal)]);
    assert!(restarted(&e).is_empty());
}

#[test]
fn top_level_actors_are_restarted_by_the_root_within_its_intensity() {
    // Default intensity: 3 restarts in 5 s; the 4th failure leaves the actor exited.
    let inputs = (0..5).map(|_| (0, msg(json!(["trap"])))).collect();
    let e = events(inputs);
    assert_eq!(restarted(&e), vec![0, 0, 0]);
    assert_eq!(exits(&e).len(), 4);
    let refused = e
        .iter()
        .filter(|e| matches!(e, EventBody::Refused { .. }))
        .count();
    assert_eq!(refused, 1, "the fifth input finds no live actor");
}
