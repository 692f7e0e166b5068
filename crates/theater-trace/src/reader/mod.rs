//! Opening, iterating and seeking a trace.
//!
//! A finished trace opens from its footer and index: two small reads, whatever its size.
//! A trace without a valid footer (its writer crashed, or its end is damaged) opens by
//! scanning: every complete, intact frame from the start is kept, the rest is dropped and
//! described by [`Recovery`]. Either way, reading an event checks its frame checksum, and
//! [`Trace::verify`](crate::Trace::verify) checks everything else.

use std::collections::BTreeMap;
use std::fs::File;

use std::path::Path;
use std::sync::Mutex;

use crate::codec::{decode_event, event_digest};
use crate::digest::{Digest, DIGEST_LEN};
use crate::error::{Corruption, Problem, TraceError};
use crate::event::{Event, EventBody, RunHeader};
use crate::format::{
    check_file_header, Footer, FrameKind, IndexRecord, FOOTER_FRAME_LEN, FRAME_HEADER_LEN,
    HEADER_LEN,
};
use crate::writer::INDEX_EVERY_EVENTS_DEFAULT;

mod frames;

pub(crate) use frames::RawFrame;
use frames::{with_event, FrameReader, Source};

/// What was dropped when a trace without a valid footer was opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovery {
    /// Bytes kept: the header and every complete, intact frame.
    pub valid_bytes: u64,
    /// Bytes dropped after them.
    pub dropped_bytes: u64,
    /// Event frames among the dropped bytes that could be recognised (a torn event frame
    /// counts as one).
    pub dropped_events: u64,
    /// Why scanning stopped, e.g. a truncated or damaged frame.
    pub reason: String,
}

/// An event as read from a trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedEvent {
    /// Position in the trace; the run header is event 0.
    pub number: u64,
    /// Byte offset of the event's frame.
    pub offset: u64,
    /// The event's digest (what its child stores as `parent`).
    pub digest: Digest,
    pub event: Event,
}

/// Where a blob lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BlobLocation {
    pub(crate) offset: u64,
    pub(crate) len: u64,
}

/// An open trace.
#[derive(Debug)]
pub struct Trace {
    source: Source,
    pub(crate) file_len: u64,
    /// Frames end here: the index offset of a finished trace, else the end of the kept
    /// prefix.
    pub(crate) frames_end: u64,
    pub(crate) every: u32,
    pub(crate) event_offsets: Vec<u64>,
    pub(crate) event_count: u64,
    pub(crate) head: Digest,
    pub(crate) blobs: BTreeMap<Digest, BlobLocation>,
    pub(crate) recovery: Option<Recovery>,
    /// The index as stored, for `verify` to compare with the frames.
    pub(crate) stored_index: Option<(u64, IndexRecord)>,
    header: Option<RunHeader>,
}

