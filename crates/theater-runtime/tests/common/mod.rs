//! Helpers shared by the runtime's integration tests: fixture components, seeded
//! generators of systems and inputs, and record/replay in memory.

#![allow(dead_code, unreachable_pub, unused_imports)]

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;

use serde_json::{json, Value};
use std::cell::RefCell;

use theater_runtime::{
    memory_sink, replay, ActorSpec, ComponentCache, ComponentSpec, Limits, RunSummary, Sink,
    System, SystemSpec,
};
use theater_trace::synth::Rng;
use theater_trace::{
    Bytes, RestartPolicy, RunMode, Trace, TraceSummary, TraceWriter, WriterOptions,
};

thread_local! {
    /// Compiled components shared by the tests of one thread.
    static CACHE: RefCell<Option<ComponentCache>> = const { RefCell::new(None) };
}

/// Runs `f` with the thread's component cache (compiling is the slow part of a test).
pub fn with_cache<T>(spec: &SystemSpec, f: impl FnOnce(&mut ComponentCache) -> T) -> T {
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        let cache = c.get_or_insert_with(|| ComponentCache::new(&spec.limits).unwrap());
        f(cache)
    })
}

pub use theater_testkit::fixture_component as component;

pub use theater_trace::synth::for_seeds;

pub fn actor(name: &str, component: &str, init: Value, restart: RestartPolicy) -> ActorSpec {
    ActorSpec {
        name: name.into(),
        component: component.into(),
        init_args: Bytes(serde_json::to_vec(&init).unwrap()),
        restart,
        fuel_per_delivery: None,
        grants: None,
    }
}

pub fn spec(components: &[&str], actors: Vec<ActorSpec>, limits: Limits, seed: u64) -> SystemSpec {
    SystemSpec {
        mode: RunMode::Simulated,
        seed,
        schedule: Default::default(),
        limits,
        components: components
            .iter()
            .map(|c| ComponentSpec {
                name: (*c).into(),
                bytes: component(c),
            })
            .collect(),
        actors,
    }
}

/// Runs `system` to idle, then feeds it `inputs` (target id, payload), each followed by
/// running to idle.
fn run_inputs(system: &mut System, inputs: &[(u64, Vec<u8>)]) {
    system.run_until_idle(100_000).unwrap();
    for (to, payload) in inputs {
        system.inject(*to, payload.clone()).unwrap();
        system.run_until_idle(100_000).unwrap();
    }
}

/// Records `spec` with `inputs` (target id, payload), each followed by running to idle.
pub fn record(spec: &SystemSpec, inputs: &[(u64, Vec<u8>)]) -> (RunSummary, Vec<u8>) {
    record_with(spec, inputs, theater_runtime::SnapshotPolicy::OFF)
}

/// [`record`], writing snapshots as `policy` says.
pub fn record_with(
    spec: &SystemSpec,
    inputs: &[(u64, Vec<u8>)],
    policy: theater_runtime::SnapshotPolicy,
) -> (RunSummary, Vec<u8>) {
    let mut system = with_cache(spec, |c| {
        System::with_cache(spec, memory_sink(spec).unwrap(), c)
    })
    .unwrap();
    system.record_snapshots(policy);
    run_inputs(&mut system, inputs);
    let (summary, sink) = system.finish("inputs exhausted").unwrap();
    let Sink::Memory(writer) = sink else {
        unreachable!("memory sink")
    };
    (summary, writer.finish().unwrap().1)
}

/// A new trace file for `spec` at `path` (replacing any).
pub fn trace_file(spec: &SystemSpec, path: &Path, options: WriterOptions) -> TraceWriter<File> {
    let _ = std::fs::remove_file(path);
    TraceWriter::create(
        path,
        theater_runtime::run_header(spec),
        &spec.manifest_bytes(),
        options,
    )
    .unwrap()
}

