//! The bounded cache of downloaded bytes: pages of objects (segments read by range) and
//! whole blob objects, evicted least recently used first once their bytes pass
//! `STORE_CACHE_BYTES_DEFAULT` (or the store's configured bound).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Bytes read from a segment object at a time: reads are rounded out to whole pages, so
/// reading a frame header and then the frame is one request.
pub const STORE_PAGE_BYTES: u64 = 64 << 10;

/// The most downloaded bytes one process keeps (256 MiB).
pub const STORE_CACHE_BYTES_DEFAULT: u64 = 256 << 20;

type Key = (String, u64);

/// Pages and blobs by (object key, page number; `u64::MAX` for a whole object).
#[derive(Debug)]
pub(crate) struct Cache {
    max_bytes: u64,
    inner: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    map: BTreeMap<Key, (Arc<Vec<u8>>, u64)>,
    bytes: u64,
    tick: u64,
}

impl Cache {
    pub(crate) fn new(max_bytes: u64) -> Cache {
        Cache {
            max_bytes,
            inner: Mutex::new(Entries::default()),
        }
    }

    pub(crate) fn get(&self, key: &Key) -> Option<Arc<Vec<u8>>> {
        let mut e = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        e.tick += 1;
        let tick = e.tick;
        let hit = e.map.get_mut(key)?;
        hit.1 = tick;
        Some(Arc::clone(&hit.0))
    }

    /// Keeps `bytes` under `key`, evicting the least recently used entries beyond the
    /// bound (an entry larger than the whole bound is not kept).
    pub(crate) fn put(&self, key: Key, bytes: Arc<Vec<u8>>) {
        let len = bytes.len() as u64;
        if len > self.max_bytes {
            return;
        }
        let mut e = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        e.tick += 1;
        let tick = e.tick;
        if let Some((old, _)) = e.map.insert(key, (bytes, tick)) {
            e.bytes -= old.len() as u64;
        }
        e.bytes += len;
        while e.bytes > self.max_bytes {
            let Some(oldest) = e
                .map
                .iter()
                .min_by_key(|(_, v)| v.1)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some((old, _)) = e.map.remove(&oldest) {
                e.bytes -= old.len() as u64;
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn bytes(&self) -> u64 {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_stays_within_its_bound_and_evicts_the_least_recently_used() {
        let cache = Cache::new(3000);
        let page = |b: u8| Arc::new(vec![b; 1000]);
        cache.put(("a".into(), 0), page(1));
        cache.put(("a".into(), 1), page(2));
        cache.put(("a".into(), 2), page(3));
        assert_eq!(cache.bytes(), 3000, "at the bound, all kept");
        // Page 0 used again: page 1 is now the least recently used.
        assert!(cache.get(&("a".into(), 0)).is_some());
        cache.put(("a".into(), 3), page(4));
        assert_eq!(cache.bytes(), 3000);
        assert!(cache.get(&("a".into(), 1)).is_none(), "evicted");
        assert!(cache.get(&("a".into(), 0)).is_some());
        // Larger than the whole bound: not kept, nothing evicted.
        cache.put(("b".into(), u64::MAX), Arc::new(vec![0; 3001]));
        assert!(cache.get(&("b".into(), u64::MAX)).is_none());
        assert_eq!(cache.bytes(), 3000);
    }
}
