//! `Trace::check_inline`: the integrity check made while a replay reads the trace gives
//! the ordinary pass's report on an intact trace, whatever ranges it is split into and
//! however the replay reads, and never a report on a trace that pass finds damaged.
//!
//! The replay is simulated as `theater-runtime`'s replayer reads: in batches (each a
//! fresh iterator from the next event, so blocks are opened again mid-way), vouching
//! for every event it could have produced to the byte, and offering each block once its
//! last event is compared.

mod common;

use common::{fix_crc, for_seeds, sample};
use theater_trace::synth::{self, Rng};
use theater_trace::{
    vouchable, wire, Bytes, Delivery, EventBody, InlineChecked, MessageKind, Payload, Sender,
    Trace, TraceWriter, VerifyReport, WriterOptions, INLINE_PAYLOAD_MAX_BYTES,
};

fn blocks_of(events: u32) -> WriterOptions {
    WriterOptions {
        flush_every_events: events,
        ..WriterOptions::default()
    }
}

/// Reads events `from..=to` (to the end for `None`) of `trace` as a replay does, until
/// the first error; reads in batches of `batch` events.
fn replay(trace: &Trace, from: u64, to: Option<u64>, batch: usize) {
    let mut next = from;
    loop {
        let before = next;
        for e in trace.raw_events_from(next).take(batch) {
            let Ok(e) = e else { return };
            let Ok(body) = e.decode() else { return };
            let mut bytes = Vec::new();
            if wire::encode_body(&body, &mut bytes).is_ok()
                && Some(bytes.as_slice()) == e.bytes()
                && vouchable(&body)
            {
                e.vouch();
            }
            if e.ends_block() {
                trace.block_compared(&e);
            }
            next = e.number + 1;
            if to.is_some_and(|t| e.number >= t) {
                return;
            }
        }
        if next == before {
            return;
        }
    }
}

/// The inline check of `bytes` split at `starts` (each range on its own trace, as each
/// thread opens its own), or `None`.
fn inline(bytes: &[u8], starts: &[u64], batch: usize) -> Option<VerifyReport> {
    let mut bounds: Vec<Option<u64>> = vec![None];
    bounds.extend(starts.iter().map(|&s| Some(s)));
    let parts: Vec<InlineChecked> = (0..bounds.len())
        .map(|i| {
            let trace = Trace::from_bytes(bytes.to_vec()).unwrap();
            let (from, to) = (bounds[i], bounds.get(i + 1).copied().flatten());
            trace.check_inline(from, to);
            replay(&trace, from.unwrap_or(1), to, batch);
            trace.finish_inline()
        })
        .collect();
    Trace::from_bytes(bytes.to_vec())
        .unwrap()
        .inline_report(parts)
}

/// The report without what may differ between passes.
fn plain(r: VerifyReport) -> VerifyReport {
    VerifyReport {
        threads: 0,
        inline_blocks: 0,
        vouched_events: 0,
        ..r
    }
}

#[test]
fn an_intact_trace_checks_inline_as_the_ordinary_pass_in_any_ranges() {
    for_seeds(30, |seed| {
        let mut rng = Rng::new(seed);
        let s = sample(seed, 300, blocks_of(3 + (seed % 6) as u32));
        let trace = Trace::from_bytes(s.bytes.clone()).unwrap();
        assert!(trace.can_check_inline());
        let one = trace.verify().unwrap();
        let mut starts: Vec<u64> = (0..rng.below(4))
            .map(|_| 1 + rng.below(trace.event_count() - 1))
            .collect();
        starts.sort();
        starts.dedup();
        let batch = 1 + rng.below(40) as usize;
        let r = inline(&s.bytes, &starts, batch)
            .unwrap_or_else(|| panic!("seed {seed}: ranges {starts:?}, batch {batch}"));
        assert_eq!(plain(r), plain(one), "seed {seed}: ranges {starts:?}");
        let blocks = trace.block_count().unwrap();
        assert!(
            r.inline_blocks * 2 >= blocks,
            "seed {seed}: only {} of {blocks} blocks were checked as they were read",
            r.inline_blocks
        );
        assert!(
            r.vouched_events * 2 >= r.events,
            "seed {seed}: only {} of {} events were taken as vouched for",
            r.vouched_events,
            r.events
        );
    });
}