impl Trace {
    /// Opens the trace file at `path`.
    pub fn open(path: &Path) -> Result<Trace, TraceError> {
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
        if let Err(c) = check_file_header(&head_bytes) {
            if let Problem::TruncatedFrame { .. } = c.problem {
                // A writer that died before finishing the 16-byte header: an empty trace.
                return Ok(Trace::empty(source, file_len, c.problem.to_string()));
            }
            return Err(c.into());
        }
        let mut trace = match Trace::open_finished(&source, file_len) {
            Some((footer, index_offset, index)) => Trace {
                file_len,
                frames_end: index_offset,
                every: index.every,
                event_offsets: index.event_offsets.clone(),
                event_count: footer.event_count,
                head: footer.head,
                blobs: index
                    .blobs
                    .iter()
                    .map(|&(d, offset, len)| (d, BlobLocation { offset, len }))
                    .collect(),
                recovery: None,
                stored_index: Some((index_offset, index)),
                header: None,
                source,
            },
            None => Trace::scan(source, file_len)?,
        };
        if trace.event_count > 0 {
            let first = trace.event(0)?;
            match first.event.body {
                EventBody::RunStarted(h) => trace.header = Some(h),
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
            file_len,
            frames_end: 0,
            every: INDEX_EVERY_EVENTS_DEFAULT,
            event_offsets: Vec::new(),
            event_count: 0,
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
        }
    }

    /// Reads the footer and index of a finished trace; `None` if there is no valid pair.
    fn open_finished(source: &Source, file_len: u64) -> Option<(Footer, u64, IndexRecord)> {
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
        let index: IndexRecord = rmp_serde::from_slice(&frame.payload).ok()?;
        let expected_offsets = index.event_count.div_ceil(u64::from(index.every.max(1)));
        let consistent = index.every > 0
            && index.event_count == footer.event_count
            && index.head == footer.head
            && index.event_offsets.len() as u64 == expected_offsets
            && index
                .event_offsets
                .iter()
                .all(|&o| o >= HEADER_LEN && o < footer.index_offset);
        consistent.then_some((footer, footer.index_offset, index))
    }

    /// Opens a trace without a valid footer by walking its frames.
    fn scan(source: Source, file_len: u64) -> Result<Trace, TraceError> {
        let every = INDEX_EVERY_EVENTS_DEFAULT;
        let mut event_offsets = Vec::new();
        let mut blobs = BTreeMap::new();
        let mut events = 0u64;
        let mut head = Digest::ZERO;
        let mut offset = HEADER_LEN;
        let mut reader = FrameReader::new(&source, file_len);
        let stop_reason = loop {
            if offset == file_len {
                break "the file ends after the last complete frame".to_string();
            }
            let frame = match reader.frame(offset) {
                Ok(f) => f,
                Err(TraceError::Corrupt(c)) => break c.problem.to_string(),
                Err(e) => return Err(e),
            };
            match frame.kind {
                FrameKind::Event => {
                    if events.is_multiple_of(u64::from(every)) {
                        event_offsets.push(offset);
                    }
                    head = event_digest(&frame.payload);
                    events += 1;
                }
                FrameKind::Blob => {
                    if frame.payload.len() < DIGEST_LEN {
                        break "blob frame shorter than a digest".to_string();
                    }
                    let digest = Digest(frame.payload[..DIGEST_LEN].try_into().unwrap_or_default());
                    blobs.entry(digest).or_insert(BlobLocation {
                        offset,
                        len: (frame.payload.len() - DIGEST_LEN) as u64,
                    });
                }
                // An index ends the frames. Without a valid footer after it (the writer
                // died between the two, or the footer is damaged) it adds nothing the
                // scan does not know, so it is dropped with the footer.
                FrameKind::Index => {
                    break "the footer after the index is missing or damaged".to_string()
                }
                FrameKind::Footer => break "a footer that does not match the trace".to_string(),
            }
            offset = frame.next_offset();
        };
        let dropped_events = u64::from(
            offset < file_len && {
                let mut kind = [0u8];
                source.read_at(offset, &mut kind)?;
                kind[0] == FrameKind::Event as u8
            },
        );
        Ok(Trace {
            file_len,
            frames_end: offset,
            every,
            event_offsets,
            event_count: events,
            head,
            blobs,
            recovery: Some(Recovery {
                valid_bytes: offset,
                dropped_bytes: file_len - offset,
                dropped_events,
                reason: stop_reason,
            }),
            stored_index: None,
            header: None,
            source,
        })
    }

    /// The run header (event 0); `None` only for an empty trace.
    pub fn header(&self) -> Option<&RunHeader> {
        self.header.as_ref()
    }

    /// Number of events, the run header included.
    pub fn event_count(&self) -> u64 {
        self.event_count
    }

    /// The digest of the last event: identifies the run.
    pub fn head(&self) -> Digest {
        self.head
    }

    /// Size of the file in bytes.
    pub fn file_len(&self) -> u64 {
        self.file_len
    }

    /// Number of distinct blobs.
    pub fn blob_count(&self) -> u64 {
        self.blobs.len() as u64
    }

    /// `Some` when the trace had no valid footer and was opened by scanning.
    pub fn recovery(&self) -> Option<&Recovery> {
        self.recovery.as_ref()
    }

    /// Event number `n`: reads at most K frames from the nearest index entry.
    pub fn event(&self, n: u64) -> Result<RecordedEvent, TraceError> {
        if n >= self.event_count {
            return Err(TraceError::EventOutOfRange {
                event: n,
                count: self.event_count,
            });
        }
        let every = u64::from(self.every);
        let slot = (n / every) as usize;
        let start = *self.event_offsets.get(slot).ok_or_else(|| {
            TraceError::from(Corruption {
                offset: self.frames_end,
                event: Some(n),
                problem: Problem::Index(format!(
                    "no index entry for event {}",
                    slot as u64 * every
                )),
            })
        })?;
        let mut iter = self.events_from_offset(start, slot as u64 * every);
        iter.skip_to = n;
        loop {
            match iter.next() {
                Some(Ok(e)) if e.number == n => return Ok(e),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => {
                    return Err(Corruption {
                        offset: iter.offset,
                        event: Some(n),
                        problem: Problem::Index("event not found where the index says".into()),
                    }
                    .into())
                }
            }
        }
    }

    /// All events in order.
    pub fn events(&self) -> Events<'_> {
        self.events_from(0)
    }

