//! The world: everything the scheduler and the host functions read and change, apart
//! from the WebAssembly instances. Actors and their host-held state, the delivery queue
//! ordered by (virtual time, sequence number), open requests and timers, the key-value
//! store, the run's generator, and the per-run id counters.
//!
//! The whole `World` is moved into an actor's store for the length of a handler call
//! (host functions see it through `host::CallCtx`) and moved back after, so a host
//! function depends on the world, never on the scheduler. A checkpoint is a clone of it.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};
use theater_trace::{ActorId, ExitReason, MessageKind, RestartPolicy, RunMode, Sender};

use crate::bindings::theater::actor::supervision;
use crate::limits::Limits;
use crate::rng::Rng;
use crate::schedule::{Candidate, Picker};

/// Where an actor is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ActorStatus {
    Running,
    /// Restarted; its init has not run yet.
    Restarting,
    Exited,
}

impl std::fmt::Display for ActorStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ActorStatus::Running => "running",
            ActorStatus::Restarting => "restarting",
            ActorStatus::Exited => "exited",
        })
    }
}

/// Supervision settings of one supervisor (`supervision.configure`).
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub(crate) struct SupervisorSettings {
    #[serde(with = "crate::serde_forms::strategy")]
    pub(crate) strategy: supervision::Strategy,
    pub(crate) max_restarts: u32,
    pub(crate) window_ns: u64,
}

impl Default for SupervisorSettings {
    fn default() -> SupervisorSettings {
        SupervisorSettings {
            strategy: supervision::Strategy::OneForOne,
            max_restarts: 3,
            window_ns: 5_000_000_000,
        }
    }
}

/// What the scheduler knows about an actor (its instance lives in `System::instances`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ActorMeta {
    pub(crate) name: String,
    pub(crate) component: String,
    pub(crate) parent: Option<ActorId>,
    pub(crate) children: Vec<ActorId>,
    pub(crate) restart: RestartPolicy,
    pub(crate) init_args: Vec<u8>,
    /// Its state bytes; a snapshot holds them as a blob, by digest.
    #[serde(skip)]
    pub(crate) state: Vec<u8>,
    pub(crate) status: ActorStatus,
    /// Deliveries queued for this actor.
    pub(crate) mailbox: u32,
    pub(crate) restarts: u32,
    /// When this actor, as a supervisor, restarted a child (oldest first).
    pub(crate) restart_times: VecDeque<u64>,
    pub(crate) supervisor: SupervisorSettings,
    pub(crate) fuel: u64,
    /// Host interfaces this actor (and so each of its children) may import.
    #[serde(with = "crate::serde_forms::interfaces")]
    pub(crate) grants: BTreeSet<&'static str>,
    /// The first sequence number queued after it last exited: every delivery queued
    /// before is dropped with it, so only later ones (a reply to a request it had
    /// made, a message sent in the turn that stopped it) can still reach it exited.
    pub(crate) exited_seq: u64,
}

impl ActorMeta {
    pub(crate) fn live_children(&self, all: &BTreeMap<ActorId, ActorMeta>) -> u32 {
        self.children
            .iter()
            .filter(|c| all.get(c).is_some_and(|m| m.status != ActorStatus::Exited))
            .count() as u32
    }
}

/// An open request.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct RequestInfo {
    pub(crate) requester: ActorId,
    pub(crate) target: ActorId,
    pub(crate) answered: bool,
}

/// A pending timer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct TimerInfo {
    pub(crate) owner: ActorId,
    /// Its delivery's key in the queue.
    pub(crate) key: QueueKey,
}

/// A queued delivery's place: (virtual time, sequence number).
pub(crate) use crate::schedule::QueueKey;

/// A queued delivery.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Pending {
    pub(crate) from: Sender,
    pub(crate) to: ActorId,
    pub(crate) kind: MessageKind,
    pub(crate) payload: Vec<u8>,
    /// For child-exit deliveries, the reason (its JSON is the payload).
    pub(crate) exit: Option<ExitReason>,
}

/// Everything host functions may read or change; moved into the store for each call.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct World {
    pub(crate) mode: RunMode,
    pub(crate) limits: Limits,
    pub(crate) time_ns: u64,
    pub(crate) next_seq: u64,
    pub(crate) next_actor: u64,
    pub(crate) next_correlation: u64,
    pub(crate) next_timer: u64,
    pub(crate) queue: BTreeMap<QueueKey, Pending>,
    pub(crate) actors: BTreeMap<ActorId, ActorMeta>,
    /// Live actors.
    pub(crate) live: u32,
    pub(crate) requests: BTreeMap<u64, RequestInfo>,
    pub(crate) timers: BTreeMap<u64, TimerInfo>,
    pub(crate) rng: Rng,
    pub(crate) kv: BTreeMap<(ActorId, String), Vec<u8>>,
    /// Bytes (keys and values) each actor holds in `kv`, held to
    /// `Limits::store_bytes_per_actor`.
    pub(crate) kv_bytes: BTreeMap<ActorId, u64>,
    /// Restart times of top-level actors (their supervisor is the runtime).
    pub(crate) root_restart_times: VecDeque<u64>,
    pub(crate) components: BTreeSet<String>,
    /// The host interfaces each component imports (short names, see `spec::INTERFACES`).
    #[serde(with = "crate::serde_forms::interface_map")]
    pub(crate) imports: BTreeMap<String, BTreeSet<&'static str>>,
    /// Which legal delivery goes next (`crate::schedule`); left out of a FIFO run's
    /// snapshots, which stay what they were before schedules existed.
    #[serde(default, skip_serializing_if = "Picker::is_fifo")]
    pub(crate) picker: Picker,
    /// Sends outbound HTTP requests; `None` in replays and runs without network.
    #[serde(skip)]
    pub(crate) http: Option<std::sync::Arc<dyn crate::http::HttpClient>>,
}

