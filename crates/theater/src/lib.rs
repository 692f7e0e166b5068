//! The `theater` binary's library part: reading manifests (TOML) into a
//! [`theater_runtime::SystemSpec`]. Kept apart from `main.rs` so it has a typed error and
//! can be fuzzed.

pub mod manifest;