/// A system of `spec` recording through `writer` on a recorder thread, as `theater run
/// --record` does.
pub fn on_recorder_thread(spec: &SystemSpec, writer: TraceWriter<File>, flush_ms: u64) -> System {
    let recorder = theater_runtime::Recorder::spawn(writer, flush_ms).unwrap();
    with_cache(spec, |c| {
        System::with_cache(spec, Sink::Background(Box::new(recorder)), c)
    })
    .unwrap()
}

/// Ends a run recorded on a recorder thread: how many hand-overs waited, and the
/// finished trace's summary.
pub fn finish_on_recorder_thread(
    system: System,
) -> (u64, Result<TraceSummary, theater_runtime::RuntimeError>) {
    let (_, sink) = system.finish("inputs exhausted").unwrap();
    let Sink::Background(recorder) = sink else {
        unreachable!("background sink")
    };
    (recorder.waits(), recorder.finish())
}

/// Records `spec` with `inputs` as `theater run --record` does, on a recorder thread to
/// a file; returns the file's bytes.
pub fn record_in_background(spec: &SystemSpec, inputs: &[(u64, Vec<u8>)]) -> Vec<u8> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static RUN: AtomicU64 = AtomicU64::new(0);
    let path = std::env::temp_dir().join(format!(
        "theater-bg-{}-{}.trace",
        std::process::id(),
        RUN.fetch_add(1, Ordering::Relaxed)
    ));
    let writer = trace_file(spec, &path, WriterOptions::default());
    let mut system = on_recorder_thread(spec, writer, 100);
    run_inputs(&mut system, inputs);
    let summary = finish_on_recorder_thread(system).1.unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    assert_eq!(
        summary.head,
        Trace::from_bytes(bytes.clone()).unwrap().head()
    );
    bytes
}

/// Records `spec` with `inputs`, checks the trace replays to the same head, and
/// returns the recorded event bodies.
pub fn record_events(
    spec: &SystemSpec,
    inputs: &[(u64, Vec<u8>)],
) -> Vec<theater_trace::EventBody> {
    events_of(&record_trace(spec, inputs))
}

/// [`record`], checked to replay, as a trace (to read payloads from).
pub fn record_trace(spec: &SystemSpec, inputs: &[(u64, Vec<u8>)]) -> Trace {
    let (_, bytes) = record(spec, inputs);
    assert_replays(&bytes);
    Trace::from_bytes(bytes).unwrap()
}

pub fn events_of(trace: &Trace) -> Vec<theater_trace::EventBody> {
    trace.events().map(|e| e.unwrap().event.body).collect()
}

/// A payload's bytes, inline or from the trace's blobs.
pub fn payload_bytes(trace: &Trace, p: &theater_trace::Payload) -> Vec<u8> {
    match p {
        theater_trace::Payload::Inline(b) => b.0.clone(),
        theater_trace::Payload::Blob { digest, .. } => trace.blob(digest).unwrap().unwrap(),
    }
}

/// Replays a recorded trace and checks it reaches the recorded chain head.
pub fn assert_replays(bytes: &[u8]) {
    let trace = Trace::from_bytes(bytes.to_vec()).unwrap();
    trace.verify().unwrap();
    let head = trace.head();
    let limits = replay::spec_from_trace(&trace, &BTreeMap::new())
        .unwrap()
        .0
        .limits;
    let spec = SystemSpec {
        limits,
        ..spec_stub()
    };
    match with_cache(&spec, |c| {
        replay::replay_cached(trace, &Default::default(), c)
    }) {
        Ok(report) => {
            assert!(report.finished);
            assert_eq!(report.head, head);
        }
        Err(e) => panic!("replay failed: {e:?}"),
    }
}

