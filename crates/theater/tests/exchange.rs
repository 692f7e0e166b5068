//! The scheduler's side of the HTTP ingress (`theater::ingress::Exchange`): what the
//! system refuses comes back to the client with the status its reason calls for.

use theater::ingress::{Answer, Exchange, Incoming, IngressLimits};
use theater_runtime::System;
use theater_trace::ActorId;

#[test]
fn the_system_refuses_what_it_cannot_take_with_the_right_status() {
    let mut spec = theater::manifest::load(&theater_testkit::fixture_manifest("kv.toml")).unwrap();
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
