//! HTTP ingress for `theater run --http`: real clients talk to actors.
//!
//! Two threads, one rule: **actors run only on the scheduler's thread.**
//!
//! - The *server thread* runs hyper's HTTP/1 server on a single-threaded tokio runtime.
//!   It parses requests, enforces the [`IngressLimits`] (header and body size and time,
//!   connections, queue), routes each request by path prefix to a top-level actor and
//!   hands it to the scheduler as an [`Incoming`] request, then waits for the
//!   [`Answer`]. Everything it turns away is reported as a [`ToScheduler::Dropped`].
//! - The *scheduler thread* (the caller of [`Exchange`]) offers each request to the
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

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming as IncomingBody};
use hyper::{Request, Response, StatusCode};
use serde::Deserialize;
use theater_runtime::{ActorStatus, RuntimeError, System};
use theater_trace::{ActorId, DropReason};
use theater_wire::{Body, IngressRequest, IngressResponse};

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
    /// The actor answered (`ok`), or the request failed inside the system (`!ok`: the
    /// handler failed or the actor exited; the payload says which, as JSON).
    Reply {
        correlation: u64,
        ok: bool,
        payload: Vec<u8>,
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
}

/// The running server thread.
#[derive(Debug)]
pub struct Server {
    /// The address it listens on (with the real port when asked for port 0).
    pub addr: SocketAddr,
    pub rx: mpsc::Receiver<ToScheduler>,
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

/// Binds `addr` and starts serving `routes` on a thread of its own.
pub fn start(
    addr: &str,
    routes: Vec<(String, ActorId)>,
    limits: IngressLimits,
) -> std::io::Result<Server> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let local = listener.local_addr()?;
    let (tx, rx) = mpsc::channel();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // The signal handlers are installed before `start` returns, so a signal sent as soon
    // as the address is printed already ends the run cleanly.
    let signals = {
        use tokio::signal::unix::{signal, SignalKind};
        let _context = runtime.enter();
        (
            signal(SignalKind::interrupt())?,
            signal(SignalKind::terminate())?,
        )
    };
    std::thread::Builder::new()
        .name("theater-http".into())
        .spawn(move || {
            runtime.block_on(async move {
                let shared = Arc::new(Shared {
                    routes,
                    limits,
                    tx,
                    queued: AtomicUsize::new(0),
                });
                let stop = shared.clone();
                let (mut interrupt, mut terminate) = signals;
                tokio::spawn(async move {
                    let why = tokio::select! {
                        _ = interrupt.recv() => "interrupted",
                        _ = terminate.recv() => "terminated",
                    };
                    let _ = stop.tx.send(ToScheduler::Shutdown(why));
                });
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(listener) => accept_loop(listener, shared).await,
                    Err(e) => eprintln!("theater: http: {e}"),
                }
            })
        })?;
    Ok(Server { addr: local, rx })
}

/// What every connection of the server shares.
struct Shared {
    routes: Vec<(String, ActorId)>,
    limits: IngressLimits,
    tx: mpsc::Sender<ToScheduler>,
    /// Requests handed to the scheduler and not answered yet.
    queued: AtomicUsize,
}

impl Shared {
    fn dropped(&self, request: String, reason: DropReason) {
        let _ = self.tx.send(ToScheduler::Dropped { request, reason });
    }
}

async fn accept_loop(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    let slots = Arc::new(tokio::sync::Semaphore::new(
        shared.limits.connections.max(1) as usize,
    ));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            // Out of file descriptors and the like: wait a little rather than spin.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        tokio::spawn(async move {
            connection(stream, shared).await;
            drop(permit);
        });
    }
}

