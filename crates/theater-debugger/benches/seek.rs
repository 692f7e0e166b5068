//! What checkpoints buy: the cost of going back, and of bisecting, with and without them.
//!
//! `cargo bench -p theater-debugger --bench seek` records a ping-pong run of 20,000
//! volleys (about 60,000 events) in memory, then measures side by side, in one run:
//! - a straight replay of the whole trace (the cost of `verify`);
//! - 200 random seeks with a checkpoint every 256 events vs none (every seek back then
//!   re-executes from the start): time and events re-executed per seek, and the ratio;
//! - `bisect` on a condition that stays true: probes and events re-executed.
//!
//! Figures go to docs/benchmarks.md.

use std::time::Instant;

use theater_debugger::rerun::{Input, Rerun};
use theater_debugger::{bisect, Predicate, Session, SessionOptions};
use theater_trace::Trace;

const VOLLEYS: u64 = 20_000;
const SEEKS: usize = 200;

fn main() {
    let fixture = theater_testkit::fixture_trace("ping-pong.bin");
    let small = Trace::open(&fixture).expect("the ping-pong fixture trace");
    let serve = Input {
        event: 0,
        to: 0,
        payload: format!(r#"{{"ball":0,"max":{VOLLEYS}}}"#).into_bytes(),
        request: false,
    };
    let never: Predicate = "failed".parse().unwrap();
    let bytes = Rerun::new(&small)
        .unwrap()
        .run(&[&serve], &never)
        .unwrap()
        .trace;
    let events = Trace::from_bytes(bytes.clone()).unwrap().event_count();
    println!(
        "trace: ping-pong, {VOLLEYS} volleys, {events} events, {} bytes",
        bytes.len()
    );

    let open = |every: u64| {
        let options = SessionOptions {
            checkpoint_every: every,
            ..SessionOptions::default()
        };
        Session::new(Trace::from_bytes(bytes.clone()).unwrap(), &options).unwrap()
    };

    // Straight replay, laying checkpoints (K = 256) on the way.
    let mut with = open(256);
    let t = Instant::now();
    with.goto_step(with.steps()).unwrap();
    let straight = t.elapsed();
    println!(
        "straight replay: {:.1} ms ({:.2} µs/event), {} checkpoints laid",
        straight.as_secs_f64() * 1e3,
        straight.as_secs_f64() * 1e6 / events as f64,
        with.checkpoint_count()
    );
    let mut without = open(u64::MAX);
    without.goto_step(without.steps()).unwrap();

    let mut rng = theater_trace::synth::Rng::new(11);
    let targets: Vec<usize> = (0..SEEKS)
        .map(|_| rng.below(with.steps() as u64 + 1) as usize)
        .collect();
    let measure = |s: &mut Session| {
        let before = s.events_reexecuted();
        let t = Instant::now();
        for &p in &targets {
            s.goto_step(p).unwrap();
        }
        (
            t.elapsed().as_secs_f64() / SEEKS as f64,
            (s.events_reexecuted() - before) / SEEKS as u64,
        )
    };
    let (t_with, e_with) = measure(&mut with);
    let (t_without, e_without) = measure(&mut without);
    println!(
        "random seek, checkpoint every 256 events: {:.3} ms/seek, {e_with} events re-executed/seek",
        t_with * 1e3
    );
    println!(
        "random seek, no checkpoints:              {:.3} ms/seek, {e_without} events re-executed/seek",
        t_without * 1e3
    );
    println!(
        "ratio (no checkpoints / checkpoints): {:.1}x",
        t_without / t_with
    );

    let hits: Predicate = format!("ping:/hits >= {}", VOLLEYS / 2 - 7)
        .parse()
        .unwrap();
    let mut fresh = open(256);
    fresh.goto_step(fresh.steps()).unwrap();
    let t = Instant::now();
    let r = bisect(&mut fresh, &hits)
        .unwrap()
        .expect("holds at the end");
    println!(
        "bisect `{hits}` (checkpoints laid): {:.2} ms, {} probes, {} events re-executed (of {events})",
        t.elapsed().as_secs_f64() * 1e3,
        r.probes,
        r.events_reexecuted
    );
}
