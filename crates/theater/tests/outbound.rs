//! Outbound HTTP from actors (`http-client`), recorded: a real upstream on loopback, the
//! kv example's store fetching from it through the real ureq client, the trace replayed
//! with the upstream gone, and a replay that asks for a request the recording did not
//! make stopping with a divergence. Also: the interface is never granted implicitly.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use theater_runtime::replay::{replay, ReplayOptions};
use theater_runtime::{memory_sink, RuntimeError, Sink, System, SystemSpec};
use theater_trace::{EventBody, HostFunction, Trace, TraceWriter, WriterOptions};
use theater_wire::{Body, IngressRequest, IngressResponse};

use theater_testkit::repo;

fn kv_spec() -> SystemSpec {
    theater::manifest::load(&repo().join("fixtures/manifests/kv.toml")).unwrap()
}

/// A loopback server answering `n` requests with `body`, then closing.
fn upstream(n: usize, body: &'static str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(n) {
            let mut stream = stream.unwrap();
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    addr
}

fn request(method: &str, path: &str, query: &str) -> Vec<u8> {
    serde_json::to_vec(&IngressRequest {
        method: method.into(),
        path: path.into(),
        query: query.into(),
        headers: Vec::new(),
        body: Body::default(),
    })
    .unwrap()
}

/// Sends each request to the api actor through the real system; returns the responses
/// and the recorded trace.
fn record(spec: &SystemSpec, requests: &[Vec<u8>]) -> (Vec<IngressResponse>, Vec<u8>) {
    let mut system = System::new(spec, memory_sink(spec).unwrap()).unwrap();
    system.set_http_client(Arc::new(theater::outbound::UreqClient));
    system.run_until_idle(1000).unwrap();
    let api = system.actor_id("api").unwrap();
    let mut responses = Vec::new();
    for r in requests {
        let c = system.inject_request(api, r.clone()).unwrap().unwrap();
        system.run_until_idle(1000).unwrap();
        let replies = system.take_replies();
        assert_eq!(replies.len(), 1);
        assert_eq!(replies[0].correlation, c);
        let payload = replies[0].answer.as_ref().expect("the request succeeded");
        responses.push(serde_json::from_slice(payload).unwrap());
    }
    let (_, sink) = system.finish("done").unwrap();
    let Sink::Memory(w) = sink else {
        unreachable!()
    };
    (responses, w.finish().unwrap().1)
}

#[test]
fn outbound_calls_are_recorded_and_served_from_the_trace() {
    let mut spec = kv_spec();
    spec.limits.http_response_bytes = 64;
    let ok = upstream(1, "hello from upstream");
    let big = upstream(
        1,
        "this response is longer than the sixty-four bytes the limit allows",
    );
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let fetch = |addr: SocketAddr| request("POST", "/kv/page", &format!("fetch=http://{addr}/x"));
    let (responses, bytes) = record(
        &spec,
        &[
            fetch(ok),
            request("GET", "/kv/page", ""),
            fetch(big),
            fetch(closed),
        ],
    );
    let status: Vec<u16> = responses.iter().map(|r| r.status).collect();
    assert_eq!(status, [201, 200, 502, 502], "{responses:?}");
    assert_eq!(responses[1].body.text(), "hello from upstream");
    assert!(
        responses[2].body.text().contains("TooLarge"),
        "{responses:?}"
    );
    assert!(
        responses[3].body.text().contains("Connection"),
        "{responses:?}"
    );

    // Every upstream is gone now; the replay is served from the trace.
    let trace = Trace::from_bytes(bytes.clone()).unwrap();
    let head = trace.head();
    let calls = trace
        .events()
        .filter(|e| {
            matches!(
                e.as_ref().unwrap().event.body,
                EventBody::HostCall {
                    function: HostFunction::HttpSend,
                    ..
                }
            )
        })
        .count();
    assert_eq!(calls, 3);
    let report = replay(trace, &ReplayOptions::default()).unwrap();
    assert!(report.finished);
    assert_eq!(report.head, head);

    // A recording whose first outbound request went elsewhere: the replayed actor asks
    // for a request the recording does not have, which is a divergence.
    let altered = rewrite(&bytes, |url| url.replace("/x", "/elsewhere"));
    let e = replay(
        Trace::from_bytes(altered).unwrap(),
        &ReplayOptions::default(),
    )
    .unwrap_err();
    let RuntimeError::Divergence(d) = e else {
        panic!("not a divergence: {e}")
    };
    assert!(d.actual.contains("http-client.send"), "{d}");
}

