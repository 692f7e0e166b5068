//! Where a trace's bytes come from when they are not a local file: [`ByteSource`] (a
//! segment held elsewhere, an object read by range) and [`BlobSource`] (the blobs that
//! xblob frames name, fetched by digest). Every fetched blob frame is checked: its
//! checksum, that it is the zblob of that digest and length, and its bytes against the
//! digest.

use std::fmt::Debug;
use std::sync::Arc;

use crate::block::ZBlobHeader;
use crate::digest::{Digest, DIGEST_LEN};
use crate::error::{Corruption, Problem, TraceError};
use crate::format::{FrameHeader, FrameKind, FRAME_HEADER_LEN, XBLOB_PAYLOAD_LEN};

/// Random-access bytes of a trace file held elsewhere (an object in a store).
pub trait ByteSource: Send + Sync + Debug {
    /// The object's length in bytes.
    fn len(&self) -> u64;
    /// Whether it is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Fills `buf` with the bytes at `offset`.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()>;
}

/// Where the blobs that xblob frames name are fetched from.
pub trait BlobSource: Send + Sync + Debug {
    /// The stored zblob frame (header included) of the blob with this digest, or `None`
    /// when the store does not hold it.
    fn fetch(&self, digest: &Digest) -> std::io::Result<Option<Vec<u8>>>;
}

/// A shared blob source.
pub type SharedBlobSource = Arc<dyn BlobSource>;

/// The xblob frame's payload: the digest and length of a blob kept outside the file.
pub(crate) fn xblob_payload(digest: &Digest, raw_len: u64) -> [u8; XBLOB_PAYLOAD_LEN] {
    let mut p = [0u8; XBLOB_PAYLOAD_LEN];
    p[..DIGEST_LEN].copy_from_slice(&digest.0);
    p[DIGEST_LEN..].copy_from_slice(&raw_len.to_le_bytes());
    p
}

/// Reads an xblob frame's payload.
pub(crate) fn parse_xblob(payload: &[u8]) -> Result<(Digest, u64), Problem> {
    if payload.len() != XBLOB_PAYLOAD_LEN {
        return Err(Problem::Block(format!(
            "an xblob frame holds {XBLOB_PAYLOAD_LEN} bytes, this one {}",
            payload.len()
        )));
    }
    let mut d = [0u8; DIGEST_LEN];
    d.copy_from_slice(&payload[..DIGEST_LEN]);
    let len = u64::from_le_bytes(payload[DIGEST_LEN..].try_into().unwrap_or_default());
    Ok((Digest(d), len))
}

/// A fetched blob object checked: a whole zblob frame (checksum, header) holding the
/// blob with `digest` and `raw_len` bytes. Returns the zblob frame's header and payload.
pub(crate) fn check_fetched(
    digest: &Digest,
    raw_len: u64,
    object: &[u8],
) -> Result<(ZBlobHeader, Vec<u8>), Problem> {
    let bad = |why: String| Problem::Block(format!("blob {digest} in the store: {why}"));
    let head = object
        .get(..FRAME_HEADER_LEN as usize)
        .ok_or_else(|| bad("shorter than a frame header".into()))?;
    let header = FrameHeader::parse(0, head).map_err(|c| bad(c.problem.to_string()))?;
    let payload = object
        .get(FRAME_HEADER_LEN as usize..)
        .filter(|p| p.len() as u64 == header.len)
        .ok_or_else(|| bad("its length is not the frame's".into()))?;
    header
        .check(0, payload)
        .map_err(|c| bad(c.problem.to_string()))?;
    if header.kind != FrameKind::ZBlob {
        return Err(bad(format!("a {} frame, not a zblob", header.kind.name())));
    }
    let z = ZBlobHeader::parse(payload)?;
    if z.digest != *digest || z.raw_len != raw_len {
        return Err(bad(format!(
            "it holds blob {} of {} bytes, the segment names {raw_len} bytes",
            z.digest.short(),
            z.raw_len
        )));
    }
    Ok((z, payload.to_vec()))
}

/// Fetches and checks the blob an xblob frame at `offset` names; its bytes.
pub(crate) fn resolve(
    source: Option<&SharedBlobSource>,
    offset: u64,
    payload: &[u8],
) -> Result<Vec<u8>, TraceError> {
    let corrupt = |problem| -> TraceError {
        Corruption {
            offset,
            event: None,
            problem,
        }
        .into()
    };
    let (digest, raw_len) = parse_xblob(payload).map_err(corrupt)?;
    let object = fetch(source, &digest)?;
    let (z, payload) = check_fetched(&digest, raw_len, &object).map_err(corrupt)?;
    z.content(&payload).map_err(corrupt)
}

/// The stored object of a blob, or an error that names it.
pub(crate) fn fetch(
    source: Option<&SharedBlobSource>,
    digest: &Digest,
) -> Result<Vec<u8>, TraceError> {
    let Some(source) = source else {
        return Err(TraceError::Segments(format!(
            "blob {digest} is kept in an object store's blob prefix, and this trace was not opened from one"
        )));
    };
    match source.fetch(digest) {
        Ok(Some(object)) => Ok(object),
        Ok(None) => Err(TraceError::Segments(format!(
            "blob {digest} is missing from the store's blob prefix"
        ))),
        Err(e) => Err(TraceError::io(format!("fetching blob {digest}"), e)),
    }
}