#[test]
fn nothing_offered_is_still_a_whole_check() {
    let s = sample(5, 200, blocks_of(4));
    let trace = Trace::from_bytes(s.bytes.clone()).unwrap();
    assert!(trace.check_inline(None, None));
    let r = trace.inline_report(vec![trace.finish_inline()]).unwrap();
    assert_eq!((r.inline_blocks, r.vouched_events), (0, 0));
    assert_eq!(plain(r), plain(trace.verify().unwrap()));
}

#[test]
fn a_damaged_trace_never_checks_inline() {
    let s = sample(0x1a11e, 60, blocks_of(4));
    let ends = common::frame_ends(&s.bytes);
    let mut starts_of = vec![16usize];
    starts_of.extend(ends.iter().map(|&(end, _)| end));
    let frame_at = |i: usize| *starts_of.iter().rev().find(|&&s| s <= i).unwrap();
    let mut damaged_seen = 0;
    // Every fifth byte flipped, the frame's checksum made right again: the damage
    // reaches the checks behind it (numbering, chain, encoding, index).
    for i in (16..s.bytes.len()).step_by(11) {
        let mut bytes = s.bytes.clone();
        bytes[i] ^= 0x5a;
        let at = frame_at(i);
        if at + 9 <= i && at < s.bytes.len() - 32 {
            fix_crc(&mut bytes, at);
        }
        let Ok(trace) = Trace::from_bytes(bytes.clone()) else {
            continue;
        };
        if !trace.can_check_inline() {
            continue;
        }
        let n = trace.event_count();
        let ordinary = trace.verify();
        for starts in [vec![], vec![n / 2], vec![n / 3, 2 * n / 3]] {
            let r = inline(&bytes, &starts, 7);
            match &ordinary {
                Ok(one) => assert_eq!(
                    r.map(plain),
                    Some(plain(*one)),
                    "flip at {i}: intact for the ordinary pass"
                ),
                Err(e) => assert!(
                    r.is_none(),
                    "flip at {i}, ranges {starts:?}: inline says intact, the ordinary pass says {e}"
                ),
            }
        }
        damaged_seen += usize::from(ordinary.is_err());
    }
    assert!(
        damaged_seen > 30,
        "only {damaged_seen} damaged traces tried"
    );
}

#[test]
fn an_event_the_format_forbids_is_caught_even_when_replayed_to_the_byte() {
    let big = vec![3u8; 5000];
    // A blob payload that names the stored blob with another length, one short enough
    // to be inline, and an inline payload over the inline limit: each decodes and
    // re-encodes to its own bytes, and each is damage.
    let cases = [
        ("a blob payload of the wrong length", Some(&big[..]), 4999),
        (
            "a blob payload short enough to be inline",
            Some(&b"tiny"[..]),
            4,
        ),
        (
            "an inline payload over the inline limit",
            None,
            INLINE_PAYLOAD_MAX_BYTES + 1,
        ),
    ];
    for (name, blob, len) in cases {
        let mut w = TraceWriter::new(Vec::new(), synth::header(1), b"m", blocks_of(4)).unwrap();
        let bad = match blob {
            Some(bytes) => Payload::Blob {
                digest: w.blob(bytes).unwrap(),
                len: len as u64,
            },
            None => Payload::Inline(Bytes(vec![1; len])),
        };
        for seq in 0..20 {
            let payload = if seq == 9 {
                bad.clone()
            } else {
                Payload::of(b"x")
            };
            w.append(EventBody::Delivered(Delivery {
                seq,
                from: Sender::External,
                to: 0,
                kind: MessageKind::OneWay,
                payload,
                time_ns: 0,
            }))
            .unwrap();
        }
        let (_, bytes) = w.finish().unwrap();
        let trace = Trace::from_bytes(bytes.clone()).unwrap();
        assert!(
            trace.verify().is_err(),
            "{name}: the ordinary pass finds it"
        );
        assert!(inline(&bytes, &[], 5).is_none(), "{name}: inline");
        assert!(
            inline(&bytes, &[8], 3).is_none(),
            "{name}: inline, two ranges"
        );
    }
}

#[test]
fn a_cut_trace_is_left_to_the_ordinary_pass() {
    let s = sample(9, 100, blocks_of(4));
    let cut = &s.bytes[..s.bytes.len() - 100];
    let trace = Trace::from_bytes(cut.to_vec()).unwrap();
    assert!(trace.recovery().is_some());
    assert!(!trace.can_check_inline());
    assert!(!trace.check_inline(None, None));
}
