//! The host side of the WIT imports: what an actor's calls do while its handler runs.
//!
//! During a handler call the store's [`HostState`] holds a [`CallCtx`]: the whole
//! [`World`] (moved in for the call, moved back after), plus the call's buffered
//! effects. Effects — sends, requests, replies, timers, spawns, stops — are applied only
//! if the handler succeeds, so a failed delivery changes nothing but the failure.
//! Recorded host functions (`now`, `random-bytes`, `store.*`) either compute their result
//! and log it (recording) or serve the recorded result (replay), checking that the actor
//! asked for the same function with the same arguments. The key-value store's calls
//! and their byte layouts are in `store`.

use std::collections::{BTreeMap, VecDeque};

use theater_trace::{ActorId, HostFunction, LogLine, MessageKind, RunMode};

use crate::bindings::theater::actor::{
    http_client, messaging, runtime, supervision, timers, types,
};
use crate::delivery::HostCallRecord;
use crate::http::{Body, OutboundError as HttpError, OutboundRequest};
use crate::wit_map;
use crate::world::{ActorStatus, RequestInfo, World};

mod store;

/// Per-store host data.
pub(crate) struct HostState {
    pub(crate) limiter: MemoryLimiter,
    pub(crate) call: Option<Box<CallCtx>>,
}

/// Caps linear memory and remembers whether a growth was refused during the call.
pub(crate) struct MemoryLimiter {
    pub(crate) memory_bytes_max: usize,
    pub(crate) refused: bool,
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let ok = desired <= self.memory_bytes_max;
        self.refused |= !ok;
        Ok(ok)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// A side effect requested by a handler, applied when it returns successfully.
#[derive(Debug)]
pub(crate) enum Effect {
    Send {
        to: ActorId,
        payload: Vec<u8>,
    },
    Request {
        to: ActorId,
        correlation: u64,
        payload: Vec<u8>,
    },
    Reply {
        correlation: u64,
        payload: Vec<u8>,
    },
    SetTimer {
        id: u64,
        delay_ns: u64,
        payload: Vec<u8>,
    },
    CancelTimer {
        id: u64,
    },
    Spawn {
        id: ActorId,
        spec: supervision::ChildSpec,
    },
    Stop {
        child: ActorId,
    },
    Restart {
        child: ActorId,
    },
    Configure(supervision::SupervisorConfig),
}

/// Everything a handler call can see and change.
pub(crate) struct CallCtx {
    pub(crate) actor: ActorId,
    pub(crate) world: World,
    pub(crate) effects: Vec<Effect>,
    pub(crate) logs: Vec<LogLine>,
    pub(crate) logs_dropped: u32,
    /// Recorded host calls made by this call, in order.
    pub(crate) host_calls: Vec<HostCallRecord>,
    /// In replay: the recorded calls still to be served.
    pub(crate) replay_calls: Option<VecDeque<HostCallRecord>>,
    /// In replay: the first call that did not match the recording.
    pub(crate) replay_mismatch: Option<String>,
    /// `replay_calls` come from a [`crate::oracle::HostCallOracle`]: a regression run,
    /// whose store calls run live too.
    pub(crate) oracle: bool,
}

impl HostState {
    /// The current call's context. `None` only when guest code runs outside a delivery —
    /// a start function during instantiation — where every import answers a fixed,
    /// neutral value (so instantiation stays deterministic without being recorded).
    fn ctx(&mut self) -> Option<&mut CallCtx> {
        self.call.as_deref_mut()
    }
}

impl CallCtx {
    /// A recorded host call: computes the result with `live` when recording, serves it
    /// from the trace when replaying.
    fn recorded(
        &mut self,
        function: HostFunction,
        request: Vec<u8>,
        live: impl FnOnce(&mut World) -> Vec<u8>,
    ) -> Vec<u8> {
        let Some(queue) = &mut self.replay_calls else {
            let response = live(&mut self.world);
            self.host_calls.push((function, request, response.clone()));
            return response;
        };
        let recorded = match queue.pop_front() {
            Some((f, req, resp)) if f == function && req == request => Some(resp),
            other => {
                // From the first call that differs on, nothing recorded lines up.
                queue.clear();
                self.replay_mismatch.get_or_insert(match other {
                    Some((f, req, _)) => format!(
                        "host call {function}({}) where the recording has {f}({})",
                        theater_trace::hex(&request),
                        theater_trace::hex(&req)
                    ),
                    None => format!("host call {function} that the recording does not have"),
                });
                None
            }
        };
        let outside = crate::oracle::served_from_recording(&function);
        let response = match (recorded, self.oracle) {
            // A replay serves what came from outside as recorded. Simulated random bytes
            // come from the world's generator: it is advanced as in the recording, so
            // the replayed world (and its snapshots) stays the recorded one.
            (Some(r), false) if outside => {
                if function == HostFunction::RandomBytes && self.world.mode == RunMode::Simulated {
                    let _ = live(&mut self.world);
                }
                r
            }
            // The store is the system's own state: a replay keeps it too (so its
            // snapshots hold the store, and a resumed run goes on with it), and checks
            // each answer against the recorded one.
            (Some(r), false) => {
                let computed = live(&mut self.world);
                if !store::same_response(&function, &computed, &r) {
                    self.replay_mismatch.get_or_insert(format!(
                        "host call {function}({}) answered {} where the recording has {}",
                        theater_trace::hex(&request),
                        theater_trace::hex(&computed),
                        theater_trace::hex(&r)
                    ));
                }
                r
            }
            // A regression run keeps its own store: only outside results are served.
            (Some(r), true) if outside => {
                let _ = live(&mut self.world);
                r
            }
            _ => live(&mut self.world),
        };
        self.host_calls.push((function, request, response.clone()));
        response
    }

