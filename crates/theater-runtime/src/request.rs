//! The answers to requests: why one failed inside the system ([`RequestFailure`], and
//! the one place that spells it as a payload), and the answer to an external request
//! ([`ExternalReply`]).

/// Why a request failed inside the system. It travels as a failed reply's payload
/// (JSON: `"target-exited"` or `{"handler-failed": "…"}`); [`RequestFailure::encode`]
/// and [`RequestFailure::decode`] are the only code that knows that spelling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestFailure {
    /// The actor exited before it answered (or before the request reached it).
    TargetExited,
    /// The handler failed; its error.
    HandlerFailed(String),
}

impl RequestFailure {
    /// The payload of the failed reply.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            RequestFailure::TargetExited => b"\"target-exited\"".to_vec(),
            RequestFailure::HandlerFailed(m) => {
                serde_json::to_vec(&serde_json::json!({ "handler-failed": m })).unwrap_or_default()
            }
        }
    }

    /// Reads a failed reply's payload; anything but a `handler-failed` object reads as
    /// `target-exited`.
    pub fn decode(payload: &[u8]) -> RequestFailure {
        match serde_json::from_slice::<serde_json::Value>(payload) {
            Ok(serde_json::Value::Object(m)) => RequestFailure::HandlerFailed(
                m.get("handler-failed")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_string(),
            ),
            _ => RequestFailure::TargetExited,
        }
    }
}

impl std::fmt::Display for RequestFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RequestFailure::TargetExited => f.write_str("the actor exited before it answered"),
            RequestFailure::HandlerFailed(m) => write!(f, "the handler failed: {m}"),
        }
    }
}

/// The answer to an external request (see `System::inject_request`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalReply {
    pub correlation: u64,
    /// The reply's payload, or why the request failed.
    pub answer: Result<Vec<u8>, RequestFailure>,
}

#[cfg(test)]
mod tests {
    use super::RequestFailure;

    #[test]
    fn request_failures_round_trip() {
        for f in [
            RequestFailure::TargetExited,
            RequestFailure::HandlerFailed("boom \"quoted\"\n".into()),
            RequestFailure::HandlerFailed(String::new()),
        ] {
            assert_eq!(RequestFailure::decode(&f.encode()), f);
        }
        assert_eq!(RequestFailure::TargetExited.encode(), b"\"target-exited\"");
        // Anything else (not JSON, another shape) reads as the actor having exited.
        assert_eq!(
            RequestFailure::decode(b"\xff not json"),
            RequestFailure::TargetExited
        );
        assert_eq!(RequestFailure::decode(b"[1]"), RequestFailure::TargetExited);
    }
}
