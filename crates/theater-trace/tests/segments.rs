//! Traces recorded to a directory of segment files: the directory opens, iterates, seeks
//! and verifies as one trace; each segment does on its own bytes; retention (old
//! segments deleted) leaves a trace that still works from its oldest segment; a missing
//! middle segment, or one that does not continue the one before, is a clear error.

mod common;

use std::fs::File;
use std::path::{Path, PathBuf};

use theater_trace::synth::{self, for_seeds, Rng};
use theater_trace::{
    segment_file_name, Digest, EventBody, Problem, SegmentStart, Trace, TraceError, TraceWriter,
    WriterOptions,
};

/// Writes segments of the given sizes (events each) into `dir`; returns every event body
/// by number and the last chain head.
fn write_segments(dir: &Path, seed: u64, sizes: &[u64]) -> (Vec<EventBody>, Digest) {
    let mut rng = Rng::new(seed);
    let options = WriterOptions {
        flush_every_events: 1 + rng.below(40) as u32,
        ..WriterOptions::default()
    };
    let mut bodies = Vec::new();
    let (mut events, mut head) = (0u64, Digest::ZERO);
    for (k, &size) in sizes.iter().enumerate() {
        let path = dir.join(segment_file_name(k as u64));
        let mut w = if k == 0 {
            TraceWriter::create(&path, synth::header(seed), synth::MANIFEST, options.clone())
                .unwrap()
        } else {
            let start = SegmentStart {
                run: synth::header(seed),
                segment: k as u64,
                first_event: events,
                previous_head: head,
            };
            let file = File::create_new(&path).unwrap();
            TraceWriter::segment(file, start, synth::MANIFEST, options.clone()).unwrap()
        };
        let first = Trace::open(&path).unwrap().event(events).unwrap();
        bodies.push(first.event.body);
        bodies.extend(synth::random_run(&mut rng, &mut w, events + size).unwrap());
        let (summary, _) = w.finish().unwrap();
        (events, head) = (summary.events, summary.head);
    }
    (bodies, head)
}

fn temp_dir(name: &str, seed: u64) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "theater-segments-{name}-{seed}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_directory_of_segments_reads_and_verifies_as_one_trace() {
    for_seeds(8, |seed| {
        let dir = temp_dir("whole", seed);
        let mut rng = Rng::new(seed ^ 0xa5);
        let sizes: Vec<u64> = (0..2 + rng.below(3)).map(|_| 5 + rng.below(300)).collect();
        let (bodies, head) = write_segments(&dir, seed, &sizes);
        let trace = Trace::open(&dir).unwrap();
        assert_eq!(trace.first_event(), 0);
        assert_eq!(trace.event_count(), bodies.len() as u64);
        assert_eq!(trace.head(), head);
        assert_eq!(trace.segments().len(), sizes.len());
        assert_eq!(trace.header().unwrap().seed, seed);
        let all: Vec<_> = trace.events().map(Result::unwrap).collect();
        let mut parent = Digest::ZERO;
        for (i, e) in all.iter().enumerate() {
            assert_eq!(e.number, i as u64);
            assert_eq!(e.event.body, bodies[i]);
            assert_eq!(e.event.parent, parent);
            parent = e.digest;
        }
        assert_eq!(parent, head);
        for _ in 0..40 {
            let n = rng.below(trace.event_count());
            assert_eq!(trace.event(n).unwrap(), all[n as usize]);
        }
        let mut kinds = Vec::new();
        trace.for_each_kind(|n, k| kinds.push((n, k))).unwrap();
        let decoded: Vec<_> = all
            .iter()
            .map(|e| (e.number, e.event.body.kind_name()))
            .collect();
        assert_eq!(kinds, decoded);
        let report = trace.verify().unwrap();
        assert_eq!((report.events, report.head), (bodies.len() as u64, head));

        // Each segment on its own: its events, its header, its verify.
        for s in trace.segments() {
            let alone = Trace::open(&s.path).unwrap();
            assert_eq!(
                (alone.first_event(), alone.event_count()),
                (s.first_event, s.end)
            );
            assert_eq!(alone.header(), trace.header());
            let first = alone.events().next().unwrap().unwrap();
            assert_eq!(
                first.event.body.kind_name(),
                if s.number == 0 {
                    "run-started"
                } else {
                    "segment"
                }
            );
            assert_eq!(alone.verify().unwrap().head, s.head);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    });
}