    fn queued_to(&self, to: ActorId) -> u32 {
        self.effects
            .iter()
            .filter(|e| matches!(e, Effect::Send { to: t, .. } | Effect::Request { to: t, .. } if *t == to))
            .count() as u32
    }

    fn check_send(&self, to: ActorId, len: usize) -> Result<(), messaging::SendError> {
        if len as u64 > self.world.limits.message_bytes {
            return Err(messaging::SendError::TooLarge);
        }
        let Some(meta) = self
            .world
            .actors
            .get(&to)
            .filter(|m| m.status != ActorStatus::Exited)
        else {
            return Err(messaging::SendError::NoSuchActor);
        };
        if meta.mailbox + self.queued_to(to) >= self.world.limits.mailbox_len {
            return Err(messaging::SendError::MailboxFull);
        }
        Ok(())
    }
}

impl types::Host for HostState {}

impl runtime::Host for HostState {
    fn log(&mut self, level: runtime::Level, message: String) {
        let Some(ctx) = self.ctx() else { return };
        if ctx.logs.len() as u32 >= ctx.world.limits.log_lines_per_delivery {
            ctx.logs_dropped += 1;
            return;
        }
        ctx.logs.push(LogLine {
            level: wit_map::log_level(level),
            message,
        });
    }

    fn self_id(&mut self) -> types::ActorId {
        self.ctx().map_or(0, |c| c.actor)
    }

    fn now(&mut self) -> types::TimeNs {
        let Some(ctx) = self.ctx() else { return 0 };
        let bytes = ctx.recorded(HostFunction::Now, Vec::new(), |w| {
            let t = match w.mode {
                RunMode::Simulated => w.time_ns,
                RunMode::Live => std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as u64),
            };
            t.to_le_bytes().to_vec()
        });
        u64::from_le_bytes(
            bytes
                .get(..8)
                .and_then(|b| b.try_into().ok())
                .unwrap_or_default(),
        )
    }

