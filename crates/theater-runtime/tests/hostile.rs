//! Hostile actors are contained: the host survives, the failure is recorded with the
//! right exit reason, supervision reacts as configured, other actors keep going, and the
//! trace replays identically.

mod common;

use common::*;
use serde_json::{json, Value};
use theater_runtime::RequestFailure;
use theater_trace::{EventBody, ExitReason, RefusalReason, RestartPolicy, Trace, TrapCode};

/// Actor ids in every case: the supervisor, a bystander, and the supervisor's child.
const SUP: u64 = 0;
const BYSTANDER: u64 = 1;
const CHILD: u64 = 2;

fn msg(v: Value) -> Vec<u8> {
    serde_json::to_vec(&v).unwrap()
}

/// A supervisor spawns a permanent child, the child runs `hostile`, then both the child
/// and a bystander get ordinary work. Returns the recorded events.
fn case(child_init: Value, hostile: Value) -> Vec<EventBody> {
    let spec = spec(
        &["chaos"],
        vec![
            actor("sup", "chaos", json!({}), RestartPolicy::Permanent),
            actor("bystander", "chaos", json!({}), RestartPolicy::Permanent),
        ],
        small_limits(),
        1,
    );
    let inputs = vec![
        (
            SUP,
            msg(json!([{"spawn": {"restart": 0, "init": child_init}}])),
        ),
        (SUP, msg(json!([{"send": {"to": CHILD, "cmds": hostile}}]))),
        (
            SUP,
            msg(json!([{"send": {"to": CHILD, "cmds": [{"add": {"n": 1}}]}}])),
        ),
        (BYSTANDER, msg(json!([{"add": {"n": 1}}]))),
    ];
    record_events(&spec, &inputs)
}

fn exits(events: &[EventBody], actor: u64) -> Vec<ExitReason> {
    events
        .iter()
        .filter_map(|e| match e {
            EventBody::ActorExited { actor: a, reason } if *a == actor => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

fn restarts(events: &[EventBody], actor: u64) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, EventBody::ActorRestarted { actor: a, .. } if *a == actor))
        .count()
}

fn delivered_ok(events: &[EventBody], actor: u64) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, EventBody::Outputs(o) if o.actor == actor && o.outcome == theater_trace::Outcome::Ok))
        .count()
}

/// The child failed once with `reason`, was restarted, its parent was told, and both
/// the restarted child and the bystander did their later work.
fn check_contained(events: &[EventBody], reason: ExitReason) {
    assert_eq!(exits(events, CHILD), vec![reason]);
    assert_eq!(restarts(events, CHILD), 1);
    let told = events.iter().any(|e| {
        matches!(e, EventBody::Delivered(d) if d.to == SUP && d.kind == theater_trace::MessageKind::ChildExit { child: CHILD })
    });
    assert!(told, "the supervisor was not notified");
    // init, init after restart, the later `add`.
    assert!(delivered_ok(events, CHILD) >= 3);
    assert!(delivered_ok(events, BYSTANDER) >= 2);
    assert!(exits(events, SUP).is_empty() && exits(events, BYSTANDER).is_empty());
}

#[test]
fn infinite_loop_runs_out_of_fuel() {
    check_contained(
        &case(json!({}), json!(["spin"])),
        ExitReason::Trap(TrapCode::OutOfFuel),
    );
}

#[test]
fn memory_bomb_hits_the_memory_limit() {
    check_contained(
        &case(json!({}), json!([{"grow": {"mib": 64}}])),
        ExitReason::Trap(TrapCode::MemoryLimit),
    );
}

#[test]
fn deep_recursion_overflows_the_stack() {
    check_contained(
        &case(json!({}), json!(["recurse"])),
        ExitReason::Trap(TrapCode::StackOverflow),
    );
}

#[test]
fn unreachable_is_a_trap_and_an_error_is_an_error() {
    check_contained(
        &case(json!({}), json!(["trap"])),
        ExitReason::Trap(TrapCode::Unreachable),
    );
    check_contained(
        &case(json!({}), json!([{"fail": {"message": "no"}}])),
        ExitReason::Error("no".into()),
    );
}

#[test]
fn trap_in_init_exhausts_restart_intensity_and_escalates() {
    let events = case(json!({"trap_in_init": true}), json!([]));
    // Default intensity: 3 restarts in the window, the 4th failure escalates.
    assert_eq!(restarts(&events, CHILD), 3);
    assert_eq!(
        exits(&events, CHILD).len(),
        4,
        "{:?}",
        exits(&events, CHILD)
    );
    assert!(exits(&events, CHILD)[..3]
        .iter()
        .all(|r| *r == ExitReason::Trap(TrapCode::Unreachable)));
    assert_eq!(exits(&events, SUP), vec![ExitReason::Escalated]);
    // The bystander is unaffected.
    assert!(delivered_ok(&events, BYSTANDER) >= 2);
}

#[test]
fn message_flood_stops_at_the_mailbox_limit() {
    let events = case(json!({}), json!(["flood"]));
    assert!(exits(&events, CHILD).is_empty());
    // The flood sent exactly mailbox_len messages to itself (its mailbox was empty
    // while it ran); all were delivered.
    let mailbox = small_limits().mailbox_len as usize;
    let flood_sent: Vec<usize> = events
        .iter()
        .filter_map(|e| match e {
            EventBody::Outputs(o) if o.actor == CHILD && !o.sent.is_empty() => Some(o.sent.len()),
            _ => None,
        })
        .collect();
    assert_eq!(flood_sent, [mailbox]);
    let self_deliveries = events
        .iter()
        .filter(|e| {
            matches!(e, EventBody::Delivered(d)
                if d.to == CHILD && d.from == theater_trace::Sender::Actor(CHILD))
        })
        .count();
    assert_eq!(self_deliveries, mailbox);
}

