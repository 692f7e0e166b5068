//! The WIT package in `wit/`: it parses, has the world the runtime binds to, and
//! documents the determinism contract of every imported function.

use std::path::Path;

use wit_parser::{Resolve, WorldItem};

fn load() -> (Resolve, wit_parser::WorldId) {
    let mut resolve = Resolve::default();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("wit");
    let (pkg, _) = resolve
        .push_dir(&dir)
        .unwrap_or_else(|e| panic!("wit/ does not parse: {e:?}"));
    assert_eq!(
        resolve.packages[pkg].name.to_string(),
        "theater:actor@0.1.0"
    );
    let world = resolve
        .select_world(&[pkg], Some("actor"))
        .expect("world `actor`");
    (resolve, world)
}

#[test]
fn world_actor_has_the_expected_exports() {
    let (resolve, world) = load();
    let mut exports: Vec<String> = resolve.worlds[world]
        .exports
        .keys()
        .map(|k| resolve.name_world_key(k))
        .collect();
    exports.sort();
    assert_eq!(
        exports,
        [
            "handle-child-exit",
            "handle-message",
            "handle-reply",
            "handle-request",
            "init"
        ]
    );
    // The two checks of a build's exports (on the core module, on the component) list
    // exactly the world's.
    for list in [
        theater_build::component::ACTOR_EXPORTS,
        theater_runtime::WORLD_EXPORTS,
    ] {
        let mut list = list.to_vec();
        list.sort();
        assert_eq!(list, exports);
    }
}

#[test]
fn every_imported_function_states_its_determinism_contract() {
    let (resolve, world) = load();
    let mut imported = Vec::new();
    for (key, item) in &resolve.worlds[world].imports {
        let WorldItem::Interface { id, .. } = item else {
            continue;
        };
        let iface = &resolve.interfaces[*id];
        let name = resolve.name_world_key(key);
        for (fname, f) in &iface.functions {
            let docs = f.docs.contents.as_deref().unwrap_or("");
            assert!(
                docs.contains("determinism: pure") || docs.contains("determinism: recorded"),
                "{name}.{fname} does not say whether it is pure or recorded"
            );
            imported.push(format!("{}.{fname}", iface.name.as_deref().unwrap_or("?")));
        }
    }
    for required in [
        "runtime.log",
        "runtime.self-id",
        "runtime.now",
        "runtime.random-bytes",
        "messaging.send",
        "messaging.request",
        "messaging.reply",
        "timers.set-timer",
        "supervision.spawn",
        "supervision.stop",
        "supervision.restart",
        "supervision.list-children",
        "store.get",
        "store.set",
    ] {
        assert!(
            imported.iter().any(|i| i == required),
            "world imports no {required}: {imported:?}"
        );
    }
}
