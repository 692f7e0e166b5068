//! The trace writer: append-only, buffered, crash-safe up to the last flush.
//!
//! Events are collected into a block; a flush seals the block (compresses it into one
//! block frame) and hands every whole frame to the sink, so the sink always holds a
//! prefix of the trace that ends on a frame boundary (unless the process dies in the
//! middle of a `write`, which leaves a torn tail that the reader drops and reports). A
//! flush happens when the block holds [`WriterOptions::flush_every_events`] events or
//! [`WriterOptions::block_max_bytes`] bytes, when [`WriterOptions::flush_interval_ms`]
//! have passed since the last flush (checked on every append and by
//! [`TraceWriter::flush_if_due`]), and on [`TraceWriter::finish`]. Blobs are compressed
//! into their own frames as they are stored, always before the block that references
//! them; the buffer of whole frames goes to the sink early once it holds
//! [`WRITE_BUFFER_MAX_BYTES`]. With [`WriterOptions::fsync`] every flush, and `finish`,
//! also sync the file to disk (survives power loss, not just a process crash); without
//! it nothing is synced, not even at `finish`: syncing only the end would protect
//! nothing but the last seconds before the kernel writes the file back, at the price of
//! a stall proportional to the trace's size (3–4 ms per 7 MB here).
//!
//! Encoding, chaining and compression all happen in the caller's thread: the runtime
//! calls the writer on its recorder thread, never on the scheduler's.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::block::{
    compress, compressor, put_record_header, BlockHeader, ZBlobHeader, BLOCK_BLOB_MAX_BYTES,
};
use crate::codec::chain_link;
use crate::codec::wire::encode_body;
use crate::digest::Digest;
use crate::error::TraceError;
use crate::event::{EventBody, Payload, RunHeader};
use crate::format::{
    file_header, push_frame, Footer, FrameKind, IndexV3, BLOCK_HEADER_LEN, FRAME_HEADER_LEN,
    FRAME_PAYLOAD_MAX_BYTES, HEADER_LEN, ZBLOB_HEADER_LEN,
};
use crate::kinds::KindCounts;

mod options;

pub use options::{
    SegmentStart, TraceSink, TraceSummary, WriterOptions, BLOCK_MAX_BYTES_DEFAULT,
    FLUSH_EVERY_EVENTS_DEFAULT, TRACE_MAX_BYTES_DEFAULT, WRITE_BUFFER_MAX_BYTES,
};

/// Where a stored blob is: its frame (a zblob, or the block it is in), its length, and
/// for a blob in a block, where its bytes start in the block's raw bytes.
#[derive(Clone, Copy, Debug)]
struct BlobEntry {
    offset: u64,
    len: u64,
    at: Option<u32>,
}

/// The block being filled.
#[derive(Debug)]
struct OpenBlock {
    /// Its records: events and small blobs, each after its record header.
    raw: Vec<u8>,
    first_event: u64,
    count: u32,
    /// Its events' kinds.
    kinds: KindCounts,
    chain_before: Digest,
    /// The small blobs in `raw`: digest → (where its bytes start in `raw`, length).
    blobs: BTreeMap<Digest, (u32, u64)>,
}

/// Writes a trace. The first event, the run header, is written by the constructor.
pub struct TraceWriter<W: TraceSink> {
    sink: W,
    options: WriterOptions,
    /// Whole frames not yet handed to the sink.
    buf: Vec<u8>,
    block: OpenBlock,
    scratch: Vec<u8>,
    compressor: zstd::bulk::Compressor<'static>,
    /// Bytes of whole frames in the trace, buffered ones included.
    offset: u64,
    events: u64,
    head: Digest,
    /// Digest → where every blob in a sealed block or a zblob frame is.
    blobs: BTreeMap<Digest, BlobEntry>,
    /// (first event, frame offset, chain before) of every block.
    blocks: Vec<(u64, u64, Digest)>,
    /// The number of every snapshot event.
    snapshots: Vec<u64>,
    /// The kinds of every block's events, in the order of `blocks`.
    kinds: Vec<Vec<(u8, u32)>>,
    last_flush: Instant,
    /// Events handed to the sink at the last flush, and the head at that moment.
    flushed: (u64, Digest),
    /// Flushes only when asked ([`TraceWriter::defer_flushes`]).
    deferred: bool,
}

