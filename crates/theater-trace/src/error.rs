//! Typed errors of the trace store.
//!
//! Damage found in a trace is a [`Corruption`]: it names the byte offset of the frame
//! where the damage was found, the event number when the frame is (or should be) an
//! event, and what mismatched. Nothing in this crate panics on bad input.

use std::fmt;
use std::io;

use crate::digest::Digest;

/// Everything that can go wrong reading or writing a trace.
#[derive(Debug)]
pub enum TraceError {
    /// The operating system failed us.
    Io { context: String, source: io::Error },
    /// The trace is damaged, tampered with, or not a trace.
    Corrupt(Corruption),
    /// An event number past the end of the trace.
    EventOutOfRange { event: u64, count: u64 },
    /// An event number before the first one the trace holds (a segment, or a directory
    /// whose older segments were deleted by retention).
    EventBeforeFirst { event: u64, first: u64 },
    /// The segment files of a directory do not make one trace (one is missing, or one
    /// does not continue the one before it).
    Segments(String),
    /// A configured limit would be exceeded; nothing was written.
    LimitExceeded {
        limit: &'static str,
        requested: u64,
        max: u64,
    },
    /// The writer was asked to record an event that references a blob it has not written.
    UnknownBlob { digest: Digest },
    /// The writer was asked to record something the format forbids.
    Misuse(&'static str),
}

impl TraceError {
    /// The byte offset the error is about, if any.
    pub fn offset(&self) -> Option<u64> {
        match self {
            TraceError::Corrupt(c) => Some(c.offset),
            _ => None,
        }
    }

    /// The event number the error is about, if any.
    pub fn event(&self) -> Option<u64> {
        match self {
            TraceError::Corrupt(c) => c.event,
            TraceError::EventOutOfRange { event, .. }
            | TraceError::EventBeforeFirst { event, .. } => Some(*event),
            _ => None,
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> TraceError {
        TraceError::Io {
            context: context.into(),
            source,
        }
    }
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceError::Io { context, source } => write!(f, "{context}: {source}"),
            TraceError::Corrupt(c) => c.fmt(f),
            TraceError::EventOutOfRange { event, count } => {
                write!(
                    f,
                    "event {event} is out of range: the trace has {count} events"
                )
            }
            TraceError::EventBeforeFirst { event, first } => write!(
                f,
                "event {event} is not in this trace: it starts at event {first} (a segment, or older segments deleted)"
            ),
            TraceError::Segments(why) => write!(f, "{why}"),
            TraceError::LimitExceeded {
                limit,
                requested,
                max,
            } => write!(f, "limit {limit} exceeded: {requested} > {max}"),
            TraceError::UnknownBlob { digest } => {
                write!(
                    f,
                    "event references blob {digest}, which was not written before it"
                )
            }
            TraceError::Misuse(what) => write!(f, "invalid use of the trace writer: {what}"),
        }
    }
}

/// The message carries its causes (an I/O error, a trace problem…), so `source` is
/// empty: printers that walk the chain would otherwise say everything twice.
impl std::error::Error for TraceError {}

impl From<Corruption> for TraceError {
    fn from(c: Corruption) -> TraceError {
        TraceError::Corrupt(c)
    }
}

/// Where a trace is damaged and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corruption {
    /// Byte offset of the damaged frame (or of the file header).
    pub offset: u64,
    /// The event number, when the damage is in (or just before) an event.
    pub event: Option<u64>,
    pub problem: Problem,
}

