//! The byte layout of `trace.bin`: file header, frames, index and footer.
//!
//! ```text
//! file    := header frame* [index footer]
//! header  := magic[8] = 89 'T' 'T' 'R' 'A' 'C' 'E' 0A
//!            version: u32 LE
//!            crc32(magic ‖ version): u32 LE                      (16 bytes)
//! frame   := kind: u8  len: u32 LE  crc32(kind ‖ len ‖ payload): u32 LE  payload[len]
//! kind    := 5 block   payload = first_event: u64 LE ‖ count: u32 LE ‖ raw_len: u32 LE
//!                                ‖ chain_before[32] ‖ method: u8 ‖ data
//!                      (raw = records: varint(len·2 + is_blob) ‖ bytes, holding
//!                       `count` events and the small blobs they reference;
//!                       data = raw, or zstd of raw)
//!          | 6 zblob   payload = digest[32] ‖ method: u8 ‖ raw_len: u64 LE ‖ data
//!                      (digest = blake3(raw))
//!          | 7 xblob   payload = digest[32] ‖ raw_len: u64 LE
//!                      (a segment in an object store: the zblob with this digest
//!                       is the object `blobs/<digest>` of the store)
//!          | 3 index   payload = MessagePack of `IndexV3`
//!          | 4 footer  payload = index_offset: u64 LE ‖ event_count: u64 LE
//!                                ‖ chain_head[32] ‖ "TTRCEND\n"   (56 bytes)
//! ```
//!
//! That is version 3, which this crate writes. Versions 1 and 2 had one frame per event
//! and uncompressed blobs instead of blocks and zblobs:
//!
//! ```text
//! kind    := 1 blob    payload = digest[32] ‖ bytes              (digest = blake3(bytes))
//!          | 2 event   payload = MessagePack of `Event`
//!          | 3 index   payload = MessagePack of `IndexRecord`
//! ```
//!
//! All integers in headers are little-endian and fixed-width. The checksum is CRC-32
//! (IEEE): it catches torn writes and bit rot; the blake3 hash chain over events and the
//! blake3 digest of every blob catch deliberate tampering. See `docs/trace-format.md`.

use serde::{Deserialize, Serialize};

use crate::digest::{Digest, DIGEST_LEN};
use crate::error::{Corruption, Problem};

/// Trace file magic. The high first byte and the trailing newline catch files mangled by
/// text-mode transfers, as PNG's magic does.
pub const MAGIC: [u8; 8] = *b"\x89TTRACE\n";

/// The version of the file format and event model this crate writes.
///
/// Version 2 added [`crate::EventBody::IngressDropped`], [`crate::HostFunction::HttpSend`]
/// and replies to external requests ([`crate::EXTERNAL`]); every version 1 trace is a
/// valid version 2 trace. Version 3 changed the bytes, not the event model: compressed
/// blocks of compactly encoded events, a derived chain, 128-bit state digests. This
/// crate reads all three and writes version 3.
pub const FORMAT_VERSION: u32 = 3;

/// The first version with blocks ([`FrameKind::Block`]) instead of event frames.
pub const FIRST_BLOCK_VERSION: u32 = 3;

/// The oldest format version this crate reads.
pub const FORMAT_VERSION_MIN: u32 = 1;

/// Length of the file header.
pub const HEADER_LEN: u64 = 16;

/// Length of a frame header (kind, length, checksum).
pub const FRAME_HEADER_LEN: u64 = 9;

/// The largest frame payload the format allows: 64 MiB. Bounds what a reader allocates
/// for any input, and so the largest component or payload a trace can hold.
pub const FRAME_PAYLOAD_MAX_BYTES: u64 = 64 << 20;

/// Magic at the end of the footer payload.
pub const FOOTER_MAGIC: [u8; 8] = *b"TTRCEND\n";

/// Length of the footer payload.
pub const FOOTER_PAYLOAD_LEN: u64 = 8 + 8 + DIGEST_LEN as u64 + 8;

/// Length of the whole footer frame; it is always the last bytes of a finished trace.
pub const FOOTER_FRAME_LEN: u64 = FRAME_HEADER_LEN + FOOTER_PAYLOAD_LEN;

/// Length of a block frame's fixed header, before its data.
pub const BLOCK_HEADER_LEN: usize = 8 + 4 + 4 + DIGEST_LEN + 1;

/// Length of a zblob frame's fixed header, before its data.
pub const ZBLOB_HEADER_LEN: usize = DIGEST_LEN + 1 + 8;

