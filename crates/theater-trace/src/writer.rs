//! The trace writer: append-only, buffered, crash-safe up to the last flush.
//!
//! The writer keeps whole frames in its buffer and hands them to the sink only at a
//! flush, so the sink always holds a prefix of the trace that ends on a frame boundary
//! (unless the process dies in the middle of a `write`, which leaves a torn tail that
//! the reader drops). A flush happens every [`WriterOptions::flush_every_events`]
//! events, when [`WriterOptions::flush_interval_ms`] have passed since the last flush
//! (checked on every append and by [`TraceWriter::flush_if_due`]), when the buffer
//! reaches [`WRITE_BUFFER_MAX_BYTES`], and on [`TraceWriter::finish`]. With
//! [`WriterOptions::fsync`] every flush, and `finish`, also sync the file to disk
//! (survives power loss, not just a process crash); without it nothing is synced, not
//! even at `finish`: syncing only the end would protect nothing but the last seconds
//! before the kernel writes the file back, at the price of a stall proportional to the
//! trace's size (3–4 ms per 7 MB here).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::codec::{encode_event, event_digest};
use crate::digest::Digest;
use crate::error::TraceError;
use crate::event::{Event, EventBody, Payload, RunHeader};
use crate::format::{
    file_header, push_frame, Footer, FrameKind, IndexRecord, FRAME_HEADER_LEN,
    FRAME_PAYLOAD_MAX_BYTES, HEADER_LEN,
};

/// The writer hands its buffer to the sink once it holds this many bytes, whatever the
/// flush policy says: bounds the writer's memory.
pub const WRITE_BUFFER_MAX_BYTES: usize = 1 << 20;

/// Default limit on a trace file's size: 16 GiB.
pub const TRACE_MAX_BYTES_DEFAULT: u64 = 16 << 30;

/// Default spacing of the seek index, in events.
pub const INDEX_EVERY_EVENTS_DEFAULT: u32 = 1024;

/// How the writer flushes and what it may write.
#[derive(Clone, Debug)]
pub struct WriterOptions {
    /// Flush after this many events (≥ 1). Default 1024.
    pub flush_every_events: u32,
    /// Flush when this much time has passed since the last flush. Default 100 ms.
    pub flush_interval_ms: u64,
    /// Sync the file to stable storage at every flush and at `finish`. Default off.
    pub fsync: bool,
    /// K: the index records the offset of every K-th event (≥ 1). A seek reads at most K
    /// event frames. Default [`INDEX_EVERY_EVENTS_DEFAULT`].
    pub index_every_events: u32,
    /// The writer refuses any frame that would make the file larger than this.
    /// Default [`TRACE_MAX_BYTES_DEFAULT`].
    pub trace_max_bytes: u64,
}

