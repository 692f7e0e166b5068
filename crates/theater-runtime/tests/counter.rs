//! Record a counter system, replay it, and get the same chain head.

mod common;

use common::{counter_spec, finish_on_recorder_thread, on_recorder_thread, trace_file};
use theater_runtime::{memory_sink, replay, Sink, System, SystemSpec};
use theater_trace::Trace;

fn record(spec: &SystemSpec, inputs: &[&[u8]]) -> Vec<u8> {
    let mut system = System::new(spec, memory_sink(spec).unwrap()).unwrap();
    system.run_until_idle(u64::MAX).unwrap();
    let counter = system.actor_id("counter").unwrap();
    for input in inputs {
        system.inject(counter, input.to_vec()).unwrap();
        system.run_until_idle(u64::MAX).unwrap();
    }
    let (summary, sink) = system.finish("inputs exhausted").unwrap();
    assert_eq!(summary.failures, 0);
    let Sink::Memory(writer) = sink else {
        unreachable!()
    };
    writer.finish().unwrap().1
}

#[test]
fn counter_counts_and_replays_to_the_same_head() {
    let spec = counter_spec();
    let bytes = record(&spec, &[b"1", b"2", b"not json", b"10"]);
    let trace = Trace::from_bytes(bytes.clone()).unwrap();
    trace.verify().unwrap();
    let head = trace.head();
    let report = replay::replay(trace, &Default::default()).unwrap();
    assert!(report.finished);
    assert_eq!(report.head, head);
    // Recording twice gives byte-identical traces.
    assert_eq!(record(&spec, &[b"1", b"2", b"not json", b"10"]), bytes);
}

#[test]
fn background_recording_writes_the_same_events_as_inline_recording() {
    let spec = counter_spec();
    let inputs: Vec<Vec<u8>> = (0..300).map(|i| format!("{i}").into_bytes()).collect();
    let pairs: Vec<(u64, Vec<u8>)> = inputs.iter().map(|i| (0, i.clone())).collect();
    let background = common::record_in_background(&spec, &pairs);
    let refs: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
    let inline = record(&spec, &refs);
    // The same events and chain head; only where blocks end differs (the recorder
    // thread flushes between steps, inline recording at its bounds).
    let (b, i) = (
        Trace::from_bytes(background).unwrap(),
        Trace::from_bytes(inline).unwrap(),
    );
    assert_eq!((b.head(), b.event_count()), (i.head(), i.event_count()));
    assert_eq!(common::events_of(&b), common::events_of(&i));
}

#[test]
fn recorder_thread_reports_a_full_trace_instead_of_hanging() {
    let spec = counter_spec();
    let path = std::env::temp_dir().join(format!("theater-bg-full-{}.trace", std::process::id()));
    let options = theater_trace::WriterOptions {
        trace_max_bytes: 300_000,
        ..theater_trace::WriterOptions::default()
    };
    let mut system = on_recorder_thread(&spec, trace_file(&spec, &path, options), 100);
    let mut error = None;
    for i in 0..20_000u32 {
        let step = system
            .inject(0, format!("{i}").into_bytes())
            .and_then(|_| system.run_until_idle(10));
        if let Err(e) = step {
            error = Some(e);
            break;
        }
    }
    let error = match error {
        Some(e) => e,
        None => finish_on_recorder_thread(system)
            .1
            .expect_err("the trace cannot hold 20,000 deliveries"),
    };
    assert!(
        matches!(
            error,
            theater_runtime::RuntimeError::Trace(theater_trace::TraceError::LimitExceeded {
                limit: "trace_max_bytes",
                ..
            })
        ),
        "{error}"
    );
    let _ = std::fs::remove_file(&path);
}

