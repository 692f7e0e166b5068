//! The fuzz targets on stable Rust: every committed seed in `fuzz/corpus/<target>/`, then
//! a bounded number of inputs generated from them by seeded mutation (bit flips, byte
//! changes, truncation, duplication and deletion of ranges, splices of two seeds,
//! "interesting" integers written over length fields). A panic fails the test and
//! prints the seed and the input's number so it can be reproduced
//! (`THEATER_SEED=n`). The real fuzzers run with `cargo +nightly fuzz run <target>`
//! (see `fuzz/README.md`).

use std::path::{Path, PathBuf};

use theater_trace::synth::Rng;

/// Generated inputs per target per seed in CI.
const GENERATED: usize = 1_500;

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no seeds in {}", dir.display());
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut data = seeds[rng.below(seeds.len() as u64) as usize].clone();
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        let len = data.len() as u64;
        let at = |rng: &mut Rng| if len == 0 { 0 } else { rng.below(len) as usize };
        match rng.below(8) {
            0 if len > 0 => {
                let i = at(rng);
                data[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = at(rng);
                data[i] = rng.below(256) as u8;
            }
            2 => data.truncate(at(rng)),
            3 if len > 0 => {
                let (a, b) = (at(rng), at(rng));
                let (a, b) = (a.min(b), a.max(b).min(a + 64));
                let chunk = data[a..b].to_vec();
                let i = at(rng);
                data.splice(i..i, chunk);
            }
            4 if len > 0 => {
                let (a, b) = (at(rng), at(rng));
                data.drain(a.min(b)..a.max(b));
            }
            5 => {
                let other = &seeds[rng.below(seeds.len() as u64) as usize];
                let cut = at(rng).min(data.len());
                let from = if other.is_empty() {
                    0
                } else {
                    rng.below(other.len() as u64) as usize
                };
                data.truncate(cut);
                data.extend_from_slice(&other[from..]);
            }
            6 if len >= 4 => {
                let i = at(rng).min(data.len() - 4);
                let v: u32 = [0, 1, 0x7f, 0xff, 0xffff, 0x7fff_ffff, u32::MAX, 64 << 20]
                    [rng.below(8) as usize];
                data[i..i + 4].copy_from_slice(&v.to_le_bytes());
            }
            _ => {
                let i = at(rng);
                data.insert(i.min(data.len()), rng.below(256) as u8);
            }
        }
    }
    data
}

/// Version 3 traces from seeded synthetic runs, with blocks of 1 event (stored
/// uncompressed: too small for zstd to shrink) and of 7 (compressed), added to the
/// committed seeds so the mutations reach both kinds of block whatever the corpus holds.
fn generated_traces() -> Vec<Vec<u8>> {
    [1u32, 7]
        .into_iter()
        .map(|every| {
            let options = theater_trace::WriterOptions {
                flush_every_events: every,
                ..theater_trace::WriterOptions::default()
            };
            let mut rng = Rng::new(u64::from(every));
            let mut w = theater_trace::TraceWriter::new(
                Vec::new(),
                theater_trace::synth::header(1),
                theater_trace::synth::MANIFEST,
                options,
            )
            .unwrap();
            theater_trace::synth::random_run(&mut rng, &mut w, 30).unwrap();
            w.finish().unwrap().1
        })
        .collect()
}

fn run(target: &str, f: fn(&[u8])) {
    let mut seeds = corpus(target);
    if target == "trace_reader" {
        seeds.extend(generated_traces());
    }
    for s in &seeds {
        f(s);
    }
    let rng_seeds: Vec<u64> = match std::env::var("THEATER_SEED") {
        Ok(s) => vec![s.parse().expect("THEATER_SEED is a number")],
        Err(_) => vec![1, 2],
    };
    for seed in rng_seeds {
        let mut rng = Rng::new(seed);
        for n in 0..GENERATED {
            let input = mutate(&mut rng, &seeds);
            let result = std::panic::catch_unwind(|| f(&input));
            if result.is_err() {
                let dump =
                    std::env::temp_dir().join(format!("theater-fuzz-{target}-{seed}-{n}.bin"));
                std::fs::write(&dump, &input).unwrap();
                panic!(
                    "{target} panicked on generated input {n} of THEATER_SEED={seed} (written to {})",
                    dump.display()
                );
            }
        }
    }
}

#[test]
fn trace_reader_survives_its_corpus_and_mutations() {
    run("trace_reader", theater_fuzz::trace_reader);
}

#[test]
fn manifest_parser_survives_its_corpus_and_mutations() {
    run("manifest", theater_fuzz::manifest);
}

#[test]
fn repl_command_parser_survives_its_corpus_and_mutations() {
    run("repl_command", theater_fuzz::repl_command);
}

#[test]
fn every_target_has_a_cargo_fuzz_entry() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    for target in ["trace_reader", "manifest", "repl_command"] {
        assert!(
            root.join(format!("fuzz_targets/{target}.rs")).exists(),
            "{target}"
        );
        assert!(
            manifest.contains(&format!("name = \"{target}\"")),
            "{target}"
        );
    }
}
