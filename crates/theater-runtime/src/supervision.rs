//! Supervision: spawning, exits and restarts.
//!
//! When an actor exits, its subtree is stopped, its open requests fail and its parent
//! is told; then [`plan_exit`] — a pure function of the world and the exit, testable
//! without wasm — decides what its supervisor does: leave it exited, restart it (and
//! which siblings with it, by the strategy), or escalate because the restart intensity
//! is spent. [`System::exit`] carries the plan out.

use std::collections::{BTreeSet, VecDeque};

use theater_trace::{ActorId, EventBody, ExitReason, MessageKind, RestartPolicy, Sender};

use crate::bindings::theater::actor::supervision;
use crate::error::RuntimeError;
use crate::request::RequestFailure;
use crate::scheduler::System;
use crate::world::{ActorMeta, ActorStatus, Pending, SupervisorSettings, World};

/// What a supervisor does about an exited actor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ExitPlan {
    /// Leave it exited: a normal exit, a temporary actor, or a parent that is gone.
    Stay,
    /// The restart intensity is spent: the supervisor `Some(p)` exits, escalating; the
    /// root (`None`) leaves the actor exited.
    Escalate(Option<ActorId>),
    /// Restart it; first stop the live siblings in `also` (the strategy's), and restart
    /// those of them that are not temporary after it.
    Restart { also: Vec<ActorId> },
}

/// Decides what happens after `actor` exited with `reason` (the actor is already marked
/// exited in `world`). Restart intensity: at most `max_restarts` restarts within the
/// supervisor's window; the root supervises top-level actors with the default
/// settings.
pub(crate) fn plan_exit(world: &World, actor: ActorId, reason: &ExitReason) -> ExitPlan {
    let meta = &world.actors[&actor];
    if meta.parent.is_some_and(|p| !world.is_alive(p)) {
        return ExitPlan::Stay;
    }
    // A normal exit is a deliberate stop: never restarted. Otherwise the policy says.
    if *reason == ExitReason::Normal || meta.restart == RestartPolicy::Temporary {
        return ExitPlan::Stay;
    }
    let (settings, times, siblings) = supervisor_of(world, meta.parent);
    let now = world.time_ns;
    let recent = times
        .iter()
        .filter(|&&t| now.saturating_sub(t) <= settings.window_ns)
        .count();
    if recent as u32 >= settings.max_restarts {
        return ExitPlan::Escalate(meta.parent);
    }
    let position = siblings.iter().position(|&c| c == actor).unwrap_or(0);
    let also: Vec<ActorId> = match settings.strategy {
        supervision::Strategy::OneForOne => Vec::new(),
        supervision::Strategy::OneForAll => {
            siblings.iter().copied().filter(|&c| c != actor).collect()
        }
        supervision::Strategy::RestForOne => siblings[position + 1..].to_vec(),
    };
    // Live siblings are stopped and restarted with it (temporary ones only stopped).
    let also = also.into_iter().filter(|c| world.is_alive(*c)).collect();
    ExitPlan::Restart { also }
}

/// The settings, restart times and children of `parent` as a supervisor (`None`: the
/// root, whose children are the top-level actors).
fn supervisor_of(
    world: &World,
    parent: Option<ActorId>,
) -> (SupervisorSettings, &VecDeque<u64>, Vec<ActorId>) {
    match parent {
        Some(p) => {
            let m = &world.actors[&p];
            (m.supervisor, &m.restart_times, m.children.clone())
        }
        None => {
            let top = world
                .actors
                .iter()
                .filter(|(_, m)| m.parent.is_none())
                .map(|(id, _)| *id)
                .collect();
            (
                SupervisorSettings::default(),
                &world.root_restart_times,
                top,
            )
        }
    }
}

/// Counts a restart against `parent`'s intensity at `now` (times outside the window are
/// forgotten first).
fn note_restart(world: &mut World, parent: Option<ActorId>, restarted: bool) {
    let now = world.time_ns;
    let (window_ns, times) = match parent {
        Some(p) => {
            let m = world.actors.get_mut(&p).expect("a live parent");
            (m.supervisor.window_ns, &mut m.restart_times)
        }
        None => (
            SupervisorSettings::default().window_ns,
            &mut world.root_restart_times,
        ),
    };
    while times
        .front()
        .is_some_and(|&t| now.saturating_sub(t) > window_ns)
    {
        times.pop_front();
    }
    if restarted {
        times.push_back(now);
    }
}

