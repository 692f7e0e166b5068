//! The event model: everything a trace records about a run.
//!
//! A trace is a sequence of [`Event`]s. Each event carries the digest of its parent (the
//! previous event), so the digest of the last event — the *chain head* — identifies the
//! whole run: two runs with the same chain head recorded the same inputs and produced the
//! same outputs.
//!
//! Events record two things:
//! - **inputs**: everything nondeterministic that entered the system (the run header and
//!   its seed, external messages in arrival order, results of recorded host calls);
//! - **observable outputs** of every delivery (messages sent, log lines, the digest of the
//!   new state, fuel used, outcome), which replay recomputes and compares.
//!
//! All integers are fixed-width (`u32`/`u64`, never `usize`) and every collection is a
//! `Vec` in a defined order, so an event has exactly one encoding (see
//! [`crate::encode_event`]).

use serde::{Deserialize, Serialize};

use crate::digest::{Bytes, Digest};

/// Payloads of at most this many bytes are stored inline in the event instead of as a
/// blob (format version 3). A blob reference costs a 32-byte digest that no compressor
/// can shrink, while an inline payload compresses against its neighbours in the block
/// (HTTP requests and replies, JSON messages): up to this size inlining is smaller even
/// when the same payload repeats, and it saves a blake3 pass. Larger payloads are blobs,
/// stored once however often they recur across blocks.
pub const INLINE_PAYLOAD_MAX_BYTES: usize = 256;

/// The inline limit of format versions 1 and 2 (uncompressed, where a payload of more
/// than a digest's 32 bytes was smaller by reference). Their traces are verified against
/// it; [`crate::convert`] re-inlines their short blobs.
pub const LEGACY_INLINE_PAYLOAD_MAX_BYTES: usize = 32;

/// An actor's id, assigned by the runtime from a per-run counter.
pub type ActorId = u64;

/// The `to` of a [`SentMessage`] that leaves the actor system: the reply to an external
/// request (an HTTP request, say). No actor ever has this id.
pub const EXTERNAL: ActorId = ActorId::MAX;

/// One record of the hash chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Digest of the previous event; [`Digest::ZERO`] for the first event.
    pub parent: Digest,
    /// What happened.
    pub body: EventBody,
}

