//! The scheduler's side of the ingress: offers each request to the system as an
//! external request, in arrival order (the trace's input order), sends each reply back
//! on its request's channel, and records what was dropped and whose client left.
//!
//! With durable replies (`theater run --record … --fsync`), a reply is held until the
//! recording has synced the events that produced it (see `theater_runtime::durable`):
//! every reply taken in one pass waits for one sync, and the scheduler goes on with
//! other requests meanwhile. So every reply a client received survives a crash.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use theater_runtime::{ExternalReply, RuntimeError, System};
use theater_trace::{DropReason, RefusalReason};

use super::{Answer, Incoming, IngressLimits};

/// A request accepted into the system and waiting for its reply.
#[derive(Debug)]
struct Waiting {
    answer: tokio::sync::oneshot::Sender<Answer>,
    summary: String,
    since: Instant,
}

/// A reply held until the events up to `needed` are synced.
#[derive(Debug)]
struct Held {
    needed: u64,
    reply: ExternalReply,
    waiting: Waiting,
}

/// The scheduler's side of the ingress: offers requests to the system, sends replies
/// back, and records what was dropped.
#[derive(Debug)]
pub struct Exchange {
    waiting: BTreeMap<u64, Waiting>,
    /// Durable replies: held in the order they were taken (so in event order).
    durable: bool,
    held: VecDeque<Held>,
    /// The events the sync in flight covers (group commit: one at a time; replies
    /// taken meanwhile wait for the next, which covers them all).
    sync_target: u64,
    /// Syncs asked for.
    pub syncs: u64,
    limits: IngressLimits,
    message_bytes: u64,
    /// Requests offered so far.
    pub requests: u64,
    /// Requests the system refused.
    pub refused: u64,
    /// Events recorded for dropped traffic.
    pub dropped: u64,
    /// Raised while the recording is behind: requests are refused.
    backlog: Option<Arc<AtomicBool>>,
}

impl Exchange {
    pub fn new(limits: IngressLimits, message_bytes: u64) -> Exchange {
        Exchange {
            waiting: BTreeMap::new(),
            durable: false,
            held: VecDeque::new(),
            sync_target: 0,
            syncs: 0,
            limits,
            message_bytes,
            requests: 0,
            refused: 0,
            dropped: 0,
            backlog: None,
        }
    }

    /// Holds every reply until the events that produced it are synced (durable
    /// replies); the system must be recorded with `fsync` for that to mean the disk.
    pub fn durable(mut self, on: bool) -> Exchange {
        self.durable = on;
        self
    }

    /// Refuses every request while `flag` is raised (a recording's spool over its
    /// bound): 503, recorded as refused (`backlog`).
    pub fn refuse_while(mut self, flag: Option<Arc<AtomicBool>>) -> Exchange {
        self.backlog = flag;
        self
    }

    /// Offers a request to its actor (recorded as an input, or as refused).
    pub fn offer(&mut self, system: &mut System, req: Incoming) -> Result<(), RuntimeError> {
        self.requests += 1;
        let len = req.payload.len() as u64;
        let offered = if self
            .backlog
            .as_ref()
            .is_some_and(|b| b.load(Ordering::SeqCst))
        {
            system.refuse(req.actor, &req.payload, RefusalReason::Backlog)?;
            Err(RefusalReason::Backlog)
        } else {
            system.inject_request(req.actor, req.payload)?
        };
        match offered {
            Ok(correlation) => {
                self.waiting.insert(
                    correlation,
                    Waiting {
                        answer: req.answer,
                        summary: req.summary,
                        since: Instant::now(),
                    },
                );
            }
            Err(reason) => {
                self.refused += 1;
                let (status, why) = match reason {
                    RefusalReason::NoSuchActor => (503, "the actor has exited".to_string()),
                    RefusalReason::TooLarge => (
                        413,
                        format!(
                            "the request is {len} bytes as a message; the limit is {}",
                            self.message_bytes
                        ),
                    ),
                    RefusalReason::MailboxFull => (503, "the actor's mailbox is full".to_string()),
                    RefusalReason::Backlog => (
                        503,
                        "the recording is behind (its uploads to the store); try again shortly"
                            .to_string(),
                    ),
                };
                let _ = req.answer.send(Answer::Refused { status, why });
            }
        }
        Ok(())
    }

    /// Records traffic the server dropped.
    pub fn dropped(
        &mut self,
        system: &mut System,
        request: String,
        reason: DropReason,
    ) -> Result<(), RuntimeError> {
        self.dropped += 1;
        system.record_dropped(request, reason)
    }

    /// Sends the replies the system produced (durable ones once their events are
    /// synced); a client that left is recorded.
    pub fn deliver(&mut self, system: &mut System) -> Result<(), RuntimeError> {
        let replies = system.take_replies();
        let needed = system.recorded_events();
        for reply in replies {
            let Some(waiting) = self.waiting.remove(&reply.correlation) else {
                continue;
            };
            if self.durable {
                self.held.push_back(Held {
                    needed,
                    reply,
                    waiting,
                });
            } else {
                self.send(system, reply, waiting)?;
            }
        }
        self.release(system)
    }

    /// Sends the held replies whose events are synced; asks for the next sync when
    /// replies wait and none is in flight.
    pub fn release(&mut self, system: &mut System) -> Result<(), RuntimeError> {
        let synced = system.synced_events().unwrap_or(u64::MAX);
        while self.held.front().is_some_and(|h| h.needed <= synced) {
            if let Some(h) = self.held.pop_front() {
                self.send(system, h.reply, h.waiting)?;
            }
        }
        let in_flight = self.sync_target > synced;
        if let Some(last) = self.held.back().filter(|_| !in_flight) {
            self.sync_target = last.needed;
            system.request_sync()?;
            self.syncs += 1;
        }
        Ok(())
    }

    /// Replies held for a sync.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    fn send(
        &mut self,
        system: &mut System,
        reply: ExternalReply,
        waiting: Waiting,
    ) -> Result<(), RuntimeError> {
        let correlation = reply.correlation;
        let Waiting {
            answer,
            summary,
            since,
        } = waiting;
        let sent = answer.send(Answer::Reply {
            correlation,
            answer: reply.answer,
        });
        if sent.is_err() {
            self.lost(system, correlation, summary, since)?;
        }
        Ok(())
    }

    /// Records requests whose client stopped waiting (it left, or the reply timeout
    /// passed) while their actor has not replied.
    pub fn sweep(&mut self, system: &mut System) -> Result<(), RuntimeError> {
        let gone: Vec<u64> = self
            .waiting
            .iter()
            .filter(|(_, w)| w.answer.is_closed())
            .map(|(c, _)| *c)
            .collect();
        for c in gone {
            if let Some(w) = self.waiting.remove(&c) {
                self.lost(system, c, w.summary, w.since)?;
            }
        }
        Ok(())
    }

    fn lost(
        &mut self,
        system: &mut System,
        correlation: u64,
        summary: String,
        since: Instant,
    ) -> Result<(), RuntimeError> {
        let limit_ms = self.limits.reply_timeout_ms;
        let reason = if since.elapsed() >= Duration::from_millis(limit_ms) {
            DropReason::ReplyTimedOut {
                correlation,
                limit_ms,
            }
        } else {
            DropReason::ClientGoneBeforeReply { correlation }
        };
        self.dropped(system, summary, reason)
    }

    /// Requests still waiting for a reply.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }
}
