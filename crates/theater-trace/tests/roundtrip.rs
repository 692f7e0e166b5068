//! Round trips of random event streams through `trace.bin`: every event, blob and the
//! chain head come back exactly, by iteration and by random access.

mod common;

use common::{for_seeds, sample};
use theater_trace::synth::Rng;
use theater_trace::wire::body_bytes;
use theater_trace::{
    chain_link, Digest, EventBody, Payload, Trace, TraceError, TraceWriter, WriterOptions,
    INLINE_PAYLOAD_MAX_BYTES,
};

fn random_options(rng: &mut Rng) -> WriterOptions {
    WriterOptions {
        flush_every_events: 1 + rng.below(50) as u32,
        block_max_bytes: 1 + rng.below(4000) as u32,
        ..WriterOptions::default()
    }
}

#[test]
fn random_streams_round_trip_exactly() {
    for_seeds(48, |seed| {
        let mut rng = Rng::new(seed ^ 0x5eed);
        let options = random_options(&mut rng);
        let events = 1 + rng.below(600);
        let s = sample(seed, events, options.clone());
        let trace = Trace::from_bytes(s.bytes.clone()).unwrap();
        assert_eq!(trace.recovery(), None);
        assert_eq!(trace.event_count(), s.summary.events);
        assert_eq!(trace.event_count(), 1 + s.bodies.len() as u64);
        assert_eq!(trace.head(), s.summary.head);
        assert_eq!(trace.header().unwrap().seed, seed);

        // Iteration: bodies, chain links and digests.
        let mut parent = Digest::ZERO;
        let all: Vec<_> = trace.events().map(Result::unwrap).collect();
        assert_eq!(all.len() as u64, trace.event_count());
        for (i, e) in all.iter().enumerate() {
            assert_eq!(e.number, i as u64);
            assert_eq!(e.event.parent, parent);
            assert_eq!(
                e.digest,
                chain_link(&parent, &body_bytes(&e.event.body).unwrap())
            );
            if i > 0 {
                assert_eq!(e.event.body, s.bodies[i - 1]);
            }
            parent = e.digest;
        }
        assert_eq!(parent, s.summary.head);

        // Random access agrees with iteration, in any order.
        for _ in 0..50 {
            let n = rng.below(trace.event_count());
            assert_eq!(trace.event(n).unwrap(), all[n as usize]);
            let from: Vec<_> = trace.events_from(n).take(3).map(Result::unwrap).collect();
            assert_eq!(from[..], all[n as usize..(n as usize + 3).min(all.len())]);
        }
        assert!(matches!(
            trace.event(trace.event_count()),
            Err(TraceError::EventOutOfRange { .. })
        ));

        // Every referenced blob is there and hashes to its digest.
        for e in &all {
            e.event.body.for_each_blob_ref(|d| {
                let bytes = trace.blob(d).unwrap().expect("referenced blob present");
                assert_eq!(Digest::of(&bytes), *d);
            });
        }

        let report = trace.verify().unwrap();
        assert_eq!(report.head, s.summary.head);
        assert_eq!(report.events, s.summary.events);
        assert_eq!(report.blobs, s.summary.blobs);

        // The same stream written again gives the same bytes (canonical encoding).
        assert_eq!(sample(seed, events, options).bytes, s.bytes);
    });
}

fn writer() -> TraceWriter<Vec<u8>> {
    TraceWriter::new(
        Vec::new(),
        theater_trace::synth::header(1),
        b"m",
        WriterOptions::default(),
    )
    .unwrap()
}

/// A one-way message from outside to actor 0 at time 0.
fn external_message(seq: u64, payload: Payload) -> theater_trace::Delivery {
    theater_trace::Delivery {
        seq,
        from: theater_trace::Sender::External,
        to: 0,
        kind: theater_trace::MessageKind::OneWay,
        payload,
        time_ns: 0,
    }
}

#[test]
fn identical_payloads_are_stored_once() {
    let mut w = writer();
    let payload = vec![7u8; 1000];
    for seq in 0..1000 {
        let p = w.payload(&payload).unwrap();
        assert!(matches!(p, Payload::Blob { len: 1000, .. }));
        w.append(EventBody::Delivered(theater_trace::Delivery {
            seq,
            from: theater_trace::Sender::External,
            to: 0,
            kind: theater_trace::MessageKind::OneWay,
            payload: p,
            time_ns: seq,
        }))
        .unwrap();
    }
    let (summary, bytes) = w.finish().unwrap();
    // The manifest and one payload blob.
    assert_eq!(summary.blobs, 2);
    // 1000 copies would take 1,000,000 bytes even compressed together (they are
    // compressed one by one); 1000 references take under 50 bytes each.
    assert!(
        bytes.len() < 50_000,
        "{} bytes: payload stored more than once?",
        bytes.len()
    );
    let trace = Trace::from_bytes(bytes).unwrap();
    assert_eq!(trace.blob_count(), 2);
    trace.verify().unwrap();
}