/// Serves one connection; reports what went wrong on it that no request handler saw.
async fn connection(stream: tokio::net::TcpStream, shared: Arc<Shared>) {
    let limits = shared.limits;
    // Set when a handler already reported the connection's trouble, so it is not
    // reported twice; and how many requests completed, to tell an idle keep-alive
    // connection timing out (not worth a record) from a slow client.
    let reported = Arc::new(AtomicBool::new(false));
    let (started, served) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let service = {
        let (shared, reported) = (shared.clone(), reported.clone());
        let (started, served) = (started.clone(), served.clone());
        hyper::service::service_fn(move |req| {
            let (shared, reported) = (shared.clone(), reported.clone());
            let (started, served) = (started.clone(), served.clone());
            async move {
                started.fetch_add(1, Ordering::Relaxed);
                let response = handle(req, &shared, &reported).await;
                served.fetch_add(1, Ordering::Relaxed);
                Ok::<_, Infallible>(response)
            }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(Duration::from_millis(limits.header_timeout_ms))
        .max_buf_size((limits.header_bytes as usize).max(8192));
    let result = builder
        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
        .await;
    let Err(e) = result else { return };
    // A handler that was still waiting for its reply when the connection broke leaves
    // the record to the scheduler, which knows the request's correlation id.
    if reported.load(Ordering::Relaxed)
        || started.load(Ordering::Relaxed) > served.load(Ordering::Relaxed)
    {
        return;
    }
    let reason = if e.is_timeout() {
        if served.load(Ordering::Relaxed) > 0 {
            return; // an idle keep-alive connection closed: nothing was lost
        }
        DropReason::TimedOut {
            limit_ms: limits.header_timeout_ms,
        }
    } else if e.is_parse_too_large() {
        DropReason::TooLarge {
            limit: limits.header_bytes,
        }
    } else if e.is_parse() || e.is_parse_status() {
        DropReason::Malformed(e.to_string())
    } else if e.is_incomplete_message() {
        DropReason::ClientGone
    } else {
        // Write errors after a response and the like: the client went away.
        return;
    };
    shared.dropped(String::new(), reason);
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_owned())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Handles one request: route, read the body within the limits, hand it to the
/// scheduler, and turn the answer into a response.
async fn handle(
    req: Request<IncomingBody>,
    shared: &Shared,
    reported: &AtomicBool,
) -> Response<Full<Bytes>> {
    let limits = shared.limits;
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let line = if query.is_empty() {
        format!("{method} {path}")
    } else {
        format!("{method} {path}?{query}")
    };
    let Some(actor) = route(&shared.routes, &path) else {
        shared.dropped(line, DropReason::NoRoute);
        return text(
            StatusCode::NOT_FOUND,
            "no route to an actor for this path\n",
        );
    };
    let too_large = |n: String| {
        shared.dropped(
            n,
            DropReason::TooLarge {
                limit: limits.body_bytes,
            },
        );
        text(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!(
                "request bodies are limited to {} bytes\n",
                limits.body_bytes
            ),
        )
    };
    let declared = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.body_bytes) {
        return too_large(format!("{line} ({} B declared)", declared.unwrap_or(0)));
    }
    let headers = header_pairs(req.headers());
    let body = Limited::new(req.into_body(), limits.body_bytes as usize).collect();
    let body = match tokio::time::timeout(Duration::from_millis(limits.body_timeout_ms), body).await
    {
        Err(_) => {
            reported.store(true, Ordering::Relaxed);
            shared.dropped(
                line,
                DropReason::TimedOut {
                    limit_ms: limits.body_timeout_ms,
                },
            );
            return text(
                StatusCode::REQUEST_TIMEOUT,
                "the request body was too slow\n",
            );
        }
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            reported.store(true, Ordering::Relaxed);
            return too_large(format!("{line} (more than {} B)", limits.body_bytes));
        }
        Ok(Err(_)) => {
            reported.store(true, Ordering::Relaxed);
            shared.dropped(line, DropReason::ClientGone);
            return text(StatusCode::BAD_REQUEST, "the request body is incomplete\n");
        }
        Ok(Ok(collected)) => collected.to_bytes(),
    };
    let summary = format!("{line} ({} B)", body.len());
    let limit = limits.queue_len as usize;
    if shared.queued.fetch_add(1, Ordering::Relaxed) >= limit {
        shared.queued.fetch_sub(1, Ordering::Relaxed);
        shared.dropped(
            summary,
            DropReason::Busy {
                limit: limit as u64,
            },
        );
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many requests waiting\n",
        );
    }
    let payload = serde_json::to_vec(&IngressRequest {
        method,
        path,
        query,
        headers,
        body: Body(body.to_vec()),
    })
    .expect("requests serialize");
    let (answer, waiting) = tokio::sync::oneshot::channel();
    let sent = shared.tx.send(ToScheduler::Request(Incoming {
        actor,
        payload,
        summary,
        answer,
    }));
    let answer = match sent {
        Err(_) => None,
        Ok(()) => Some(
            tokio::time::timeout(Duration::from_millis(limits.reply_timeout_ms), waiting).await,
        ),
    };
    shared.queued.fetch_sub(1, Ordering::Relaxed);
    match answer {
        Some(Ok(Ok(answer))) => respond(answer),
        Some(Err(_)) => text(
            StatusCode::GATEWAY_TIMEOUT,
            "the actor did not reply in time\n",
        ),
        None | Some(Ok(Err(_))) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the runtime is shutting down\n",
        ),
    }
}

