//! Helpers shared by the trace store's integration tests.

#![allow(dead_code, unreachable_pub, unused_imports)]

use theater_trace::synth::{self, Rng};
use theater_trace::{EventBody, TraceSummary, TraceWriter, WriterOptions};

pub use theater_trace::synth::for_seeds;

/// A synthetic trace in memory: its bytes, the event bodies after the header, and the
/// writer's summary.
pub struct Sample {
    pub bytes: Vec<u8>,
    pub bodies: Vec<EventBody>,
    pub summary: TraceSummary,
}

pub fn sample(seed: u64, events: u64, options: WriterOptions) -> Sample {
    let mut rng = Rng::new(seed);
    let mut w =
        TraceWriter::new(Vec::new(), synth::header(seed), synth::MANIFEST, options).unwrap();
    let bodies = synth::random_run(&mut rng, &mut w, events).unwrap();
    let (summary, bytes) = w.finish().unwrap();
    Sample {
        bytes,
        bodies,
        summary,
    }
}

/// Offsets where each frame ends in a well-formed version 3 trace, and how many events
/// it holds (a block's count; 0 for other frames).
pub fn frame_ends(bytes: &[u8]) -> Vec<(usize, u64)> {
    let mut ends = Vec::new();
    let mut at = 16;
    while at < bytes.len() {
        let len = u32::from_le_bytes(bytes[at + 1..at + 5].try_into().unwrap()) as usize;
        let end = at + 9 + len;
        let events = if bytes[at] == 5 {
            u64::from(u32::from_le_bytes(
                bytes[at + 17..at + 21].try_into().unwrap(),
            ))
        } else {
            0
        };
        ends.push((end, events));
        at = end;
    }
    ends
}

/// Events held in the frames that end at or before `offset`.
pub fn events_before(ends: &[(usize, u64)], offset: usize) -> usize {
    ends.iter()
        .filter(|&&(end, _)| end <= offset)
        .map(|&(_, n)| n as usize)
        .sum()
}

/// Every block of a well-formed version 3 trace: (frame offset, event count, raw length).
pub fn blocks(bytes: &[u8]) -> Vec<(usize, u32, u32)> {
    let mut out = Vec::new();
    let mut at = 16;
    while at < bytes.len() {
        let len = u32::from_le_bytes(bytes[at + 1..at + 5].try_into().unwrap()) as usize;
        if bytes[at] == 5 {
            let p = &bytes[at + 9..];
            out.push((
                at,
                u32::from_le_bytes(p[8..12].try_into().unwrap()),
                u32::from_le_bytes(p[12..16].try_into().unwrap()),
            ));
        }
        at += 9 + len;
    }
    out
}

/// Recomputes the checksum of the frame at `at` after its payload changed in place.
pub fn fix_crc(bytes: &mut [u8], at: usize) {
    let len = u32::from_le_bytes(bytes[at + 1..at + 5].try_into().unwrap()) as usize;
    let mut h = crc32fast::Hasher::new();
    h.update(&bytes[at..at + 5]);
    h.update(&bytes[at + 9..at + 9 + len]);
    let crc = h.finalize().to_le_bytes();
    bytes[at + 5..at + 9].copy_from_slice(&crc);
}
