//! Version 3 blocks and zblobs: how events and blobs are compressed.
//!
//! A block frame holds `count` consecutive events, each as a record (a varint of its
//! length × 2, then its [`wire`](crate::codec::wire) encoding), and the small blobs
//! they reference (records of length × 2 + 1, then the blob's bytes), compressed
//! together, so small payloads compress against each other and the events; its header
//! says which event it starts with and the chain value before it, so a reader can start
//! at any block. A zblob frame holds one larger blob (a component, say), compressed. Both store their data uncompressed
//! (method 0) when zstd would not make it smaller. Everything read from a frame is
//! checked before it is trusted: the declared raw length is bounded by
//! [`FRAME_PAYLOAD_MAX_BYTES`] and must be exactly what decompression yields, and a
//! block's events must fill its raw bytes exactly.

use crate::codec::wire::get_varint;
use crate::digest::{Digest, DIGEST_LEN};
use crate::error::Problem;
use crate::format::{BLOCK_HEADER_LEN, FRAME_PAYLOAD_MAX_BYTES, ZBLOB_HEADER_LEN};

/// Data stored as is.
pub(crate) const METHOD_STORED: u8 = 0;
/// Data compressed with zstd (one zstd frame).
pub(crate) const METHOD_ZSTD: u8 = 1;

/// Blobs of at most this many bytes are stored inside the block of the event that first
/// references them, compressed with its events; larger ones get a zblob frame of their
/// own. 16 KiB: every message and HTTP exchange of the examples, none of their
/// components.
pub const BLOCK_BLOB_MAX_BYTES: usize = 16 << 10;

/// The zstd level the writer uses: level 3, zstd's default, compresses a trace block
/// about as well as levels 6–9 here at a third of their cost (see docs/benchmarks.md).
pub const ZSTD_LEVEL: i32 = 3;

/// The fixed header of a block frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BlockHeader {
    pub(crate) first_event: u64,
    pub(crate) count: u32,
    pub(crate) raw_len: u32,
    pub(crate) chain_before: Digest,
    pub(crate) method: u8,
}

impl BlockHeader {
    pub(crate) fn encode(&self) -> [u8; BLOCK_HEADER_LEN] {
        let mut h = [0u8; BLOCK_HEADER_LEN];
        h[0..8].copy_from_slice(&self.first_event.to_le_bytes());
        h[8..12].copy_from_slice(&self.count.to_le_bytes());
        h[12..16].copy_from_slice(&self.raw_len.to_le_bytes());
        h[16..48].copy_from_slice(&self.chain_before.0);
        h[48] = self.method;
        h
    }

    /// Parses the header at the start of a block frame's payload.
    pub(crate) fn parse(payload: &[u8]) -> Result<BlockHeader, Problem> {
        let h = payload
            .get(..BLOCK_HEADER_LEN)
            .ok_or_else(|| Problem::Block("shorter than a block header".into()))?;
        let mut chain = [0u8; DIGEST_LEN];
        chain.copy_from_slice(&h[16..48]);
        let header = BlockHeader {
            first_event: u64::from_le_bytes(h[0..8].try_into().unwrap_or_default()),
            count: u32::from_le_bytes(h[8..12].try_into().unwrap_or_default()),
            raw_len: u32::from_le_bytes(h[12..16].try_into().unwrap_or_default()),
            chain_before: Digest(chain),
            method: h[48],
        };
        if u64::from(header.raw_len) > FRAME_PAYLOAD_MAX_BYTES {
            return Err(Problem::Block(format!(
                "declares {} raw bytes, more than the {FRAME_PAYLOAD_MAX_BYTES}-byte maximum",
                header.raw_len
            )));
        }
        // Every event takes at least two bytes (its record header and its tag).
        if header.count == 0 || u64::from(header.count) * 2 > u64::from(header.raw_len) {
            return Err(Problem::Block(format!(
                "declares {} events in {} raw bytes",
                header.count, header.raw_len
            )));
        }
        Ok(header)
    }
}

/// Compresses `raw` for a frame: the method and the data.
pub(crate) fn compress(
    compressor: &mut zstd::bulk::Compressor<'static>,
    raw: &[u8],
) -> (u8, Vec<u8>) {
    match compressor.compress(raw) {
        Ok(data) if data.len() < raw.len() => (METHOD_ZSTD, data),
        // Incompressible (or, never seen, a zstd failure): stored as is.
        _ => (METHOD_STORED, raw.to_vec()),
    }
}

/// A new compressor at [`ZSTD_LEVEL`].
pub(crate) fn compressor() -> zstd::bulk::Compressor<'static> {
    // Creating a context fails only when the allocator does, as creating a Vec would.
    zstd::bulk::Compressor::new(ZSTD_LEVEL).expect("a zstd compression context")
}

