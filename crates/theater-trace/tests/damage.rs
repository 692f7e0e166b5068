//! Damage: every single-byte flip of a sample trace (compressed blocks, compressed
//! blobs, index, footer) is reported (never a panic, never a silent success), and every
//! truncation opens the longest prefix of whole blocks.

mod common;

use common::{events_before, frame_ends, sample};
use theater_trace::{Digest, Problem, Trace, TraceError, WriterOptions};

/// Forty events in blocks of four, with blobs between them.
fn small_sample() -> common::Sample {
    let options = WriterOptions {
        flush_every_events: 4,
        ..WriterOptions::default()
    };
    sample(0xda3a6e, 40, options)
}

#[test]
fn every_single_byte_flip_is_reported_with_its_offset() {
    let s = small_sample();
    let original = Trace::from_bytes(s.bytes.clone()).unwrap();
    let digests: Vec<Digest> = original.events().map(|e| e.unwrap().digest).collect();
    let ends = frame_ends(&s.bytes);
    assert!(s.bytes.len() > 2000, "sample too small to be interesting");
    for mask in [0xffu8, 0x01] {
        for i in 0..s.bytes.len() {
            let mut damaged = s.bytes.clone();
            damaged[i] ^= mask;
            let outcome = Trace::from_bytes(damaged).and_then(|t| {
                // Whatever opened, the events before the damaged frame are intact.
                let intact = events_before(&ends, i);
                let read: Vec<Digest> = t
                    .events()
                    .take(intact)
                    .map_while(Result::ok)
                    .map(|e| e.digest)
                    .collect();
                assert_eq!(
                    read[..],
                    digests[..intact.min(t.event_count() as usize)],
                    "flip at {i} lost events"
                );
                t.verify()
            });
            let err = match outcome {
                Ok(report) => panic!("flip {mask:#04x} at byte {i} went unnoticed: {report:?}"),
                Err(e) => e,
            };
            let (offset, incomplete) = match &err {
                TraceError::Corrupt(c) => {
                    (c.offset, matches!(c.problem, Problem::Incomplete { .. }))
                }
                other => panic!("flip at {i}: expected a corruption report, got {other}"),
            };
            assert!(
                offset <= i as u64,
                "flip at {i} reported at later offset {offset}: {err}"
            );
            if incomplete {
                // A damaged footer or index: the trace is reported incomplete from the
                // end of the last intact event or blob frame.
                continue;
            }
            // The report names the frame holding the flipped byte.
            let frame_end = ends
                .iter()
                .map(|&(e, _)| e)
                .find(|&e| e > offset as usize)
                .unwrap_or(16);
            assert!(
                i < frame_end || offset == 0,
                "flip at {i} reported in frame {offset}..{frame_end}: {err}"
            );
        }
    }
}

#[test]
fn every_truncation_opens_the_longest_complete_prefix() {
    let s = small_sample();
    let original = Trace::from_bytes(s.bytes.clone()).unwrap();
    let digests: Vec<Digest> = original.events().map(|e| e.unwrap().digest).collect();
    let ends = frame_ends(&s.bytes);
    for cut in 0..s.bytes.len() {
        let t = Trace::from_bytes(s.bytes[..cut].to_vec())
            .unwrap_or_else(|e| panic!("truncation at {cut} does not open: {e}"));
        let complete = events_before(&ends, cut);
        assert_eq!(t.event_count(), complete as u64, "truncation at {cut}");
        let got: Vec<Digest> = t.events().map(|e| e.unwrap().digest).collect();
        assert_eq!(got[..], digests[..complete], "truncation at {cut}");
        let expected_head = if complete == 0 {
            Digest::ZERO
        } else {
            digests[complete - 1]
        };
        assert_eq!(t.head(), expected_head);
        let recovery = t
            .recovery()
            .expect("a truncated trace is opened by recovery");
        assert_eq!(recovery.valid_bytes + recovery.dropped_bytes, cut as u64);
        match t.verify() {
            Err(TraceError::Corrupt(c)) => assert!(
                matches!(c.problem, Problem::Incomplete { .. }),
                "truncation at {cut}: {c}"
            ),
            other => panic!(
                "truncation at {cut}: verify must report the trace incomplete, got {other:?}"
            ),
        }
    }
    // The whole file is the one clean case.
    let whole = Trace::from_bytes(s.bytes.clone()).unwrap();
    assert_eq!(whole.recovery(), None);
    whole.verify().unwrap();
}

