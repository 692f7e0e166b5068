//! Showing what a trace holds: actor states decoded for people, state diffs, events
//! with their payloads.

use std::fmt::Write as _;

use theater_trace::{
    EventBody, HostFunction, MessageKind, Payload, RecordedEvent, Sender, Trace, EXTERNAL,
};

use crate::DebugError;

/// Blob payloads up to this size are shown next to their event.
pub const PREVIEW_MAX_BYTES: u64 = 1024;

/// Bytes as a person would like to read them.
#[derive(Clone, Debug, PartialEq)]
pub enum Decoded {
    /// The bytes are JSON (what the Rust guest SDK stores).
    Json(serde_json::Value),
    /// The bytes are one MessagePack map or array, shown as JSON.
    MessagePack(serde_json::Value),
    /// Anything else.
    Raw(Vec<u8>),
}

/// Decodes `bytes` as JSON, else as a MessagePack map or array, else leaves them raw.
pub fn decode(bytes: &[u8]) -> Decoded {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(bytes) {
        return Decoded::Json(v);
    }
    // A lone MessagePack scalar is too easily a coincidence (any byte below 0x80 is an
    // integer): only whole maps and arrays count.
    let mut de = rmp_serde::Deserializer::new(bytes);
    if let Ok(v) = serde::Deserialize::deserialize(&mut de) {
        let v: serde_json::Value = v;
        if (v.is_object() || v.is_array()) && de.get_ref().is_empty() {
            return Decoded::MessagePack(v);
        }
    }
    Decoded::Raw(bytes.to_vec())
}

impl Decoded {
    /// The decoded value as JSON, when it is JSON or MessagePack.
    pub fn json(&self) -> Option<&serde_json::Value> {
        match self {
            Decoded::Json(v) | Decoded::MessagePack(v) => Some(v),
            Decoded::Raw(_) => None,
        }
    }

    /// Multi-line text: pretty JSON, or a hex dump with a text column.
    pub fn render(&self) -> String {
        match self {
            Decoded::Json(v) => pretty(v),
            Decoded::MessagePack(v) => format!("(MessagePack)\n{}", pretty(v)),
            Decoded::Raw(bytes) => hex_dump(bytes),
        }
    }
}

fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

/// `xxd`-style: offset, 16 bytes in hex, the same bytes as text (`.` where not printable).
pub fn hex_dump(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "(0 bytes)".into();
    }
    let mut out = String::new();
    for (i, chunk) in bytes.chunks(16).enumerate() {
        let _ = write!(out, "{:08x}  ", i * 16);
        for j in 0..16 {
            match chunk.get(j) {
                Some(b) => {
                    let _ = write!(out, "{b:02x} ");
                }
                None => out.push_str("   "),
            }
        }
        out.push(' ');
        out.extend(chunk.iter().map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '.'
            }
        }));
        out.push('\n');
    }
    out.pop();
    out
}

/// A unified diff of two texts (empty when they are equal).
pub fn text_diff(old: &str, new: &str, old_label: &str, new_label: &str) -> String {
    if old == new {
        return String::new();
    }
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(old_label, new_label)
        .to_string()
}

/// The bytes of a payload, inline or from its blob.
pub fn payload_bytes(trace: &Trace, payload: &Payload) -> Result<Vec<u8>, DebugError> {
    match payload {
        Payload::Inline(b) => Ok(b.0.clone()),
        Payload::Blob { digest, .. } => trace
            .blob(digest)?
            .ok_or_else(|| DebugError::NotFound(format!("payload blob {digest} is missing"))),
    }
}

/// A payload as one line of text: UTF-8 with control characters escaped, else hex.
/// `None` for a blob longer than [`PREVIEW_MAX_BYTES`] or missing.
pub fn payload_preview(trace: &Trace, payload: &Payload) -> Option<String> {
    if payload.len() > PREVIEW_MAX_BYTES {
        return None;
    }
    payload_bytes(trace, payload).ok().map(|b| text_preview(&b))
}

/// Bytes as one line: UTF-8 with control characters escaped, else `0x` and hex.
pub fn text_preview(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text
            .chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_debug().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
        Err(_) => format!("0x{}", theater_trace::hex(bytes)),
    }
}

/// The payload an event carries (a message, an input), if any.
pub fn event_payload(body: &EventBody) -> Option<&Payload> {
    match body {
        EventBody::Input(d) | EventBody::Delivered(d) => Some(&d.payload),
        EventBody::Refused { payload, .. } => Some(payload),
        _ => None,
    }
}

