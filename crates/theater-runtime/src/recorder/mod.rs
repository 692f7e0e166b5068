//! Recording on a background thread: the scheduler hands events over in batches through
//! a bounded channel and goes on; the recorder thread encodes, hash-chains, frames and
//! writes them.
//!
//! A delivery, the run's hot path, is not handed over as events at all: the scheduler
//! copies its raw parts (the message, the recorded host calls, the messages sent, the
//! new state's bytes, fuel and outcome) into the batch's byte arena as one
//! `DeliveryRecord`, and the recorder thread turns it back into one and writes its
//! events with `delivery::write`, the same function inline recording uses: payload
//! blobs, the state digest and all allocation happen off the scheduler's thread.
//!
//! Determinism is unaffected: the channel is FIFO, so the trace holds the events in the
//! order the scheduler produced them, and nothing flows back but emptied batch buffers,
//! which the scheduler refills (no data, so no influence on the run). Blobs are deduplicated on
//! the scheduler's side (it must name them by digest in the events) and sent before the
//! first event that references them.
//!
//! Handing a batch over costs the scheduler no system call and no clock read: while
//! batches keep coming, the recorder thread polls the channel between short sleeps
//! (1 ms, doubling while nothing comes) instead of blocking on it, so a send never has
//! to wake it (a futex wake was the largest part of the scheduler's recording cost); a
//! scheduler that finds the channel full wakes it. After a flush interval with
//! nothing, it raises a flag and blocks; the scheduler, seeing the flag, hands over its
//! partial batch, so a slow run still reaches the disk on the writer's interval. The
//! scheduler also hands over its partial batch before it waits for input, and the
//! recorder thread flushes on the writer's interval when the run is idle.
//!
//! Crash safety is the writer's: what was flushed survives; events still in a batch or
//! the channel are lost like unflushed ones.

use std::collections::BTreeSet;
use std::fs::File;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{
    channel, sync_channel, Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError,
};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use theater_trace::{Digest, EventBody, Outcome, Payload, TraceError, TraceSummary, TraceWriter};

use crate::delivery::{DeliveryRecord, SentView};

mod batch;

use crate::error::RuntimeError;
use crate::rotation::{SegmentPlan, Segmenter};
use batch::{Batch, Compact, Msg, Rare, SentRef};

/// Batches in flight between the scheduler and the recorder thread; a full channel makes
/// the scheduler wait (bounded memory: this many batches of [`RECORDER_BATCH_EVENTS`]).
pub const RECORDER_CHANNEL_BATCHES: usize = 64;

/// Events (and blobs) handed over per batch: one channel operation, and one wake-up of
/// the recorder thread, per batch instead of per event.
pub const RECORDER_BATCH_EVENTS: usize = 256;

/// How long the recorder thread first sleeps when it finds the channel empty while
/// batches are coming: far less than the channel holds (64 batches are ~10 ms of the
/// fastest run). Each further empty look doubles the sleep, so a quiet run costs a few
/// wake-ups, not one per millisecond; a scheduler that finds the channel full wakes the
/// thread at once.
const RECORDER_POLL: Duration = Duration::from_millis(1);

/// The scheduler's handle on a recorder thread.
#[derive(Debug)]
pub struct Recorder {
    tx: Option<SyncSender<Batch>>,
    /// Emptied batches coming back from the recorder thread, to be filled again: the
    /// scheduler then writes events into memory it has used before instead of fresh
    /// pages every batch.
    spare: Receiver<Batch>,
    batch: Batch,
    /// Set by the recorder thread when no batch has come for a flush interval: the
    /// scheduler then hands over its partial batch. (So the scheduler never reads a
    /// clock to decide it.)
    due: Arc<AtomicBool>,
    /// Hand-overs that found the channel full and waited for the recorder thread.
    waits: Arc<AtomicU64>,
    thread: Option<JoinHandle<Result<TraceSummary, RuntimeError>>>,
    blobs: BTreeSet<Digest>,
    events: u64,
    failed: Arc<AtomicBool>,
    error: Arc<Mutex<Option<RuntimeError>>>,
    /// The snapshot clock's interval (0: off) and flag (see [`SnapshotClock`]).
    snapshot_ms: Arc<AtomicU64>,
    snapshot_wanted: Arc<AtomicBool>,
    /// Recording to a directory of segments: the thread's flag that a segment is due,
    /// and the events a rotation writes (see [`Segmenter`]).
    rotate_wanted: Option<Arc<AtomicBool>>,
    rotation_events: u64,
    /// Durable replies (see [`crate::durable`]): events the thread has flushed (and
    /// synced, with `fsync`).
    synced: Arc<AtomicU64>,
    on_sync: OnSync,
}

