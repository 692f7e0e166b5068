//! Outbound HTTP: the [`HttpClient`] an embedder plugs in for the `http-client` host
//! interface, and how calls are stored in the trace.
//!
//! The runtime itself opens no sockets. A recording run is given an [`HttpClient`]
//! (`System::set_http_client`); a replay never is, so an actor that sends a request the
//! recording did not make gets `unavailable` and the replay stops with a divergence,
//! without touching the network.
//!
//! In the trace, a call is a `HostCall` of [`theater_trace::HostFunction::HttpSend`]: the
//! request is the JSON of [`OutboundRequest`] and the response the JSON of
//! `Result<OutboundResponse, OutboundError>` (shapes in `theater-wire`).

pub use theater_wire::{Body, OutboundError, OutboundRequest, OutboundResponse};

use crate::Limits;

/// What sends outbound requests for a recording run. It must honour
/// `limits.http_timeout_ms` and `limits.http_response_bytes`.
pub trait HttpClient: Send + Sync + std::fmt::Debug {
    /// Sends `request` and waits for the whole response.
    fn send(
        &self,
        request: &OutboundRequest,
        limits: &Limits,
    ) -> Result<OutboundResponse, OutboundError>;
}

/// What a recording run's call returns: a body over `limits.message_bytes` is refused
/// before anything is sent, and a run without a client gets `unavailable`.
pub(crate) fn send(
    client: Option<&dyn HttpClient>,
    request: &OutboundRequest,
    limits: &Limits,
) -> Result<OutboundResponse, OutboundError> {
    if request.body.0.len() as u64 > limits.message_bytes {
        return Err(OutboundError::TooLarge);
    }
    match client {
        Some(client) => client.send(request, limits),
        None => Err(OutboundError::Unavailable),
    }
}

/// How a call's result is stored in the trace.
pub(crate) fn encode_result(result: &Result<OutboundResponse, OutboundError>) -> Vec<u8> {
    serde_json::to_vec(result).expect("http results serialize")
}

/// Reads a stored result back; one that does not decode becomes a connection error
/// saying so (the trace's checksums make that a bug, not an input).
pub(crate) fn decode_result(bytes: &[u8]) -> Result<OutboundResponse, OutboundError> {
    serde_json::from_slice(bytes).unwrap_or_else(|e| {
        Err(OutboundError::Connection(format!(
            "recorded response does not decode: {e}"
        )))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers every request with its own body, and counts the requests it saw.
    #[derive(Debug, Default)]
    struct Echo(std::sync::atomic::AtomicU32);

    impl HttpClient for Echo {
        fn send(
            &self,
            request: &OutboundRequest,
            _: &Limits,
        ) -> Result<OutboundResponse, OutboundError> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok(OutboundResponse {
                status: 200,
                headers: Vec::new(),
                body: request.body.clone(),
            })
        }
    }

    #[test]
    fn a_body_over_the_message_limit_is_refused_before_it_is_sent() {
        let limits = Limits {
            message_bytes: 16,
            ..Limits::default()
        };
        let request = |n: usize| OutboundRequest {
            method: "POST".into(),
            url: "http://127.0.0.1:9/".into(),
            headers: Vec::new(),
            body: Body(vec![b'x'; n]),
        };
        let echo = Echo::default();
        let at_limit = send(Some(&echo), &request(16), &limits).unwrap();
        assert_eq!(at_limit.body.0.len(), 16);
        assert_eq!(
            send(Some(&echo), &request(17), &limits),
            Err(OutboundError::TooLarge)
        );
        // The refused request never reached the client.
        assert_eq!(echo.0.load(std::sync::atomic::Ordering::Relaxed), 1);
        assert_eq!(
            send(None, &request(1), &limits),
            Err(OutboundError::Unavailable)
        );
    }

    #[test]
    fn a_result_round_trips_and_garbage_is_an_error() {
        let ok: Result<OutboundResponse, OutboundError> = Ok(OutboundResponse {
            status: 201,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: Body::from("made"),
        });
        assert_eq!(decode_result(&encode_result(&ok)), ok);
        let err: Result<OutboundResponse, OutboundError> = Err(OutboundError::Timeout);
        assert_eq!(decode_result(&encode_result(&err)), err);
        assert!(matches!(
            decode_result(b"nonsense"),
            Err(OutboundError::Connection(_))
        ));
    }
}