/// Headers as (name, value) pairs in their order, values that are not UTF-8 made so.
pub(crate) fn header_pairs(headers: &hyper::HeaderMap) -> theater_wire::Headers {
    headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// The HTTP response for a scheduler's answer.
fn respond(answer: Answer) -> Response<Full<Bytes>> {
    let (correlation, ok, payload) = match answer {
        Answer::Refused { status, why } => {
            return text(
                StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
                &format!("{why}\n"),
            )
        }
        Answer::Reply {
            correlation,
            ok,
            payload,
        } => (correlation, ok, payload),
    };
    let mut response = if !ok {
        // `"target-exited"` or `{"handler-failed": "…"}`, see ExternalReply.
        match serde_json::from_slice::<serde_json::Value>(&payload) {
            Ok(serde_json::Value::Object(m)) => text(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!(
                    "the actor failed: {}\n",
                    m.get("handler-failed")
                        .and_then(|v| v.as_str())
                        .unwrap_or("(no reason)")
                ),
            ),
            _ => text(
                StatusCode::SERVICE_UNAVAILABLE,
                "the actor exited before replying\n",
            ),
        }
    } else {
        match build(&payload) {
            Ok(r) => r,
            Err(why) => text(
                StatusCode::BAD_GATEWAY,
                &format!("the actor's reply is not an HTTP response: {why}\n"),
            ),
        }
    };
    if let Ok(v) = hyper::header::HeaderValue::from_str(&correlation.to_string()) {
        response.headers_mut().insert("theater-request", v);
    }
    response
}

fn build(payload: &[u8]) -> Result<Response<Full<Bytes>>, String> {
    let r: IngressResponse = serde_json::from_slice(payload).map_err(|e| e.to_string())?;
    let status = StatusCode::from_u16(r.status).map_err(|e| format!("status {}: {e}", r.status))?;
    let mut response = Response::new(Full::new(Bytes::from(r.body.0)));
    *response.status_mut() = status;
    for (name, value) in r.headers {
        let name = hyper::header::HeaderName::from_bytes(name.as_bytes())
            .map_err(|e| format!("header {name:?}: {e}"))?;
        let value = hyper::header::HeaderValue::from_str(&value)
            .map_err(|e| format!("header {name}: {e}"))?;
        response.headers_mut().append(name, value);
    }
    Ok(response)
}

/// A request accepted into the system and waiting for its reply.
#[derive(Debug)]
struct Waiting {
    answer: tokio::sync::oneshot::Sender<Answer>,
    summary: String,
    since: Instant,
}

/// The scheduler's side of the ingress: offers requests to the system, sends replies
/// back, and records what was dropped.
#[derive(Debug)]
pub struct Exchange {
    waiting: BTreeMap<u64, Waiting>,
    limits: IngressLimits,
    message_bytes: u64,
    /// Requests offered so far.
    pub requests: u64,
    /// Requests the system refused.
    pub refused: u64,
    /// Events recorded for dropped traffic.
    pub dropped: u64,
}

impl Exchange {
    pub fn new(limits: IngressLimits, message_bytes: u64) -> Exchange {
        Exchange {
            waiting: BTreeMap::new(),
            limits,
            message_bytes,
            requests: 0,
            refused: 0,
            dropped: 0,
        }
    }

    /// Offers a request to its actor (recorded as an input, or as refused).
    pub fn offer(&mut self, system: &mut System, req: Incoming) -> Result<(), RuntimeError> {
        self.requests += 1;
        let len = req.payload.len() as u64;
        match system.inject_request(req.actor, req.payload)? {
            Some(correlation) => {
                self.waiting.insert(
                    correlation,
                    Waiting {
                        answer: req.answer,
                        summary: req.summary,
                        since: Instant::now(),
                    },
                );
            }
            None => {
                self.refused += 1;
                let (status, why) = match system.actor(req.actor) {
                    None | Some((ActorStatus::Exited, _, _)) => {
                        (503, "the actor has exited".to_string())
                    }
                    Some(_) if len > self.message_bytes => (
                        413,
                        format!(
                            "the request is {len} bytes as a message; the limit is {}",
                            self.message_bytes
                        ),
                    ),
                    Some(_) => (503, "the actor's mailbox is full".to_string()),
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

    /// Sends the replies the system produced; a client that left is recorded.
    pub fn deliver(&mut self, system: &mut System) -> Result<(), RuntimeError> {
        for reply in system.take_replies() {
            let Some(w) = self.waiting.remove(&reply.correlation) else {
                continue;
            };
            let correlation = reply.correlation;
            let Waiting {
                answer,
                summary,
                since,
            } = w;
            let sent = answer.send(Answer::Reply {
                correlation,
                ok: reply.ok,
                payload: reply.payload,
            });
            if sent.is_err() {
                self.lost(system, correlation, summary, since)?;
            }
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

    fn answer(status: u16, ok: bool, payload: &[u8]) -> (u16, String) {
        let r = respond(Answer::Reply {
            correlation: 7,
            ok,
            payload: payload.to_vec(),
        });
        assert_eq!(r.status().as_u16(), status);
        assert_eq!(r.headers()["theater-request"], "7");
        (status, body_text(r))
    }

    fn body_text(r: Response<Full<Bytes>>) -> String {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let bytes = rt.block_on(r.into_body().collect()).unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn each_answer_becomes_a_clear_status() {
        let ok = serde_json::to_vec(&IngressResponse::text(201, "made")).unwrap();
        assert_eq!(answer(201, true, &ok).1, "made");
        let failed = answer(500, false, br#"{"handler-failed": "boom"}"#).1;
        assert!(failed.contains("the actor failed: boom"), "{failed}");
        let exited = answer(503, false, br#""target-exited""#).1;
        assert!(exited.contains("exited before replying"), "{exited}");
        let garbage = answer(502, true, b"not json").1;
        assert!(garbage.contains("not an HTTP response"), "{garbage}");
        let status = answer(502, true, br#"{"status": 1000}"#).1;
        assert!(status.contains("status 1000"), "{status}");
        let header = answer(
            502,
            true,
            br#"{"status": 200, "headers": [["bad name", "x"]]}"#,
        )
        .1;
        assert!(header.contains("header"), "{header}");
        let refused = respond(Answer::Refused {
            status: 413,
            why: "too big".into(),
        });
        assert_eq!(refused.status().as_u16(), 413);
    }

    #[test]
    fn the_system_refuses_what_it_cannot_take_with_the_right_status() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/manifests/kv.toml"
        );
        let mut spec = crate::manifest::load(std::path::Path::new(path)).unwrap();
        spec.limits.mailbox_len = 2;
        spec.limits.message_bytes = 400;
        let mut system = System::new(&spec, theater_runtime::Sink::Off).unwrap();
        system.run_until_idle(100).unwrap();
        let api = system.actor_id("api").unwrap();
        let mut exchange = Exchange::new(IngressLimits::default(), spec.limits.message_bytes);
        let mut offer = |system: &mut System, actor: ActorId, len: usize| {
            let (tx, mut rx) = tokio::sync::oneshot::channel();
            exchange
                .offer(
                    system,
                    Incoming {
                        actor,
                        payload: vec![b' '; len],
                        summary: String::new(),
                        answer: tx,
                    },
                )
                .unwrap();
            match rx.try_recv() {
                Ok(Answer::Refused { status, why }) => Some((status, why)),
                _ => None,
            }
        };
        assert_eq!(offer(&mut system, api, 10), None);
        assert_eq!(offer(&mut system, api, 10), None);
        let (status, why) = offer(&mut system, api, 10).unwrap();
        assert_eq!((status, why.as_str()), (503, "the actor's mailbox is full"));
        let (status, why) = offer(&mut system, api, 500).unwrap();
        assert_eq!(status, 413, "{why}");
        let (status, why) = offer(&mut system, 99, 10).unwrap();
        assert_eq!((status, why.as_str()), (503, "the actor has exited"));
        assert_eq!((exchange.requests, exchange.refused), (5, 3));
        assert_eq!(exchange.waiting(), 2);
    }
}