/// A slow run that never goes idle and never fills a batch still reaches the disk: the
/// recorder thread, finding nothing for a flush interval, asks the scheduler for its
/// partial batch.
#[test]
fn a_slow_run_reaches_the_disk_before_a_batch_fills() {
    let spec = counter_spec();
    let path = std::env::temp_dir().join(format!("theater-bg-slow-{}.trace", std::process::id()));
    let flush_ms = 20;
    let options = theater_trace::WriterOptions {
        flush_interval_ms: flush_ms,
        ..theater_trace::WriterOptions::default()
    };
    let mut system = on_recorder_thread(&spec, trace_file(&spec, &path, options), flush_ms);
    system.run_until_idle(10).unwrap();
    let counter = system.actor_id("counter").unwrap();
    // An input and its delivery make 4 events: stay under one batch, so only the
    // interval can hand events over.
    let steps = (theater_runtime::RECORDER_BATCH_EVENTS as u64 - 16) / 4;
    let mut on_disk = 0;
    for _ in 0..steps {
        system.inject(counter, b"1".to_vec()).unwrap();
        system.run_until_idle(10).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(2 * flush_ms));
        on_disk = Trace::open(&path).unwrap().event_count();
        if on_disk > 1 {
            break;
        }
    }
    let produced = system.sink().events();
    assert!(
        on_disk > 1,
        "nothing but the header on disk after {produced} events in {steps} slow steps"
    );
    let summary = finish_on_recorder_thread(system).1.unwrap();
    assert_eq!(Trace::open(&path).unwrap().head(), summary.head);
    let _ = std::fs::remove_file(&path);
}

/// A recorder thread that cannot write (its file is a pipe nobody reads yet) makes the
/// scheduler wait once the channel is full: memory stays bounded, the waits are
/// counted, and when the pipe is read at last every event arrives, in a valid trace.
#[test]
fn a_stalled_recorder_makes_the_scheduler_wait_and_loses_nothing() {
    use std::io::Read;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    let spec = counter_spec();
    let dir = std::env::temp_dir().join(format!("theater-bg-pipe-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("trace.pipe");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    // Opening either end of a FIFO waits for the other: open the reading end first, on
    // its own thread.
    let reader_path = fifo.clone();
    let opened = std::thread::spawn(move || std::fs::File::open(reader_path).unwrap());
    let file = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    let mut reader = opened.join().unwrap();

    let writer = theater_trace::TraceWriter::new(
        file,
        theater_runtime::run_header(&spec),
        &spec.manifest_bytes(),
        theater_trace::WriterOptions::default(),
    )
    .unwrap();
    let mut system = on_recorder_thread(&spec, writer, 100);
    system.run_until_idle(10).unwrap();
    let counter = system.actor_id("counter").unwrap();

    // Far more events than the channel and the pipe hold, so the scheduler must wait.
    let inputs = 2
        * (theater_runtime::RECORDER_CHANNEL_BATCHES * theater_runtime::RECORDER_BATCH_EVENTS)
            as u64
        / 4;
    let progress = Arc::new(AtomicU64::new(0));
    let seen = progress.clone();
    let Sink::Background(recorder) = system.sink() else {
        unreachable!("on the recorder thread")
    };
    let waited = recorder.waits_shared();
    // Drain the pipe only once the scheduler found the channel full (it counts the wait,
    // then blocks behind the recorder thread, itself blocked on the full pipe).
    let drain = std::thread::spawn(move || {
        while waited.load(Ordering::Relaxed) == 0 {
            std::thread::park_timeout(std::time::Duration::from_millis(5));
        }
        let stalled_at = seen.load(Ordering::Relaxed);
        let mut bytes = Vec::new();
        reader.read_to_end(&mut bytes).unwrap();
        (stalled_at, bytes)
    });
    for i in 0..inputs {
        system.inject(counter, b"1".to_vec()).unwrap();
        system.run_until_idle(10).unwrap();
        progress.store(i + 1, Ordering::Relaxed);
    }
    let (waits, summary) = finish_on_recorder_thread(system);
    let summary = summary.unwrap();
    let (stalled_at, bytes) = drain.join().unwrap();
    assert!(
        stalled_at < inputs,
        "the scheduler never stalled ({stalled_at} of {inputs} inputs)"
    );
    assert!(waits > 0, "the scheduler stalled, but no wait was counted");
    let trace = Trace::from_bytes(bytes).unwrap();
    trace.verify().unwrap();
    assert_eq!(trace.head(), summary.head);
    assert_eq!(trace.event_count(), summary.events);
    let _ = std::fs::remove_dir_all(&dir);
}
