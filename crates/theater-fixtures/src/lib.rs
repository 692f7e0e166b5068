//! Building the guest actors in `fixtures/actors/` into WebAssembly components.
//!
//! Each actor crate is compiled for `wasm32-unknown-unknown` with the `guest` profile,
//! with source paths remapped so the output does not depend on where the repository or
//! the cargo home lives, then wrapped into a component with `wit-component`. The
//! components are committed under `fixtures/components/`, so tests need no network and
//! no wasm target; [`stale`] tells whether they still match their sources.
//!
//! This is build tooling for the repository (a binary crate's library half), so it
//! reports errors with `anyhow`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// The wasm target the actors are built for.
pub const TARGET: &str = "wasm32-unknown-unknown";

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
    Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .is_some_and(|sysroot| {
            Path::new(sysroot.trim())
                .join("lib/rustlib")
                .join(TARGET)
                .exists()
        })
}

/// Builds every actor and returns `(name, component bytes)`, sorted by name.
/// `target_dir` receives the cargo build output.
pub fn build_all(target_dir: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let root = repo_root().canonicalize()?;
    let names = actor_names()?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let cargo_home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|_| std::env::var("HOME").map(|h| Path::new(&h).join(".cargo")))
        .unwrap_or_default();
    let rustflags = format!(
        "--remap-path-prefix={}=/theater --remap-path-prefix={}=/cargo",
        root.display(),
        cargo_home.display()
    );
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args([
            "build",
            "--quiet",
            "--locked",
            "--target",
            TARGET,
            "--profile",
            "guest",
        ])
        .arg("--target-dir")
        .arg(target_dir)
        .env("RUSTFLAGS", rustflags)
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    for name in &names {
        cmd.args(["-p", name]);
    }
    let status = cmd
        .status()
        .context("running cargo build for the guest actors")?;
    if !status.success() {
        bail!("building the guest actors failed ({status})");
    }
    names
        .into_iter()
        .map(|name| {
            let module_path = target_dir
                .join(TARGET)
                .join("guest")
                .join(format!("{}.wasm", name.replace('-', "_")));
            let module = std::fs::read(&module_path)
                .with_context(|| format!("reading {}", module_path.display()))?;
            let component =
                componentize(&module).with_context(|| format!("componentizing {name}"))?;
            Ok((name, component))
        })
        .collect()
}

/// Wraps a core module (with its embedded component-type section from wit-bindgen) into
/// a component.
pub fn componentize(module: &[u8]) -> Result<Vec<u8>> {
    wit_component::ComponentEncoder::default()
        .module(module)?
        .validate(true)
        .encode()
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
