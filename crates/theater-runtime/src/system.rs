//! The scheduler: actors, the delivery queue, supervision, and the events of a run.
//!
//! One loop, one queue ordered by (virtual time, sequence number). Each delivery runs to
//! completion: the handler is called with the actor's state bytes and a fuel budget, and
//! its effects are applied only if it succeeds. All ids (actors, correlations, timers,
//! sequence numbers) come from per-run counters; all maps are `BTreeMap`s; the only
//! sources of nondeterminism (`now`, `random-bytes`, the key-value store, external
//! inputs) go through the sink, so the same inputs always give the same run.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use theater_trace::{
    ActorId, Delivery, DeliveryOutputs, Digest, EventBody, ExitReason, LogLevel, LogLine,
    MessageKind, Outcome, RefusalReason, RestartPolicy, RunMode, Sender, SentMessage, TrapCode,
    EXTERNAL,
};
use wasmtime::component::{Component, Linker};
use wasmtime::Store;

use crate::bindings::theater::actor::{messaging, supervision, types};
use crate::bindings::{Actor as ActorBindings, ActorPre};
use crate::engine::engine;
use crate::error::RuntimeError;
use crate::host::{CallCtx, Effect, HostState, MemoryLimiter};
use crate::limits::Limits;
use crate::sink::Sink;
use crate::spec::SystemSpec;

/// Where an actor is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActorStatus {
    Running,
    /// Restarted; its init has not run yet.
    Restarting,
    Exited,
}

/// Supervision settings of one supervisor.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SupervisorSettings {
    strategy: supervision::Strategy,
    max_restarts: u32,
    window_ns: u64,
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
#[derive(Clone, Debug)]
pub(crate) struct ActorMeta {
    pub(crate) name: String,
    pub(crate) component: String,
    pub(crate) parent: Option<ActorId>,
    pub(crate) children: Vec<ActorId>,
    pub(crate) restart: RestartPolicy,
    pub(crate) init_args: Vec<u8>,
    pub(crate) state: Vec<u8>,
    pub(crate) status: ActorStatus,
    /// Deliveries queued for this actor.
    pub(crate) mailbox: u32,
    pub(crate) restarts: u32,
    restart_times: VecDeque<u64>,
    supervisor: SupervisorSettings,
    fuel: u64,
    /// Host interfaces this actor (and so each of its children) may import.
    pub(crate) grants: BTreeSet<&'static str>,
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
#[derive(Clone, Debug)]
pub(crate) struct RequestInfo {
    pub(crate) requester: ActorId,
    pub(crate) target: ActorId,
    pub(crate) answered: bool,
}

/// A pending timer.
#[derive(Clone, Debug)]
pub(crate) struct TimerInfo {
    pub(crate) owner: ActorId,
    key: (u64, u64),
}

/// A queued delivery.
#[derive(Clone, Debug)]
struct Pending {
    from: Sender,
    to: ActorId,
    kind: MessageKind,
    payload: Vec<u8>,
    /// For child-exit deliveries, the reason in WIT form.
    exit: Option<ExitReason>,
}

/// Everything host functions may read or change; moved into the store for each call.
#[derive(Clone, Debug, Default)]
pub(crate) struct World {
    pub(crate) mode: RunMode,
    pub(crate) limits: Limits,
    pub(crate) time_ns: u64,
    next_seq: u64,
    pub(crate) next_actor: u64,
    pub(crate) next_correlation: u64,
    pub(crate) next_timer: u64,
    queue: BTreeMap<(u64, u64), Pending>,
    pub(crate) actors: BTreeMap<ActorId, ActorMeta>,
    /// Live actors.
    pub(crate) live: u32,
    pub(crate) requests: BTreeMap<u64, RequestInfo>,
    pub(crate) timers: BTreeMap<u64, TimerInfo>,
    pub(crate) rng: Rng,
    pub(crate) kv: BTreeMap<(ActorId, String), Vec<u8>>,
    /// Restart times of top-level actors (their supervisor is the runtime).
    root_restart_times: VecDeque<u64>,
    pub(crate) components: BTreeSet<String>,
    /// The host interfaces each component imports (short names, see `spec::INTERFACES`).
    pub(crate) imports: BTreeMap<String, BTreeSet<&'static str>>,
    /// Sends outbound HTTP requests; `None` in replays and runs without network.
    pub(crate) http: Option<std::sync::Arc<dyn crate::http::HttpClient>>,
}

impl World {
    pub(crate) fn is_child(&self, parent: ActorId, child: ActorId) -> bool {
        self.actors
            .get(&child)
            .is_some_and(|m| m.parent == Some(parent))
    }
}

/// The run's pseudo-random generator (xoshiro256**), seeded from the run seed.
#[derive(Clone, Debug, Default)]
pub(crate) struct Rng([u64; 4]);

impl Rng {
    fn seeded(seed: u64) -> Rng {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        Rng([next(), next(), next(), next()])
    }

    fn next_u64(&mut self) -> u64 {
        let s = &mut self.0;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    pub(crate) fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// OS randomness for live mode (recorded by the caller); falls back to the run's
/// generator where the OS offers none.
pub(crate) fn os_random(out: &mut [u8], fallback: &mut Rng) {
    use std::io::Read;
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(out))
        .is_ok();
    if !ok {
        fallback.fill(out);
    }
}

/// An engine and the components it has compiled, by digest.
pub struct ComponentCache {
    engine: wasmtime::Engine,
    wasm_stack_bytes: u64,
    compiled: BTreeMap<Digest, Component>,
}

impl std::fmt::Debug for ComponentCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComponentCache")
            .field("compiled", &self.compiled.len())
            .finish()
    }
}

