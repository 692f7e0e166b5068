//! Verifying a version 3 trace on several threads.
//!
//! Almost all of a verification pass is per block: decompressing it, decoding and
//! re-encoding each event, hashing the chain through it. A block's header records the
//! chain value before it, so a range of blocks can be checked on its own, starting from
//! the values the index gives for its first block. The ranges are then joined in order,
//! which checks what joins them: each range must start exactly where the one before it
//! ended (the same byte offset, event number and chain value, so the index was right),
//! a blob referenced in a range but stored before it must be stored there with the
//! referenced length, and no blob may be stored twice.
//!
//! Any problem, in a range or in the joining, sends the whole trace through the
//! one-thread pass, which reports the first problem in trace order: the result and the
//! error are always the one-thread pass's, only faster when the trace is intact.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::TraceError;
use crate::format::HEADER_LEN;
use crate::reader::{Layout, Trace};

use super::blocks::Checker;

/// Fewer blocks than this per thread are checked on one thread: the threads would cost
/// more than they save.
const MIN_BLOCKS_PER_JOB: usize = 4;

/// One range of frames: its byte offsets and the checker it starts with.
struct Range {
    start: u64,
    end: u64,
    check: Checker,
}

impl Trace {
    /// The blocks checked in up to `jobs` ranges at once and joined, and how many ranges
    /// there were. `None` when one
    /// thread is asked for, the trace has too few blocks, or anything did not check
    /// out: the caller then runs the one-thread pass.
    pub(super) fn check_blocks_parallel(
        &self,
        jobs: usize,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Option<(Checker, usize)> {
        let ranges = self.ranges(jobs)?;
        let threads = ranges.len();
        let done: Vec<AtomicU64> = ranges.iter().map(|_| AtomicU64::new(0)).collect();
        let finished = AtomicU64::new(0);
        let main = std::thread::current();
        let results: Vec<Result<Checker, TraceError>> = std::thread::scope(|s| {
            let handles: Vec<_> = ranges
                .into_iter()
                .zip(&done)
                .map(|(r, done)| {
                    let (main, finished) = (main.clone(), &finished);
                    s.spawn(move || {
                        let frames = self.frames_between(r.start, r.end);
                        let mut note = |at: u64, _| done.store(at - r.start, Ordering::Relaxed);
                        let result = self.check_blocks(r.check, frames, &mut note);
                        finished.fetch_add(1, Ordering::Release);
                        main.unpark();
                        result
                    })
                })
                .collect();
            while finished.load(Ordering::Acquire) < handles.len() as u64 {
                let checked: u64 = done.iter().map(|d| d.load(Ordering::Relaxed)).sum();
                progress(HEADER_LEN + checked, self.frames_end);
                std::thread::park_timeout(std::time::Duration::from_millis(50));
            }
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        let mut results = results.into_iter();
        let mut joined = results.next()?.ok()?;
        for r in results {
            join(&mut joined, r.ok()?)?;
        }
        Some((joined, threads))
    }

    /// The ranges of blocks to check, one per job; `None` when fewer than two.
    fn ranges(&self, jobs: usize) -> Option<Vec<Range>> {
        let Layout::Blocks(blocks) = &self.layout else {
            return None;
        };
        let jobs = jobs.min(blocks.len() / MIN_BLOCKS_PER_JOB);
        if jobs < 2 {
            return None;
        }
        let first = blocks.first()?;
        let mut ranges = vec![Range {
            start: HEADER_LEN,
            end: self.frames_end,
            check: Checker::default(),
        }];
        for k in 1..jobs {
            let b = &blocks[blocks.len() * k / jobs];
            if let Some(last) = ranges.last_mut() {
                last.end = b.offset;
            }
            ranges.push(Range {
                start: b.offset,
                end: self.frames_end,
                check: Checker::at_block(b, first.first),
            });
        }
        Some(ranges)
    }
}

/// Appends the range `next` checked to `joined`, the ranges before it; `None` if they
/// do not join.
pub(super) fn join(joined: &mut Checker, next: Checker) -> Option<()> {
    let &(first, _, chain_before) = next.blocks.first()?;
    let joins = first == joined.events
        && chain_before == joined.chain
        && next.start == joined.start
        && joined.blocks.last().is_some();
    if !joins {
        return None;
    }
    for (digest, len) in next.deferred.iter().flatten() {
        let &(_, stored, _) = joined.blobs.get(digest)?;
        if len.is_some_and(|l| l != stored) {
            return None;
        }
    }
    for (digest, at) in next.blobs {
        if joined.blobs.insert(digest, at).is_some() {
            return None;
        }
    }
    joined.blocks.extend(next.blocks);
    joined.snapshots.extend(next.snapshots);
    joined.kinds.extend(next.kinds);
    joined.events = next.events;
    joined.chain = next.chain;
    joined.vouched += next.vouched;
    Some(())
}

#[cfg(test)]
mod tests {
    use super::{join, Checker};
    use crate::digest::Digest;

    /// The first range: events 0..10 over one block, a blob `b1` of 100 bytes stored.
    fn first() -> Checker {
        let mut c = Checker {
            events: 10,
            chain: Digest::of(b"after 10"),
            start: Some(0),
            blocks: vec![(0, 16, Digest::ZERO)],
            ..Checker::default()
        };
        c.blobs.insert(Digest::of(b"b1"), (16, 100, Some(0)));
        c
    }

    /// The next range as the index says it starts: at event 10, after `chain`.
    fn next(chain: Digest) -> Checker {
        Checker {
            events: 20,
            chain: Digest::of(b"after 20"),
            start: Some(0),
            blocks: vec![(10, 500, chain)],
            deferred: Some(Vec::new()),
            ..Checker::default()
        }
    }

    #[test]
    fn ranges_join_only_where_the_one_before_ended() {
        let mut joined = first();
        assert!(join(&mut joined, next(Digest::of(b"after 10"))).is_some());
        assert_eq!((joined.events, joined.blocks.len()), (20, 2));
        assert_eq!(joined.chain, Digest::of(b"after 20"));

        assert!(join(&mut first(), next(Digest::of(b"something else"))).is_none());
        let mut later = next(Digest::of(b"after 10"));
        later.blocks[0].0 = 11;
        assert!(
            join(&mut first(), later).is_none(),
            "a gap in event numbers"
        );
        let mut elsewhere = next(Digest::of(b"after 10"));
        elsewhere.start = Some(5);
        assert!(join(&mut first(), elsewhere).is_none(), "another start");
    }

    #[test]
    fn a_blob_stored_before_the_range_must_be_there_at_its_length_and_once() {
        let link = Digest::of(b"after 10");
        let refers = |d: &[u8], len| {
            let mut n = next(link);
            n.deferred = Some(vec![(Digest::of(d), len)]);
            n
        };
        assert!(join(&mut first(), refers(b"b1", Some(100))).is_some());
        assert!(join(&mut first(), refers(b"b1", None)).is_some());
        assert!(join(&mut first(), refers(b"b1", Some(99))).is_none());
        assert!(join(&mut first(), refers(b"b2", None)).is_none());
        let mut again = next(link);
        again.blobs.insert(Digest::of(b"b1"), (600, 100, None));
        assert!(join(&mut first(), again).is_none(), "stored twice");
    }
}