impl<W: TraceSink + std::fmt::Debug> std::fmt::Debug for TraceWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceWriter")
            .field("sink", &self.sink)
            .field("events", &self.events)
            .field("offset", &self.offset)
            .field("head", &self.head)
            .finish_non_exhaustive()
    }
}

impl TraceWriter<File> {
    /// Creates a new trace file at `path`; refuses to overwrite an existing file. See
    /// [`TraceWriter::new`].
    pub fn create(
        path: &Path,
        header: RunHeader,
        manifest: &[u8],
        options: WriterOptions,
    ) -> Result<TraceWriter<File>, TraceError> {
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| TraceError::io(format!("creating {}", path.display()), e))?;
        TraceWriter::new(file, header, manifest, options)
    }
}

impl<W: TraceSink> TraceWriter<W> {
    /// Starts a trace on `sink`: writes the file header, the manifest as a blob, and the
    /// run header as event 0 (its `manifest` field is set to the manifest's digest), then
    /// flushes, so a trace that exists always says what run it is.
    pub fn new(
        sink: W,
        mut header: RunHeader,
        manifest: &[u8],
        options: WriterOptions,
    ) -> Result<TraceWriter<W>, TraceError> {
        let mut w = TraceWriter::start(sink, options, 0, Digest::ZERO)?;
        header.manifest = w.blob(manifest)?;
        w.push_event(&EventBody::RunStarted(header))?;
        w.flush()?;
        Ok(w)
    }

    /// Starts a segment after the first (see [`EventBody::SegmentStarted`]): its events
    /// are numbered on from `start.first_event` and chained on from
    /// `start.previous_head`; the manifest is stored again and the `SegmentStarted`
    /// event is written and flushed. The caller registers the components again and
    /// writes a snapshot next, so the segment replays on its own.
    pub fn segment(
        sink: W,
        start: SegmentStart,
        manifest: &[u8],
        options: WriterOptions,
    ) -> Result<TraceWriter<W>, TraceError> {
        let SegmentStart {
            mut run,
            segment,
            first_event,
            previous_head,
        } = start;
        if first_event == 0 || segment == 0 {
            return Err(TraceError::Misuse(
                "a segment after the first starts after event 0",
            ));
        }
        let mut w = TraceWriter::start(sink, options, first_event, previous_head)?;
        run.manifest = w.blob(manifest)?;
        w.push_event(&EventBody::SegmentStarted {
            run,
            segment,
            previous_head,
        })?;
        w.flush()?;
        Ok(w)
    }

    fn start(
        sink: W,
        options: WriterOptions,
        first_event: u64,
        chain_before: Digest,
    ) -> Result<TraceWriter<W>, TraceError> {
        if options.flush_every_events == 0 || options.block_max_bytes == 0 {
            return Err(TraceError::Misuse(
                "flush_every_events and block_max_bytes must be at least 1",
            ));
        }
        let mut w = TraceWriter {
            sink,
            options,
            buf: Vec::with_capacity(64 << 10),
            block: OpenBlock {
                raw: Vec::with_capacity(64 << 10),
                first_event,
                count: 0,
                kinds: KindCounts::default(),
                chain_before,
                blobs: BTreeMap::new(),
            },
            scratch: Vec::with_capacity(256),
            compressor: compressor(),
            offset: 0,
            events: first_event,
            head: chain_before,
            blobs: BTreeMap::new(),
            blocks: Vec::new(),
            snapshots: Vec::new(),
            kinds: Vec::new(),
            last_flush: Instant::now(),
            flushed: (first_event, chain_before),
            deferred: false,
        };
        w.reserve(HEADER_LEN)?;
        w.buf.extend_from_slice(&file_header());
        w.offset = HEADER_LEN;
        Ok(w)
    }

    /// Stores `bytes` as a blob unless a blob with the same digest is already stored;
    /// returns the digest.
    pub fn blob(&mut self, bytes: &[u8]) -> Result<Digest, TraceError> {
        let digest = Digest::of(bytes);
        self.store_blob(digest, bytes)?;
        Ok(digest)
    }

