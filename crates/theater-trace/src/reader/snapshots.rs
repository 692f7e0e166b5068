//! Scans of a whole trace that need only each event's kind: where its snapshot events
//! are (listed in the index of a finished version 3 trace, found by a scan otherwise: a
//! trace cut by a crash, an older version; once per open trace), and where its steps
//! start (the debugger's timeline).

use super::{BlockEntry, Layout, StoredIndex, Trace};
use crate::display::EVENT_KIND_NAMES;
use crate::error::TraceError;

/// Blocks below which a kind scan stays on one thread (a thread costs more than
/// decompressing a few blocks).
const PARALLEL_SCAN_MIN_BLOCKS: usize = 64;

impl Trace {
    /// The number of every snapshot event, in order.
    pub fn snapshots(&self) -> Result<&[u64], TraceError> {
        if let Some(found) = self.snapshots.get() {
            return Ok(found);
        }
        let found = match &self.stored_index {
            Some(StoredIndex::Blocks(_, index)) => index.snapshots.clone(),
            _ => self.scan_snapshots()?,
        };
        Ok(self.snapshots.get_or_init(|| found))
    }

    /// The last snapshot event at or before event `n`, if any.
    pub fn snapshot_at_or_before(&self, n: u64) -> Result<Option<u64>, TraceError> {
        let all = self.snapshots()?;
        Ok(all[..all.partition_point(|&s| s <= n)].last().copied())
    }

    /// Calls `f` with the number and kind ([`EventBody::kind_name`]) of every event, in
    /// order. In version 3 no event is decoded (the kind is its first byte) and none is
    /// hashed, so a long trace's kinds come at the speed of decompression; an event
    /// whose first byte is no known tag reads as `"unknown"` (decoding it fails later).
    /// Versions 1 and 2 decode every event.
    ///
    /// [`EventBody::kind_name`]: crate::EventBody::kind_name
    pub fn for_each_kind(&self, mut f: impl FnMut(u64, &'static str)) -> Result<(), TraceError> {
        self.for_each_tag(|n, tag| {
            f(
                n,
                EVENT_KIND_NAMES
                    .get(usize::from(tag))
                    .copied()
                    .unwrap_or("unknown"),
            )
        })
    }

    /// [`Trace::for_each_kind`] by wire tag.
    pub(super) fn for_each_tag(&self, mut f: impl FnMut(u64, u8)) -> Result<(), TraceError> {
        match &self.layout {
            Layout::Blocks(blocks) => {
                for (first, tags) in self.tags_in_parallel(blocks)? {
                    for (n, tag) in (first..).zip(tags) {
                        f(n, tag);
                    }
                }
                Ok(())
            }
            Layout::Frames { .. } => self.events().try_for_each(|e| {
                let e = e?;
                let kind = e.event.body.kind_name();
                let tag = EVENT_KIND_NAMES.iter().position(|k| *k == kind);
                f(e.number, tag.map_or(u8::MAX, |t| t as u8));
                Ok(())
            }),
        }
    }

    /// Every event's tag, the blocks split into one contiguous run per core, each read on
    /// its own thread; in order, each run with the number of its first event.
    fn tags_in_parallel(&self, blocks: &[BlockEntry]) -> Result<Vec<(u64, Vec<u8>)>, TraceError> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let per = blocks
            .len()
            .div_ceil(threads.max(1))
            .max(PARALLEL_SCAN_MIN_BLOCKS);
        let starts: Vec<u64> = blocks.iter().step_by(per).map(|b| b.first).collect();
        let scan = |i: usize| -> Result<(u64, Vec<u8>), TraceError> {
            let end = starts.get(i + 1).copied().unwrap_or(u64::MAX);
            let mut tags = Vec::new();
            let mut events = self.events_from(starts[i]);
            events.for_each_tag(end, &mut |n, tag| {
                debug_assert_eq!(n, starts[i] + tags.len() as u64);
                tags.push(tag);
            })?;
            Ok((starts[i], tags))
        };
        if starts.len() <= 1 {
            return (0..starts.len()).map(scan).collect();
        }
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..starts.len())
                .map(|i| s.spawn(move || scan(i)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        })
    }

    fn scan_snapshots(&self) -> Result<Vec<u64>, TraceError> {
        let mut found = Vec::new();
        self.for_each_kind(|n, kind| {
            if kind == "snapshot" {
                found.push(n);
            }
        })?;
        Ok(found)
    }
}