#[test]
fn retention_leaves_a_trace_that_starts_at_its_oldest_segment() {
    let dir = temp_dir("retention", 1);
    let (bodies, head) = write_segments(&dir, 1, &[50, 60, 70]);
    std::fs::remove_file(dir.join(segment_file_name(0))).unwrap();
    let trace = Trace::open(&dir).unwrap();
    let first = trace.first_event();
    assert!(first > 0);
    assert_eq!(
        trace.events().next().unwrap().unwrap().event.body,
        bodies[first as usize]
    );
    assert_eq!(trace.events().count() as u64, bodies.len() as u64 - first);
    assert_eq!(
        trace.event(first + 3).unwrap().event.body,
        bodies[first as usize + 3]
    );
    assert!(
        matches!(trace.event(0), Err(TraceError::EventBeforeFirst { first: f, .. }) if f == first)
    );
    assert_eq!(trace.header().unwrap().seed, 1);
    assert_eq!(trace.verify().unwrap().head, head);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_missing_middle_segment_is_named() {
    let dir = temp_dir("missing", 2);
    write_segments(&dir, 2, &[20, 20, 20, 20]);
    std::fs::remove_file(dir.join(segment_file_name(1))).unwrap();
    let e = Trace::open(&dir).unwrap_err().to_string();
    assert!(
        e.contains("segment segment-00000001.trace is missing"),
        "{e}"
    );
    std::fs::remove_file(dir.join(segment_file_name(2))).unwrap();
    let e = Trace::open(&dir).unwrap_err().to_string();
    assert!(
        e.contains("segment-00000001.trace to segment-00000002.trace is missing"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
    let empty = temp_dir("empty", 2);
    let e = Trace::open(&empty).unwrap_err().to_string();
    assert!(e.contains("holds no segment files"), "{e}");
    std::fs::remove_dir_all(&empty).unwrap();
}

#[test]
fn a_segment_from_another_run_does_not_continue_the_chain() {
    let (a, b) = (temp_dir("link-a", 3), temp_dir("link-b", 4));
    write_segments(&a, 3, &[30, 30]);
    // Same sizes, another seed: segment 1 starts at another event or chain value.
    write_segments(&b, 4, &[30, 30]);
    std::fs::copy(b.join(segment_file_name(1)), a.join(segment_file_name(1))).unwrap();
    let e = Trace::open(&a).unwrap_err().to_string();
    assert!(e.contains("does not continue the segment before it"), "{e}");
    std::fs::remove_dir_all(&a).unwrap();
    std::fs::remove_dir_all(&b).unwrap();
}

#[test]
fn a_cut_segment_continued_by_the_next_verifies_and_a_cut_last_one_is_reported() {
    let dir = temp_dir("cut", 5);
    let (_, _) = write_segments(&dir, 5, &[200]);
    let path0 = dir.join(segment_file_name(0));
    // A crash: the file loses its footer, index and last frames.
    let len = std::fs::metadata(&path0).unwrap().len();
    let f = File::options().write(true).open(&path0).unwrap();
    f.set_len(len * 2 / 3).unwrap();
    drop(f);
    let cut = Trace::open(&path0).unwrap();
    assert!(cut.recovery().is_some());
    // The run resumed in segment 1, after the intact prefix.
    let start = SegmentStart {
        run: synth::header(5),
        segment: 1,
        first_event: cut.event_count(),
        previous_head: cut.head(),
    };
    let file = File::create_new(dir.join(segment_file_name(1))).unwrap();
    let mut w =
        TraceWriter::segment(file, start, synth::MANIFEST, WriterOptions::default()).unwrap();
    synth::random_run(&mut Rng::new(9), &mut w, cut.event_count() + 40).unwrap();
    let (summary, _) = w.finish().unwrap();
    let trace = Trace::open(&dir).unwrap();
    assert!(trace.segments()[0].recovery.is_some());
    assert_eq!(trace.recovery(), None);
    assert_eq!(trace.verify().unwrap().head, summary.head);
    assert_eq!(trace.events().count() as u64, summary.events);

    // Now the last segment is cut too: reported like a cut trace file.
    let path1 = dir.join(segment_file_name(1));
    let len = std::fs::metadata(&path1).unwrap().len();
    File::options()
        .write(true)
        .open(&path1)
        .unwrap()
        .set_len(len - 3)
        .unwrap();
    let trace = Trace::open(&dir).unwrap();
    assert!(trace.recovery().is_some());
    match trace.verify() {
        Err(TraceError::Corrupt(c)) => assert!(matches!(c.problem, Problem::Incomplete { .. })),
        other => panic!("expected a cut, got {other:?}"),
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_lone_segment_verifies_and_no_segment_after_the_first_starts_at_event_0() {
    let mut start = SegmentStart {
        run: synth::header(6),
        segment: 1,
        first_event: 10,
        previous_head: Digest::of(b"before"),
    };
    let w = TraceWriter::segment(
        Vec::new(),
        start.clone(),
        synth::MANIFEST,
        WriterOptions::default(),
    );
    let (_, bytes) = w.unwrap().finish().unwrap();
    assert_eq!(
        Trace::from_bytes(bytes).unwrap().verify().unwrap().events,
        11
    );
    start.first_event = 0;
    assert!(
        TraceWriter::segment(Vec::new(), start, synth::MANIFEST, WriterOptions::default()).is_err()
    );
}
