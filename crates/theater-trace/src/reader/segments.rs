//! A trace recorded to a directory: one file per segment (`segment-00000000.trace`,
//! `segment-00000001.trace`, …), opened as one trace.
//!
//! Each segment after the first starts with a `SegmentStarted` event whose chain value
//! before it is the head of the segment before, so the files laid end to end are one
//! chain. Opening checks that the numbers have no gap (a missing middle segment is named),
//! that each file continues the one before it (first event, chain head, run header), and
//! that only whole old segments are missing (retention): the trace then starts at its
//! oldest segment's first event. The files' bytes are read as one source, their offsets
//! laid end to end; an iterator steps from one file's last block to the next file's
//! first.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::digest::Digest;
use crate::error::TraceError;
use crate::event::EventBody;
use crate::format::HEADER_LEN;
use crate::source::{ByteSource, SharedBlobSource};

use super::frames::{Part, Source};
use super::{BlobLocation, BlockEntry, Layout, Recovery, Trace};

/// What one segment file of a directory holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Its number: 0 for the first segment of the run.
    pub number: u64,
    pub path: PathBuf,
    /// The number of its first event, and the number after its last.
    pub first_event: u64,
    pub end: u64,
    /// The chain value after its last event.
    pub head: Digest,
    pub bytes: u64,
    /// `Some` for a segment cut by a crash (the run was resumed in the next one) or,
    /// for the last, still being written.
    pub recovery: Option<Recovery>,
}

/// The file name of segment `n`.
pub fn segment_file_name(n: u64) -> String {
    format!("segment-{n:08}.trace")
}

/// The segment number a file name stands for (see [`segment_file_name`]).
pub fn segment_number(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("segment-")?.strip_suffix(".trace")?;
    if digits.len() < 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The segment files in `dir`, by number.
pub(crate) fn list(dir: &Path) -> Result<Vec<(u64, PathBuf)>, TraceError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| TraceError::io(format!("listing {}", dir.display()), e))?;
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| TraceError::io(format!("listing {}", dir.display()), e))?;
        if let Some(n) = entry.file_name().to_str().and_then(segment_number) {
            found.push((n, entry.path()));
        }
    }
    found.sort();
    Ok(found)
}

impl Trace {
    /// Opens a directory of segments as one trace.
    pub(super) fn open_segments(dir: &Path) -> Result<Trace, TraceError> {
        let files = list(dir)?;
        check_numbers(&files, &dir.display().to_string())?;
        let mut parts = Vec::with_capacity(files.len());
        for (n, path) in &files {
            let t = Trace::open_file(path)?;
            check_start(&t, *n, path)?;
            parts.push((t, path.clone()));
        }
        for w in parts.windows(2) {
            check_link(&w[0].0, &w[1].0, &w[1].1)?;
        }
        Ok(join(parts))
    }

