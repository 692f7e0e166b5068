//! Where a trace's snapshot events are: listed in the index of a finished version 3
//! trace, found by reading every event otherwise (a trace cut by a crash, an older
//! version), once per open trace.

use super::{StoredIndex, Trace};
use crate::error::TraceError;
use crate::event::EventBody;

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

    fn scan_snapshots(&self) -> Result<Vec<u64>, TraceError> {
        let mut found = Vec::new();
        for e in self.events() {
            let e = e?;
            if matches!(e.event.body, EventBody::Snapshot { .. }) {
                found.push(e.number);
            }
        }
        Ok(found)
    }
}