/// An event as a line (`#N digest  description`), followed by its payload when it is too
/// long for the line ([`theater_trace::PREVIEW_IN_LINE_MAX_BYTES`]) but short enough to
/// show, and by what HTTP traffic it carries: a routed request, the response to one, an
/// outbound call.
pub fn describe(trace: &Trace, e: &RecordedEvent) -> String {
    let mut line = format!("#{:<6} {}  {}", e.number, e.digest.short(), e.event.body);
    let indent = "";
    let http = http_lines(trace, &e.event.body);
    if http.is_empty() {
        let in_line = |p: &Payload| matches!(p, Payload::Inline(b) if b.0.len() <= theater_trace::PREVIEW_IN_LINE_MAX_BYTES);
        if let Some(p) = event_payload(&e.event.body).filter(|p| !in_line(p)) {
            if let Some(text) = payload_preview(trace, p) {
                let _ = write!(line, "\n{indent:22}payload: {text}");
            }
        }
    }
    for h in http {
        let _ = write!(line, "\n{indent:22}{h}");
    }
    line
}

/// The HTTP traffic an event carries, one line each (nothing for other events).
pub fn http_lines(trace: &Trace, body: &EventBody) -> Vec<String> {
    let bytes = |p: &Payload| {
        if p.len() > HTTP_PREVIEW_MAX_BYTES {
            None
        } else {
            payload_bytes(trace, p).ok()
        }
    };
    let body_text = |b: &theater_wire::Body| {
        if b.0.is_empty() {
            String::from("(empty body)")
        } else {
            format!("body: {}", text_preview(&b.0))
        }
    };
    let mut out = Vec::new();
    match body {
        EventBody::Input(d) | EventBody::Delivered(d)
            if d.from == Sender::External && matches!(d.kind, MessageKind::Request { .. }) =>
        {
            if let Some(r) = bytes(&d.payload)
                .and_then(|b| serde_json::from_slice::<theater_wire::IngressRequest>(&b).ok())
            {
                let query = if r.query.is_empty() {
                    String::new()
                } else {
                    format!("?{}", r.query)
                };
                out.push(format!(
                    "http request: {} {}{query}  {}",
                    r.method,
                    r.path,
                    body_text(&r.body)
                ));
            }
        }
        EventBody::Outputs(o) => {
            for m in o.sent.iter().filter(|m| m.to == EXTERNAL) {
                if let Some(r) = bytes(&m.payload)
                    .and_then(|b| serde_json::from_slice::<theater_wire::IngressResponse>(&b).ok())
                {
                    out.push(format!(
                        "http response: {}  {}",
                        r.status,
                        body_text(&r.body)
                    ));
                }
            }
        }
        EventBody::HostCall {
            function: HostFunction::HttpSend,
            request,
            response,
            ..
        } => {
            if let Some(r) = bytes(request)
                .and_then(|b| serde_json::from_slice::<theater_wire::OutboundRequest>(&b).ok())
            {
                out.push(format!(
                    "http out: {} {}  {}",
                    r.method,
                    r.url,
                    body_text(&r.body)
                ));
            }
            type Answer = Result<theater_wire::OutboundResponse, theater_wire::OutboundError>;
            match bytes(response).and_then(|b| serde_json::from_slice::<Answer>(&b).ok()) {
                Some(Ok(r)) => out.push(format!("http in: {}  {}", r.status, body_text(&r.body))),
                Some(Err(e)) => out.push(format!("http in: failed: {e}")),
                None => {}
            }
        }
        _ => {}
    }
    out
}

/// HTTP bodies up to this size are shown by [`describe`]; larger ones by size only.
pub const HTTP_PREVIEW_MAX_BYTES: u64 = 64 << 10;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_json_messagepack_and_raw() {
        assert_eq!(
            decode(br#"{"a":1}"#).json(),
            Some(&serde_json::json!({"a": 1}))
        );
        let mp = rmp_serde::to_vec(&serde_json::json!({"b": [1, 2]})).unwrap();
        assert!(matches!(decode(&mp), Decoded::MessagePack(_)));
        // One byte below 0x80 is a valid MessagePack integer: not taken as one.
        assert!(matches!(decode(&[0x07]), Decoded::Raw(_)));
        let raw = decode(&[0xff, 0x00, b'a']);
        assert_eq!(
            raw.render(),
            "00000000  ff 00 61                                         ..a"
        );
        assert_eq!(decode(b"").render(), "(0 bytes)");
    }

    #[test]
    fn diff_of_equal_texts_is_empty() {
        assert_eq!(text_diff("a\n", "a\n", "x", "y"), "");
        let d = text_diff("a\nb\n", "a\nc\n", "before", "after");
        assert!(d.contains("-b") && d.contains("+c"), "{d}");
    }
}
