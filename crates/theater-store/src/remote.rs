//! Reading a trace from a store: each segment an object read by range through the
//! store's page cache, blobs fetched by digest from the shared prefix. Opening a run
//! lists its prefix and reads each segment's footer and index (a few pages at its end);
//! reaching an event reads its block's pages and the blobs it names, nothing else.

use std::sync::Arc;

use theater_trace::{segment_number, BlobSource, ByteSource, Digest, RemotePart, Trace};

use crate::cache::STORE_PAGE_BYTES;
use crate::error::StoreError;
use crate::location::{Location, StoreLocation};
use crate::store::Store;

/// One object of a store, read by range.
#[derive(Debug)]
pub(crate) struct Object {
    store: Store,
    key: String,
    len: u64,
}

impl ByteSource for Object {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let end = offset
            .checked_add(buf.len() as u64)
            .filter(|&e| e <= self.len)
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::UnexpectedEof))?;
        if buf.is_empty() {
            return Ok(());
        }
        let first = offset / STORE_PAGE_BYTES;
        let last = (end - 1) / STORE_PAGE_BYTES;
        let mut pages = Vec::with_capacity((last - first + 1) as usize);
        let mut missing: Option<(u64, u64)> = None;
        for p in first..=last {
            let hit = self.store.cache().get(&(self.key.clone(), p));
            if hit.is_none() {
                missing = Some(missing.map_or((p, p), |(a, _)| (a, p)));
            }
            pages.push(hit);
        }
        // One request for the pages not cached, from the first missing to the last.
        if let Some((a, b)) = missing {
            let start = a * STORE_PAGE_BYTES;
            let stop = ((b + 1) * STORE_PAGE_BYTES).min(self.len);
            let bytes = self
                .store
                .get_range(&self.key, start..stop)
                .map_err(std::io::Error::other)?;
            if bytes.len() as u64 != stop - start {
                return Err(std::io::Error::other(format!(
                    "{}: asked for {} bytes at {start}, got {}",
                    self.store.url(&self.key),
                    stop - start,
                    bytes.len()
                )));
            }
            for p in a..=b {
                let from = ((p - a) * STORE_PAGE_BYTES) as usize;
                let to = (from + STORE_PAGE_BYTES as usize).min(bytes.len());
                let page = Arc::new(bytes[from..to].to_vec());
                self.store
                    .cache()
                    .put((self.key.clone(), p), Arc::clone(&page));
                pages[(p - first) as usize] = Some(page);
            }
        }
        let mut at = 0usize;
        for (i, page) in pages.into_iter().enumerate() {
            let page = page.expect("every page fetched above");
            let page_start = (first + i as u64) * STORE_PAGE_BYTES;
            let from = (offset.max(page_start) - page_start) as usize;
            let to = ((end.min(page_start + page.len() as u64)) - page_start) as usize;
            let n = to - from;
            buf[at..at + n].copy_from_slice(&page[from..to]);
            at += n;
        }
        debug_assert_eq!(at, buf.len());
        Ok(())
    }
}

/// The shared blobs of a store.
#[derive(Debug)]
pub(crate) struct Blobs {
    pub(crate) store: Store,
}

impl BlobSource for Blobs {
    fn fetch(&self, digest: &Digest) -> std::io::Result<Option<Vec<u8>>> {
        let key = Store::blob_key(digest);
        if let Some(hit) = self.store.cache().get(&(key.clone(), u64::MAX)) {
            return Ok(Some(hit.as_ref().clone()));
        }
        let got = self.store.get(&key).map_err(std::io::Error::other)?;
        if let Some(bytes) = &got {
            self.store
                .cache()
                .put((key, u64::MAX), Arc::new(bytes.clone()));
        }
        Ok(got)
    }
}

/// Opens the trace at a location: a plain path as [`Trace::open`] does, a store URL
/// through [`open_in`].
pub fn open(location: &str) -> Result<Trace, StoreError> {
    match Location::parse(location)? {
        Location::Local(path) => Trace::open(&path).map_err(|source| StoreError::Trace {
            location: path.display().to_string(),
            source: Box::new(source),
        }),
        Location::Store(at) => open_in(&Store::connect(&at)?, &at),
    }
}

/// Opens the run at `at` in `store`: the segment files directly under its prefix, or the
/// one object it names.
pub fn open_in(store: &Store, at: &StoreLocation) -> Result<Trace, StoreError> {
    let url = at.display();
    let prefix = at.key();
    let listed = store.list(prefix)?;
    let mut parts = Vec::new();
    for (key, size) in &listed {
        let Some(name) = key
            .strip_prefix(prefix)
            .map(|k| k.trim_start_matches('/'))
            .filter(|n| !n.contains('/'))
        else {
            continue;
        };
        if segment_number(name).is_some() {
            parts.push(part(store, key, name, *size));
        }
    }
    if parts.is_empty() {
        // Not a run's prefix: the one object it names, if it is one.
        match store.head(prefix)? {
            Some(size) if !prefix.is_empty() => {
                let name = prefix.rsplit('/').next().unwrap_or(prefix);
                parts.push(part(store, prefix, name, size));
            }
            _ => {
                return Err(StoreError::Store {
                    location: url,
                    operation: "opening".into(),
                    why: "no trace there (no segment files, and no trace object)".into(),
                })
            }
        }
    }
    let blobs = Arc::new(Blobs {
        store: store.clone(),
    });
    Trace::open_remote(&url, parts, blobs).map_err(|source| StoreError::Trace {
        location: url,
        source: Box::new(source),
    })
}

fn part(store: &Store, key: &str, name: &str, len: u64) -> RemotePart {
    RemotePart {
        name: name.to_string(),
        source: Arc::new(Object {
            store: store.clone(),
            key: key.to_string(),
            len,
        }),
    }
}
