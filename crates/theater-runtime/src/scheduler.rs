//! The scheduler: a [`System`] of actors, its loop, and `deliver`.
//!
//! One loop, one queue ordered by (virtual time, sequence number). Each delivery runs to
//! completion: the handler is called with the actor's state bytes and a fuel budget,
//! the sink takes the delivery's record, and its effects are applied only if it
//! succeeded (`effects`), or the actor exits (`supervision`). All ids (actors,
//! correlations, timers, sequence numbers) come from per-run counters; all maps are
//! `BTreeMap`s; the only sources of nondeterminism (`now`, `random-bytes`, the
//! key-value store, outbound HTTP, external inputs) go through the sink, so the same
//! inputs always give the same run.

use std::collections::{BTreeMap, BTreeSet};

use theater_trace::{
    ActorId, Digest, EventBody, ExitReason, LogLevel, LogLine, MessageKind, Outcome,
};

use crate::components::{component_error, ComponentCache, Components, Instance};
use crate::delivery::DeliveryRecord;
use crate::error::RuntimeError;
use crate::host::{sent_list, CallCtx, Effect};
use crate::oracle::HostCallOracle;
use crate::request::{ExternalReply, RequestFailure};
use crate::rng::Rng;
use crate::sink::Sink;
use crate::spec::SystemSpec;
use crate::wit_map::trap_code;
use crate::world::{ActorStatus, Pending, World};

/// What a finished run did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RunSummary {
    pub deliveries: u64,
    pub failures: u64,
    pub restarts: u64,
    pub actors_spawned: u64,
    pub events: u64,
    pub head: Digest,
    pub time_ns: u64,
}

/// A running system of actors.
pub struct System {
    pub(crate) components: Components,
    pub(crate) instances: BTreeMap<ActorId, Instance>,
    pub(crate) world: World,
    pub(crate) sink: Sink,
    pub(crate) summary: RunSummary,
    /// Replies to external requests not yet taken.
    pub(crate) replies: Vec<ExternalReply>,
    /// In a regression run: the recorded host calls to serve.
    pub(crate) oracle: Option<HostCallOracle>,
    /// When recording with snapshots: when the next is due.
    pub(crate) snapshots: Option<crate::snapshot_policy::SnapshotTimer>,
}

impl std::fmt::Debug for System {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("System")
            .field("time_ns", &self.world.time_ns)
            .field("actors", &self.world.actors.len())
            .field("queued", &self.world.queue.len())
            .finish()
    }
}

/// What running a handler gave: everything the delivery record and the effects need.
struct HandlerRun {
    outcome: Outcome,
    state: Vec<u8>,
    reply: Option<Vec<u8>>,
    effects: Vec<Effect>,
    logs: Vec<LogLine>,
    host_calls: Vec<crate::delivery::HostCallRecord>,
    host_call_mismatch: Option<String>,
    fuel_used: u64,
}

impl System {
    /// Builds a system from `spec`: compiles every component, registers each in the sink
    /// (its bytes as a blob), and spawns the top-level actors (their `init` deliveries
    /// are queued). `sink` must already hold the run header (see `TraceWriter::new`).
    pub fn new(spec: &SystemSpec, sink: Sink) -> Result<System, RuntimeError> {
        System::with_cache(spec, sink, &mut ComponentCache::new(&spec.limits)?)
    }

    /// [`System::new`], reusing components compiled earlier by `cache` (compiling is
    /// most of the cost of starting a system). A cache made for another wasm stack limit
    /// is replaced.
    pub fn with_cache(
        spec: &SystemSpec,
        sink: Sink,
        cache: &mut ComponentCache,
    ) -> Result<System, RuntimeError> {
        System::build(spec, sink, cache, true)
    }

    /// The system with its components registered and no actor spawned: what a replay
    /// that starts at a segment (or a snapshot) restores the world into.
    pub(crate) fn without_actors(
        spec: &SystemSpec,
        sink: Sink,
        cache: &mut ComponentCache,
    ) -> Result<System, RuntimeError> {
        System::build(spec, sink, cache, false)
    }

    /// Registers component `name` again, as a segment after the first starts.
    pub(crate) fn register_again(&mut self, name: &str) -> Result<(), RuntimeError> {
        let digest = self.components.find(name).ok_or_else(|| {
            RuntimeError::Unreplayable(format!(
                "the trace registers component {name:?} again, but the run has no component of that name"
            ))
        })?;
        self.sink.append(EventBody::ComponentRegistered {
            name: name.into(),
            component: digest,
        })
    }

