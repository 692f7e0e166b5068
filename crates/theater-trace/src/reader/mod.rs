//! Opening, iterating and seeking a trace.
//!
//! A finished trace opens from its footer and index: two small reads, whatever its size.
//! A trace without a valid footer (its writer crashed, or its end is damaged) opens by
//! scanning: every complete, intact frame from the start is kept, the rest is dropped and
//! described by [`Recovery`]. Either way, reading an event checks its frame checksum, and
//! [`Trace::verify`](crate::Trace::verify) checks everything else.
//!
//! Version 3 traces hold events in compressed blocks ([`blocks`]); versions 1 and 2 hold
//! one frame per event ([`legacy`]). Everything above this module sees the same
//! [`RecordedEvent`]s either way.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::sync::Mutex;

use crate::digest::{Digest, DIGEST_LEN};
use crate::error::{Corruption, Problem, TraceError};
use crate::event::{Event, EventBody, RunHeader};
use crate::format::{
    check_file_header, Footer, FrameKind, IndexRecord, IndexV3, FIRST_BLOCK_VERSION,
    FOOTER_FRAME_LEN, HEADER_LEN,
};
use crate::kinds::KindCounts;

mod blocks;
mod events;
mod frames;
mod kinds;
mod legacy;
mod raw;
mod segments;
mod snapshots;

pub use events::{EventPosition, Events};
pub use raw::{RawEvent, RawEvents};
pub use segments::{segment_file_name, segment_number, RemotePart, SegmentInfo};

pub(crate) use blocks::Decoded;
pub(crate) use frames::RawFrame;
use frames::{FrameReader, Source};

/// What was dropped when a trace without a valid footer was opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovery {
    /// Bytes kept: the header and every complete, intact frame.
    pub valid_bytes: u64,
    /// Bytes dropped after them.
    pub dropped_bytes: u64,
    /// Events among the dropped bytes that could be recognised: a torn event frame
    /// counts as one, a torn block as the events its header declares (when the header
    /// survived).
    pub dropped_events: u64,
    /// Why scanning stopped, e.g. a truncated or damaged frame.
    pub reason: String,
}

/// An event as read from a trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedEvent {
    /// Position in the trace; the run header is event 0.
    pub number: u64,
    /// Byte offset of the frame holding the event (its block, in version 3).
    pub offset: u64,
    /// The chain value after the event (what the next event has as `parent`).
    pub digest: Digest,
    /// The event; its `parent` is the chain value before it.
    pub event: Event,
}

/// Where a blob lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BlobLocation {
    /// The frame holding it: a blob or zblob frame, or the block it is in.
    pub(crate) offset: u64,
    pub(crate) len: u64,
    /// For a blob in a block: where its bytes start in the block's raw bytes.
    pub(crate) at: Option<u32>,
}

/// A version 3 block, as the index (or a scan) knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BlockEntry {
    pub(crate) first: u64,
    pub(crate) offset: u64,
    pub(crate) chain_before: Digest,
    /// Its events' kinds, when the index lists them.
    pub(crate) kinds: Option<KindCounts>,
}

/// How events are laid out in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    /// Versions 1 and 2: one frame per event; the offset of every `every`-th event.
    Frames { every: u32, event_offsets: Vec<u64> },
    /// Version 3: blocks, in order.
    Blocks(Vec<BlockEntry>),
}

/// The index as stored, for `verify` to compare with the frames.
#[derive(Clone, Debug)]
pub(crate) enum StoredIndex {
    Frames(u64, IndexRecord),
    Blocks(u64, IndexV3),
}

/// State another part of the crate keeps with an open trace, behind a lock (what it is,
/// only that part knows).
#[derive(Default)]
pub(crate) struct Attached(pub(crate) Mutex<Option<Box<dyn std::any::Any + Send>>>);

impl std::fmt::Debug for Attached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Attached")
    }
}

