//! Where Theater traces live: a local path (the embedded default), or an object store
//! (`s3://bucket/prefix`, any S3-compatible server; `file:///dir`, the same layout on a
//! local disk).
//!
//! Layout in a store: a run's segments under its prefix
//! (`PREFIX/segment-NNNNNNNN.trace`, each in its thin form, see
//! [`theater_trace::externalize`]), and every blob too large for a block (components,
//! large payloads and states) once per store, under `blobs/<digest>`, whatever run or
//! node stored it first.
//!
//! - [`Location`]: a path or URL, parsed; no credential is ever part of one, shown or
//!   stored (they come from the `AWS_*` environment variables).
//! - [`Store`]: one store behind a blocking interface, with counters.
//! - [`open`] / [`open_in`]: a trace read from anywhere, by range, through a bounded
//!   cache ([`STORE_CACHE_BYTES_DEFAULT`]).
//! - [`Shipper`]: the thread that uploads sealed segments from a local spool directory
//!   to a store while a run records, never on the scheduler's thread.

mod cache;
mod error;
mod location;
mod remote;
mod shipper;
mod store;

pub use cache::{STORE_CACHE_BYTES_DEFAULT, STORE_PAGE_BYTES};
pub use error::StoreError;
pub use location::{Location, StoreLocation};
pub use remote::{open, open_in};
pub use shipper::{
    ShipReport, Shipper, ShipperOptions, FINISH_WAIT_MS_DEFAULT, SPOOL_BYTES_DEFAULT,
};
pub use store::{Store, StoreStats, BLOBS_PREFIX};
