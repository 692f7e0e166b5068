//! Durable replies: what a server needs to release a reply to an external request only
//! once the events that produced it are on disk.
//!
//! A reply's events (its request's input, the delivery, the reply in its outputs) are
//! all handed to the sink when the reply is taken, so "its events are durable" is
//! "the sink has flushed (and, with `fsync`, synced) at least [`System::recorded_events`]
//! events as counted when the reply was taken". [`System::request_sync`] asks the
//! recorder thread for that flush now, once for every reply taken so far (group
//! commit); [`System::synced_events`] says how far it got. The run itself never waits:
//! the server holds the replies, and the scheduler goes on with other inputs.

use crate::error::RuntimeError;
use crate::scheduler::System;
use crate::sink::Sink;

impl System {
    /// Events handed to the sink so far (the number of the next event).
    pub fn recorded_events(&self) -> u64 {
        self.sink.events()
    }

    /// Events the recording has flushed to its file (synced to disk, when its writer
    /// has `fsync`); `None` when the run is not recorded.
    pub fn synced_events(&self) -> Option<u64> {
        match &self.sink {
            Sink::Background(r) => Some(r.synced_events()),
            Sink::File(w) => Some(w.flushed().0),
            Sink::Memory(w) => Some(w.flushed().0),
            Sink::Off | Sink::Replay(_) => None,
        }
    }

    /// Has the recorder thread call `f` with the events flushed so far after each flush
    /// that flushed more (a server holding replies wakes on it instead of polling).
    /// Does nothing unless the run records on a recorder thread.
    pub fn on_sync(&self, f: impl Fn(u64) + Send + 'static) {
        if let Sink::Background(r) = &self.sink {
            r.on_sync(f);
        }
    }

    /// Flushes (and syncs, with `fsync`) everything recorded so far, now: on the
    /// recorder thread, which is asked and not waited for; inline, at once.
    pub fn request_sync(&mut self) -> Result<(), RuntimeError> {
        match &mut self.sink {
            Sink::Background(r) => r.request_sync(),
            Sink::File(w) => Ok(w.flush()?),
            Sink::Memory(w) => Ok(w.flush()?),
            Sink::Off | Sink::Replay(_) => Ok(()),
        }
    }

    /// Flushes (and syncs, with `fsync`) everything recorded so far and waits until that
    /// is done, at most `timeout`. A server calls it before it says it serves: a run
    /// that served can always be resumed, since its setup is on disk. Does nothing when
    /// the run is not recorded.
    pub fn sync_now(&mut self, timeout: std::time::Duration) -> Result<(), RuntimeError> {
        self.request_sync()?;
        let want = self.recorded_events();
        let deadline = std::time::Instant::now() + timeout;
        while self.synced_events().is_some_and(|synced| synced < want) {
            if std::time::Instant::now() >= deadline {
                return Err(RuntimeError::Trace(theater_trace::TraceError::Io {
                    context: format!("flushing the recording (waited {} ms)", timeout.as_millis()),
                    source: std::io::Error::from(std::io::ErrorKind::TimedOut),
                }));
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        Ok(())
    }
}
