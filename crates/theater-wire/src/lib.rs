//! The JSON shapes that cross a Theater system's boundary, shared by the host (which
//! builds and reads them) and the guest SDK (which actors use).
//!
//! - [`IngressRequest`] / [`IngressResponse`]: an HTTP request that `theater run --http`
//!   routes to an actor becomes an external *request* whose payload is the JSON of an
//!   [`IngressRequest`]; the actor's reply must be the JSON of an [`IngressResponse`].
//! - [`OutboundRequest`] / [`OutboundResponse`] / [`OutboundError`]: an actor's call of
//!   `http-client.send`, as the trace records it (request, and `Result` of response or
//!   error, both JSON).
//!
//! Every body is a [`Body`]: a JSON string when the bytes are UTF-8, else
//! `{"hex": "…"}`. A trace dump and the debugger therefore show text bodies as text.
//! Serialization is deterministic: fields in declaration order, headers as a list of
//! pairs in the order they came.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Bytes that serialize as a JSON string when they are UTF-8, else as `{"hex": "…"}`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Body(pub Vec<u8>);

impl Body {
    /// The body as text, replacing invalid UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0).into_owned()
    }
}

impl From<&str> for Body {
    fn from(s: &str) -> Body {
        Body(s.as_bytes().to_vec())
    }
}

impl From<Vec<u8>> for Body {
    fn from(b: Vec<u8>) -> Body {
        Body(b)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum BodyRepr {
    Text(String),
    Hex { hex: String },
}

impl Serialize for Body {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(&self.0) {
            Ok(text) => s.serialize_str(text),
            Err(_) => BodyRepr::Hex {
                hex: to_hex(&self.0),
            }
            .serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Body {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Body, D::Error> {
        match BodyRepr::deserialize(d)? {
            BodyRepr::Text(t) => Ok(Body(t.into_bytes())),
            BodyRepr::Hex { hex } => from_hex(&hex)
                .map(Body)
                .ok_or_else(|| serde::de::Error::custom("body: `hex` is not hexadecimal")),
        }
    }
}

/// Lowercase hex.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// Parses hex (either case); `None` if it is not an even number of hex digits.
pub fn from_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Headers in arrival order, names lowercase.
pub type Headers = Vec<(String, String)>;

/// An HTTP request routed to an actor (the payload of its external request).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngressRequest {
    pub method: String,
    /// The path as the client sent it, route prefix included (`/kv/alice`).
    pub path: String,
    /// The query string without `?`, empty when there is none.
    pub query: String,
    pub headers: Headers,
    pub body: Body,
}

impl IngressRequest {
    /// The first header named `name` (compared without case).
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

/// What an actor answers to an [`IngressRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngressResponse {
    pub status: u16,
    #[serde(default)]
    pub headers: Headers,
    #[serde(default)]
    pub body: Body,
}

impl IngressResponse {
    /// A `text/plain` response.
    pub fn text(status: u16, body: &str) -> IngressResponse {
        IngressResponse {
            status,
            headers: vec![("content-type".into(), "text/plain; charset=utf-8".into())],
            body: body.into(),
        }
    }

    /// An `application/json` response of already encoded JSON.
    pub fn json(status: u16, json: Vec<u8>) -> IngressResponse {
        IngressResponse {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Body(json),
        }
    }
}

/// An outbound request (`http-client.send`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundRequest {
    pub method: String,
    /// Absolute, `http://` or `https://`.
    pub url: String,
    pub headers: Headers,
    pub body: Body,
}

/// The response to an [`OutboundRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundResponse {
    pub status: u16,
    pub headers: Headers,
    pub body: Body,
}

impl OutboundResponse {
    /// The first header named `name` (compared without case).
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

/// Why an [`OutboundRequest`] got no response (the WIT `http-error`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OutboundError {
    InvalidRequest(String),
    TooLarge,
    Timeout,
    Connection(String),
    Unavailable,
}

impl std::fmt::Display for OutboundError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OutboundError::InvalidRequest(m) => write!(f, "invalid request: {m}"),
            OutboundError::TooLarge => f.write_str("too large"),
            OutboundError::Timeout => f.write_str("timed out"),
            OutboundError::Connection(m) => write!(f, "connection failed: {m}"),
            OutboundError::Unavailable => f.write_str("no network in this run"),
        }
    }
}

fn header<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_text_when_utf8_and_hex_otherwise() {
        assert_eq!(
            serde_json::to_string(&Body::from("hello")).unwrap(),
            "\"hello\""
        );
        assert_eq!(
            serde_json::to_string(&Body(vec![0xff, 0x00])).unwrap(),
            r#"{"hex":"ff00"}"#
        );
        for b in [Body::from("hello"), Body(vec![0xff, 0x00]), Body::default()] {
            let json = serde_json::to_vec(&b).unwrap();
            assert_eq!(serde_json::from_slice::<Body>(&json).unwrap(), b);
        }
        for bad in [r#"{"hex":"f"}"#, r#"{"hex":"zz"}"#, "12"] {
            assert!(serde_json::from_str::<Body>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_response_may_leave_out_headers_and_body() {
        let r: IngressResponse = serde_json::from_str(r#"{"status":204}"#).unwrap();
        assert_eq!(r.status, 204);
        assert!(r.headers.is_empty() && r.body.0.is_empty());
    }

    #[test]
    fn headers_are_found_without_case() {
        let r = IngressRequest {
            method: "GET".into(),
            path: "/".into(),
            query: String::new(),
            headers: vec![("content-type".into(), "text/plain".into())],
            body: Body::default(),
        };
        assert_eq!(r.header("Content-Type"), Some("text/plain"));
        assert_eq!(r.header("accept"), None);
    }
}
