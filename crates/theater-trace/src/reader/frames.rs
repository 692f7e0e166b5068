//! Reading frames from a trace's bytes (a file or a buffer): random access in chunks,
//! every length checked against what is there before anything is allocated, and errors
//! that name the offset and, where known, the event.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::sync::Mutex;

use crate::error::{Corruption, Problem, TraceError};
use crate::format::{FrameHeader, FrameKind, FRAME_HEADER_LEN};

/// Bytes read at a time when walking frames.
const READ_CHUNK_BYTES: usize = 64 << 10;

/// Random-access bytes: a file or a buffer, or the files of a directory of segments
/// laid end to end.
#[derive(Debug)]
pub(super) enum Source {
    File(Mutex<File>),
    Memory(Vec<u8>),
    Parts(Vec<Part>),
    /// An object held elsewhere (a store), read by range.
    Remote(std::sync::Arc<dyn crate::source::ByteSource>),
}

/// One file of a [`Source::Parts`]: its bytes are offsets `base..base + len`.
#[derive(Debug)]
pub(super) struct Part {
    pub(super) base: u64,
    pub(super) len: u64,
    pub(super) source: Source,
}

impl Source {
    /// Where the bytes that `offset` is in end: a read never crosses from one file of a
    /// directory into the next.
    pub(super) fn limit(&self, offset: u64) -> u64 {
        match self {
            Source::Parts(parts) => parts
                .get(
                    parts
                        .partition_point(|p| p.base <= offset)
                        .saturating_sub(1),
                )
                .map_or(0, |p| p.base + p.len),
            _ => u64::MAX,
        }
    }

    pub(super) fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), TraceError> {
        match self {
            Source::Parts(parts) => {
                let i = parts
                    .partition_point(|p| p.base <= offset)
                    .saturating_sub(1);
                match parts.get(i) {
                    Some(p) if offset + buf.len() as u64 <= p.base + p.len => {
                        p.source.read_at(offset - p.base, buf)
                    }
                    _ => Err(TraceError::io(
                        format!(
                            "reading {} bytes at {offset} (across segment files)",
                            buf.len()
                        ),
                        std::io::ErrorKind::UnexpectedEof.into(),
                    )),
                }
            }
            Source::Memory(data) => {
                let start = usize::try_from(offset).ok();
                let slice = start.and_then(|s| data.get(s..s.checked_add(buf.len())?));
                match slice {
                    Some(s) => {
                        buf.copy_from_slice(s);
                        Ok(())
                    }
                    None => Err(TraceError::io(
                        format!("reading {} bytes at {offset}", buf.len()),
                        std::io::ErrorKind::UnexpectedEof.into(),
                    )),
                }
            }
            Source::Remote(remote) => remote
                .read_at(offset, buf)
                .map_err(|e| TraceError::io(format!("reading {} bytes at {offset}", buf.len()), e)),
            Source::File(file) => {
                // A poisoned lock only means another reader panicked mid-read; the file
                // handle itself is still usable because every read seeks first.
                let mut file = file.lock().unwrap_or_else(|p| p.into_inner());
                file.seek(SeekFrom::Start(offset))
                    .and_then(|_| file.read_exact(buf))
                    .map_err(|e| {
                        TraceError::io(format!("reading {} bytes at {offset}", buf.len()), e)
                    })
            }
        }
    }
}

/// Reads frames in order through a window of the source.
pub(super) struct FrameReader<'a> {
    source: &'a Source,
    /// Frames end here (the index offset of a finished trace, or the end of the data).
    pub(super) end: u64,
    buf: Vec<u8>,
    buf_start: u64,
}

/// A frame read from the source.
pub(crate) struct RawFrame {
    pub(crate) offset: u64,
    pub(crate) kind: FrameKind,
    pub(crate) payload: Vec<u8>,
}

impl RawFrame {
    pub(crate) fn next_offset(&self) -> u64 {
        self.offset + FRAME_HEADER_LEN + self.payload.len() as u64
    }
}

impl<'a> FrameReader<'a> {
    pub(super) fn new(source: &'a Source, end: u64) -> FrameReader<'a> {
        FrameReader {
            source,
            end,
            buf: Vec::new(),
            buf_start: 0,
        }
    }

    /// `n` bytes at `offset`, which the caller has checked lie before `end`.
    pub(super) fn bytes(&mut self, offset: u64, n: u64) -> Result<&[u8], TraceError> {
        let in_window =
            offset >= self.buf_start && offset + n <= self.buf_start + self.buf.len() as u64;
        if !in_window {
            let want = n
                .max(READ_CHUNK_BYTES as u64)
                .min(self.end - offset)
                .min(self.source.limit(offset).saturating_sub(offset));
            if want < n {
                return Err(truncated(offset, n, want));
            }
            self.buf.resize(want as usize, 0);
            self.source.read_at(offset, &mut self.buf)?;
            self.buf_start = offset;
        }
        let start = (offset - self.buf_start) as usize;
        Ok(&self.buf[start..start + n as usize])
    }

    pub(super) fn header(&mut self, offset: u64) -> Result<FrameHeader, TraceError> {
        let available = self.end.saturating_sub(offset);
        if available < FRAME_HEADER_LEN {
            return Err(truncated(offset, FRAME_HEADER_LEN, available));
        }
        let bytes = self.bytes(offset, FRAME_HEADER_LEN)?;
        let header = FrameHeader::parse(offset, bytes)?;
        if header.frame_len() > available {
            return Err(truncated(offset, header.frame_len(), available));
        }
        Ok(header)
    }

    /// Reads and checks the frame at `offset`.
    pub(super) fn frame(&mut self, offset: u64) -> Result<RawFrame, TraceError> {
        let header = self.header(offset)?;
        let payload = self.bytes(offset + FRAME_HEADER_LEN, header.len)?.to_vec();
        header.check(offset, &payload)?;
        Ok(RawFrame {
            offset,
            kind: header.kind,
            payload,
        })
    }
}

pub(super) fn truncated(offset: u64, needed: u64, available: u64) -> TraceError {
    Corruption {
        offset,
        event: None,
        problem: Problem::TruncatedFrame { needed, available },
    }
    .into()
}

pub(super) fn with_event(err: TraceError, event: u64) -> TraceError {
    match err {
        TraceError::Corrupt(mut c) => {
            c.event.get_or_insert(event);
            TraceError::Corrupt(c)
        }
        other => other,
    }
}
