//! Verifying a trace while a replay reads it.
//!
//! `verify` checks a trace's integrity and replays it. Made one after the other, both
//! read every block: the integrity pass decompresses it, hashes the chain through it and
//! decodes and re-encodes every event; the replay decompresses it and hashes the chain
//! again. Made inline, the check takes the blocks the replay has read, with the chain
//! values its reader computed, so each block is decompressed and hashed once; and it
//! decodes no event the replay vouched for ([`RawEvent::vouch`]): one the replay
//! produced to the byte (so its bytes are canonical) that [`crate::vouchable`] accepts
//! (no header, snapshot or blob reference, payloads as the format wants them), where
//! what is left to check is where it stands.
//!
//! A check is attached to an open trace for a range of its frames
//! ([`Trace::check_inline`]). When the replay has compared the last event of a block, it
//! offers the block ([`Trace::block_compared`]); the check takes it unless it has passed
//! it, first reading and checking itself any frames before it that were not offered
//! (blobs; a block whose events the replay did not all compare). So whatever the replay
//! does, the check advances through the frames in order and never skips one. When the
//! replay is done, [`Trace::finish_inline`] checks the rest of the range, and
//! [`Trace::inline_report`] joins the ranges in order as the parallel pass joins its own
//! (see `super::parallel`).
//!
//! Anything that does not check out makes the report `None`: the caller then runs the
//! ordinary pass, which reports the first problem in trace order. So the result and the
//! error are always the ordinary pass's, and the inline check only saves work on an
//! intact trace.

use std::any::Any;

use crate::format::HEADER_LEN;
use crate::reader::{Decoded, Layout, RawEvent, Trace};

use super::blocks::Checker;
use super::VerifyReport;

/// A check in progress over the frames `next..end`, kept with the trace
/// (`Trace::inline`).
#[derive(Debug)]
struct InlineCheck {
    check: Checker,
    /// The next frame to check.
    next: u64,
    /// Frames from here on belong to the next range.
    end: u64,
    /// Blocks checked as a reader decoded them.
    offered: u64,
    /// A problem was found: the range is left to the ordinary pass.
    failed: bool,
}

/// One range's part of an inline check, once its replay is done.
#[derive(Debug)]
pub struct InlineChecked(Part);

#[derive(Debug)]
enum Part {
    /// Nothing was attached: the range holds no block of its own.
    Empty,
    /// Something did not check out.
    Failed,
    Done {
        check: Checker,
        offered: u64,
    },
}

impl Trace {
    /// Whether an inline check can be made on this trace: one version 3 file, finished
    /// (a trace cut by a crash, a directory of segments and older versions are checked
    /// by the ordinary pass).
    pub fn can_check_inline(&self) -> bool {
        matches!(self.layout, Layout::Blocks(_))
            && self.segments.is_empty()
            && self.recovery.is_none()
            && self.external.is_none()
    }

    /// Attaches a check of the frames from the block holding event `from` (`None`: the
    /// first frame) up to the block holding event `to` (`None`: the last frame), made
    /// as a replay of this trace compares the events of its blocks. Ranges made from
    /// consecutive events of one trace cover every frame once. Returns whether a check
    /// was attached: a range whose blocks all belong to its neighbours has nothing of
    /// its own. Attach it before the replay starts.
    pub fn check_inline(&self, from: Option<u64>, to: Option<u64>) -> bool {
        if !self.can_check_inline() {
            return false;
        }
        let Layout::Blocks(blocks) = &self.layout else {
            return false;
        };
        let holding = |n: u64| blocks.partition_point(|b| b.first <= n).checked_sub(1);
        let (start, check) = match from.map(holding) {
            None => (HEADER_LEN, Checker::default()),
            Some(Some(i)) => (
                blocks[i].offset,
                Checker::at_block(&blocks[i], blocks[0].first),
            ),
            Some(None) => return false,
        };
        let end = match to.map(holding) {
            None => self.frames_end,
            Some(Some(i)) => blocks[i].offset,
            Some(None) => return false,
        };
        if start >= end {
            return false;
        }
        *slot(self) = Some(Box::new(InlineCheck {
            check,
            next: start,
            end,
            offered: 0,
            failed: false,
        }));
        true
    }

