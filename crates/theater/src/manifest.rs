//! Manifests: the TOML description of a system, turned into a `SystemSpec`.
//!
//! ```toml
//! mode = "simulated"          # or "live"
//! seed = 42
//!
//! [limits]                    # optional; any field of theater_runtime::Limits
//! fuel_per_delivery = 1000000
//!
//! [[component]]
//! name = "bank"
//! path = "../components/bank.wasm"   # relative to the manifest
//!
//! [[actor]]
//! name = "bank"
//! component = "bank"
//! init = { currency = "EUR" }        # any TOML value; passed to init as JSON
//! restart = "permanent"              # permanent | transient | temporary
//! fuel_per_delivery = 500000         # optional
//! ```

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use theater_runtime::{ActorSpec, ComponentSpec, Limits, SystemSpec};
use theater_trace::{Bytes, RestartPolicy, RunMode};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    #[serde(default = "default_mode")]
    mode: String,
    #[serde(default)]
    seed: u64,
    #[serde(default)]
    limits: Limits,
    #[serde(default, rename = "component")]
    components: Vec<Component>,
    #[serde(default, rename = "actor")]
    actors: Vec<Actor>,
}

fn default_mode() -> String {
    "simulated".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Component {
    name: String,
    path: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Actor {
    name: String,
    component: String,
    #[serde(default)]
    init: Option<toml::Value>,
    #[serde(default = "default_restart")]
    restart: String,
    fuel_per_delivery: Option<u64>,
}

fn default_restart() -> String {
    "permanent".into()
}

/// Reads and checks a manifest; component paths are relative to its directory.
pub(crate) fn load(path: &Path) -> Result<SystemSpec> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read manifest {}", path.display()))?;
    parse(&text, path.parent().unwrap_or(Path::new(".")))
        .with_context(|| format!("invalid manifest {}", path.display()))
}

/// Parses manifest text; `base` resolves component paths.
pub(crate) fn parse(text: &str, base: &Path) -> Result<SystemSpec> {
    let m: Manifest = toml::from_str(text)?;
    let mode = match m.mode.as_str() {
        "simulated" => RunMode::Simulated,
        "live" => RunMode::Live,
        other => bail!("mode must be \"simulated\" or \"live\", not {other:?}"),
    };
    let components = m
        .components
        .iter()
        .map(|c| {
            let path = base.join(&c.path);
            let bytes = std::fs::read(&path).with_context(|| {
                format!("component {:?}: cannot read {}", c.name, path.display())
            })?;
            Ok(ComponentSpec {
                name: c.name.clone(),
                bytes,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let actors = m
        .actors
        .iter()
        .map(|a| {
            let restart = match a.restart.as_str() {
                "permanent" => RestartPolicy::Permanent,
                "transient" => RestartPolicy::Transient,
                "temporary" => RestartPolicy::Temporary,
                other => bail!(
                    "actor {:?}: restart must be permanent, transient or temporary, not {other:?}",
                    a.name
                ),
            };
            let init = match &a.init {
                None => Vec::new(),
                Some(v) => serde_json::to_vec(v)?,
            };
            Ok(ActorSpec {
                name: a.name.clone(),
                component: a.component.clone(),
                init_args: Bytes(init),
                restart,
                fuel_per_delivery: a.fuel_per_delivery,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let spec = SystemSpec {
        mode,
        seed: m.seed,
        limits: m.limits,
        components,
        actors,
    };
    spec.check()?;
    Ok(spec)
}