/// What the recorder thread calls after a flush that flushed more events.
#[derive(Clone, Default)]
struct OnSync(Arc<Mutex<Option<SyncHook>>>);

type SyncHook = Box<dyn Fn(u64) + Send>;

impl std::fmt::Debug for OnSync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OnSync")
    }
}

impl OnSync {
    fn call(&self, events: u64) {
        if let Some(f) = &*self.0.lock().unwrap_or_else(|p| p.into_inner()) {
            f(events);
        }
    }
}

/// The recorder thread's side of the snapshot clock: it raises `wanted` every `ms`
/// milliseconds, so the scheduler reads no clock to know a snapshot is due.
struct SnapshotClock {
    ms: Arc<AtomicU64>,
    wanted: Arc<AtomicBool>,
    /// The interval last seen (its start counts from when it was set), and when the
    /// flag was last raised.
    seen: u64,
    raised: Instant,
}

impl SnapshotClock {
    fn tick(&mut self) {
        let ms = self.ms.load(Ordering::Relaxed);
        if ms != self.seen {
            self.seen = ms;
            self.raised = Instant::now();
        }
        if ms > 0 && self.raised.elapsed() >= Duration::from_millis(ms) {
            self.wanted.store(true, Ordering::Relaxed);
            self.raised = Instant::now();
        }
    }
}

fn flush_if_due(slot: &mut Option<TraceWriter<File>>) -> Result<(), RuntimeError> {
    match slot {
        Some(w) => w.flush_if_due().map_err(Into::into),
        None => Ok(()),
    }
}

impl Recorder {
    /// Starts a recorder thread that owns `writer` (whose run header is written).
    pub fn spawn(
        writer: TraceWriter<File>,
        flush_interval_ms: u64,
    ) -> Result<Recorder, RuntimeError> {
        Recorder::spawn_with(writer, flush_interval_ms, None)
    }

    /// Starts a recorder thread that records to a directory of segments (see
    /// [`crate::rotation`]): it creates the directory and segment 0.
    pub fn spawn_segmented(plan: SegmentPlan) -> Result<Recorder, RuntimeError> {
        let flush_ms = plan.options.flush_interval_ms;
        let (writer, segmenter) = Segmenter::create(plan)?;
        Recorder::spawn_with(writer, flush_ms, Some(segmenter))
    }

    /// Starts a recorder thread for a resumed run, owning the new segment's writer (see
    /// [`crate::resume`]).
    pub(crate) fn spawn_resumed(
        writer: TraceWriter<File>,
        flush_interval_ms: u64,
        segmenter: Segmenter,
    ) -> Result<Recorder, RuntimeError> {
        Recorder::spawn_with(writer, flush_interval_ms, Some(segmenter))
    }

