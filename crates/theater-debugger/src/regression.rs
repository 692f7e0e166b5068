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
//!
//! To check a new build of your own actor against traces recorded with the old one,
//! [`assert_behaviour_unchanged`] reruns a trace's inputs against it and panics with
//! every change in behaviour, per actor (what `theater-replay regress` prints):
//!
//! ```no_run
//! // tests/regress.rs, in the actor's crate, after `theater build -o words.wasm`
//! #[test]
//! fn the_new_build_behaves_as_recorded() {
//!     theater_debugger::regression::assert_behaviour_unchanged(
//!         "tests/traces/words.trace",
//!         &[("words", std::path::Path::new("words.wasm"))],
//!     );
//! }
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use theater_runtime::replay::{replay, ReplayOptions};
use theater_trace::Trace;

use crate::{regress, DebugError, RegressOptions, RegressReport, REGRESS_DETAILS_DEFAULT};

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

/// Reruns the inputs of the trace at `path` against new builds (`swaps`: component name
/// to component bytes) and reports every change in behaviour (see [`crate::regress()`]).
pub fn regress_trace(
    path: &Path,
    swaps: &BTreeMap<String, Vec<u8>>,
) -> Result<RegressReport, DebugError> {
    let options = RegressOptions {
        swaps: swaps.clone(),
        compare_fuel: false,
        details: REGRESS_DETAILS_DEFAULT,
        max_deliveries: None,
        output: None,
    };
    regress(Trace::open(path)?, &options)
}

/// Panics with the regression report unless the new builds (`swaps`: component name and
/// the path of its new `.wasm`) behave exactly as recorded in the trace at `trace`.
/// Fuel is not compared: any rebuild changes it.
pub fn assert_behaviour_unchanged(trace: impl AsRef<Path>, swaps: &[(&str, &Path)]) {
    let trace = trace.as_ref();
    let swaps: BTreeMap<String, Vec<u8>> = swaps
        .iter()
        .map(|(name, path)| {
            let bytes = std::fs::read(path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            ((*name).to_string(), bytes)
        })
        .collect();
    match regress_trace(trace, &swaps) {
        Ok(r) if r.identical() => {}
        Ok(r) => panic!("{} behaves differently:\n{}", trace.display(), r.render()),
        Err(e) => panic!("cannot regress {}: {e}", trace.display()),
    }
}