    fn build(
        spec: &SystemSpec,
        sink: Sink,
        cache: &mut ComponentCache,
        spawn: bool,
    ) -> Result<System, RuntimeError> {
        spec.check()?;
        cache.fit(&spec.limits)?;
        let mut system = System {
            components: Components::new(cache)?,
            instances: BTreeMap::new(),
            world: World {
                mode: spec.mode,
                limits: spec.limits,
                rng: Rng::seeded(spec.seed),
                picker: crate::schedule::Picker::new(spec.schedule),
                ..World::default()
            },
            sink,
            summary: RunSummary::default(),
            replies: Vec::new(),
            oracle: None,
            snapshots: None,
        };
        for c in &spec.components {
            system.add_component(&c.name, &c.bytes, cache)?;
        }
        if !spawn {
            return Ok(system);
        }
        for a in &spec.actors {
            let grants: BTreeSet<&'static str> = match &a.grants {
                None => crate::spec::default_grants().collect(),
                Some(list) => crate::spec::INTERFACES
                    .into_iter()
                    .filter(|i| list.iter().any(|g| g == i))
                    .collect(),
            };
            if let Some(missing) = system.world.imports[&a.component]
                .iter()
                .find(|i| !grants.contains(*i))
            {
                return Err(component_error(
                    &a.component,
                    format!(
                        "actor {:?} imports the `{missing}` interface, which the manifest does not grant it (grants: {})",
                        a.name,
                        grants.iter().copied().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
            let id = system.world.take_actor_id();
            system.spawn(
                id,
                None,
                &a.name,
                &a.component,
                a.init_args.0.clone(),
                a.restart,
                a.fuel_per_delivery,
                grants,
            )?;
        }
        Ok(system)
    }

    fn add_component(
        &mut self,
        name: &str,
        bytes: &[u8],
        cache: &mut ComponentCache,
    ) -> Result<(), RuntimeError> {
        let imports = self.components.add(name, bytes, cache)?;
        self.world.imports.insert(name.into(), imports);
        let digest = self.sink.blob(bytes)?;
        self.sink.append(EventBody::ComponentRegistered {
            name: name.into(),
            component: digest,
        })?;
        self.world.components.insert(name.into());
        Ok(())
    }

    /// A fresh instance of `component` for `actor`.
    pub(crate) fn instantiate(
        &self,
        actor: ActorId,
        component: &str,
    ) -> Result<Instance, RuntimeError> {
        self.components
            .instantiate(actor, component, &self.world.limits)
    }

    /// Id of the top-level actor named `name`.
    pub fn actor_id(&self, name: &str) -> Option<ActorId> {
        self.world
            .actors
            .iter()
            .find(|(_, m)| m.name == name && m.parent.is_none())
            .map(|(id, _)| *id)
    }

    /// Lets actors granted `http-client` send outbound requests through `client`.
    /// Without one, every outbound request fails with `unavailable`.
    pub fn set_http_client(&mut self, client: std::sync::Arc<dyn crate::http::HttpClient>) {
        self.world.http = Some(client);
    }

    /// Status, name and state bytes of an actor.
    pub fn actor(&self, id: ActorId) -> Option<(ActorStatus, &str, &[u8])> {
        self.world
            .actors
            .get(&id)
            .map(|m| (m.status, m.name.as_str(), m.state.as_slice()))
    }

    /// The name of the component an actor runs.
    pub fn actor_component(&self, id: ActorId) -> Option<&str> {
        self.world.actors.get(&id).map(|m| m.component.as_str())
    }

    /// All actors: id, parent, name, status, restarts.
    pub fn actors(&self) -> Vec<(ActorId, Option<ActorId>, String, ActorStatus, u32)> {
        self.world
            .actors
            .iter()
            .map(|(id, m)| (*id, m.parent, m.name.clone(), m.status, m.restarts))
            .collect()
    }

    /// Everything the `store` interface holds: (actor, key) and value, in order.
    pub fn store_entries(&self) -> impl Iterator<Item = (ActorId, &str, &[u8])> + '_ {
        self.world
            .kv
            .iter()
            .map(|((a, k), v)| (*a, k.as_str(), v.as_slice()))
    }

    /// The value actor `actor` holds under `key` in the `store` interface, if any.
    pub fn store_get(&self, actor: ActorId, key: &str) -> Option<&[u8]> {
        self.world
            .kv
            .get(&(actor, key.to_string()))
            .map(Vec::as_slice)
    }

    /// Virtual time of the next queued delivery, if any.
    pub fn next_time(&self) -> Option<u64> {
        self.world.queue.keys().next().map(|(t, _)| *t)
    }

    /// Current virtual time.
    pub fn time_ns(&self) -> u64 {
        self.world.time_ns
    }

    /// Runs one delivery. Returns `false` when the queue is empty.
    pub fn step(&mut self) -> Result<bool, RuntimeError> {
        let Some(((time_ns, seq), pending)) = self.world.dequeue() else {
            return Ok(false);
        };
        let before = self.sink.events();
        self.deliver(time_ns, seq, pending)?;
        // A step that recorded nothing (a delivery dropped, queued after its receiver
        // exited) is not a point a replay stops at: a snapshot or rotation there would
        // hold a queue the replay, meeting it before that step, has not reached.
        if self.sink.events() > before && !self.rotate_if_due()? {
            self.snapshot_if_due()?;
        }
        self.sink.flush_if_due()?;
        Ok(true)
    }

    /// Runs deliveries until the queue is empty or `max_deliveries` have run.
    pub fn run_until_idle(&mut self, max_deliveries: u64) -> Result<u64, RuntimeError> {
        let mut n = 0;
        while n < max_deliveries && self.step()? {
            n += 1;
        }
        Ok(n)
    }

    fn deliver(&mut self, time_ns: u64, seq: u64, p: Pending) -> Result<(), RuntimeError> {
        let to = p.to;
        // An actor's queued deliveries are dropped when it exits, so a delivery to one
        // that is not running was queued after its exit; it is dropped here.
        let ready = self.world.is_alive(to) && self.instances.contains_key(&to);
        debug_assert!(
            ready
                || self
                    .world
                    .actors
                    .get(&to)
                    .is_some_and(|m| seq >= m.exited_seq),
            "delivery {seq} to actor {to}, queued before it exited, was not dropped"
        );
        if !ready {
            if let MessageKind::Request { correlation } = p.kind {
                self.fail_request(correlation, RequestFailure::TargetExited);
            }
            return Ok(());
        }
        self.summary.deliveries += 1;
        let run = self.run_handler(&p)?;
        let ok = run.outcome == Outcome::Ok;
        self.sink.delivery(DeliveryRecord {
            seq,
            from: p.from,
            to,
            kind: p.kind.clone(),
            time_ns,
            payload: &p.payload,
            host_calls: run.host_calls,
            logs: run.logs,
            state: &run.state,
            fuel_used: run.fuel_used,
            outcome: run.outcome.clone(),
            sent: sent_list(
                &self.world.requests,
                &p.kind,
                &run.effects,
                run.reply.as_deref(),
            )
            .filter(|_| ok),
            host_call_mismatch: run.host_call_mismatch,
        })?;
        let meta = self.world.actors.get_mut(&to).expect("alive");
        meta.state = run.state;
        if ok {
            if meta.status == ActorStatus::Restarting {
                meta.status = ActorStatus::Running;
            }
            return self.apply(to, &p, run.effects, run.reply);
        }
        // A failed delivery changes nothing but the failure: its effects are dropped
        // unapplied, and its state is the one it started with.
        self.summary.failures += 1;
        if let MessageKind::Request { correlation } = p.kind {
            let why = crate::wit_map::handler_failure(&run.outcome);
            self.fail_request(correlation, RequestFailure::HandlerFailed(why));
        }
        let reason = match run.outcome {
            Outcome::Error(m) => ExitReason::Error(m),
            Outcome::Trap(t) => ExitReason::Trap(t),
            Outcome::Ok => unreachable!("ok handled above"),
        };
        // A trap poisons the instance: `exit` drops it; a restart instantiates afresh.
        self.exit(to, reason)
    }

    /// Calls the handler for `p` with the whole world moved into the actor's store.
    fn run_handler(&mut self, p: &Pending) -> Result<HandlerRun, RuntimeError> {
        let to = p.to;
        let mut replay_calls = self.sink.recorded_host_calls()?;
        let oracle = replay_calls.is_none() && self.oracle.is_some();
        if let (true, Some(o)) = (oracle, &mut self.oracle) {
            replay_calls = Some(o.next_for(to));
        }
        let fuel_budget = self.world.actors[&to].fuel;
        let state = std::mem::take(&mut self.world.actors.get_mut(&to).expect("alive").state);
        let world = std::mem::take(&mut self.world);
        let instance = self.instances.get_mut(&to).expect("alive");
        instance.used = true;
        instance.store.data_mut().limiter.refused = false;
        instance.store.data_mut().call = Some(Box::new(CallCtx {
            actor: to,
            world,
            effects: Vec::new(),
            logs: Vec::new(),
            logs_dropped: 0,
            host_calls: Vec::new(),
            replay_calls,
            replay_mismatch: None,
            oracle,
        }));
        // Setting fuel on a store with fuel metering enabled cannot fail.
        let _ = instance.store.set_fuel(fuel_budget);
        let result = instance.call(&state, p);
        let fuel_used = fuel_budget - instance.store.get_fuel().unwrap_or(0);
        let memory_refused = instance.store.data().limiter.refused;
        let ctx = instance
            .store
            .data_mut()
            .call
            .take()
            .expect("installed above");
        let CallCtx {
            world,
            effects,
            mut logs,
            logs_dropped,
            host_calls,
            replay_mismatch,
            ..
        } = *ctx;
        self.world = world;
        // A regression run notes what the recording could not serve; only a replay
        // diverges on it.
        let replay_mismatch = match (oracle, replay_mismatch, &mut self.oracle) {
            (true, Some(what), Some(o)) => {
                o.note(what);
                None
            }
            (_, m, _) => m,
        };
        let limits = self.world.limits;
        if logs_dropped > 0 {
            logs.push(LogLine {
                level: LogLevel::Warn,
                message: format!(
                    "{logs_dropped} log lines dropped (limit {})",
                    limits.log_lines_per_delivery
                ),
            });
        }
        let (outcome, state, reply) = match result {
            Ok(Ok((s, _))) if s.len() as u64 > limits.state_bytes => (
                Outcome::Error(format!(
                    "state of {} bytes exceeds the {}-byte limit",
                    s.len(),
                    limits.state_bytes
                )),
                state,
                None,
            ),
            Ok(Ok((s, reply))) => (Outcome::Ok, s, reply),
            Ok(Err(message)) => (Outcome::Error(message), state, None),
            Err(e) => (Outcome::Trap(trap_code(&e, memory_refused)), state, None),
        };
        Ok(HandlerRun {
            outcome,
            state,
            reply,
            effects,
            logs,
            host_calls,
            host_call_mismatch: replay_mismatch,
            fuel_used,
        })
    }

    /// Records the end of the run (`RunEnded`); nothing may run after it.
    pub fn end(&mut self, reason: &str) -> Result<(), RuntimeError> {
        self.sink.append(EventBody::RunEnded {
            time_ns: self.world.time_ns,
            reason: reason.into(),
        })?;
        self.summary.events = self.sink.events();
        self.summary.head = self.sink.head();
        self.summary.time_ns = self.world.time_ns;
        Ok(())
    }

    /// Ends the run: records the end, and returns the summary and the sink (finish a
    /// trace writer with `TraceWriter::finish`).
    pub fn finish(mut self, reason: &str) -> Result<(RunSummary, Sink), RuntimeError> {
        self.end(reason)?;
        Ok((self.summary, self.sink))
    }

    /// Serves the host calls recorded in a trace to this run (see [`HostCallOracle`]):
    /// for a regression run of a trace's inputs against a new build.
    pub fn serve_host_calls(&mut self, oracle: HostCallOracle) {
        self.oracle = Some(oracle);
    }

    /// Takes the oracle given to [`System::serve_host_calls`] back, with what it could
    /// not serve (and its trace); the run is served no more.
    pub fn take_host_call_oracle(&mut self) -> Option<HostCallOracle> {
        self.oracle.take()
    }

    /// The sink, read-only.
    pub fn sink(&self) -> &Sink {
        &self.sink
    }

    /// The sink, e.g. to ask a replay what it expects next.
    pub fn sink_mut(&mut self) -> &mut Sink {
        &mut self.sink
    }

    /// The run's summary so far.
    pub fn summary(&self) -> &RunSummary {
        &self.summary
    }
}
