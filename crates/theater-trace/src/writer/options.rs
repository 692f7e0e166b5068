//! What a writer is told and what it writes to: its options and their defaults, the
//! sinks (a file, memory), where a segment starts, and what a finished trace holds.

use std::fs::File;
use std::io::{self, Write};

use crate::digest::Digest;
use crate::event::RunHeader;

/// The writer hands its buffer of whole frames to the sink once it holds this many
/// bytes, whatever the flush policy says: bounds the writer's memory.
pub const WRITE_BUFFER_MAX_BYTES: usize = 1 << 20;

/// Default limit on a trace file's size: 16 GiB.
pub const TRACE_MAX_BYTES_DEFAULT: u64 = 16 << 30;

/// Default bound on a block's events, and so on the events a crash can lose between two
/// flushes: 2048 (a seek decompresses one block and hashes at most this many events:
/// 0.2 ms median, 0.6 ms at worst on a 10M-delivery trace, docs/benchmarks.md).
pub const FLUSH_EVERY_EVENTS_DEFAULT: u32 = 2048;

/// Default bound on a block's uncompressed bytes: 256 KiB. A seek decompresses at most
/// one block (an event larger than this gets a block of its own).
pub const BLOCK_MAX_BYTES_DEFAULT: u32 = 256 << 10;

/// How the writer flushes and what it may write.
#[derive(Clone, Debug)]
pub struct WriterOptions {
    /// Flush (seal the block) after this many events (≥ 1). Default
    /// [`FLUSH_EVERY_EVENTS_DEFAULT`].
    pub flush_every_events: u32,
    /// Flush when this much time has passed since the last flush. Default 100 ms.
    pub flush_interval_ms: u64,
    /// Sync the file to stable storage at every flush and at `finish`. Default off.
    pub fsync: bool,
    /// Flush once the block holds this many uncompressed bytes (≥ 1). Default
    /// [`BLOCK_MAX_BYTES_DEFAULT`].
    pub block_max_bytes: u32,
    /// The writer refuses any event or blob that would make the file larger than this.
    /// Default [`TRACE_MAX_BYTES_DEFAULT`].
    pub trace_max_bytes: u64,
}

impl Default for WriterOptions {
    fn default() -> WriterOptions {
        WriterOptions {
            flush_every_events: FLUSH_EVERY_EVENTS_DEFAULT,
            flush_interval_ms: 100,
            fsync: false,
            block_max_bytes: BLOCK_MAX_BYTES_DEFAULT,
            trace_max_bytes: TRACE_MAX_BYTES_DEFAULT,
        }
    }
}

/// Where a trace goes: a file, or memory in tests.
pub trait TraceSink: Write {
    /// Makes everything written so far durable.
    fn sync(&mut self) -> io::Result<()>;
}

impl TraceSink for File {
    fn sync(&mut self) -> io::Result<()> {
        self.sync_data()
    }
}

impl TraceSink for Vec<u8> {
    fn sync(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Where a segment after the first starts (see [`TraceWriter::segment`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentStart {
    /// The run's header (its `manifest` is set to the manifest's digest).
    pub run: RunHeader,
    /// The segment's number: 1 for the second.
    pub segment: u64,
    /// The number of its first event: the event count of the segments before.
    pub first_event: u64,
    /// The chain head of the segment before.
    pub previous_head: Digest,
}

/// What a finished trace holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceSummary {
    pub events: u64,
    pub blobs: u64,
    pub bytes: u64,
    pub head: Digest,
}
