//! Decoding the version 3 event encoding (the tables are in `codec::wire` and
//! `docs/trace-format.md`): every length and count checked against the bytes that
//! remain before anything is reserved, every tag against its table.

use crate::codec::STATE_DIGEST_LEN;
use crate::digest::{Bytes, Digest, DIGEST_LEN};
use crate::event::*;

use super::wire::get_varint;

/// Decodes a version 3 event body that fills `bytes` exactly; the error says why the
/// bytes are not one.
pub fn decode_body(bytes: &[u8]) -> Result<EventBody, String> {
    let mut d = Dec { bytes, at: 0 };
    let body = d.body().map_err(|why| format!("{why} at byte {}", d.at))?;
    if d.at != bytes.len() {
        return Err(format!(
            "{} trailing bytes after the event",
            bytes.len() - d.at
        ));
    }
    Ok(body)
}

type R<T> = Result<T, &'static str>;

struct Dec<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Dec<'a> {
    fn take(&mut self, n: usize) -> R<&'a [u8]> {
        let rest = &self.bytes[self.at..];
        if n > rest.len() {
            return Err("the event ends early");
        }
        self.at += n;
        Ok(&rest[..n])
    }

    fn u(&mut self) -> R<u64> {
        let (v, n) = get_varint(&self.bytes[self.at..])?;
        self.at += n;
        Ok(v)
    }

    fn u32(&mut self) -> R<u32> {
        u32::try_from(self.u()?).map_err(|_| "integer exceeds 32 bits")
    }

    fn tag(&mut self) -> R<u8> {
        Ok(self.take(1)?[0])
    }

    fn bool(&mut self) -> R<bool> {
        match self.tag()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err("a boolean other than 0 or 1"),
        }
    }

    fn len(&mut self) -> R<usize> {
        let n = self.u()?;
        let rest = (self.bytes.len() - self.at) as u64;
        if n > rest {
            return Err("a length runs past the end of the event");
        }
        Ok(n as usize)
    }

    fn bytes(&mut self) -> R<&'a [u8]> {
        let n = self.len()?;
        self.take(n)
    }

    fn str(&mut self) -> R<String> {
        let b = self.bytes()?;
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| "a string that is not UTF-8")
    }

    fn digest(&mut self) -> R<Digest> {
        let b = self.take(DIGEST_LEN)?;
        let mut d = [0u8; DIGEST_LEN];
        d.copy_from_slice(b);
        Ok(Digest(d))
    }

    fn state(&mut self) -> R<Digest> {
        let b = self.take(STATE_DIGEST_LEN)?;
        let mut d = [0u8; DIGEST_LEN];
        d[..STATE_DIGEST_LEN].copy_from_slice(b);
        Ok(Digest(d))
    }

    /// A count of items, each at least one byte long.
    fn count(&mut self) -> R<usize> {
        self.len()
    }

    fn run_header(&mut self) -> R<RunHeader> {
        Ok(RunHeader {
            format_version: self.u32()?,
            producer: self.str()?,
            engine: EngineSettings {
                engine: self.str()?,
                nan_canonicalization: self.bool()?,
                relaxed_simd_deterministic: self.bool()?,
                threads: self.bool()?,
                fuel_metering: self.bool()?,
                max_wasm_stack_bytes: self.u()?,
            },
            mode: match self.tag()? {
                0 => RunMode::Live,
                1 => RunMode::Simulated,
                _ => return Err("unknown run mode tag"),
            },
            seed: self.u()?,
            manifest: self.digest()?,
        })
    }

    fn body(&mut self) -> R<EventBody> {
        Ok(match self.tag()? {
            0 => EventBody::RunStarted(self.run_header()?),
            1 => EventBody::ComponentRegistered {
                name: self.str()?,
                component: self.digest()?,
            },
            2 => EventBody::ActorSpawned {
                actor: self.u()?,
                parent: match self.tag()? {
                    0 => None,
                    1 => Some(self.u()?),
                    _ => return Err("an option tag other than 0 or 1"),
                },
                name: self.str()?,
                component: self.digest()?,
                restart: match self.tag()? {
                    0 => RestartPolicy::Permanent,
                    1 => RestartPolicy::Transient,
                    2 => RestartPolicy::Temporary,
                    _ => return Err("unknown restart policy tag"),
                },
            },
            3 => EventBody::ActorExited {
                actor: self.u()?,
                reason: self.exit()?,
            },
            4 => EventBody::ActorRestarted {
                actor: self.u()?,
                restarts: self.u32()?,
            },
            5 => EventBody::Input(self.delivery()?),
            6 => EventBody::Delivered(self.delivery()?),
            7 => EventBody::Refused {
                to: self.u()?,
                payload: self.payload()?,
                reason: match self.tag()? {
                    0 => RefusalReason::NoSuchActor,
                    1 => RefusalReason::MailboxFull,
                    2 => RefusalReason::TooLarge,
                    3 => RefusalReason::Backlog,
                    _ => return Err("unknown refusal reason tag"),
                },
            },
            8 => EventBody::HostCall {
                actor: self.u()?,
                function: self.function()?,
                request: self.payload()?,
                response: self.payload()?,
            },
            9 => EventBody::Outputs(self.outputs()?),
            10 => EventBody::RunEnded {
                time_ns: self.u()?,
                reason: self.str()?,
            },
            11 => EventBody::IngressDropped {
                request: self.str()?,
                reason: self.drop_reason()?,
            },
            12 => {
                let record = self.digest()?;
                let n = self.count()?;
                let mut states = Vec::with_capacity(n);
                for _ in 0..n {
                    let d = self.digest()?;
                    if states.last().is_some_and(|last| *last >= d) {
                        return Err("snapshot states out of digest order");
                    }
                    states.push(d);
                }
                EventBody::Snapshot { record, states }
            }
            13 => EventBody::SegmentStarted {
                run: self.run_header()?,
                segment: self.u()?,
                previous_head: self.digest()?,
            },
            14 => EventBody::Resumed {
                previous: match self.tag()? {
                    0 => PreviousEnd::Finished,
                    1 => PreviousEnd::Stopped,
                    2 => PreviousEnd::Cut,
                    _ => return Err("unknown previous-end tag"),
                },
                lost_bytes: self.u()?,
                lost_events: self.u()?,
            },
            15 => EventBody::Forked {
                parent_head: self.digest()?,
                at: self.u()?,
            },
            _ => return Err("unknown event tag"),
        })
    }

    fn outputs(&mut self) -> R<DeliveryOutputs> {
        let actor = self.u()?;
        let seq = self.u()?;
        let n = self.count()?;
        let mut sent = Vec::with_capacity(n);
        for _ in 0..n {
            sent.push(SentMessage {
                to: self.u()?,
                kind: self.kind()?,
                payload: self.payload()?,
            });
        }
        let n = self.count()?;
        let mut logs = Vec::with_capacity(n);
        for _ in 0..n {
            logs.push(LogLine {
                level: match self.tag()? {
                    0 => LogLevel::Trace,
                    1 => LogLevel::Debug,
                    2 => LogLevel::Info,
                    3 => LogLevel::Warn,
                    4 => LogLevel::Error,
                    _ => return Err("unknown log level tag"),
                },
                message: self.str()?,
            });
        }
        Ok(DeliveryOutputs {
            actor,
            seq,
            sent,
            logs,
            state: self.state()?,
            fuel_used: self.u()?,
            outcome: match self.tag()? {
                0 => Outcome::Ok,
                1 => Outcome::Error(self.str()?),
                2 => Outcome::Trap(self.trap()?),
                _ => return Err("unknown outcome tag"),
            },
        })
    }

    fn delivery(&mut self) -> R<Delivery> {
        Ok(Delivery {
            seq: self.u()?,
            from: match self.tag()? {
                0 => Sender::External,
                1 => Sender::Actor(self.u()?),
                2 => Sender::Timer(self.u()?),
                3 => Sender::Runtime,
                _ => return Err("unknown sender tag"),
            },
            to: self.u()?,
            kind: self.kind()?,
            payload: self.payload()?,
            time_ns: self.u()?,
        })
    }

    fn kind(&mut self) -> R<MessageKind> {
        Ok(match self.tag()? {
            0 => MessageKind::Init,
            1 => MessageKind::OneWay,
            2 => MessageKind::Request {
                correlation: self.u()?,
            },
            3 => MessageKind::Reply {
                correlation: self.u()?,
                ok: self.bool()?,
            },
            4 => MessageKind::ChildExit { child: self.u()? },
            _ => return Err("unknown message kind tag"),
        })
    }

    fn payload(&mut self) -> R<Payload> {
        Ok(match self.tag()? {
            0 => Payload::Inline(Bytes(self.bytes()?.to_vec())),
            1 => Payload::Blob {
                digest: self.digest()?,
                len: self.u()?,
            },
            _ => return Err("unknown payload tag"),
        })
    }

    fn exit(&mut self) -> R<ExitReason> {
        Ok(match self.tag()? {
            0 => ExitReason::Normal,
            1 => ExitReason::Error(self.str()?),
            2 => ExitReason::Trap(self.trap()?),
            3 => ExitReason::Killed,
            4 => ExitReason::Escalated,
            _ => return Err("unknown exit reason tag"),
        })
    }

    fn trap(&mut self) -> R<TrapCode> {
        Ok(match self.tag()? {
            0 => TrapCode::OutOfFuel,
            1 => TrapCode::Unreachable,
            2 => TrapCode::MemoryOutOfBounds,
            3 => TrapCode::MemoryLimit,
            4 => TrapCode::StackOverflow,
            5 => TrapCode::IntegerOverflow,
            6 => TrapCode::IntegerDivisionByZero,
            7 => TrapCode::BadConversionToInteger,
            8 => TrapCode::IndirectCallTypeMismatch,
            9 => TrapCode::TableOutOfBounds,
            10 => TrapCode::NullReference,
            11 => TrapCode::Other(self.str()?),
            _ => return Err("unknown trap code tag"),
        })
    }

    fn function(&mut self) -> R<HostFunction> {
        Ok(match self.tag()? {
            0 => HostFunction::Now,
            1 => HostFunction::RandomBytes,
            2 => HostFunction::StoreGet,
            3 => HostFunction::StoreSet,
            4 => HostFunction::StoreDelete,
            5 => HostFunction::StoreListKeys,
            6 => HostFunction::Other(self.str()?),
            7 => HostFunction::HttpSend,
            _ => return Err("unknown host function tag"),
        })
    }

    fn drop_reason(&mut self) -> R<DropReason> {
        Ok(match self.tag()? {
            0 => DropReason::Malformed(self.str()?),
            1 => DropReason::TooLarge { limit: self.u()? },
            2 => DropReason::TimedOut {
                limit_ms: self.u()?,
            },
            3 => DropReason::ClientGone,
            4 => DropReason::NoRoute,
            5 => DropReason::Busy { limit: self.u()? },
            6 => DropReason::ClientGoneBeforeReply {
                correlation: self.u()?,
            },
            7 => DropReason::ReplyTimedOut {
                correlation: self.u()?,
                limit_ms: self.u()?,
            },
            _ => return Err("unknown drop reason tag"),
        })
    }
}