/// Decompresses frame data that must come to exactly `raw_len` bytes.
pub(crate) fn decompress(method: u8, data: &[u8], raw_len: u64) -> Result<Vec<u8>, Problem> {
    if raw_len > FRAME_PAYLOAD_MAX_BYTES {
        return Err(Problem::Block(format!(
            "declares {raw_len} raw bytes, more than the {FRAME_PAYLOAD_MAX_BYTES}-byte maximum"
        )));
    }
    let raw = match method {
        METHOD_STORED => data.to_vec(),
        METHOD_ZSTD => unzstd(data, raw_len as usize)
            .map_err(|e| Problem::Block(format!("zstd data does not decompress: {e}")))?,
        m => return Err(Problem::Block(format!("unknown compression method {m}"))),
    };
    if raw.len() as u64 != raw_len {
        return Err(Problem::Block(format!(
            "decompresses to {} bytes, its header says {raw_len}",
            raw.len()
        )));
    }
    Ok(raw)
}

thread_local! {
    /// Each thread's zstd decompression context, made once: a context costs more to
    /// make (and free) than a small block costs to decompress.
    static UNZSTD: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

/// zstd `data` decompressed into at most `capacity` bytes, with this thread's context.
fn unzstd(data: &[u8], capacity: usize) -> std::io::Result<Vec<u8>> {
    UNZSTD.with(|cell| {
        let mut cell = cell.borrow_mut();
        let dctx = match cell.as_mut() {
            Some(d) => d,
            None => cell.insert(zstd::bulk::Decompressor::new()?),
        };
        dctx.decompress(data, capacity)
    })
}

/// A block frame's payload, decompressed.
#[derive(Debug)]
pub(crate) struct Block {
    pub(crate) header: BlockHeader,
    pub(crate) raw: Vec<u8>,
}

impl Block {
    /// Parses and decompresses a block frame's payload.
    pub(crate) fn decode(payload: &[u8]) -> Result<Block, Problem> {
        let header = BlockHeader::parse(payload)?;
        let raw = decompress(
            header.method,
            &payload[BLOCK_HEADER_LEN..],
            u64::from(header.raw_len),
        )?;
        Ok(Block { header, raw })
    }

    /// The block's records in order, checked to fill the raw bytes exactly and to hold
    /// `count` events.
    pub(crate) fn records(&self) -> Result<Vec<Record>, Problem> {
        let mut out = Vec::with_capacity(self.header.count as usize);
        let mut events = 0u64;
        let mut at = 0usize;
        while at < self.raw.len() {
            let (head, n) = get_varint(&self.raw[at..])
                .map_err(|why| Problem::Block(format!("record length: {why}")))?;
            let start = at + n;
            let end = usize::try_from(head >> 1)
                .ok()
                .and_then(|l| start.checked_add(l))
                .filter(|&e| e <= self.raw.len())
                .ok_or_else(|| Problem::Block("a record runs past the end of its block".into()))?;
            let blob = head & 1 == 1;
            events += u64::from(!blob);
            out.push(Record {
                blob,
                range: start..end,
            });
            at = end;
        }
        if events != u64::from(self.header.count) {
            return Err(Problem::Block(format!(
                "holds {events} events, its header says {}",
                self.header.count
            )));
        }
        Ok(out)
    }

    /// The encoded events, in order (the block's blobs left out).
    pub(crate) fn events(&self) -> Result<Vec<std::ops::Range<usize>>, Problem> {
        Ok(self
            .records()?
            .into_iter()
            .filter(|r| !r.blob)
            .map(|r| r.range)
            .collect())
    }
}

/// One record of a block's raw bytes: an event's encoding or a blob's bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) blob: bool,
    pub(crate) range: std::ops::Range<usize>,
}

/// Appends a record header for `len` bytes of an event (`blob` false) or a blob.
pub(crate) fn put_record_header(out: &mut Vec<u8>, len: usize, blob: bool) {
    crate::codec::wire::put_varint(out, (len as u64) << 1 | u64::from(blob));
}

/// The fixed header of a zblob frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ZBlobHeader {
    pub(crate) digest: Digest,
    pub(crate) method: u8,
    pub(crate) raw_len: u64,
}

impl ZBlobHeader {
    pub(crate) fn encode(&self) -> [u8; ZBLOB_HEADER_LEN] {
        let mut h = [0u8; ZBLOB_HEADER_LEN];
        h[..DIGEST_LEN].copy_from_slice(&self.digest.0);
        h[DIGEST_LEN] = self.method;
        h[DIGEST_LEN + 1..].copy_from_slice(&self.raw_len.to_le_bytes());
        h
    }

    pub(crate) fn parse(payload: &[u8]) -> Result<ZBlobHeader, Problem> {
        let h = payload
            .get(..ZBLOB_HEADER_LEN)
            .ok_or_else(|| Problem::Block("zblob frame shorter than its header".into()))?;
        let mut digest = [0u8; DIGEST_LEN];
        digest.copy_from_slice(&h[..DIGEST_LEN]);
        Ok(ZBlobHeader {
            digest: Digest(digest),
            method: h[DIGEST_LEN],
            raw_len: u64::from_le_bytes(h[DIGEST_LEN + 1..].try_into().unwrap_or_default()),
        })
    }

    /// The blob's bytes, checked against its digest.
    pub(crate) fn content(&self, payload: &[u8]) -> Result<Vec<u8>, Problem> {
        let bytes = decompress(self.method, &payload[ZBLOB_HEADER_LEN..], self.raw_len)?;
        let computed = Digest::of(&bytes);
        if computed != self.digest {
            return Err(Problem::BlobDigest {
                stored: self.digest,
                computed,
            });
        }
        Ok(bytes)
    }
}
