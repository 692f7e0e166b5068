//! `Store`: one object store (an S3 bucket, or a directory laid out as one) behind a
//! blocking interface. Calls run on a small tokio runtime of the store's own; callers
//! are plain threads (the shipper, the debugger's readers), never async code.
//!
//! Every error names the location (without credentials). Reads retry a few times and
//! give up within seconds, so an unreachable endpoint is one clear error, not a hang;
//! the shipper keeps its own, patient, retry loop around writes.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig};
use theater_trace::Digest;

use crate::cache::{Cache, STORE_CACHE_BYTES_DEFAULT};
use crate::error::StoreError;
use crate::location::{StoreKind, StoreLocation};

/// Where shared blobs live under a store's root.
pub const BLOBS_PREFIX: &str = "blobs";

/// A connected store.
#[derive(Clone, Debug)]
pub struct Store {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    objects: Arc<dyn ObjectStore>,
    runtime: tokio::runtime::Runtime,
    /// The store's root as shown to people (`s3://bucket`, `file:///dir`).
    root: String,
    pub(crate) cache: Cache,
    stats: Stats,
}

/// What a store moved, counted from its creation.
#[derive(Debug, Default)]
struct Stats {
    requests: AtomicU64,
    fetched_bytes: AtomicU64,
    uploads: AtomicU64,
    uploaded_bytes: AtomicU64,
}

/// A snapshot of a store's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Requests sent (listings, reads, heads, writes).
    pub requests: u64,
    /// Bytes downloaded (range reads and whole objects).
    pub fetched_bytes: u64,
    /// Objects written, and their bytes.
    pub uploads: u64,
    pub uploaded_bytes: u64,
}

impl Store {
    /// Connects to the store `location` is in (no request is sent yet).
    pub fn connect(location: &StoreLocation) -> Result<Store, StoreError> {
        Store::connect_with(location, STORE_CACHE_BYTES_DEFAULT)
    }

    /// [`Store::connect`] with a bound on the bytes its cache keeps.
    pub fn connect_with(location: &StoreLocation, cache_bytes: u64) -> Result<Store, StoreError> {
        let bad = |why: String| StoreError::BadLocation {
            location: location.display(),
            why,
        };
        let (objects, root): (Arc<dyn ObjectStore>, String) = match &location.kind {
            StoreKind::S3 { bucket } => {
                let retry = RetryConfig {
                    max_retries: 3,
                    retry_timeout: Duration::from_secs(10),
                    ..RetryConfig::default()
                };
                // Replacing the client options drops what `from_env` put there, so the
                // one client setting read from the environment is applied again.
                let allow_http = std::env::var("AWS_ALLOW_HTTP").is_ok_and(|v| v == "true");
                let client = ClientOptions::new()
                    .with_allow_http(allow_http)
                    .with_connect_timeout(Duration::from_secs(3))
                    .with_timeout(Duration::from_secs(60));
                let s3 = AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .with_retry(retry)
                    .with_client_options(client)
                    .build()
                    .map_err(|e| {
                        bad(format!(
                            "cannot configure the S3 client: {}",
                            first_line(&e)
                        ))
                    })?;
                (Arc::new(s3), format!("s3://{bucket}"))
            }
            StoreKind::File { root } => {
                std::fs::create_dir_all(root).map_err(|e| StoreError::Io {
                    context: format!("creating {}", root.display()),
                    source: e,
                })?;
                let fs = LocalFileSystem::new_with_prefix(root).map_err(|e| bad(first_line(&e)))?;
                (Arc::new(fs), format!("file://{}", root.display()))
            }
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("theater-store")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Io {
                context: "starting the store's runtime".into(),
                source: e,
            })?;
        Ok(Store {
            inner: Arc::new(Inner {
                objects,
                runtime,
                root,
                cache: Cache::new(cache_bytes),
                stats: Stats::default(),
            }),
        })
    }

    /// The URL of `key` in this store, for messages.
    pub fn url(&self, key: &str) -> String {
        if key.is_empty() {
            self.inner.root.clone()
        } else {
            format!("{}/{key}", self.inner.root)
        }
    }

