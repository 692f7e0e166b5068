//! Which queued delivery goes next: FIFO by (virtual time, sequence number), or a
//! seeded exploring policy, PCT (probabilistic concurrency testing).
//!
//! A [`Schedule`] is part of a [`crate::SystemSpec`], so it is in the trace's manifest
//! blob and a replay rebuilds the same picker: a run under any schedule replays exactly.
//! The picker's state ([`Picker`]) lives in the world, so snapshots, checkpoints, forks
//! and resumes carry it.
//!
//! **What may legally go next.** Only deliveries at the earliest queued virtual time
//! (the clock never goes back, so timers keep their order in virtual time), and of those
//! only the first queued of each channel, a (sender, receiver) pair: actor semantics
//! promise order per pair and nothing more. An actor's `init` is a barrier: nothing
//! queued for it after its `init` goes before it. Causality holds by construction: a
//! message is queued only once the delivery that sent it has run. FIFO always takes the
//! smallest (time, sequence number), which is one of these.
//!
//! **PCT** (Burckhardt, Kothari, Musuvathi, Nagarakatte, ASPLOS 2010; the strategy
//! Coyote uses for actors). Each channel is a "thread" and gets a random priority when
//! the picker first sees it; every step runs the legal channel of highest priority. At
//! `depth - 1` change points, steps drawn uniformly from the first `steps` deliveries,
//! the channel about to run drops below every other. For a bug that needs `d` orderings
//! to happen (its depth), one run finds it with probability at least `1 / (n k^(d-1))`
//! for `n` channels and `k` steps, so a few hundred seeded runs find the shallow bugs
//! one fixed order hides. A channel's priority is kept while its receiver lives (a
//! timer's, until it fires); an exited actor's channels are forgotten, so the table
//! holds one entry per channel in use.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use theater_trace::{ActorId, Sender};

use crate::rng::Rng;

/// A queued delivery's key: (virtual time, sequence number).
pub(crate) type QueueKey = (u64, u64);

/// What the picker sees of a queued delivery.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Candidate {
    pub(crate) key: QueueKey,
    pub(crate) from: Sender,
    pub(crate) to: ActorId,
    /// An `init` call: nothing queued for its actor after it may go before it.
    pub(crate) init: bool,
}

/// How a run orders the deliveries that may legally go next.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "policy")]
pub enum Schedule {
    /// By (virtual time, sequence number): the order deliveries were queued in.
    #[default]
    Fifo,
    /// Probabilistic concurrency testing, seeded: see the module documentation.
    Pct {
        seed: u64,
        /// Bug depth aimed at: `depth - 1` priority change points.
        depth: u32,
        /// The change points are drawn from the first `steps` deliveries.
        steps: u64,
    },
}

impl Schedule {
    /// Change points aimed at by default: bugs of depth 3.
    pub const PCT_DEPTH_DEFAULT: u32 = 3;
    /// The deepest bug a PCT schedule may aim at (`depth - 1` change points).
    pub const PCT_DEPTH_MAX: u32 = 64;
    /// The deliveries change points are drawn from, by default.
    pub const PCT_STEPS_DEFAULT: u64 = 1_000;
    /// Queued deliveries the picker looks at for each step: the first this many at the
    /// earliest virtual time. Deliveries after them wait (a legal order too), so a
    /// step costs at most this much whatever the queue holds.
    pub const PCT_CANDIDATES_MAX: usize = 256;

    /// PCT with `seed` and the default depth and steps.
    pub fn pct(seed: u64) -> Schedule {
        Schedule::Pct {
            seed,
            depth: Schedule::PCT_DEPTH_DEFAULT,
            steps: Schedule::PCT_STEPS_DEFAULT,
        }
    }

    /// Whether this is the default order (then it is left out of the manifest, which
    /// stays byte for byte what it was before schedules existed).
    pub fn is_fifo(&self) -> bool {
        *self == Schedule::Fifo
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Fifo => f.write_str("fifo"),
            Schedule::Pct { seed, depth, steps } => write!(f, "pct:{seed}:{depth}:{steps}"),
        }
    }
}

/// A schedule that does not parse: what was wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduleError(pub String);

