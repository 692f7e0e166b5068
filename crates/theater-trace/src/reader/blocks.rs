//! Reading format version 3: events in compressed blocks, the chain derived from them.
//!
//! A block is read whole: its frame checksum is checked, it is decompressed, and its
//! events are split by their lengths. The chain value before a block comes from its
//! header; reading on from one block into the next checks that the next block's header
//! records the chain value the events before it hash to, so a replay notices tampering
//! at the first block boundary after it.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crate::block::{Block, BlockHeader, Record, ZBlobHeader};
use crate::codec::chain_link;
use crate::digest::Digest;
use crate::error::{Corruption, Problem, TraceError};
use crate::format::{Footer, FrameKind, IndexV3, FRAME_HEADER_LEN, HEADER_LEN};
use crate::kinds::KindCounts;

use super::frames::{FrameReader, Source};
use super::raw::RawEvent;
use super::{BlobLocation, BlockEntry, Events, Layout, Opened, Recovery, StoredIndex};

/// A block as read and checked: its frame's length, its header, its raw bytes and where
/// its events are in them. The trace keeps the last one read ([`BlockCache`]), so
/// iterators that resume in the same block (a replay reading in batches, a seek after a
/// seek) do not read and decompress it again.
#[derive(Debug)]
pub(crate) struct Decoded {
    pub(crate) frame_len: u64,
    pub(crate) header: BlockHeader,
    pub(crate) raw: Vec<u8>,
    /// Every record (events and blobs), in order.
    pub(crate) records: Vec<Record>,
    /// The events' records.
    ranges: Vec<Range<usize>>,
    /// The chain value after each event, from the header's chain value before the
    /// block; computed once, by the first reader that needs it.
    digests: OnceLock<Vec<Digest>>,
    /// One bit per event: a replay produced exactly its bytes from an event that needs
    /// no further check (see [`crate::vouchable`]), so an inline integrity check need
    /// not decode it.
    vouched: Box<[AtomicU64]>,
}

impl Decoded {
    /// Marks event `i` of the block vouched for (see `vouched`).
    pub(crate) fn vouch(&self, i: usize) {
        if let Some(word) = self.vouched.get(i / 64) {
            word.fetch_or(1 << (i % 64), Ordering::Relaxed);
        }
    }

    /// Whether event `i` of the block was vouched for.
    pub(crate) fn is_vouched(&self, i: usize) -> bool {
        self.vouched
            .get(i / 64)
            .is_some_and(|w| w.load(Ordering::Relaxed) & (1 << (i % 64)) != 0)
    }

    /// The number of events in the block.
    pub(crate) fn events(&self) -> usize {
        self.ranges.len()
    }

    /// The chain value after each event (see `digests`).
    pub(crate) fn digests(&self) -> &[Digest] {
        self.digests.get_or_init(|| {
            let mut chain = self.header.chain_before;
            self.ranges
                .iter()
                .map(|r| {
                    chain = chain_link(&chain, &self.raw[r.clone()]);
                    chain
                })
                .collect()
        })
    }
}

/// The last block a trace decoded, by frame offset.
#[derive(Debug, Default)]
pub(crate) struct BlockCache(Mutex<Option<(u64, Arc<Decoded>)>>);

impl BlockCache {
    fn get(&self, offset: u64) -> Option<Arc<Decoded>> {
        let cache = self.0.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .as_ref()
            .filter(|(o, _)| *o == offset)
            .map(|(_, d)| Arc::clone(d))
    }

    fn put(&self, offset: u64, block: Arc<Decoded>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some((offset, block));
    }
}

/// A block being read by an [`Events`] iterator.
#[derive(Debug)]
pub(crate) struct OpenBlock {
    pub(super) offset: u64,
    pub(super) first: u64,
    pub(super) chain_before: Digest,
    block: Arc<Decoded>,
    /// Index of the next event in `ranges`.
    pub(super) next: usize,
}