    /// Counters since the store was connected.
    pub fn stats(&self) -> StoreStats {
        let s = &self.inner.stats;
        StoreStats {
            requests: s.requests.load(Ordering::Relaxed),
            fetched_bytes: s.fetched_bytes.load(Ordering::Relaxed),
            uploads: s.uploads.load(Ordering::Relaxed),
            uploaded_bytes: s.uploaded_bytes.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn cache(&self) -> &Cache {
        &self.inner.cache
    }

    fn path(&self, key: &str) -> Result<ObjectPath, StoreError> {
        ObjectPath::parse(key).map_err(|e| StoreError::BadLocation {
            location: self.url(key),
            why: first_line(&e),
        })
    }

    fn count(&self, fetched: u64) {
        self.inner.stats.requests.fetch_add(1, Ordering::Relaxed);
        self.inner
            .stats
            .fetched_bytes
            .fetch_add(fetched, Ordering::Relaxed);
    }

    /// Every object under `prefix` (recursively): its key and size, sorted by key.
    pub fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, StoreError> {
        let path = self.path(prefix)?;
        let objects = Arc::clone(&self.inner.objects);
        let listed: Vec<object_store::ObjectMeta> = self
            .inner
            .runtime
            .block_on(async move {
                let prefix = (!path.as_ref().is_empty()).then_some(&path);
                objects.list(prefix).try_collect().await
            })
            .map_err(|e| StoreError::store(&self.url(prefix), "listing", &e))?;
        self.count(0);
        let mut out: Vec<(String, u64)> = listed
            .into_iter()
            .map(|m| (m.location.to_string(), m.size))
            .collect();
        out.sort();
        Ok(out)
    }

    /// The bytes of `key` in `range`.
    pub fn get_range(&self, key: &str, range: Range<u64>) -> Result<Vec<u8>, StoreError> {
        let path = self.path(key)?;
        let objects = Arc::clone(&self.inner.objects);
        let r = range.clone();
        let bytes = self
            .inner
            .runtime
            .block_on(async move { objects.get_range(&path, r).await })
            .map_err(|e| {
                StoreError::store(
                    &self.url(key),
                    format!("reading bytes {}..{}", range.start, range.end),
                    &e,
                )
            })?;
        self.count(bytes.len() as u64);
        Ok(bytes.to_vec())
    }

    /// The whole object `key`, or `None` when there is none.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.path(key)?;
        let objects = Arc::clone(&self.inner.objects);
        let got = self.inner.runtime.block_on(async move {
            match objects.get(&path).await {
                Ok(r) => r.bytes().await.map(Some),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        });
        let got = got.map_err(|e| StoreError::store(&self.url(key), "reading", &e))?;
        self.count(got.as_ref().map_or(0, |b| b.len() as u64));
        Ok(got.map(|b| b.to_vec()))
    }

    /// The size of `key`, or `None` when there is no such object.
    pub fn head(&self, key: &str) -> Result<Option<u64>, StoreError> {
        let path = self.path(key)?;
        let objects = Arc::clone(&self.inner.objects);
        let got = self.inner.runtime.block_on(async move {
            match objects.head(&path).await {
                Ok(m) => Ok(Some(m.size)),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        });
        self.count(0);
        got.map_err(|e| StoreError::store(&self.url(key), "looking up", &e))
    }

    /// Writes `bytes` as the object `key` (atomically: readers see all or nothing).
    pub fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        let path = self.path(key)?;
        let objects = Arc::clone(&self.inner.objects);
        let len = bytes.len() as u64;
        self.inner
            .runtime
            .block_on(async move { objects.put(&path, PutPayload::from(bytes)).await })
            .map_err(|e| StoreError::store(&self.url(key), "writing", &e))?;
        let s = &self.inner.stats;
        s.requests.fetch_add(1, Ordering::Relaxed);
        s.uploads.fetch_add(1, Ordering::Relaxed);
        s.uploaded_bytes.fetch_add(len, Ordering::Relaxed);
        Ok(())
    }

    /// Deletes the object `key` (absent is fine).
    pub fn delete(&self, key: &str) -> Result<(), StoreError> {
        let path = self.path(key)?;
        let objects = Arc::clone(&self.inner.objects);
        let done = self.inner.runtime.block_on(async move {
            match objects.delete(&path).await {
                Err(object_store::Error::NotFound { .. }) => Ok(()),
                other => other,
            }
        });
        self.count(0);
        done.map_err(|e| StoreError::store(&self.url(key), "deleting", &e))
    }

    /// The key of the shared blob with this digest.
    pub fn blob_key(digest: &Digest) -> String {
        format!("{BLOBS_PREFIX}/{digest}")
    }

    /// Stores a blob's frame under its digest unless the store holds it already; true
    /// when it was uploaded.
    pub fn put_blob(&self, digest: &Digest, frame: Vec<u8>) -> Result<bool, StoreError> {
        let key = Store::blob_key(digest);
        if self.head(&key)?.is_some() {
            return Ok(false);
        }
        self.put(&key, frame)?;
        Ok(true)
    }
}

pub(crate) fn first_line(e: &dyn std::fmt::Display) -> String {
    e.to_string().lines().next().unwrap_or_default().to_string()
}
