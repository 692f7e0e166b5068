//! Write Theater actors in Rust.
//!
//! An actor is a type implementing [`Actor`]: a typed state (any serde type, stored by
//! the host as JSON bytes between calls) and handlers for messages, requests, replies
//! and child exits. [`actor!`] exports it as the `theater:actor/actor` world:
//!
//! ```text
//! use theater_guest::{actor, Actor, Sender};
//!
//! struct Counter;
//!
//! impl Actor for Counter {
//!     type State = u64;
//!     fn init(_args: &[u8]) -> Result<u64, String> { Ok(0) }
//!     fn on_message(n: &mut u64, _from: Sender, _msg: &[u8]) -> Result<(), String> {
//!         *n += 1;
//!         Ok(())
//!     }
//! }
//!
//! actor!(Counter);
//! ```
//!
//! Build with `cargo build --target wasm32-unknown-unknown` and wrap the module into a
//! component (`scripts/build-fixtures.sh` does both). An actor must keep all its state in
//! `State`: anything left in linear memory between calls is hidden state, which replay
//! from a checkpoint detects as a divergence.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// The generated bindings of the WIT world (imports and the export macro).
#[allow(
    missing_docs,
    unreachable_pub,
    missing_debug_implementations,
    clippy::all
)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "actor",
        pub_export_macro: true,
        default_bindings_module: "theater_guest::bindings",
    });
}

pub use bindings::theater::actor::messaging::{RequestError, SendError};
pub use bindings::theater::actor::runtime::Level;
pub use bindings::theater::actor::supervision::{
    ChildInfo, ChildSpec, ChildStatus, Strategy, SupervisionError, SupervisorConfig,
};
pub use bindings::theater::actor::types::{ActorId, ExitReason, RestartPolicy, Sender};

use bindings::theater::actor::{messaging, runtime, supervision, timers};

/// An actor: its state type and its handlers. Every handler but `init` has a default
/// that ignores the input, except `on_request`, which fails by default.
pub trait Actor {
    /// All the actor's state. Serialized as JSON between calls.
    type State: Serialize + DeserializeOwned;

    /// Builds the initial state from the spawner's arguments.
    fn init(args: &[u8]) -> Result<Self::State, String>;

    /// A one-way message from an actor, a timer, or outside the system.
    fn on_message(state: &mut Self::State, from: Sender, message: &[u8]) -> Result<(), String> {
        let _ = (state, from, message);
        Ok(())
    }

    /// A request. Return `Some(reply)` to answer now, or `None` to answer later with
    /// [`reply`].
    fn on_request(
        state: &mut Self::State,
        from: Sender,
        correlation: u64,
        request: &[u8],
    ) -> Result<Option<Vec<u8>>, String> {
        let _ = (state, from, correlation, request);
        Err("this actor does not handle requests".into())
    }

    /// The reply to (or failure of) a request this actor made with [`request`].
    fn on_reply(
        state: &mut Self::State,
        correlation: u64,
        reply: Result<Vec<u8>, RequestError>,
    ) -> Result<(), String> {
        let _ = (state, correlation, reply);
        Ok(())
    }

    /// A child exited (before the restart strategy applies).
    fn on_child_exit(
        state: &mut Self::State,
        child: ActorId,
        reason: ExitReason,
    ) -> Result<(), String> {
        let _ = (state, child, reason);
        Ok(())
    }
}

/// Exports `$actor` (a type implementing [`Actor`]) as the component's world.
#[macro_export]
macro_rules! actor {
    ($actor:ty) => {
        struct __TheaterExport;

        impl $crate::bindings::Guest for __TheaterExport {
            fn init(args: Vec<u8>) -> Result<Vec<u8>, String> {
                $crate::glue::init::<$actor>(args)
            }
            fn handle_message(
                state: Vec<u8>,
                sender: $crate::Sender,
                message: Vec<u8>,
            ) -> Result<Vec<u8>, String> {
                $crate::glue::message::<$actor>(state, sender, message)
            }
            fn handle_request(
                state: Vec<u8>,
                sender: $crate::Sender,
                correlation: u64,
                request: Vec<u8>,
            ) -> Result<$crate::bindings::RequestOutcome, String> {
                $crate::glue::request::<$actor>(state, sender, correlation, request)
            }
            fn handle_reply(
                state: Vec<u8>,
                correlation: u64,
                reply: Result<Vec<u8>, $crate::RequestError>,
            ) -> Result<Vec<u8>, String> {
                $crate::glue::reply::<$actor>(state, correlation, reply)
            }
            fn handle_child_exit(
                state: Vec<u8>,
                child: $crate::ActorId,
                reason: $crate::ExitReason,
            ) -> Result<Vec<u8>, String> {
                $crate::glue::child_exit::<$actor>(state, child, reason)
            }
        }

        $crate::bindings::export!(__TheaterExport with_types_in $crate::bindings);
    };
}

/// The generic halves of the exports; used by [`actor!`].
#[doc(hidden)]
pub mod glue {
    use super::*;

    fn load<A: Actor>(state: &[u8]) -> Result<A::State, String> {
        serde_json::from_slice(state).map_err(|e| format!("state does not decode: {e}"))
    }

    fn store<A: Actor>(state: &A::State) -> Result<Vec<u8>, String> {
        serde_json::to_vec(state).map_err(|e| format!("state does not encode: {e}"))
    }

    pub fn init<A: Actor>(args: Vec<u8>) -> Result<Vec<u8>, String> {
        store::<A>(&A::init(&args)?)
    }

    pub fn message<A: Actor>(
        state: Vec<u8>,
        from: Sender,
        msg: Vec<u8>,
    ) -> Result<Vec<u8>, String> {
        let mut s = load::<A>(&state)?;
        A::on_message(&mut s, from, &msg)?;
        store::<A>(&s)
    }