/// An open trace.
#[derive(Debug)]
pub struct Trace {
    source: Source,
    pub(crate) version: u32,
    pub(crate) file_len: u64,
    /// Frames end here: the index offset of a finished trace, else the end of the kept
    /// prefix.
    pub(crate) frames_end: u64,
    pub(crate) layout: Layout,
    /// The number after the last event (the event count of a trace that starts at 0).
    pub(crate) event_count: u64,
    /// The number of the first event: 0, or where a segment file (or the oldest segment
    /// a directory kept) starts.
    pub(crate) first: u64,
    pub(crate) head: Digest,
    pub(crate) blobs: BTreeMap<Digest, BlobLocation>,
    pub(crate) recovery: Option<Recovery>,
    pub(crate) stored_index: Option<StoredIndex>,
    header: Option<RunHeader>,
    /// For a file that is a segment after the first: its number and the chain head of
    /// the segment before (from its `SegmentStarted` event).
    pub(crate) segment_start: Option<(u64, Digest)>,
    /// A directory of segments: where each file's frames end and the next file's begin
    /// (offsets of the files laid end to end), and what each file holds.
    pub(crate) seams: Vec<(u64, u64)>,
    pub(crate) segments: Vec<SegmentInfo>,
    /// Version 3: the last block decoded.
    block_cache: blocks::BlockCache,
    /// What an integrity check made as a replay reads keeps with the trace (see
    /// `Trace::check_inline`); the reader only holds it.
    pub(crate) inline: Attached,
    /// The snapshot events' numbers, once known (see [`Trace::snapshots`]).
    snapshots: std::sync::OnceLock<Vec<u64>>,
    /// Where the blobs of xblob frames are fetched (a trace opened from a store).
    pub(crate) external: Option<crate::source::SharedBlobSource>,
    /// A trace opened from a store: each segment's bytes, in the order of `segments`.
    pub(crate) remote_parts: Vec<std::sync::Arc<dyn crate::source::ByteSource>>,
}

/// What opening found, before the run header is read.
pub(crate) struct Opened {
    frames_end: u64,
    layout: Layout,
    event_count: u64,
    head: Digest,
    blobs: BTreeMap<Digest, BlobLocation>,
    recovery: Option<Recovery>,
    stored_index: Option<StoredIndex>,
}

impl Trace {
    /// Opens the trace at `path`: a trace file (or one segment file of a directory), or a
    /// directory of segments, opened as one trace (see [`SegmentInfo`]).
    pub fn open(path: &Path) -> Result<Trace, TraceError> {
        if path.is_dir() {
            return Trace::open_segments(path);
        }
        Trace::open_file(path)
    }

    /// Opens one trace file.
    pub(crate) fn open_file(path: &Path) -> Result<Trace, TraceError> {
        let file = File::open(path)
            .map_err(|e| TraceError::io(format!("opening {}", path.display()), e))?;
        let len = file
            .metadata()
            .map_err(|e| TraceError::io(format!("reading metadata of {}", path.display()), e))?
            .len();
        Trace::from_source(Source::File(Mutex::new(file)), len)
    }

