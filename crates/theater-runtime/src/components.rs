//! Components and instances: the engine's compiled components (cached by digest across
//! systems), a system's linked components by name, and the live instance of each actor
//! with the one call that runs a handler.

use std::collections::{BTreeMap, BTreeSet};

use theater_trace::{ActorId, Digest, MessageKind};
use wasmtime::component::{Component, Linker};
use wasmtime::Store;

use crate::bindings::{Actor as ActorBindings, ActorPre};
use crate::engine::engine;
use crate::error::RuntimeError;
use crate::host::{HostState, MemoryLimiter};
use crate::limits::Limits;
use crate::wit_map;
use crate::world::Pending;

pub(crate) fn component_error(name: &str, e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Component {
        name: name.into(),
        message: format!("{e:#}"),
    }
}

/// An engine and the components it has compiled, by digest. A clone shares both (with
/// other threads too): what one compiled, the other need not.
#[derive(Clone)]
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

    /// The engine components are compiled for.
    pub(crate) fn engine(&self) -> &wasmtime::Engine {
        &self.engine
    }

    /// Makes sure the cache's engine fits `limits` (an engine made for another wasm
    /// stack limit is replaced, with its compiled components).
    pub(crate) fn fit(&mut self, limits: &Limits) -> Result<(), RuntimeError> {
        if self.wasm_stack_bytes != limits.wasm_stack_bytes {
            *self = ComponentCache::new(limits)?;
        }
        Ok(())
    }

    /// An instance with no scheduler around it, for the raw-call benchmark. Its host
    /// functions must not be called (there is no delivery context).
    pub(crate) fn bare_instance(
        &mut self,
        bytes: &[u8],
        limits: &Limits,
    ) -> Result<(Store<HostState>, ActorBindings), RuntimeError> {
        let component =
            Component::new(&self.engine, bytes).map_err(|e| component_error("bench", e))?;
        let linker = linker(&self.engine)?;
        let mut store = new_store(&self.engine, limits);
        let bindings = ActorBindings::instantiate(&mut store, &component, &linker)
            .map_err(|e| component_error("bench", e))?;
        Ok((store, bindings))
    }
}

pub(crate) fn linker(engine: &wasmtime::Engine) -> Result<Linker<HostState>, RuntimeError> {
    let mut linker = Linker::new(engine);
    ActorBindings::add_to_linker::<HostState, wasmtime::component::HasSelf<HostState>>(
        &mut linker,
        |s| s,
    )
    .map_err(|e| component_error("(linker)", e))?;
    Ok(linker)
}

/// A store with the memory limiter installed and a full fuel budget.
fn new_store(engine: &wasmtime::Engine, limits: &Limits) -> Store<HostState> {
    let mut store = Store::new(
        engine,
        HostState {
            limiter: MemoryLimiter {
                memory_bytes_max: limits.memory_per_actor_bytes as usize,
                refused: false,
            },
            call: None,
        },
    );
    store.limiter(|s| &mut s.limiter);
    // Setting fuel on a store with fuel metering enabled cannot fail.
    let _ = store.set_fuel(limits.fuel_per_delivery);
    store
}

/// A system's components, linked and ready to instantiate, by name.
pub(crate) struct Components {
    engine: wasmtime::Engine,
    linker: Linker<HostState>,
    by_name: BTreeMap<String, (Digest, ActorPre<HostState>)>,
}

impl Components {
    pub(crate) fn new(cache: &ComponentCache) -> Result<Components, RuntimeError> {
        Ok(Components {
            engine: cache.engine.clone(),
            linker: linker(&cache.engine)?,
            by_name: BTreeMap::new(),
        })
    }

    /// The digest of the component registered as `name`, if one is.
    pub(crate) fn find(&self, name: &str) -> Option<Digest> {
        self.by_name.get(name).map(|(d, _)| *d)
    }

    /// Compiles (or takes from `cache`) and links a component; returns the host
    /// interfaces it imports (short names, see `spec::INTERFACES`).
    pub(crate) fn add(
        &mut self,
        name: &str,
        bytes: &[u8],
        cache: &mut ComponentCache,
    ) -> Result<BTreeSet<&'static str>, RuntimeError> {
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
        self.by_name.insert(name.into(), (digest, pre));
        Ok(imports)
    }

    /// The digest of the component named `name` (which was added).
    pub(crate) fn digest(&self, name: &str) -> Digest {
        self.by_name[name].0
    }

    /// A fresh instance of `component` for `actor`.
    pub(crate) fn instantiate(
        &self,
        actor: ActorId,
        component: &str,
        limits: &Limits,
    ) -> Result<Instance, RuntimeError> {
        let (_, pre) = self
            .by_name
            .get(component)
            .ok_or_else(|| RuntimeError::Spec(format!("unknown component {component:?}")))?;
        // Instantiation runs no guest code that could fail here except start functions;
        // a component that cannot instantiate is a load error, not an actor failure.
        let mut store = new_store(&self.engine, limits);
        let bindings = pre
            .instantiate(&mut store)
            .map_err(|e| component_error(component, format!("actor {actor}: {e:#}")))?;
        Ok(Instance {
            store,
            bindings,
            used: false,
        })
    }
}

/// A live instance.
pub(crate) struct Instance {
    pub(crate) store: Store<HostState>,
    bindings: ActorBindings,
    /// Whether the instance this one stands for has run a handler (its linear memory
    /// has a history): set when a handler runs, and kept across a checkpoint restore,
    /// whose fresh instance stands for the recorded one.
    pub(crate) used: bool,
}

/// A handler's result: the new state and, for requests, the reply; or its error.
pub(crate) type HandlerResult = Result<(Vec<u8>, Option<Vec<u8>>), String>;

impl Instance {
    /// Calls the export that handles `p`; returns the new state and, for requests, the
    /// reply.
    pub(crate) fn call(&mut self, state: &[u8], p: &Pending) -> wasmtime::Result<HandlerResult> {
        let b = &self.bindings;
        let store = &mut self.store;
        let sender = wit_map::sender(p.from);
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
                    Err(wit_map::request_error(&p.payload))
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
                let reason = wit_map::exit_reason(
                    p.exit.clone().unwrap_or(theater_trace::ExitReason::Killed),
                );
                b.call_handle_child_exit(store, state, *child, &reason)?
                    .map(|s| (s, None))
            }
        })
    }
}