    /// Events from number `n` on (seeks via the index).
    pub fn events_from(&self, n: u64) -> Events<'_> {
        let every = u64::from(self.every);
        let slot = (n / every) as usize;
        match self.event_offsets.get(slot) {
            Some(&start) => {
                let mut iter = self.events_from_offset(start, slot as u64 * every);
                iter.skip_to = n;
                iter
            }
            None => {
                let mut iter = self.events_from_offset(self.frames_end, self.event_count);
                iter.done = true;
                iter
            }
        }
    }

    /// Events from where an earlier iterator stopped ([`Events::position`]): resumes
    /// without re-reading anything, so a reader that holds the trace can walk it in
    /// pieces.
    pub fn events_at(&self, at: EventPosition) -> Events<'_> {
        self.events_from_offset(at.offset, at.number)
    }

    fn events_from_offset(&self, offset: u64, number: u64) -> Events<'_> {
        Events {
            trace: self,
            reader: FrameReader::new(&self.source, self.frames_end),
            offset,
            number,
            skip_to: number,
            done: false,
        }
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
        if frame.kind != FrameKind::Blob {
            return Err(corrupt(Problem::UnexpectedFrame {
                expected: "blob",
                found: frame.kind.name(),
            }));
        }
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
        Ok(Some(bytes))
    }

    /// Reads frames in file order, for `verify`.
    pub(crate) fn frames(&self) -> Frames<'_> {
        Frames {
            reader: FrameReader::new(&self.source, self.frames_end),
            offset: HEADER_LEN.min(self.frames_end),
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

/// Where an [`Events`] iterator is: the frame it reads next, and that event's number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventPosition {
    offset: u64,
    number: u64,
}

impl EventPosition {
    /// The number of the next event.
    pub fn number(&self) -> u64 {
        self.number
    }
}

/// Iterator over events, decoding each and checking its frame.
pub struct Events<'a> {
    trace: &'a Trace,
    reader: FrameReader<'a>,
    offset: u64,
    /// Number of the next event frame.
    number: u64,
    /// Events before this one are skipped without decoding.
    skip_to: u64,
    done: bool,
}

impl std::fmt::Debug for Events<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events")
            .field("offset", &self.offset)
            .field("number", &self.number)
            .finish()
    }
}

impl Iterator for Events<'_> {
    type Item = Result<RecordedEvent, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done && self.number < self.trace.event_count {
            let result = self.step();
            match result {
                Ok(Some(event)) => return Some(Ok(event)),
                Ok(None) => {}
                Err(e) => {
                    self.done = true;
                    return Some(Err(with_event(e, self.number)));
                }
            }
        }
        None
    }
}

impl Events<'_> {
    /// Where the iterator is: resume there with [`Trace::events_at`]. Only meaningful
    /// between events yielded (not after an error); the start of a fresh trace is
    /// `Trace::events().position()`.
    pub fn position(&self) -> EventPosition {
        EventPosition {
            offset: self.offset,
            number: self.number,
        }
    }

    /// Advances one frame; returns an event when the frame was one to yield.
    fn step(&mut self) -> Result<Option<RecordedEvent>, TraceError> {
        let offset = self.offset;
        let header = self.reader.header(offset)?;
        self.offset += header.frame_len();
        // Every frame passed over is checked: a damaged kind byte must not turn an event
        // into something skipped, or shift the numbering of the events after it.
        let payload = self.reader.bytes(offset + FRAME_HEADER_LEN, header.len)?;
        header.check(offset, payload)?;
        match header.kind {
            FrameKind::Event => {}
            FrameKind::Blob => return Ok(None),
            FrameKind::Index | FrameKind::Footer => {
                return Err(Corruption {
                    offset,
                    event: Some(self.number),
                    problem: Problem::UnexpectedFrame {
                        expected: "blob or event",
                        found: header.kind.name(),
                    },
                }
                .into())
            }
        }
        let number = self.number;
        self.number += 1;
        if number < self.skip_to {
            return Ok(None);
        }
        let digest = event_digest(payload);
        let event = decode_event(payload).map_err(|why| Corruption {
            offset,
            event: Some(number),
            problem: Problem::UndecodableEvent(why),
        })?;
        Ok(Some(RecordedEvent {
            number,
            offset,
            digest,
            event,
        }))
    }
}