    fn spawn_with(
        writer: TraceWriter<File>,
        flush_interval_ms: u64,
        mut segmenter: Option<Segmenter>,
    ) -> Result<Recorder, RuntimeError> {
        let rotate_wanted = segmenter.as_ref().map(|s| s.wanted.clone());
        let synced = Arc::new(AtomicU64::new(writer.flushed().0));
        let on_sync = OnSync::default();
        let (t_synced, t_on_sync) = (synced.clone(), on_sync.clone());
        // After any write or flush: publish how far the file is flushed.
        let publish = move |slot: &Option<TraceWriter<File>>| {
            let Some(w) = slot else { return };
            let flushed = w.flushed().0;
            if t_synced.fetch_max(flushed, Ordering::AcqRel) < flushed {
                t_on_sync.call(flushed);
            }
        };
        let rotation_events = segmenter.as_ref().map_or(0, Segmenter::events_per_rotation);
        let (tx, rx) = sync_channel::<Batch>(RECORDER_CHANNEL_BATCHES);
        let (spare_tx, spare) = channel::<Batch>();
        let failed = Arc::new(AtomicBool::new(false));
        let error = Arc::new(Mutex::new(None));
        let events = writer.event_count();
        let (t_failed, t_error) = (failed.clone(), error.clone());
        let interval = Duration::from_millis(flush_interval_ms.max(1));
        let due = Arc::new(AtomicBool::new(false));
        let t_due = due.clone();
        let snapshot_ms = Arc::new(AtomicU64::new(0));
        let snapshot_wanted = Arc::new(AtomicBool::new(false));
        let mut clock = SnapshotClock {
            ms: snapshot_ms.clone(),
            wanted: snapshot_wanted.clone(),
            seen: 0,
            raised: Instant::now(),
        };
        let thread = std::thread::Builder::new()
            .name("theater-recorder".into())
            .spawn(move || {
                let mut writer = writer;
                writer.defer_flushes();
                let mut slot = Some(writer);
                let mut write = |slot: &mut Option<TraceWriter<File>>, mut batch: Batch| {
                    let Batch {
                        msgs, bytes, sent, ..
                    } = &mut batch;
                    let r = msgs.drain(..).try_for_each(|msg| {
                        let writer = slot
                            .as_mut()
                            .ok_or(RuntimeError::Trace(TraceError::Misuse("no segment open")))?;
                        match msg {
                            Msg::Blob(b) => writer.blob(&b).map(drop).map_err(RuntimeError::from),
                            Msg::Event(body) => writer.append(*body).map(drop).map_err(Into::into),
                            Msg::Delivery(d) => {
                                crate::delivery::write(d.record(bytes, sent), writer)
                            }
                            // Everything before it is written: one flush (and sync) for
                            // every reply waiting on it (group commit).
                            Msg::Sync if writer.flushed().0 < writer.event_count() => {
                                writer.flush().map_err(Into::into)
                            }
                            Msg::Sync => Ok(()),
                            Msg::Rotate => match &mut segmenter {
                                Some(s) => s.rotate(slot),
                                None => Err(RuntimeError::Trace(TraceError::Misuse(
                                    "rotating a recording that has no segments",
                                ))),
                            },
                        }
                    });
                    // The batch ends between two steps: the one place to flush by the
                    // block's count and size.
                    let r = r.and_then(|()| match slot.as_mut() {
                        Some(w) => w.flush_if_wanted().map_err(Into::into),
                        None => Ok(()),
                    });
                    if let (Some(s), Some(w)) = (&segmenter, slot.as_ref()) {
                        s.check(w);
                    }
                    batch.bytes.clear();
                    batch.sent.clear();
                    batch.events = 0;
                    // The scheduler may be gone; then the batch is just dropped.
                    let _ = spare_tx.send(batch);
                    r
                };
                let writer = &mut slot;
                // When the last batch came: while batches keep coming, the thread polls
                // the channel between short sleeps instead of blocking on it, so that
                // handing a batch over never has to wake it (a futex wake, a system call
                // on the scheduler's thread). Only after a quiet flush interval does it
                // block, and ask the scheduler for its partial batch.
                let mut last = Instant::now();
                let mut poll = RECORDER_POLL;
                loop {
                    clock.tick();
                    let result = match rx.try_recv() {
                        Ok(batch) => {
                            last = Instant::now();
                            poll = RECORDER_POLL;
                            write(writer, batch)
                        }
                        Err(TryRecvError::Disconnected) => break,
                        Err(TryRecvError::Empty) if last.elapsed() < interval => {
                            // `finish` and a full channel unpark the thread, so neither
                            // the end nor the scheduler waits for a sleep to run out.
                            std::thread::park_timeout(poll);
                            poll = (poll * 2).min(interval);
                            flush_if_due(writer)
                        }
                        Err(TryRecvError::Empty) => {
                            t_due.store(true, Ordering::Relaxed);
                            match rx.recv_timeout(interval) {
                                Ok(batch) => {
                                    t_due.store(false, Ordering::Relaxed);
                                    last = Instant::now();
                                    poll = RECORDER_POLL;
                                    write(writer, batch)
                                }
                                Err(RecvTimeoutError::Timeout) => flush_if_due(writer),
                                Err(RecvTimeoutError::Disconnected) => break,
                            }
                        }
                    };
                    publish(writer);
                    if let Err(e) = result {
                        t_failed.store(true, Ordering::Release);
                        *t_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                        // Drain without writing, so the scheduler never blocks on us.
                        while rx.recv().is_ok() {}
                        return Err(RuntimeError::Trace(TraceError::Misuse(
                            "recording stopped after an error",
                        )));
                    }
                }
                let last = slot
                    .take()
                    .ok_or(RuntimeError::Trace(TraceError::Misuse("no segment open")))?;
                let summary = last.finish()?.0;
                Ok(match &segmenter {
                    Some(s) => s.total(summary),
                    None => summary,
                })
            })
            .map_err(|e| {
                RuntimeError::Unreplayable(format!("cannot start the recorder thread: {e}"))
            })?;
        Ok(Recorder {
            tx: Some(tx),
            spare,
            batch: Batch::new(),
            due,
            waits: Arc::new(AtomicU64::new(0)),
            thread: Some(thread),
            blobs: BTreeSet::new(),
            events,
            failed,
            error,
            snapshot_ms,
            snapshot_wanted,
            rotate_wanted,
            rotation_events,
            synced,
            on_sync,
        })
    }

