//! Helpers shared by the workspace's tests and benchmarks: where the repository and its
//! fixtures are, fresh scratch directories, and golden files.
//!
//! Golden files live in `fixtures/golden/`. [`golden`] compares a text with its file and
//! fails with a `similar` diff; `THEATER_BLESS=1` writes the text instead, to accept a
//! change on purpose (review the diff in `git diff`).

pub mod http;
pub mod s3;

use std::path::{Path, PathBuf};

/// The environment variable that makes [`golden`] write instead of compare.
pub const BLESS_VAR: &str = "THEATER_BLESS";

/// The repository's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root exists")
}

/// `fixtures/traces/NAME`.
pub fn fixture_trace(name: &str) -> PathBuf {
    repo().join("fixtures/traces").join(name)
}

/// `fixtures/manifests/NAME`.
pub fn fixture_manifest(name: &str) -> PathBuf {
    repo().join("fixtures/manifests").join(name)
}

/// The bytes of the committed component `fixtures/components/NAME.wasm`.
pub fn fixture_component(name: &str) -> Vec<u8> {
    let path = repo()
        .join("fixtures/components")
        .join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A fresh, empty directory for one test (`NAME` plus the process id, under the
/// system's temporary directory); whatever an earlier run left there is removed.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("theater-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// Checks `actual` against the golden file `fixtures/golden/NAME`; panics with a
/// unified diff when they differ. With `THEATER_BLESS=1`, writes `actual` there.
pub fn golden(name: &str, actual: &str) {
    let path = repo().join("fixtures/golden").join(name);
    if std::env::var_os(BLESS_VAR).is_some() {
        std::fs::write(&path, actual)
            .unwrap_or_else(|e| panic!("cannot bless {}: {e}", path.display()));
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (create it with {BLESS_VAR}=1)", path.display()));
    if expected != actual {
        let diff = similar::TextDiff::from_lines(expected.as_str(), actual)
            .unified_diff()
            .header("golden", "actual")
            .to_string();
        panic!(
            "{} differs ({BLESS_VAR}=1 to accept):\n{diff}",
            path.display()
        );
    }
}
