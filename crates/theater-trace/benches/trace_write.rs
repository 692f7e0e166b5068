//! Trace store benchmark: write throughput, bytes per event and per delivery, size
//! against the version 2 format and the JSON export of the same events, and iteration,
//! open and seek cost of a large trace in both formats, with and without its footer.
//!
//! Run: `cargo bench -p theater-trace --bench trace_write` (add `-- --events N` to change
//! the size; above 4M events the version 2 and JSON comparisons are left out, they would
//! not fit in memory comfortably). Figures are medians of several runs, measured side by side in
//! one process; `docs/benchmarks.md` holds the latest ones.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use theater_trace::synth::{self, Rng};
use theater_trace::{export_json_lines, Trace, TraceWriter, WriterOptions};

const RUNS: usize = 5;

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..runs {
        let start = Instant::now();
        let out = f();
        times.push(start.elapsed());
        last = Some(out);
    }
    (median(times), last.expect("at least one run"))
}

/// Writes `rounds` ping-pong rounds (4 events each) into memory.
fn write_memory(rounds: u64) -> Vec<u8> {
    let mut w = TraceWriter::new(
        Vec::new(),
        synth::header(1),
        synth::MANIFEST,
        WriterOptions::default(),
    )
    .unwrap();
    for r in 0..rounds {
        synth::ping_pong_round(&mut w, r).unwrap();
    }
    w.finish().unwrap().1
}

fn write_file(path: &Path, rounds: u64, options: WriterOptions) -> u64 {
    let _ = std::fs::remove_file(path);
    let mut w = TraceWriter::create(path, synth::header(1), synth::MANIFEST, options).unwrap();
    for r in 0..rounds {
        synth::ping_pong_round(&mut w, r).unwrap();
    }
    w.finish().unwrap().0.bytes
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let events: u64 = args
        .iter()
        .position(|a| a == "--events")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let rounds = events / 4;
    let events = rounds * 4;
    let dir = std::env::temp_dir().join(format!("theater-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bench.trace");

    println!("theater-trace write benchmark: {events} small-message events (ping-pong, 16-byte payloads), median of {RUNS}");

    let (t_mem, bytes) = time(RUNS, || write_memory(rounds));
    let per_event = bytes.len() as f64 / events as f64;
    report("write to memory", events, bytes.len() as u64, t_mem);

    let (t_file, file_bytes) = time(RUNS, || write_file(&path, rounds, WriterOptions::default()));
    report(
        "write to file (a block every 2048 events / 256 KiB / 100 ms)",
        events,
        file_bytes,
        t_file,
    );

    let fsync_rounds = (rounds / 20).max(1);
    let fsync_opts = WriterOptions {
        fsync: true,
        ..WriterOptions::default()
    };
    let (t_fsync, fsync_bytes) = time(3, || write_file(&path, fsync_rounds, fsync_opts.clone()));
    report(
        "write to file, fsync at every flush (1/20 of the events)",
        fsync_rounds * 4,
        fsync_bytes,
        t_fsync,
    );

    println!(
        "version 3: {per_event:.1} bytes per event, {:.1} per delivery",
        per_event * 2.0
    );
    let trace = Trace::from_bytes(bytes.clone()).unwrap();
    let v2 = (events <= 4_000_000).then(|| {
        let v2 = theater_trace::legacy::write_v2(&trace).unwrap();
        println!(
            "version 2, the same events: {} bytes, {:.1} per event, {:.1} per delivery; version 2 / version 3 = {:.1}x",
            v2.len(),
            v2.len() as f64 / events as f64,
            v2.len() as f64 * 2.0 / events as f64,
            v2.len() as f64 / bytes.len() as f64
        );
        v2
    });

    // Size against the JSON export of the same events (in memory: small runs only).
    if events <= 4_000_000 {
        let mut json = Vec::new();
        let (t_json, _) = time(1, || {
            json.clear();
            export_json_lines(&trace, &mut json).unwrap()
        });
        println!(
            "JSON export: {} bytes ({:.1} per event, exported in {:.0} ms); trace.bin / JSON = {:.3}",
            json.len(),
            json.len() as f64 / events as f64,
            t_json.as_secs_f64() * 1e3,
            bytes.len() as f64 / json.len() as f64
        );
    }
    drop(trace);

    // Reading: iterate everything; open + seek with the footer and by scanning.
    write_file(&path, rounds, WriterOptions::default());
    let v2_path = dir.join("bench-v2.trace");
    if let Some(v2) = &v2 {
        std::fs::write(&v2_path, v2).unwrap();
    }
    drop(v2);
    let mut rng = Rng::new(42);
    let targets: Vec<u64> = (0..1000).map(|_| rng.below(events)).collect();
    let mut files = vec![("version 3", path.clone())];
    if v2_path.exists() {
        files.push(("version 2", v2_path.clone()));
    }
    for (name, file) in &files {
        let (t_iter, n) = time(3, || {
            Trace::open(file)
                .unwrap()
                .events()
                .map(|e| black_box(e.unwrap()))
                .fold(0u64, |n, _| n + 1)
        });
        let (t_open, trace) = time(RUNS, || Trace::open(file).unwrap());
        let (t_seek, _) = time(RUNS, || {
            for &n in &targets {
                black_box(trace.event(n).unwrap());
            }
        });
        // Without the footer (as after a crash), opening must scan.
        let full = std::fs::read(file).unwrap();
        let torn = dir.join("torn.trace");
        std::fs::write(&torn, &full[..full.len() - 10]).unwrap();
        let (t_scan, scanned) = time(3, || Trace::open(&torn).unwrap());
        assert_eq!(scanned.event_count(), trace.event_count());
        println!(
            "{name}: iterate all events from file {:.2} M events/s ({n} events); seek to a random event {:.1} us; open the {} MB file with footer {:.3} ms, by scan (no footer) {:.1} ms",
            n as f64 / t_iter.as_secs_f64() / 1e6,
            t_seek.as_secs_f64() * 1e6 / targets.len() as f64,
            full.len() / 1_000_000,
            t_open.as_secs_f64() * 1e3,
            t_scan.as_secs_f64() * 1e3,
        );
    }
    println!(
        "file vs memory write time: {:.2}x",
        t_file.as_secs_f64() / t_mem.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn report(what: &str, events: u64, bytes: u64, t: Duration) {
    let secs = t.as_secs_f64();
    println!(
        "{what}: {:.2} M events/s, {:.0} MB/s, {:.0} ns/event",
        events as f64 / secs / 1e6,
        bytes as f64 / secs / 1e6,
        secs * 1e9 / events as f64
    );
}
