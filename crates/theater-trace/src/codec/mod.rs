//! Canonical event encodings, the derived hash chain, and state digests.
//!
//! Format version 3 (written by this crate) encodes an event's *body* only, in the
//! compact binary form of [`wire`]: variants are one-byte tags from a documented table,
//! integers are minimal LEB128 varints, no names are written. The chain value after an
//! event is derived, never stored per event:
//!
//! ```text
//! d(-1) = 32 zero bytes
//! d(n)  = blake3 keyed hash, key d(n-1), input wire(body(n))
//! ```
//!
//! so altering, removing, inserting or moving any event changes every later chain value
//! and the head. Keyed mode gives the chain a domain of its own: no chain value can equal
//! a blob digest (plain blake3) or a version 1/2 event digest (key-derivation mode).
//!
//! Versions 1 and 2 stored each event, its parent digest included, as MessagePack
//! (`legacy`); they are read, never written.

mod decode;
pub(crate) mod legacy;
pub mod wire;

use crate::digest::{Digest, DIGEST_LEN};

/// The chain value after an event whose version 3 encoding is `bytes`, given the chain
/// value before it (the previous event's, or [`Digest::ZERO`] for event 0).
pub fn chain_link(before: &Digest, bytes: &[u8]) -> Digest {
    Digest(*blake3::keyed_hash(&before.0, bytes).as_bytes())
}

/// Bytes of a state digest that carry information: 128 bits of blake3.
pub const STATE_DIGEST_LEN: usize = 16;

/// The digest of an actor's state as traces record it: the first [`STATE_DIGEST_LEN`]
/// bytes of blake3 of the state, the rest zero.
///
/// A state digest only ever answers "did a deterministic re-execution reach the state
/// the recording reached?"; it is not what makes a trace tamper-evident (the event chain
/// is, at full strength). A false "same" needs two different states to agree on 128 bits
/// of blake3: probability 2^-128 per comparison.
pub fn state_digest(state: &[u8]) -> Digest {
    truncate_state(Digest::of(state))
}

/// A full-length digest cut to a state digest (how version 1 and 2 traces, which stored
/// 32 bytes, are read).
pub fn truncate_state(mut d: Digest) -> Digest {
    d.0[STATE_DIGEST_LEN..DIGEST_LEN].fill(0);
    d
}
