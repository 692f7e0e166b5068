//! Production traffic, end to end: `theater run --http` serves the key-value example to
//! real HTTP clients (concurrent ones, an actor calling a real upstream service, and
//! clients that misbehave), is stopped with SIGTERM, and the trace it wrote replays to
//! the same chain head with no network (in an empty network namespace when `unshare`
//! can make one). Then a person steps through the HTTP requests in the REPL.
//!
//! Needs the `theater` binary next to `theater-replay` (`cargo test --workspace` builds
//! both) and tmux.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use theater_trace::{DropReason, EventBody, HostFunction, MessageKind, Trace};

use theater_testkit::{repo, scratch};

fn replay_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_theater-replay"))
}

fn theater_bin() -> PathBuf {
    let bin = replay_bin().with_file_name("theater");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo test --workspace` (or `cargo build -p theater` first)",
        bin.display()
    );
    bin
}

/// A real upstream service on loopback: answers every request with a fixed body.
struct Upstream {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<u32>>,
}

impl Upstream {
    fn start() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut served = 0;
            for stream in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut stream) = stream else { continue };
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                    head.push(byte[0]);
                }
                let body = "upstream says hi";
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                served += 1;
            }
            served
        });
        Upstream {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    /// Stops listening; returns how many requests it served.
    fn stop(mut self) -> u32 {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        self.thread.take().unwrap().join().unwrap()
    }
}

/// The kv example's manifest with short ingress limits, so slow clients time out fast.
fn manifest(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(repo().join("fixtures/manifests/kv.toml")).unwrap();
    let component = repo().join("fixtures/components/kv.wasm");
    let text = text.replace(
        "\"../components/kv.wasm\"",
        &format!("{:?}", component.display().to_string()),
    )
        + "\n[http.limits]\nbody_bytes = 4096\nheader_timeout_ms = 400\nbody_timeout_ms = 400\n";
    let path = dir.join("kv.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `theater run --http` on a free loopback port; returns the process and the address.
fn serve(manifest: &Path, trace: &Path) -> (Child, SocketAddr) {
    let served = theater_testkit::http::serve(
        Command::new(theater_bin())
            .args(["run", manifest.to_str().unwrap(), "--http", "127.0.0.1:0"])
            .args(["--record", trace.to_str().unwrap(), "--force"])
            .stdout(Stdio::piped()),
        theater::ingress::served_address,
    );
    (served.child, served.addr)
}

/// Stops `theater run` with SIGTERM; checks it ended the run cleanly and returns its
/// summary (standard output).
fn terminate(mut child: Child) -> String {
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    assert!(status.success(), "{status:?}\n{stdout}");
    assert!(stdout.contains("run ended: terminated"), "{stdout}");
    stdout
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// A request with a real HTTP client: status and body.
fn call(agent: &ureq::Agent, method: &str, url: &str, body: &str) -> (u16, String) {
    let request = ureq::http::Request::builder()
        .method(method)
        .uri(url)
        .body(body.as_bytes().to_vec())
        .unwrap();
    let mut response = agent.run(request).unwrap();
    let status = response.status().as_u16();
    (status, response.body_mut().read_to_string().unwrap())
}

/// Writes raw bytes, optionally waits, and reads what comes back until the server
/// closes the connection (or a response head arrives).
fn raw(addr: SocketAddr, bytes: &[u8], wait: Duration, close: bool) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(bytes).unwrap();
    std::thread::sleep(wait);
    if close {
        return String::new();
    }
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
        if out.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Waits until the trace being recorded at `path` holds an event for which `found`
/// holds (the recorder flushes on an interval); panics after a minute.
fn wait_for_event(path: &Path, found: impl Fn(&EventBody) -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let seen = Trace::open(path)
            .map(|t| t.events().any(|e| e.is_ok_and(|e| found(&e.event.body))))
            .unwrap_or(false);
        if seen {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the event never reached {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether this machine lets an unprivileged `unshare` make an empty network namespace.
fn can_unshare() -> bool {
    Command::new("unshare")
        .args(["-rn", "true"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn http_traffic_is_recorded_and_replays_offline() {
    let dir = scratch("theater-http");
    let trace = dir.join("kv.bin");
    let upstream = Upstream::start();
    let (child, addr) = serve(&manifest(&dir), &trace);
    let base = format!("http://{addr}");

    // Concurrent clients: 8 threads, each writing and reading back its own keys.
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let base = base.clone();
            std::thread::spawn(move || {
                let agent = agent();
                for i in 0..12 {
                    let url = format!("{base}/kv/t{t}-{i}");
                    assert_eq!(call(&agent, "PUT", &url, &format!("v{t}-{i}")).0, 201);
                    assert_eq!(call(&agent, "GET", &url, ""), (200, format!("v{t}-{i}")));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let agent = agent();
    let (status, keys) = call(&agent, "GET", &format!("{base}/kv"), "");
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Vec<String>>(&keys).unwrap().len(),
        96
    );
    assert_eq!(
        call(&agent, "PUT", &format!("{base}/kv/t0-0"), "again").0,
        204
    );
    // An actor calls a real upstream service.
    let fetch = format!("{base}/kv/up?fetch=http://{}/hello", upstream.addr);
    let (status, text) = call(&agent, "POST", &fetch, "");
    assert_eq!(status, 201, "{text}");
    assert_eq!(
        call(&agent, "GET", &format!("{base}/kv/up"), ""),
        (200, "upstream says hi".into())
    );
    // The store crashes: the client gets a 503, the supervisor restarts it, the data
    // (in the store interface) is still there.
    let (status, text) = call(&agent, "POST", &format!("{base}/kv/_crash"), "");
    assert_eq!(status, 503, "{text}");
    assert_eq!(
        call(&agent, "GET", &format!("{base}/kv/t0-1"), ""),
        (200, "v0-1".into())
    );
    assert_eq!(call(&agent, "GET", &format!("{base}/nowhere"), "").0, 404);

    // Misbehaving clients.
    let malformed = raw(addr, b"THIS IS NOT HTTP\r\n\r\n", Duration::ZERO, false);
    assert!(malformed.starts_with("HTTP/1.1 400"), "{malformed:?}");
    let declared = raw(
        addr,
        b"PUT /kv/big HTTP/1.1\r\nhost: x\r\ncontent-length: 100000\r\n\r\n",
        Duration::ZERO,
        false,
    );
    assert!(declared.starts_with("HTTP/1.1 413"), "{declared:?}");
    let mut chunked =
        b"PUT /kv/big HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..5 {
        chunked.extend_from_slice(b"3e8\r\n");
        chunked.extend_from_slice(&[b'x'; 1000]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let streamed = raw(addr, &chunked, Duration::ZERO, false);
    assert!(streamed.starts_with("HTTP/1.1 413"), "{streamed:?}");
    // A slow head: the connection is closed without a response.
    let slow_head = raw(
        addr,
        b"GET /kv HTTP/1.1\r\nhost: x\r\n",
        Duration::from_millis(900),
        false,
    );
    assert!(!slow_head.contains("200"), "{slow_head:?}");
    let slow_body = raw(
        addr,
        b"PUT /kv/slow HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\nabc",
        Duration::from_millis(900),
        false,
    );
    assert!(slow_body.starts_with("HTTP/1.1 408"), "{slow_body:?}");
    raw(
        addr,
        b"PUT /kv/gone HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n0123456789",
        Duration::from_millis(50),
        true,
    );
    // The runtime survived all of it.
    assert_eq!(
        call(&agent, "GET", &format!("{base}/kv/t7-11"), ""),
        (200, "v7-11".into())
    );
    // The last misbehaving client's drop is in the trace (on disk within a flush
    // interval) before the run is stopped.
    wait_for_event(&trace, |e| {
        matches!(e, EventBody::IngressDropped { request, reason: DropReason::ClientGone }
            if request.starts_with("PUT /kv/gone"))
    });

    let stdout = terminate(child);
    assert_eq!(upstream.stop(), 1, "the upstream saw exactly the one fetch");
    let head = stdout
        .split("chain head ")
        .nth(1)
        .unwrap()
        .trim()
        .to_string();

    // What the trace says happened.
    let t = Trace::open(&trace).unwrap();
    let mut requests = 0;
    let mut http_calls = 0;
    let mut drops = Vec::new();
    let (mut first_reply, mut http_call) = (0, 0);
    for e in t.events() {
        let e = e.unwrap();
        let number = e.number;
        match e.event.body {
            EventBody::Outputs(o)
                if first_reply == 0 && o.sent.iter().any(|m| m.to == theater_trace::EXTERNAL) =>
            {
                first_reply = number;
            }
            EventBody::Input(d) if matches!(d.kind, MessageKind::Request { .. }) => requests += 1,
            EventBody::HostCall {
                function: HostFunction::HttpSend,
                ..
            } => {
                http_calls += 1;
                http_call = number;
            }
            EventBody::IngressDropped { request, reason } => drops.push((request, reason)),
            _ => {}
        }
    }
    // 8×12×2 + list + overwrite + fetch + get + crash + get + get.
    assert_eq!(requests, 192 + 7, "{drops:?}");
    assert_eq!(http_calls, 1);
    let has = |f: &dyn Fn(&DropReason) -> bool| drops.iter().any(|(_, r)| f(r));
    assert!(has(&|r| matches!(r, DropReason::NoRoute)), "{drops:?}");
    assert!(has(&|r| matches!(r, DropReason::Malformed(_))), "{drops:?}");
    assert_eq!(
        drops
            .iter()
            .filter(|(req, r)| req.starts_with("PUT /kv/big")
                && *r == DropReason::TooLarge { limit: 4096 })
            .count(),
        2,
        "{drops:?}"
    );
    assert!(
        has(&|r| *r == DropReason::TimedOut { limit_ms: 400 }),
        "{drops:?}"
    );
    assert!(
        drops.iter().any(|(req, r)| req.starts_with("PUT /kv/slow")
            && *r == DropReason::TimedOut { limit_ms: 400 }),
        "{drops:?}"
    );
    assert!(
        drops
            .iter()
            .any(|(req, r)| req.starts_with("PUT /kv/gone") && *r == DropReason::ClientGone),
        "{drops:?}"
    );

    // Replay with networking impossible: same chain head.
    let mut verify = if can_unshare() {
        let mut c = Command::new("unshare");
        c.args(["-rn"]).arg(replay_bin());
        c
    } else {
        eprintln!("note: unshare -rn is not allowed here; replaying with the upstream stopped");
        Command::new(replay_bin())
    };
    let out = verify
        .args(["verify", trace.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("same chain head") && text.contains(&head),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A person steps through the HTTP requests and sees their bodies.
    let pane = common::Pane::start(&trace);
    pane.wait_for("theater #", 1);
    let out = pane.run("break payload /PUT/");
    assert!(out.contains("breakpoint 1"), "{out}");
    let out = pane.run("continue");
    assert!(
        out.contains("breakpoint 1 hit")
            && out.contains("http request: PUT /kv/t")
            && out.contains("body: v"),
        "{out}"
    );
    let out = pane.run("continue");
    assert!(out.contains("http request: PUT /kv/t"), "{out}");
    let out = pane.run(&format!("goto {first_reply}"));
    assert!(out.contains("http response: 201"), "{out}");
    let out = pane.run("break payload /fetch=/");
    assert!(out.contains("breakpoint 2"), "{out}");
    let out = pane.run("delete 1");
    assert!(!out.contains("error"), "{out}");
    let out = pane.run("continue");
    assert!(out.contains("http request: POST /kv/up?fetch="), "{out}");
    let out = pane.run(&format!("goto {http_call}"));
    assert!(
        out.contains("http out: GET http://")
            && out.contains("http in: 200  body: upstream says hi"),
        "{out}"
    );
    pane.quit();
    let _ = std::fs::remove_dir_all(&dir);
}

/// The kv manifest with tight limits for `ingress_limits_hold_at_their_edges`.
fn tight_manifest(dir: &Path) -> PathBuf {
    let path = manifest(dir);
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("seed = 3", "seed = 3\n\n[limits]\nhttp_timeout_ms = 2500")
        .replace(
            "header_timeout_ms = 400",
            "header_timeout_ms = 400\nheader_bytes = 8192\nconnections = 4\nqueue_len = 3\nreply_timeout_ms = 1500",
        );
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn ingress_limits_hold_at_their_edges() {
    let dir = scratch("theater-http-limits");
    let trace = dir.join("limits.bin");
    let (child, addr) = serve(&tight_manifest(&dir), &trace);
    let base = format!("http://{addr}");
    let client = agent();

    // header_bytes: a head over 8 KiB is refused with 431.
    let big_head = format!(
        "GET /kv HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n",
        "a".repeat(10_000)
    );
    let r = raw(addr, big_head.as_bytes(), Duration::ZERO, false);
    assert!(r.starts_with("HTTP/1.1 431"), "{r:?}");

    // connections: four idle connections hold every slot; a fifth client is served
    // only once the header timeout has closed one of them. The server records that
    // timeout before it frees the slot, so the trace must show a timed-out connection
    // before the fifth client's request (checked below).
    let idle: Vec<_> = (0..4)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            std::thread::spawn(move || s.read(&mut [0u8; 1]).unwrap_or(0))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let (status, _) = call(&client, "GET", &format!("{base}/kv?fifth"), "");
    assert_eq!(status, 200);
    for t in idle {
        assert_eq!(t.join().unwrap(), 0, "an idle connection was closed");
    }

    // The actor calls this very service: the scheduler waits for its own HTTP server,
    // which answers the inner request 504 after the reply timeout (1.5 s). Meanwhile the
    // queue (3) fills up, and the caller's own reply timeout passes too.
    let fetch = {
        let url = format!("{base}/kv/loop?fetch={base}/kv/anything");
        std::thread::spawn(move || call(&agent(), "POST", &url, ""))
    };
    // Well inside the window in which the scheduler waits (from the inner request's
    // arrival until its 504 at 1.5 s), even on a loaded machine.
    std::thread::sleep(Duration::from_millis(700));
    let extra: Vec<_> = (0..3)
        .map(|_| {
            let url = format!("{base}/kv/t");
            std::thread::spawn(move || call(&agent(), "GET", &url, ""))
        })
        .collect();
    let extra: Vec<(u16, String)> = extra.into_iter().map(|t| t.join().unwrap()).collect();
    let busy = extra
        .iter()
        .filter(|(s, body)| *s == 503 && body.contains("too many requests waiting"))
        .count();
    assert!(busy >= 1, "{extra:?}");
    let (status, body) = fetch.join().unwrap();
    assert_eq!(status, 504, "{body}");
    // Once the outbound call returned, the service answers again.
    assert_eq!(call(&client, "GET", &format!("{base}/kv"), "").0, 200);

    terminate(child);

    let t = Trace::open(&trace).unwrap();
    let mut drops = Vec::new();
    let mut outbound = Vec::new();
    let mut fifth_after_a_timeout = None;
    for e in t.events() {
        match e.unwrap().event.body {
            EventBody::Input(d) if fifth_after_a_timeout.is_none() => {
                let bytes = match &d.payload {
                    theater_trace::Payload::Inline(b) => b.0.clone(),
                    theater_trace::Payload::Blob { digest, .. } => t.blob(digest).unwrap().unwrap(),
                };
                if String::from_utf8_lossy(&bytes).contains("\"query\":\"fifth\"") {
                    fifth_after_a_timeout =
                        Some(drops.contains(&DropReason::TimedOut { limit_ms: 400 }));
                }
            }
            EventBody::IngressDropped { reason, .. } => drops.push(reason),
            EventBody::HostCall {
                function: HostFunction::HttpSend,
                response,
                ..
            } => outbound.push(response),
            _ => {}
        }
    }
    assert!(
        drops.contains(&DropReason::TooLarge { limit: 8192 }),
        "{drops:?}"
    );
    assert_eq!(
        drops
            .iter()
            .filter(|r| **r == DropReason::TimedOut { limit_ms: 400 })
            .count(),
        4,
        "{drops:?}"
    );
    assert_eq!(
        fifth_after_a_timeout,
        Some(true),
        "the fifth client was served before a connection slot was freed"
    );
    assert!(drops.contains(&DropReason::Busy { limit: 3 }), "{drops:?}");
    assert!(
        drops
            .iter()
            .any(|r| matches!(r, DropReason::ReplyTimedOut { limit_ms: 1500, .. })),
        "{drops:?}"
    );
    assert_eq!(outbound.len(), 1);
    let response = match &outbound[0] {
        theater_trace::Payload::Inline(b) => b.0.clone(),
        theater_trace::Payload::Blob { digest, .. } => t.blob(digest).unwrap().unwrap(),
    };
    // The inner request waited in the same queue as its caller: the server answered it
    // 504 after the reply timeout, before the outbound timeout passed.
    let response = String::from_utf8_lossy(&response);
    assert!(
        response.contains(r#""status":504"#) && response.contains("did not reply in time"),
        "{response}"
    );

    let out = Command::new(replay_bin())
        .args(["verify", trace.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