    /// A payload for an event: inline when at most [`INLINE_PAYLOAD_MAX_BYTES`], else a
    /// blob (stored once however often it is used).
    ///
    /// [`INLINE_PAYLOAD_MAX_BYTES`]: crate::INLINE_PAYLOAD_MAX_BYTES
    pub fn payload(&mut self, bytes: &[u8]) -> Result<Payload, TraceError> {
        let payload = Payload::of(bytes);
        if let Payload::Blob { digest, .. } = &payload {
            self.store_blob(*digest, bytes)?;
        }
        Ok(payload)
    }

    /// Stores the blob `bytes` (whose digest is `digest`) unless it is stored: in the
    /// open block when it is small, else as a zblob frame.
    fn store_blob(&mut self, digest: Digest, bytes: &[u8]) -> Result<(), TraceError> {
        if self.has_blob(&digest) {
            return Ok(());
        }
        if bytes.len() > BLOCK_BLOB_MAX_BYTES {
            return self.write_zblob(digest, bytes);
        }
        let record = bytes.len() as u64 + 10;
        if self.block_overflows(record) {
            self.flush()?;
        }
        self.reserve_block(record)?;
        put_record_header(&mut self.block.raw, bytes.len(), true);
        let at = self.block.raw.len() as u32;
        self.block.raw.extend_from_slice(bytes);
        self.block.blobs.insert(digest, (at, bytes.len() as u64));
        Ok(())
    }

    /// Writes a zblob frame for `bytes`.
    fn write_zblob(&mut self, digest: Digest, bytes: &[u8]) -> Result<(), TraceError> {
        let max = FRAME_PAYLOAD_MAX_BYTES - ZBLOB_HEADER_LEN as u64;
        if bytes.len() as u64 > max {
            return Err(TraceError::LimitExceeded {
                limit: "FRAME_PAYLOAD_MAX_BYTES (blob)",
                requested: bytes.len() as u64,
                max,
            });
        }
        let (method, data) = compress(&mut self.compressor, bytes);
        let header = ZBlobHeader {
            digest,
            method,
            raw_len: bytes.len() as u64,
        }
        .encode();
        let frame_len = FRAME_HEADER_LEN + (header.len() + data.len()) as u64;
        self.reserve(frame_len)?;
        push_frame(&mut self.buf, FrameKind::ZBlob, &[&header, &data]);
        self.blobs.insert(
            digest,
            BlobEntry {
                offset: self.offset,
                len: bytes.len() as u64,
                at: None,
            },
        );
        self.offset += frame_len;
        if self.buf.len() >= WRITE_BUFFER_MAX_BYTES {
            self.write_out()?;
        }
        Ok(())
    }

    /// Whether a blob with this digest is stored (or in the open block).
    fn has_blob(&self, digest: &Digest) -> bool {
        self.blobs.contains_key(digest) || self.block.blobs.contains_key(digest)
    }

    /// Appends an event; returns the chain value after it, the new head. Every blob the
    /// event references must have been stored with [`TraceWriter::blob`] or
    /// [`TraceWriter::payload`].
    pub fn append(&mut self, body: EventBody) -> Result<Digest, TraceError> {
        if matches!(
            body,
            EventBody::RunStarted(_) | EventBody::SegmentStarted { .. }
        ) {
            return Err(TraceError::Misuse(
                "the run header is written by TraceWriter::new (a segment's by TraceWriter::segment)",
            ));
        }
        self.check_blob_refs(&body)?;
        let number = self.events;
        let digest = self.push_event(&body)?;
        if matches!(body, EventBody::Snapshot { .. }) {
            self.snapshots.push(number);
        }
        if !self.deferred && self.flush_wanted() {
            self.flush()?;
        }
        Ok(digest)
    }

    /// From now on the writer flushes only when its caller says so
    /// ([`TraceWriter::flush_if_wanted`], [`TraceWriter::flush_if_due`],
    /// [`TraceWriter::flush`]): a caller that calls them only between whole steps of a
    /// run gets blocks that end between steps, so a crash's torn tail never cuts a step
    /// in two. A block may then pass `flush_every_events` and `block_max_bytes` by what
    /// was appended since the caller last looked, never `FRAME_PAYLOAD_MAX_BYTES`.
    pub fn defer_flushes(&mut self) {
        self.deferred = true;
    }

