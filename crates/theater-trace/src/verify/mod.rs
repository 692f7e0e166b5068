//! Full integrity check of a trace: every frame, event, chain value and blob.

use crate::digest::Digest;
use crate::error::{Corruption, Problem, TraceError};
use crate::event::{EventBody, Payload, INLINE_PAYLOAD_MAX_BYTES};
use crate::reader::{Layout, Recovery, Trace};

mod blocks;
mod inline;
mod legacy;
mod parallel;

pub use inline::InlineChecked;

/// What a successful [`Trace::verify`] checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// The number after the last event checked: the event count of a trace that starts
    /// at event 0.
    pub events: u64,
    pub blobs: u64,
    /// Bytes held in blobs (uncompressed).
    pub blob_bytes: u64,
    pub file_bytes: u64,
    pub head: Digest,
    /// Threads the blocks were checked on (1: the one-thread pass; see
    /// [`Trace::verify_jobs`]).
    pub threads: usize,
    /// Blocks checked as a replay's reader decoded them, without decompressing or
    /// hashing them again (see [`Trace::check_inline`]); 0 for a pass of its own.
    pub inline_blocks: u64,
    /// Of their events, those checked without being decoded: the replay produced them
    /// to the byte (see [`crate::vouchable`]).
    pub vouched_events: u64,
}

impl Trace {
    /// Recomputes every frame checksum, the event chain and every blob digest, checks
    /// that blobs precede their first reference and are stored once, that events are in
    /// canonical form (each is decoded, re-encoded and compared), that blocks are
    /// numbered without gaps, and that the index and footer agree with the frames.
    /// Returns the first problem found, by byte offset and event number. A trace opened
    /// by recovery (no valid footer) fails with [`Problem::Incomplete`] once its intact
    /// prefix has been checked.
    pub fn verify(&self) -> Result<VerifyReport, TraceError> {
        self.verify_jobs_with_progress(1, &mut |_, _| {})
    }

