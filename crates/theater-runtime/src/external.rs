//! External inputs and replies: messages and requests offered from outside the system
//! (inputs files, HTTP), what is refused and why, and the answers to external requests.

use theater_trace::EXTERNAL;
use theater_trace::{ActorId, Delivery, DropReason, EventBody, MessageKind, RefusalReason, Sender};

use crate::error::RuntimeError;
use crate::scheduler::System;
use crate::world::{Pending, RequestInfo};

/// Why a request failed inside the system. It travels as a failed reply's payload
/// (JSON: `"target-exited"` or `{"handler-failed": "…"}`); [`RequestFailure::encode`]
/// and [`RequestFailure::decode`] are the only code that knows that spelling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestFailure {
    /// The actor exited before it answered (or before the request reached it).
    TargetExited,
    /// The handler failed; its error.
    HandlerFailed(String),
}

impl RequestFailure {
    /// The payload of the failed reply.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            RequestFailure::TargetExited => b"\"target-exited\"".to_vec(),
            RequestFailure::HandlerFailed(m) => {
                serde_json::to_vec(&serde_json::json!({ "handler-failed": m })).unwrap_or_default()
            }
        }
    }

    /// Reads a failed reply's payload; anything but a `handler-failed` object reads as
    /// `target-exited`.
    pub fn decode(payload: &[u8]) -> RequestFailure {
        match serde_json::from_slice::<serde_json::Value>(payload) {
            Ok(serde_json::Value::Object(m)) => RequestFailure::HandlerFailed(
                m.get("handler-failed")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_string(),
            ),
            _ => RequestFailure::TargetExited,
        }
    }
}

impl std::fmt::Display for RequestFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RequestFailure::TargetExited => f.write_str("the actor exited before it answered"),
            RequestFailure::HandlerFailed(m) => write!(f, "the handler failed: {m}"),
        }
    }
}

/// The answer to an external request (see [`System::inject_request`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalReply {
    pub correlation: u64,
    /// The reply's payload, or why the request failed.
    pub answer: Result<Vec<u8>, RequestFailure>,
}

impl System {
    /// Offers an external one-way message. Accepted messages are recorded as inputs and
    /// queued; refused ones (no such actor, mailbox full, too large) are recorded as
    /// refused. Returns whether it was accepted.
    pub fn inject(&mut self, to: ActorId, payload: Vec<u8>) -> Result<bool, RuntimeError> {
        Ok(self.offer(to, payload, false)?.is_ok())
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
        reason: DropReason,
    ) -> Result<(), RuntimeError> {
        self.sink
            .append(EventBody::IngressDropped { request, reason })
    }

    /// Why `to` would refuse a message of `len` bytes from outside now, if it would.
    fn refusal(&self, to: ActorId, len: usize) -> Option<RefusalReason> {
        let limits = &self.world.limits;
        match self.world.actors.get(&to) {
            Some(_) if !self.world.is_alive(to) => Some(RefusalReason::NoSuchActor),
            None => Some(RefusalReason::NoSuchActor),
            Some(_) if len as u64 > limits.message_bytes => Some(RefusalReason::TooLarge),
            Some(m) if m.mailbox >= limits.mailbox_len => Some(RefusalReason::MailboxFull),
            Some(_) => None,
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

#[cfg(test)]
mod tests {
    use super::RequestFailure;

    #[test]
    fn request_failures_round_trip() {
        for f in [
            RequestFailure::TargetExited,
            RequestFailure::HandlerFailed("boom \"quoted\"\n".into()),
            RequestFailure::HandlerFailed(String::new()),
        ] {
            assert_eq!(RequestFailure::decode(&f.encode()), f);
        }
        assert_eq!(RequestFailure::TargetExited.encode(), b"\"target-exited\"");
    }
}