    /// Calls `f` on the recorder thread with the events flushed so far, after each
    /// flush that flushed more (a server holding durable replies wakes on it).
    pub fn on_sync(&self, f: impl Fn(u64) + Send + 'static) {
        *self.on_sync.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(Box::new(f));
    }

    /// Events the recorder thread has flushed to the file (and synced to disk, when the
    /// writer has `fsync`): what survives a crash now.
    pub fn synced_events(&self) -> u64 {
        self.synced.load(Ordering::Acquire)
    }

    /// Asks the recorder thread to write and flush everything handed over so far at
    /// once, instead of on its interval: one flush (and sync) for every reply waiting.
    pub fn request_sync(&mut self) -> Result<(), RuntimeError> {
        self.send(Msg::Sync)?;
        self.send_batch()?;
        if let Some(thread) = &self.thread {
            thread.thread().unpark();
        }
        Ok(())
    }

    fn send(&mut self, msg: Msg) -> Result<(), RuntimeError> {
        self.batch.msgs.push(msg);
        self.batch.events += 1;
        Ok(())
    }

    /// Between two steps of the run: hands the batch over once it is full. Batches are
    /// handed over only between steps, so every batch, and so every block the recorder
    /// thread flushes, ends between two steps: a crash never cuts a step in two.
    pub(crate) fn step_done(&mut self) -> Result<(), RuntimeError> {
        if self.batch.events >= RECORDER_BATCH_EVENTS {
            self.send_batch()?;
        }
        Ok(())
    }

