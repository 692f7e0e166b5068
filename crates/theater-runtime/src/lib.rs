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

mod check;
mod checkpoint;
mod components;
mod delivery;
mod durable;
mod effects;
mod engine;
mod error;
mod external;
pub mod fork;
mod host;
pub mod http;
pub mod inputs;
mod limits;
pub mod oracle;
mod parallel;
mod recorder;
pub mod replay;
mod replayer;
mod request;
pub mod resume;
mod rng;
mod rotation;
pub mod schedule;
mod scheduler;
mod serde_forms;
mod sink;
mod snapshot;
mod snapshot_policy;
mod spec;
mod supervision;
mod wit_map;
mod world;

pub use check::{ComponentReport, WORLD_EXPORTS};
pub use checkpoint::Checkpoint;
pub use components::ComponentCache;
pub use engine::{engine_settings, Engine};
pub use error::{Divergence, RuntimeError};
pub use limits::Limits;
pub use oracle::{HostCallOracle, UnmatchedCall};
pub use parallel::{replay_parallel, replay_verifying};
pub use recorder::{Recorder, RECORDER_BATCH_EVENTS, RECORDER_CHANNEL_BATCHES};
pub use request::{ExternalReply, RequestFailure};
pub use rotation::{SegmentPlan, SegmentPolicy, Segmenter};
pub use schedule::Schedule;
pub use scheduler::{RunSummary, System};
pub use sink::Sink;
pub use snapshot::{Snapshot, SNAPSHOT_VERSION};
pub use snapshot_policy::SnapshotPolicy;
pub use spec::{
    default_grants, granted_interface, ActorSpec, ComponentSpec, SystemSpec, INTERFACES,
    NETWORK_INTERFACES,
};
pub use world::ActorStatus;

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
    use crate::components::ComponentCache;
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

    /// Two actors of `component` (the `ping-pong` example), `ping` and `pong`, each the
    /// other's peer, in a simulated run with `seed`: the benchmarks' rally.
    pub fn ping_pong_spec(component: &[u8], seed: u64) -> crate::SystemSpec {
        let actor = |name: &str, peer: u64| crate::ActorSpec {
            name: name.into(),
            component: "ping-pong".into(),
            init_args: theater_trace::Bytes(format!("{{\"peer\": {peer}}}").into_bytes()),
            restart: theater_trace::RestartPolicy::Permanent,
            fuel_per_delivery: None,
            grants: None,
        };
        crate::SystemSpec {
            mode: theater_trace::RunMode::Simulated,
            seed,
            schedule: Default::default(),
            limits: Limits::default(),
            components: vec![crate::ComponentSpec {
                name: "ping-pong".into(),
                bytes: component.to_vec(),
            }],
            actors: vec![actor("ping", 1), actor("pong", 0)],
        }
    }

    /// The process's resident set size in bytes (Linux: `VmRSS` of /proc/self/status;
    /// 0 where that is unavailable).
    pub fn rss_bytes() -> u64 {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.split_whitespace().next())
                    .and_then(|v| v.parse::<u64>().ok())
            })
            .map_or(0, |kb| kb * 1024)
    }

    /// One progress line of a soak run.
    #[derive(Clone, Debug)]
    pub struct SoakRow {
        pub deliveries: u64,
        pub elapsed: std::time::Duration,
        /// Deliveries per second since the previous row.
        pub rate: f64,
        pub rss_bytes: u64,
    }

    /// What a soak run measured.
    #[derive(Clone, Debug)]
    pub struct SoakReport {
        pub deliveries: u64,
        pub record_time: std::time::Duration,
        pub events: u64,
        pub trace_bytes: u64,
        pub head: theater_trace::Digest,
        pub replay_time: std::time::Duration,
        pub replay_head: theater_trace::Digest,
        pub peak_rss_bytes: u64,
    }

    /// Records a ping-pong rally of `deliveries` hits between two actors of `component`
    /// (the `ping-pong` example) into the trace file at `path` with the recorder thread,
    /// as `theater run --record` does, reporting a row every `deliveries / rows`; then
    /// replays the whole trace and returns both chain heads.
    pub fn soak(
        component: &[u8],
        deliveries: u64,
        path: &std::path::Path,
        rows: u64,
        mut row: impl FnMut(&SoakRow),
    ) -> Result<SoakReport, RuntimeError> {
        use crate::{run_header, Recorder, Sink, System};
        use std::time::Instant;
        let spec = ping_pong_spec(component, 1);
        let options = theater_trace::WriterOptions::default();
        let flush_ms = options.flush_interval_ms;
        let writer = theater_trace::TraceWriter::create(
            path,
            run_header(&spec),
            &spec.manifest_bytes(),
            options,
        )?;
        let sink = Sink::Background(Box::new(Recorder::spawn(writer, flush_ms)?));
        let mut system = System::new(&spec, sink)?;
        system.run_until_idle(10)?;
        let start = Instant::now();
        system.inject(
            0,
            format!("{{\"ball\": 0, \"max\": {deliveries}}}").into_bytes(),
        )?;
        let chunk = (deliveries / rows.max(1)).max(1);
        let (mut done, mut last, mut peak) = (0u64, start, 0u64);
        loop {
            let ran = system.run_until_idle(chunk)?;
            done += ran;
            let now = Instant::now();
            let rss = rss_bytes();
            peak = peak.max(rss);
            row(&SoakRow {
                deliveries: done,
                elapsed: now - start,
                rate: ran as f64 / (now - last).as_secs_f64().max(1e-9),
                rss_bytes: rss,
            });
            last = now;
            if ran < chunk {
                break;
            }
        }
        let (_, sink) = system.finish("soak done")?;
        let Sink::Background(recorder) = sink else {
            unreachable!("recorded on the recorder thread")
        };
        let summary = recorder.finish()?;
        let record_time = start.elapsed();
        let trace = theater_trace::Trace::open(path)?;
        let replay_start = Instant::now();
        let replayed = crate::replay::replay(trace, &Default::default())?;
        Ok(SoakReport {
            deliveries: done,
            record_time,
            events: summary.events,
            trace_bytes: summary.bytes,
            head: summary.head,
            replay_time: replay_start.elapsed(),
            replay_head: replayed.head,
            peak_rss_bytes: peak.max(rss_bytes()),
        })
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
        path: "../theater-guest/wit",
        world: "actor",
    });
}
