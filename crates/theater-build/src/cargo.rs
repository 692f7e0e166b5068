//! Compiling actor crates with cargo for `wasm32-unknown-unknown`.
//!
//! The crate's packages and target directory come from `cargo metadata`; the build
//! uses the [`PROFILE`](crate::PROFILE) profile, defined on the command line so that any
//! crate builds the same way. [`build`] returns the components; it writes nothing but
//! cargo's own output in the target directory.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::component::{component_imports, componentize};
use crate::error::io;
use crate::{BuildError, PROFILE, TARGET};

/// How to build.
#[derive(Clone, Debug, Default)]
pub struct BuildOptions {
    /// Cargo's target directory (default: the crate's, as `cargo metadata` says).
    pub target_dir: Option<PathBuf>,
    /// Path prefixes to rewrite in the output (`--remap-path-prefix FROM=TO`), so that
    /// a build does not depend on where the sources or the cargo home live.
    pub remap: Vec<(PathBuf, String)>,
    /// Pass `--locked` (the lock file must be up to date).
    pub locked: bool,
    /// Pass `--quiet` to cargo.
    pub quiet: bool,
}

/// A built actor.
#[derive(Clone, Debug)]
pub struct Built {
    /// The cargo package name.
    pub package: String,
    /// The component's bytes.
    pub component: Vec<u8>,
    /// The interfaces it imports.
    pub imports: Vec<String>,
}

/// A package of the crate (or workspace) at a manifest path, as cargo describes it.
#[derive(Clone, Debug)]
pub struct Package {
    pub name: String,
    /// The library target's name with `-` as `_` (the module's file stem), if the
    /// package builds a cdylib.
    pub cdylib: Option<String>,
}

/// What `cargo metadata` says about the crate at `manifest`.
#[derive(Clone, Debug)]
pub struct Metadata {
    /// The workspace members.
    pub packages: Vec<Package>,
    pub target_directory: PathBuf,
}

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// The cargo manifest of `dir` (a directory or a `Cargo.toml`).
pub fn manifest_path(dir: &Path) -> Result<PathBuf, BuildError> {
    let path = if dir.is_dir() {
        dir.join("Cargo.toml")
    } else {
        dir.to_path_buf()
    };
    if !path.is_file() {
        return Err(BuildError::NotACrate(format!(
            "{} does not exist (expected a crate directory or its Cargo.toml)",
            path.display()
        )));
    }
    Ok(path)
}

/// Runs `cargo metadata --no-deps` on `manifest`.
pub fn metadata(manifest: &Path) -> Result<Metadata, BuildError> {
    let out = cargo()
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(manifest)
        .output()
        .map_err(|e| BuildError::Cargo(format!("cannot run cargo: {e}")))?;
    if !out.status.success() {
        return Err(BuildError::NotACrate(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| BuildError::Cargo(format!("cargo metadata printed no JSON: {e}")))?;
    let members: Vec<&str> = json["workspace_members"]
        .as_array()
        .map(|m| m.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    let packages = json["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| members.contains(&p["id"].as_str().unwrap_or_default()))
        .map(|p| Package {
            name: p["name"].as_str().unwrap_or_default().to_string(),
            cdylib: p["targets"].as_array().into_iter().flatten().find_map(|t| {
                let kinds = t["crate_types"].as_array()?;
                kinds
                    .iter()
                    .any(|k| k == "cdylib")
                    .then(|| t["name"].as_str().unwrap_or_default().replace('-', "_"))
            }),
        })
        .collect();
    let target_directory = PathBuf::from(json["target_directory"].as_str().unwrap_or("target"));
    Ok(Metadata {
        packages,
        target_directory,
    })
}

/// Whether the wasm target's standard library is installed for the `rustc` cargo uses.
pub fn target_installed() -> bool {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    Command::new(rustc)
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

/// The `--config` arguments that define [`PROFILE`].
fn profile_config() -> Vec<String> {
    [
        ("inherits", "\"release\""),
        ("opt-level", "\"s\""),
        ("lto", "true"),
        ("codegen-units", "1"),
        ("panic", "\"abort\""),
        ("debug", "false"),
        ("strip", "true"),
    ]
    .iter()
    .flat_map(|(k, v)| ["--config".to_string(), format!("profile.{PROFILE}.{k}={v}")])
    .collect()
}

/// Builds `packages` (all cdylib members when empty) of the crate or workspace at
/// `dir` and wraps each module into a component, sorted by package name.
pub fn build(
    dir: &Path,
    packages: &[String],
    options: &BuildOptions,
) -> Result<Vec<Built>, BuildError> {
    if !target_installed() {
        return Err(BuildError::TargetMissing);
    }
    let manifest = manifest_path(dir)?;
    let meta = metadata(&manifest)?;
    let mut chosen: Vec<&Package> = if packages.is_empty() {
        meta.packages
            .iter()
            .filter(|p| p.cdylib.is_some())
            .collect()
    } else {
        let mut chosen = Vec::new();
        for name in packages {
            let p = meta
                .packages
                .iter()
                .find(|p| &p.name == name)
                .ok_or_else(|| {
                    BuildError::NotACrate(format!("no package `{name}` in {}", manifest.display()))
                })?;
            chosen.push(p);
        }
        chosen
    };
    chosen.sort_by(|a, b| a.name.cmp(&b.name));
    if chosen.is_empty() {
        let package = meta
            .packages
            .first()
            .map(|p| p.name.clone())
            .unwrap_or_default();
        return Err(BuildError::NoCdylib { package });
    }
    if let Some(p) = chosen.iter().find(|p| p.cdylib.is_none()) {
        return Err(BuildError::NoCdylib {
            package: p.name.clone(),
        });
    }
    let target_dir = options
        .target_dir
        .clone()
        .unwrap_or_else(|| meta.target_directory.clone());
    run_cargo(&manifest, &chosen, &target_dir, options)?;
    chosen
        .into_iter()
        .map(|p| {
            let stem = p.cdylib.as_deref().unwrap_or_default();
            let path = target_dir
                .join(TARGET)
                .join(PROFILE)
                .join(format!("{stem}.wasm"));
            let module = std::fs::read(&path).map_err(io(&path))?;
            let component = componentize(&p.name, &module)?;
            let imports = component_imports(&component)?;
            Ok(Built {
                package: p.name.clone(),
                component,
                imports,
            })
        })
        .collect()
}

fn run_cargo(
    manifest: &Path,
    packages: &[&Package],
    target_dir: &Path,
    options: &BuildOptions,
) -> Result<(), BuildError> {
    let mut cmd = cargo();
    cmd.arg("build")
        .args(profile_config())
        .args(["--target", TARGET, "--profile", PROFILE, "--lib"])
        .arg("--manifest-path")
        .arg(manifest)
        .arg("--target-dir")
        .arg(target_dir)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS");
    if options.locked {
        cmd.arg("--locked");
    }
    if options.quiet {
        cmd.arg("--quiet");
    }
    for p in packages {
        cmd.args(["-p", &p.name]);
    }
    if !options.remap.is_empty() {
        let flags: Vec<String> = options
            .remap
            .iter()
            .map(|(from, to)| format!("--remap-path-prefix={}={to}", from.display()))
            .collect();
        cmd.env("RUSTFLAGS", flags.join(" "));
    }
    let status = cmd
        .status()
        .map_err(|e| BuildError::Cargo(format!("cannot run cargo: {e}")))?;
    if !status.success() {
        return Err(BuildError::Cargo(format!(
            "cargo build failed ({status}); its messages are above"
        )));
    }
    Ok(())
}