impl fmt::Display for ScheduleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ScheduleError {}

impl FromStr for Schedule {
    type Err = ScheduleError;

    /// `fifo`, or `pct:SEED[:DEPTH[:STEPS]]`.
    fn from_str(s: &str) -> Result<Schedule, ScheduleError> {
        let bad = |why: String| ScheduleError(format!("schedule {s:?}: {why}"));
        if s == "fifo" {
            return Ok(Schedule::Fifo);
        }
        let Some(rest) = s.strip_prefix("pct:") else {
            return Err(bad("expected `fifo` or `pct:SEED[:DEPTH[:STEPS]]`".into()));
        };
        let parts: Vec<&str> = rest.split(':').collect();
        if parts.len() > 3 {
            return Err(bad("expected `pct:SEED[:DEPTH[:STEPS]]`".into()));
        }
        let number = |i: usize, what: &str| -> Result<Option<u64>, ScheduleError> {
            parts
                .get(i)
                .map(|p| {
                    p.parse::<u64>()
                        .map_err(|_| bad(format!("the {what} {p:?} is not a whole number")))
                })
                .transpose()
        };
        let seed = number(0, "seed")?.expect("split gives at least one part");
        let depth = number(1, "depth")?.unwrap_or(u64::from(Schedule::PCT_DEPTH_DEFAULT));
        let steps = number(2, "steps")?.unwrap_or(Schedule::PCT_STEPS_DEFAULT);
        if depth == 0 || depth > u64::from(Schedule::PCT_DEPTH_MAX) {
            return Err(bad(format!(
                "the depth must be 1 to {} (PCT_DEPTH_MAX), not {depth}",
                Schedule::PCT_DEPTH_MAX
            )));
        }
        if steps == 0 {
            return Err(bad("the steps must be at least 1".into()));
        }
        Ok(Schedule::Pct {
            seed,
            depth: depth as u32,
            steps,
        })
    }
}

/// A channel: (sender kind, sender id, receiver).
type Channel = (u8, u64, ActorId);

fn channel(p: &Candidate) -> Channel {
    match p.from {
        Sender::External => (0, 0, p.to),
        Sender::Actor(a) => (1, a, p.to),
        Sender::Timer(t) => (2, t, p.to),
        Sender::Runtime => (3, 0, p.to),
    }
}

/// The picker's state, kept in the world.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) enum Picker {
    #[default]
    Fifo,
    Pct(Box<Pct>),
}

/// PCT's state: its generator, the step count, the change points and the priorities.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Pct {
    rng: Rng,
    depth: u32,
    /// Deliveries picked so far.
    step: u64,
    /// Steps at which the channel about to run drops below every other, ascending.
    change_points: Vec<u64>,
    /// Change points passed.
    changes: u32,
    priorities: BTreeMap<Channel, u64>,
}

/// Priorities drawn for channels are at least this; lowered ones are below it.
const DRAWN_PRIORITY_MIN: u64 = 1 << 63;

impl Picker {
    pub(crate) fn new(schedule: Schedule) -> Picker {
        match schedule {
            Schedule::Fifo => Picker::Fifo,
            Schedule::Pct { seed, depth, steps } => {
                let mut rng = Rng::seeded(seed);
                let mut change_points: Vec<u64> = (1..depth)
                    .map(|_| 1 + rng.next_u64() % steps.max(1))
                    .collect();
                change_points.sort_unstable();
                Picker::Pct(Box::new(Pct {
                    rng,
                    depth,
                    step: 0,
                    change_points,
                    changes: 0,
                    priorities: BTreeMap::new(),
                }))
            }
        }
    }

    pub(crate) fn is_fifo(&self) -> bool {
        matches!(self, Picker::Fifo)
    }

    /// A delivered or cancelled timer's channel is never used again.
    pub(crate) fn forget_timer(&mut self, timer: u64, owner: ActorId) {
        if let Picker::Pct(p) = self {
            p.priorities.remove(&(2, timer, owner));
        }
    }

    /// An exited actor's channels, both ways (a restart gets fresh priorities).
    pub(crate) fn forget_actor(&mut self, actor: ActorId) {
        if let Picker::Pct(p) = self {
            p.priorities
                .retain(|&(kind, from, to), _| to != actor && !(kind == 1 && from == actor));
        }
    }
}