    /// Whether a check is attached (see [`Trace::check_inline`]): a replay vouches for
    /// events only then.
    pub fn checking_inline(&self) -> bool {
        slot(self).is_some()
    }

    /// A replay has compared the events of `last`'s block up to `last`, its last: the
    /// block is offered to the check attached to this trace, if any.
    pub fn block_compared(&self, last: &RawEvent) {
        if let Some(block) = last.block() {
            self.offer_inline(last.offset, block);
        }
    }

    /// The block at `offset`, its events compared: the attached check takes it unless
    /// it has passed it (checking itself any frames before it that were not offered).
    fn offer_inline(&self, offset: u64, block: &Decoded) {
        let mut slot = slot(self);
        let Some(c) = slot.as_mut().and_then(|c| c.downcast_mut::<InlineCheck>()) else {
            return;
        };
        if c.failed || offset < c.next || offset >= c.end {
            return;
        }
        if offset > c.next {
            // Frames before it that no replay offered (blobs; a block whose events the
            // replay did not all compare, such as the one holding only the run header)
            // are read and checked here.
            let frames = self.frames_between(c.next, offset);
            match self.check_blocks(std::mem::take(&mut c.check), frames, &mut |_, _| {}) {
                Ok(check) => c.check = check,
                Err(_) => {
                    c.failed = true;
                    return;
                }
            }
        }
        match c.check.decoded_block(offset, block) {
            Ok(()) => {
                c.next = offset + block.frame_len;
                c.offered += 1;
            }
            Err(_) => c.failed = true,
        }
    }

    /// Detaches the check and finishes it: the frames of its range no reader opened are
    /// checked here.
    pub fn finish_inline(&self) -> InlineChecked {
        let Some(c) = slot(self)
            .take()
            .and_then(|c| c.downcast::<InlineCheck>().ok())
        else {
            return InlineChecked(Part::Empty);
        };
        if c.failed {
            return InlineChecked(Part::Failed);
        }
        let frames = self.frames_between(c.next, c.end);
        InlineChecked(match self.check_blocks(c.check, frames, &mut |_, _| {}) {
            Ok(check) => Part::Done {
                check,
                offered: c.offered,
            },
            Err(_) => Part::Failed,
        })
    }

    /// The whole check, from every range's part in trace order: what [`Trace::verify`]
    /// would report, or `None` when anything did not check out (run that pass then: it
    /// reports the first problem in trace order).
    pub fn inline_report(&self, parts: Vec<InlineChecked>) -> Option<VerifyReport> {
        let mut joined: Option<Checker> = None;
        let (mut offered, mut ranges) = (0, 0);
        for part in parts {
            match part.0 {
                Part::Empty => {}
                Part::Failed => return None,
                Part::Done { check, offered: o } => {
                    offered += o;
                    ranges += 1;
                    match joined.as_mut() {
                        None => joined = Some(check),
                        Some(j) => super::parallel::join(j, check)?,
                    }
                }
            }
        }
        let joined = joined?;
        // The first part must be the one from the first frame: only it resolves every
        // blob reference itself.
        if joined.deferred.is_some() {
            return None;
        }
        let vouched = joined.vouched;
        let mut report = self.blocks_report(joined, ranges).ok()?;
        report.inline_blocks = offered;
        report.vouched_events = vouched;
        Some(report)
    }
}

/// The check attached to `trace`, if any, locked.
fn slot(trace: &Trace) -> std::sync::MutexGuard<'_, Option<Box<dyn Any + Send>>> {
    trace.inline.0.lock().unwrap_or_else(|p| p.into_inner())
}
