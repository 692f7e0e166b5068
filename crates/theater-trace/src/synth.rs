//! Synthetic event streams: a seeded generator of plausible runs for property tests,
//! benchmarks and the demo. Nothing here is used when recording a real run.

use crate::digest::Digest;
use crate::error::TraceError;
use crate::event::*;
use crate::writer::{TraceSink, TraceWriter};

/// A small, fast, seeded generator (SplitMix64). Not for cryptography.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}

/// Runs `case` for `count` seeds, for seeded property tests. The seeds come from
/// `THEATER_SEED` (one seed, to reproduce a failure) or from a base seed that changes
/// every run, so the property meets new inputs over time. A failing case prints its
/// seed (`THEATER_SEED=n`) before the panic continues.
pub fn for_seeds(count: u64, case: impl Fn(u64)) {
    let seeds: Vec<u64> = match std::env::var("THEATER_SEED") {
        Ok(s) => match s.parse() {
            Ok(seed) => vec![seed],
            Err(_) => panic!("THEATER_SEED must be a u64, not {s:?}"),
        },
        Err(_) => {
            let base = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            let mut rng = Rng::new(base);
            (0..count).map(|_| rng.next_u64()).collect()
        }
    };
    for seed in seeds {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| case(seed)));
        if let Err(panic) = result {
            eprintln!("\n*** failing seed: THEATER_SEED={seed} ***\n");
            std::panic::resume_unwind(panic);
        }
    }
}

/// A run header for synthetic runs.
pub fn header(seed: u64) -> RunHeader {
    RunHeader {
        format_version: crate::FORMAT_VERSION,
        producer: format!("theater-trace {} (synthetic)", env!("CARGO_PKG_VERSION")),
        engine: EngineSettings {
            engine: "synthetic".into(),
            nan_canonicalization: true,
            relaxed_simd_deterministic: true,
            threads: false,
            fuel_metering: true,
            max_wasm_stack_bytes: 512 << 10,
        },
        mode: RunMode::Simulated,
        seed,
        manifest: Digest::of(MANIFEST),
    }
}

/// The manifest of synthetic runs.
pub const MANIFEST: &[u8] = b"# synthetic run\n";

