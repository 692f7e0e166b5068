//! The wasmtime engine, configured for determinism.

use theater_trace::EngineSettings;

use crate::error::RuntimeError;
use crate::limits::Limits;

pub use wasmtime::Engine;

/// Builds the one engine of a system: fuel metering (never epochs), NaN
/// canonicalization, deterministic relaxed SIMD, a fixed wasm stack. Threads are off
/// because wasmtime is built without its `threads` feature.
pub(crate) fn engine(limits: &Limits) -> Result<Engine, RuntimeError> {
    let mut config = wasmtime::Config::new();
    config
        .wasm_component_model(true)
        .consume_fuel(true)
        .epoch_interruption(false)
        .cranelift_nan_canonicalization(true)
        .relaxed_simd_deterministic(true)
        .max_wasm_stack(limits.wasm_stack_bytes as usize);
    Engine::new(&config).map_err(|e| RuntimeError::Component {
        name: "(engine)".into(),
        message: e.to_string(),
    })
}

/// The settings recorded in the run header.
pub fn engine_settings(limits: &Limits) -> EngineSettings {
    EngineSettings {
        engine: "wasmtime 48.0.8".into(),
        nan_canonicalization: true,
        relaxed_simd_deterministic: true,
        threads: false,
        fuel_metering: true,
        max_wasm_stack_bytes: limits.wasm_stack_bytes,
    }
}
