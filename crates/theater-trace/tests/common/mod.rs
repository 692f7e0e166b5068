//! Helpers shared by the trace store's integration tests.

#![allow(dead_code, unreachable_pub)]

use std::panic::{catch_unwind, AssertUnwindSafe};

use theater_trace::synth::{self, Rng};
use theater_trace::{EventBody, TraceSummary, TraceWriter, WriterOptions};

/// Runs `case` for `count` seeds. The seeds come from `THEATER_SEED` (one seed, to
/// reproduce a failure) or from a base seed that changes every run, so the property is
/// exercised on new inputs over time. A failing case names its seed.
pub fn for_seeds(count: u64, case: impl Fn(u64)) {
    let seeds: Vec<u64> = match std::env::var("THEATER_SEED") {
        Ok(s) => vec![s.parse().expect("THEATER_SEED must be a u64")],
        Err(_) => {
            let base = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            let mut rng = Rng::new(base);
            (0..count).map(|_| rng.next_u64()).collect()
        }
    };
    for seed in seeds {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| case(seed))) {
            eprintln!("\n*** failing seed: THEATER_SEED={seed} ***\n");
            std::panic::resume_unwind(panic);
        }
    }
}

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

/// Offsets where each frame ends in a well-formed trace, and whether it was an event.
pub fn frame_ends(bytes: &[u8]) -> Vec<(usize, bool)> {
    let mut ends = Vec::new();
    let mut at = 16;
    while at < bytes.len() {
        let len = u32::from_le_bytes(bytes[at + 1..at + 5].try_into().unwrap()) as usize;
        let end = at + 9 + len;
        ends.push((end, bytes[at] == 2));
        at = end;
    }
    ends
}