impl World {
    /// Stores `value` under `key` for `actor` unless that would take the actor's keys
    /// and values past `Limits::store_bytes_per_actor`; returns whether it was stored.
    pub(crate) fn kv_set(&mut self, actor: ActorId, key: String, value: Vec<u8>) -> bool {
        let used = self.kv_bytes.get(&actor).copied().unwrap_or(0);
        let old = self
            .kv
            .get(&(actor, key.clone()))
            .map_or(0, |v| (key.len() + v.len()) as u64);
        let new = (key.len() + value.len()) as u64;
        let after = used - old + new;
        if after > self.limits.store_bytes_per_actor {
            return false;
        }
        self.kv_bytes.insert(actor, after);
        self.kv.insert((actor, key), value);
        true
    }

    /// Deletes `key` of `actor`; returns whether it existed.
    pub(crate) fn kv_delete(&mut self, actor: ActorId, key: String) -> bool {
        let len = key.len();
        let Some(v) = self.kv.remove(&(actor, key)) else {
            return false;
        };
        if let Some(used) = self.kv_bytes.get_mut(&actor) {
            *used -= (len + v.len()) as u64;
        }
        true
    }

    pub(crate) fn is_child(&self, parent: ActorId, child: ActorId) -> bool {
        self.actors
            .get(&child)
            .is_some_and(|m| m.parent == Some(parent))
    }

    /// Whether `id` names an actor that has not exited.
    pub(crate) fn is_alive(&self, id: ActorId) -> bool {
        self.actors
            .get(&id)
            .is_some_and(|m| m.status != ActorStatus::Exited)
    }

    /// A fresh actor id.
    pub(crate) fn take_actor_id(&mut self) -> ActorId {
        let id = self.next_actor;
        self.next_actor += 1;
        id
    }

    /// A fresh correlation id.
    pub(crate) fn take_correlation(&mut self) -> u64 {
        let c = self.next_correlation;
        self.next_correlation += 1;
        c
    }

    /// A fresh timer id.
    pub(crate) fn take_timer_id(&mut self) -> u64 {
        let id = self.next_timer;
        self.next_timer += 1;
        id
    }

    /// Queues a delivery `delay_ns` from now, after everything queued for the same time.
    pub(crate) fn enqueue(&mut self, delay_ns: u64, pending: Pending) -> QueueKey {
        let key = (self.time_ns.saturating_add(delay_ns), self.next_seq);
        self.next_seq += 1;
        if let Some(m) = self.actors.get_mut(&pending.to) {
            m.mailbox += 1;
        }
        let earlier = self.queue.insert(key, pending);
        assert!(earlier.is_none(), "queue key {key:?} used twice");
        key
    }

    /// Takes the next delivery: the smallest (time, seq), or the one the schedule's
    /// picker chooses among those that may legally go next. The clock moves to its
    /// time, never back.
    pub(crate) fn dequeue(&mut self) -> Option<(QueueKey, Pending)> {
        let ((time_ns, seq), pending) = match &mut self.picker {
            Picker::Fifo => self.queue.pop_first()?,
            Picker::Pct(pct) => {
                let key = pct.pick(self.queue.iter().map(|(&key, p)| Candidate {
                    key,
                    from: p.from,
                    to: p.to,
                    init: matches!(p.kind, MessageKind::Init),
                }))?;
                (key, self.queue.remove(&key).expect("picked from the queue"))
            }
        };
        assert!(
            time_ns >= self.time_ns,
            "delivery {seq} at {time_ns} ns is before the clock ({} ns)",
            self.time_ns
        );
        self.time_ns = time_ns;
        if let Some(m) = self.actors.get_mut(&pending.to) {
            // An exited actor's mailbox is zeroed and its deliveries dropped, so only a
            // live one can have this delivery counted.
            debug_assert!(
                m.mailbox > 0 || m.status == ActorStatus::Exited,
                "actor {} has a queued delivery its mailbox does not count",
                pending.to
            );
            m.mailbox = m.mailbox.saturating_sub(1);
        }
        if let Sender::Timer(id) = pending.from {
            self.timers.remove(&id);
            self.picker.forget_timer(id, pending.to);
        }
        Some(((time_ns, seq), pending))
    }

    /// Removes one queued delivery (a cancelled timer's); returns whether it was there.
    pub(crate) fn unqueue(&mut self, key: QueueKey) -> bool {
        let Some(p) = self.queue.remove(&key) else {
            return false;
        };
        if let Sender::Timer(id) = p.from {
            self.picker.forget_timer(id, p.to);
        }
        if let Some(m) = self.actors.get_mut(&p.to) {
            debug_assert!(m.mailbox > 0, "actor {} mailbox underflow", p.to);
            m.mailbox = m.mailbox.saturating_sub(1);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::World;

    #[test]
    fn the_store_quota_counts_keys_and_values_and_frees_on_delete() {
        let mut w = World::default();
        w.limits.store_bytes_per_actor = 10;
        assert!(w.kv_set(1, "ab".into(), vec![0; 8])); // 10 bytes: at the quota
        assert!(!w.kv_set(1, "c".into(), Vec::new())); // 11
        assert!(w.kv_set(2, "c".into(), vec![0; 9])); // another actor's own quota
        assert!(w.kv_delete(1, "ab".into()));
        assert!(!w.kv_delete(1, "ab".into()));
        assert_eq!(w.kv_bytes[&1], 0);
        assert!(w.kv_set(1, "c".into(), vec![0; 9])); // freed by the delete
        assert!(!w.kv.contains_key(&(1, "ab".into())));
    }
}
