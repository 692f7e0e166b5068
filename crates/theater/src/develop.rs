//! `theater new`, `theater build` and `theater check`: making actors in your own crate.
//!
//! The work is done by `theater-build` (scaffold, cargo, wit-component) and by the
//! runtime's component check; this module turns their results into output and exit
//! codes: 0 on success, 1 when `check` finds a grant missing, 2 on unusable input.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use theater_build::cargo::{build as cargo_build, BuildOptions};
use theater_build::scaffold::{scaffold, Sdk};
use theater_runtime::{default_grants, ComponentCache, Limits};

/// The guest SDK this binary was built from, if its sources are still there.
fn bundled_sdk() -> Option<PathBuf> {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../theater-guest")
        .canonicalize()
        .ok()
        .filter(|p| p.join("Cargo.toml").is_file())
}

fn sdk_from(arg: Option<&str>) -> Result<Sdk> {
    match arg {
        Some(s) if s.contains("://") || s.starts_with("git@") => Ok(Sdk::Git {
            url: s.to_string(),
            rev: None,
        }),
        Some(p) => {
            let path = Path::new(p)
                .canonicalize()
                .with_context(|| format!("--sdk {p}: no such directory"))?;
            if !path.join("Cargo.toml").is_file() {
                bail!("--sdk {p}: no Cargo.toml there (expected a theater-guest checkout)");
            }
            Ok(Sdk::Path(path))
        }
        None => bundled_sdk().map(Sdk::Path).ok_or_else(|| {
            anyhow::anyhow!(
                "the guest SDK this theater was built from is gone: pass --sdk PATH (a \
                 theater-guest checkout) or --sdk GIT-URL"
            )
        }),
    }
}

/// `theater new NAME [--path DIR] [--sdk PATH|URL]`.
pub(crate) fn new(name: &str, path: Option<PathBuf>, sdk: Option<&str>) -> Result<ExitCode> {
    let dir = path.unwrap_or_else(|| PathBuf::from(name));
    let sdk = sdk_from(sdk)?;
    let files = scaffold(name, &dir, &sdk)?;
    println!("created actor crate `{name}` in {}", dir.display());
    for f in files {
        println!("  {f}");
    }
    println!("next: cd {} && theater build && theater run manifest.toml --inputs inputs.jsonl --record run.trace", dir.display());
    Ok(ExitCode::SUCCESS)
}

/// Writes `bytes` to `path` through a temporary file, so a failure leaves nothing.
fn write_whole(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("wasm.partial");
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

/// `theater build [DIR] [-o OUT]`.
pub(crate) fn build(dir: &Path, output: Option<&Path>) -> Result<ExitCode> {
    let built = cargo_build(dir, &[], &BuildOptions::default())?;
    if output.is_some() && built.len() > 1 {
        bail!(
            "-o names one file, but {} builds {} actors",
            dir.display(),
            built.len()
        );
    }
    let crate_dir = theater_build::cargo::manifest_path(dir)?
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    for b in &built {
        let path = match output {
            Some(o) => o.to_path_buf(),
            None => crate_dir.join(format!("{}.wasm", b.package.replace('-', "_"))),
        };
        write_whole(&path, &b.component)?;
        println!("{:>8} bytes  {}", b.component.len(), path.display());
        let imports: Vec<&str> = b
            .imports
            .iter()
            .map(|i| i.strip_prefix("theater:actor/").unwrap_or(i))
            .map(|i| i.split('@').next().unwrap_or(i))
            .filter(|i| *i != "types")
            .collect();
        println!(
            "  imports: {}",
            if imports.is_empty() {
                "nothing".to_string()
            } else {
                imports.join(", ")
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `theater check COMPONENT [--manifest M]`.
pub(crate) fn check(component: &Path, manifest: Option<&Path>) -> Result<ExitCode> {
    let bytes =
        std::fs::read(component).with_context(|| format!("reading {}", component.display()))?;
    let name = component.display().to_string();
    let report = ComponentCache::new(&Limits::default())?.check(&name, &bytes)?;
    let list = |v: Vec<&str>| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    println!("ok: {name} is an actor component ({} bytes)", bytes.len());
    println!(
        "  needs grants: {}",
        list(report.grants.iter().copied().collect())
    );
    let Some(manifest) = manifest else {
        return Ok(ExitCode::SUCCESS);
    };
    let spec = theater::manifest::load(manifest)?;
    let users: Vec<&str> = spec
        .components
        .iter()
        .filter(|c| c.bytes == bytes)
        .map(|c| c.name.as_str())
        .collect();
    if users.is_empty() {
        bail!(
            "no component of {} has these bytes (its components: {})",
            manifest.display(),
            spec.components
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let mut short = false;
    for a in spec
        .actors
        .iter()
        .filter(|a| users.contains(&a.component.as_str()))
    {
        let granted: Vec<String> = match &a.grants {
            Some(g) => g.clone(),
            None => default_grants().map(str::to_string).collect(),
        };
        let missing: Vec<&str> = report
            .grants
            .iter()
            .copied()
            .filter(|g| !granted.iter().any(|x| x == g))
            .collect();
        if missing.is_empty() {
            println!("  actor {:?}: granted everything it imports", a.name);
        } else {
            short = true;
            println!(
                "  actor {:?}: NOT granted {} (add to its `grants`)",
                a.name,
                missing.join(", ")
            );
        }
    }
    Ok(if short {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
