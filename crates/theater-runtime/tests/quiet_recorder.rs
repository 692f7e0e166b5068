//! The recorder thread of a quiet run sleeps: a few wake-ups a second, not one per
//! millisecond.
//!
//! Alone in its test binary: it counts the context switches of the process's recorder
//! thread, and another test's recorder thread running beside it would be counted
//! instead (or would end between the two counts).

mod common;

use common::{counter_spec, finish_on_recorder_thread, on_recorder_thread, trace_file};
use theater_trace::Trace;

/// Voluntary context switches of the recorder thread so far (Linux's per-thread count).
fn recorder_thread_switches() -> u64 {
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let task = task.unwrap().path();
        let comm = std::fs::read_to_string(task.join("comm")).unwrap_or_default();
        if comm.starts_with("theater-record") {
            let status = std::fs::read_to_string(task.join("status")).unwrap();
            return status
                .lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap();
        }
    }
    panic!("no recorder thread");
}

/// The recorder thread polls while batches come, but a quiet run costs it a few
/// wake-ups, not one per millisecond.
#[test]
fn a_quiet_recorder_thread_sleeps() {
    let spec = counter_spec();
    let path = std::env::temp_dir().join(format!("theater-bg-quiet-{}.trace", std::process::id()));
    let writer = trace_file(&spec, &path, theater_trace::WriterOptions::default());
    let mut system = on_recorder_thread(&spec, writer, 100);
    let counter = system.actor_id("counter").unwrap();
    system.inject(counter, b"1".to_vec()).unwrap();
    system.run_until_idle(10).unwrap();
    // Idle: hand over what is recorded, as `theater run` does before waiting for input.
    system.sink_mut().flush().unwrap();
    let before = recorder_thread_switches();
    let quiet = std::time::Duration::from_millis(1000);
    std::thread::sleep(quiet);
    let woke = recorder_thread_switches() - before;
    // Polling every millisecond until the flush interval passes would be ~100 wake-ups;
    // doubling sleeps, then blocking a flush interval (100 ms) at a time, make ~7 + 10.
    assert!(
        woke < 40,
        "the recorder thread woke {woke} times in {quiet:?} of quiet"
    );
    // And what the idle run handed over reached the file meanwhile.
    assert_eq!(
        Trace::open(&path).unwrap().event_count(),
        system.sink().events()
    );
    finish_on_recorder_thread(system).1.unwrap();
    let _ = std::fs::remove_file(&path);
}
