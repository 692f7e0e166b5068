//! Checking a component against the `actor` world without running it: what
//! `theater check` reports.
//!
//! The component is compiled and linked exactly as a system would (so a check that
//! passes means `theater run` can instantiate it), and its imports are sorted into the
//! host interfaces it needs (the grants) and anything beyond the world.

use std::collections::BTreeSet;

use wasmtime::component::Component;

use crate::bindings::ActorPre;
use crate::components::{component_error, linker, ComponentCache};
use crate::error::RuntimeError;

/// The functions the world exports; a component must export every one.
pub const WORLD_EXPORTS: [&str; 5] = [
    "init",
    "handle-message",
    "handle-request",
    "handle-reply",
    "handle-child-exit",
];

/// What a component needs and offers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComponentReport {
    /// Every import, by full name (`theater:actor/runtime@0.1.0`).
    pub imports: Vec<String>,
    /// The host interfaces it imports, by short name: the grants it needs.
    pub grants: BTreeSet<&'static str>,
    /// Every export, by name.
    pub exports: Vec<String>,
}

impl ComponentCache {
    /// Compiles and links `bytes` as a system would, and reports its imports and
    /// exports. Fails, naming the problem, for bytes that are not a component, a
    /// component that imports beyond the world, or one that lacks a world export or
    /// exports it with another type.
    pub fn check(&mut self, name: &str, bytes: &[u8]) -> Result<ComponentReport, RuntimeError> {
        let component = Component::new(self.engine(), bytes).map_err(|e| {
            let hint = if bytes.starts_with(b"\0asm\x01\0\0\0") {
                " (this is a core module: wrap it into a component with `theater build`)"
            } else {
                ""
            };
            component_error(name, format!("not a component: {e:#}{hint}"))
        })?;
        let ty = component.component_type();
        let imports: Vec<String> = ty
            .imports(self.engine())
            .map(|(n, _)| n.to_string())
            .collect();
        let exports: Vec<String> = ty
            .exports(self.engine())
            .map(|(n, _)| n.to_string())
            .collect();
        let beyond: Vec<&str> = imports
            .iter()
            .filter(|i| crate::spec::granted_interface(i).is_none() && !is_types(i))
            .map(String::as_str)
            .collect();
        if !beyond.is_empty() {
            return Err(component_error(
                name,
                format!(
                    "imports beyond the theater:actor world: {} (the world offers {})",
                    beyond.join(", "),
                    crate::spec::INTERFACES.join(", ")
                ),
            ));
        }
        let missing: Vec<&str> = WORLD_EXPORTS
            .iter()
            .copied()
            .filter(|w| !exports.iter().any(|e| e == w))
            .collect();
        if !missing.is_empty() {
            return Err(component_error(
                name,
                format!(
                    "does not export {} (an actor exports {}; `theater_guest::actor!` does this)",
                    missing.join(", "),
                    WORLD_EXPORTS.join(", ")
                ),
            ));
        }
        let pre = linker(self.engine())?
            .instantiate_pre(&component)
            .map_err(|e| component_error(name, e))?;
        ActorPre::new(pre).map_err(|e| component_error(name, e))?;
        Ok(ComponentReport {
            grants: imports
                .iter()
                .filter_map(|i| crate::spec::granted_interface(i))
                .collect(),
            imports,
            exports,
        })
    }
}

/// The `types` interface: type definitions only, always allowed.
fn is_types(import: &str) -> bool {
    import
        .strip_prefix("theater:actor/types")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('@'))
}
