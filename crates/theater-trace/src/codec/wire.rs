//! The version 3 event encoding: compact, canonical, no names in the bytes.
//!
//! Primitives (the full table, byte by byte, is in `docs/trace-format.md`):
//!
//! | type | encoding |
//! |---|---|
//! | `u` (u32, u64) | unsigned LEB128, minimal: no trailing `0x80`-continued zero groups |
//! | `bool` | one byte, 0 or 1 |
//! | `tag` | one byte: a variant's number in its table |
//! | `bytes` | `u` length, then the bytes |
//! | `str` | `bytes`, valid UTF-8 |
//! | `digest` | 32 bytes |
//! | `state` | 16 bytes: a state digest ([`crate::STATE_DIGEST_LEN`]) |
//! | `opt T` | 0, or 1 then `T` |
//! | `vec T` | `u` count, then the items |
//!
//! Every value has exactly one encoding: the decoder refuses overlong varints, booleans
//! other than 0 and 1, unknown tags and invalid UTF-8, and `verify` re-encodes every
//! event and compares. A state digest's last 16 bytes must be zero to be encoded (see
//! [`crate::state_digest`]); the encoder refuses any other with [`WireError`].
//!
//! Decoding never allocates more than the input's length: every length and count is
//! checked against the bytes that remain before anything is reserved.

use std::fmt;

pub use super::decode::decode_body;

use crate::codec::STATE_DIGEST_LEN;
use crate::digest::Digest;
use crate::event::*;

/// Tags of [`EventBody`], in table order.
pub const EVENT_TAGS: [&str; 16] = [
    "RunStarted",
    "ComponentRegistered",
    "ActorSpawned",
    "ActorExited",
    "ActorRestarted",
    "Input",
    "Delivered",
    "Refused",
    "HostCall",
    "Outputs",
    "RunEnded",
    "IngressDropped",
    "Snapshot",
    "SegmentStarted",
    "Resumed",
    "Forked",
];

/// Why an event cannot be encoded in version 3.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireError(pub &'static str);

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for WireError {}

/// Appends the version 3 encoding of `body` to `out`. Fails only for a state digest
/// that is not one (its last 16 bytes are not zero); `out` is then unchanged.
pub fn encode_body(body: &EventBody, out: &mut Vec<u8>) -> Result<(), WireError> {
    let start = out.len();
    let result = Enc(out).body(body);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// The version 3 encoding of `body`.
pub fn body_bytes(body: &EventBody) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::with_capacity(64);
    encode_body(body, &mut out)?;
    Ok(out)
}

/// Appends `v` as a minimal unsigned LEB128 varint.
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads a minimal unsigned LEB128 varint at the start of `bytes`: the value and how many
/// bytes it took.
pub fn get_varint(bytes: &[u8]) -> Result<(u64, usize), &'static str> {
    let mut v: u64 = 0;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        let low = u64::from(b & 0x7f);
        if i == 9 && b > 1 {
            return Err("varint overflows 64 bits");
        }
        v |= low << (7 * i);
        if b & 0x80 == 0 {
            if b == 0 && i > 0 {
                return Err("overlong varint");
            }
            return Ok((v, i + 1));
        }
    }
    Err(if bytes.len() < 10 {
        "varint runs past the end"
    } else {
        "varint longer than 10 bytes"
    })
}

struct Enc<'a>(&'a mut Vec<u8>);

