//! What schedule exploration costs, measured side by side in one run:
//! - the PCT picker against FIFO, per delivery: PAIRS ping-pong pairs rallying at once
//!   (so PAIRS channels compete at every step), recording off, FIFO and PCT runs
//!   interleaved;
//! - explored runs per second of `theater explore` on the race fixture (its six
//!   inputs), with one thread and with two, interleaved.
//!
//! Run: `cargo bench -p theater-debugger --bench explore`. Figures are medians and
//! ranges of REPEATS runs; `docs/benchmarks.md` holds the latest.

use std::time::{Duration, Instant};

use theater_debugger::rerun::Input;
use theater_debugger::{explore, ExploreOptions, Predicate};
use theater_runtime::{
    ActorSpec, ComponentCache, ComponentSpec, Limits, Schedule, Sink, System, SystemSpec,
};
use theater_trace::{Bytes, RestartPolicy, RunMode};

const REPEATS: usize = 7;
const PAIRS: u64 = 16;
const VOLLEYS: u64 = 4_000;
const EXPLORE_RUNS: u64 = 1_000;

fn pairs_spec(schedule: Schedule) -> SystemSpec {
    let actor = |i: u64| ActorSpec {
        name: format!("p{i}"),
        component: "ping-pong".into(),
        init_args: Bytes(format!("{{\"peer\": {}}}", i ^ 1).into_bytes()),
        restart: RestartPolicy::Permanent,
        fuel_per_delivery: None,
        grants: None,
    };
    SystemSpec {
        mode: RunMode::Simulated,
        seed: 1,
        schedule,
        limits: Limits::default(),
        components: vec![ComponentSpec {
            name: "ping-pong".into(),
            bytes: theater_testkit::fixture_component("ping-pong"),
        }],
        actors: (0..2 * PAIRS).map(actor).collect(),
    }
}

/// One rally of every pair at once: (deliveries, time).
fn rally(spec: &SystemSpec, cache: &mut ComponentCache) -> (u64, Duration) {
    let mut system = System::with_cache(spec, Sink::Off, cache).unwrap();
    system.run_until_idle(u64::MAX).unwrap();
    let ball = format!(r#"{{"ball":0,"max":{VOLLEYS}}}"#).into_bytes();
    for p in 0..PAIRS {
        system.inject(2 * p, ball.clone()).unwrap();
    }
    let started = Instant::now();
    let n = system.run_until_idle(u64::MAX).unwrap();
    (n, started.elapsed())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn range(v: &[f64]) -> (f64, f64) {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(0.0, f64::max);
    (lo, hi)
}

fn picker_cost() {
    let fifo = pairs_spec(Schedule::Fifo);
    let pct = pairs_spec(Schedule::Pct {
        seed: 7,
        depth: Schedule::PCT_DEPTH_DEFAULT,
        steps: 2 * PAIRS * VOLLEYS,
    });
    let mut cache = ComponentCache::new(&fifo.limits).unwrap();
    rally(&fifo, &mut cache);
    let (mut f, mut p) = (Vec::new(), Vec::new());
    for _ in 0..REPEATS {
        for (spec, out) in [(&fifo, &mut f), (&pct, &mut p)] {
            let (n, t) = rally(spec, &mut cache);
            out.push(t.as_secs_f64() * 1e9 / n as f64);
        }
    }
    let ratios: Vec<f64> = p.iter().zip(&f).map(|(p, f)| p / f).collect();
    let (flo, fhi) = range(&f);
    let (plo, phi) = range(&p);
    let (rlo, rhi) = range(&ratios);
    println!(
        "picker, {PAIRS} pairs rallying at once ({} deliveries a run): FIFO median {:.0} ns/delivery ({flo:.0} to {fhi:.0}), PCT median {:.0} ns/delivery ({plo:.0} to {phi:.0}); PCT / FIFO median {:.3} (range {rlo:.3} to {rhi:.3}), {:+.0} ns a delivery",
        2 * PAIRS * VOLLEYS,
        median(f.clone()),
        median(p.clone()),
        median(ratios),
        median(p) - median(f)
    );
}

fn race_spec() -> SystemSpec {
    let role = |name: &str, init: &str| ActorSpec {
        name: name.into(),
        component: "race".into(),
        init_args: Bytes(init.as_bytes().to_vec()),
        restart: RestartPolicy::Permanent,
        fuel_per_delivery: None,
        grants: None,
    };
    SystemSpec {
        mode: RunMode::Simulated,
        seed: 5,
        schedule: Schedule::Fifo,
        limits: Limits::default(),
        components: vec![ComponentSpec {
            name: "race".into(),
            bytes: theater_testkit::fixture_component("race"),
        }],
        actors: vec![
            role("desk", r#"{"role":"desk","teller":1,"clerk":2}"#),
            role("teller", r#"{"role":"teller","ledger":3}"#),
            role("clerk", r#"{"role":"clerk","ledger":3}"#),
            role("ledger", r#"{"role":"ledger"}"#),
        ],
    }
}

fn explore_rate() {
    let spec = race_spec();
    let text =
        std::fs::read_to_string(theater_testkit::fixture_manifest("race-inputs.jsonl")).unwrap();
    let inputs: Vec<Input> = theater_runtime::inputs::InputLine::parse_all(&text)
        .unwrap()
        .into_iter()
        .enumerate()
        .map(|(n, l)| Input {
            event: n as u64,
            to: 0,
            payload: l.payload,
            request: false,
        })
        .collect();
    let until: Predicate = "failed:ledger".parse().unwrap();
    let (mut one, mut two) = (Vec::new(), Vec::new());
    let mut failures = 0;
    for _ in 0..REPEATS {
        for (jobs, out) in [(1, &mut one), (2, &mut two)] {
            let options = ExploreOptions {
                runs: EXPLORE_RUNS,
                jobs,
                ..ExploreOptions::default()
            };
            let started = Instant::now();
            let r = explore(&spec, &inputs, &until, &options, &|_, _| {}).unwrap();
            out.push(r.runs as f64 / started.elapsed().as_secs_f64());
            failures = r.failures;
        }
    }
    let ratios: Vec<f64> = two.iter().zip(&one).map(|(t, o)| t / o).collect();
    let (olo, ohi) = range(&one);
    let (tlo, thi) = range(&two);
    let (rlo, rhi) = range(&ratios);
    println!(
        "explore, race fixture, {EXPLORE_RUNS} runs ({failures} failing): --jobs 1 median {:.0} runs/s ({olo:.0} to {ohi:.0}), --jobs 2 median {:.0} runs/s ({tlo:.0} to {thi:.0}); jobs 2 / jobs 1 median {:.2} (range {rlo:.2} to {rhi:.2})",
        median(one),
        median(two),
        median(ratios)
    );
}

fn main() {
    picker_cost();
    explore_rate();
}
