//! Building the guest actors in `fixtures/actors/` into WebAssembly components.
//!
//! Each actor crate is built by `theater-build` (the code behind `theater build`):
//! compiled for `wasm32-unknown-unknown` with its size-optimized profile, with source
//! paths remapped so the output does not depend on where the repository or the cargo
//! home lives, then wrapped into a component with `wit-component`. The
//! components are committed under `fixtures/components/`, so tests need no network and
//! no wasm target; [`stale`] tells whether they still match their sources.
//!
//! This is build tooling for the repository (a binary crate's library half), so it
//! reports errors with `anyhow`.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use theater_build::cargo::BuildOptions;

/// The wasm target the actors are built for.
pub const TARGET: &str = theater_build::TARGET;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Where committed components live.
pub fn components_dir() -> PathBuf {
    repo_root().join("fixtures/components")
}

/// Names of the actor crates under `fixtures/actors/`, sorted.
pub fn actor_names() -> Result<Vec<String>> {
    let dir = repo_root().join("fixtures/actors");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry?;
        if entry.path().join("Cargo.toml").exists() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// Whether the wasm target's standard library is installed.
pub fn target_installed() -> bool {
    theater_build::cargo::target_installed()
}

/// Builds every actor and returns `(name, component bytes)`, sorted by name.
/// `target_dir` receives the cargo build output. Source paths are remapped so the output
/// does not depend on where the repository or the cargo home lives.
pub fn build_all(target_dir: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let root = repo_root().canonicalize()?;
    let cargo_home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|_| std::env::var("HOME").map(|h| Path::new(&h).join(".cargo")))
        .unwrap_or_default();
    let options = BuildOptions {
        target_dir: Some(target_dir.to_path_buf()),
        remap: vec![
            (root.clone(), "/theater".into()),
            (cargo_home, "/cargo".into()),
        ],
        locked: true,
        quiet: true,
    };
    let built = theater_build::cargo::build(&root, &actor_names()?, &options)
        .context("building the guest actors")?;
    Ok(built
        .into_iter()
        .map(|b| (b.package, b.component))
        .collect())
}

/// Names of committed components that differ from a fresh build (or are missing).
pub fn stale(built: &[(String, Vec<u8>)]) -> Vec<String> {
    built
        .iter()
        .filter(|(name, bytes)| {
            std::fs::read(components_dir().join(format!("{name}.wasm")))
                .ok()
                .as_ref()
                != Some(bytes)
        })
        .map(|(name, _)| name.clone())
        .collect()
}
