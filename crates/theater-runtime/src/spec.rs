//! The description of a system: components, top-level actors, limits, seed, mode and
//! schedule.
//!
//! A [`SystemSpec`] is what the `theater` binary builds from a manifest file. Its
//! canonical encoding (MessagePack) is stored in the trace as the manifest blob, so a
//! replay rebuilds the same system from the trace alone.

use serde::{Deserialize, Serialize};
use theater_trace::{Bytes, RestartPolicy, RunMode};

use crate::error::RuntimeError;
use crate::limits::Limits;
use crate::schedule::Schedule;

/// A whole system to run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemSpec {
    pub mode: RunMode,
    pub seed: u64,
    pub limits: Limits,
    /// Components by name, in manifest order. The bytes are the component itself.
    pub components: Vec<ComponentSpec>,
    /// Actors started at the beginning of the run, in order.
    pub actors: Vec<ActorSpec>,
    /// How deliveries that may legally go next are ordered. Left out of the manifest
    /// blob when FIFO, so the manifest of a FIFO run is what it was before schedules.
    #[serde(default, skip_serializing_if = "Schedule::is_fifo")]
    pub schedule: Schedule,
}

/// A named component.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentSpec {
    pub name: String,
    /// The component's bytes. Not part of the manifest blob (each component is its own
    /// blob in the trace); empty in a spec decoded from a trace until filled from there.
    #[serde(skip)]
    pub bytes: Vec<u8>,
}

/// A top-level actor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorSpec {
    pub name: String,
    pub component: String,
    pub init_args: Bytes,
    pub restart: RestartPolicy,
    /// Overrides `limits.fuel_per_delivery` for this actor.
    pub fuel_per_delivery: Option<u64>,
    /// The host interfaces the actor may import, by short name (see [`INTERFACES`]);
    /// `None` grants all but [`NETWORK_INTERFACES`]. Its children get the same grants,
    /// never more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grants: Option<Vec<String>>,
}

/// The host interfaces of the `theater:actor` world that a manifest can grant.
pub const INTERFACES: [&str; 6] = [
    "runtime",
    "messaging",
    "timers",
    "supervision",
    "store",
    "http-client",
];

/// Interfaces that reach outside the machine: granted only when a manifest names them.
pub const NETWORK_INTERFACES: [&str; 1] = ["http-client"];

/// The grants of an actor whose manifest entry lists none.
pub fn default_grants() -> impl Iterator<Item = &'static str> {
    INTERFACES
        .into_iter()
        .filter(|i| !NETWORK_INTERFACES.contains(i))
}

/// The interface a component import names, if it is one of [`INTERFACES`]:
/// `theater:actor/store@0.1.0` → `store`. The `types` interface (no functions) is
/// always allowed and gives `None`, as does anything outside the package.
pub fn granted_interface(import: &str) -> Option<&'static str> {
    let rest = import.strip_prefix("theater:actor/")?;
    let name = rest.split('@').next()?;
    INTERFACES.iter().copied().find(|i| *i == name)
}

impl SystemSpec {
    /// The canonical encoding stored as the trace's manifest blob.
    pub fn manifest_bytes(&self) -> Vec<u8> {
        manifest_codec::to_vec(self)
    }

    /// Decodes a manifest blob.
    pub fn from_manifest_bytes(bytes: &[u8]) -> Result<SystemSpec, RuntimeError> {
        manifest_codec::from_slice(bytes)
            .map_err(|e| RuntimeError::Unreplayable(format!("manifest blob does not decode: {e}")))
    }

    /// Checks names are unique and every actor's component exists.
    pub fn check(&self) -> Result<(), RuntimeError> {
        let mut names = std::collections::BTreeSet::new();
        for c in &self.components {
            if !names.insert(&c.name) {
                return Err(RuntimeError::Spec(format!(
                    "component {:?} is defined twice",
                    c.name
                )));
            }
        }
        for a in &self.actors {
            for g in a.grants.iter().flatten() {
                if !INTERFACES.contains(&g.as_str()) {
                    return Err(RuntimeError::Spec(format!(
                        "actor {:?}: cannot grant {g:?}: the interfaces are {}",
                        a.name,
                        INTERFACES.join(", ")
                    )));
                }
            }
            if !names.contains(&a.component) {
                return Err(RuntimeError::Spec(format!(
                    "actor {:?} uses unknown component {:?}",
                    a.name, a.component
                )));
            }
        }
        Ok(())
    }
}

/// JSON is the manifest blob's encoding: readable when a user fetches the blob, and
/// `serde_json` output is canonical for these types (structs in field order, no maps).
mod manifest_codec {
    pub(super) fn to_vec<T: serde::Serialize>(v: &T) -> Vec<u8> {
        serde_json::to_vec(v).expect("SystemSpec serializes")
    }
    pub(super) fn from_slice<T: serde::de::DeserializeOwned>(
        b: &[u8],
    ) -> Result<T, serde_json::Error> {
        serde_json::from_slice(b)
    }
}