/// Takes a finished trace's footer and index payload; `None` if they are inconsistent.
pub(super) fn from_index(footer: &Footer, payload: &[u8]) -> Option<Opened> {
    let index: IndexV3 = rmp_serde::from_slice(payload).ok()?;
    let ordered = index.blocks.windows(2).all(|w| {
        let ((f0, o0, _), (f1, o1, _)) = (w[0], w[1]);
        f0 < f1 && o0 < o1
    });
    let consistent = ordered
        && index.event_count == footer.event_count
        && index.head == footer.head
        && index.blocks.is_empty() == (index.event_count == 0)
        // A segment after the first starts where the segment before it ended; the
        // reader checks its first event says so.
        && index
            .blocks
            .first()
            .is_none_or(|b| b.0 > 0 || b.2 == Digest::ZERO)
        && index.blocks.last().is_none_or(|b| b.0 < index.event_count)
        && index
            .blocks
            .iter()
            .all(|&(_, o, _)| o >= HEADER_LEN && o < footer.index_offset);
    // Counts that do not fit the block table are not used (verify reports them).
    let kinds: Vec<Option<KindCounts>> = if index.kinds.len() == index.blocks.len() {
        index
            .kinds
            .iter()
            .map(|k| KindCounts::from_wire(k))
            .collect()
    } else {
        Vec::new()
    };
    consistent.then(|| Opened {
        frames_end: footer.index_offset,
        layout: Layout::Blocks(
            index
                .blocks
                .iter()
                .enumerate()
                .map(|(i, &(first, offset, chain_before))| BlockEntry {
                    first,
                    offset,
                    chain_before,
                    kinds: kinds.get(i).copied().flatten(),
                })
                .collect(),
        ),
        event_count: footer.event_count,
        head: footer.head,
        blobs: index
            .blobs
            .iter()
            .map(|&(d, offset, len, at)| (d, BlobLocation { offset, len, at }))
            .collect(),
        recovery: None,
        stored_index: Some(StoredIndex::Blocks(footer.index_offset, index)),
    })
}

/// Opens a version 3 trace without a valid footer by walking its frames. Every block is
/// decompressed on the way (its small blobs are known only from its records); the chain
/// is computed over the last block only, from its header, to find the head.
pub(super) fn scan(source: &Source, file_len: u64) -> Result<Opened, TraceError> {
    let mut blocks = Vec::new();
    let mut blobs = BTreeMap::new();
    let mut events = 0u64;
    let mut offset = HEADER_LEN;
    let mut last: Option<Vec<u8>> = None;
    let mut reader = FrameReader::new(source, file_len);
    let mut stop_reason = loop {
        if offset == file_len {
            break "the file ends after the last complete frame".to_string();
        }
        let frame = match reader.frame(offset) {
            Ok(f) => f,
            Err(TraceError::Corrupt(c)) => break c.problem.to_string(),
            Err(e) => return Err(e),
        };
        match frame.kind {
            FrameKind::Block => {
                let header = match BlockHeader::parse(&frame.payload) {
                    Ok(h) => h,
                    Err(p) => break p.to_string(),
                };
                // The first block says where the file starts: event 0, or where the
                // segment before it ended.
                if blocks.is_empty() {
                    events = header.first_event;
                }
                if header.first_event != events {
                    break Problem::BlockNumbering {
                        expected: events,
                        found: header.first_event,
                    }
                    .to_string();
                }
                // The block's small blobs are only known from its records.
                let block = match Block::decode(&frame.payload).and_then(|b| {
                    let records = b.records()?;
                    Ok((b, records))
                }) {
                    Ok(b) => b,
                    Err(p) => break p.to_string(),
                };
                let mut kinds = KindCounts::default();
                for r in block.1.iter().filter(|r| !r.blob) {
                    kinds.add(block.0.raw.get(r.range.start).copied().unwrap_or(u8::MAX));
                }
                for r in block.1.iter().filter(|r| r.blob) {
                    let bytes = &block.0.raw[r.range.clone()];
                    blobs.entry(Digest::of(bytes)).or_insert(BlobLocation {
                        offset,
                        len: bytes.len() as u64,
                        at: Some(r.range.start as u32),
                    });
                }
                blocks.push(BlockEntry {
                    first: events,
                    offset,
                    chain_before: header.chain_before,
                    kinds: Some(kinds),
                });
                events += u64::from(header.count);
                offset = frame.next_offset();
                last = Some(frame.payload);
                continue;
            }
            FrameKind::ZBlob => {
                let header = match ZBlobHeader::parse(&frame.payload) {
                    Ok(h) => h,
                    Err(p) => break p.to_string(),
                };
                blobs.entry(header.digest).or_insert(BlobLocation {
                    offset,
                    len: header.raw_len,
                    at: None,
                });
            }
            FrameKind::XBlob => {
                let (digest, len) = match crate::source::parse_xblob(&frame.payload) {
                    Ok(x) => x,
                    Err(p) => break p.to_string(),
                };
                blobs.entry(digest).or_insert(BlobLocation {
                    offset,
                    len,
                    at: None,
                });
            }
            // An index ends the frames. Without a valid footer after it it adds nothing
            // the scan does not know, so it is dropped with the footer.
            FrameKind::Index => {
                break "the footer after the index is missing or damaged".to_string()
            }
            FrameKind::Footer => break "a footer that does not match the trace".to_string(),
            FrameKind::Event | FrameKind::Blob => {
                break format!(
                    "a version 2 {} frame in a version 3 trace",
                    frame.kind.name()
                )
            }
        }
        offset = frame.next_offset();
    };
    let mut head = Digest::ZERO;
    if let (Some(payload), Some(entry)) = (last, blocks.last().copied()) {
        match block_head(&payload) {
            Ok(h) => head = h,
            Err(p) => {
                // Intact bytes that do not decode: the block is dropped with the rest.
                stop_reason = p.to_string();
                events = entry.first;
                offset = entry.offset;
                blocks.pop();
                head = entry.chain_before;
            }
        }
    }
    Ok(Opened {
        frames_end: offset,
        layout: Layout::Blocks(blocks),
        event_count: events,
        head,
        blobs,
        recovery: Some(Recovery {
            valid_bytes: offset,
            dropped_bytes: file_len - offset,
            dropped_events: dropped_block_events(source, offset, file_len)?,
            reason: stop_reason,
        }),
        stored_index: None,
    })
}