impl Default for WriterOptions {
    fn default() -> WriterOptions {
        WriterOptions {
            flush_every_events: 1024,
            flush_interval_ms: 100,
            fsync: false,
            index_every_events: INDEX_EVERY_EVENTS_DEFAULT,
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

/// What a finished trace holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceSummary {
    pub events: u64,
    pub blobs: u64,
    pub bytes: u64,
    pub head: Digest,
}

/// Writes a trace. The first event, the run header, is written by the constructor.
#[derive(Debug)]
pub struct TraceWriter<W: TraceSink> {
    sink: W,
    options: WriterOptions,
    buf: Vec<u8>,
    scratch: Vec<u8>,
    /// Bytes in the trace, buffered ones included.
    offset: u64,
    events: u64,
    head: Digest,
    /// Digest → (frame offset, length) of every blob written.
    blobs: BTreeMap<Digest, (u64, u64)>,
    /// Offset of every K-th event.
    event_offsets: Vec<u64>,
    unflushed_events: u32,
    last_flush: Instant,
    /// Events handed to the sink at the last flush, and the head at that moment.
    flushed: (u64, Digest),
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
        if options.flush_every_events == 0 || options.index_every_events == 0 {
            return Err(TraceError::Misuse(
                "flush_every_events and index_every_events must be at least 1",
            ));
        }
        let mut w = TraceWriter {
            sink,
            options,
            buf: Vec::with_capacity(64 << 10),
            scratch: Vec::with_capacity(256),
            offset: 0,
            events: 0,
            head: Digest::ZERO,
            blobs: BTreeMap::new(),
            event_offsets: Vec::new(),
            unflushed_events: 0,
            last_flush: Instant::now(),
            flushed: (0, Digest::ZERO),
        };
        w.reserve(HEADER_LEN)?;
        w.buf.extend_from_slice(&file_header());
        w.offset = HEADER_LEN;
        header.manifest = w.blob(manifest)?;
        w.push_event(EventBody::RunStarted(header))?;
        w.flush()?;
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
    pub fn payload(&mut self, bytes: &[u8]) -> Result<Payload, TraceError> {
        let payload = Payload::of(bytes);
        if let Payload::Blob { digest, .. } = &payload {
            self.store_blob(*digest, bytes)?;
        }
        Ok(payload)
    }

    /// Writes the blob frame for `bytes` (whose digest is `digest`) unless it is stored.
    fn store_blob(&mut self, digest: Digest, bytes: &[u8]) -> Result<(), TraceError> {
        if self.blobs.contains_key(&digest) {
            return Ok(());
        }
        let payload_len = 32 + bytes.len() as u64;
        if payload_len > FRAME_PAYLOAD_MAX_BYTES {
            return Err(TraceError::LimitExceeded {
                limit: "FRAME_PAYLOAD_MAX_BYTES",
                requested: payload_len,
                max: FRAME_PAYLOAD_MAX_BYTES,
            });
        }
        self.reserve(FRAME_HEADER_LEN + payload_len)?;
        push_frame(&mut self.buf, FrameKind::Blob, &[&digest.0, bytes]);
        self.blobs.insert(digest, (self.offset, bytes.len() as u64));
        self.offset += FRAME_HEADER_LEN + payload_len;
        self.flush_if_buffer_full()
    }

    /// Appends an event; returns its digest, the new chain head. Every blob the event
    /// references must have been stored with [`TraceWriter::blob`] or
    /// [`TraceWriter::payload`].
    pub fn append(&mut self, body: EventBody) -> Result<Digest, TraceError> {
        if matches!(body, EventBody::RunStarted(_)) {
            return Err(TraceError::Misuse(
                "the run header is written by TraceWriter::new",
            ));
        }
        self.check_blob_refs(&body)?;
        let digest = self.push_event(body)?;
        self.unflushed_events += 1;
        if self.unflushed_events >= self.options.flush_every_events
            || self.buf.len() >= WRITE_BUFFER_MAX_BYTES
            || self.flush_due()
        {
            self.flush()?;
        }
        Ok(digest)
    }

    /// Flushes if the flush interval has passed. A recorder calls this when idle, so a
    /// quiet run still reaches the disk on time.
    pub fn flush_if_due(&mut self) -> Result<(), TraceError> {
        if !self.buf.is_empty() && self.flush_due() {
            self.flush()?;
        }
        Ok(())
    }

    /// Hands every buffered frame to the sink (and syncs it with `fsync`).
    pub fn flush(&mut self) -> Result<(), TraceError> {
        self.sink
            .write_all(&self.buf)
            .and_then(|()| self.sink.flush())
            .map_err(|e| TraceError::io("writing the trace", e))?;
        self.buf.clear();
        if self.options.fsync {
            self.sink
                .sync()
                .map_err(|e| TraceError::io("syncing the trace", e))?;
        }
        self.unflushed_events = 0;
        self.last_flush = Instant::now();
        self.flushed = (self.events, self.head);
        Ok(())
    }

    /// Writes the index and footer, flushes (and syncs, with `fsync`), and returns the
    /// sink.
    pub fn finish(mut self) -> Result<(TraceSummary, W), TraceError> {
        let index = IndexRecord {
            every: self.options.index_every_events,
            event_count: self.events,
            head: self.head,
            event_offsets: std::mem::take(&mut self.event_offsets),
            blobs: self
                .blobs
                .iter()
                .map(|(d, &(offset, len))| (*d, offset, len))
                .collect(),
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

    /// The digest of the last event written.
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

    /// Bytes in the trace so far, buffered ones included.
    pub fn bytes(&self) -> u64 {
        self.offset
    }

    fn push_event(&mut self, body: EventBody) -> Result<Digest, TraceError> {
        let event = Event {
            parent: self.head,
            body,
        };
        self.scratch.clear();
        encode_event(&event, &mut self.scratch);
        let len = self.scratch.len() as u64;
        if len > FRAME_PAYLOAD_MAX_BYTES {
            return Err(TraceError::LimitExceeded {
                limit: "FRAME_PAYLOAD_MAX_BYTES (event)",
                requested: len,
                max: FRAME_PAYLOAD_MAX_BYTES,
            });
        }
        self.reserve(FRAME_HEADER_LEN + len)?;
        let digest = event_digest(&self.scratch);
        if self
            .events
            .is_multiple_of(u64::from(self.options.index_every_events))
        {
            self.event_offsets.push(self.offset);
        }
        push_frame(&mut self.buf, FrameKind::Event, &[&self.scratch]);
        self.offset += FRAME_HEADER_LEN + len;
        self.events += 1;
        self.head = digest;
        Ok(digest)
    }

    fn check_blob_refs(&self, body: &EventBody) -> Result<(), TraceError> {
        let mut missing = None;
        body.for_each_blob_ref(|d| {
            if missing.is_none() && !self.blobs.contains_key(d) {
                missing = Some(*d);
            }
        });
        if let Some(digest) = missing {
            return Err(TraceError::UnknownBlob { digest });
        }
        Ok(())
    }

    fn reserve(&self, frame_len: u64) -> Result<(), TraceError> {
        let requested = self.offset + frame_len;
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

    fn flush_if_buffer_full(&mut self) -> Result<(), TraceError> {
        if self.buf.len() >= WRITE_BUFFER_MAX_BYTES {
            self.flush()?;
        }
        Ok(())
    }
}
