//! The canonical event encoding of format versions 1 and 2, and their event digests.
//!
//! An event is encoded with MessagePack (rmp-serde's compact form: structs as arrays,
//! enum variants by name, integers in their shortest form, byte strings as `bin`). That
//! encoding is a function of the event's value alone — no maps, no floats, no
//! platform-sized integers — so the same events always produce the same bytes.
//!
//! The digest of an event is blake3 in key-derivation mode over its encoding, with a
//! context string of its own, so an event digest can never equal a blob digest.

use crate::digest::Digest;
use crate::event::Event;

/// blake3 key-derivation context for event digests.
pub const EVENT_DIGEST_CONTEXT: &str = "theater.trace 2026-11 event digest v1";

/// Appends the canonical encoding of `event` to `out`.
pub fn encode_event(event: &Event, out: &mut Vec<u8>) {
    // Writing into a Vec cannot fail, and every type in the event model is serializable.
    rmp_serde::encode::write(out, event).expect("encoding an Event into a Vec cannot fail");
}

/// The canonical encoding of `event`.
pub fn event_bytes(event: &Event) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    encode_event(event, &mut out);
    out
}

/// Decodes an event; the error says why the bytes are not an event. Decoding borrows
/// from `bytes`, so no length claimed inside them can make it allocate more than
/// `bytes.len()`. Trailing bytes are caught by the canonical check in `verify`.
pub fn decode_event(bytes: &[u8]) -> Result<Event, String> {
    rmp_serde::from_slice(bytes).map_err(|e| e.to_string())
}

/// The digest of an encoded event: the link its child stores as `parent`.
pub fn event_digest(encoded: &[u8]) -> Digest {
    let mut h = blake3::Hasher::new_derive_key(EVENT_DIGEST_CONTEXT);
    h.update(encoded);
    Digest(*h.finalize().as_bytes())
}