/// What happened, one variant per kind of event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventBody {
    /// Always the first event of a trace, and only there.
    RunStarted(RunHeader),
    /// A component the run may instantiate. The component's bytes are a blob in the same
    /// trace, so a trace replays with nothing else.
    ComponentRegistered {
        /// The component's name in the manifest.
        name: String,
        /// Digest of the component blob (the `.wasm` bytes).
        component: Digest,
    },
    /// An actor was created. Its `init` call follows as a [`Delivery`] of kind
    /// [`MessageKind::Init`].
    ActorSpawned {
        actor: ActorId,
        /// The supervisor; `None` for actors started by the manifest.
        parent: Option<ActorId>,
        name: String,
        /// Digest of the component blob.
        component: Digest,
        restart: RestartPolicy,
    },
    /// An actor stopped.
    ActorExited { actor: ActorId, reason: ExitReason },
    /// A supervisor restarted an actor from its init state.
    ActorRestarted {
        actor: ActorId,
        /// How many times this actor has been restarted, this one included.
        restarts: u32,
    },
    /// An external message entered the system: what arrived, for whom, and where in the
    /// run's order (an input). Its delivery follows later as [`EventBody::Delivered`].
    Input(Delivery),
    /// A message was handed to an actor's handler.
    Delivered(Delivery),
    /// An external message was refused before reaching a mailbox (an input: the refusal
    /// depends on what the outside world sent and when).
    Refused {
        to: ActorId,
        payload: Payload,
        reason: RefusalReason,
    },
    /// The result of a host call whose result is not a pure function of the actor's
    /// inputs (clock, randomness, storage, outbound I/O). Replay serves `response` and
    /// checks that the actor asked for the same `function` with the same `request`.
    HostCall {
        actor: ActorId,
        function: HostFunction,
        /// The call's arguments, encoded by the runtime.
        request: Payload,
        /// The call's result, encoded by the runtime.
        response: Payload,
    },
    /// The observable outputs of the delivery that precedes it for the same actor.
    Outputs(DeliveryOutputs),
    /// The run ended; the last event of a cleanly finished run.
    RunEnded {
        /// Virtual time at the end of the run.
        time_ns: u64,
        reason: String,
    },
    /// Traffic from outside that never became an input, or whose answer never reached
    /// its client: a malformed or oversized HTTP request, a client too slow or gone, a
    /// request for no route. Recorded in arrival order so the trace tells what the
    /// outside world did; it changes nothing inside the system, and replay passes it by.
    IngressDropped {
        /// What is known of the request, e.g. `POST /kv/a (812 B)`; empty when not even
        /// the request line arrived.
        request: String,
        reason: DropReason,
    },
    /// A snapshot of the whole system between two steps of the run: everything a replay
    /// needs to start here instead of at the first event (see `theater_runtime::Snapshot`).
    /// Its record and every actor state it names are blobs; equal states are one blob,
    /// however many snapshots name them. Replay compares its own state with it.
    Snapshot {
        /// The snapshot record (queue, clock, generator, ids, requests, timers,
        /// supervision, the store, the run summary).
        record: Digest,
        /// The actor states the record names, each once, in digest order.
        states: Vec<Digest>,
    },
    /// The first event of every segment but the first (a run recorded to a directory
    /// rotates to a new segment file at a size or time bound): the run header again, the
    /// segment's number, and the chain head of the segment before it, which is also the
    /// chain value before this event. The segment goes on with the components registered
    /// again and a snapshot, so it reads, verifies and replays on its own bytes.
    SegmentStarted {
        /// The run's header, as its first segment has it.
        run: RunHeader,
        /// 1 for the second segment, and so on.
        segment: u64,
        /// The chain head of the segment before.
        previous_head: Digest,
    },
    /// A run continued by a new process (`theater run --resume`): the segment it
    /// starts says how the previous process ended and what its crash lost. It follows the
    /// segment's components and precedes its snapshot.
    Resumed {
        previous: PreviousEnd,
        /// Bytes and events (as far as a torn block's header said) the previous
        /// process's crash lost; 0 unless it was cut.
        lost_bytes: u64,
        lost_events: u64,
    },
    /// A run forked from another (`theater-replay fork`): this trace goes on from event
    /// `at` of the parent trace, whose chain head is `parent_head`, with the system as
    /// it was there (the snapshot that follows) and the inputs after it changed. It
    /// starts a segment (`SegmentStarted` at event `at`, chained on from the parent's
    /// chain value before `at`), follows its components and precedes its snapshot.
    Forked {
        /// The chain head of the whole parent trace (what names it).
        parent_head: Digest,
        /// The parent's event the fork goes on from: the parent's events before it are
        /// this run's history.
        at: u64,
    },
}

/// How the process before a resume ended (see [`EventBody::Resumed`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PreviousEnd {
    /// It recorded its end (idle, inputs done, a limit).
    Finished,
    /// It recorded its end on SIGINT or SIGTERM.
    Stopped,
    /// It recorded no end: it was killed, or its machine crashed.
    Cut,
}

/// Why traffic from outside was dropped (see [`EventBody::IngressDropped`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DropReason {
    /// Not a valid request; the parser's complaint.
    Malformed(String),
    /// The request or its body exceeds the limit (bytes).
    TooLarge { limit: u64 },
    /// The client did not send the request within the limit (milliseconds).
    TimedOut { limit_ms: u64 },
    /// The client closed the connection before the request was complete.
    ClientGone,
    /// No route leads to an actor for this request.
    NoRoute,
    /// Too many requests were waiting for the scheduler (the limit).
    Busy { limit: u64 },
    /// The request was an input, but its client left before the reply (correlation id
    /// of the input).
    ClientGoneBeforeReply { correlation: u64 },
    /// The request was an input, but no reply came within the limit (milliseconds); a
    /// late reply is still recorded as the actor's output.
    ReplyTimedOut { correlation: u64, limit_ms: u64 },
}

