//! The server thread: hyper's HTTP/1 server on a single-threaded tokio runtime. It
//! parses requests, enforces the [`IngressLimits`], routes each by path prefix to a
//! top-level actor, hands it to the scheduler and waits for the [`Answer`], which it
//! turns into the HTTP response. It never runs actor code.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming as IncomingBody};
use hyper::{Request, Response, StatusCode};
use theater_runtime::RequestFailure;
use theater_trace::{ActorId, DropReason};
use theater_wire::{Body, IngressRequest, IngressResponse};

use super::{route, Answer, Incoming, IngressLimits, ToScheduler};

/// The running server thread.
#[derive(Debug)]
pub struct Server {
    /// The address it listens on (with the real port when asked for port 0).
    pub addr: SocketAddr,
    pub rx: mpsc::Receiver<ToScheduler>,
    /// Puts [`ToScheduler::Synced`] into `rx` (durable replies: the recorder thread
    /// wakes the scheduler when a sync completes).
    tx: mpsc::Sender<ToScheduler>,
    thread: std::thread::JoinHandle<()>,
}

impl Server {
    /// A handle that wakes the scheduler waiting on `rx`.
    pub fn waker(&self) -> impl Fn(u64) + Send + 'static {
        let tx = self.tx.clone();
        move |events| {
            let _ = tx.send(ToScheduler::Synced(events));
        }
    }

    /// Whether the server thread has ended (it only does on an error).
    pub fn stopped(&self) -> bool {
        self.thread.is_finished()
    }
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
    let waker = tx.clone();
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
    let thread = std::thread::Builder::new()
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
    Ok(Server {
        addr: local,
        rx,
        tx: waker,
        thread,
    })
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
    let (correlation, answer) = match answer {
        Answer::Refused { status, why } => {
            return text(
                StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
                &format!("{why}\n"),
            )
        }
        Answer::Reply {
            correlation,
            answer,
        } => (correlation, answer),
    };
    let mut response = match answer {
        Err(RequestFailure::HandlerFailed(why)) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("the actor failed: {why}\n"),
        ),
        Err(RequestFailure::TargetExited) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the actor exited before replying\n",
        ),
        Ok(payload) => match build(&payload) {
            Ok(r) => r,
            Err(why) => text(
                StatusCode::BAD_GATEWAY,
                &format!("the actor's reply is not an HTTP response: {why}\n"),
            ),
        },
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

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, answer: Result<&[u8], RequestFailure>) -> (u16, String) {
        let r = respond(Answer::Reply {
            correlation: 7,
            answer: answer.map(<[u8]>::to_vec),
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
        assert_eq!(answer(201, Ok(&ok)).1, "made");
        let failed = answer(500, Err(RequestFailure::HandlerFailed("boom".into()))).1;
        assert_eq!(failed, "the actor failed: boom\n");
        let exited = answer(503, Err(RequestFailure::TargetExited)).1;
        assert_eq!(exited, "the actor exited before replying\n");
        let garbage = answer(502, Ok(b"not json")).1;
        assert!(garbage.contains("not an HTTP response"), "{garbage}");
        let status = answer(502, Ok(br#"{"status": 1000}"#)).1;
        assert!(status.contains("status 1000"), "{status}");
        let header = answer(
            502,
            Ok(br#"{"status": 200, "headers": [["bad name", "x"]]}"#),
        )
        .1;
        assert!(header.contains("header"), "{header}");
        let refused = respond(Answer::Refused {
            status: 413,
            why: "too big".into(),
        });
        assert_eq!(refused.status().as_u16(), 413);
    }
}
