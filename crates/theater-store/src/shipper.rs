//! The shipper: a thread of its own that uploads a recording's sealed segments from the
//! local spool directory (where the recorder thread writes them, as for any directory
//! recording) to a store, in order, and deletes each from the spool once it is stored
//! (keeping the newest, so the run can be resumed from the spool).
//!
//! It shares nothing with the scheduler but one flag: `spool_full`, raised while the
//! segments not yet stored hold more than `spool_bytes`, so that whoever feeds external
//! inputs refuses new ones (no recorded event is ever dropped: the recorder goes on
//! writing to the spool). It reads only files the recorder has finished with: a sealed
//! segment (its footer written), or a segment cut by a crash that a later segment
//! continues. A failed upload is retried with exponential backoff (up to
//! `backoff_max_ms`) until it succeeds or the run gives up at its end.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use theater_trace::{externalize, segment_file_name, segment_number, TraceError};

use crate::error::StoreError;
use crate::location::StoreLocation;
use crate::store::Store;

/// The most bytes of segments not yet stored the spool holds before new external inputs
/// are refused (1 GiB).
pub const SPOOL_BYTES_DEFAULT: u64 = 1 << 30;

/// How long a run's end waits for the segments left to be stored (one minute;
/// [`Shipper::finish`]'s default); past it they stay in the spool, and a `--resume` stores
/// them.
pub const FINISH_WAIT_MS_DEFAULT: u64 = 60_000;

/// How the shipper behaves.
pub struct ShipperOptions {
    /// See [`SPOOL_BYTES_DEFAULT`].
    pub spool_bytes: u64,
    /// How often the spool is looked at when nothing wakes the shipper.
    pub poll_ms: u64,
    /// The longest wait between two attempts at a failing upload.
    pub backoff_max_ms: u64,
    /// Where the shipper's lines go (an upload failing and recovering, the spool full).
    pub log: Box<dyn Fn(&str) + Send>,
}

impl std::fmt::Debug for ShipperOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShipperOptions")
            .field("spool_bytes", &self.spool_bytes)
            .field("poll_ms", &self.poll_ms)
            .field("backoff_max_ms", &self.backoff_max_ms)
            .finish_non_exhaustive()
    }
}

impl Default for ShipperOptions {
    fn default() -> ShipperOptions {
        ShipperOptions {
            spool_bytes: SPOOL_BYTES_DEFAULT,
            poll_ms: 50,
            backoff_max_ms: 5_000,
            log: Box::new(|_| {}),
        }
    }
}

/// What the shipper stored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShipReport {
    /// Segments stored, and their bytes (in their thin form).
    pub segments: u64,
    pub segment_bytes: u64,
    /// Blobs uploaded, and blobs the store already held (not uploaded again).
    pub blobs_uploaded: u64,
    pub blobs_present: u64,
    /// Failed attempts that were retried.
    pub retries: u64,
    /// Segments the run's end could not store within `finish_wait_ms`: they stay in the
    /// spool.
    pub left_in_spool: u64,
}

/// The shipper thread's handle.
#[derive(Debug)]
pub struct Shipper {
    thread: Option<JoinHandle<ShipReport>>,
    shared: Arc<Shared>,
    url: String,
}

#[derive(Debug, Default)]
struct Shared {
    /// Ship everything sealed, then end (by this time at the latest).
    finishing: AtomicBool,
    finish_by: Mutex<Option<std::time::Instant>>,
    /// Give up on what is not stored yet (the process is going away).
    abandon: AtomicBool,
    spool_full: Arc<AtomicBool>,
    wake: (Mutex<bool>, Condvar),
}

impl Shipper {
    /// Checks that the store answers at `at` (the bucket exists, the credentials work)
    /// and whether the run's prefix already holds segments.
    pub fn check(store: &Store, at: &StoreLocation) -> Result<bool, StoreError> {
        Ok(!stored_segments(store, at)?.is_empty())
    }

    /// A run's segments fetched from the store into an empty spool directory as plain
    /// segment files (their blobs put back, [`theater_trace::internalize`]), so the run
    /// can be resumed on a machine that has only the store. Returns how many.
    pub fn fetch_run(store: &Store, at: &StoreLocation, spool: &Path) -> Result<u64, StoreError> {
        let numbers = stored_segments(store, at)?;
        let blobs: theater_trace::SharedBlobSource = Arc::new(crate::remote::Blobs {
            store: store.clone(),
        });
        for &n in &numbers {
            let name = segment_file_name(n);
            let key = at.child(&name);
            let Some(bytes) = store.get(&key)? else {
                return Err(StoreError::Store {
                    location: store.url(&key),
                    operation: "fetching".into(),
                    why: "listed, then gone".into(),
                });
            };
            let plain = match theater_trace::internalize(bytes.clone(), &blobs) {
                Ok(plain) => plain,
                // A segment cut by a crash was stored as it was: already plain.
                Err(TraceError::Misuse(_)) => bytes,
                Err(source) => {
                    return Err(StoreError::Trace {
                        location: store.url(&key),
                        source: Box::new(source),
                    })
                }
            };
            let partial = spool.join(format!("{name}.partial"));
            std::fs::write(&partial, &plain).map_err(|e| io(&partial, "writing", e))?;
            std::fs::rename(&partial, spool.join(&name))
                .map_err(|e| io(&partial, "renaming", e))?;
        }
        Ok(numbers.len() as u64)
    }

