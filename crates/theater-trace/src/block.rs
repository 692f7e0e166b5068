//! Version 3 blocks and zblobs: how events and blobs are compressed.
//!
//! A block frame holds `count` consecutive events, each as a varint length and its
//! [`wire`](crate::codec::wire) encoding, compressed together; its header says which
//! event it starts with and the chain value before it, so a reader can start at any
//! block. A zblob frame holds one blob, compressed. Both store their data uncompressed
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
        // Every event takes at least two bytes (its length and its tag).
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
        METHOD_ZSTD => zstd::bulk::decompress(data, raw_len as usize)
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

    /// The encoded events, in order, checked to fill the raw bytes exactly `count` times.
    pub(crate) fn events(&self) -> Result<Vec<std::ops::Range<usize>>, Problem> {
        let mut out = Vec::with_capacity(self.header.count as usize);
        let mut at = 0usize;
        while at < self.raw.len() {
            let (len, n) = get_varint(&self.raw[at..])
                .map_err(|why| Problem::Block(format!("event length: {why}")))?;
            let start = at + n;
            let end = usize::try_from(len)
                .ok()
                .and_then(|l| start.checked_add(l))
                .filter(|&e| e <= self.raw.len())
                .ok_or_else(|| Problem::Block("an event runs past the end of its block".into()))?;
            out.push(start..end);
            at = end;
        }
        if out.len() != self.header.count as usize {
            return Err(Problem::Block(format!(
                "holds {} events, its header says {}",
                out.len(),
                self.header.count
            )));
        }
        Ok(out)
    }
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
