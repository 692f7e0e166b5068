//! Effects: what a successful delivery changes. A handler's sends, requests, replies,
//! timers, spawns, stops, restarts and supervisor settings are buffered while it runs
//! (`host::Effect`) and applied here, in order, only when it succeeded. Replies and
//! failed requests are routed here too: to the requester's queue, or out of the system
//! for an external request.

use theater_trace::{ActorId, ExitReason, MessageKind, Sender, EXTERNAL};

use crate::error::RuntimeError;
use crate::host::Effect;
use crate::request::{ExternalReply, RequestFailure};
use crate::scheduler::System;
use crate::wit_map;
use crate::world::{Pending, RequestInfo, SupervisorSettings, TimerInfo};

impl System {
    /// Queues a delivery with no delay.
    pub(crate) fn enqueue_now(
        &mut self,
        from: Sender,
        to: ActorId,
        kind: MessageKind,
        payload: Vec<u8>,
    ) {
        self.world.enqueue(
            0,
            Pending {
                from,
                to,
                kind,
                payload,
                exit: None,
            },
        );
    }

    pub(crate) fn apply(
        &mut self,
        actor: ActorId,
        p: &Pending,
        effects: Vec<Effect>,
        reply: Option<Vec<u8>>,
    ) -> Result<(), RuntimeError> {
        // A request answered from the handler gets its reply now; one answered later
        // (`messaging.reply`) stays open until then, or fails if the actor exits first.
        if let (MessageKind::Request { correlation }, Some(bytes)) = (&p.kind, reply) {
            self.answer(*correlation, Ok(bytes));
        }
        if let MessageKind::Reply { correlation, .. } = p.kind {
            self.world.requests.remove(&correlation);
        }
        for e in effects {
            self.apply_one(actor, e)?;
        }
        Ok(())
    }

    fn apply_one(&mut self, actor: ActorId, e: Effect) -> Result<(), RuntimeError> {
        let me = Sender::Actor(actor);
        match e {
            Effect::Send { to, payload } => {
                self.enqueue_now(me, to, MessageKind::OneWay, payload);
            }
            Effect::Request {
                to,
                correlation,
                payload,
            } => {
                let request = RequestInfo {
                    requester: actor,
                    target: to,
                    answered: false,
                };
                self.world.requests.insert(correlation, request);
                self.enqueue_now(me, to, MessageKind::Request { correlation }, payload);
            }
            Effect::Reply {
                correlation,
                payload,
            } => self.answer(correlation, Ok(payload)),
            Effect::SetTimer {
                id,
                delay_ns,
                payload,
            } => {
                let pending = Pending {
                    from: Sender::Timer(id),
                    to: actor,
                    kind: MessageKind::OneWay,
                    payload,
                    exit: None,
                };
                let key = self.world.enqueue(delay_ns, pending);
                self.world
                    .timers
                    .insert(id, TimerInfo { owner: actor, key });
            }
            Effect::CancelTimer { id } => {
                if let Some(t) = self.world.timers.remove(&id) {
                    self.world.unqueue(t.key);
                }
            }
            Effect::Spawn { id, spec } => {
                // A child holds its parent's grants, never more (the host checked the
                // child's imports against them when it asked to spawn).
                let grants = self.world.actors[&actor].grants.clone();
                self.spawn(
                    id,
                    Some(actor),
                    &spec.name,
                    &spec.component,
                    spec.init_args,
                    wit_map::restart_policy(spec.restart),
                    None,
                    grants,
                )?;
            }
            Effect::Stop { child } => self.exit(child, ExitReason::Normal)?,
            Effect::Restart { child } => {
                if self.world.is_alive(child) {
                    self.kill_quietly_with(child, ExitReason::Killed)?;
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
        Ok(())
    }

    /// Queues the reply to a request for its requester (or hands it out, for an
    /// external request). A request is answered once; later answers are ignored.
    pub(crate) fn answer(&mut self, correlation: u64, answer: Result<Vec<u8>, RequestFailure>) {
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
                answer,
            });
            return;
        }
        let (ok, payload) = match answer {
            Ok(payload) => (true, payload),
            Err(failure) => (false, failure.encode()),
        };
        self.enqueue_now(
            Sender::Actor(target),
            requester,
            MessageKind::Reply { correlation, ok },
            payload,
        );
    }

    pub(crate) fn fail_request(&mut self, correlation: u64, failure: RequestFailure) {
        self.answer(correlation, Err(failure));
    }
}