    /// Flushes if the block is full (by count or bytes) or the flush interval passed.
    pub fn flush_if_wanted(&mut self) -> Result<(), TraceError> {
        if (self.block.count > 0 || !self.buf.is_empty()) && self.flush_wanted() {
            self.flush()?;
        }
        Ok(())
    }

    fn flush_wanted(&self) -> bool {
        self.block.count >= self.options.flush_every_events
            || self.block.raw.len() >= self.options.block_max_bytes as usize
            || self.flush_due()
    }

    /// Whether the open block must be sealed before `more` raw bytes go in: past
    /// `block_max_bytes` (unless flushes are deferred), or past what a frame can hold.
    fn block_overflows(&self, more: u64) -> bool {
        let after = self.block.raw.len() as u64 + more;
        !self.block.raw.is_empty()
            && ((!self.deferred && after > u64::from(self.options.block_max_bytes))
                || after > FRAME_PAYLOAD_MAX_BYTES - BLOCK_HEADER_LEN as u64)
    }

    /// Flushes if the flush interval has passed. A recorder calls this when idle, so a
    /// quiet run still reaches the disk on time.
    pub fn flush_if_due(&mut self) -> Result<(), TraceError> {
        if (self.block.count > 0 || !self.buf.is_empty()) && self.flush_due() {
            self.flush()?;
        }
        Ok(())
    }

    /// Seals the block and hands every buffered frame to the sink (and syncs it with
    /// `fsync`).
    pub fn flush(&mut self) -> Result<(), TraceError> {
        self.seal()?;
        self.write_out()?;
        if self.options.fsync {
            self.sink
                .sync()
                .map_err(|e| TraceError::io("syncing the trace", e))?;
        }
        self.last_flush = Instant::now();
        self.flushed = (self.events, self.head);
        Ok(())
    }

    /// Writes the index and footer, flushes (and syncs, with `fsync`), and returns the
    /// sink.
    pub fn finish(mut self) -> Result<(TraceSummary, W), TraceError> {
        self.seal()?;
        let index = IndexV3 {
            event_count: self.events,
            head: self.head,
            blocks: std::mem::take(&mut self.blocks),
            blobs: self
                .blobs
                .iter()
                .map(|(d, b)| (*d, b.offset, b.len, b.at))
                .collect(),
            snapshots: std::mem::take(&mut self.snapshots),
            kinds: std::mem::take(&mut self.kinds),
        };
        let encoded = rmp_serde::to_vec(&index).expect("encoding the index into a Vec cannot fail");
        let index_offset = self.offset;
        let footer = Footer {
            index_offset,
            event_count: self.events,
            head: self.head,
        }
        .encode();
        if encoded.len() as u64 > FRAME_PAYLOAD_MAX_BYTES {
            return Err(TraceError::LimitExceeded {
                limit: "FRAME_PAYLOAD_MAX_BYTES (index)",
                requested: encoded.len() as u64,
                max: FRAME_PAYLOAD_MAX_BYTES,
            });
        }
        // The index and footer may exceed `trace_max_bytes` by their own size: a full
        // trace must still be finishable.
        push_frame(&mut self.buf, FrameKind::Index, &[&encoded]);
        push_frame(&mut self.buf, FrameKind::Footer, &[&footer]);
        self.offset += 2 * FRAME_HEADER_LEN + encoded.len() as u64 + footer.len() as u64;
        self.flush()?;
        let summary = TraceSummary {
            events: self.events,
            blobs: self.blobs.len() as u64,
            bytes: self.offset,
            head: self.head,
        };
        Ok((summary, self.sink))
    }

    /// The chain value after the last event written.
    pub fn head(&self) -> Digest {
        self.head
    }

    /// Events written so far, the run header included.
    pub fn event_count(&self) -> u64 {
        self.events
    }

    /// How many events the last flush handed to the sink, and the chain head then: what
    /// survives if this process is killed now (and, with `fsync`, if the machine is).
    pub fn flushed(&self) -> (u64, Digest) {
        self.flushed
    }

    /// Bytes in the trace so far: whole frames, buffered ones included, plus the open
    /// block's events before compression.
    pub fn bytes(&self) -> u64 {
        self.offset + self.block.raw.len() as u64
    }