impl Pct {
    /// The key of the delivery to run next, from the queue in key order; `None` when
    /// it is empty.
    pub(crate) fn pick(&mut self, queue: impl Iterator<Item = Candidate>) -> Option<QueueKey> {
        let mut queue = queue.peekable();
        let t0 = queue.peek()?.key.0;
        self.step += 1;
        // Each channel's first delivery at t0, and whether an earlier init bars it.
        let mut heads: BTreeMap<Channel, (QueueKey, bool)> = BTreeMap::new();
        let mut inits: BTreeMap<ActorId, u64> = BTreeMap::new();
        for p in queue
            .take_while(|p| p.key.0 == t0)
            .take(Schedule::PCT_CANDIDATES_MAX)
        {
            let key = p.key;
            let barred = inits.get(&p.to).is_some_and(|&init| init < key.1);
            if p.init {
                inits.entry(p.to).or_insert(key.1);
            }
            heads.entry(channel(&p)).or_insert((key, barred));
        }
        loop {
            let mut best: Option<(u64, std::cmp::Reverse<u64>, Channel, QueueKey)> = None;
            for (&c, &(key, barred)) in &heads {
                if barred {
                    continue;
                }
                let rng = &mut self.rng;
                let priority = *self
                    .priorities
                    .entry(c)
                    .or_insert_with(|| rng.next_u64() | DRAWN_PRIORITY_MIN);
                let rank = (priority, std::cmp::Reverse(key.1), c, key);
                if best.is_none_or(|b| (rank.0, rank.1) > (b.0, b.1)) {
                    best = Some(rank);
                }
            }
            // The queue's first delivery is always a legal candidate.
            let (_, _, c, key) = best.expect("the first queued delivery is never barred");
            let due = self.change_points.get(self.changes as usize) == Some(&self.step);
            if !due || self.changes + 1 >= self.depth {
                return Some(key);
            }
            // A change point: the channel about to run drops below all, and the pick
            // is made again.
            self.priorities
                .insert(c, u64::from(self.depth - 1 - self.changes));
            self.changes += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use theater_trace::MessageKind;

    /// A queue as the picker sees it.
    type Queue = BTreeMap<QueueKey, (Sender, ActorId, bool)>;

    fn pending(from: Sender, to: ActorId, kind: MessageKind) -> (Sender, ActorId, bool) {
        (from, to, matches!(kind, MessageKind::Init))
    }

    fn view(q: &Queue) -> impl Iterator<Item = Candidate> + '_ {
        q.iter().map(|(&key, &(from, to, init))| Candidate {
            key,
            from,
            to,
            init,
        })
    }

    #[test]
    fn schedules_parse_and_print_and_refuse_what_is_out_of_bounds() {
        assert_eq!("fifo".parse::<Schedule>(), Ok(Schedule::Fifo));
        assert_eq!("pct:7".parse::<Schedule>(), Ok(Schedule::pct(7)));
        let at_limit = format!("pct:1:{}:5", Schedule::PCT_DEPTH_MAX);
        let s: Schedule = at_limit.parse().unwrap();
        assert_eq!(s.to_string(), at_limit);
        let over = format!("pct:1:{}", Schedule::PCT_DEPTH_MAX + 1);
        assert!(over
            .parse::<Schedule>()
            .unwrap_err()
            .0
            .contains("PCT_DEPTH_MAX"));
        for bad in [
            "",
            "pct",
            "pct:",
            "pct:x",
            "pct:1:0",
            "pct:1:2:0",
            "pct:1:2:3:4",
            "lifo",
        ] {
            assert!(bad.parse::<Schedule>().is_err(), "{bad:?} parsed");
        }
    }

    /// Every pick is legal: at the earliest time, the first of its channel, never
    /// before its receiver's init; over many seeds, every legal order shows up.
    #[test]
    fn pct_picks_only_legal_deliveries_and_reaches_each_of_them() {
        let mut seen = std::collections::BTreeSet::new();
        for seed in 0..200 {
            let mut queue = Queue::new();
            queue.insert((5, 1), pending(Sender::Actor(1), 3, MessageKind::OneWay));
            queue.insert((5, 2), pending(Sender::Actor(1), 3, MessageKind::OneWay));
            queue.insert((5, 3), pending(Sender::Actor(2), 3, MessageKind::OneWay));
            queue.insert((5, 4), pending(Sender::Runtime, 4, MessageKind::Init));
            queue.insert((5, 5), pending(Sender::Actor(1), 4, MessageKind::OneWay));
            queue.insert((9, 0), pending(Sender::Timer(0), 3, MessageKind::OneWay));
            let Picker::Pct(mut p) = Picker::new(Schedule::Pct {
                seed,
                depth: 3,
                steps: 6,
            }) else {
                unreachable!()
            };
            let mut order = Vec::new();
            while let Some(key) = p.pick(view(&queue)) {
                if key == (5, 2) {
                    assert!(!queue.contains_key(&(5, 1)), "seed {seed}: 2 overtook 1");
                }
                if key == (5, 5) {
                    let init = queue.contains_key(&(5, 4));
                    assert!(!init, "seed {seed}: a message overtook its receiver's init");
                }
                if key == (9, 0) {
                    assert_eq!(queue.len(), 1, "seed {seed}: the timer went before 5 ns");
                }
                queue.remove(&key);
                order.push(key.1);
            }
            assert_eq!(order.len(), 6, "seed {seed}");
            assert_eq!(
                order.last(),
                Some(&0),
                "seed {seed}: the timer at 9 ns is last"
            );
            seen.insert(order);
        }
        // 1 before 2, 4 before 5, the timer last: 5!/(2·2) = 30 orders; PCT with
        // change points reaches many of them.
        assert!(seen.len() >= 10, "only {} orders explored", seen.len());
        assert!(
            seen.iter().any(|o| o[0] == 3),
            "the other sender never went first"
        );
    }

    /// At the limit: with more deliveries queued at the earliest time than the picker
    /// looks at, it picks among the first `PCT_CANDIDATES_MAX` only.
    #[test]
    fn pct_looks_at_no_more_than_the_candidates_limit() {
        let n = Schedule::PCT_CANDIDATES_MAX as u64 + 100;
        let mut queue = Queue::new();
        for seq in 0..n {
            queue.insert(
                (0, seq),
                pending(Sender::Actor(seq), 1, MessageKind::OneWay),
            );
        }
        let mut beyond = 0;
        for seed in 0..50 {
            let Picker::Pct(mut p) = Picker::new(Schedule::pct(seed)) else {
                unreachable!()
            };
            let mut q = queue.clone();
            for _ in 0..20 {
                let key = p.pick(view(&q)).unwrap();
                let last = q.keys().nth(Schedule::PCT_CANDIDATES_MAX - 1).unwrap();
                assert!(key <= *last, "seed {seed}: picked {key:?} past the limit");
                beyond += u64::from(key.1 >= Schedule::PCT_CANDIDATES_MAX as u64);
                q.remove(&key);
            }
        }
        // Once earlier ones are gone, later ones come into view and are picked.
        assert!(beyond > 0);
    }

    #[test]
    fn a_picker_forgets_exited_actors_and_fired_timers() {
        let mut picker = Picker::new(Schedule::pct(1));
        let mut queue = Queue::new();
        queue.insert((0, 0), pending(Sender::Actor(1), 2, MessageKind::OneWay));
        queue.insert((0, 1), pending(Sender::Timer(7), 3, MessageKind::OneWay));
        queue.insert((0, 2), pending(Sender::Actor(3), 4, MessageKind::OneWay));
        let Picker::Pct(p) = &mut picker else {
            unreachable!()
        };
        p.pick(view(&queue));
        assert_eq!(p.priorities.len(), 3);
        picker.forget_timer(7, 3);
        picker.forget_actor(1);
        let Picker::Pct(p) = &picker else {
            unreachable!()
        };
        assert_eq!(p.priorities.keys().collect::<Vec<_>>(), [&(1, 3, 4)]);
        picker.forget_actor(4);
        let Picker::Pct(p) = &picker else {
            unreachable!()
        };
        assert!(p.priorities.is_empty());
    }
}
