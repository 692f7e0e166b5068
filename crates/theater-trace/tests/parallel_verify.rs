//! `Trace::verify_jobs`: the integrity check split into ranges of blocks on several
//! threads gives the one-thread pass's report on an intact trace, and its exact error on
//! a damaged or cut one.

mod common;

use common::{for_seeds, sample};
use theater_trace::{Trace, TraceError, VerifyReport, WriterOptions};

fn blocks_of(events: u32) -> WriterOptions {
    WriterOptions {
        flush_every_events: events,
        ..WriterOptions::default()
    }
}

/// The report without the thread count, which is all that may differ.
fn same(r: Result<VerifyReport, TraceError>) -> Result<VerifyReport, String> {
    r.map(|r| VerifyReport { threads: 0, ..r })
        .map_err(|e| e.to_string())
}

#[test]
fn every_job_count_gives_the_one_thread_report_on_an_intact_trace() {
    for_seeds(20, |seed| {
        let s = sample(seed, 300, blocks_of(3 + (seed % 5) as u32));
        let trace = Trace::from_bytes(s.bytes).unwrap();
        let one = trace.verify().unwrap();
        assert_eq!(one.threads, 1);
        for jobs in [2, 3, 4, 7] {
            let r = trace.verify_jobs(jobs).unwrap();
            assert_eq!(
                r.threads, jobs,
                "seed {seed}: {jobs} jobs ran on {} threads",
                r.threads
            );
            assert_eq!(
                VerifyReport { threads: 1, ..r },
                one,
                "seed {seed}, {jobs} jobs"
            );
        }
    });
}

#[test]
fn a_trace_of_few_blocks_is_checked_on_one_thread() {
    let s = sample(7, 12, blocks_of(4));
    let trace = Trace::from_bytes(s.bytes).unwrap();
    let r = trace.verify_jobs(4).unwrap();
    assert_eq!(r.threads, 1);
    assert_eq!(r, trace.verify().unwrap());
}

#[test]
fn a_single_byte_flip_gives_the_one_thread_error() {
    let s = sample(0x9a11e1, 60, blocks_of(4));
    // Every seventh byte (a prime stride, so every field of every frame is hit across
    // frames): tests/damage.rs flips each byte for the one-thread pass.
    for i in (16..s.bytes.len()).step_by(7) {
        let mut damaged = s.bytes.clone();
        damaged[i] ^= 0xff;
        let Ok(trace) = Trace::from_bytes(damaged) else {
            continue;
        };
        let one = same(trace.verify());
        assert!(one.is_err(), "flip at {i} went unnoticed");
        for jobs in [2, 3] {
            assert_eq!(
                same(trace.verify_jobs(jobs)),
                one,
                "flip at {i}, {jobs} jobs"
            );
        }
    }
}

#[test]
fn a_cut_trace_reports_the_same_cut_on_every_job_count() {
    let s = sample(0xc07, 200, blocks_of(4));
    for cut in [s.bytes.len() - 1, s.bytes.len() * 2 / 3, s.bytes.len() / 2] {
        let trace = Trace::from_bytes(s.bytes[..cut].to_vec()).unwrap();
        let one = same(trace.verify());
        assert!(
            matches!(&one, Err(e) if e.contains("incomplete")),
            "cut at {cut}: {one:?}"
        );
        for jobs in [2, 4] {
            assert_eq!(
                same(trace.verify_jobs(jobs)),
                one,
                "cut at {cut}, {jobs} jobs"
            );
        }
    }
}