#[test]
fn a_torn_block_is_dropped_whole_and_its_events_counted() {
    let s = small_sample();
    let ends = frame_ends(&s.bytes);
    // Cut in the middle of the last block.
    let (last_block_end, count) = *ends.iter().rev().find(|&&(_, n)| n > 0).unwrap();
    assert!(count > 1, "the last block holds {count} events");
    let t = Trace::from_bytes(s.bytes[..last_block_end - 3].to_vec()).unwrap();
    let r = t.recovery().unwrap();
    assert_eq!(r.dropped_events, count);
    assert!(r.reason.contains("truncated"), "{}", r.reason);
    assert_eq!(t.event_count(), s.summary.events - count);
    let whole = Trace::from_bytes(s.bytes.clone()).unwrap();
    assert_eq!(t.head(), whole.event(t.event_count() - 1).unwrap().digest);
}

#[test]
fn garbage_is_not_a_trace() {
    for garbage in [
        &b"hello world, not a trace"[..],
        &[0u8; 100],
        b"\x89TTRACE\n\x02\0\0\0\0\0\0\0",
    ] {
        let err = Trace::from_bytes(garbage.to_vec()).unwrap_err();
        assert_eq!(err.offset(), Some(0), "{err}");
    }
    // An empty file is a writer that died before its first write: an empty trace.
    let t = Trace::from_bytes(Vec::new()).unwrap();
    assert_eq!(t.event_count(), 0);
    assert!(t.verify().is_err());
}

#[test]
fn oversized_frame_length_is_refused_without_allocating_it() {
    let s = small_sample();
    let mut damaged = s.bytes[..16].to_vec();
    // A block frame claiming 4 GiB.
    damaged.extend_from_slice(&[5, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
    damaged.extend_from_slice(&[0; 64]);
    let t = Trace::from_bytes(damaged).unwrap();
    assert_eq!(t.event_count(), 0);
    assert!(
        t.recovery().unwrap().reason.contains("exceeds"),
        "{:?}",
        t.recovery()
    );
}

#[test]
fn random_multi_byte_damage_never_panics_and_never_verifies() {
    let s = small_sample();
    theater_trace::synth::for_seeds(300, |seed| {
        let mut rng = theater_trace::synth::Rng::new(seed);
        let mut bytes = s.bytes.clone();
        for _ in 0..1 + rng.below(8) {
            let at = rng.below(bytes.len() as u64) as usize;
            bytes[at] = rng.next_u64() as u8;
        }
        if rng.below(3) == 0 {
            bytes.truncate(rng.below(bytes.len() as u64) as usize);
        }
        let changed = bytes != s.bytes;
        // Every entry point, on whatever opened: errors are fine, panics are not.
        if let Ok(t) = Trace::from_bytes(bytes) {
            let n = t.event_count();
            let _ = t.events().count();
            for k in [0, n / 2, n.saturating_sub(1), n, n + 5] {
                let _ = t.event(k);
            }
            for e in t.events().flatten() {
                e.event.body.for_each_blob_ref(|d| {
                    let _ = t.blob(d);
                });
            }
            let verified = t.verify();
            assert!(!changed || verified.is_err(), "damage went unnoticed");
        }
    });
}

#[test]
fn a_block_without_events_is_damage() {
    // The writer never seals a block without events, and readers rely on every block
    // holding one. A crafted one, put before the last block with the numbering and chain
    // of the block after it, ends the intact prefix.
    let s = sample(
        0xe4,
        60,
        WriterOptions {
            flush_every_events: 4,
            ..WriterOptions::default()
        },
    );
    let blocks = common::blocks(&s.bytes);
    let (last, _, _) = *blocks.last().unwrap();
    let mut header = s.bytes[last + 9..last + 9 + 49].to_vec();
    header[8..16].fill(0); // no events, no raw bytes
    header[48] = 0; // stored
    let mut bytes = s.bytes[..last].to_vec();
    bytes.push(5);
    bytes.extend_from_slice(&(header.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&[0; 4]);
    bytes.extend_from_slice(&header);
    common::fix_crc(&mut bytes, last);
    bytes.extend_from_slice(&s.bytes[last..]);
    let trace = Trace::from_bytes(bytes).unwrap();
    let r = trace.recovery().expect("opened by scanning");
    assert_eq!(r.valid_bytes, last as u64);
    assert!(r.reason.contains("declares 0 events"), "{}", r.reason);
    assert_eq!(trace.block_count(), Some(blocks.len() as u64 - 1));
    let read = trace.events().collect::<Result<Vec<_>, _>>().unwrap();
    assert_eq!(read.len() as u64, trace.event_count());
}
