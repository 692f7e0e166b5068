//! Building actors: scaffold an actor crate ([`scaffold`]), compile it for
//! `wasm32-unknown-unknown` and wrap the module into a component ([`cargo`],
//! [`component`]).
//!
//! `theater new` and `theater build` are thin commands over this crate, and so is
//! `scripts/build-fixtures.sh` (through `theater-fixtures`): the repository's own actors
//! are built by the same code as a user's.

pub mod cargo;
pub mod component;
pub mod scaffold;

mod error;

pub use error::BuildError;

/// The wasm target actors are built for.
pub const TARGET: &str = "wasm32-unknown-unknown";

/// The cargo profile actors are built with: release, size-optimized, one codegen unit,
/// LTO, abort on panic, no debug info, stripped. Defined on the command line
/// (`--config`), so a user's crate needs no profile of its own.
pub const PROFILE: &str = "theater-guest";