    /// Starts shipping the segments written into `spool` to the run's prefix `at`.
    pub fn spawn(
        store: Store,
        at: StoreLocation,
        spool: PathBuf,
        options: ShipperOptions,
    ) -> Result<Shipper, StoreError> {
        let shared = Arc::new(Shared::default());
        let url = at.display();
        // A resumed run: what the store holds already is not stored again.
        let shipped = stored_segments(&store, &at)?.last().copied();
        let worker = Worker {
            store,
            at,
            spool,
            options,
            shared: Arc::clone(&shared),
            report: ShipReport::default(),
            shipped,
        };
        let thread = std::thread::Builder::new()
            .name("theater-shipper".into())
            .spawn(move || worker.run())
            .map_err(|e| StoreError::Io {
                context: "starting the shipper thread".into(),
                source: e,
            })?;
        Ok(Shipper {
            thread: Some(thread),
            shared,
            url,
        })
    }

    /// Raised while the spool holds more than its bound of segments not yet stored.
    pub fn spool_full(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.shared.spool_full)
    }

    /// Ships every segment left (the recorder has sealed the last one), then ends; gives
    /// up after `wait_ms` of failing uploads (what is left stays in the spool,
    /// [`ShipReport::left_in_spool`]).
    pub fn finish(mut self, wait_ms: u64) -> Result<ShipReport, StoreError> {
        *self
            .shared
            .finish_by
            .lock()
            .unwrap_or_else(|p| p.into_inner()) =
            std::time::Instant::now().checked_add(Duration::from_millis(wait_ms));
        self.shared.finishing.store(true, Ordering::SeqCst);
        self.shared.wake();
        let thread = self.thread.take().expect("finished once");
        thread.join().map_err(|_| StoreError::Store {
            location: self.url.clone(),
            operation: "shipping".into(),
            why: "the shipper thread panicked".into(),
        })
    }
}

impl Drop for Shipper {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.shared.abandon.store(true, Ordering::SeqCst);
            self.shared.finishing.store(true, Ordering::SeqCst);
            self.shared.wake();
            let _ = thread.join();
        }
    }
}

impl Shared {
    fn wake(&self) {
        let (lock, cv) = &self.wake;
        *lock.lock().unwrap_or_else(|p| p.into_inner()) = true;
        cv.notify_all();
    }

    fn sleep(&self, ms: u64) {
        let (lock, cv) = &self.wake;
        let mut woken = lock.lock().unwrap_or_else(|p| p.into_inner());
        if !*woken {
            woken = cv
                .wait_timeout(woken, Duration::from_millis(ms))
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
        *woken = false;
    }
}

struct Worker {
    store: Store,
    at: StoreLocation,
    spool: PathBuf,
    options: ShipperOptions,
    shared: Arc<Shared>,
    report: ShipReport,
    /// The newest segment stored (it stays in the spool).
    shipped: Option<u64>,
}

/// A segment file in the spool.
struct Spooled {
    number: u64,
    path: PathBuf,
    bytes: u64,
}

impl Worker {
    fn run(mut self) -> ShipReport {
        let mut backoff_ms = 0u64;
        let mut failing = false;
        loop {
            let finishing = self.shared.finishing.load(Ordering::SeqCst);
            if self.shared.abandon.load(Ordering::SeqCst) {
                return self.report;
            }
            match self.pass(finishing) {
                Ok(done) => {
                    if failing {
                        (self.options.log)(&format!(
                            "shipper: uploads to {} resumed",
                            self.at.display()
                        ));
                        failing = false;
                    }
                    backoff_ms = 0;
                    if done && finishing {
                        return self.report;
                    }
                    self.shared.sleep(self.options.poll_ms);
                }
                Err(_) if self.out_of_time() => {
                    self.report.left_in_spool = spooled(&self.spool)
                        .map(|files| {
                            files
                                .iter()
                                .filter(|f| self.shipped.is_none_or(|n| f.number > n))
                                .count() as u64
                        })
                        .unwrap_or(0);
                    return self.report;
                }
                Err(e) => {
                    self.report.retries += 1;
                    backoff_ms = (backoff_ms * 2).clamp(100, self.options.backoff_max_ms.max(100));
                    if !failing {
                        (self.options.log)(&format!(
                            "shipper: {e}; retrying (every {} ms at most) while the run goes on recording to the spool",
                            self.options.backoff_max_ms
                        ));
                        failing = true;
                    }
                    std::thread::sleep(Duration::from_millis(backoff_ms));
                }
            }
        }
    }

    /// The run has ended and its wait for the store is over.
    fn out_of_time(&self) -> bool {
        self.shared
            .finish_by
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some_and(|by| std::time::Instant::now() >= by)
    }