#[test]
fn small_payloads_are_inline_and_large_ones_are_blobs() {
    let mut w = writer();
    let at_limit = w.payload(&[1; INLINE_PAYLOAD_MAX_BYTES]).unwrap();
    let over = w.payload(&[1; INLINE_PAYLOAD_MAX_BYTES + 1]).unwrap();
    assert!(matches!(at_limit, Payload::Inline(_)));
    assert!(matches!(over, Payload::Blob { .. }));
    assert_eq!(
        at_limit.digest(),
        Digest::of(&[1; INLINE_PAYLOAD_MAX_BYTES])
    );
}

#[test]
fn verify_holds_payloads_to_the_inline_limit() {
    // A payload has one form: inline up to the limit, a blob above it. The other form of
    // the same bytes, at the limit and one byte over, is refused as non-canonical.
    for (len, as_blob) in [
        (INLINE_PAYLOAD_MAX_BYTES, true),
        (INLINE_PAYLOAD_MAX_BYTES + 1, false),
    ] {
        let mut w = writer();
        let bytes = vec![7u8; len];
        let canonical = w.payload(&bytes).unwrap();
        let payload = if as_blob {
            let digest = w.blob(&bytes).unwrap();
            Payload::Blob {
                digest,
                len: len as u64,
            }
        } else {
            Payload::Inline(bytes.clone().into())
        };
        // The two forms denote the same bytes, so they compare equal.
        assert_eq!(payload, canonical);
        assert_eq!(payload.by_reference(), canonical.by_reference());
        w.append(EventBody::Input(external_message(0, payload)))
            .unwrap();
        let (_, out) = w.finish().unwrap();
        let err = Trace::from_bytes(out).unwrap().verify().unwrap_err();
        assert!(
            err.to_string().contains("not canonical"),
            "{len} B (as blob: {as_blob}): {err}"
        );
    }
}

#[test]
fn payloads_compare_by_content() {
    let long = vec![3u8; 40];
    let inline = Payload::Inline(long.clone().into());
    let blob = Payload::Blob {
        digest: Digest::of(&long),
        len: 40,
    };
    assert_eq!(inline, blob);
    assert_eq!(blob, inline);
    let other = Payload::Inline(vec![4u8; 40].into());
    assert_ne!(other, blob);
    let wrong_len = Payload::Blob {
        digest: Digest::of(&long),
        len: 41,
    };
    assert_ne!(inline, wrong_len);
}

#[test]
fn writer_refuses_event_referencing_unwritten_blob() {
    let mut w = writer();
    let ghost = Digest::of(b"never written");
    let err = w
        .append(EventBody::ComponentRegistered {
            name: "ghost".into(),
            component: ghost,
        })
        .unwrap_err();
    assert!(matches!(err, TraceError::UnknownBlob { digest } if digest == ghost));
    // Nothing was written: the trace is still valid.
    let (summary, bytes) = w.finish().unwrap();
    assert_eq!(summary.events, 1);
    Trace::from_bytes(bytes).unwrap().verify().unwrap();
}

#[test]
fn trace_size_limit_refuses_the_frame_that_would_cross_it_and_keeps_the_rest() {
    let options = WriterOptions {
        trace_max_bytes: 4096,
        ..WriterOptions::default()
    };
    let mut w =
        TraceWriter::new(Vec::new(), theater_trace::synth::header(1), b"m", options).unwrap();
    let mut accepted = 0u64;
    let err = loop {
        match theater_trace::synth::ping_pong_round(&mut w, accepted) {
            Ok(()) => accepted += 1,
            Err(e) => break e,
        }
    };
    assert!(
        matches!(
            err,
            TraceError::LimitExceeded {
                limit: "trace_max_bytes",
                max: 4096,
                ..
            }
        ),
        "{err}"
    );
    assert!(w.bytes() <= 4096);
    let events = w.event_count();
    let (summary, bytes) = w.finish().unwrap();
    assert_eq!(summary.events, events);
    let trace = Trace::from_bytes(bytes).unwrap();
    assert_eq!(trace.verify().unwrap().events, events);
}

