//! Each limit not already exercised by the hostile tests, at the limit. (Fuel, memory,
//! stack, mailbox, message size and children: see `hostile.rs`.)

mod common;

use common::*;
use serde_json::json;
use theater_runtime::Limits;
use theater_trace::{EventBody, ExitReason, HostFunction, Payload, RestartPolicy};

fn run(limits: Limits, cmds: serde_json::Value) -> Vec<EventBody> {
    let spec = spec(
        &["chaos"],
        vec![actor("a", "chaos", json!({}), RestartPolicy::Temporary)],
        limits,
        1,
    );
    record_events(&spec, &[(0, serde_json::to_vec(&cmds).unwrap())])
}

#[test]
fn state_larger_than_state_bytes_fails_the_handler() {
    let limits = Limits {
        state_bytes: 60,
        ..Limits::default()
    };
    // Each spawned child adds its id to the state; a few push it past 60 bytes.
    let events = run(
        limits,
        json!(vec![json!({"spawn": {"restart": 2, "init": {}}}); 12]),
    );
    let exit = events.iter().find_map(|e| match e {
        EventBody::ActorExited { actor: 0, reason } => Some(reason.clone()),
        _ => None,
    });
    match exit {
        Some(ExitReason::Error(m)) => assert!(m.contains("exceeds the 60-byte limit"), "{m}"),
        other => panic!("expected an error exit, got {other:?}"),
    }
}

#[test]
fn actors_total_caps_spawning() {
    let limits = Limits {
        actors_total: 5,
        ..Limits::default()
    };
    let events = run(limits, json!(["spawn_bomb"]));
    let spawned = events
        .iter()
        .filter(|e| matches!(e, EventBody::ActorSpawned { .. }))
        .count();
    assert_eq!(spawned, 5, "the top-level actor and 4 children");
}

#[test]
fn log_lines_beyond_the_limit_are_counted_not_kept() {
    let limits = Limits {
        log_lines_per_delivery: 10,
        ..Limits::default()
    };
    let events = run(limits, json!(vec![json!({"log": {"message": "x"}}); 25]));
    let logs = events
        .iter()
        .find_map(|e| match e {
            EventBody::Outputs(o) if !o.logs.is_empty() => Some(o.logs.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(logs.len(), 11);
    assert!(
        logs[10].message.starts_with("15 log lines dropped"),
        "{:?}",
        logs[10]
    );
}

#[test]
fn random_bytes_are_capped_per_call() {
    let limits = Limits {
        random_bytes_per_call: 100,
        ..Limits::default()
    };
    let events = run(limits, json!([{"random": {"len": 5000}}]));
    let len = events.iter().find_map(|e| match e {
        EventBody::HostCall { response, .. } => Some(response.len()),
        _ => None,
    });
    assert_eq!(len, Some(100));
}

#[test]
fn a_top_level_actor_whose_initial_memory_exceeds_the_limit_is_a_load_error() {
    // Rust guests start with more than 64 KiB of linear memory (their shadow stack).
    let limits = Limits {
        memory_per_actor_bytes: 64 << 10,
        ..Limits::default()
    };
    let spec = spec(
        &["chaos"],
        vec![actor("a", "chaos", json!({}), RestartPolicy::Permanent)],
        limits,
        1,
    );
    match theater_runtime::System::new(&spec, theater_runtime::Sink::Off) {
        Err(theater_runtime::RuntimeError::Component { name, message }) => {
            assert_eq!(name, "chaos");
            assert!(message.contains("actor 0"), "{message}");
        }
        other => panic!("expected a component error, got {other:?}"),
    }
}

#[test]
fn a_component_importing_anything_beyond_the_actor_world_is_refused_at_load() {
    // A component that wants WASI's environment: nothing but `theater:actor` is linked.
    let wat = r#"(component
        (import "wasi:cli/environment@0.2.0" (instance
            (export "get-arguments" (func (result (list string))))))
    )"#;
    let mut spec = spec(&[], vec![], Limits::default(), 1);
    spec.components.push(theater_runtime::ComponentSpec {
        name: "nosy".into(),
        bytes: wat.as_bytes().to_vec(),
    });
    spec.actors
        .push(actor("n", "nosy", json!({}), RestartPolicy::Permanent));
    match theater_runtime::System::new(&spec, theater_runtime::Sink::Off) {
        Err(theater_runtime::RuntimeError::Component { name, message }) => {
            assert_eq!(name, "nosy");
            assert!(message.contains("wasi:cli/environment"), "{message}");
        }
        other => panic!("expected a component error, got {other:?}"),
    }
}

#[test]
fn the_store_quota_holds_at_its_limit() {
    let limits = Limits {
        store_bytes_per_actor: 20,
        ..Limits::default()
    };
    let put = |key: &str, value: &str| json!({"put": {"key": key, "value": value}});
    let events = run(
        limits,
        json!([
            put("k", &"v".repeat(19)), // 1 + 19 = 20 bytes: at the quota
            put("j", ""),              // one byte more
            put("k", &"w".repeat(19)), // a replacement counts the difference only
            put("k", "v"),             // frees 18 bytes
            put("j", &"x".repeat(16)), // 2 + 17 = 19 bytes
            put("i", "x"),             // 21 bytes
        ]),
    );
    let results: Vec<u8> = events
        .iter()
        .filter_map(|e| match e {
            EventBody::HostCall {
                function: HostFunction::StoreSet,
                response: Payload::Inline(r),
                ..
            } => Some(r.0[0]),
            _ => None,
        })
        .collect();
    // 0: stored; 2: quota-exceeded.
    assert_eq!(results, [0, 2, 0, 0, 0, 2]);
}