/// The first event of every trace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunHeader {
    /// The event-model version ([`crate::FORMAT_VERSION`] when written by this crate).
    pub format_version: u32,
    /// What produced the trace, e.g. `theater 0.1.0`.
    pub producer: String,
    /// The engine settings that affect determinism.
    pub engine: EngineSettings,
    /// Live (wall clock, OS randomness, both recorded) or simulated (virtual clock, seeded).
    pub mode: RunMode,
    /// The seed of the run's random generator.
    pub seed: u64,
    /// Digest of the manifest blob the run was started from.
    pub manifest: Digest,
}

/// Engine settings that change what a component computes. Replay refuses a trace whose
/// settings it cannot reproduce.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineSettings {
    /// The engine and its version, e.g. `wasmtime 48.0.8`.
    pub engine: String,
    pub nan_canonicalization: bool,
    pub relaxed_simd_deterministic: bool,
    pub threads: bool,
    pub fuel_metering: bool,
    pub max_wasm_stack_bytes: u64,
}

/// How nondeterministic inputs were produced during recording.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum RunMode {
    /// Wall clock and OS randomness, each read recorded.
    Live,
    /// Virtual clock and a seeded generator: the seed alone reproduces the run.
    #[default]
    Simulated,
}

/// What a supervisor does when a child exits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RestartPolicy {
    Permanent,
    Transient,
    Temporary,
}

/// Why an actor stopped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExitReason {
    Normal,
    /// A handler returned an error.
    Error(String),
    Trap(TrapCode),
    /// Killed by the runtime or a supervisor.
    Killed,
    /// A supervisor exceeded its restart intensity and gave up.
    Escalated,
}

/// Why a WebAssembly call trapped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TrapCode {
    OutOfFuel,
    Unreachable,
    MemoryOutOfBounds,
    /// A `memory.grow` beyond the actor's memory limit was refused and the guest aborted.
    MemoryLimit,
    StackOverflow,
    IntegerOverflow,
    IntegerDivisionByZero,
    BadConversionToInteger,
    IndirectCallTypeMismatch,
    TableOutOfBounds,
    NullReference,
    /// Anything else, by its engine name.
    Other(String),
}

/// Where a delivered message came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Sender {
    External,
    Actor(ActorId),
    /// A timer set by the receiving actor.
    Timer(u64),
    /// The runtime itself (init calls, child-exit notifications).
    Runtime,
}

/// Which export a delivery calls.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MessageKind {
    Init,
    OneWay,
    Request {
        correlation: u64,
    },
    /// A reply to a request the receiver made; `ok: false` means the request failed (the
    /// payload then holds the encoded error).
    Reply {
        correlation: u64,
        ok: bool,
    },
    ChildExit {
        child: ActorId,
    },
}

/// A message handed to an actor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// The scheduler's sequence number; with `time_ns` it orders the run.
    pub seq: u64,
    pub from: Sender,
    pub to: ActorId,
    pub kind: MessageKind,
    pub payload: Payload,
    /// Virtual time of the delivery.
    pub time_ns: u64,
}

/// A message payload: inline when small, else a blob in the same trace.
///
/// Two payloads are equal when they denote the same bytes, whichever way each is held:
/// `Inline(b)` equals `Blob { digest, len }` when `b` is `len` bytes whose digest is
/// `digest`. A replay of a version 1 or 2 trace (inline limit 32 bytes) thus matches its
/// recorded 33-byte blob payload with the inline one the runtime makes today.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Payload {
    /// At most [`INLINE_PAYLOAD_MAX_BYTES`] bytes.
    Inline(Bytes),
    /// A blob written earlier in the same trace.
    Blob { digest: Digest, len: u64 },
}