#[test]
fn run_header_cannot_be_appended() {
    let mut w = writer();
    let err = w
        .append(EventBody::RunStarted(theater_trace::synth::header(2)))
        .unwrap_err();
    assert!(matches!(err, TraceError::Misuse(_)));
}

#[test]
fn json_export_has_one_line_per_event_with_hex_digests() {
    let s = sample(9, 200, WriterOptions::default());
    let trace = Trace::from_bytes(s.bytes).unwrap();
    let mut out = Vec::new();
    let n = theater_trace::export_json_lines(&trace, &mut out).unwrap();
    assert_eq!(n, trace.event_count());
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len() as u64, n);
    let last: serde_json::Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    assert_eq!(last["digest"], trace.head().to_hex());
    assert_eq!(last["number"], n - 1);
    let first: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(first["kind"], "run-started");
    assert_eq!(first["parent"], Digest::ZERO.to_hex());
    // The body deserializes back into the event model, and with its parent gives the head.
    let body: EventBody = serde_json::from_value(last["body"].clone()).unwrap();
    let parent = Digest::from_hex(last["parent"].as_str().unwrap()).unwrap();
    assert_eq!(
        chain_link(&parent, &body_bytes(&body).unwrap()),
        trace.head()
    );
}

#[test]
fn blocks_end_at_their_event_and_byte_bounds() {
    let never = u64::MAX / 2;
    // By count: the header's block (the constructor flushes it), then blocks of exactly
    // five events, then what is left.
    let by_count = WriterOptions {
        flush_every_events: 5,
        flush_interval_ms: never,
        block_max_bytes: u32::MAX,
        ..WriterOptions::default()
    };
    let s = sample(11, 53, by_count);
    let blocks = common::blocks(&s.bytes);
    let counts: Vec<u32> = blocks.iter().map(|b| b.1).collect();
    assert_eq!(counts[0], 1, "{counts:?}");
    assert!(
        counts[1..counts.len() - 1].iter().all(|&c| c == 5),
        "{counts:?}"
    );
    assert_eq!(
        counts.iter().map(|&c| u64::from(c)).sum::<u64>(),
        s.summary.events
    );
    Trace::from_bytes(s.bytes).unwrap().verify().unwrap();

    // By bytes: no block holds more than 200 raw bytes unless it is one event.
    let by_bytes = WriterOptions {
        flush_every_events: u32::MAX,
        flush_interval_ms: never,
        block_max_bytes: 200,
        ..WriterOptions::default()
    };
    let s = sample(12, 300, by_bytes);
    let blocks = common::blocks(&s.bytes);
    assert!(blocks.len() > 10, "{} blocks", blocks.len());
    for &(at, count, raw) in &blocks {
        assert!(
            raw <= 200 || count == 1,
            "block at {at}: {count} events in {raw} bytes"
        );
    }
    assert!(
        blocks.iter().any(|&(_, c, raw)| c > 1 && raw > 150),
        "blocks are filled up to the bound"
    );
    Trace::from_bytes(s.bytes).unwrap().verify().unwrap();
}

#[test]
fn a_block_declaring_more_than_the_frame_maximum_is_damage() {
    let s = sample(13, 20, WriterOptions::default());
    let mut bytes = s.bytes.clone();
    let (at, _, _) = common::blocks(&bytes)[0];
    let over = (theater_trace::format::FRAME_PAYLOAD_MAX_BYTES + 1) as u32;
    bytes[at + 9 + 12..at + 9 + 16].copy_from_slice(&over.to_le_bytes());
    common::fix_crc(&mut bytes, at);
    let err = Trace::from_bytes(bytes).unwrap_err();
    assert!(
        err.to_string()
            .contains("more than the 67108864-byte maximum"),
        "{err}"
    );
}