impl System {
    /// Adds an actor and queues its `init`. A top-level actor that cannot be
    /// instantiated is a load error; a spawned one exits with an error like any
    /// failing child.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn spawn(
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
        let (instance, failure) = match self.instantiate(id, component) {
            Ok(i) => (Some(i), None),
            Err(e) if parent.is_none() => return Err(e),
            Err(e) => (None, Some(e.to_string())),
        };
        self.sink.append(EventBody::ActorSpawned {
            actor: id,
            parent,
            name: name.into(),
            component: self.components.digest(component),
            restart,
        })?;
        if let Some(instance) = instance {
            self.instances.insert(id, instance);
        }
        let meta = ActorMeta {
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
            exited_seq: 0,
        };
        let earlier = self.world.actors.insert(id, meta);
        assert!(earlier.is_none(), "actor id {id} used twice");
        if let Some(p) = parent.and_then(|p| self.world.actors.get_mut(&p)) {
            p.children.push(id);
        }
        self.world.live += 1;
        self.summary.actors_spawned += 1;
        if let Some(why) = failure {
            return self.exit(id, ExitReason::Error(format!("cannot instantiate: {why}")));
        }
        self.enqueue_now(Sender::Runtime, id, MessageKind::Init, init_args);
        Ok(())
    }

    /// An actor stops: its children are stopped, its open requests fail, its parent is
    /// notified, and its supervisor's plan is carried out.
    pub(crate) fn exit(&mut self, actor: ActorId, reason: ExitReason) -> Result<(), RuntimeError> {
        if !self.world.is_alive(actor) {
            return Ok(());
        }
        self.kill_quietly_with(actor, reason.clone())?;
        let parent = self.world.actors[&actor].parent;
        if let Some(p) = parent.filter(|p| self.world.is_alive(*p)) {
            self.notify_parent(p, actor, &reason);
        }
        match plan_exit(&self.world, actor, &reason) {
            ExitPlan::Stay => Ok(()),
            ExitPlan::Escalate(supervisor) => {
                note_restart(&mut self.world, parent, false);
                match supervisor {
                    Some(p) => self.exit(p, ExitReason::Escalated),
                    None => Ok(()),
                }
            }
            ExitPlan::Restart { also } => {
                note_restart(&mut self.world, parent, true);
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
        }
    }

    /// Queues the child-exit delivery that tells `parent` why `child` exited (the reason
    /// is also the delivery's recorded payload, as JSON).
    fn notify_parent(&mut self, parent: ActorId, child: ActorId, reason: &ExitReason) {
        let payload = serde_json::to_vec(reason).unwrap_or_default();
        self.world.enqueue(
            0,
            Pending {
                from: Sender::Runtime,
                to: parent,
                kind: MessageKind::ChildExit { child },
                payload,
                exit: Some(reason.clone()),
            },
        );
    }

    /// Marks an actor (and its descendants) exited, records it, fails its open requests
    /// and drops its queued deliveries. Does not notify the parent.
    pub(crate) fn kill_quietly_with(
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
            meta.exited_seq = self.world.next_seq;
            let children = meta.children.clone();
            assert!(self.world.live > 0, "more actors exited than were alive");
            self.world.live -= 1;
            self.instances.remove(&actor);
            self.sink.append(EventBody::ActorExited { actor, reason })?;
            pending.extend(children.into_iter().rev().map(|c| (c, ExitReason::Killed)));
            self.drop_pending(actor);
            self.world.picker.forget_actor(actor);
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
                    self.fail_request(correlation, RequestFailure::TargetExited);
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
            self.fail_request(c, RequestFailure::TargetExited);
        }
        self.world.timers.retain(|_, t| t.owner != actor);
    }

    /// Restarts an exited actor from its init state, with the same id.
    pub(crate) fn restart(&mut self, actor: ActorId) -> Result<(), RuntimeError> {
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
        self.enqueue_now(Sender::Runtime, actor, MessageKind::Init, init_args);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A world of top-level actors and one supervisor with `children`, all alive.
    fn world(strategy: supervision::Strategy, children: &[(ActorId, RestartPolicy)]) -> World {
        let mut w = World::default();
        let meta = |parent, restart| ActorMeta {
            name: String::new(),
            component: String::new(),
            parent,
            children: Vec::new(),
            restart,
            init_args: Vec::new(),
            state: Vec::new(),
            status: ActorStatus::Running,
            mailbox: 0,
            restarts: 0,
            restart_times: VecDeque::new(),
            supervisor: SupervisorSettings::default(),
            fuel: 0,
            grants: BTreeSet::new(),
            exited_seq: 0,
        };
        let mut sup = meta(None, RestartPolicy::Permanent);
        sup.supervisor.strategy = strategy;
        sup.children = children.iter().map(|(id, _)| *id).collect();
        w.actors.insert(0, sup);
        for &(id, restart) in children {
            w.actors.insert(id, meta(Some(0), restart));
        }
        w
    }

    fn exited(mut w: World, id: ActorId) -> World {
        w.actors.get_mut(&id).unwrap().status = ActorStatus::Exited;
        w
    }

    fn check(w: &World, actor: ActorId, reason: ExitReason, expect: ExitPlan) {
        assert_eq!(plan_exit(w, actor, &reason), expect);
    }

    const P: RestartPolicy = RestartPolicy::Permanent;
    const T: RestartPolicy = RestartPolicy::Temporary;
    fn crash() -> ExitReason {
        ExitReason::Error("boom".into())
    }

    #[test]
    fn strategies_choose_the_siblings() {
        use supervision::Strategy::*;
        let kids = [(1, P), (2, P), (3, P)];
        let restart = |also: Vec<ActorId>| ExitPlan::Restart { also };
        check(
            &exited(world(OneForOne, &kids), 2),
            2,
            crash(),
            restart(vec![]),
        );
        check(
            &exited(world(OneForAll, &kids), 2),
            2,
            crash(),
            restart(vec![1, 3]),
        );
        check(
            &exited(world(RestForOne, &kids), 2),
            2,
            crash(),
            restart(vec![3]),
        );
        // Exited siblings are not stopped again.
        let w = exited(exited(world(OneForAll, &kids), 2), 3);
        check(&w, 2, crash(), restart(vec![1]));
    }

    #[test]
    fn normal_exits_temporary_actors_and_orphans_stay_exited() {
        use supervision::Strategy::*;
        let w = exited(world(OneForOne, &[(1, P), (2, T)]), 1);
        check(&w, 1, ExitReason::Normal, ExitPlan::Stay);
        let w = exited(w, 2);
        check(&w, 2, crash(), ExitPlan::Stay);
        let w = exited(exited(world(OneForOne, &[(1, P)]), 1), 0);
        check(&w, 1, crash(), ExitPlan::Stay);
    }

    #[test]
    fn intensity_counts_restarts_within_the_window_only() {
        let mut w = exited(world(supervision::Strategy::OneForOne, &[(1, P)]), 1);
        w.time_ns = 10_000_000_000;
        let window = SupervisorSettings::default().window_ns;
        // Three restarts (the default maximum) inside the window: escalate.
        let sup = w.actors.get_mut(&0).unwrap();
        sup.restart_times = [w.time_ns - window, w.time_ns - 1, w.time_ns].into();
        check(&w, 1, crash(), ExitPlan::Escalate(Some(0)));
        // One of them just outside: restart.
        let sup = w.actors.get_mut(&0).unwrap();
        sup.restart_times = [w.time_ns - window - 1, w.time_ns - 1, w.time_ns].into();
        check(&w, 1, crash(), ExitPlan::Restart { also: vec![] });
        // The root escalates to nobody.
        let mut w = exited(w, 0);
        w.root_restart_times = [w.time_ns; 3].into();
        check(&w, 0, crash(), ExitPlan::Escalate(None));
    }
}
