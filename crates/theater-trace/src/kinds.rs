//! How many events of each kind a block holds.
//!
//! The writer counts them as it fills a block and lists the counts in the index (one
//! entry per block), so a reader learns where events of a kind are without reading the
//! blocks: the debugger builds a long trace's timeline from them, and a resumed run
//! finds the inputs a trace holds by reading only the blocks that hold some. `verify`
//! recomputes them from the blocks.

use crate::display::EVENT_KIND_NAMES;

/// Event kinds, by wire tag (the first byte of an encoded event).
const KINDS: usize = EVENT_KIND_NAMES.len();

/// The number of events of each kind in a stretch of a trace (a block).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KindCounts([u32; KINDS]);

impl KindCounts {
    /// Counts one event with wire tag `tag` (a tag no kind has is not counted: decoding
    /// that event fails, wherever it is read).
    pub(crate) fn add(&mut self, tag: u8) {
        if let Some(c) = self.0.get_mut(usize::from(tag)) {
            *c = c.saturating_add(1);
        }
    }

    /// How many events of `kind` ([`EventBody::kind_name`]) there are.
    ///
    /// [`EventBody::kind_name`]: crate::EventBody::kind_name
    pub fn count(&self, kind: &str) -> u32 {
        EVENT_KIND_NAMES
            .iter()
            .position(|k| *k == kind)
            .map_or(0, |i| self.0[i])
    }

    /// How many events have a kind `pick` accepts.
    pub fn count_where(&self, pick: impl Fn(&str) -> bool) -> u64 {
        EVENT_KIND_NAMES
            .iter()
            .zip(self.0)
            .filter(|(k, _)| pick(k))
            .map(|(_, c)| u64::from(c))
            .sum()
    }

    /// All events counted.
    pub fn total(&self) -> u64 {
        self.0.iter().map(|&c| u64::from(c)).sum()
    }

    /// The index's form: (tag, count) for every kind present, by tag.
    pub(crate) fn to_wire(self) -> Vec<(u8, u32)> {
        (0u8..).zip(self.0).filter(|&(_, c)| c > 0).collect()
    }

    /// From the index's form; `None` unless the tags are known, ascending, each once,
    /// and every count positive.
    pub(crate) fn from_wire(wire: &[(u8, u32)]) -> Option<KindCounts> {
        let mut counts = KindCounts::default();
        let mut last = None;
        for &(tag, count) in wire {
            if usize::from(tag) >= KINDS || last.is_some_and(|l| l >= tag) || count == 0 {
                return None;
            }
            counts.0[usize::from(tag)] = count;
            last = Some(tag);
        }
        Some(counts)
    }
}

/// The kinds of the events in one block: events `first..end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockKinds {
    pub first: u64,
    pub end: u64,
    pub counts: KindCounts,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_go_to_the_index_and_back() {
        let mut c = KindCounts::default();
        for tag in [6, 6, 5, 12, 6, 200] {
            c.add(tag);
        }
        assert_eq!(c.count("delivered"), 3);
        assert_eq!(c.count("input"), 1);
        assert_eq!(c.count("no such kind"), 0);
        assert_eq!(c.total(), 5);
        assert_eq!(c.count_where(|k| k != "delivered"), 2);
        assert_eq!(c.to_wire(), vec![(5, 1), (6, 3), (12, 1)]);
        assert_eq!(KindCounts::from_wire(&c.to_wire()), Some(c));
        for bad in [
            &[(6, 1), (5, 1)][..],
            &[(6, 1), (6, 1)],
            &[(99, 1)],
            &[(6, 0)],
        ] {
            assert_eq!(KindCounts::from_wire(bad), None, "{bad:?}");
        }
    }
}
