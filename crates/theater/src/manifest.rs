//! Manifests: the TOML description of a system, turned into a `SystemSpec`.
//!
//! ```toml
//! mode = "simulated"          # or "live"
//! seed = 42
//! schedule = "pct:7"          # optional: "fifo" (the default) or "pct:SEED[:DEPTH[:STEPS]]",
//!                             # a seeded exploring order (theater_runtime::Schedule)
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
//! grants = ["messaging", "store"]    # optional: host interfaces it may import
//!                                    # (runtime, messaging, timers, supervision,
//!                                    # store, http-client); all but http-client
//!                                    # when absent; children inherit
//!
//! [[http.route]]                     # for `theater run --http`; longest prefix wins
//! prefix = "/kv"                     # matches /kv and /kv/…, not /kvx
//! actor = "api"                      # a top-level actor
//!
//! [http.limits]                      # optional; any field of
//! body_bytes = 65536                 # theater::ingress::IngressLimits
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use theater_runtime::schedule::ScheduleError;
use theater_runtime::{ActorSpec, ComponentSpec, Limits, RuntimeError, Schedule, SystemSpec};
use theater_trace::{Bytes, RestartPolicy, RunMode};

/// Why a manifest cannot be used.
#[derive(Debug)]
pub enum ManifestError {
    /// The manifest file cannot be read.
    Read(PathBuf, std::io::Error),
    /// Not valid TOML, or not the manifest's shape (unknown field, wrong type…).
    Syntax(String),
    /// A value that is not allowed (a mode, a restart policy…).
    Invalid(String),
    /// A component file cannot be read.
    Component {
        name: String,
        path: PathBuf,
        source: std::io::Error,
    },
    /// The system it describes is inconsistent (an actor of an unknown component…).
    Spec(RuntimeError),
    /// Wraps any of the above with the manifest's path.
    In(PathBuf, Box<ManifestError>),
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ManifestError::Read(path, e) => {
                write!(f, "cannot read manifest {}: {e}", path.display())
            }
            ManifestError::Syntax(m) | ManifestError::Invalid(m) => f.write_str(m),
            ManifestError::Component { name, path, source } => {
                write!(
                    f,
                    "component {name:?}: cannot read {}: {source}",
                    path.display()
                )
            }
            ManifestError::Spec(e) => write!(f, "{e}"),
            ManifestError::In(path, e) => write!(f, "invalid manifest {}: {e}", path.display()),
        }
    }
}

/// The message carries its causes (an I/O error, a trace problem…), so `source` is
/// empty: printers that walk the chain would otherwise say everything twice.
impl std::error::Error for ManifestError {}

type Result<T> = std::result::Result<T, ManifestError>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    #[serde(default = "default_mode")]
    mode: String,
    #[serde(default)]
    seed: u64,
    #[serde(default)]
    schedule: Option<String>,
    #[serde(default)]
    limits: Limits,
    #[serde(default, rename = "component")]
    components: Vec<Component>,
    #[serde(default, rename = "actor")]
    actors: Vec<Actor>,
    #[serde(default)]
    http: Option<Http>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Http {
    #[serde(default, rename = "route")]
    routes: Vec<crate::ingress::Route>,
    #[serde(default)]
    limits: crate::ingress::IngressLimits,
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
    /// Host interfaces the actor may import; all when absent.
    grants: Option<Vec<String>>,
}

fn default_restart() -> String {
    "permanent".into()
}

/// The largest manifest file read: a manifest is a few lines; anything bigger is a
/// mistake (or hostile).
pub const MANIFEST_MAX_BYTES: u64 = 1 << 20;

/// Reads and checks a manifest; component paths are relative to its directory.
pub fn load(path: &Path) -> Result<SystemSpec> {
    load_full(path).map(|(spec, _)| spec)
}

