//! Capabilities: a manifest grants each actor the host interfaces it may import. A
//! component importing an interface its actor was not granted is refused at load, naming
//! the interface; a child gets its parent's grants and never more, so spawning a
//! component that imports more is refused.

mod common;

use common::*;
use serde_json::json;
use theater_runtime::{ComponentSpec, RuntimeError, Sink, System};
use theater_trace::{EventBody, ExitReason, RestartPolicy};

fn grants(list: &[&str]) -> Option<Vec<String>> {
    Some(list.iter().map(|s| s.to_string()).collect())
}

fn load_error(spec: &theater_runtime::SystemSpec) -> RuntimeError {
    match System::new(spec, Sink::Off) {
        Err(e) => e,
        Ok(_) => panic!("the system loaded"),
    }
}

#[test]
fn an_import_that_was_not_granted_is_refused_at_load_naming_it() {
    // chaos imports all five interfaces; grant all but `store`.
    let mut a = actor("c", "chaos", json!({}), RestartPolicy::Permanent);
    a.grants = grants(&["runtime", "messaging", "timers", "supervision"]);
    let chaos = spec(&["chaos"], vec![a], small_limits(), 1);
    match load_error(&chaos) {
        RuntimeError::Component { name, message } => {
            assert_eq!(name, "chaos");
            assert!(
                message.contains(
                    "imports the `store` interface, which the manifest does not grant it"
                ),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    // bank imports runtime (for its log) and messaging.
    let mut a = actor("bank", "bank", json!(null), RestartPolicy::Permanent);
    a.grants = grants(&["messaging"]);
    let bank = spec(&["bank"], vec![a], small_limits(), 1);
    let e = load_error(&bank).to_string();
    assert!(e.contains("`runtime`"), "{e}");
}

#[test]
fn granting_what_a_component_imports_is_enough() {
    let mut a = actor("bank", "bank", json!(null), RestartPolicy::Permanent);
    a.grants = grants(&["runtime", "messaging"]);
    let spec = spec(&["bank"], vec![a], small_limits(), 1);
    let events = record_events(
        &spec,
        &[(0, br#"{"open":{"name":"a","amount":1}}"#.to_vec())],
    );
    assert!(events
        .iter()
        .any(|e| matches!(e, EventBody::Outputs(o) if o.actor == 0)));
}

#[test]
fn an_unknown_interface_cannot_be_granted() {
    let mut a = actor("bank", "bank", json!(null), RestartPolicy::Permanent);
    a.grants = grants(&["messaging", "filesystem"]);
    let spec = spec(&["bank"], vec![a], small_limits(), 1);
    match load_error(&spec) {
        RuntimeError::Spec(m) => assert!(m.contains("cannot grant \"filesystem\""), "{m}"),
        other => panic!("{other:?}"),
    }
}

/// The supervisor example (imports messaging and supervision) spawns components named
/// "worker". Granted only what it imports, it may spawn the real worker (messaging
/// only), but not a "worker" that imports `runtime`: the child would hold more than its
/// parent.
#[test]
fn a_child_never_receives_more_than_its_parent_holds() {
    let supervisor = |worker_bytes: &str| {
        let mut sup = actor(
            "sup",
            "supervisor",
            json!({"workers": 2}),
            RestartPolicy::Temporary,
        );
        sup.grants = grants(&["messaging", "supervision"]);
        let mut s = spec(&["supervisor"], vec![sup], small_limits(), 1);
        s.components.push(ComponentSpec {
            name: "worker".into(),
            bytes: component(worker_bytes),
        });
        s
    };
    let events = record_events(&supervisor("worker"), &[]);
    let spawned = events
        .iter()
        .filter(|e| {
            matches!(
                e,
                EventBody::ActorSpawned {
                    parent: Some(0),
                    ..
                }
            )
        })
        .count();
    assert_eq!(spawned, 2, "workers that import only messaging are spawned");

    // A "worker" that is really the counter, which imports `runtime`.
    let events = record_events(&supervisor("counter"), &[]);
    assert!(
        !events.iter().any(|e| matches!(
            e,
            EventBody::ActorSpawned {
                parent: Some(0),
                ..
            }
        )),
        "no child was spawned"
    );
    let refused = events.iter().any(|e| {
        matches!(e, EventBody::ActorExited { actor: 0, reason: ExitReason::Error(m) } if m.contains("NotGranted(\"runtime\")"))
    });
    assert!(
        refused,
        "the supervisor's init failed with not-granted(runtime): {events:#?}"
    );
}