/// Appends random events of every kind to `writer` until it has `events`; payload
/// sizes range from empty to a few KiB and repeat often, so blobs get deduplicated.
/// Returns every event body appended, in order.
pub fn random_run<W: TraceSink>(
    rng: &mut Rng,
    writer: &mut TraceWriter<W>,
    events: u64,
) -> Result<Vec<EventBody>, TraceError> {
    let mut out = Vec::new();
    let mut actors: u64 = 0;
    let mut seq = 0u64;
    let component = writer.blob(b"\0asm synthetic component")?;
    out.push(EventBody::ComponentRegistered {
        name: "synthetic".into(),
        component,
    });
    writer.append(out[0].clone())?;
    let sizes = [0usize, 1, 16, 32, 33, 100, 256, 257, 1000, 4096];
    while writer.event_count() < events {
        let payload = |rng: &mut Rng, w: &mut TraceWriter<W>| {
            let size = sizes[rng.below(sizes.len() as u64) as usize];
            // Draw contents from a small pool so identical payloads recur.
            let mut pool = Rng::new(rng.below(4));
            w.payload(&pool.bytes(size))
        };
        let actor = rng.below(actors.max(1));
        let body = match rng.below(10) {
            0 => {
                actors += 1;
                EventBody::ActorSpawned {
                    actor: actors - 1,
                    parent: actor.checked_sub(1),
                    name: format!("actor-{}", actors - 1),
                    component,
                    restart: [
                        RestartPolicy::Permanent,
                        RestartPolicy::Transient,
                        RestartPolicy::Temporary,
                    ][rng.below(3) as usize],
                }
            }
            1 => EventBody::ActorExited {
                actor,
                reason: match rng.below(5) {
                    0 => ExitReason::Normal,
                    1 => ExitReason::Error("handler failed".into()),
                    2 => ExitReason::Trap(TrapCode::OutOfFuel),
                    3 => ExitReason::Trap(TrapCode::Other("weird".into())),
                    _ => ExitReason::Killed,
                },
            },
            2 => EventBody::ActorRestarted {
                actor,
                restarts: rng.below(5) as u32,
            },
            3 => EventBody::HostCall {
                actor,
                function: [
                    HostFunction::Now,
                    HostFunction::RandomBytes,
                    HostFunction::StoreGet,
                ][rng.below(3) as usize]
                    .clone(),
                request: payload(rng, writer)?,
                response: payload(rng, writer)?,
            },
            // Now and then a snapshot: a record blob and a few state blobs.
            4 if rng.below(4) == 0 => {
                let mut pool = Rng::new(rng.below(4));
                let record = writer.blob(&pool.bytes(40 + rng.below(100) as usize))?;
                let mut states = (0..rng.below(4))
                    .map(|_| writer.blob(&pool.bytes(1 + rng.below(300) as usize)))
                    .collect::<Result<Vec<_>, TraceError>>()?;
                states.sort();
                states.dedup();
                EventBody::Snapshot { record, states }
            }
            4 => EventBody::Refused {
                to: actor,
                payload: payload(rng, writer)?,
                reason: RefusalReason::MailboxFull,
            },
            5 | 6 => {
                seq += 1;
                let delivery = Delivery {
                    seq,
                    from: [
                        Sender::External,
                        Sender::Actor(actor),
                        Sender::Timer(7),
                        Sender::Runtime,
                    ][rng.below(4) as usize],
                    to: actor,
                    kind: [
                        MessageKind::OneWay,
                        MessageKind::Init,
                        MessageKind::Request { correlation: seq },
                        MessageKind::Reply {
                            correlation: seq,
                            ok: false,
                        },
                        MessageKind::ChildExit { child: 3 },
                    ][rng.below(5) as usize]
                        .clone(),
                    payload: payload(rng, writer)?,
                    time_ns: seq * 1000 + rng.below(1000),
                };
                if rng.below(3) == 0 {
                    EventBody::Input(delivery)
                } else {
                    EventBody::Delivered(delivery)
                }
            }
            _ => {
                let sent = (0..rng.below(3))
                    .map(|_| {
                        Ok(SentMessage {
                            to: rng.below(actors.max(1)),
                            kind: MessageKind::OneWay,
                            payload: payload(rng, writer)?,
                        })
                    })
                    .collect::<Result<Vec<_>, TraceError>>()?;
                EventBody::Outputs(DeliveryOutputs {
                    actor,
                    seq,
                    sent,
                    logs: (0..rng.below(2))
                        .map(|i| LogLine {
                            level: LogLevel::Info,
                            message: format!("log line {i} ünïcödé"),
                        })
                        .collect(),
                    state: crate::state_digest(&rng.next_u64().to_le_bytes()),
                    fuel_used: rng.below(1 << 20),
                    outcome: match rng.below(4) {
                        0 => Outcome::Error("bad input".into()),
                        1 => Outcome::Trap(TrapCode::Unreachable),
                        _ => Outcome::Ok,
                    },
                })
            }
        };
        writer.append(body.clone())?;
        out.push(body);
    }
    Ok(out)
}

/// Appends one request/reply round trip between two actors with small (16-byte)
/// payloads: a delivery and its outputs, twice. The shape of the hot path of a
/// recording, for the benchmark.
pub fn ping_pong_round<W: TraceSink>(
    writer: &mut TraceWriter<W>,
    round: u64,
) -> Result<(), TraceError> {
    for (from, to) in [(0u64, 1u64), (1, 0)] {
        let seq = round * 2 + from;
        let mut msg = [0u8; 16];
        msg[..8].copy_from_slice(&round.to_le_bytes());
        msg[8] = from as u8;
        let payload = writer.payload(&msg)?;
        writer.append(EventBody::Delivered(Delivery {
            seq,
            from: Sender::Actor(from),
            to,
            kind: MessageKind::OneWay,
            payload: payload.clone(),
            time_ns: seq * 1_000,
        }))?;
        writer.append(EventBody::Outputs(DeliveryOutputs {
            actor: to,
            seq,
            sent: vec![SentMessage {
                to: from,
                kind: MessageKind::OneWay,
                payload,
            }],
            logs: Vec::new(),
            state: crate::state_digest(&round.to_le_bytes()),
            fuel_used: 569 + round % 7,
            outcome: Outcome::Ok,
        }))?;
    }
    Ok(())
}