/// Length of an xblob frame's payload: the blob's digest and its length (u64 LE).
pub const XBLOB_PAYLOAD_LEN: usize = DIGEST_LEN + 8;

/// The kinds of frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameKind {
    /// Versions 1 and 2 only.
    Blob = 1,
    /// Versions 1 and 2 only.
    Event = 2,
    Index = 3,
    Footer = 4,
    /// Version 3: a compressed block of events.
    Block = 5,
    /// Version 3: a compressed blob.
    ZBlob = 6,
    /// Version 3, a segment in an object store: a blob kept outside the file, in the
    /// store's shared blob prefix, named by its digest (see [`crate::thin`]).
    XBlob = 7,
}

impl FrameKind {
    pub(crate) fn from_byte(b: u8) -> Option<FrameKind> {
        Some(match b {
            1 => FrameKind::Blob,
            2 => FrameKind::Event,
            3 => FrameKind::Index,
            4 => FrameKind::Footer,
            5 => FrameKind::Block,
            6 => FrameKind::ZBlob,
            7 => FrameKind::XBlob,
            _ => return None,
        })
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            FrameKind::Blob => "blob",
            FrameKind::Event => "event",
            FrameKind::Index => "index",
            FrameKind::Footer => "footer",
            FrameKind::Block => "block",
            FrameKind::ZBlob => "zblob",
            FrameKind::XBlob => "xblob",
        }
    }
}

/// The file header bytes.
pub(crate) fn file_header() -> [u8; HEADER_LEN as usize] {
    let mut h = [0u8; HEADER_LEN as usize];
    h[..8].copy_from_slice(&MAGIC);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    let crc = crc32fast::hash(&h[..12]);
    h[12..16].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Checks a file header and returns its version. `bytes` may be shorter than
/// [`HEADER_LEN`]; then the answer is whether it is a prefix of a valid header (a writer
/// that died while writing it).
pub(crate) fn check_file_header(bytes: &[u8]) -> Result<u32, Corruption> {
    let corrupt = |problem| Corruption {
        offset: 0,
        event: None,
        problem,
    };
    let n = bytes.len().min(8);
    if bytes[..n] != MAGIC[..n] {
        return Err(corrupt(Problem::BadMagic));
    }
    if bytes.len() < HEADER_LEN as usize {
        return Err(corrupt(Problem::TruncatedFrame {
            needed: HEADER_LEN,
            available: bytes.len() as u64,
        }));
    }
    let version = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    let crc = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]);
    if crc != crc32fast::hash(&bytes[..12]) {
        return Err(corrupt(Problem::HeaderChecksum));
    }
    if !(FORMAT_VERSION_MIN..=FORMAT_VERSION).contains(&version) {
        return Err(corrupt(Problem::UnsupportedVersion {
            version,
            supported: (FORMAT_VERSION_MIN, FORMAT_VERSION),
        }));
    }
    Ok(version)
}

/// Appends a frame to `out`.
pub(crate) fn push_frame(out: &mut Vec<u8>, kind: FrameKind, parts: &[&[u8]]) {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let len = u32::try_from(len).expect("frame length is checked against FRAME_PAYLOAD_MAX_BYTES");
    let mut crc = crc32fast::Hasher::new();
    let head = [kind as u8];
    crc.update(&head);
    crc.update(&len.to_le_bytes());
    for p in parts {
        crc.update(p);
    }
    out.push(kind as u8);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    for p in parts {
        out.extend_from_slice(p);
    }
}

/// A decoded frame header.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FrameHeader {
    pub(crate) kind: FrameKind,
    pub(crate) len: u64,
    pub(crate) crc: u32,
}

impl FrameHeader {
    /// Parses a frame header found at `offset`; `bytes` holds at least
    /// [`FRAME_HEADER_LEN`] bytes.
    pub(crate) fn parse(offset: u64, bytes: &[u8]) -> Result<FrameHeader, Corruption> {
        let corrupt = |problem| Corruption {
            offset,
            event: None,
            problem,
        };
        let kind =
            FrameKind::from_byte(bytes[0]).ok_or(corrupt(Problem::UnknownFrameKind(bytes[0])))?;
        let len = u64::from(u32::from_le_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]));
        let crc = u32::from_le_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]);
        if len > FRAME_PAYLOAD_MAX_BYTES {
            return Err(corrupt(Problem::FrameTooLarge {
                len,
                max: FRAME_PAYLOAD_MAX_BYTES,
            }));
        }
        Ok(FrameHeader { kind, len, crc })
    }

    /// Total length of the frame, header included.
    pub(crate) fn frame_len(&self) -> u64 {
        FRAME_HEADER_LEN + self.len
    }

    /// Checks the payload against the stored checksum.
    pub(crate) fn check(&self, offset: u64, payload: &[u8]) -> Result<(), Corruption> {
        let mut crc = crc32fast::Hasher::new();
        crc.update(&[self.kind as u8]);
        crc.update(&(self.len as u32).to_le_bytes());
        crc.update(payload);
        let computed = crc.finalize();
        if computed == self.crc {
            Ok(())
        } else {
            Err(Corruption {
                offset,
                event: None,
                problem: Problem::FrameChecksum {
                    stored: self.crc,
                    computed,
                },
            })
        }
    }
}