    fn random_bytes(&mut self, len: u32) -> Vec<u8> {
        let Some(ctx) = self.ctx() else {
            return Vec::new();
        };
        let len = len.min(ctx.world.limits.random_bytes_per_call);
        ctx.recorded(HostFunction::RandomBytes, len.to_le_bytes().to_vec(), |w| {
            let mut out = vec![0u8; len as usize];
            match w.mode {
                RunMode::Simulated => w.rng.fill(&mut out),
                RunMode::Live => crate::rng::os_random(&mut out, &mut w.rng),
            }
            out
        })
    }
}

impl messaging::Host for HostState {
    fn send(&mut self, to: types::ActorId, payload: Vec<u8>) -> Result<(), messaging::SendError> {
        let Some(ctx) = self.ctx() else {
            return Err(messaging::SendError::NoSuchActor);
        };
        ctx.check_send(to, payload.len())?;
        ctx.effects.push(Effect::Send { to, payload });
        Ok(())
    }

    fn request(
        &mut self,
        to: types::ActorId,
        payload: Vec<u8>,
    ) -> Result<u64, messaging::SendError> {
        let Some(ctx) = self.ctx() else {
            return Err(messaging::SendError::NoSuchActor);
        };
        ctx.check_send(to, payload.len())?;
        let correlation = ctx.world.take_correlation();
        ctx.effects.push(Effect::Request {
            to,
            correlation,
            payload,
        });
        Ok(correlation)
    }

    fn reply(&mut self, correlation: u64, payload: Vec<u8>) -> Result<(), messaging::SendError> {
        let Some(ctx) = self.ctx() else {
            return Err(messaging::SendError::NoSuchActor);
        };
        let actor = ctx.actor;
        let open = ctx
            .world
            .requests
            .get(&correlation)
            .is_some_and(|r| r.target == actor && !r.answered);
        let already = ctx
            .effects
            .iter()
            .any(|e| matches!(e, Effect::Reply { correlation: c, .. } if *c == correlation));
        if !open || already {
            return Err(messaging::SendError::NoSuchActor);
        }
        if payload.len() as u64 > ctx.world.limits.message_bytes {
            return Err(messaging::SendError::TooLarge);
        }
        ctx.effects.push(Effect::Reply {
            correlation,
            payload,
        });
        Ok(())
    }
}

impl timers::Host for HostState {
    fn set_timer(&mut self, delay: types::TimeNs, payload: Vec<u8>) -> u64 {
        let Some(ctx) = self.ctx() else {
            return 0;
        };
        let id = ctx.world.take_timer_id();
        ctx.effects.push(Effect::SetTimer {
            id,
            delay_ns: delay,
            payload,
        });
        id
    }

    fn cancel_timer(&mut self, id: u64) -> bool {
        let Some(ctx) = self.ctx() else {
            return false;
        };
        let actor = ctx.actor;
        let pending = ctx.world.timers.get(&id).is_some_and(|t| t.owner == actor)
            || ctx
                .effects
                .iter()
                .any(|e| matches!(e, Effect::SetTimer { id: i, .. } if *i == id));
        if pending {
            ctx.effects.push(Effect::CancelTimer { id });
        }
        pending
    }
}

impl supervision::Host for HostState {
    fn configure(&mut self, config: supervision::SupervisorConfig) {
        if let Some(ctx) = self.ctx() {
            ctx.effects.push(Effect::Configure(config));
        }
    }

