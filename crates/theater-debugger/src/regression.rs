//! Regression tests from captured traces, for `cargo test`.
//!
//! ```no_run
//! // tests/traces.rs
//! #[test]
//! fn recorded_traces_still_replay() {
//!     theater_debugger::regression::assert_traces_replay("fixtures/traces");
//! }
//! ```
//!
//! A trace carries its manifest and components, so it replays with nothing else. With
//! [`check_trace`] and `swaps`, a recorded run is replayed against a new build of a
//! component: any change in behaviour is a divergence, reported with the event, actor,
//! what was recorded and what happened.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use theater_runtime::replay::{replay, ReplayOptions};
use theater_trace::Trace;

use crate::DebugError;

/// Replays the trace at `path` (with components swapped by name) to its end and checks
/// the chain head. Returns the number of events replayed.
pub fn check_trace(path: &Path, swaps: &BTreeMap<String, Vec<u8>>) -> Result<u64, DebugError> {
    let trace = Trace::open(path)?;
    let head = trace.head();
    let options = ReplayOptions {
        swaps: swaps.clone(),
        ..ReplayOptions::default()
    };
    let report = replay(trace, &options)?;
    if report.head != head {
        return Err(DebugError::NotFound(format!(
            "replay stopped after {} events with chain head {} instead of {head}",
            report.events, report.head
        )));
    }
    Ok(report.events)
}

/// Panics with the divergence report unless the trace at `path` replays exactly.
pub fn assert_trace_replays(path: impl AsRef<Path>) {
    let path = path.as_ref();
    if let Err(e) = check_trace(path, &BTreeMap::new()) {
        panic!("{} does not replay: {e}", path.display());
    }
}

/// Replays every `*.bin` trace in `dir`; panics listing each one that does not replay
/// (and if there is none). Returns the traces checked.
pub fn assert_traces_replay(dir: impl AsRef<Path>) -> Vec<PathBuf> {
    let dir = dir.as_ref();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "bin"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no *.bin traces in {}", dir.display());
    let failures: Vec<String> = paths
        .iter()
        .filter_map(|p| {
            check_trace(p, &BTreeMap::new())
                .err()
                .map(|e| format!("{}: {e}", p.display()))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "traces that do not replay:\n{}",
        failures.join("\n")
    );
    paths
}
