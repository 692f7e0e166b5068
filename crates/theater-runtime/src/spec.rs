//! The description of a system: components, top-level actors, limits, seed and mode.
//!
//! A [`SystemSpec`] is what the `theater` binary builds from a manifest file. Its
//! canonical encoding (MessagePack) is stored in the trace as the manifest blob, so a
//! replay rebuilds the same system from the trace alone.

use serde::{Deserialize, Serialize};
use theater_trace::{Bytes, RestartPolicy, RunMode};

use crate::error::RuntimeError;
use crate::limits::Limits;

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
