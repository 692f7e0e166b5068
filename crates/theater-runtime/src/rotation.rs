//! Recording to a directory of segments: the recorder thread rotates to a new segment
//! file when the current one reaches a size or an age, and deletes the oldest whole
//! segments beyond a retention count.
//!
//! The recorder thread raises a flag when a segment is due (so the scheduler reads no
//! clock and no byte count); the scheduler, between two deliveries, hands over a rotate
//! message and then a snapshot of the whole system. The thread seals the segment (index
//! and footer, synced with `fsync`), and only then starts the next file: a
//! `SegmentStarted` event, the components registered again, then the snapshot, so the
//! new segment verifies and replays on its own bytes. Sealing first means a crash
//! during a rotation leaves a sealed segment and, at worst, a next one holding only its
//! first events: the directory still opens as one trace.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use theater_trace::{
    segment_file_name, segment_number, EventBody, RunHeader, SegmentStart, TraceError,
    TraceSummary, TraceWriter, WriterOptions,
};

use crate::error::RuntimeError;

/// When to rotate and what to keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentPolicy {
    /// Rotate once a segment holds this many bytes (checked after each batch, so a
    /// segment ends at most a batch past it). Default [`SegmentPolicy::BYTES_DEFAULT`].
    pub bytes: u64,
    /// Rotate once a segment is this old, in milliseconds (0: never by age). Default
    /// [`SegmentPolicy::MS_DEFAULT`].
    pub ms: u64,
    /// Keep at most this many segments, deleting the oldest whole ones (`None`: keep
    /// all). The rest still opens, seeks and verifies from its oldest snapshot.
    pub keep: Option<u64>,
}

impl SegmentPolicy {
    /// 64 MiB: at the runtime bench's 28 bytes per delivery, about 2.4M deliveries, a
    /// fraction of a second to verify on its own; small enough to ship and delete whole.
    pub const BYTES_DEFAULT: u64 = 64 << 20;
    /// One hour: a quiet run still rotates, so retention can work by age too.
    pub const MS_DEFAULT: u64 = 3_600_000;
}

impl Default for SegmentPolicy {
    fn default() -> SegmentPolicy {
        SegmentPolicy {
            bytes: Self::BYTES_DEFAULT,
            ms: Self::MS_DEFAULT,
            keep: None,
        }
    }
}

/// What the recorder thread needs to start a segment on its own.
#[derive(Clone, Debug)]
pub struct SegmentPlan {
    /// The directory the segments go in.
    pub dir: PathBuf,
    pub run: RunHeader,
    pub manifest: Vec<u8>,
    /// Every component, by name, as the run registers them.
    pub components: Vec<(String, Vec<u8>)>,
    pub options: WriterOptions,
    pub policy: SegmentPolicy,
}

impl SegmentPlan {
    /// The plan for recording the run `spec` describes into `dir`.
    pub fn for_run(
        dir: &Path,
        spec: &crate::spec::SystemSpec,
        options: WriterOptions,
        policy: SegmentPolicy,
    ) -> SegmentPlan {
        SegmentPlan {
            dir: dir.to_path_buf(),
            run: crate::run_header(spec),
            manifest: spec.manifest_bytes(),
            components: spec
                .components
                .iter()
                .map(|c| (c.name.clone(), c.bytes.clone()))
                .collect(),
            options,
            policy,
        }
    }
}

/// The recorder thread's side of rotation.
#[derive(Debug)]
pub struct Segmenter {
    plan: SegmentPlan,
    /// The number of the segment being written.
    number: u64,
    started: Instant,
    /// Raised when the segment is due; the scheduler lowers it when it rotates.
    pub(crate) wanted: Arc<AtomicBool>,
    /// Bytes and blobs of the segments sealed so far.
    sealed_bytes: u64,
    sealed_blobs: u64,
}

impl Segmenter {
    /// Creates `plan.dir` (it must not hold segments already) and segment 0's writer,
    /// its run header written.
    pub fn create(plan: SegmentPlan) -> Result<(TraceWriter<File>, Segmenter), RuntimeError> {
        std::fs::create_dir_all(&plan.dir).map_err(|e| io(&plan.dir, "creating", e))?;
        let listing = std::fs::read_dir(&plan.dir).map_err(|e| io(&plan.dir, "listing", e))?;
        for entry in listing {
            let entry = entry.map_err(|e| io(&plan.dir, "listing", e))?;
            if let Some(name) = entry
                .file_name()
                .to_str()
                .filter(|n| segment_number(n).is_some())
            {
                return Err(RuntimeError::Trace(TraceError::Io {
                    context: format!("{} already holds a recording ({name})", plan.dir.display()),
                    source: std::io::ErrorKind::AlreadyExists.into(),
                }));
            }
        }
        let path = plan.dir.join(segment_file_name(0));
        let writer = TraceWriter::create(
            &path,
            plan.run.clone(),
            &plan.manifest,
            plan.options.clone(),
        )?;
        sync_dir(&plan.dir, plan.options.fsync)?;
        Ok((
            writer,
            Segmenter {
                plan,
                number: 0,
                started: Instant::now(),
                wanted: Arc::new(AtomicBool::new(false)),
                sealed_bytes: 0,
                sealed_blobs: 0,
            },
        ))
    }