impl PartialEq for Payload {
    fn eq(&self, other: &Payload) -> bool {
        match (self, other) {
            (Payload::Inline(a), Payload::Inline(b)) => a == b,
            (Payload::Blob { digest, len }, Payload::Blob { digest: d, len: l }) => {
                digest == d && len == l
            }
            (Payload::Inline(b), Payload::Blob { digest, len })
            | (Payload::Blob { digest, len }, Payload::Inline(b)) => {
                b.0.len() as u64 == *len && Digest::of(&b.0) == *digest
            }
        }
    }
}

impl Eq for Payload {}

impl Payload {
    /// How `bytes` are referenced from an event: inline when at most
    /// [`INLINE_PAYLOAD_MAX_BYTES`], else by digest (the blob itself must be stored
    /// before the event that references it, e.g. with `TraceWriter::payload`).
    pub fn of(bytes: &[u8]) -> Payload {
        if bytes.len() <= INLINE_PAYLOAD_MAX_BYTES {
            Payload::Inline(bytes.into())
        } else {
            Payload::Blob {
                digest: Digest::of(bytes),
                len: bytes.len() as u64,
            }
        }
    }

    /// The payload by reference, whatever its size: what identifies its content (two
    /// payloads are equal exactly when their references are).
    pub fn by_reference(&self) -> Payload {
        Payload::Blob {
            digest: self.digest(),
            len: self.len(),
        }
    }

    /// The payload's length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Payload::Inline(b) => b.0.len() as u64,
            Payload::Blob { len, .. } => *len,
        }
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The blob this payload refers to, if it is not inline.
    pub fn blob(&self) -> Option<&Digest> {
        match self {
            Payload::Inline(_) => None,
            Payload::Blob { digest, .. } => Some(digest),
        }
    }

    /// The content digest of the payload's bytes, whichever way they are stored.
    pub fn digest(&self) -> Digest {
        match self {
            Payload::Inline(b) => Digest::of(&b.0),
            Payload::Blob { digest, .. } => *digest,
        }
    }
}

/// Why an external message was refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RefusalReason {
    NoSuchActor,
    MailboxFull,
    TooLarge,
    /// The recording was behind: its spool of segments not yet stored in an object store
    /// was over its bound (`--spool-bytes`). Decided outside the system, so a replay
    /// re-records it rather than asking the actor.
    Backlog,
}

/// The host functions whose results are recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HostFunction {
    Now,
    RandomBytes,
    StoreGet,
    StoreSet,
    StoreDelete,
    StoreListKeys,
    /// Any other recorded function, as `interface.function`.
    Other(String),
    /// `http-client.send`: an outbound HTTP request and its response (both JSON).
    HttpSend,
}

/// Observable outputs of one delivery.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryOutputs {
    pub actor: ActorId,
    /// The `seq` of the delivery these outputs belong to.
    pub seq: u64,
    /// Messages sent, in the order the actor sent them.
    pub sent: Vec<SentMessage>,
    /// Log lines, in order.
    pub logs: Vec<LogLine>,
    /// Digest of the actor's state after the call (unchanged on failure).
    pub state: Digest,
    pub fuel_used: u64,
    pub outcome: Outcome,
}

/// A message an actor sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentMessage {
    pub to: ActorId,
    pub kind: MessageKind,
    pub payload: Payload,
}

/// A log line written through the runtime interface.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    pub level: LogLevel,
    pub message: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// How a handler call ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Ok,
    /// The handler returned `err(message)`.
    Error(String),
    Trap(TrapCode),
}