    /// Records one delivery (its `Delivered`, `HostCall` and `Outputs` events): its
    /// parts are copied into the batch, and the recorder thread writes the events.
    pub(crate) fn delivery<'a>(
        &mut self,
        d: DeliveryRecord<'a, impl Iterator<Item = SentView<'a>>>,
    ) -> Result<(), RuntimeError> {
        debug_assert!(
            d.host_call_mismatch.is_none(),
            "a recording serves no host calls"
        );
        let events = crate::delivery::event_count(d.host_calls.len());
        let b = &mut self.batch;
        let payload = b.push_bytes(d.payload);
        let first = b.sent.len();
        for (to, kind, bytes) in d.sent {
            let payload = b.push_bytes(bytes);
            b.sent.push(SentRef { to, kind, payload });
        }
        let sent = first..b.sent.len();
        let state = b.push_bytes(d.state);
        b.msgs.push(Msg::Delivery(Compact {
            seq: d.seq,
            from: d.from,
            to: d.to,
            kind: d.kind,
            time_ns: d.time_ns,
            payload,
            sent,
            state,
            fuel_used: d.fuel_used,
            rare: (!d.host_calls.is_empty() || !d.logs.is_empty() || d.outcome != Outcome::Ok)
                .then(|| {
                    Box::new(Rare {
                        host_calls: d.host_calls,
                        logs: d.logs,
                        outcome: d.outcome,
                    })
                }),
        }));
        b.events += events;
        self.events += events as u64;
        Ok(())
    }

    /// Hands the current batch to the recorder thread.
    pub(crate) fn send_batch(&mut self) -> Result<(), RuntimeError> {
        if self.failed.load(Ordering::Acquire) {
            return Err(self.take_error());
        }
        if self.batch.is_empty() {
            return Ok(());
        }
        let next = self.spare.try_recv().unwrap_or_else(|_| Batch::new());
        let batch = std::mem::replace(&mut self.batch, next);
        let sent = self.tx.as_ref().is_some_and(|tx| match tx.try_send(batch) {
            Ok(()) => true,
            Err(TrySendError::Full(batch)) => {
                self.waits.fetch_add(1, Ordering::Relaxed);
                if let Some(thread) = &self.thread {
                    thread.thread().unpark();
                }
                tx.send(batch).is_ok()
            }
            Err(TrySendError::Disconnected(_)) => false,
        });
        if sent {
            Ok(())
        } else {
            Err(self.take_error())
        }
    }

    /// Hands over a partial batch when the recorder thread has had nothing for a flush
    /// interval, so a slow run still reaches the disk on the writer's schedule.
    pub(crate) fn send_if_due(&mut self) -> Result<(), RuntimeError> {
        if self.due.load(Ordering::Relaxed) && !self.batch.is_empty() {
            self.due.store(false, Ordering::Relaxed);
            self.send_batch()?;
        }
        Ok(())
    }

    fn take_error(&mut self) -> RuntimeError {
        let e = self.error.lock().unwrap_or_else(|p| p.into_inner()).take();
        e.unwrap_or(RuntimeError::Trace(TraceError::Misuse(
            "the recorder thread stopped",
        )))
    }

    pub(crate) fn blob(&mut self, bytes: &[u8]) -> Result<Digest, RuntimeError> {
        let digest = Digest::of(bytes);
        self.blob_known(digest, bytes)?;
        Ok(digest)
    }

    pub(crate) fn blob_known(&mut self, digest: Digest, bytes: &[u8]) -> Result<(), RuntimeError> {
        if self.blobs.insert(digest) {
            self.send(Msg::Blob(bytes.to_vec()))?;
        }
        Ok(())
    }

    /// Whether the recorder thread asks for a new segment.
    pub(crate) fn rotate_due(&self) -> bool {
        self.rotate_wanted
            .as_ref()
            .is_some_and(|w| w.load(Ordering::Relaxed))
    }

    /// Asks the recorder thread to seal the segment and start the next; the caller
    /// writes a snapshot next. Blobs are sent again from here on, so the new segment
    /// holds every blob it names.
    /// Returns `false`, doing nothing, when the recording has no segments.
    pub(crate) fn rotate(&mut self) -> Result<bool, RuntimeError> {
        let Some(w) = &self.rotate_wanted else {
            return Ok(false);
        };
        w.store(false, Ordering::Relaxed);
        self.send(Msg::Rotate)?;
        self.events += self.rotation_events;
        self.blobs.clear();
        Ok(true)
    }

    /// Starts the snapshot clock: the thread raises the returned flag every `every_ms`
    /// milliseconds (the scheduler lowers it when it takes a snapshot).
    pub(crate) fn snapshot_clock(&mut self, every_ms: u64) -> Arc<AtomicBool> {
        self.snapshot_ms.store(every_ms, Ordering::Relaxed);
        self.snapshot_wanted.clone()
    }

    pub(crate) fn payload(&mut self, bytes: &[u8]) -> Result<Payload, RuntimeError> {
        let payload = Payload::of(bytes);
        if let Payload::Blob { digest, .. } = &payload {
            if self.blobs.insert(*digest) {
                self.send(Msg::Blob(bytes.to_vec()))?;
            }
        }
        Ok(payload)
    }

    pub(crate) fn append(&mut self, body: EventBody) -> Result<(), RuntimeError> {
        self.send(Msg::Event(Box::new(body)))?;
        self.events += 1;
        Ok(())
    }

    pub(crate) fn events(&self) -> u64 {
        self.events
    }

    /// How many hand-overs found the channel full and made the scheduler wait for the
    /// recorder thread: a recorder that cannot keep up (a slow disk, too few cores).
    pub fn waits(&self) -> u64 {
        self.waits.load(Ordering::Relaxed)
    }

    /// The same count, readable from another thread while the run goes on (a monitor,
    /// or a test that must know the scheduler is about to wait). It is counted before
    /// the scheduler blocks.
    pub fn waits_shared(&self) -> Arc<AtomicU64> {
        self.waits.clone()
    }

    /// Waits for every event to be written, writes the index and footer, and returns
    /// the trace's summary (its chain head included).
    pub fn finish(mut self) -> Result<TraceSummary, RuntimeError> {
        self.send_batch()?;
        drop(self.tx.take());
        let thread = self.thread.take().expect("joined once");
        thread.thread().unpark();
        match thread.join() {
            Ok(Ok(summary)) => Ok(summary),
            Ok(Err(_)) => Err(self.take_error()),
            Err(_) => Err(RuntimeError::Trace(TraceError::Misuse(
                "the recorder thread panicked",
            ))),
        }
    }
}
