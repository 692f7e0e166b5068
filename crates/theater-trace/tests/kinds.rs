//! Every block's event kinds, listed in the index: they are the kinds the block's events
//! have (finished, cut by a crash, or verified), and reading the events of some kinds
//! reads only the blocks that hold them.

mod common;

use std::ops::ControlFlow;

use common::{for_seeds, sample};
use theater_trace::synth::Rng;
use theater_trace::{KindCounts, Trace, WriterOptions};

fn options(rng: &mut Rng) -> WriterOptions {
    WriterOptions {
        flush_every_events: 1 + rng.below(60) as u32,
        ..WriterOptions::default()
    }
}

/// Each block's kinds, from a scan of every event's kind.
fn scanned(trace: &Trace) -> Vec<(u64, u64, KindCounts)> {
    let blocks = trace.block_kinds().unwrap();
    let mut names = Vec::new();
    trace
        .for_each_kind(|n, kind| names.push((n, kind)))
        .unwrap();
    blocks
        .iter()
        .map(|b| {
            let here: Vec<&str> = names
                .iter()
                .filter(|(n, _)| (b.first..b.end).contains(n))
                .map(|(_, k)| *k)
                .collect();
            for k in theater_trace::EVENT_KIND_NAMES {
                let count = here.iter().filter(|h| **h == k).count() as u32;
                assert_eq!(b.counts.count(k), count, "{k} in {}..{}", b.first, b.end);
            }
            assert_eq!(b.counts.total(), b.end - b.first);
            (b.first, b.end, b.counts)
        })
        .collect()
}

#[test]
fn a_blocks_kinds_are_its_events_kinds_finished_or_cut() {
    for_seeds(30, |seed| {
        let mut rng = Rng::new(seed);
        let s = sample(seed, 50 + rng.below(400), options(&mut rng));
        let trace = Trace::from_bytes(s.bytes.clone()).unwrap();
        let whole = scanned(&trace);
        assert_eq!(whole.last().unwrap().1, trace.event_count());
        trace.verify().unwrap();
        // Cut: the kinds are counted as the blocks are walked on opening.
        let cut = 16 + rng.below(s.bytes.len() as u64 - 16) as usize;
        if let Ok(t) = Trace::from_bytes(s.bytes[..cut].to_vec()) {
            let kept = scanned(&t);
            assert_eq!(kept[..], whole[..kept.len()]);
        }
    });
}

#[test]
fn the_events_of_some_kinds_are_read_from_the_blocks_that_hold_them_only() {
    for_seeds(20, |seed| {
        let mut rng = Rng::new(seed);
        let s = sample(seed, 200 + rng.below(400), options(&mut rng));
        let trace = Trace::from_bytes(s.bytes.clone()).unwrap();
        let kinds = ["input", "refused"];
        let mut expected = Vec::new();
        for e in trace.events() {
            let e = e.unwrap();
            if kinds.contains(&e.event.body.kind_name()) {
                expected.push(e);
            }
        }
        let mut got = Vec::new();
        trace
            .for_each_event_of_kinds(&kinds, 0..u64::MAX, |e| {
                got.push(e);
                Ok::<_, theater_trace::TraceError>(ControlFlow::Continue(()))
            })
            .unwrap();
        assert_eq!(got, expected);
        // A range, and a stop.
        let (a, b) = (trace.event_count() / 3, trace.event_count() * 2 / 3);
        let mut part = Vec::new();
        trace
            .for_each_event_of_kinds(&kinds, a..b, |e| {
                part.push(e.number);
                Ok::<_, theater_trace::TraceError>(if part.len() == 3 {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                })
            })
            .unwrap();
        let want: Vec<u64> = expected
            .iter()
            .map(|e| e.number)
            .filter(|n| (a..b).contains(n))
            .take(3)
            .collect();
        assert_eq!(part, want);
        // Damage a block that holds none of them (not the first, which opening reads
        // for the run header): the events of those kinds still read (the block is
        // never read), while a full scan finds the damage.
        let Some(quiet) = trace
            .block_kinds()
            .unwrap()
            .into_iter()
            .find(|b| b.first > 0 && kinds.iter().all(|k| b.counts.count(k) == 0))
        else {
            return;
        };
        let offset = trace.event(quiet.first).unwrap().offset as usize;
        let mut damaged = s.bytes.clone();
        damaged[offset + 20] ^= 0x55;
        let trace = Trace::from_bytes(damaged).unwrap();
        let mut again = Vec::new();
        trace
            .for_each_event_of_kinds(&kinds, 0..u64::MAX, |e| {
                again.push(e);
                Ok::<_, theater_trace::TraceError>(ControlFlow::Continue(()))
            })
            .unwrap();
        assert_eq!(again, expected);
        assert!(trace.events().any(|e| e.is_err()));
    });
}