/// The index of a finished version 3 trace: where every block starts, the event it starts
/// with and the chain value before it, and where every blob is, so a reader can seek
/// without scanning.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct IndexV3 {
    pub(crate) event_count: u64,
    pub(crate) head: Digest,
    /// (first event, frame offset, chain before), in file order.
    pub(crate) blocks: Vec<(u64, u64, Digest)>,
    /// (digest, frame offset, length, where its bytes start in the block's raw bytes
    /// for a blob in a block), sorted by digest.
    pub(crate) blobs: Vec<(Digest, u64, u64, Option<u32>)>,
    /// The number of every snapshot event, in order (absent in an index written before
    /// snapshots existed: read as none, which such a trace has).
    #[serde(default)]
    pub(crate) snapshots: Vec<u64>,
    /// For every block, in the order of `blocks`: (tag, count) of each event kind it
    /// holds, by tag (absent in an index written before they were counted: the reader
    /// then counts them from the blocks when asked).
    #[serde(default)]
    pub(crate) kinds: Vec<Vec<(u8, u32)>>,
}

/// The index of a finished version 1 or 2 trace: where every K-th event starts and
/// where every blob is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct IndexRecord {
    /// K: `event_offsets[i]` is the offset of event `i * every`.
    pub(crate) every: u32,
    pub(crate) event_count: u64,
    pub(crate) head: Digest,
    pub(crate) event_offsets: Vec<u64>,
    /// (digest, frame offset, length), sorted by digest.
    pub(crate) blobs: Vec<(Digest, u64, u64)>,
}

/// The fixed-size footer: the last [`FOOTER_FRAME_LEN`] bytes of a finished trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Footer {
    pub(crate) index_offset: u64,
    pub(crate) event_count: u64,
    pub(crate) head: Digest,
}

impl Footer {
    pub(crate) fn encode(&self) -> [u8; FOOTER_PAYLOAD_LEN as usize] {
        let mut p = [0u8; FOOTER_PAYLOAD_LEN as usize];
        p[0..8].copy_from_slice(&self.index_offset.to_le_bytes());
        p[8..16].copy_from_slice(&self.event_count.to_le_bytes());
        p[16..48].copy_from_slice(&self.head.0);
        p[48..56].copy_from_slice(&FOOTER_MAGIC);
        p
    }

    /// Decodes a footer payload; `None` if it is not one.
    pub(crate) fn decode(p: &[u8]) -> Option<Footer> {
        if p.len() != FOOTER_PAYLOAD_LEN as usize || p[48..56] != FOOTER_MAGIC {
            return None;
        }
        Some(Footer {
            index_offset: u64::from_le_bytes(p[0..8].try_into().ok()?),
            event_count: u64::from_le_bytes(p[8..16].try_into().ok()?),
            head: Digest(p[16..48].try_into().ok()?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header_of(version: u32) -> Vec<u8> {
        let mut h = file_header().to_vec();
        h[8..12].copy_from_slice(&version.to_le_bytes());
        let crc = crc32fast::hash(&h[..12]);
        h[12..16].copy_from_slice(&crc.to_le_bytes());
        h
    }

    #[test]
    fn every_version_from_the_oldest_to_this_one_is_read() {
        for v in FORMAT_VERSION_MIN..=FORMAT_VERSION {
            check_file_header(&header_of(v)).unwrap();
        }
        for v in [0, FORMAT_VERSION + 1] {
            let e = check_file_header(&header_of(v)).unwrap_err();
            assert_eq!(
                e.problem,
                Problem::UnsupportedVersion {
                    version: v,
                    supported: (FORMAT_VERSION_MIN, FORMAT_VERSION)
                }
            );
            assert!(e.to_string().contains("reads versions 1 to 3"), "{e}");
        }
    }
}