    /// Opens a trace held in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Trace, TraceError> {
        let len = bytes.len() as u64;
        Trace::from_source(Source::Memory(bytes), len)
    }

    fn from_source(source: Source, file_len: u64) -> Result<Trace, TraceError> {
        let mut head_bytes = vec![0u8; file_len.min(HEADER_LEN) as usize];
        source.read_at(0, &mut head_bytes)?;
        let version = match check_file_header(&head_bytes) {
            Ok(v) => v,
            Err(c) => {
                if let Problem::TruncatedFrame { .. } = c.problem {
                    // A writer that died before finishing the 16-byte header: an empty
                    // trace.
                    return Ok(Trace::empty(source, file_len, c.problem.to_string()));
                }
                return Err(c.into());
            }
        };
        let blocks = version >= FIRST_BLOCK_VERSION;
        let opened = match Trace::open_finished(&source, file_len, blocks) {
            Some(o) => o,
            None if blocks => blocks::scan(&source, file_len)?,
            None => legacy::scan(&source, file_len)?,
        };
        let first = match &opened.layout {
            Layout::Blocks(b) => b.first().map_or(opened.event_count, |b| b.first),
            Layout::Frames { .. } => 0,
        };
        let mut trace = Trace {
            source,
            version,
            file_len,
            frames_end: opened.frames_end,
            layout: opened.layout,
            first,
            event_count: opened.event_count,
            head: opened.head,
            blobs: opened.blobs,
            recovery: opened.recovery,
            stored_index: opened.stored_index,
            header: None,
            segment_start: None,
            seams: Vec::new(),
            segments: Vec::new(),
            block_cache: blocks::BlockCache::default(),
            inline: Default::default(),
            snapshots: std::sync::OnceLock::new(),
            external: None,
            remote_parts: Vec::new(),
        };
        if trace.event_count > trace.first {
            let first = trace.event(trace.first)?;
            match first.event.body {
                EventBody::RunStarted(h) if first.number == 0 => trace.header = Some(h),
                EventBody::SegmentStarted {
                    run,
                    segment,
                    previous_head,
                } if first.number > 0 && previous_head == first.event.parent => {
                    trace.header = Some(run);
                    trace.segment_start = Some((segment, previous_head));
                }
                _ => {
                    return Err(Corruption {
                        offset: first.offset,
                        event: Some(0),
                        problem: Problem::MisplacedHeader,
                    }
                    .into())
                }
            }
        }
        Ok(trace)
    }

    fn empty(source: Source, file_len: u64, reason: String) -> Trace {
        Trace {
            source,
            version: crate::FORMAT_VERSION,
            file_len,
            frames_end: 0,
            layout: Layout::Blocks(Vec::new()),
            event_count: 0,
            first: 0,
            head: Digest::ZERO,
            blobs: BTreeMap::new(),
            recovery: Some(Recovery {
                valid_bytes: 0,
                dropped_bytes: file_len,
                dropped_events: 0,
                reason,
            }),
            stored_index: None,
            header: None,
            segment_start: None,
            seams: Vec::new(),
            segments: Vec::new(),
            block_cache: blocks::BlockCache::default(),
            inline: Default::default(),
            snapshots: std::sync::OnceLock::new(),
            external: None,
            remote_parts: Vec::new(),
        }
    }

    /// Reads the footer and index of a finished trace; `None` if there is no valid pair.
    fn open_finished(source: &Source, file_len: u64, blocks: bool) -> Option<Opened> {
        let footer_offset = file_len.checked_sub(FOOTER_FRAME_LEN)?;
        if footer_offset < HEADER_LEN {
            return None;
        }
        let mut reader = FrameReader::new(source, file_len);
        let frame = reader.frame(footer_offset).ok()?;
        if frame.kind != FrameKind::Footer {
            return None;
        }
        let footer = Footer::decode(&frame.payload)?;
        if footer.index_offset < HEADER_LEN || footer.index_offset >= footer_offset {
            return None;
        }
        let mut reader = FrameReader::new(source, footer_offset);
        let frame = reader.frame(footer.index_offset).ok()?;
        // The index must end exactly where the footer starts: a footer-shaped sequence
        // inside a blob cannot pass for the real one.
        if frame.kind != FrameKind::Index || frame.next_offset() != footer_offset {
            return None;
        }
        if blocks {
            blocks::from_index(&footer, &frame.payload)
        } else {
            legacy::from_index(&footer, &frame.payload)
        }
    }

    /// The run header (event 0); `None` only for an empty trace.
    pub fn header(&self) -> Option<&RunHeader> {
        self.header.as_ref()
    }

    /// The format version of the file (see [`crate::FORMAT_VERSION`]).
    pub fn format_version(&self) -> u32 {
        self.version
    }

    /// The number after the last event: the number of events, the run header included,
    /// for a trace that starts at event 0 (see [`Trace::first_event`]).
    pub fn event_count(&self) -> u64 {
        self.event_count
    }

    /// The number of the first event: 0, or where a segment file starts, or where the
    /// oldest segment a directory kept starts (older ones deleted by retention).
    pub fn first_event(&self) -> u64 {
        self.first
    }

    /// The segment files of a trace recorded to a directory, oldest first; empty for a
    /// trace file.
    pub fn segments(&self) -> &[SegmentInfo] {
        &self.segments
    }

    /// For a file that is a segment after the first: its number and the chain head of
    /// the segment before it.
    pub fn segment_start(&self) -> Option<(u64, Digest)> {
        self.segment_start
    }

    /// Where the next file's frames start, if `offset` is where one file's end.
    pub(crate) fn seam_after(&self, offset: u64) -> Option<u64> {
        self.seams
            .binary_search_by_key(&offset, |s| s.0)
            .ok()
            .map(|i| self.seams[i].1)
    }

    /// The chain value after the last event: identifies the run.
    pub fn head(&self) -> Digest {
        self.head
    }

    /// Size of the file in bytes.
    pub fn file_len(&self) -> u64 {
        self.file_len
    }

    /// Number of blocks (version 3); `None` for versions 1 and 2, which have none.
    pub fn block_count(&self) -> Option<u64> {
        match &self.layout {
            Layout::Blocks(b) => Some(b.len() as u64),
            Layout::Frames { .. } => None,
        }
    }

    /// Number of distinct blobs.
    pub fn blob_count(&self) -> u64 {
        self.blobs.len() as u64
    }

    /// Digests of every blob, in digest order.
    pub fn blob_digests(&self) -> impl Iterator<Item = &Digest> + '_ {
        self.blobs.keys()
    }

    /// `Some` when the trace had no valid footer and was opened by scanning.
    pub fn recovery(&self) -> Option<&Recovery> {
        self.recovery.as_ref()
    }

    /// The blob with this digest, checked against it; `None` if the trace has no such blob.
    pub fn blob(&self, digest: &Digest) -> Result<Option<Vec<u8>>, TraceError> {
        let Some(loc) = self.blobs.get(digest) else {
            return Ok(None);
        };
        let mut reader = FrameReader::new(&self.source, self.frames_end);
        let frame = reader.frame(loc.offset)?;
        let corrupt = |problem| -> TraceError {
            Corruption {
                offset: loc.offset,
                event: None,
                problem,
            }
            .into()
        };
        let bytes = match frame.kind {
            FrameKind::Block => {
                let block = crate::block::Block::decode(&frame.payload).map_err(corrupt)?;
                let start = loc.at.map_or(usize::MAX, |a| a as usize);
                let range = usize::try_from(loc.len)
                    .ok()
                    .and_then(|l| Some(start..start.checked_add(l)?))
                    .filter(|r| r.end <= block.raw.len())
                    .ok_or_else(|| {
                        corrupt(Problem::Index(format!(
                            "blob {digest} is not where the index says in its block"
                        )))
                    })?;
                let bytes = block.raw[range].to_vec();
                let computed = Digest::of(&bytes);
                if computed != *digest {
                    return Err(corrupt(Problem::BlobDigest {
                        stored: *digest,
                        computed,
                    }));
                }
                bytes
            }
            FrameKind::ZBlob => {
                let header = crate::block::ZBlobHeader::parse(&frame.payload).map_err(corrupt)?;
                if header.digest != *digest {
                    return Err(corrupt(Problem::Index(format!(
                        "blob {digest} is not at its indexed offset"
                    ))));
                }
                header.content(&frame.payload).map_err(corrupt)?
            }
            FrameKind::XBlob => {
                crate::source::resolve(self.external.as_ref(), loc.offset, &frame.payload)?
            }
            FrameKind::Blob => {
                let mut payload = frame.payload;
                if payload.len() < DIGEST_LEN || payload[..DIGEST_LEN] != digest.0 {
                    return Err(corrupt(Problem::Index(format!(
                        "blob {digest} is not at its indexed offset"
                    ))));
                }
                let bytes = payload.split_off(DIGEST_LEN);
                let computed = Digest::of(&bytes);
                if computed != *digest {
                    return Err(corrupt(Problem::BlobDigest {
                        stored: *digest,
                        computed,
                    }));
                }
                bytes
            }
            other => {
                return Err(corrupt(Problem::UnexpectedFrame {
                    expected: "blob",
                    found: other.name(),
                }))
            }
        };
        Ok(Some(bytes))
    }

    /// Reads frames in file order, for `verify`.
    pub(crate) fn frames(&self) -> Frames<'_> {
        self.frames_between(HEADER_LEN, self.frames_end)
    }

    /// Reads the frames from `start` until `end` (a frame that crosses `end` is
    /// truncated), for `verify` on several threads.
    pub(crate) fn frames_between(&self, start: u64, end: u64) -> Frames<'_> {
        let end = end.min(self.frames_end);
        Frames {
            reader: FrameReader::new(&self.source, end),
            offset: start.min(end),
        }
    }
}

/// Iterator over every frame before the index, for `verify`.
pub(crate) struct Frames<'a> {
    reader: FrameReader<'a>,
    offset: u64,
}

impl Iterator for Frames<'_> {
    type Item = Result<RawFrame, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.offset >= self.reader.end {
            return None;
        }
        match self.reader.frame(self.offset) {
            Ok(frame) => {
                self.offset = frame.next_offset();
                Some(Ok(frame))
            }
            Err(e) => {
                self.offset = self.reader.end;
                Some(Err(e))
            }
        }
    }
}