    /// Ships what is ready; true when nothing is left but the segment being written.
    fn pass(&mut self, finishing: bool) -> Result<bool, StoreError> {
        let files = spooled(&self.spool)?;
        // What is not stored yet (the newest stored segment stays, and does not count).
        let waiting: u64 = files
            .iter()
            .filter(|f| self.shipped.is_none_or(|n| f.number > n))
            .map(|f| f.bytes)
            .sum();
        let full = waiting > self.options.spool_bytes;
        if self.shared.spool_full.swap(full, Ordering::SeqCst) != full {
            (self.options.log)(&if full {
                format!(
                    "shipper: the spool holds {waiting} bytes not yet stored (more than --spool-bytes {}): new inputs are refused until uploads catch up",
                    self.options.spool_bytes
                )
            } else {
                "shipper: the spool is below its bound again: inputs are taken".to_string()
            });
        }
        let newest = files.last().map(|f| f.number);
        for f in &files {
            if self.shared.abandon.load(Ordering::SeqCst) {
                return Ok(false);
            }
            let later = Some(f.number) != newest;
            if !self.ship(f, later || finishing)? {
                return Ok(false);
            }
            if later {
                std::fs::remove_file(&f.path).map_err(|e| io(&f.path, "deleting", e))?;
            }
        }
        Ok(true)
    }

    /// Stores one spooled segment if it is final (sealed, or cut and continued by a later
    /// one, or the run is over); false if it is still being written.
    fn ship(&mut self, f: &Spooled, final_: bool) -> Result<bool, StoreError> {
        if self.shipped.is_some_and(|n| f.number <= n) {
            return Ok(true);
        }
        // The segment being written has no footer yet: looked at by its last bytes only,
        // not read whole at every poll.
        let sealed = has_footer(&f.path).map_err(|e| io(&f.path, "reading", e))?;
        if !sealed && !final_ {
            return Ok(false);
        }
        let key = self.at.child(&segment_file_name(f.number));
        let bytes = std::fs::read(&f.path).map_err(|e| io(&f.path, "reading", e))?;
        let thin = if sealed {
            self.thin(f, bytes, final_)?
        } else {
            // Final here: a cut segment that a later one continues, or the last of a
            // run that ended, stored as it is.
            Some(bytes)
        };
        let Some(thin) = thin else {
            return Ok(false);
        };
        let len = thin.len() as u64;
        self.store.put(&key, thin)?;
        self.shipped = Some(f.number);
        self.report.segments += 1;
        self.report.segment_bytes += len;
        Ok(true)
    }

    /// A sealed segment's bytes in the store's form, its blobs uploaded first; `None`
    /// when it turns out not to be sealed and is not final yet (written still).
    fn thin(
        &mut self,
        f: &Spooled,
        bytes: Vec<u8>,
        final_: bool,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        match externalize(bytes.clone()) {
            Ok(e) => {
                for (digest, frame) in e.blobs {
                    if self.store.put_blob(&digest, frame)? {
                        self.report.blobs_uploaded += 1;
                    } else {
                        self.report.blobs_present += 1;
                    }
                }
                Ok(Some(e.thin))
            }
            Err(TraceError::Misuse(_)) => Ok(final_.then_some(bytes)),
            Err(e) => Err(StoreError::Trace {
                location: f.path.display().to_string(),
                source: Box::new(e),
            }),
        }
    }
}

/// The numbers of the segments stored under a run's prefix, ascending.
fn stored_segments(store: &Store, at: &StoreLocation) -> Result<Vec<u64>, StoreError> {
    let mut numbers: Vec<u64> = store
        .list(at.key())?
        .iter()
        .filter_map(|(key, _)| {
            key.strip_prefix(at.key())
                .map(|k| k.trim_start_matches('/'))
                .and_then(segment_number)
        })
        .collect();
    numbers.sort_unstable();
    Ok(numbers)
}

/// Whether the file ends with a footer frame (a sealed segment; [`externalize`] checks
/// the rest).
fn has_footer(path: &Path) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    use theater_trace::format::{FrameKind, FOOTER_FRAME_LEN, FOOTER_MAGIC};
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    if len < FOOTER_FRAME_LEN {
        return Ok(false);
    }
    file.seek(SeekFrom::Start(len - FOOTER_FRAME_LEN))?;
    let mut tail = [0u8; FOOTER_FRAME_LEN as usize];
    file.read_exact(&mut tail)?;
    Ok(tail[0] == FrameKind::Footer as u8 && tail.ends_with(&FOOTER_MAGIC))
}

fn spooled(dir: &Path) -> Result<Vec<Spooled>, StoreError> {
    let entries = std::fs::read_dir(dir).map_err(|e| io(dir, "listing", e))?;
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io(dir, "listing", e))?;
        let Some(number) = entry.file_name().to_str().and_then(segment_number) else {
            continue;
        };
        let bytes = entry
            .metadata()
            .map_err(|e| io(&entry.path(), "reading", e))?
            .len();
        out.push(Spooled {
            number,
            path: entry.path(),
            bytes,
        });
    }
    out.sort_by_key(|s| s.number);
    Ok(out)
}

fn io(path: &Path, what: &str, source: std::io::Error) -> StoreError {
    StoreError::Io {
        context: format!("{what} {}", path.display()),
        source,
    }
}