    pub fn request<A: Actor>(
        state: Vec<u8>,
        from: Sender,
        correlation: u64,
        req: Vec<u8>,
    ) -> Result<bindings::RequestOutcome, String> {
        let mut s = load::<A>(&state)?;
        let reply = A::on_request(&mut s, from, correlation, &req)?;
        Ok(bindings::RequestOutcome {
            state: store::<A>(&s)?,
            reply,
        })
    }

    pub fn reply<A: Actor>(
        state: Vec<u8>,
        correlation: u64,
        reply: Result<Vec<u8>, RequestError>,
    ) -> Result<Vec<u8>, String> {
        let mut s = load::<A>(&state)?;
        A::on_reply(&mut s, correlation, reply)?;
        store::<A>(&s)
    }

    pub fn child_exit<A: Actor>(
        state: Vec<u8>,
        child: ActorId,
        reason: ExitReason,
    ) -> Result<Vec<u8>, String> {
        let mut s = load::<A>(&state)?;
        A::on_child_exit(&mut s, child, reason)?;
        store::<A>(&s)
    }
}

/// Encodes a message value as JSON (the convention of the example actors).
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

/// Decodes a JSON message value.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("message does not decode: {e}"))
}

/// Appends a line to this actor's log (recorded as an output).
pub fn log(level: Level, message: &str) {
    runtime::log(level, message);
}

/// This actor's id.
pub fn self_id() -> ActorId {
    runtime::self_id()
}

/// The current time in nanoseconds (virtual in simulated runs; recorded).
pub fn now() -> u64 {
    runtime::now()
}

/// `len` random bytes (seeded in simulated runs; recorded).
pub fn random_bytes(len: u32) -> Vec<u8> {
    runtime::random_bytes(len)
}

/// Sends a one-way message.
pub fn send(to: ActorId, payload: &[u8]) -> Result<(), SendError> {
    messaging::send(to, payload)
}

/// Sends a request; the reply comes to [`Actor::on_reply`] with the returned id.
pub fn request(to: ActorId, payload: &[u8]) -> Result<u64, SendError> {
    messaging::request(to, payload)
}

/// Answers a request received earlier (a deferred reply).
pub fn reply(correlation: u64, payload: &[u8]) -> Result<(), SendError> {
    messaging::reply(correlation, payload)
}

/// Delivers `payload` to this actor after `delay_ns` of virtual time; returns the timer id.
pub fn set_timer(delay_ns: u64, payload: &[u8]) -> u64 {
    timers::set_timer(delay_ns, payload)
}

/// Spawns a child actor from a component named in the manifest.
pub fn spawn(
    name: &str,
    component: &str,
    init_args: &[u8],
    restart: RestartPolicy,
) -> Result<ActorId, SupervisionError> {
    supervision::spawn(&ChildSpec {
        name: name.into(),
        component: component.into(),
        init_args: init_args.to_vec(),
        restart,
    })
}

/// Sets this actor's supervision strategy and restart intensity.
pub fn configure(config: SupervisorConfig) {
    supervision::configure(config)
}

/// This actor's children, in spawn order.
pub fn children() -> Vec<ChildInfo> {
    supervision::list_children()
}

/// Stops a child.
pub fn stop(child: ActorId) -> Result<(), SupervisionError> {
    supervision::stop(child)
}

/// HTTP: requests that `theater run --http` routes to this actor, and outbound calls.
///
/// A routed request arrives at [`Actor::on_request`]; its payload is the JSON of a
/// [`http::Request`] ([`http::parse`]), and the reply must be the JSON of a
/// [`http::Response`] ([`http::respond`]), now or later with [`reply`].
pub mod http {
    use crate::bindings::theater::actor::http_client;

    pub use theater_wire::{
        Body, Headers, IngressRequest as Request, IngressResponse as Response, OutboundError,
        OutboundRequest, OutboundResponse,
    };

    /// Decodes a routed request.
    pub fn parse(request: &[u8]) -> Result<Request, String> {
        serde_json::from_slice(request).map_err(|e| format!("not an HTTP request: {e}"))
    }

    /// Encodes a response as the reply to a routed request.
    pub fn respond(response: &Response) -> Vec<u8> {
        serde_json::to_vec(response).unwrap_or_default()
    }

    /// Sends an outbound request (the actor needs the `http-client` grant). The whole
    /// system waits for the response; it is recorded, and a replay serves it from the
    /// trace.
    pub fn send(request: &OutboundRequest) -> Result<OutboundResponse, OutboundError> {
        let r = http_client::send(&http_client::Request {
            method: request.method.clone(),
            url: request.url.clone(),
            headers: request.headers.clone(),
            body: request.body.0.clone(),
        });
        match r {
            Ok(r) => Ok(OutboundResponse {
                status: r.status,
                headers: r.headers,
                body: Body(r.body),
            }),
            Err(http_client::HttpError::InvalidRequest(m)) => Err(OutboundError::InvalidRequest(m)),
            Err(http_client::HttpError::TooLarge) => Err(OutboundError::TooLarge),
            Err(http_client::HttpError::Timeout) => Err(OutboundError::Timeout),
            Err(http_client::HttpError::Connection(m)) => Err(OutboundError::Connection(m)),
            Err(http_client::HttpError::Unavailable) => Err(OutboundError::Unavailable),
        }
    }

    /// `GET url`.
    pub fn get(url: &str) -> Result<OutboundResponse, OutboundError> {
        send(&OutboundRequest {
            method: "GET".into(),
            url: url.into(),
            headers: Vec::new(),
            body: Body::default(),
        })
    }
}
