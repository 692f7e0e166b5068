//! HTTP ingress for `theater run --http`: real clients talk to actors.
//!
//! Two threads, one rule: **actors run only on the scheduler's thread.**
//!
//! - The *server thread* (`server`) runs hyper's HTTP/1 server on a single-threaded tokio runtime.
//!   It parses requests, enforces the [`IngressLimits`] (header and body size and time,
//!   connections, queue), routes each request by path prefix to a top-level actor and
//!   hands it to the scheduler as an [`Incoming`] request, then waits for the
//!   [`Answer`]. Everything it turns away is reported as a [`ToScheduler::Dropped`].
//! - The *scheduler thread* (the caller of [`Exchange`], in `exchange`) offers each request to the
//!   system as an external request, in the order they arrive (that order is the input
//!   order the trace records), runs the system until idle, and sends each reply back.
//!   It records what the server dropped, and requests whose client left or whose reply
//!   did not come in time.
//!
//! A routed request's payload is the JSON of a [`theater_wire::IngressRequest`]; the
//! actor's reply must be the JSON of a [`theater_wire::IngressResponse`]. The
//! response carries the request's correlation id in the `theater-request` header, the
//! number to look for in the trace.
//!
//! hyper is the server because it is the most used and most scrutinised HTTP
//! implementation in Rust, with a strict parser, header size and header read time
//! limits, and no opinions about routing or threads; `docs/ARCHITECTURE.md` says more.

use serde::Deserialize;
use std::net::SocketAddr;
use theater_runtime::RequestFailure;
use theater_trace::{ActorId, DropReason};

mod exchange;
mod server;

pub use exchange::Exchange;
pub(crate) use server::header_pairs;
pub use server::{start, Server};

/// A manifest route: requests whose path is `prefix` or starts with `prefix/` go to the
/// top-level actor `actor`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub prefix: String,
    pub actor: String,
}

/// The ingress limits, each with a `*_DEFAULT`. `docs/limits.md` says what happens at
/// each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngressLimits {
    /// Largest request body, in bytes. Larger: 413, recorded as too large. (The request
    /// as a message must also fit the runtime's `message_bytes`.)
    pub body_bytes: u64,
    /// Largest request head (request line and headers), in bytes. Larger: 431.
    pub header_bytes: u64,
    /// Time for a client to send the request head from connecting, in milliseconds.
    /// Slower: the connection is closed, recorded as timed out.
    pub header_timeout_ms: u64,
    /// Time for a client to send the body once the head arrived, in milliseconds.
    /// Slower: 408, recorded as timed out.
    pub body_timeout_ms: u64,
    /// Time the server waits for the actor's reply, in milliseconds. Longer: 504,
    /// recorded (a late reply is still the actor's recorded output).
    pub reply_timeout_ms: u64,
    /// Open connections. Further clients wait to be accepted.
    pub connections: u32,
    /// Requests waiting for the scheduler. Beyond: 503, recorded as busy.
    pub queue_len: u32,
}

impl IngressLimits {
    pub const BODY_BYTES_DEFAULT: u64 = 256 << 10;
    pub const HEADER_BYTES_DEFAULT: u64 = 16 << 10;
    pub const HEADER_TIMEOUT_MS_DEFAULT: u64 = 5_000;
    pub const BODY_TIMEOUT_MS_DEFAULT: u64 = 10_000;
    pub const REPLY_TIMEOUT_MS_DEFAULT: u64 = 10_000;
    pub const CONNECTIONS_DEFAULT: u32 = 512;
    pub const QUEUE_LEN_DEFAULT: u32 = 1024;
}

impl Default for IngressLimits {
    fn default() -> IngressLimits {
        IngressLimits {
            body_bytes: IngressLimits::BODY_BYTES_DEFAULT,
            header_bytes: IngressLimits::HEADER_BYTES_DEFAULT,
            header_timeout_ms: IngressLimits::HEADER_TIMEOUT_MS_DEFAULT,
            body_timeout_ms: IngressLimits::BODY_TIMEOUT_MS_DEFAULT,
            reply_timeout_ms: IngressLimits::REPLY_TIMEOUT_MS_DEFAULT,
            connections: IngressLimits::CONNECTIONS_DEFAULT,
            queue_len: IngressLimits::QUEUE_LEN_DEFAULT,
        }
    }
}

/// A manifest's `[http]` section.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpConfig {
    pub routes: Vec<Route>,
    pub limits: IngressLimits,
}

/// The actor for `path`: the longest prefix that equals the path or is followed in it by
/// `/`. The prefix `/` matches every path.
pub fn route(routes: &[(String, ActorId)], path: &str) -> Option<ActorId> {
    routes
        .iter()
        .filter(|(prefix, _)| {
            prefix == "/"
                || path
                    .strip_prefix(prefix.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|(_, actor)| *actor)
}

/// What the scheduler sends back for a request.
#[derive(Debug)]
pub enum Answer {
    /// The actor's reply (the JSON of an `IngressResponse`), or why the request failed
    /// inside the system.
    Reply {
        correlation: u64,
        answer: Result<Vec<u8>, RequestFailure>,
    },
    /// The system refused the request (recorded as refused).
    Refused { status: u16, why: String },
}

/// A request for the scheduler.
#[derive(Debug)]
pub struct Incoming {
    pub actor: ActorId,
    /// The JSON of the [`IngressRequest`].
    pub payload: Vec<u8>,
    /// `METHOD /path?query (N B)`, for the trace when the request is dropped later.
    pub summary: String,
    pub answer: tokio::sync::oneshot::Sender<Answer>,
}

/// What the server thread sends the scheduler.
#[derive(Debug)]
pub enum ToScheduler {
    Request(Incoming),
    /// Traffic that never became an input.
    Dropped {
        request: String,
        reason: DropReason,
    },
    /// SIGINT or SIGTERM: stop serving and end the run.
    Shutdown(&'static str),
    /// The recording has flushed (and synced) this many events: durable replies
    /// waiting for them can go.
    Synced(u64),
}

/// The line `theater run --http` prints on standard error once it listens: scripts and
/// tests read the address from it ([`served_address`]).
pub fn serving_line(addr: SocketAddr) -> String {
    format!("theater: serving http://{addr} (stop with Ctrl-C or SIGTERM)")
}

/// The address in a [`serving_line`].
pub fn served_address(line: &str) -> Option<SocketAddr> {
    line.split("serving http://")
        .nth(1)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_serving_line_names_its_address() {
        let addr: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert_eq!(served_address(&serving_line(addr)), Some(addr));
        assert_eq!(served_address("theater: something else"), None);
    }

    #[test]
    fn the_longest_prefix_on_a_segment_boundary_wins() {
        let routes = vec![
            ("/kv".to_string(), 1),
            ("/kv/admin".to_string(), 2),
            ("/".to_string(), 3),
        ];
        assert_eq!(route(&routes, "/kv"), Some(1));
        assert_eq!(route(&routes, "/kv/a"), Some(1));
        assert_eq!(route(&routes, "/kv/admin/x"), Some(2));
        assert_eq!(route(&routes, "/kvx"), Some(3));
        assert_eq!(route(&routes[..2], "/kvx"), None);
        assert_eq!(route(&routes[..2], "/"), None);
    }
}