impl ComponentCache {
    /// An empty cache with an engine configured for `limits`.
    pub fn new(limits: &Limits) -> Result<ComponentCache, RuntimeError> {
        Ok(ComponentCache {
            engine: engine(limits)?,
            wasm_stack_bytes: limits.wasm_stack_bytes,
            compiled: BTreeMap::new(),
        })
    }
}

impl ComponentCache {
    /// An instance with no scheduler around it, for the raw-call benchmark. Its host
    /// functions must not be called (there is no delivery context).
    pub(crate) fn bare_instance(
        &mut self,
        bytes: &[u8],
        limits: &Limits,
    ) -> Result<(Store<HostState>, ActorBindings), RuntimeError> {
        let component =
            Component::new(&self.engine, bytes).map_err(|e| component_error("bench", e))?;
        let mut linker = Linker::new(&self.engine);
        ActorBindings::add_to_linker::<HostState, wasmtime::component::HasSelf<HostState>>(
            &mut linker,
            |s| s,
        )
        .map_err(|e| component_error("(linker)", e))?;
        let mut store = Store::new(
            &self.engine,
            HostState {
                limiter: MemoryLimiter {
                    memory_bytes_max: limits.memory_per_actor_bytes as usize,
                    refused: false,
                },
                call: None,
            },
        );
        store.limiter(|s| &mut s.limiter);
        let _ = store.set_fuel(limits.fuel_per_delivery);
        let bindings = ActorBindings::instantiate(&mut store, &component, &linker)
            .map_err(|e| component_error("bench", e))?;
        Ok((store, bindings))
    }
}

/// A live instance.
struct Instance {
    store: Store<HostState>,
    bindings: ActorBindings,
    /// Whether the instance this one stands for has run a handler (its linear memory
    /// has a history): set when a handler runs, and kept across a checkpoint restore,
    /// whose fresh instance stands for the recorded one.
    used: bool,
}

/// What a finished run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunSummary {
    pub deliveries: u64,
    pub failures: u64,
    pub restarts: u64,
    pub actors_spawned: u64,
    pub events: u64,
    pub head: Digest,
    pub time_ns: u64,
}

/// Everything a [`System`] holds but its WebAssembly instances: the queue, the clock,
/// the generator, every actor's host-held state, open requests and timers, and (when
/// replaying) the position in the trace. [`System::restore`] rebuilds the instances
/// fresh, so an actor that keeps hidden state in linear memory diverges after a restore
/// — which is how such an actor is caught.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    world: World,
    summary: RunSummary,
    instances: Vec<ActorId>,
    /// Instances in which a handler had run (see [`System::restore`]).
    used: Vec<ActorId>,
    /// Replay position: next event to compare and the digest of the last one matched.
    position: Option<(u64, Digest)>,
}

impl Checkpoint {
    /// Events emitted (or matched, in replay) when the checkpoint was taken.
    pub fn events(&self) -> u64 {
        self.position.map_or(self.summary.events, |(next, _)| next)
    }

    /// Each actor's id, status and host-held state at the checkpoint.
    pub fn states(&self) -> impl Iterator<Item = (ActorId, ActorStatus, &[u8])> {
        self.world
            .actors
            .iter()
            .map(|(id, m)| (*id, m.status, m.state.as_slice()))
    }
}

/// The answer to an external request (see [`System::inject_request`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalReply {
    pub correlation: u64,
    /// `false` when the request failed: the handler failed or the actor exited first.
    /// The payload then holds the error as JSON (`"target-exited"` or
    /// `{"handler-failed": "…"}`).
    pub ok: bool,
    pub payload: Vec<u8>,
}

/// A running system of actors.
pub struct System {
    engine: wasmtime::Engine,
    linker: Linker<HostState>,
    components: BTreeMap<String, (Digest, ActorPre<HostState>)>,
    instances: BTreeMap<ActorId, Instance>,
    world: World,
    sink: Sink,
    summary: RunSummary,
    /// Replies to external requests not yet taken.
    replies: Vec<ExternalReply>,
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

fn component_error(name: &str, e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Component {
        name: name.into(),
        message: format!("{e:#}"),
    }
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
        spec.check()?;
        if cache.wasm_stack_bytes != spec.limits.wasm_stack_bytes {
            *cache = ComponentCache::new(&spec.limits)?;
        }
        let engine = cache.engine.clone();
        let mut linker = Linker::new(&engine);
        ActorBindings::add_to_linker::<HostState, wasmtime::component::HasSelf<HostState>>(
            &mut linker,
            |s| s,
        )
        .map_err(|e| component_error("(linker)", e))?;
        let mut system = System {
            engine,
            linker,
            components: BTreeMap::new(),
            instances: BTreeMap::new(),
            world: World {
                mode: spec.mode,
                limits: spec.limits,
                rng: Rng::seeded(spec.seed),
                ..World::default()
            },
            sink,
            summary: RunSummary::default(),
            replies: Vec::new(),
        };
        for c in &spec.components {
            system.add_component(&c.name, &c.bytes, cache)?;
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
            let id = system.world.next_actor;
            system.world.next_actor += 1;
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
        let digest = Digest::of(bytes);
        let component = match cache.compiled.get(&digest) {
            Some(c) => c.clone(),
            None => {
                let c =
                    Component::new(&self.engine, bytes).map_err(|e| component_error(name, e))?;
                cache.compiled.insert(digest, c.clone());
                c
            }
        };
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| component_error(name, e))?;
        let pre = ActorPre::new(pre).map_err(|e| component_error(name, e))?;
        let imports = component
            .component_type()
            .imports(&self.engine)
            .filter_map(|(import, _)| crate::spec::granted_interface(import))
            .collect();
        self.world.imports.insert(name.into(), imports);
        let digest = self.sink.blob(bytes)?;
        self.sink.append(EventBody::ComponentRegistered {
            name: name.into(),
            component: digest,
        })?;
        self.components.insert(name.into(), (digest, pre));
        self.world.components.insert(name.into());
        Ok(())
    }

