//! Writes a synthetic trace: a seeded stream of every kind of event, for trying the
//! trace tools before the runtime records real runs.
//!
//! `cargo run -p theater-trace --example synthetic_run -- OUT.trace [EVENTS] [SEED]`

use std::path::PathBuf;

use theater_trace::synth::{self, Rng};
use theater_trace::{TraceWriter, WriterOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(
        args.next()
            .ok_or("usage: synthetic_run OUT.trace [EVENTS] [SEED]")?,
    );
    let events: u64 = args.next().map_or(Ok(200), |s| s.parse())?;
    let seed: u64 = args.next().map_or(Ok(1), |s| s.parse())?;
    if path.exists() {
        std::fs::remove_file(&path)?;
    }
    let mut w = TraceWriter::create(
        &path,
        synth::header(seed),
        synth::MANIFEST,
        WriterOptions::default(),
    )?;
    synth::random_run(&mut Rng::new(seed), &mut w, events)?;
    let (summary, _) = w.finish()?;
    println!(
        "wrote {}: {} events, {} blobs, {} bytes, chain head {}",
        path.display(),
        summary.events,
        summary.blobs,
        summary.bytes,
        summary.head
    );
    Ok(())
}