    /// [`Trace::verify`], calling `progress(bytes_checked, bytes_total)` as it goes.
    pub fn verify_with_progress(
        &self,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<VerifyReport, TraceError> {
        self.verify_jobs_with_progress(1, progress)
    }

    /// [`Trace::verify`] on up to `jobs` threads: the blocks of a version 3 trace are
    /// checked in ranges, one per thread, and the ranges joined in order (see
    /// `verify::parallel`). The result, and the problem reported when there is one, are
    /// those of the one-thread pass.
    pub fn verify_jobs(&self, jobs: usize) -> Result<VerifyReport, TraceError> {
        self.verify_jobs_with_progress(jobs, &mut |_, _| {})
    }

    /// [`Trace::verify_jobs`], calling `progress(bytes_checked, bytes_total)` as it goes.
    pub fn verify_jobs_with_progress(
        &self,
        jobs: usize,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<VerifyReport, TraceError> {
        if !self.segments.is_empty() {
            return self.verify_segments(jobs, progress);
        }
        match self.layout {
            Layout::Frames { .. } => self.verify_frames(progress),
            Layout::Blocks(_) => self.verify_blocks(jobs, progress),
        }
    }

    /// A directory of segments: each file verified on its own bytes (the links between
    /// them were checked when the directory was opened). A segment cut by a crash and
    /// continued by the next one (a resumed run) is fine once its intact prefix checks;
    /// only the last segment's cut is reported, as a trace file's would be.
    fn verify_segments(
        &self,
        jobs: usize,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<VerifyReport, TraceError> {
        let total = self.file_len;
        let mut sum = VerifyReport {
            events: 0,
            blobs: 0,
            blob_bytes: 0,
            file_bytes: 0,
            head: Digest::ZERO,
            threads: 1,
            inline_blocks: 0,
            vouched_events: 0,
        };
        let mut base = 0;
        for (i, s) in self.segments.iter().enumerate() {
            let t = self.open_segment(i)?;
            let last = i + 1 == self.segments.len();
            let report =
                t.verify_jobs_with_progress(jobs, &mut |done, _| progress(base + done, total));
            let report = match report {
                Ok(r) => r,
                Err(TraceError::Corrupt(c))
                    if !last && matches!(c.problem, Problem::Incomplete { .. }) =>
                {
                    VerifyReport {
                        events: s.end,
                        blobs: t.blob_count(),
                        blob_bytes: 0,
                        file_bytes: s.bytes,
                        head: s.head,
                        threads: 1,
                        inline_blocks: 0,
                        vouched_events: 0,
                    }
                }
                // The last segment cut: reported as a cut trace file's would be.
                Err(e @ TraceError::Corrupt(_)) if last && is_cut(&e) => return Err(e),
                Err(e) => return Err(in_segment(e, &s.path)),
            };
            sum.events = report.events;
            sum.blobs += report.blobs;
            sum.blob_bytes += report.blob_bytes;
            sum.file_bytes += report.file_bytes;
            sum.head = report.head;
            sum.threads = sum.threads.max(report.threads);
            base += s.bytes;
        }
        Ok(sum)
    }
}

fn is_cut(e: &TraceError) -> bool {
    matches!(e, TraceError::Corrupt(c) if matches!(c.problem, Problem::Incomplete { .. }))
}

/// Names the segment file an error is in (its offsets are the file's own).
fn in_segment(e: TraceError, path: &std::path::Path) -> TraceError {
    match e {
        TraceError::Corrupt(c) => TraceError::Segments(format!("{}: {c}", path.display())),
        other => other,
    }
}

/// The error for a trace opened by recovery, after `events` intact events.
fn incomplete(r: &Recovery, events: u64) -> TraceError {
    Corruption {
        offset: r.valid_bytes,
        event: Some(events),
        problem: Problem::Incomplete {
            dropped_bytes: r.dropped_bytes,
            reason: r.reason.clone(),
        },
    }
    .into()
}

/// Checks an event's payloads: inline ones at most `inline_max` bytes (the format's
/// inline limit), blob ones longer; `blob` checks a blob payload against the stored
/// blob (its digest, and the length the payload gives it).
fn check_payloads(
    body: &EventBody,
    inline_max: usize,
    mut blob: impl FnMut(&Digest, u64) -> Result<(), Problem>,
) -> Result<(), Problem> {
    let mut check = |p: &Payload| match p {
        Payload::Inline(b) if b.0.len() > inline_max => Err(Problem::NonCanonicalEvent(
            "inline payload longer than the format's inline limit",
        )),
        Payload::Blob { digest, len } => {
            blob(digest, *len)?;
            if *len <= inline_max as u64 {
                return Err(Problem::NonCanonicalEvent(
                    "blob payload short enough to be inline",
                ));
            }
            Ok(())
        }
        Payload::Inline(_) => Ok(()),
    };
    match body {
        EventBody::Input(d) | EventBody::Delivered(d) => check(&d.payload),
        EventBody::Refused { payload, .. } => check(payload),
        EventBody::HostCall {
            request, response, ..
        } => check(request).and_then(|()| check(response)),
        EventBody::Outputs(o) => o.sent.iter().try_for_each(|m| check(&m.payload)),
        _ => Ok(()),
    }
}

/// Whether an event a replay produced, and found recorded as exactly its bytes, needs no
/// decoding by an integrity check made inline (see [`Trace::check_inline`]): it is
/// neither a header, a segment start nor a snapshot, references no blob, and its
/// payloads are as the format wants them. Such an event's bytes are canonical (they are
/// its encoding) and what is left to check is where it stands, which needs no decoding.
pub fn vouchable(body: &EventBody) -> bool {
    if matches!(
        body,
        EventBody::RunStarted(_) | EventBody::SegmentStarted { .. } | EventBody::Snapshot { .. }
    ) {
        return false;
    }
    let mut blobs = false;
    body.for_each_blob_ref(|_| blobs = true);
    !blobs && check_payloads(body, INLINE_PAYLOAD_MAX_BYTES, |_, _| Ok(())).is_ok()
}

/// A blob payload of `referenced` bytes against the stored blob's length (`None`: not
/// stored).
fn same_length(digest: &Digest, stored: Option<u64>, referenced: u64) -> Result<(), Problem> {
    match stored {
        Some(stored) if stored == referenced => Ok(()),
        stored => Err(Problem::BlobLength {
            digest: *digest,
            stored: stored.unwrap_or(0),
            referenced,
        }),
    }
}