/// The chain value after a block's events.
fn block_head(payload: &[u8]) -> Result<Digest, Problem> {
    let block = Block::decode(payload)?;
    let mut chain = block.header.chain_before;
    for r in block.events()? {
        chain = chain_link(&chain, &block.raw[r]);
    }
    Ok(chain)
}

/// How many events the torn or damaged frame at `offset` declares, if it is a block
/// whose count survived.
fn dropped_block_events(source: &Source, offset: u64, file_len: u64) -> Result<u64, TraceError> {
    let count_at = FRAME_HEADER_LEN + 8;
    if file_len.saturating_sub(offset) < count_at + 4 {
        return Ok(0);
    }
    let mut head = [0u8; (FRAME_HEADER_LEN + 12) as usize];
    source.read_at(offset, &mut head)?;
    if head[0] != FrameKind::Block as u8 {
        return Ok(0);
    }
    let at = count_at as usize;
    Ok(u64::from(u32::from_le_bytes(
        head[at..at + 4].try_into().unwrap_or_default(),
    )))
}

impl Events<'_> {
    /// Advances one event (or one frame, when no block is open) of a version 3 trace;
    /// returns an event when there was one to yield (not decoded: [`RawEvent`]).
    pub(super) fn step_block(&mut self) -> Result<Option<RawEvent>, TraceError> {
        let Some(block) = self.block.as_mut() else {
            self.open_block()?;
            return Ok(None);
        };
        // Events before `skip_to` (a seek into the block) are passed over at once: their
        // chain values are known. The last is still stepped through, to close the block.
        // (A block holds at least one event: its header is refused otherwise.)
        let skip = usize::try_from(self.skip_to.saturating_sub(block.first)).unwrap_or(usize::MAX);
        block.next = block
            .next
            .max(skip.min(block.block.ranges.len().saturating_sub(1)));
        let range = block.block.ranges[block.next].clone();
        let number = block.first + block.next as u64;
        let digests = block.block.digests();
        let parent = match block.next.checked_sub(1) {
            Some(i) => digests[i],
            None => block.chain_before,
        };
        let digest = digests[block.next];
        block.next += 1;
        let event = (number >= self.skip_to).then(|| {
            RawEvent::in_block(
                (number, block.offset),
                (parent, digest),
                Arc::clone(&block.block),
                range,
            )
        });
        if block.next == block.block.ranges.len() {
            self.chain = Some(digest);
            self.last_block_first = Some(block.first);
            self.block = None;
        }
        Ok(event)
    }

    /// Calls `f` with the number and tag of every event from here on (a fresh iterator),
    /// reading each block's frame and records but neither decoding nor hashing an event:
    /// a scan of a long trace's kinds at the speed of decompression. (The chain is not
    /// checked; whoever replays the events checks it.)
    /// Stops at the first block starting at or after event `end`.
    pub(super) fn for_each_tag(
        &mut self,
        end: u64,
        f: &mut dyn FnMut(u64, u8),
    ) -> Result<(), TraceError> {
        while self.number < end.min(self.trace.event_count) {
            self.chain = None;
            self.open_block()?;
            if let Some(b) = self.block.take() {
                for (i, r) in b.block.ranges.iter().enumerate() {
                    let tag = b.block.raw.get(r.start).copied().unwrap_or(u8::MAX);
                    f(b.first + i as u64, tag);
                }
            }
        }
        Ok(())
    }

    /// Reads the frame at `offset`: opens it if it is a block, passes a zblob by.
    fn open_block(&mut self) -> Result<(), TraceError> {
        // The frames of one segment file end here: the next block is the next file's
        // first.
        if let Some(next) = self.trace.seam_after(self.offset) {
            self.offset = next;
        }
        let offset = self.offset;
        let corrupt = |number, problem| -> TraceError {
            Corruption {
                offset,
                event: Some(number),
                problem,
            }
            .into()
        };
        let block = match self.trace.block_cache.get(offset) {
            Some(block) => block,
            None => {
                let header = self.reader.header(offset)?;
                let payload = self.reader.bytes(offset + FRAME_HEADER_LEN, header.len)?;
                header.check(offset, payload)?;
                match header.kind {
                    FrameKind::Block => {}
                    FrameKind::ZBlob | FrameKind::XBlob => {
                        self.offset += header.frame_len();
                        return Ok(());
                    }
                    other => {
                        return Err(corrupt(
                            self.number,
                            Problem::UnexpectedFrame {
                                expected: "block or zblob",
                                found: other.name(),
                            },
                        ))
                    }
                }
                let block = Block::decode(payload).map_err(|p| corrupt(self.number, p))?;
                let records = block.records().map_err(|p| corrupt(self.number, p))?;
                let ranges: Vec<_> = records
                    .iter()
                    .filter(|r| !r.blob)
                    .map(|r| r.range.clone())
                    .collect();
                if let Some(listed) = self.trace.listed_kinds(offset) {
                    let mut found = KindCounts::default();
                    for r in &ranges {
                        found.add(block.raw.get(r.start).copied().unwrap_or(u8::MAX));
                    }
                    if found != listed {
                        return Err(corrupt(
                            self.number,
                            Problem::Index(
                                "its event kinds for this block differ from the block's events"
                                    .into(),
                            ),
                        ));
                    }
                }
                let decoded = Arc::new(Decoded {
                    frame_len: header.frame_len(),
                    header: block.header,
                    raw: block.raw,
                    records,
                    vouched: (0..ranges.len().div_ceil(64))
                        .map(|_| AtomicU64::new(0))
                        .collect(),
                    ranges,
                    digests: OnceLock::new(),
                });
                self.trace.block_cache.put(offset, Arc::clone(&decoded));
                decoded
            }
        };
        self.offset += block.frame_len;
        let h = block.header;
        if h.first_event != self.number {
            return Err(corrupt(
                self.number,
                Problem::BlockNumbering {
                    expected: self.number,
                    found: h.first_event,
                },
            ));
        }
        if let Some(chain) = self.chain.filter(|c| *c != h.chain_before) {
            return Err(Corruption {
                offset,
                event: self.number.checked_sub(1),
                problem: Problem::AlteredBlock {
                    first: self.last_block_first.unwrap_or(0),
                    last: self.number.saturating_sub(1),
                    recorded: h.chain_before,
                    actual: chain,
                },
            }
            .into());
        }
        self.number = h.first_event + u64::from(h.count);
        self.block = Some(OpenBlock {
            offset,
            first: h.first_event,
            chain_before: h.chain_before,
            block,
            next: 0,
        });
        Ok(())
    }
}