    /// Opens a trace held elsewhere (in an object store): one trace file, or the segment
    /// files of a run (named `segment-NNNNNNNN.trace`), each read by range from its
    /// [`ByteSource`]; blobs kept outside the files (xblob frames) come from `blobs`.
    /// `location` names the run in errors and in [`SegmentInfo::path`]s.
    pub fn open_remote(
        location: &str,
        parts: Vec<RemotePart>,
        blobs: SharedBlobSource,
    ) -> Result<Trace, TraceError> {
        let named =
            |name: &str| PathBuf::from(format!("{}/{name}", location.trim_end_matches('/')));
        let open_part = |part: &RemotePart| -> Result<Trace, TraceError> {
            let mut t =
                Trace::from_source(Source::Remote(Arc::clone(&part.source)), part.source.len())?;
            t.external = Some(Arc::clone(&blobs));
            Ok(t)
        };
        let mut files: Vec<(u64, RemotePart)> = Vec::with_capacity(parts.len());
        let mut others = Vec::new();
        for part in parts {
            match segment_number(&part.name) {
                Some(n) => files.push((n, part)),
                None => others.push(part),
            }
        }
        if files.is_empty() {
            return match others.len() {
                1 => open_part(&others[0]),
                0 => Err(TraceError::Segments(format!(
                    "{location} holds no trace ({}, …)",
                    segment_file_name(0)
                ))),
                n => Err(TraceError::Segments(format!(
                    "{location} holds {n} objects and no segment files: name one trace"
                ))),
            };
        }
        files.sort_by_key(|f| f.0);
        check_numbers(&files, location)?;
        // Each open is a few reads by range (footer, index, first event): done side by
        // side, `REMOTE_OPENS_AT_ONCE` at a time, since a store's latency dominates.
        let mut opened = Vec::with_capacity(files.len());
        for chunk in files.chunks(REMOTE_OPENS_AT_ONCE) {
            let results: Vec<Result<Trace, TraceError>> = std::thread::scope(|s| {
                let handles: Vec<_> = chunk
                    .iter()
                    .map(|(_, part)| s.spawn(|| open_part(part)))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join().unwrap_or_else(|_| {
                            Err(TraceError::Segments("opening a segment panicked".into()))
                        })
                    })
                    .collect()
            });
            for ((n, part), t) in chunk.iter().zip(results) {
                let path = named(&part.name);
                let t = t?;
                check_start(&t, *n, &path)?;
                opened.push((t, path));
            }
        }
        for w in opened.windows(2) {
            check_link(&w[0].0, &w[1].0, &w[1].1)?;
        }
        let mut trace = join(opened);
        trace.external = Some(blobs);
        trace.remote_parts = files.into_iter().map(|(_, p)| p.source).collect();
        Ok(trace)
    }

    /// Segment `i` of a directory (or store) opened on its own.
    pub(crate) fn open_segment(&self, i: usize) -> Result<Trace, TraceError> {
        match self.remote_parts.get(i) {
            Some(source) => {
                let mut t = Trace::from_source(Source::Remote(Arc::clone(source)), source.len())?;
                t.external = self.external.clone();
                Ok(t)
            }
            None => Trace::open_file(&self.segments[i].path),
        }
    }
}

/// Segments of a stored trace opened at once (each on its own thread).
const REMOTE_OPENS_AT_ONCE: usize = 16;

/// One object of a trace held in a store: its file name and its bytes.
#[derive(Clone, Debug)]
pub struct RemotePart {
    /// The object's name under the run's prefix (`segment-00000000.trace`, …).
    pub name: String,
    pub source: Arc<dyn ByteSource>,
}

/// The segment numbers have no gap (only the oldest may be missing: retention).
fn check_numbers<T>(files: &[(u64, T)], location: &str) -> Result<(), TraceError> {
    if files.is_empty() {
        return Err(TraceError::Segments(format!(
            "{location} holds no segment files ({}, …)",
            segment_file_name(0)
        )));
    }
    for w in files.windows(2) {
        if w[1].0 != w[0].0 + 1 {
            let missing = if w[1].0 == w[0].0 + 2 {
                segment_file_name(w[0].0 + 1)
            } else {
                format!(
                    "{} to {}",
                    segment_file_name(w[0].0 + 1),
                    segment_file_name(w[1].0 - 1)
                )
            };
            return Err(TraceError::Segments(format!(
                "segment {missing} is missing from {location}: only the oldest segments may be deleted"
            )));
        }
    }
    Ok(())
}

/// Segment `n`'s file starts as segment `n` does.
fn check_start(t: &Trace, n: u64, path: &Path) -> Result<(), TraceError> {
    let bad = |why: String| Err(TraceError::Segments(format!("{}: {why}", path.display())));
    if t.format_version() < crate::format::FIRST_BLOCK_VERSION {
        return bad(format!(
            "a segment must be format version {} or later, this is version {}",
            crate::format::FIRST_BLOCK_VERSION,
            t.format_version()
        ));
    }
    if t.header().is_none() {
        return bad("the segment holds no events".into());
    }
    match (n, t.segment_start) {
        (0, None) => Ok(()),
        (n, Some((segment, _))) if segment == n => Ok(()),
        (n, Some((segment, _))) => bad(format!("its events say it is segment {segment}, not {n}")),
        (_, None) => bad("it starts with the run header, as only segment 0 may".into()),
    }
}

