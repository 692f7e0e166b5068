//! Theater's deterministic actor runtime.
//!
//! Actors are WebAssembly components of the `theater:actor/actor` world (see `wit/`).
//! A [`System`] runs them on one thread: one queue ordered by (virtual time, sequence
//! number), each delivery run to completion with a fuel budget, state kept by the host
//! as bytes. Every nondeterministic input and every observable output goes to a
//! [`Sink`]: a trace writer when recording, or a checker that compares against a
//! recorded trace when replaying ([`replay`]), so both modes run the very same code.
//!
//! This crate knows nothing about terminals, manifests files or command lines.

mod engine;
mod error;
mod host;
mod limits;
mod recorder;
pub mod replay;
mod sink;
mod spec;
mod system;

pub use engine::{engine_settings, Engine};
pub use error::{Divergence, RuntimeError};
pub use limits::Limits;
pub use recorder::{Recorder, RECORDER_BATCH_EVENTS, RECORDER_CHANNEL_BATCHES};
pub use sink::Sink;
pub use spec::{ActorSpec, ComponentSpec, SystemSpec};
pub use system::{ActorStatus, Checkpoint, ComponentCache, RunSummary, System};

/// The run header for recording `spec` (the writer fills in the manifest digest).
pub fn run_header(spec: &SystemSpec) -> theater_trace::RunHeader {
    theater_trace::RunHeader {
        format_version: theater_trace::FORMAT_VERSION,
        producer: concat!("theater ", env!("CARGO_PKG_VERSION")).into(),
        engine: engine_settings(&spec.limits),
        mode: spec.mode,
        seed: spec.seed,
        manifest: theater_trace::Digest::ZERO,
    }
}

/// Starts recording `spec` into an in-memory trace.
pub fn memory_sink(spec: &SystemSpec) -> Result<Sink, RuntimeError> {
    let writer = theater_trace::TraceWriter::new(
        Vec::new(),
        run_header(spec),
        &spec.manifest_bytes(),
        theater_trace::WriterOptions::default(),
    )?;
    Ok(Sink::Memory(Box::new(writer)))
}

/// Support for the benchmarks: the raw call rate of a component, without the scheduler.
#[doc(hidden)]
pub mod bench_support {
    use crate::bindings::theater::actor::types;
    use crate::system::ComponentCache;
    use crate::{Limits, RuntimeError};

    /// Calls `handle-message(state, message)` of a fresh instance of `component` `n`
    /// times in a loop (fuel set before each call, as the scheduler does); returns the
    /// number of successful calls.
    pub fn raw_calls(
        component: &[u8],
        init: &[u8],
        message: &[u8],
        n: u64,
    ) -> Result<u64, RuntimeError> {
        let limits = Limits::default();
        let mut cache = ComponentCache::new(&limits)?;
        let (mut store, bindings) = cache.bare_instance(component, &limits)?;
        let err = |e: wasmtime::Error| RuntimeError::Component {
            name: "bench".into(),
            message: e.to_string(),
        };
        let _ = store.set_fuel(limits.fuel_per_delivery);
        let state = bindings
            .call_init(&mut store, init)
            .map_err(err)?
            .map_err(RuntimeError::Spec)?;
        let mut ok = 0;
        for _ in 0..n {
            let _ = store.set_fuel(limits.fuel_per_delivery);
            let r = bindings
                .call_handle_message(&mut store, &state, types::Sender::External, message)
                .map_err(err)?;
            ok += u64::from(r.is_ok());
        }
        Ok(ok)
    }
}

/// Generated bindings of the WIT world.
#[allow(
    missing_docs,
    unreachable_pub,
    missing_debug_implementations,
    clippy::all
)]
pub(crate) mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "actor",
    });
}