#[test]
fn blobs_up_to_the_block_blob_limit_live_in_blocks_and_larger_ones_in_zblobs() {
    use theater_trace::BLOCK_BLOB_MAX_BYTES;
    let mut w = writer();
    let at = vec![1u8; BLOCK_BLOB_MAX_BYTES];
    let over = vec![2u8; BLOCK_BLOB_MAX_BYTES + 1];
    for (seq, bytes) in [&at, &over].into_iter().enumerate() {
        let payload = w.payload(bytes).unwrap();
        w.append(EventBody::Delivered(external_message(seq as u64, payload)))
            .unwrap();
    }
    let (_, bytes) = w.finish().unwrap();
    // Zblob frames (kind 6) by their raw length.
    let mut zblobs = Vec::new();
    let mut i = 16;
    while i < bytes.len() {
        let len = u32::from_le_bytes(bytes[i + 1..i + 5].try_into().unwrap()) as usize;
        if bytes[i] == 6 {
            zblobs.push(u64::from_le_bytes(
                bytes[i + 9 + 33..i + 9 + 41].try_into().unwrap(),
            ));
        }
        i += 9 + len;
    }
    assert!(
        zblobs.contains(&(BLOCK_BLOB_MAX_BYTES as u64 + 1)),
        "{zblobs:?}"
    );
    assert!(
        !zblobs.contains(&(BLOCK_BLOB_MAX_BYTES as u64)),
        "{zblobs:?}"
    );
    let trace = Trace::from_bytes(bytes).unwrap();
    trace.verify().unwrap();
    assert_eq!(trace.blob(&Digest::of(&at)).unwrap().unwrap(), at);
    assert_eq!(trace.blob(&Digest::of(&over)).unwrap().unwrap(), over);
}

#[test]
fn snapshots_round_trip_and_their_blobs_are_checked() {
    let s = sample(11, 3000, WriterOptions::default());
    let snapshots: Vec<_> = s
        .bodies
        .iter()
        .filter(|b| matches!(b, EventBody::Snapshot { .. }))
        .collect();
    assert!(snapshots.len() > 10, "{} snapshots", snapshots.len());
    let trace = Trace::from_bytes(s.bytes).unwrap();
    trace.verify().unwrap();
    for b in snapshots {
        b.for_each_blob_ref(|d| assert!(trace.blob(d).unwrap().is_some()));
    }
    // A snapshot naming a state that was never written is refused.
    let mut w = writer();
    let record = w.blob(b"record").unwrap();
    let err = w
        .append(EventBody::Snapshot {
            record,
            states: vec![Digest::of(b"never written")],
        })
        .unwrap_err();
    assert!(matches!(err, TraceError::UnknownBlob { .. }), "{err}");
}

/// The kinds a scan reads from each event's first byte, without decoding it, are the
/// kinds of the decoded events: in whole traces, cut ones, and version 2 ones; and the
/// snapshot list (from the index, or from a scan of a cut trace) is where the snapshot
/// events are.
#[test]
fn a_kind_scan_agrees_with_the_decoded_events() {
    let kinds = |t: &Trace| {
        let mut scanned = Vec::new();
        t.for_each_kind(|n, k| scanned.push((n, k))).unwrap();
        let decoded: Vec<_> = t
            .events()
            .map(|e| e.unwrap())
            .map(|e| (e.number, e.event.body.kind_name()))
            .collect();
        assert_eq!(scanned, decoded);
        decoded
    };
    for_seeds(10, |seed| {
        // Small blocks for half the seeds: hundreds of them, read on several threads.
        let options = WriterOptions {
            flush_every_events: if seed % 2 == 0 { 4 } else { 2048 },
            ..WriterOptions::default()
        };
        let s = sample(seed, 1500, options);
        let whole = Trace::from_bytes(s.bytes.clone()).unwrap();
        let all = kinds(&whole);
        let snapshots: Vec<u64> = all
            .iter()
            .filter(|(_, k)| *k == "snapshot")
            .map(|(n, _)| *n)
            .collect();
        assert_eq!(whole.snapshots().unwrap(), snapshots);
        let cut = s.bytes.len() / 2 + Rng::new(seed).below(s.bytes.len() as u64 / 4) as usize;
        let cut = Trace::from_bytes(s.bytes[..cut].to_vec()).unwrap();
        assert!(cut.recovery().is_some());
        let kept = kinds(&cut);
        let in_cut: Vec<u64> = snapshots
            .iter()
            .copied()
            .filter(|&n| n < kept.len() as u64)
            .collect();
        assert_eq!(cut.snapshots().unwrap(), in_cut);
        if let Some(&last) = in_cut.last() {
            assert_eq!(cut.snapshot_at_or_before(u64::MAX).unwrap(), Some(last));
            assert_eq!(
                cut.snapshot_at_or_before(last - 1).unwrap(),
                in_cut.iter().rev().nth(1).copied()
            );
        }
    });
    for name in ["bank-bug.bin", "kv-http.bin"] {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/traces/v2");
        let old = Trace::open(&dir.join(name)).unwrap();
        kinds(&old);
    }
}