    fn instantiate(&mut self, actor: ActorId, component: &str) -> Result<Instance, RuntimeError> {
        let (_, pre) = self
            .components
            .get(component)
            .ok_or_else(|| RuntimeError::Spec(format!("unknown component {component:?}")))?;
        let mut store = Store::new(
            &self.engine,
            HostState {
                limiter: MemoryLimiter {
                    memory_bytes_max: self.world.limits.memory_per_actor_bytes as usize,
                    refused: false,
                },
                call: None,
            },
        );
        store.limiter(|s| &mut s.limiter);
        // Instantiation runs no guest code that could fail here except start functions;
        // a component that cannot instantiate is a load error, not an actor failure.
        store
            .set_fuel(self.world.limits.fuel_per_delivery)
            .map_err(|e| component_error(component, e))?;
        let bindings = pre
            .instantiate(&mut store)
            .map_err(|e| component_error(component, format!("actor {actor}: {e:#}")))?;
        Ok(Instance {
            store,
            bindings,
            used: false,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn spawn(
        &mut self,
        id: ActorId,
        parent: Option<ActorId>,
        name: &str,
        component: &str,
        init_args: Vec<u8>,
        restart: RestartPolicy,
        fuel: Option<u64>,
        grants: BTreeSet<&'static str>,
    ) -> Result<(), RuntimeError> {
        // A top-level actor that cannot be instantiated is a load error; a spawned one
        // exits with an error like any failing child.
        let (instance, failure) = match self.instantiate(id, component) {
            Ok(i) => (Some(i), None),
            Err(e) if parent.is_none() => return Err(e),
            Err(e) => (None, Some(e.to_string())),
        };
        let digest = self.components[component].0;
        self.sink.append(EventBody::ActorSpawned {
            actor: id,
            parent,
            name: name.into(),
            component: digest,
            restart,
        })?;
        if let Some(instance) = instance {
            self.instances.insert(id, instance);
        }
        self.world.actors.insert(
            id,
            ActorMeta {
                name: name.into(),
                component: component.into(),
                parent,
                children: Vec::new(),
                restart,
                init_args: init_args.clone(),
                state: Vec::new(),
                status: ActorStatus::Restarting,
                mailbox: 0,
                restarts: 0,
                restart_times: VecDeque::new(),
                supervisor: SupervisorSettings::default(),
                fuel: fuel.unwrap_or(self.world.limits.fuel_per_delivery),
                grants,
            },
        );
        if let Some(p) = parent.and_then(|p| self.world.actors.get_mut(&p)) {
            p.children.push(id);
        }
        self.world.live += 1;
        self.summary.actors_spawned += 1;
        if let Some(why) = failure {
            return self.exit(id, ExitReason::Error(format!("cannot instantiate: {why}")));
        }
        self.enqueue(0, Sender::Runtime, id, MessageKind::Init, init_args, None);
        Ok(())
    }

    fn enqueue(
        &mut self,
        delay_ns: u64,
        from: Sender,
        to: ActorId,
        kind: MessageKind,
        payload: Vec<u8>,
        exit: Option<ExitReason>,
    ) -> (u64, u64) {
        let key = (
            self.world.time_ns.saturating_add(delay_ns),
            self.world.next_seq,
        );
        self.world.next_seq += 1;
        if let Some(m) = self.world.actors.get_mut(&to) {
            m.mailbox += 1;
        }
        self.world.queue.insert(
            key,
            Pending {
                from,
                to,
                kind,
                payload,
                exit,
            },
        );
        key
    }

    /// Offers an external one-way message. Accepted messages are recorded as inputs and
    /// queued; refused ones (no such actor, mailbox full, too large) are recorded as
    /// refused. Returns whether it was accepted.
    pub fn inject(&mut self, to: ActorId, payload: Vec<u8>) -> Result<bool, RuntimeError> {
        Ok(self.offer(to, payload, false)?.is_some())
    }

    /// Offers an external request (an HTTP request, say) to `to`'s `handle-request`.
    /// Returns its correlation id if it was accepted (recorded as an input of kind
    /// request), `None` if it was refused (recorded as refused, no id used). The reply,
    /// or the failure, comes out of [`System::take_replies`] once the actor answers.
    pub fn inject_request(
        &mut self,
        to: ActorId,
        payload: Vec<u8>,
    ) -> Result<Option<u64>, RuntimeError> {
        self.offer(to, payload, true)
    }

    /// Replies to external requests produced since the last call, in the order they
    /// were produced.
    pub fn take_replies(&mut self) -> Vec<ExternalReply> {
        std::mem::take(&mut self.replies)
    }

    /// Replies produced and not yet taken. Whoever injects requests must take them (a
    /// replay or rerun, which has no client to answer, drops them), or they pile up.
    pub fn pending_replies(&self) -> usize {
        self.replies.len()
    }

    /// Records traffic from outside that never became an input (or whose reply could
    /// not be delivered). It changes nothing in the system.
    pub fn record_dropped(
        &mut self,
        request: String,
        reason: theater_trace::DropReason,
    ) -> Result<(), RuntimeError> {
        self.sink
            .append(EventBody::IngressDropped { request, reason })
    }

    fn offer(
        &mut self,
        to: ActorId,
        payload: Vec<u8>,
        request: bool,
    ) -> Result<Option<u64>, RuntimeError> {
        let refusal = match self.world.actors.get(&to) {
            None => Some(RefusalReason::NoSuchActor),
            Some(m) if m.status == ActorStatus::Exited => Some(RefusalReason::NoSuchActor),
            Some(_) if payload.len() as u64 > self.world.limits.message_bytes => {
                Some(RefusalReason::TooLarge)
            }
            Some(m) if m.mailbox >= self.world.limits.mailbox_len => {
                Some(RefusalReason::MailboxFull)
            }
            Some(_) => None,
        };
        if let Some(reason) = refusal {
            if self.sink.is_on() {
                let payload = self.sink.payload(&payload)?;
                self.sink.append(EventBody::Refused {
                    to,
                    payload,
                    reason,
                })?;
            }
            return Ok(None);
        }
        let recorded = if self.sink.is_on() {
            Some(self.sink.payload(&payload)?)
        } else {
            None
        };
        let (kind, correlation) = if request {
            let correlation = self.world.next_correlation;
            self.world.next_correlation += 1;
            self.world.requests.insert(
                correlation,
                RequestInfo {
                    requester: EXTERNAL,
                    target: to,
                    answered: false,
                },
            );
            (MessageKind::Request { correlation }, correlation)
        } else {
            (MessageKind::OneWay, 0)
        };
        let (time_ns, seq) = self.enqueue(0, Sender::External, to, kind.clone(), payload, None);
        if let Some(payload) = recorded {
            self.sink.append(EventBody::Input(Delivery {
                seq,
                from: Sender::External,
                to,
                kind,
                payload,
                time_ns,
            }))?;
        }
        Ok(Some(correlation))
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

    /// All actors: id, parent, name, status, restarts.
    pub fn actors(&self) -> Vec<(ActorId, Option<ActorId>, String, ActorStatus, u32)> {
        self.world
            .actors
            .iter()
            .map(|(id, m)| (*id, m.parent, m.name.clone(), m.status, m.restarts))
            .collect()
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
        let Some(((time_ns, seq), pending)) = self.world.queue.pop_first() else {
            return Ok(false);
        };
        self.world.time_ns = time_ns;
        if let Some(m) = self.world.actors.get_mut(&pending.to) {
            m.mailbox = m.mailbox.saturating_sub(1);
        }
        if let Sender::Timer(id) = pending.from {
            self.world.timers.remove(&id);
        }
        self.deliver(time_ns, seq, pending)?;
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
        let alive = self
            .world
            .actors
            .get(&to)
            .is_some_and(|m| m.status != ActorStatus::Exited);
        if !alive || !self.instances.contains_key(&to) {
            // The target exited after this was queued: a request gets an error reply.
            if let MessageKind::Request { correlation } = p.kind {
                self.fail_request(correlation, messaging::RequestError::TargetExited);
            }
            return Ok(());
        }
        self.summary.deliveries += 1;
        // On a recorder thread, the whole delivery is handed over after the call (see
        // `Recorder::delivery`); otherwise its events are built here.
        let background = matches!(self.sink, Sink::Background(_));
        if self.sink.is_on() && !background {
            let payload = self.sink.payload(&p.payload)?;
            self.sink.append(EventBody::Delivered(Delivery {
                seq,
                from: p.from,
                to,
                kind: p.kind.clone(),
                payload,
                time_ns,
            }))?;
        }
        let replay_calls = self.sink.recorded_host_calls()?;
        let meta = &self.world.actors[&to];
        let fuel_budget = meta.fuel;
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
        }));
        // Setting fuel on a store with fuel metering enabled cannot fail.
        let _ = instance.store.set_fuel(fuel_budget);
        let result = call_handler(instance, &state, &p);
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
        if logs_dropped > 0 {
            logs.push(LogLine {
                level: LogLevel::Warn,
                message: format!(
                    "{logs_dropped} log lines dropped (limit {})",
                    self.world.limits.log_lines_per_delivery
                ),
            });
        }
        let (outcome, new_state, reply) = match result {
            Ok(Ok((s, _))) if s.len() as u64 > self.world.limits.state_bytes => (
                Outcome::Error(format!(
                    "state of {} bytes exceeds the {}-byte limit",
                    s.len(),
                    self.world.limits.state_bytes
                )),
                state,
                None,
            ),
            Ok(Ok((s, reply))) => (Outcome::Ok, s, reply),
            Ok(Err(message)) => (Outcome::Error(message), state, None),
            Err(e) => (Outcome::Trap(trap_code(&e, memory_refused)), state, None),
        };
        // A failed delivery (a trap poisons the instance) always ends in `exit` below,
        // which drops the instance; a restart instantiates afresh.
        if self.sink.is_on() && !background {
            for (function, request, response) in &host_calls {
                let request = self.sink.payload(request)?;
                let response = self.sink.payload(response)?;
                self.sink.append(EventBody::HostCall {
                    actor: to,
                    function: function.clone(),
                    request,
                    response,
                })?;
            }
        }
        if let Some(mismatch) = replay_mismatch {
            return Err(RuntimeError::Divergence(Box::new(
                crate::error::Divergence {
                    event: self.sink.events(),
                    actor: Some(to),
                    expected: "the recorded host calls".into(),
                    actual: mismatch,
                },
            )));
        }
        let ok = outcome == Outcome::Ok;
        if let Sink::Background(recorder) = &mut self.sink {
            let sent =
                sent_list(&self.world.requests, &p.kind, &effects, reply.as_deref()).filter(|_| ok);
            recorder.delivery(
                crate::recorder::DeliveryRecord {
                    seq,
                    from: p.from,
                    to,
                    kind: &p.kind,
                    time_ns,
                    payload: &p.payload,
                    host_calls,
                    logs,
                    state: &new_state,
                    fuel_used,
                    outcome: outcome.clone(),
                },
                sent,
            )?;
        } else if self.sink.is_on() {
            let sent = if ok {
                self.sent_messages(&p, &effects, reply.as_deref())?
            } else {
                Vec::new()
            };
            let state_digest = Digest::of(&new_state);
            self.sink.append(EventBody::Outputs(DeliveryOutputs {
                actor: to,
                seq,
                sent,
                logs,
                state: state_digest,
                fuel_used,
                outcome: outcome.clone(),
            }))?;
        }
        let meta = self.world.actors.get_mut(&to).expect("alive");
        meta.state = new_state;
        if ok {
            if meta.status == ActorStatus::Restarting {
                meta.status = ActorStatus::Running;
            }
            self.apply(to, &p, effects, reply)?;
        } else {
            self.summary.failures += 1;
            if let MessageKind::Request { correlation } = p.kind {
                let why = match &outcome {
                    Outcome::Error(m) => m.clone(),
                    other => format!("{other:?}"),
                };
                self.fail_request(correlation, messaging::RequestError::HandlerFailed(why));
            }
            let reason = match outcome {
                Outcome::Error(m) => ExitReason::Error(m),
                Outcome::Trap(t) => ExitReason::Trap(t),
                Outcome::Ok => unreachable!("ok handled above"),
            };
            self.exit(to, reason)?;
        }
        Ok(())
    }

    /// The messages a successful delivery sends, for the outputs event.
    fn sent_messages(
        &mut self,
        p: &Pending,
        effects: &[Effect],
        reply: Option<&[u8]>,
    ) -> Result<Vec<SentMessage>, RuntimeError> {
        let sink = &mut self.sink;
        sent_list(&self.world.requests, &p.kind, effects, reply)
            .map(|(to, kind, bytes)| {
                Ok(SentMessage {
                    to,
                    kind,
                    payload: sink.payload(bytes)?,
                })
            })
            .collect()
    }

    fn apply(
        &mut self,
        actor: ActorId,
        p: &Pending,
        effects: Vec<Effect>,
        reply: Option<Vec<u8>>,
    ) -> Result<(), RuntimeError> {
        // A request answered from the handler gets its reply now; one answered later
        // (`messaging.reply`) stays open until then, or fails if the actor exits first.
        if let (MessageKind::Request { correlation }, Some(bytes)) = (&p.kind, reply) {
            self.answer(*correlation, bytes, true);
        }
        if let MessageKind::Reply { correlation, .. } = p.kind {
            self.world.requests.remove(&correlation);
        }
        for e in effects {
            match e {
                Effect::Send { to, payload } => {
                    self.enqueue(
                        0,
                        Sender::Actor(actor),
                        to,
                        MessageKind::OneWay,
                        payload,
                        None,
                    );
                }
                Effect::Request {
                    to,
                    correlation,
                    payload,
                } => {
                    self.world.requests.insert(
                        correlation,
                        RequestInfo {
                            requester: actor,
                            target: to,
                            answered: false,
                        },
                    );
                    self.enqueue(
                        0,
                        Sender::Actor(actor),
                        to,
                        MessageKind::Request { correlation },
                        payload,
                        None,
                    );
                }
                Effect::Reply {
                    correlation,
                    payload,
                } => self.answer(correlation, payload, true),
                Effect::SetTimer {
                    id,
                    delay_ns,
                    payload,
                } => {
                    let key = self.enqueue(
                        delay_ns,
                        Sender::Timer(id),
                        actor,
                        MessageKind::OneWay,
                        payload,
                        None,
                    );
                    self.world
                        .timers
                        .insert(id, TimerInfo { owner: actor, key });
                }
                Effect::CancelTimer { id } => {
                    if let Some(t) = self.world.timers.remove(&id) {
                        if self.world.queue.remove(&t.key).is_some() {
                            if let Some(m) = self.world.actors.get_mut(&actor) {
                                m.mailbox = m.mailbox.saturating_sub(1);
                            }
                        }
                    }
                }
                Effect::Spawn { id, spec } => {
                    let restart = match spec.restart {
                        types::RestartPolicy::Permanent => RestartPolicy::Permanent,
                        types::RestartPolicy::Transient => RestartPolicy::Transient,
                        types::RestartPolicy::Temporary => RestartPolicy::Temporary,
                    };
                    // A child holds its parent's grants, never more (the host checked
                    // the child's imports against them when it asked to spawn).
                    let grants = self.world.actors[&actor].grants.clone();
                    self.spawn(
                        id,
                        Some(actor),
                        &spec.name,
                        &spec.component,
                        spec.init_args,
                        restart,
                        None,
                        grants,
                    )?;
                }
                Effect::Stop { child } => self.exit(child, ExitReason::Normal)?,
                Effect::Restart { child } => {
                    if self
                        .world
                        .actors
                        .get(&child)
                        .is_some_and(|m| m.status != ActorStatus::Exited)
                    {
                        self.kill_quietly(child)?;
                        self.restart(child)?;
                    }
                }
                Effect::Configure(c) => {
                    if let Some(m) = self.world.actors.get_mut(&actor) {
                        m.supervisor = SupervisorSettings {
                            strategy: c.strategy,
                            max_restarts: c.max_restarts,
                            window_ns: c.window,
                        };
                    }
                }
            }
        }
        Ok(())
    }

    /// Queues the reply to a request for its requester.
    fn answer(&mut self, correlation: u64, payload: Vec<u8>, ok: bool) {
        let Some(r) = self.world.requests.get_mut(&correlation) else {
            return;
        };
        if r.answered {
            return;
        }
        r.answered = true;
        let (requester, target) = (r.requester, r.target);
        if requester == EXTERNAL {
            // The reply leaves the system; nothing inside waits for it.
            self.world.requests.remove(&correlation);
            self.replies.push(ExternalReply {
                correlation,
                ok,
                payload,
            });
            return;
        }
        self.enqueue(
            0,
            Sender::Actor(target),
            requester,
            MessageKind::Reply { correlation, ok },
            payload,
            None,
        );
    }

    fn fail_request(&mut self, correlation: u64, error: messaging::RequestError) {
        let payload = match &error {
            messaging::RequestError::TargetExited => b"\"target-exited\"".to_vec(),
            messaging::RequestError::HandlerFailed(m) => {
                serde_json::to_vec(&serde_json::json!({ "handler-failed": m })).unwrap_or_default()
            }
        };
        self.answer(correlation, payload, false);
    }

    /// An actor stops: its children are stopped, its open requests fail, its parent is
    /// notified, and its supervisor's strategy decides about restarts.
    fn exit(&mut self, actor: ActorId, reason: ExitReason) -> Result<(), RuntimeError> {
        if !self
            .world
            .actors
            .get(&actor)
            .is_some_and(|m| m.status != ActorStatus::Exited)
        {
            return Ok(());
        }
        self.kill_quietly_with(actor, reason.clone())?;
        let alive = |w: &World, id: &ActorId| {
            w.actors
                .get(id)
                .is_some_and(|m| m.status != ActorStatus::Exited)
        };
        let parent = self.world.actors[&actor].parent;
        if let Some(p) = parent {
            if !alive(&self.world, &p) {
                return Ok(());
            }
            self.notify_parent(p, actor, &reason);
        }
        // A normal exit is a deliberate stop: never restarted. Otherwise the policy says.
        let restart = reason != ExitReason::Normal
            && self.world.actors[&actor].restart != RestartPolicy::Temporary;
        if !restart {
            return Ok(());
        }
        // Restart intensity: at most R restarts within the window. Past it, a supervisor
        // exits (escalating to its own parent); the root — the supervisor of top-level
        // actors, with the default settings — leaves the actor exited.
        let now = self.world.time_ns;
        let (settings, times, siblings) = match parent {
            Some(p) => {
                let m = self.world.actors.get_mut(&p).expect("alive");
                (m.supervisor, &mut m.restart_times, m.children.clone())
            }
            None => {
                let top: Vec<ActorId> = self
                    .world
                    .actors
                    .iter()
                    .filter(|(_, m)| m.parent.is_none())
                    .map(|(id, _)| *id)
                    .collect();
                (
                    SupervisorSettings::default(),
                    &mut self.world.root_restart_times,
                    top,
                )
            }
        };
        while times
            .front()
            .is_some_and(|&t| now.saturating_sub(t) > settings.window_ns)
        {
            times.pop_front();
        }
        if times.len() as u32 >= settings.max_restarts {
            return match parent {
                Some(p) => self.exit(p, ExitReason::Escalated),
                None => Ok(()),
            };
        }
        times.push_back(now);
        let position = siblings.iter().position(|&c| c == actor).unwrap_or(0);
        let also: Vec<ActorId> = match settings.strategy {
            supervision::Strategy::OneForOne => Vec::new(),
            supervision::Strategy::OneForAll => {
                siblings.iter().copied().filter(|&c| c != actor).collect()
            }
            supervision::Strategy::RestForOne => siblings[position + 1..].to_vec(),
        };
        // Live siblings are stopped and restarted with it (temporary ones only stopped).
        let also: Vec<ActorId> = also.into_iter().filter(|c| alive(&self.world, c)).collect();
        for &c in &also {
            self.kill_quietly_with(c, ExitReason::Killed)?;
        }
        self.restart(actor)?;
        for c in also {
            if self.world.actors[&c].restart != RestartPolicy::Temporary {
                self.restart(c)?;
            }
        }
        Ok(())
    }

    /// Queues the child-exit delivery that tells `parent` why `child` exited (the reason
    /// is also the delivery's recorded payload, as JSON).
    fn notify_parent(&mut self, parent: ActorId, child: ActorId, reason: &ExitReason) {
        let payload = serde_json::to_vec(reason).unwrap_or_default();
        self.enqueue(
            0,
            Sender::Runtime,
            parent,
            MessageKind::ChildExit { child },
            payload,
            Some(reason.clone()),
        );
    }

    fn kill_quietly(&mut self, actor: ActorId) -> Result<(), RuntimeError> {
        self.kill_quietly_with(actor, ExitReason::Killed)
    }

    /// Marks an actor (and its descendants) exited, records it, fails its open requests
    /// and drops its queued deliveries. Does not notify the parent.
    fn kill_quietly_with(
        &mut self,
        actor: ActorId,
        reason: ExitReason,
    ) -> Result<(), RuntimeError> {
        // Depth-first over the subtree with an explicit stack: a deep chain of spawns
        // must not overflow the host's stack.
        let mut pending = vec![(actor, reason)];
        while let Some((actor, reason)) = pending.pop() {
            let Some(meta) = self.world.actors.get_mut(&actor) else {
                continue;
            };
            if meta.status == ActorStatus::Exited {
                continue;
            }
            meta.status = ActorStatus::Exited;
            meta.mailbox = 0;
            let children = meta.children.clone();
            self.world.live = self.world.live.saturating_sub(1);
            self.instances.remove(&actor);
            self.sink.append(EventBody::ActorExited { actor, reason })?;
            pending.extend(children.into_iter().rev().map(|c| (c, ExitReason::Killed)));
            self.drop_pending(actor);
        }
        Ok(())
    }

    /// Drops an exited actor's queued deliveries and timers; requests queued for it or
    /// accepted by it fail with `target-exited`.
    fn drop_pending(&mut self, actor: ActorId) {
        let doomed: Vec<(u64, u64)> = self
            .world
            .queue
            .iter()
            .filter(|(_, p)| p.to == actor)
            .map(|(k, _)| *k)
            .collect();
        for key in doomed {
            if let Some(p) = self.world.queue.remove(&key) {
                if let MessageKind::Request { correlation } = p.kind {
                    self.fail_request(correlation, messaging::RequestError::TargetExited);
                }
            }
        }
        let open: Vec<u64> = self
            .world
            .requests
            .iter()
            .filter(|(_, r)| r.target == actor && !r.answered)
            .map(|(c, _)| *c)
            .collect();
        for c in open {
            self.fail_request(c, messaging::RequestError::TargetExited);
        }
        self.world.timers.retain(|_, t| t.owner != actor);
    }

    /// Restarts an exited actor from its init state, with the same id.
    fn restart(&mut self, actor: ActorId) -> Result<(), RuntimeError> {
        let component = self.world.actors[&actor].component.clone();
        let instance = match self.instantiate(actor, &component) {
            Ok(i) => i,
            Err(e) => {
                // Instantiation is deterministic: retrying cannot help. The actor stays
                // exited and its parent is told, without another restart.
                let reason = ExitReason::Error(format!("cannot instantiate: {e}"));
                if let Some(p) = self.world.actors[&actor].parent {
                    self.notify_parent(p, actor, &reason);
                }
                self.sink.append(EventBody::ActorExited { actor, reason })?;
                return Ok(());
            }
        };
        self.instances.insert(actor, instance);
        let meta = self.world.actors.get_mut(&actor).expect("known");
        meta.status = ActorStatus::Restarting;
        meta.restarts += 1;
        meta.state.clear();
        meta.children.clear();
        let (restarts, init_args) = (meta.restarts, meta.init_args.clone());
        self.world.live += 1;
        self.summary.restarts += 1;
        self.sink
            .append(EventBody::ActorRestarted { actor, restarts })?;
        self.enqueue(
            0,
            Sender::Runtime,
            actor,
            MessageKind::Init,
            init_args,
            None,
        );
        Ok(())
    }

    /// Replaces every live actor's instance with a fresh one, keeping the host-held
    /// state: what resuming from a checkpoint does.
    pub fn restore_instances(&mut self) -> Result<(), RuntimeError> {
        let live: Vec<ActorId> = self.instances.keys().copied().collect();
        let used: Vec<ActorId> = self.used_instances();
        self.fresh_instances(&live, &used)
    }

    fn used_instances(&self) -> Vec<ActorId> {
        self.instances
            .iter()
            .filter(|(_, i)| i.used)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Replaces the instances with fresh ones for exactly `ids`. In replay, the fuel of
    /// actors in `used` is no longer compared: their recorded instances had a history
    /// (allocator state in linear memory) that a fresh one lacks, so the same handler
    /// on the same state may burn a different amount of fuel. Their state, messages,
    /// logs and outcomes are still compared.
    fn fresh_instances(&mut self, ids: &[ActorId], used: &[ActorId]) -> Result<(), RuntimeError> {
        if let Sink::Replay(r) = &mut self.sink {
            r.fuel_exempt.extend(used.iter().copied());
        }
        self.instances.clear();
        for id in ids {
            let component = self.world.actors[id].component.clone();
            let mut fresh = self.instantiate(*id, &component)?;
            fresh.used = used.contains(id);
            self.instances.insert(*id, fresh);
        }
        Ok(())
    }

    /// A snapshot of the scheduler's state (see [`Checkpoint`]).
    pub fn checkpoint(&self) -> Checkpoint {
        let mut summary = self.summary.clone();
        summary.events = self.sink.events();
        Checkpoint {
            world: self.world.clone(),
            summary,
            instances: self.instances.keys().copied().collect(),
            used: self.used_instances(),
            position: match &self.sink {
                Sink::Replay(r) => Some((r.next, r.last_digest)),
                _ => None,
            },
        }
    }

    /// Returns to `checkpoint`, taken from this system (or one built from the same spec
    /// and trace): the scheduler state is copied back, every instance is made fresh,
    /// and a replay resumes comparing at the checkpoint's event.
    pub fn restore(&mut self, checkpoint: &Checkpoint) -> Result<(), RuntimeError> {
        let http = self.world.http.take();
        self.world = checkpoint.world.clone();
        self.world.http = http;
        self.replies.clear();
        self.summary = checkpoint.summary.clone();
        if let Sink::Replay(r) = &mut self.sink {
            r.fuel_exempt.clear();
        }
        self.fresh_instances(&checkpoint.instances, &checkpoint.used)?;
        if let (Sink::Replay(r), Some((next, digest))) = (&mut self.sink, checkpoint.position) {
            r.seek(next, digest);
        }
        Ok(())
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

/// The messages a successful delivery sends, in the order the outputs event lists them:
/// its sends, requests and deferred replies as the handler made them, then the reply it
/// returned from `handle-request`. A reply goes to the request's requester.
fn sent_list<'a>(
    requests: &'a BTreeMap<u64, RequestInfo>,
    kind: &'a MessageKind,
    effects: &'a [Effect],
    reply: Option<&'a [u8]>,
) -> impl Iterator<Item = (ActorId, MessageKind, &'a [u8])> + 'a {
    let requester = move |c: u64| requests.get(&c).map_or(0, |r| r.requester);
    let answer = match (reply, kind) {
        (Some(bytes), MessageKind::Request { correlation }) => Some((
            requester(*correlation),
            MessageKind::Reply {
                correlation: *correlation,
                ok: true,
            },
            bytes,
        )),
        _ => None,
    };
    effects
        .iter()
        .filter_map(move |e| match e {
            Effect::Send { to, payload } => Some((*to, MessageKind::OneWay, payload.as_slice())),
            Effect::Request {
                to,
                correlation,
                payload,
            } => Some((
                *to,
                MessageKind::Request {
                    correlation: *correlation,
                },
                payload.as_slice(),
            )),
            Effect::Reply {
                correlation,
                payload,
            } => Some((
                requester(*correlation),
                MessageKind::Reply {
                    correlation: *correlation,
                    ok: true,
                },
                payload.as_slice(),
            )),
            _ => None,
        })
        .chain(answer)
}

/// A handler's result: the new state and, for requests, the reply; or its error.
type HandlerResult = Result<(Vec<u8>, Option<Vec<u8>>), String>;

/// Calls the export that handles `p`; returns the new state and, for requests, the reply.
fn call_handler(
    instance: &mut Instance,
    state: &[u8],
    p: &Pending,
) -> wasmtime::Result<HandlerResult> {
    let b = &instance.bindings;
    let store = &mut instance.store;
    let sender = match p.from {
        Sender::External | Sender::Runtime => types::Sender::External,
        Sender::Actor(a) => types::Sender::Actor(a),
        Sender::Timer(t) => types::Sender::Timer(t),
    };
    Ok(match &p.kind {
        MessageKind::Init => b.call_init(store, &p.payload)?.map(|s| (s, None)),
        MessageKind::OneWay => b
            .call_handle_message(store, state, sender, &p.payload)?
            .map(|s| (s, None)),
        MessageKind::Request { correlation } => b
            .call_handle_request(store, state, sender, *correlation, &p.payload)?
            .map(|o| (o.state, o.reply)),
        MessageKind::Reply { correlation, ok } => {
            let reply = if *ok {
                Ok(p.payload.clone())
            } else {
                Err(decode_request_error(&p.payload))
            };
            b.call_handle_reply(
                store,
                state,
                *correlation,
                reply.as_ref().map(Vec::as_slice),
            )?
            .map(|s| (s, None))
        }
        MessageKind::ChildExit { child } => {
            let reason = match p.exit.clone().unwrap_or(ExitReason::Killed) {
                ExitReason::Normal => types::ExitReason::Normal,
                ExitReason::Error(m) => types::ExitReason::Error(m),
                ExitReason::Trap(t) => types::ExitReason::Trap(trap_name(&t)),
                ExitReason::Killed | ExitReason::Escalated => types::ExitReason::Killed,
            };
            b.call_handle_child_exit(store, state, *child, &reason)?
                .map(|s| (s, None))
        }
    })
}

fn decode_request_error(payload: &[u8]) -> messaging::RequestError {
    match serde_json::from_slice::<serde_json::Value>(payload) {
        Ok(serde_json::Value::Object(m)) => messaging::RequestError::HandlerFailed(
            m.get("handler-failed")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string(),
        ),
        _ => messaging::RequestError::TargetExited,
    }
}

/// The WIT name of a trap code.
pub(crate) fn trap_name(t: &TrapCode) -> String {
    match t {
        TrapCode::OutOfFuel => "out-of-fuel".into(),
        TrapCode::Unreachable => "unreachable".into(),
        TrapCode::MemoryOutOfBounds => "memory-out-of-bounds".into(),
        TrapCode::MemoryLimit => "memory-limit".into(),
        TrapCode::StackOverflow => "stack-overflow".into(),
        TrapCode::IntegerOverflow => "integer-overflow".into(),
        TrapCode::IntegerDivisionByZero => "integer-division-by-zero".into(),
        TrapCode::BadConversionToInteger => "bad-conversion-to-integer".into(),
        TrapCode::IndirectCallTypeMismatch => "indirect-call-type-mismatch".into(),
        TrapCode::TableOutOfBounds => "table-out-of-bounds".into(),
        TrapCode::NullReference => "null-reference".into(),
        TrapCode::Other(s) => s.clone(),
    }
}

fn trap_code(e: &wasmtime::Error, memory_refused: bool) -> TrapCode {
    use wasmtime::Trap;
    let code = match e.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => TrapCode::OutOfFuel,
        Some(Trap::UnreachableCodeReached) => TrapCode::Unreachable,
        Some(Trap::MemoryOutOfBounds) => TrapCode::MemoryOutOfBounds,
        Some(Trap::StackOverflow) => TrapCode::StackOverflow,
        Some(Trap::IntegerOverflow) => TrapCode::IntegerOverflow,
        Some(Trap::IntegerDivisionByZero) => TrapCode::IntegerDivisionByZero,
        Some(Trap::BadConversionToInteger) => TrapCode::BadConversionToInteger,
        Some(Trap::BadSignature) => TrapCode::IndirectCallTypeMismatch,
        Some(Trap::TableOutOfBounds) => TrapCode::TableOutOfBounds,
        Some(Trap::NullReference) => TrapCode::NullReference,
        Some(other) => TrapCode::Other(other.to_string()),
        None => TrapCode::Other(format!("{e}")),
    };
    // A guest whose allocation failed at the memory limit aborts (`unreachable`).
    if memory_refused && code == TrapCode::Unreachable {
        TrapCode::MemoryLimit
    } else {
        code
    }
}