    /// Starts segment `number` of the recording in `plan.dir` for a resumed run: its
    /// first event is `first_event`, after the chain head `previous_head` (the end of
    /// the trace the run was rebuilt from); the `SegmentStarted` and the components are
    /// written, the caller writes the `Resumed` event and a snapshot next.
    pub fn resume(
        plan: SegmentPlan,
        number: u64,
        first_event: u64,
        previous_head: theater_trace::Digest,
    ) -> Result<(TraceWriter<File>, Segmenter), RuntimeError> {
        let mut segmenter = Segmenter {
            plan,
            number: number.saturating_sub(1),
            started: Instant::now(),
            wanted: Arc::new(AtomicBool::new(false)),
            sealed_bytes: 0,
            sealed_blobs: 0,
        };
        let writer = segmenter.start_next(first_event, previous_head)?;
        segmenter.retain()?;
        Ok((writer, segmenter))
    }

    /// The writer options every segment is written with.
    pub fn options(&self) -> &WriterOptions {
        &self.plan.options
    }

    /// Events a rotation writes before the scheduler's snapshot: `SegmentStarted` and one
    /// `ComponentRegistered` per component.
    pub(crate) fn events_per_rotation(&self) -> u64 {
        1 + self.plan.components.len() as u64
    }

    /// After a batch: raises the flag if the segment is due.
    pub(crate) fn check(&self, writer: &TraceWriter<File>) {
        let p = &self.plan.policy;
        let by_age = p.ms > 0 && self.started.elapsed() >= Duration::from_millis(p.ms);
        if writer.bytes() >= p.bytes || by_age {
            self.wanted.store(true, Ordering::Relaxed);
        }
    }

    /// Seals the segment in `slot` and puts the next one's writer there, its first
    /// events written; then applies retention.
    pub(crate) fn rotate(
        &mut self,
        slot: &mut Option<TraceWriter<File>>,
    ) -> Result<(), RuntimeError> {
        let old = slot
            .take()
            .ok_or(RuntimeError::Trace(TraceError::Misuse("no segment open")))?;
        let (summary, _) = old.finish()?;
        self.sealed_bytes += summary.bytes;
        self.sealed_blobs += summary.blobs;
        let mut w = self.start_next(summary.events, summary.head)?;
        w.defer_flushes();
        *slot = Some(w);
        self.started = Instant::now();
        self.retain()
    }

    /// Creates the next segment file and writes its first events.
    fn start_next(
        &mut self,
        first_event: u64,
        previous_head: theater_trace::Digest,
    ) -> Result<TraceWriter<File>, RuntimeError> {
        self.number += 1;
        let path = self.plan.dir.join(segment_file_name(self.number));
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| io(&path, "creating", e))?;
        let start = SegmentStart {
            run: self.plan.run.clone(),
            segment: self.number,
            first_event,
            previous_head,
        };
        let mut w =
            TraceWriter::segment(file, start, &self.plan.manifest, self.plan.options.clone())?;
        for (name, bytes) in &self.plan.components {
            let component = w.blob(bytes)?;
            w.append(EventBody::ComponentRegistered {
                name: name.clone(),
                component,
            })?;
        }
        sync_dir(&self.plan.dir, self.plan.options.fsync)?;
        self.started = Instant::now();
        Ok(w)
    }

    /// Deletes the oldest segments beyond the retention count.
    fn retain(&self) -> Result<(), RuntimeError> {
        let Some(keep) = self.plan.policy.keep else {
            return Ok(());
        };
        let keep = keep.max(1);
        let oldest_kept = (self.number + 1).saturating_sub(keep);
        for n in (0..oldest_kept).rev() {
            let path = self.plan.dir.join(segment_file_name(n));
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                // Deleted by an earlier rotation: so is every older one.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                Err(e) => return Err(io(&path, "deleting", e)),
            }
        }
        Ok(())
    }

    /// The whole recording's summary, from the last segment's.
    pub(crate) fn total(&self, last: TraceSummary) -> TraceSummary {
        TraceSummary {
            bytes: last.bytes + self.sealed_bytes,
            blobs: last.blobs + self.sealed_blobs,
            ..last
        }
    }

    /// The number of the segment being written.
    pub fn segment(&self) -> u64 {
        self.number
    }
}

/// Makes a new file's name durable (with `fsync`).
fn sync_dir(dir: &Path, fsync: bool) -> Result<(), RuntimeError> {
    if fsync {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io(dir, "syncing", e))?;
    }
    Ok(())
}

fn io(path: &Path, what: &str, e: std::io::Error) -> RuntimeError {
    RuntimeError::Trace(TraceError::Io {
        context: format!("{what} {}", path.display()),
        source: e,
    })
}