impl Enc<'_> {
    fn u(&mut self, v: u64) {
        put_varint(self.0, v);
    }

    fn tag(&mut self, t: u8) {
        self.0.push(t);
    }

    fn bool(&mut self, b: bool) {
        self.0.push(u8::from(b));
    }

    fn bytes(&mut self, b: &[u8]) {
        self.u(b.len() as u64);
        self.0.extend_from_slice(b);
    }

    fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }

    fn digest(&mut self, d: &Digest) {
        self.0.extend_from_slice(&d.0);
    }

    fn state(&mut self, d: &Digest) -> Result<(), WireError> {
        if d.0[STATE_DIGEST_LEN..].iter().any(|&b| b != 0) {
            return Err(WireError(
                "a state digest must be theater_trace::state_digest (its last 16 bytes zero)",
            ));
        }
        self.0.extend_from_slice(&d.0[..STATE_DIGEST_LEN]);
        Ok(())
    }

    fn run_header(&mut self, h: &RunHeader) {
        self.u(u64::from(h.format_version));
        self.str(&h.producer);
        let e = &h.engine;
        self.str(&e.engine);
        self.bool(e.nan_canonicalization);
        self.bool(e.relaxed_simd_deterministic);
        self.bool(e.threads);
        self.bool(e.fuel_metering);
        self.u(e.max_wasm_stack_bytes);
        self.tag(match h.mode {
            RunMode::Live => 0,
            RunMode::Simulated => 1,
        });
        self.u(h.seed);
        self.digest(&h.manifest);
    }

    fn body(&mut self, body: &EventBody) -> Result<(), WireError> {
        match body {
            EventBody::RunStarted(h) => {
                self.tag(0);
                self.run_header(h);
            }
            EventBody::SegmentStarted {
                run,
                segment,
                previous_head,
            } => {
                self.tag(13);
                self.run_header(run);
                self.u(*segment);
                self.digest(previous_head);
            }
            EventBody::Resumed {
                previous,
                lost_bytes,
                lost_events,
            } => {
                self.tag(14);
                self.tag(match previous {
                    PreviousEnd::Finished => 0,
                    PreviousEnd::Stopped => 1,
                    PreviousEnd::Cut => 2,
                });
                self.u(*lost_bytes);
                self.u(*lost_events);
            }
            EventBody::Forked { parent_head, at } => {
                self.tag(15);
                self.digest(parent_head);
                self.u(*at);
            }
            EventBody::ComponentRegistered { name, component } => {
                self.tag(1);
                self.str(name);
                self.digest(component);
            }
            EventBody::ActorSpawned {
                actor,
                parent,
                name,
                component,
                restart,
            } => {
                self.tag(2);
                self.u(*actor);
                match parent {
                    None => self.tag(0),
                    Some(p) => {
                        self.tag(1);
                        self.u(*p);
                    }
                }
                self.str(name);
                self.digest(component);
                self.tag(match restart {
                    RestartPolicy::Permanent => 0,
                    RestartPolicy::Transient => 1,
                    RestartPolicy::Temporary => 2,
                });
            }
            EventBody::ActorExited { actor, reason } => {
                self.tag(3);
                self.u(*actor);
                self.exit(reason);
            }
            EventBody::ActorRestarted { actor, restarts } => {
                self.tag(4);
                self.u(*actor);
                self.u(u64::from(*restarts));
            }
            EventBody::Input(d) => {
                self.tag(5);
                self.delivery(d);
            }
            EventBody::Delivered(d) => {
                self.tag(6);
                self.delivery(d);
            }
            EventBody::Refused {
                to,
                payload,
                reason,
            } => {
                self.tag(7);
                self.u(*to);
                self.payload(payload);
                self.tag(match reason {
                    RefusalReason::NoSuchActor => 0,
                    RefusalReason::MailboxFull => 1,
                    RefusalReason::TooLarge => 2,
                    RefusalReason::Backlog => 3,
                });
            }
            EventBody::HostCall {
                actor,
                function,
                request,
                response,
            } => {
                self.tag(8);
                self.u(*actor);
                self.function(function);
                self.payload(request);
                self.payload(response);
            }
            EventBody::Outputs(o) => {
                self.tag(9);
                self.outputs(o)?;
            }
            EventBody::RunEnded { time_ns, reason } => {
                self.tag(10);
                self.u(*time_ns);
                self.str(reason);
            }
            EventBody::IngressDropped { request, reason } => {
                self.tag(11);
                self.str(request);
                self.drop_reason(reason);
            }
            EventBody::Snapshot { record, states } => {
                if !states.windows(2).all(|w| w[0] < w[1]) {
                    return Err(WireError(
                        "snapshot states must be in digest order, each once",
                    ));
                }
                self.tag(12);
                self.digest(record);
                self.u(states.len() as u64);
                states.iter().for_each(|d| self.digest(d));
            }
        }
        Ok(())
    }

    fn outputs(&mut self, o: &DeliveryOutputs) -> Result<(), WireError> {
        self.u(o.actor);
        self.u(o.seq);
        self.u(o.sent.len() as u64);
        for m in &o.sent {
            self.u(m.to);
            self.kind(&m.kind);
            self.payload(&m.payload);
        }
        self.u(o.logs.len() as u64);
        for l in &o.logs {
            self.tag(match l.level {
                LogLevel::Trace => 0,
                LogLevel::Debug => 1,
                LogLevel::Info => 2,
                LogLevel::Warn => 3,
                LogLevel::Error => 4,
            });
            self.str(&l.message);
        }
        self.state(&o.state)?;
        self.u(o.fuel_used);
        match &o.outcome {
            Outcome::Ok => self.tag(0),
            Outcome::Error(m) => {
                self.tag(1);
                self.str(m);
            }
            Outcome::Trap(t) => {
                self.tag(2);
                self.trap(t);
            }
        }
        Ok(())
    }

    fn delivery(&mut self, d: &Delivery) {
        self.u(d.seq);
        match d.from {
            Sender::External => self.tag(0),
            Sender::Actor(a) => {
                self.tag(1);
                self.u(a);
            }
            Sender::Timer(t) => {
                self.tag(2);
                self.u(t);
            }
            Sender::Runtime => self.tag(3),
        }
        self.u(d.to);
        self.kind(&d.kind);
        self.payload(&d.payload);
        self.u(d.time_ns);
    }

    fn kind(&mut self, k: &MessageKind) {
        match k {
            MessageKind::Init => self.tag(0),
            MessageKind::OneWay => self.tag(1),
            MessageKind::Request { correlation } => {
                self.tag(2);
                self.u(*correlation);
            }
            MessageKind::Reply { correlation, ok } => {
                self.tag(3);
                self.u(*correlation);
                self.bool(*ok);
            }
            MessageKind::ChildExit { child } => {
                self.tag(4);
                self.u(*child);
            }
        }
    }

    fn payload(&mut self, p: &Payload) {
        match p {
            Payload::Inline(b) => {
                self.tag(0);
                self.bytes(&b.0);
            }
            Payload::Blob { digest, len } => {
                self.tag(1);
                self.digest(digest);
                self.u(*len);
            }
        }
    }

    fn exit(&mut self, r: &ExitReason) {
        match r {
            ExitReason::Normal => self.tag(0),
            ExitReason::Error(m) => {
                self.tag(1);
                self.str(m);
            }
            ExitReason::Trap(t) => {
                self.tag(2);
                self.trap(t);
            }
            ExitReason::Killed => self.tag(3),
            ExitReason::Escalated => self.tag(4),
        }
    }

    fn trap(&mut self, t: &TrapCode) {
        let tag = match t {
            TrapCode::OutOfFuel => 0,
            TrapCode::Unreachable => 1,
            TrapCode::MemoryOutOfBounds => 2,
            TrapCode::MemoryLimit => 3,
            TrapCode::StackOverflow => 4,
            TrapCode::IntegerOverflow => 5,
            TrapCode::IntegerDivisionByZero => 6,
            TrapCode::BadConversionToInteger => 7,
            TrapCode::IndirectCallTypeMismatch => 8,
            TrapCode::TableOutOfBounds => 9,
            TrapCode::NullReference => 10,
            TrapCode::Other(name) => {
                self.tag(11);
                self.str(name);
                return;
            }
        };
        self.tag(tag);
    }

    fn function(&mut self, f: &HostFunction) {
        match f {
            HostFunction::Now => self.tag(0),
            HostFunction::RandomBytes => self.tag(1),
            HostFunction::StoreGet => self.tag(2),
            HostFunction::StoreSet => self.tag(3),
            HostFunction::StoreDelete => self.tag(4),
            HostFunction::StoreListKeys => self.tag(5),
            HostFunction::Other(name) => {
                self.tag(6);
                self.str(name);
            }
            HostFunction::HttpSend => self.tag(7),
        }
    }

    fn drop_reason(&mut self, r: &DropReason) {
        match r {
            DropReason::Malformed(why) => {
                self.tag(0);
                self.str(why);
            }
            DropReason::TooLarge { limit } => {
                self.tag(1);
                self.u(*limit);
            }
            DropReason::TimedOut { limit_ms } => {
                self.tag(2);
                self.u(*limit_ms);
            }
            DropReason::ClientGone => self.tag(3),
            DropReason::NoRoute => self.tag(4),
            DropReason::Busy { limit } => {
                self.tag(5);
                self.u(*limit);
            }
            DropReason::ClientGoneBeforeReply { correlation } => {
                self.tag(6);
                self.u(*correlation);
            }
            DropReason::ReplyTimedOut {
                correlation,
                limit_ms,
            } => {
                self.tag(7);
                self.u(*correlation);
                self.u(*limit_ms);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_are_minimal_and_round_trip() {
        for v in [0, 1, 127, 128, 300, 1 << 35, u64::MAX - 1, u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(get_varint(&out), Ok((v, out.len())), "{v}");
        }
        assert_eq!(get_varint(&[0x80, 0x00]), Err("overlong varint"));
        assert_eq!(get_varint(&[0x80]), Err("varint runs past the end"));
        let mut max = vec![0xff; 9];
        max.push(0x02);
        assert_eq!(get_varint(&max), Err("varint overflows 64 bits"));
    }

    #[test]
    fn a_full_state_digest_is_refused_and_nothing_is_written() {
        let body = EventBody::Outputs(DeliveryOutputs {
            actor: 1,
            seq: 2,
            sent: vec![],
            logs: vec![],
            state: Digest::of(b"state"),
            fuel_used: 3,
            outcome: Outcome::Ok,
        });
        let mut out = vec![7];
        assert!(encode_body(&body, &mut out).is_err());
        assert_eq!(out, [7]);
    }

    #[test]
    fn trailing_bytes_and_unknown_tags_are_refused() {
        let body = EventBody::ActorRestarted {
            actor: 3,
            restarts: 1,
        };
        let mut bytes = body_bytes(&body).unwrap();
        assert_eq!(bytes, [4, 3, 1]);
        assert_eq!(decode_body(&bytes), Ok(body));
        bytes.push(0);
        assert!(decode_body(&bytes).unwrap_err().contains("trailing"));
        assert!(decode_body(&[EVENT_TAGS.len() as u8])
            .unwrap_err()
            .contains("unknown event tag"));
        assert!(decode_body(&[]).unwrap_err().contains("ends early"));
    }

    #[test]
    fn snapshot_states_have_one_order() {
        let (a, b) = (Digest::of(b"a"), Digest::of(b"b"));
        let (lo, hi) = if a < b { (a, b) } else { (b, a) };
        let body = EventBody::Snapshot {
            record: a,
            states: vec![lo, hi],
        };
        let bytes = body_bytes(&body).unwrap();
        assert_eq!(bytes.len(), 1 + 32 + 1 + 64);
        assert_eq!(decode_body(&bytes), Ok(body));
        for states in [vec![hi, lo], vec![lo, lo]] {
            let body = EventBody::Snapshot { record: a, states };
            assert!(body_bytes(&body).is_err());
            // The same bytes written by hand are refused when read.
            let mut bytes = vec![12];
            bytes.extend_from_slice(&a.0);
            bytes.push(2);
            if let EventBody::Snapshot { states, .. } = &body {
                states.iter().for_each(|d| bytes.extend_from_slice(&d.0));
            }
            assert!(decode_body(&bytes).unwrap_err().contains("digest order"));
        }
    }
}
