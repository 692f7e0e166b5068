//! External inputs: messages and requests offered from outside the system (inputs
//! files, HTTP), what is refused and why, and taking the answers to external requests.

use theater_trace::EXTERNAL;
use theater_trace::{ActorId, Delivery, DropReason, EventBody, MessageKind, RefusalReason, Sender};

use crate::error::RuntimeError;
use crate::request::ExternalReply;
use crate::scheduler::System;
use crate::world::{ActorStatus, Pending, RequestInfo};

impl System {
    /// Offers an external one-way message. Accepted messages are recorded as inputs and
    /// queued; refused ones (no such actor, mailbox full, too large) are recorded as
    /// refused. Returns whether it was accepted.
    pub fn inject(&mut self, to: ActorId, payload: Vec<u8>) -> Result<bool, RuntimeError> {
        let offered = self.offer(to, payload, false)?;
        self.sink.step_done()?;
        Ok(offered.is_ok())
    }

    /// Offers an external request (an HTTP request, say) to `to`'s `handle-request`.
    /// Returns its correlation id if it was accepted (recorded as an input of kind
    /// request), or why it was refused (recorded as refused, no id used). The reply, or
    /// the failure, comes out of [`System::take_replies`] once the actor answers.
    pub fn inject_request(
        &mut self,
        to: ActorId,
        payload: Vec<u8>,
    ) -> Result<Result<u64, RefusalReason>, RuntimeError> {
        let offered = self.offer(to, payload, true)?;
        self.sink.step_done()?;
        Ok(offered)
    }

    /// Refuses an external input for a reason decided outside the system (the
    /// recording's backlog, [`RefusalReason::Backlog`]): recorded as refused, nothing
    /// else changes. A replay re-records it from the trace.
    pub fn refuse(
        &mut self,
        to: ActorId,
        payload: &[u8],
        reason: RefusalReason,
    ) -> Result<(), RuntimeError> {
        if self.sink.is_on() {
            let payload = self.sink.payload(payload)?;
            self.sink.append(EventBody::Refused {
                to,
                payload,
                reason,
            })?;
        }
        self.sink.step_done()
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
        reason: DropReason,
    ) -> Result<(), RuntimeError> {
        self.sink
            .append(EventBody::IngressDropped { request, reason })?;
        self.sink.step_done()
    }

    /// Why `to` would refuse a message of `len` bytes from outside now, if it would.
    fn refusal(&self, to: ActorId, len: usize) -> Option<RefusalReason> {
        let limits = &self.world.limits;
        match self.world.actors.get(&to) {
            Some(m) if m.status != ActorStatus::Exited => {
                if len as u64 > limits.message_bytes {
                    Some(RefusalReason::TooLarge)
                } else if m.mailbox >= limits.mailbox_len {
                    Some(RefusalReason::MailboxFull)
                } else {
                    None
                }
            }
            _ => Some(RefusalReason::NoSuchActor),
        }
    }

    fn offer(
        &mut self,
        to: ActorId,
        payload: Vec<u8>,
        request: bool,
    ) -> Result<Result<u64, RefusalReason>, RuntimeError> {
        if let Some(reason) = self.refusal(to, payload.len()) {
            if self.sink.is_on() {
                let payload = self.sink.payload(&payload)?;
                self.sink.append(EventBody::Refused {
                    to,
                    payload,
                    reason: reason.clone(),
                })?;
            }
            return Ok(Err(reason));
        }
        let recorded = if self.sink.is_on() {
            Some(self.sink.payload(&payload)?)
        } else {
            None
        };
        let (kind, correlation) = if request {
            let correlation = self.world.take_correlation();
            let info = RequestInfo {
                requester: EXTERNAL,
                target: to,
                answered: false,
            };
            self.world.requests.insert(correlation, info);
            (MessageKind::Request { correlation }, correlation)
        } else {
            (MessageKind::OneWay, 0)
        };
        let pending = Pending {
            from: Sender::External,
            to,
            kind: kind.clone(),
            payload,
            exit: None,
        };
        let (time_ns, seq) = self.world.enqueue(0, pending);
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
        Ok(Ok(correlation))
    }
}
