//! Theater's trace store: the record of a run, and everything needed to replay it.
//!
//! A trace is a single append-only file (`trace.bin`) holding:
//! - **events** ([`Event`]), hash-chained with blake3: the chain value after an event is
//!   derived from the one before it and the event's bytes, so the last one (the chain
//!   head) identifies the whole run. Events are written in zstd-compressed blocks, each
//!   recording the chain value before it, so a reader can start at any block;
//! - **blobs**: payloads, components and manifests keyed by their blake3 digest,
//!   compressed and stored once, written before the block that first references them.
//!
//! Write with [`TraceWriter`]; read with [`Trace`] (iterate, seek by event number, fetch
//! blobs, [`Trace::verify`]); export with [`export_json_lines`]. The byte layout is in
//! [`format`] and `docs/trace-format.md`.
//!
//! This crate knows nothing about WebAssembly engines or terminals, and nothing in it
//! panics on bad input.

mod block;
mod codec;
mod convert;
mod digest;
mod display;
mod error;
mod event;
pub mod format;
mod json;
mod kinds;
pub mod legacy;
mod reader;
mod source;
pub mod synth;
mod thin;
mod verify;
mod writer;

pub use block::{BLOCK_BLOB_MAX_BYTES, ZSTD_LEVEL};
pub use codec::{chain_link, state_digest, truncate_state, wire, STATE_DIGEST_LEN};
pub use convert::{convert, first_difference};
pub use digest::{hex, Bytes, Digest, DIGEST_LEN};
pub use display::{PayloadPreview, Quoted, Recipient, EVENT_KIND_NAMES, PREVIEW_IN_LINE_MAX_BYTES};
pub use error::{Corruption, Problem, TraceError};
pub use event::*;
pub use format::{FORMAT_VERSION, FORMAT_VERSION_MIN};
pub use json::{event_to_json, export_json_lines};
pub use kinds::{BlockKinds, KindCounts};
pub use reader::{
    segment_file_name, segment_number, EventPosition, Events, RawEvent, RawEvents, RecordedEvent,
    Recovery, RemotePart, SegmentInfo, Trace,
};
pub use source::{BlobSource, ByteSource, SharedBlobSource};
pub use thin::{externalize, internalize, Externalized};
pub use verify::{vouchable, InlineChecked, VerifyReport};
pub use writer::{
    SegmentStart, TraceSink, TraceSummary, TraceWriter, WriterOptions, BLOCK_MAX_BYTES_DEFAULT,
    FLUSH_EVERY_EVENTS_DEFAULT, TRACE_MAX_BYTES_DEFAULT, WRITE_BUFFER_MAX_BYTES,
};
