//! Wrapping a core module into a component, after checking that it is an actor.
//!
//! wit-bindgen embeds the world's type in the module (a `component-type` custom
//! section); `wit-component` reads it and writes the component. Before that, the
//! module's exports are checked against the world's, so that a crate without
//! `actor!` gets a message naming what is missing instead of an encoder error.

use crate::BuildError;

/// The functions the `actor` world exports; a module that lacks any is not an actor.
pub const ACTOR_EXPORTS: [&str; 5] = [
    "init",
    "handle-message",
    "handle-request",
    "handle-reply",
    "handle-child-exit",
];

/// The names a core module exports.
pub fn module_exports(module: &[u8]) -> Result<Vec<String>, BuildError> {
    let mut names = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(module) {
        let payload =
            payload.map_err(|e| BuildError::Component(format!("not a wasm module: {e}")))?;
        if let wasmparser::Payload::ExportSection(reader) = payload {
            for export in reader {
                let export = export
                    .map_err(|e| BuildError::Component(format!("bad export section: {e}")))?;
                names.push(export.name.to_string());
            }
        }
    }
    Ok(names)
}

/// The world exports `module` lacks (empty for an actor).
pub fn missing_exports(module: &[u8]) -> Result<Vec<String>, BuildError> {
    let exports = module_exports(module)?;
    Ok(ACTOR_EXPORTS
        .iter()
        .filter(|want| !exports.iter().any(|e| e == *want))
        .map(|s| s.to_string())
        .collect())
}

/// Wraps the core module of crate `package` into a component, after checking that it
/// exports the actor world.
pub fn componentize(package: &str, module: &[u8]) -> Result<Vec<u8>, BuildError> {
    let missing = missing_exports(module)?;
    if !missing.is_empty() {
        return Err(BuildError::NotAnActor {
            package: package.to_string(),
            missing,
        });
    }
    wit_component::ComponentEncoder::default()
        .module(module)
        .and_then(|e| e.validate(true).encode())
        .map_err(|e| BuildError::Component(format!("{package}: {e:#}")))
}

/// The interfaces a component imports (not the types it uses), by full name (`theater:actor/runtime@0.1.0`, …).
pub fn component_imports(component: &[u8]) -> Result<Vec<String>, BuildError> {
    let mut names = Vec::new();
    let mut depth = 0u32;
    for payload in wasmparser::Parser::new(0).parse_all(component) {
        let payload =
            payload.map_err(|e| BuildError::Component(format!("not a component: {e}")))?;
        match payload {
            wasmparser::Payload::ModuleSection { .. }
            | wasmparser::Payload::ComponentSection { .. } => depth += 1,
            wasmparser::Payload::End(_) => depth = depth.saturating_sub(1),
            wasmparser::Payload::ComponentImportSection(reader) if depth == 0 => {
                for import in reader {
                    let import = import
                        .map_err(|e| BuildError::Component(format!("bad import section: {e}")))?;
                    // Interfaces only (`ns:pkg/name`); the world's `use`d types are
                    // imported too, under plain names.
                    if import.name.name.contains(':') {
                        names.push(import.name.name.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    Ok(names)
}