/// `next` (at `path`) continues `prev`: same run, the next event number, the same chain.
fn check_link(prev: &Trace, next: &Trace, path: &Path) -> Result<(), TraceError> {
    let linked = next.first == prev.event_count
        && next.segment_start.map(|s| s.1) == Some(prev.head)
        && next.header() == prev.header();
    if linked {
        return Ok(());
    }
    Err(TraceError::Segments(format!(
        "{} does not continue the segment before it: it starts at event {} after chain value {}, the segment before ends at event {} with chain head {}{}",
        path.display(),
        next.first,
        next.segment_start.map_or(Digest::ZERO, |s| s.1).short(),
        prev.event_count,
        prev.head.short(),
        if next.header() == prev.header() { "" } else { " (and its run header differs)" }
    )))
}

/// The segments' files as one trace: offsets laid end to end.
fn join(parts: Vec<(Trace, PathBuf)>) -> Trace {
    let mut sources = Vec::with_capacity(parts.len());
    let mut blocks: Vec<BlockEntry> = Vec::new();
    let mut blobs: BTreeMap<Digest, BlobLocation> = BTreeMap::new();
    let mut seams = Vec::new();
    let mut segments = Vec::with_capacity(parts.len());
    let mut snapshots = Vec::new();
    let mut base = 0u64;
    let mut frames_end = 0u64;
    let n = parts.len();
    let mut first_trace: Option<Trace> = None;
    let mut last = (0u64, Digest::ZERO, None);
    for (i, (mut t, path)) in parts.into_iter().enumerate() {
        if let Layout::Blocks(b) = &t.layout {
            blocks.extend(b.iter().map(|b| BlockEntry {
                offset: b.offset + base,
                ..*b
            }));
        }
        for (d, loc) in &t.blobs {
            blobs.entry(*d).or_insert(BlobLocation {
                offset: loc.offset + base,
                ..*loc
            });
        }
        // A segment's snapshots were listed (or scanned) when it was opened; a damaged
        // list leaves them to a scan of the whole trace.
        match t.snapshots() {
            Ok(s) => snapshots.extend_from_slice(s),
            Err(_) => snapshots.clear(),
        }
        frames_end = base + t.frames_end;
        if i + 1 < n {
            seams.push((frames_end, base + t.file_len + HEADER_LEN));
        }
        segments.push(SegmentInfo {
            number: t.segment_start.map_or(0, |s| s.0),
            path,
            first_event: t.first,
            end: t.event_count,
            head: t.head,
            bytes: t.file_len,
            recovery: t.recovery.clone(),
        });
        last = (t.event_count, t.head, t.recovery.clone());
        let len = t.file_len;
        let source = std::mem::replace(&mut t.source, Source::Memory(Vec::new()));
        sources.push(Part { base, len, source });
        base += len;
        if first_trace.is_none() {
            first_trace = Some(t);
        }
    }
    let first = first_trace.expect("a directory with segments has a first");
    let all_snapshots = std::sync::OnceLock::new();
    if segments.len() == 1 || !snapshots.is_empty() {
        let _ = all_snapshots.set(snapshots);
    }
    Trace {
        source: Source::Parts(sources),
        version: first.version,
        file_len: base,
        frames_end,
        layout: Layout::Blocks(blocks),
        event_count: last.0,
        first: first.first,
        head: last.1,
        blobs,
        recovery: last.2,
        stored_index: None,
        header: first.header,
        segment_start: first.segment_start,
        seams,
        segments,
        block_cache: Default::default(),
        inline: Default::default(),
        snapshots: all_snapshots,
        external: None,
        remote_parts: Vec::new(),
    }
}

impl Trace {
    /// For a fork (`theater-replay fork`): the parent's chain head and the parent event
    /// it goes on from, as its `Forked` event says. Only the setup before its first
    /// snapshot is read.
    pub fn fork_origin(&self) -> Result<Option<(Digest, u64)>, TraceError> {
        if self.first_event() == 0 {
            return Ok(None);
        }
        for e in self.events() {
            match e?.event.body {
                EventBody::SegmentStarted { .. } | EventBody::ComponentRegistered { .. } => {}
                EventBody::Forked { parent_head, at } => return Ok(Some((parent_head, at))),
                _ => return Ok(None),
            }
        }
        Ok(None)
    }
}