#[test]
fn spawn_bomb_stops_at_the_children_limit() {
    let events = case(json!({}), json!(["spawn_bomb"]));
    let children_of_child = events
        .iter()
        .filter(|e| matches!(e, EventBody::ActorSpawned { parent: Some(p), .. } if *p == CHILD))
        .count();
    assert_eq!(
        children_of_child,
        small_limits().children_per_supervisor as usize
    );
    assert!(exits(&events, CHILD).is_empty());
}

#[test]
fn oversized_message_is_refused_to_the_sender() {
    let events = case(json!({}), json!(["huge"]));
    assert!(exits(&events, CHILD).is_empty());
    // The sender was told `too-large`, and nothing of 2 MiB was sent.
    let logs: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            EventBody::Outputs(o) if o.actor == CHILD => Some(o),
            _ => None,
        })
        .flat_map(|o| o.logs.iter().map(|l| l.message.as_str()))
        .collect();
    assert_eq!(logs, ["huge send: Err(SendError::TooLarge)"]);
    assert!(!events
        .iter()
        .any(|e| matches!(e, EventBody::Delivered(d) if d.payload.len() > 1 << 20)));
}

#[test]
fn external_flood_beyond_the_mailbox_is_recorded_as_refused() {
    let spec = spec(
        &["chaos"],
        vec![actor("a", "chaos", json!({}), RestartPolicy::Permanent)],
        small_limits(),
        1,
    );
    let mut system =
        theater_runtime::System::new(&spec, theater_runtime::memory_sink(&spec).unwrap()).unwrap();
    system.run_until_idle(100).unwrap();
    let mut accepted = 0;
    for _ in 0..100 {
        accepted += u32::from(system.inject(0, msg(json!([{"add": {"n": 1}}]))).unwrap());
    }
    assert_eq!(accepted, small_limits().mailbox_len);
    system.run_until_idle(1000).unwrap();
    let (_, sink) = system.finish("done").unwrap();
    let theater_runtime::Sink::Memory(w) = sink else {
        unreachable!()
    };
    let bytes = w.finish().unwrap().1;
    let events: Vec<EventBody> = Trace::from_bytes(bytes.clone())
        .unwrap()
        .events()
        .map(|e| e.unwrap().event.body)
        .collect();
    let refused = events
        .iter()
        .filter(|e| {
            matches!(
                e,
                EventBody::Refused {
                    reason: RefusalReason::MailboxFull,
                    ..
                }
            )
        })
        .count();
    assert_eq!(refused, 100 - accepted as usize);
    assert_eq!(delivered_ok(&events, 0), 1 + accepted as usize);
    assert_replays(&bytes);
}

#[test]
fn requests_to_failing_or_dead_actors_get_error_replies() {
    let spec = spec(
        &["chaos"],
        vec![
            actor("asker", "chaos", json!({}), RestartPolicy::Permanent),
            actor("victim", "chaos", json!({}), RestartPolicy::Temporary),
        ],
        small_limits(),
        1,
    );
    let inputs = vec![
        // The victim traps while handling the request: a handler-failed reply.
        (0, msg(json!([{"request": {"to": 1, "cmds": ["trap"]}}]))),
        // The victim is gone (temporary, not restarted): the request cannot be sent.
        (0, msg(json!([{"request": {"to": 1, "cmds": []}}]))),
    ];
    let trace = record_trace(&spec, &inputs);
    let events = events_of(&trace);
    let failed_replies: Vec<RequestFailure> = events
        .iter()
        .filter_map(|e| match e {
            EventBody::Delivered(d)
                if d.to == 0
                    && matches!(d.kind, theater_trace::MessageKind::Reply { ok: false, .. }) =>
            {
                Some(RequestFailure::decode(&payload_bytes(&trace, &d.payload)))
            }
            _ => None,
        })
        .collect();
    // Only the first request reached the victim; the second could not be sent.
    assert_eq!(
        failed_replies,
        [RequestFailure::HandlerFailed("Trap(Unreachable)".into())]
    );
    assert_eq!(
        exits(&events, 1),
        vec![ExitReason::Trap(TrapCode::Unreachable)]
    );
    // The asker saw both outcomes and never hung: it is still running, nothing pending.
    assert!(exits(&events, 0).is_empty());
}

#[test]
fn queued_request_to_an_actor_that_exits_first_is_answered_target_exited() {
    let spec = spec(
        &["chaos"],
        vec![
            actor("asker", "chaos", json!({}), RestartPolicy::Permanent),
            actor("slow", "chaos", json!({}), RestartPolicy::Temporary),
        ],
        small_limits(),
        1,
    );
    // The asker requests, and in the same turn tells the slow actor to fail first: the
    // failing message is queued before the request, so the target is dead when the
    // request's turn comes.
    let inputs = vec![(
        0,
        msg(json!([
            {"send": {"to": 1, "cmds": [{"fail": {"message": "bye"}}]}},
            {"request": {"to": 1, "cmds": []}}
        ])),
    )];
    let events: Vec<EventBody> = record_events(&spec, &inputs);
    let reply = events.iter().find_map(|e| match e {
        EventBody::Delivered(d)
            if d.to == 0 && matches!(d.kind, theater_trace::MessageKind::Reply { .. }) =>
        {
            Some(d.clone())
        }
        _ => None,
    });
    let reply = reply.expect("the asker got a reply");
    assert_eq!(
        reply.kind,
        theater_trace::MessageKind::Reply {
            correlation: 0,
            ok: false
        }
    );
    assert_eq!(
        reply.payload,
        theater_trace::Payload::Inline(b"\"target-exited\"".to_vec().into())
    );
}