/// A random command list for the chaos actor. `depth` bounds nesting.
pub fn commands(rng: &mut Rng, depth: u32, hostile: bool) -> Value {
    let n = 1 + rng.below(3);
    let mut cmds = Vec::new();
    for _ in 0..n {
        let to = rng.below(8);
        let nested = |rng: &mut Rng| {
            if depth == 0 {
                json!([])
            } else {
                commands(rng, depth - 1, false)
            }
        };
        let cmd = match rng.below(if hostile { 20 } else { 15 }) {
            0 | 1 => json!({"send": {"to": to, "cmds": nested(rng)}}),
            2 => json!({"request": {"to": to, "cmds": nested(rng)}}),
            3 => json!({"timer": {"delay_ns": rng.below(5_000_000), "cmds": nested(rng)}}),
            4 => {
                json!({"spawn": {"restart": rng.below(3), "init": {"fail_in_init": rng.below(8) == 0}}})
            }
            5 => json!({"stop": {"child": to}}),
            6 => {
                json!({"configure": {"strategy": rng.below(3), "max_restarts": rng.below(4), "window_ns": rng.below(10_000_000)}})
            }
            7 => json!({"fail": {"message": format!("failure {}", rng.below(100))}}),
            8 => json!("trap"),
            9 => json!({"random": {"len": rng.below(64)}}),
            10 => json!("now"),
            11 => json!({"log": {"message": "hello"}}),
            12 => json!({"put": {"key": format!("k{}", rng.below(4)), "value": "v"}}),
            13 => json!({"get": {"key": format!("k{}", rng.below(4))}}),
            14 => json!({"add": {"n": rng.below(10)}}),
            15 => json!("spin"),
            16 => json!({"grow": {"mib": 1 + rng.below(12)}}),
            17 => json!("recurse"),
            18 => json!("flood"),
            _ => json!("spawn_bomb"),
        };
        cmds.push(cmd);
    }
    Value::Array(cmds)
}

/// Limits small enough that random systems reach them.
pub fn small_limits() -> Limits {
    Limits {
        fuel_per_delivery: 3_000_000,
        memory_per_actor_bytes: 8 << 20,
        mailbox_len: 32,
        children_per_supervisor: 6,
        actors_total: 40,
        ..Limits::default()
    }
}

pub fn spec_stub() -> SystemSpec {
    SystemSpec {
        mode: RunMode::Simulated,
        seed: 0,
        schedule: Default::default(),
        limits: Limits::default(),
        components: Vec::new(),
        actors: Vec::new(),
    }
}

/// Runs `spec` simulated with the same `inputs` as the run recorded in `recorded`,
/// served that recording's host calls when `serve` (a regression run of the same
/// build); returns the new trace and the first call the recording could not serve.
pub fn rerun_served(
    spec: &SystemSpec,
    inputs: &[(u64, Vec<u8>)],
    recorded: &[u8],
    serve: bool,
) -> (Vec<u8>, Option<theater_runtime::UnmatchedCall>) {
    let mut spec = spec.clone();
    spec.mode = RunMode::Simulated;
    let mut system = with_cache(&spec, |c| {
        System::with_cache(&spec, memory_sink(&spec).unwrap(), c)
    })
    .unwrap();
    if serve {
        let trace = Trace::from_bytes(recorded.to_vec()).unwrap();
        system.serve_host_calls(theater_runtime::HostCallOracle::new(trace));
    }
    run_inputs(&mut system, inputs);
    let unmatched = system
        .take_host_call_oracle()
        .and_then(|o| o.first_unmatched().cloned());
    let (_, sink) = system.finish("inputs exhausted").unwrap();
    let Sink::Memory(writer) = sink else {
        unreachable!("memory sink")
    };
    (writer.finish().unwrap().1, unmatched)
}

/// One counter actor (`counter` fixture, starting at 5), simulated, seed 7.
pub fn counter_spec() -> SystemSpec {
    SystemSpec {
        mode: RunMode::Simulated,
        seed: 7,
        schedule: Default::default(),
        limits: Default::default(),
        components: vec![ComponentSpec {
            name: "counter".into(),
            bytes: component("counter"),
        }],
        actors: vec![ActorSpec {
            name: "counter".into(),
            component: "counter".into(),
            init_args: Bytes(b"5".to_vec()),
            restart: RestartPolicy::Permanent,
            fuel_per_delivery: None,
            grants: None,
        }],
    }
}
