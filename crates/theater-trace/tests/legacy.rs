//! Version 2 traces still work: generated ones (the same seeded runs written in version
//! 2) and the committed fixtures open, iterate, seek and verify; every single-byte flip
//! of a small one is still caught; and `convert` rewrites them in version 3 with the same
//! events and blobs.

mod common;

use common::{for_seeds, sample};
use theater_trace::legacy::write_v2;
use theater_trace::synth::Rng;
use theater_trace::{
    convert, first_difference, Digest, Trace, WriterOptions, FORMAT_VERSION,
    INLINE_PAYLOAD_MAX_BYTES,
};

fn v2_of(seed: u64, events: u64) -> (Trace, Vec<u8>) {
    let s = sample(seed, events, WriterOptions::default());
    let v3 = Trace::from_bytes(s.bytes).unwrap();
    let bytes = write_v2(&v3).unwrap();
    (v3, bytes)
}

#[test]
fn generated_version_2_traces_read_verify_and_convert() {
    for_seeds(16, |seed| {
        let mut rng = Rng::new(seed);
        let (v3, bytes) = v2_of(seed, 1 + rng.below(3000));
        let v2 = Trace::from_bytes(bytes).unwrap();
        assert_eq!(v2.format_version(), 2);
        assert_eq!(v2.recovery(), None);
        assert_eq!(v2.event_count(), v3.event_count());
        // The same events, by iteration and by seeking.
        assert_eq!(first_difference(&v2, &v3).unwrap(), None);
        for _ in 0..20 {
            let n = rng.below(v2.event_count());
            assert_eq!(
                v2.event(n).unwrap().event.body,
                v3.event(n).unwrap().event.body
            );
        }
        let report = v2.verify().unwrap();
        assert_eq!(report.events, v3.event_count());
        // Converted back, it is the version 3 trace it came from, byte for byte.
        let (_, converted) = convert(&v2, Vec::new(), WriterOptions::default()).unwrap();
        let converted = Trace::from_bytes(converted).unwrap();
        assert_eq!(converted.format_version(), FORMAT_VERSION);
        assert_eq!(converted.head(), v3.head());
        converted.verify().unwrap();
    });
}

#[test]
fn every_single_byte_flip_of_a_version_2_trace_is_caught() {
    let (_, bytes) = v2_of(0x1e9, 12);
    assert!(bytes.len() > 1000, "{} bytes", bytes.len());
    for i in 0..bytes.len() {
        let mut damaged = bytes.clone();
        damaged[i] ^= 0x01;
        let verified = Trace::from_bytes(damaged).and_then(|t| t.verify());
        assert!(verified.is_err(), "flip at byte {i} went unnoticed");
    }
}

#[test]
fn the_committed_version_2_fixtures_verify_and_convert() {
    for name in ["bank-bug.bin", "kv-http.bin"] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/traces/v2")
            .join(name);
        let old = Trace::open(&path).unwrap();
        assert_eq!(old.format_version(), 2, "{name}");
        old.verify().unwrap();
        let (summary, bytes) = convert(&old, Vec::new(), WriterOptions::default()).unwrap();
        let new = Trace::from_bytes(bytes).unwrap();
        assert_eq!(first_difference(&old, &new).unwrap(), None, "{name}");
        // The same blobs, but for payloads short enough to be inline now.
        let kept: Vec<_> = new.blob_digests().copied().collect();
        for d in old.blob_digests() {
            let len = old.blob(d).unwrap().unwrap().len();
            let manifest = *d == old.header().unwrap().manifest;
            let inline = len <= INLINE_PAYLOAD_MAX_BYTES && !manifest;
            assert_eq!(kept.contains(d), !inline, "{name}: blob of {len} B");
        }
        assert!(
            kept.len() < old.blob_count() as usize,
            "{name}: nothing inlined"
        );
        assert_eq!(summary.events, old.event_count());
        assert!(
            new.file_len() < old.file_len(),
            "{name}: conversion grew it"
        );
        assert_ne!(new.head(), old.head());
        assert_ne!(new.head(), Digest::ZERO);
    }
}

#[test]
fn an_incomplete_trace_is_not_converted() {
    let (_, bytes) = v2_of(3, 50);
    let cut = Trace::from_bytes(bytes[..bytes.len() - 100].to_vec()).unwrap();
    assert!(cut.recovery().is_some());
    let err = convert(&cut, Vec::new(), WriterOptions::default()).unwrap_err();
    assert!(err.to_string().contains("incomplete"), "{err}");
}
