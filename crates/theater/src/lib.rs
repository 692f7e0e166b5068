//! The `theater` binary's library part: reading manifests (TOML) into a
//! [`theater_runtime::SystemSpec`], the HTTP ingress (`theater run --http`) and the
//! outbound HTTP client actors use. Kept apart from `main.rs` so they have typed errors,
//! can be tested on their own, and can be fuzzed.

pub mod ingress;
pub mod manifest;
pub mod outbound;