impl EventBody {
    /// A short lowercase name of the event's kind, for listings and breakpoints (all of
    /// them: [`crate::EVENT_KIND_NAMES`]).
    pub fn kind_name(&self) -> &'static str {
        match self {
            EventBody::RunStarted(_) => "run-started",
            EventBody::ComponentRegistered { .. } => "component",
            EventBody::ActorSpawned { .. } => "spawned",
            EventBody::ActorExited { .. } => "exited",
            EventBody::ActorRestarted { .. } => "restarted",
            EventBody::Input(_) => "input",
            EventBody::Delivered(_) => "delivered",
            EventBody::Refused { .. } => "refused",
            EventBody::HostCall { .. } => "host-call",
            EventBody::Outputs(_) => "outputs",
            EventBody::RunEnded { .. } => "run-ended",
            EventBody::IngressDropped { .. } => "dropped",
            EventBody::Snapshot { .. } => "snapshot",
            EventBody::SegmentStarted { .. } => "segment",
            EventBody::Resumed { .. } => "resumed",
            EventBody::Forked { .. } => "forked",
        }
    }

    /// The actor the event is about, if any.
    pub fn actor(&self) -> Option<ActorId> {
        match self {
            EventBody::RunStarted(_)
            | EventBody::ComponentRegistered { .. }
            | EventBody::RunEnded { .. }
            | EventBody::IngressDropped { .. }
            | EventBody::Snapshot { .. }
            | EventBody::SegmentStarted { .. }
            | EventBody::Resumed { .. }
            | EventBody::Forked { .. } => None,
            EventBody::ActorSpawned { actor, .. }
            | EventBody::ActorExited { actor, .. }
            | EventBody::ActorRestarted { actor, .. }
            | EventBody::HostCall { actor, .. } => Some(*actor),
            EventBody::Refused { to, .. } => Some(*to),
            EventBody::Input(d) | EventBody::Delivered(d) => Some(d.to),
            EventBody::Outputs(o) => Some(o.actor),
        }
    }

    /// Calls `f` with every message payload of the event (inputs, refused inputs, host
    /// call requests and responses, sent messages), in encoding order.
    pub fn for_each_payload_mut(&mut self, mut f: impl FnMut(&mut Payload)) {
        match self {
            EventBody::Input(d) | EventBody::Delivered(d) => f(&mut d.payload),
            EventBody::Refused { payload, .. } => f(payload),
            EventBody::HostCall {
                request, response, ..
            } => {
                f(request);
                f(response);
            }
            EventBody::Outputs(o) => o.sent.iter_mut().for_each(|m| f(&mut m.payload)),
            EventBody::RunStarted(_)
            | EventBody::ComponentRegistered { .. }
            | EventBody::ActorSpawned { .. }
            | EventBody::ActorExited { .. }
            | EventBody::ActorRestarted { .. }
            | EventBody::RunEnded { .. }
            | EventBody::IngressDropped { .. }
            | EventBody::Snapshot { .. }
            | EventBody::SegmentStarted { .. }
            | EventBody::Resumed { .. }
            | EventBody::Forked { .. } => {}
        }
    }

    /// Calls `f` with every blob digest this event references. Each must name a blob
    /// written earlier in the trace.
    pub fn for_each_blob_ref(&self, mut f: impl FnMut(&Digest)) {
        match self {
            EventBody::RunStarted(h) | EventBody::SegmentStarted { run: h, .. } => f(&h.manifest),
            EventBody::ComponentRegistered { component, .. }
            | EventBody::ActorSpawned { component, .. } => f(component),
            EventBody::Input(d) | EventBody::Delivered(d) => {
                d.payload.blob().into_iter().for_each(f)
            }
            EventBody::Refused { payload, .. } => payload.blob().into_iter().for_each(f),
            EventBody::HostCall {
                request, response, ..
            } => request
                .blob()
                .into_iter()
                .chain(response.blob())
                .for_each(f),
            EventBody::Outputs(o) => o.sent.iter().filter_map(|m| m.payload.blob()).for_each(f),
            EventBody::ActorExited { .. }
            | EventBody::ActorRestarted { .. }
            | EventBody::RunEnded { .. }
            | EventBody::IngressDropped { .. }
            | EventBody::Resumed { .. }
            | EventBody::Forked { .. } => {}
            EventBody::Snapshot { record, states } => {
                f(record);
                states.iter().for_each(f);
            }
        }
    }
}
