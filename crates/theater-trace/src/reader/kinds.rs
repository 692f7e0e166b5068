//! What a reader learns from the kinds of a trace's events without reading its blocks:
//! every block's [`KindCounts`] (from the index of a finished version 3 trace, counted
//! from the blocks otherwise), and the events of chosen kinds, reading only the blocks
//! that hold some.

use std::ops::{ControlFlow, Range};

use super::{Layout, RecordedEvent, Trace};
use crate::display::EVENT_KIND_NAMES;
use crate::error::TraceError;
use crate::kinds::{BlockKinds, KindCounts};

impl Trace {
    /// The kinds the index lists for the block at `offset`, if it lists them.
    pub(super) fn listed_kinds(&self, offset: u64) -> Option<KindCounts> {
        let Layout::Blocks(blocks) = &self.layout else {
            return None;
        };
        let i = blocks.partition_point(|b| b.offset < offset);
        blocks.get(i).filter(|b| b.offset == offset)?.kinds
    }

    /// Calls `f` with the number and kind of every event in `first..end`, decoding no
    /// event (in version 3: only the blocks holding them are decompressed).
    pub fn for_each_kind_in(
        &self,
        first: u64,
        end: u64,
        mut f: impl FnMut(u64, &'static str),
    ) -> Result<(), TraceError> {
        let mut call = |n: u64, tag: u8| {
            if (first..end).contains(&n) {
                f(
                    n,
                    EVENT_KIND_NAMES
                        .get(usize::from(tag))
                        .copied()
                        .unwrap_or("unknown"),
                );
            }
        };
        match &self.layout {
            Layout::Blocks(_) => self.events_from(first).for_each_tag(end, &mut call),
            Layout::Frames { .. } => {
                for e in self
                    .events_from(first)
                    .take(end.saturating_sub(first) as usize)
                {
                    let e = e?;
                    f(e.number, e.event.body.kind_name());
                }
                Ok(())
            }
        }
    }

    /// The kinds of every block's events, in order, covering events
    /// [`Trace::first_event`]`..`[`Trace::event_count`]. A finished version 3 trace (or
    /// segment) lists them in its index, so nothing is read; blocks without them (a
    /// trace cut by a crash counts them when opened; an index written before they were
    /// counted) are scanned, at the speed of decompression. A version 1 or 2 trace reads
    /// as one stretch, counted by a scan.
    pub fn block_kinds(&self) -> Result<Vec<BlockKinds>, TraceError> {
        let Layout::Blocks(blocks) = &self.layout else {
            let mut counts = KindCounts::default();
            self.for_each_tag(|_, tag| counts.add(tag))?;
            return Ok(vec![BlockKinds {
                first: self.first,
                end: self.event_count,
                counts,
            }]);
        };
        let ends = blocks
            .iter()
            .skip(1)
            .map(|b| b.first)
            .chain([self.event_count]);
        let mut out: Vec<BlockKinds> = blocks
            .iter()
            .zip(ends)
            .map(|(b, end)| BlockKinds {
                first: b.first,
                end,
                counts: b.kinds.unwrap_or_default(),
            })
            .collect();
        let missing: Vec<usize> = (0..blocks.len())
            .filter(|&i| blocks[i].kinds.is_none())
            .collect();
        if missing.len() > blocks.len() / 2 {
            // Mostly uncounted: one scan of the whole trace, on every core.
            for c in &mut out {
                c.counts = KindCounts::default();
            }
            let mut at = 0;
            self.for_each_tag(|n, tag| {
                while out[at].end <= n {
                    at += 1;
                }
                out[at].counts.add(tag);
            })?;
            return Ok(out);
        }
        for i in missing {
            let (first, end) = (out[i].first, out[i].end);
            let mut counts = KindCounts::default();
            self.events_from(first)
                .for_each_tag(end, &mut |_, tag| counts.add(tag))?;
            out[i].counts = counts;
        }
        Ok(out)
    }

    /// Calls `f` with every event among `range` whose kind ([`EventBody::kind_name`]) is
    /// in `kinds`, in order, until it returns [`ControlFlow::Break`]. Blocks whose kinds
    /// are known and hold none of them are not read, so a finished trace's rare events
    /// come without reading the rest.
    ///
    /// [`EventBody::kind_name`]: crate::EventBody::kind_name
    pub fn for_each_event_of_kinds<E: From<TraceError>>(
        &self,
        kinds: &[&str],
        range: Range<u64>,
        mut f: impl FnMut(RecordedEvent) -> Result<ControlFlow<()>, E>,
    ) -> Result<(), E> {
        for stretch in self.block_kinds()? {
            let (first, end) = (stretch.first.max(range.start), stretch.end.min(range.end));
            if first >= end || kinds.iter().all(|k| stretch.counts.count(k) == 0) {
                continue;
            }
            // Exactly the stretch's events: reading one more would open the next block.
            for e in self.events_from(first).take((end - first) as usize) {
                let e = e?;
                if kinds.contains(&e.event.body.kind_name()) && f(e)?.is_break() {
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}