    fn spawn(
        &mut self,
        spec: supervision::ChildSpec,
    ) -> Result<types::ActorId, supervision::SupervisionError> {
        let Some(ctx) = self.ctx() else {
            return Err(supervision::SupervisionError::NotAChild);
        };
        let actor = ctx.actor;
        if !ctx.world.components.contains(&spec.component) {
            return Err(supervision::SupervisionError::UnknownComponent);
        }
        // A child gets its parent's grants: a component importing more is refused.
        if let (Some(me), Some(imports)) = (
            ctx.world.actors.get(&actor),
            ctx.world.imports.get(&spec.component),
        ) {
            if let Some(missing) = imports.iter().find(|i| !me.grants.contains(*i)) {
                return Err(supervision::SupervisionError::NotGranted(
                    (*missing).to_string(),
                ));
            }
        }
        let pending_spawns = ctx
            .effects
            .iter()
            .filter(|e| matches!(e, Effect::Spawn { .. }))
            .count() as u32;
        let children = ctx
            .world
            .actors
            .get(&actor)
            .map_or(0, |m| m.live_children(&ctx.world.actors));
        if children + pending_spawns >= ctx.world.limits.children_per_supervisor {
            return Err(supervision::SupervisionError::TooManyChildren);
        }
        if ctx.world.live + pending_spawns >= ctx.world.limits.actors_total {
            return Err(supervision::SupervisionError::TooManyActors);
        }
        let id = ctx.world.take_actor_id();
        ctx.effects.push(Effect::Spawn { id, spec });
        Ok(id)
    }

    fn stop(&mut self, child: types::ActorId) -> Result<(), supervision::SupervisionError> {
        let Some(ctx) = self.ctx() else {
            return Err(supervision::SupervisionError::NotAChild);
        };
        if !ctx.world.is_child(ctx.actor, child) {
            return Err(supervision::SupervisionError::NotAChild);
        }
        ctx.effects.push(Effect::Stop { child });
        Ok(())
    }

    fn restart(&mut self, child: types::ActorId) -> Result<(), supervision::SupervisionError> {
        let Some(ctx) = self.ctx() else {
            return Err(supervision::SupervisionError::NotAChild);
        };
        if !ctx.world.is_child(ctx.actor, child) {
            return Err(supervision::SupervisionError::NotAChild);
        }
        ctx.effects.push(Effect::Restart { child });
        Ok(())
    }

    fn list_children(&mut self) -> Vec<supervision::ChildInfo> {
        let Some(ctx) = self.ctx() else {
            return Vec::new();
        };
        let Some(me) = ctx.world.actors.get(&ctx.actor) else {
            return Vec::new();
        };
        me.children
            .iter()
            .filter_map(|id| ctx.world.actors.get(id).map(|m| (id, m)))
            .map(|(id, m)| supervision::ChildInfo {
                id: *id,
                name: m.name.clone(),
                component: m.component.clone(),
                status: wit_map::child_status(m.status),
                restarts: m.restarts,
            })
            .collect()
    }
}

impl http_client::Host for HostState {
    fn send(
        &mut self,
        request: http_client::Request,
    ) -> Result<http_client::Response, http_client::HttpError> {
        let Some(ctx) = self.ctx() else {
            return Err(http_client::HttpError::Unavailable);
        };
        let limits = ctx.world.limits;
        let request = OutboundRequest {
            method: request.method,
            url: request.url,
            headers: request.headers,
            body: Body(request.body),
        };
        let encoded = serde_json::to_vec(&request).expect("http requests serialize");
        let bytes = ctx.recorded(HostFunction::HttpSend, encoded, |w| {
            let result = crate::http::send(w.http.as_deref(), &request, &limits);
            crate::http::encode_result(&result)
        });
        match crate::http::decode_result(&bytes) {
            Ok(r) => Ok(http_client::Response {
                status: r.status,
                headers: r.headers,
                body: r.body.0,
            }),
            Err(HttpError::InvalidRequest(m)) => Err(http_client::HttpError::InvalidRequest(m)),
            Err(HttpError::TooLarge) => Err(http_client::HttpError::TooLarge),
            Err(HttpError::Timeout) => Err(http_client::HttpError::Timeout),
            Err(HttpError::Connection(m)) => Err(http_client::HttpError::Connection(m)),
            Err(HttpError::Unavailable) => Err(http_client::HttpError::Unavailable),
        }
    }
}

/// The messages a successful delivery sends, in the order the outputs event lists them:
/// its sends, requests and deferred replies as the handler made them, then the reply it
/// returned from `handle-request`. A reply goes to the request's requester.
pub(crate) fn sent_list<'a>(
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