    fn push_event(&mut self, body: &EventBody) -> Result<Digest, TraceError> {
        self.scratch.clear();
        encode_body(body, &mut self.scratch).map_err(|e| TraceError::Misuse(e.0))?;
        let len = self.scratch.len();
        let framed = len as u64 + 10;
        let max = FRAME_PAYLOAD_MAX_BYTES - BLOCK_HEADER_LEN as u64;
        if framed > max {
            return Err(TraceError::LimitExceeded {
                limit: "FRAME_PAYLOAD_MAX_BYTES (event)",
                requested: framed,
                max,
            });
        }
        if self.block_overflows(framed) {
            self.flush()?;
        }
        self.reserve_block(framed)?;
        put_record_header(&mut self.block.raw, len, false);
        self.block.raw.extend_from_slice(&self.scratch);
        self.block.count += 1;
        self.block
            .kinds
            .add(self.scratch.first().copied().unwrap_or(u8::MAX));
        self.head = chain_link(&self.head, &self.scratch);
        self.events += 1;
        Ok(self.head)
    }

    /// Checks that the open block, `more` bytes larger, stays within `trace_max_bytes`.
    /// The block is counted at its raw size: compression never makes it larger than its
    /// stored form.
    fn reserve_block(&self, more: u64) -> Result<(), TraceError> {
        self.reserve(
            self.block.raw.len() as u64 + more + FRAME_HEADER_LEN + BLOCK_HEADER_LEN as u64,
        )
    }

    /// Compresses the open block into a block frame in the buffer. Small blobs in a
    /// block without events (stored, but not referenced yet) become zblob frames: a
    /// block holds at least one event.
    fn seal(&mut self) -> Result<(), TraceError> {
        if self.block.count == 0 {
            let blobs = std::mem::take(&mut self.block.blobs);
            let raw = std::mem::take(&mut self.block.raw);
            for (digest, (at, len)) in blobs {
                let at = at as usize;
                self.write_zblob(digest, &raw[at..at + len as usize])?;
            }
            return Ok(());
        }
        let (method, data) = compress(&mut self.compressor, &self.block.raw);
        let header = BlockHeader {
            first_event: self.block.first_event,
            count: self.block.count,
            raw_len: self.block.raw.len() as u32,
            chain_before: self.block.chain_before,
            method,
        }
        .encode();
        push_frame(&mut self.buf, FrameKind::Block, &[&header, &data]);
        self.blocks
            .push((self.block.first_event, self.offset, self.block.chain_before));
        self.kinds
            .push(std::mem::take(&mut self.block.kinds).to_wire());
        for (digest, (at, len)) in std::mem::take(&mut self.block.blobs) {
            self.blobs.insert(
                digest,
                BlobEntry {
                    offset: self.offset,
                    len,
                    at: Some(at),
                },
            );
        }
        self.offset += FRAME_HEADER_LEN + (header.len() + data.len()) as u64;
        self.block.raw.clear();
        self.block.count = 0;
        self.block.first_event = self.events;
        self.block.chain_before = self.head;
        Ok(())
    }

    /// Hands the buffered whole frames to the sink.
    fn write_out(&mut self) -> Result<(), TraceError> {
        self.sink
            .write_all(&self.buf)
            .and_then(|()| self.sink.flush())
            .map_err(|e| TraceError::io("writing the trace", e))?;
        self.buf.clear();
        Ok(())
    }

    fn check_blob_refs(&self, body: &EventBody) -> Result<(), TraceError> {
        let mut missing = None;
        body.for_each_blob_ref(|d| {
            if missing.is_none() && !self.has_blob(d) {
                missing = Some(*d);
            }
        });
        if let Some(digest) = missing {
            return Err(TraceError::UnknownBlob { digest });
        }
        Ok(())
    }

    fn reserve(&self, more: u64) -> Result<(), TraceError> {
        let requested = self.offset + more;
        if requested > self.options.trace_max_bytes {
            return Err(TraceError::LimitExceeded {
                limit: "trace_max_bytes",
                requested,
                max: self.options.trace_max_bytes,
            });
        }
        Ok(())
    }

    fn flush_due(&self) -> bool {
        self.last_flush.elapsed() >= Duration::from_millis(self.options.flush_interval_ms)
    }
}