/// What is wrong at a [`Corruption`]'s offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The file does not start with the trace magic.
    BadMagic,
    /// A format version this build cannot read.
    UnsupportedVersion {
        version: u32,
        /// The versions this build reads (oldest, newest).
        supported: (u32, u32),
    },
    /// The file header's checksum does not match.
    HeaderChecksum,
    /// A frame runs past the end of the data.
    TruncatedFrame { needed: u64, available: u64 },
    /// A frame's stored checksum does not match its bytes.
    FrameChecksum { stored: u32, computed: u32 },
    /// A frame kind this version does not define.
    UnknownFrameKind(u8),
    /// A frame longer than the format allows.
    FrameTooLarge { len: u64, max: u64 },
    /// A frame of the wrong kind where another was required.
    UnexpectedFrame {
        expected: &'static str,
        found: &'static str,
    },
    /// An event frame whose payload does not decode.
    UndecodableEvent(String),
    /// An event that decodes but is not in canonical form.
    NonCanonicalEvent(&'static str),
    /// The event's parent is not the digest of the event before it, and the event's own
    /// digest does not match what the next event records either: this event was altered
    /// or moved.
    BrokenChain { expected: Digest, found: Digest },
    /// The next event's parent is not this event's digest, but the next event's own
    /// link onwards is intact: this event was altered after the fact, or events were
    /// removed or inserted right after it. (The hash chain cannot tell these apart; the
    /// report names this event as the first that is not what was recorded.)
    AlteredEvent {
        /// What the next event records as its parent.
        recorded: Digest,
        /// What this event's bytes hash to.
        actual: Digest,
    },
    /// A blob whose bytes do not hash to its digest.
    BlobDigest { stored: Digest, computed: Digest },
    /// A blob stored a second time.
    DuplicateBlob(Digest),
    /// An event references a blob not written before it.
    MissingBlob(Digest),
    /// An event gives a blob a length other than the blob's.
    BlobLength {
        digest: Digest,
        stored: u64,
        referenced: u64,
    },
    /// A version 3 block or zblob whose contents do not decode: bad compressed data, a
    /// declared length or count that does not match, an event that runs past its block.
    Block(String),
    /// A version 3 block does not start with the event number that follows the block
    /// before it.
    BlockNumbering { expected: u64, found: u64 },
    /// Version 3: the chain value recorded after events `first..=last` (in the next
    /// block's header, or the footer after the last block) is not what those events hash
    /// to. One of them was altered, or events were removed, inserted or moved among them;
    /// the derived chain says which block, not which event.
    AlteredBlock {
        first: u64,
        last: u64,
        /// What the next block (or the footer) records.
        recorded: Digest,
        /// What the events hash to.
        actual: Digest,
    },
    /// The first event is not a run header (or, in a segment after the first, a
    /// `SegmentStarted` naming the chain value before it), or one appears later.
    MisplacedHeader,
    /// The index or footer disagrees with the frames.
    Index(String),
    /// The trace did not end with a valid footer: the writer did not finish (crash) or
    /// the end of the file is damaged. `dropped_bytes` follow the last valid frame.
    Incomplete { dropped_bytes: u64, reason: String },
}

impl fmt::Display for Corruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "trace damaged at byte {}", self.offset)?;
        if let Some(event) = self.event {
            write!(f, " (event {event})")?;
        }
        write!(f, ": {}", self.problem)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::BadMagic => f.write_str("not a Theater trace (bad magic)"),
            Problem::UnsupportedVersion {
                version,
                supported: (oldest, newest),
            } => write!(
                f,
                "format version {version} is not supported (this build reads versions {oldest} to {newest})"
            ),
            Problem::HeaderChecksum => f.write_str("file header checksum mismatch"),
            Problem::TruncatedFrame { needed, available } => write!(
                f,
                "frame truncated: needs {needed} bytes, only {available} present"
            ),
            Problem::FrameChecksum { stored, computed } => write!(
                f,
                "frame checksum mismatch: stored {stored:08x}, computed {computed:08x}"
            ),
            Problem::UnknownFrameKind(k) => write!(f, "unknown frame kind {k}"),
            Problem::FrameTooLarge { len, max } => {
                write!(f, "frame of {len} bytes exceeds the {max}-byte maximum")
            }
            Problem::UnexpectedFrame { expected, found } => {
                write!(f, "expected a {expected} frame, found a {found} frame")
            }
            Problem::UndecodableEvent(why) => write!(f, "event does not decode: {why}"),
            Problem::NonCanonicalEvent(why) => write!(f, "event is not canonical: {why}"),
            Problem::BrokenChain { expected, found } => write!(
                f,
                "hash chain broken: parent is {found}, the previous event's digest is {expected} (this event was altered or moved)"
            ),
            Problem::AlteredEvent { recorded, actual } => write!(
                f,
                "this event hashes to {actual}, but the next event records its parent as {recorded}, and the chain after it is intact: this event was altered, or events were removed or inserted right after it"
            ),
            Problem::BlobDigest { stored, computed } => write!(
                f,
                "blob content does not match its digest: stored {stored}, content hashes to {computed}"
            ),
            Problem::DuplicateBlob(d) => write!(f, "blob {d} is stored twice"),
            Problem::MissingBlob(d) => {
                write!(f, "references blob {d}, which is not stored before it")
            }
            Problem::BlobLength {
                digest,
                stored,
                referenced,
            } => write!(
                f,
                "references blob {digest} as {referenced} bytes, but it holds {stored}"
            ),
            Problem::Block(why) => write!(f, "block does not decode: {why}"),
            Problem::BlockNumbering { expected, found } => write!(
                f,
                "block starts with event {found}, but the block before it ends before event {expected} (events were removed or inserted)"
            ),
            Problem::AlteredBlock {
                first,
                last,
                recorded,
                actual,
            } => write!(
                f,
                "events {first} to {last} hash to {actual}, but the chain value recorded after them is {recorded}: one of these events was altered, or events were removed, inserted or moved among them"
            ),
            Problem::MisplacedHeader => {
                f.write_str("the run header (in a later segment, its SegmentStarted event) must be the first event, and only the first")
            }
            Problem::Index(why) => write!(f, "index does not match the frames: {why}"),
            Problem::Incomplete {
                dropped_bytes,
                reason,
            } => write!(
                f,
                "trace is incomplete (no valid footer): {dropped_bytes} trailing bytes dropped ({reason})"
            ),
        }
    }
}