/// [`load`], plus the manifest's `[http]` section (default when absent).
pub fn load_full(path: &Path) -> Result<(SystemSpec, crate::ingress::HttpConfig)> {
    let size = std::fs::metadata(path)
        .map_err(|e| ManifestError::Read(path.into(), e))?
        .len();
    if size > MANIFEST_MAX_BYTES {
        return Err(ManifestError::In(
            path.into(),
            Box::new(ManifestError::Invalid(format!(
                "{size} bytes, more than the {MANIFEST_MAX_BYTES}-byte limit for a manifest"
            ))),
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| ManifestError::Read(path.into(), e))?;
    let base = path.parent().unwrap_or(Path::new("."));
    parse_full(&text, base, &mut |p| std::fs::read(p))
        .map_err(|e| ManifestError::In(path.into(), Box::new(e)))
}

/// Parses manifest text; `base` resolves component paths, and `read` reads component
/// files (tests and fuzzing pass their own).
pub fn parse_with(
    text: &str,
    base: &Path,
    read: &mut dyn FnMut(&Path) -> std::io::Result<Vec<u8>>,
) -> Result<SystemSpec> {
    parse_full(text, base, read).map(|(spec, _)| spec)
}

/// [`parse_with`], plus the `[http]` section.
pub fn parse_full(
    text: &str,
    base: &Path,
    read: &mut dyn FnMut(&Path) -> std::io::Result<Vec<u8>>,
) -> Result<(SystemSpec, crate::ingress::HttpConfig)> {
    let m: Manifest = toml::from_str(text).map_err(|e| ManifestError::Syntax(e.to_string()))?;
    let mode = match m.mode.as_str() {
        "simulated" => RunMode::Simulated,
        "live" => RunMode::Live,
        other => {
            return Err(ManifestError::Invalid(format!(
                "mode must be \"simulated\" or \"live\", not {other:?}"
            )))
        }
    };
    let components = m
        .components
        .iter()
        .map(|c| {
            let path = base.join(&c.path);
            let bytes = read(&path).map_err(|source| ManifestError::Component {
                name: c.name.clone(),
                path: path.clone(),
                source,
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
                other => {
                    return Err(ManifestError::Invalid(format!(
                    "actor {:?}: restart must be permanent, transient or temporary, not {other:?}",
                    a.name
                )))
                }
            };
            let init = match &a.init {
                None => Vec::new(),
                Some(v) => serde_json::to_vec(v).map_err(|e| {
                    ManifestError::Invalid(format!("actor {:?}: init: {e}", a.name))
                })?,
            };
            Ok(ActorSpec {
                name: a.name.clone(),
                component: a.component.clone(),
                init_args: Bytes(init),
                restart,
                fuel_per_delivery: a.fuel_per_delivery,
                grants: a.grants.clone(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let http = match m.http {
        None => crate::ingress::HttpConfig::default(),
        Some(h) => crate::ingress::HttpConfig {
            routes: h.routes,
            limits: h.limits,
        },
    };
    for r in &http.routes {
        if !r.prefix.starts_with('/') || (r.prefix.len() > 1 && r.prefix.ends_with('/')) {
            return Err(ManifestError::Invalid(format!(
                "http route {:?}: a prefix starts with `/` and does not end with one",
                r.prefix
            )));
        }
        if !actors.iter().any(|a| a.name == r.actor) {
            return Err(ManifestError::Invalid(format!(
                "http route {:?}: no top-level actor named {:?}",
                r.prefix, r.actor
            )));
        }
    }
    let schedule = match &m.schedule {
        None => Schedule::Fifo,
        Some(s) => s
            .parse()
            .map_err(|e: ScheduleError| ManifestError::Invalid(e.to_string()))?,
    };
    let spec = SystemSpec {
        mode,
        seed: m.seed,
        schedule,
        limits: m.limits,
        components,
        actors,
    };
    spec.check().map_err(ManifestError::Spec)?;
    Ok((spec, http))
}