#[test]
fn regress_serves_recorded_responses_and_names_the_first_call_it_cannot_serve() {
    let spec = kv_spec();
    let ok = upstream(1, "hello from upstream");
    let fetch = |addr: SocketAddr| request("POST", "/kv/page", &format!("fetch=http://{addr}/x"));
    let (_, bytes) = record(&spec, &[fetch(ok), request("GET", "/kv/page", "")]);
    let kv = std::fs::read(repo().join("fixtures/components/kv.wasm")).unwrap();
    let options = theater_debugger::RegressOptions {
        swaps: [("kv".to_string(), kv)].into(),
        details: 5,
        ..Default::default()
    };
    // The upstream is gone: a rerun of the same build is served what it answered.
    let report =
        theater_debugger::regress(Trace::from_bytes(bytes.clone()).unwrap(), &options).unwrap();
    assert!(report.identical(), "{}", report.render());
    assert!(report.unmatched_call.is_none());

    // A recording whose request went elsewhere: the new run asks for another URL, which
    // the recording cannot serve; without an upstream its fetch fails, so the stored
    // page and the reply differ.
    let altered = rewrite(&bytes, |url| url.replace("/x", "/elsewhere"));
    let report = theater_debugger::regress(Trace::from_bytes(altered).unwrap(), &options).unwrap();
    assert!(!report.identical());
    let u = report.unmatched_call.as_ref().expect("an unmatched call");
    assert!(u.what.contains("http-client.send"), "{u:?}");
    assert!(u.recorded_event.is_some(), "{u:?}");
    let text = report.render();
    assert!(
        text.contains("first host call the recording could not serve"),
        "{text}"
    );
    assert!(text.contains("host-calls"), "{text}");
}

/// The trace re-written with each outbound request's JSON passed through `change`
/// (a new, valid hash chain).
fn rewrite(bytes: &[u8], change: impl Fn(&str) -> String) -> Vec<u8> {
    let trace = Trace::from_bytes(bytes.to_vec()).unwrap();
    let header = trace.header().unwrap().clone();
    let manifest = trace.blob(&header.manifest).unwrap().unwrap();
    let mut w = TraceWriter::new(Vec::new(), header, &manifest, WriterOptions::default()).unwrap();
    for e in trace.events().skip(1) {
        let mut body = e.unwrap().event.body;
        let mut blobs = Vec::new();
        body.for_each_blob_ref(|d| blobs.push(*d));
        for d in blobs {
            w.blob(&trace.blob(&d).unwrap().unwrap()).unwrap();
        }
        if let EventBody::HostCall {
            function: HostFunction::HttpSend,
            request,
            ..
        } = &mut body
        {
            let old = match &*request {
                theater_trace::Payload::Inline(b) => b.0.clone(),
                theater_trace::Payload::Blob { digest, .. } => trace.blob(digest).unwrap().unwrap(),
            };
            *request = w
                .payload(change(&String::from_utf8(old).unwrap()).as_bytes())
                .unwrap();
        }
        w.append(body).unwrap();
    }
    w.finish().unwrap().1
}

#[test]
fn an_upstream_that_never_answers_is_a_recorded_timeout() {
    let mut spec = kv_spec();
    spec.limits.http_timeout_ms = 300;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent = listener.local_addr().unwrap();
    let (responses, bytes) = record(
        &spec,
        &[request(
            "POST",
            "/kv/page",
            &format!("fetch=http://{silent}/x"),
        )],
    );
    drop(listener);
    assert_eq!(responses[0].status, 502);
    assert!(
        responses[0].body.text().contains("Timeout"),
        "{responses:?}"
    );
    let trace = Trace::from_bytes(bytes).unwrap();
    let head = trace.head();
    assert_eq!(replay(trace, &ReplayOptions::default()).unwrap().head, head);
}

#[test]
fn a_bad_url_and_a_run_without_network_are_recorded_errors() {
    let spec = kv_spec();
    let (responses, _) = record(&spec, &[request("POST", "/kv/page", "fetch=not a url")]);
    assert_eq!(responses[0].status, 502);
    assert!(
        responses[0].body.text().contains("InvalidRequest"),
        "{responses:?}"
    );
    // No client installed: the actor is told, and the answer is recorded like any other.
    let mut system = System::new(&spec, memory_sink(&spec).unwrap()).unwrap();
    system.run_until_idle(1000).unwrap();
    let api = system.actor_id("api").unwrap();
    let page = request("POST", "/kv/page", "fetch=http://127.0.0.1:9/x");
    system.inject_request(api, page).unwrap().unwrap();
    system.run_until_idle(1000).unwrap();
    let replies = system.take_replies();
    let payload = replies[0].answer.as_ref().expect("the request succeeded");
    let reply: IngressResponse = serde_json::from_slice(payload).unwrap();
    assert_eq!(reply.status, 502);
    assert!(reply.body.text().contains("Unavailable"), "{reply:?}");
}

#[test]
fn http_client_is_granted_only_by_name() {
    for grants in [
        None,
        Some(vec!["runtime", "messaging", "supervision", "store"]),
    ] {
        let mut spec = kv_spec();
        spec.actors[0].grants = grants.map(|g| g.into_iter().map(String::from).collect());
        let e = System::new(&spec, Sink::Off).unwrap_err();
        assert!(e.to_string().contains("`http-client`"), "{e}");
    }
}
