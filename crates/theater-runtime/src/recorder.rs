//! Recording on a background thread: the scheduler hands events over in batches through
//! a bounded channel and goes on; the recorder thread encodes, hash-chains, frames and
//! writes them.
//!
//! Determinism is unaffected: the channel is FIFO, so the trace holds the events in the
//! order the scheduler produced them, and nothing flows back but emptied batch buffers,
//! which the scheduler refills (no data, so no influence on the run). Blobs are deduplicated on
//! the scheduler's side (it must name them by digest in the events) and sent before the
//! first event that references them. The recorder thread also flushes on the writer's
//! interval when the run is idle; the scheduler hands over a partial batch when the
//! interval has passed and before it waits for input. Crash safety is the writer's:
//! what was flushed survives; events still in a batch or the channel are lost like
//! unflushed ones.

use std::collections::BTreeSet;
use std::fs::File;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use theater_trace::{Digest, EventBody, Payload, TraceError, TraceSummary, TraceWriter};

use crate::error::RuntimeError;

/// Batches in flight between the scheduler and the recorder thread; a full channel makes
/// the scheduler wait (bounded memory: this many batches of [`RECORDER_BATCH_EVENTS`]).
pub const RECORDER_CHANNEL_BATCHES: usize = 64;

/// Events (and blobs) handed over per batch: one channel operation, and one wake-up of
/// the recorder thread, per batch instead of per event.
pub const RECORDER_BATCH_EVENTS: usize = 256;

/// `send_if_due` reads the clock once per this many calls.
const RECORDER_CLOCK_EVERY: u32 = 16;

#[derive(Debug)]
enum Msg {
    Blob(Vec<u8>),
    Event(EventBody),
}

/// The scheduler's handle on a recorder thread.
#[derive(Debug)]
pub struct Recorder {
    tx: Option<SyncSender<Vec<Msg>>>,
    /// Emptied batches coming back from the recorder thread, to be filled again: the
    /// scheduler then writes events into memory it has used before instead of fresh
    /// pages every batch.
    spare: Receiver<Vec<Msg>>,
    batch: Vec<Msg>,
    /// Events appended since the flush interval was last checked.
    unchecked: u32,
    last_send: std::time::Instant,
    flush_interval: Duration,
    thread: Option<JoinHandle<Result<TraceSummary, TraceError>>>,
    blobs: BTreeSet<Digest>,
    events: u64,
    failed: Arc<AtomicBool>,
    error: Arc<Mutex<Option<TraceError>>>,
}

impl Recorder {
    /// Starts a recorder thread that owns `writer` (whose run header is written).
    pub fn spawn(
        writer: TraceWriter<File>,
        flush_interval_ms: u64,
    ) -> Result<Recorder, RuntimeError> {
        let (tx, rx) = sync_channel::<Vec<Msg>>(RECORDER_CHANNEL_BATCHES);
        let (spare_tx, spare) = channel::<Vec<Msg>>();
        let failed = Arc::new(AtomicBool::new(false));
        let error = Arc::new(Mutex::new(None));
        let events = writer.event_count();
        let (t_failed, t_error) = (failed.clone(), error.clone());
        let interval = Duration::from_millis(flush_interval_ms.max(1));
        let thread = std::thread::Builder::new()
            .name("theater-recorder".into())
            .spawn(move || {
                let mut writer = writer;
                loop {
                    let result = match rx.recv_timeout(interval) {
                        Ok(mut batch) => {
                            let r = batch.drain(..).try_for_each(|msg| match msg {
                                Msg::Blob(bytes) => writer.blob(&bytes).map(drop),
                                Msg::Event(body) => writer.append(body).map(drop),
                            });
                            // The scheduler may be gone; then the batch is just dropped.
                            let _ = spare_tx.send(batch);
                            r
                        }
                        Err(RecvTimeoutError::Timeout) => writer.flush_if_due(),
                        Err(RecvTimeoutError::Disconnected) => break,
                    };
                    if let Err(e) = result {
                        t_failed.store(true, Ordering::Release);
                        *t_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                        // Drain without writing, so the scheduler never blocks on us.
                        while rx.recv().is_ok() {}
                        return Err(TraceError::Misuse("recording stopped after an error"));
                    }
                }
                writer.finish().map(|(summary, _)| summary)
            })
            .map_err(|e| {
                RuntimeError::Unreplayable(format!("cannot start the recorder thread: {e}"))
            })?;
        Ok(Recorder {
            tx: Some(tx),
            spare,
            batch: Vec::with_capacity(RECORDER_BATCH_EVENTS),
            unchecked: 0,
            last_send: std::time::Instant::now(),
            flush_interval: interval,
            thread: Some(thread),
            blobs: BTreeSet::new(),
            events,
            failed,
            error,
        })
    }

    fn send(&mut self, msg: Msg) -> Result<(), RuntimeError> {
        self.batch.push(msg);
        if self.batch.len() >= RECORDER_BATCH_EVENTS {
            self.send_batch()?;
        }
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
        let next = self
            .spare
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(RECORDER_BATCH_EVENTS));
        let batch = std::mem::replace(&mut self.batch, next);
        self.last_send = std::time::Instant::now();
        let sent = self.tx.as_ref().is_some_and(|tx| tx.send(batch).is_ok());
        if sent {
            Ok(())
        } else {
            Err(self.take_error())
        }
    }

    /// Hands over a partial batch once the flush interval has passed since the last one,
    /// so a slow run still reaches the disk on the writer's schedule.
    pub(crate) fn send_if_due(&mut self) -> Result<(), RuntimeError> {
        // Reading the clock costs about as much as appending an event: look at it once
        // every RECORDER_CLOCK_EVERY calls (a delivery makes one).
        self.unchecked += 1;
        if self.unchecked < RECORDER_CLOCK_EVERY {
            return Ok(());
        }
        self.unchecked = 0;
        if !self.batch.is_empty() && self.last_send.elapsed() >= self.flush_interval {
            self.send_batch()?;
        }
        Ok(())
    }

    fn take_error(&mut self) -> RuntimeError {
        let e = self.error.lock().unwrap_or_else(|p| p.into_inner()).take();
        RuntimeError::Trace(e.unwrap_or(TraceError::Misuse("the recorder thread stopped")))
    }

    pub(crate) fn blob(&mut self, bytes: &[u8]) -> Result<Digest, RuntimeError> {
        let digest = Digest::of(bytes);
        if self.blobs.insert(digest) {
            self.send(Msg::Blob(bytes.to_vec()))?;
        }
        Ok(digest)
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
        self.send(Msg::Event(body))?;
        self.events += 1;
        Ok(())
    }

    pub(crate) fn events(&self) -> u64 {
        self.events
    }

    /// Waits for every event to be written, writes the index and footer, and returns
    /// the trace's summary (its chain head included).
    pub fn finish(mut self) -> Result<TraceSummary, RuntimeError> {
        self.send_batch()?;
        drop(self.tx.take());
        let thread = self.thread.take().expect("joined once");
        match thread.join() {
            Ok(Ok(summary)) => Ok(summary),
            Ok(Err(_)) => Err(self.take_error()),
            Err(_) => Err(RuntimeError::Trace(TraceError::Misuse(
                "the recorder thread panicked",
            ))),
        }
    }
}
