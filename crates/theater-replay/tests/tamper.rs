//! Deliberate tampering, not just bit rot: an attacker who knows the format rewrites an
//! event and fixes its frame checksum, swaps a component blob, reorders two events, or
//! deletes one. `theater-replay verify` must exit 2 and name the first bad event each
//! time. (All of these keep every frame checksum valid: the hash chain and the blob
//! digests catch them.)

use std::path::PathBuf;
use std::process::Command;

use theater_trace::format::{FRAME_HEADER_LEN, HEADER_LEN};
use theater_trace::{decode_event, encode_event, EventBody, Payload};

fn fixture() -> Vec<u8> {
    std::fs::read(theater_testkit::fixture_trace("bank-bug.bin")).unwrap()
}

/// A frame: kind, where it starts, its payload range.
struct Frame {
    kind: u8,
    start: usize,
    payload: std::ops::Range<usize>,
}

fn frames(bytes: &[u8]) -> Vec<Frame> {
    let mut out = Vec::new();
    let mut at = HEADER_LEN as usize;
    while at + FRAME_HEADER_LEN as usize <= bytes.len() {
        let kind = bytes[at];
        let len = u32::from_le_bytes(bytes[at + 1..at + 5].try_into().unwrap()) as usize;
        let p = at + FRAME_HEADER_LEN as usize;
        out.push(Frame {
            kind,
            start: at,
            payload: p..p + len,
        });
        at = p + len;
    }
    out
}

/// Recomputes a frame's checksum after its payload was changed in place.
fn fix_crc(bytes: &mut [u8], f: &Frame) {
    let mut h = crc32fast::Hasher::new();
    h.update(&bytes[f.start..f.start + 5]);
    h.update(&bytes[f.payload.clone()]);
    let crc = h.finalize().to_le_bytes();
    bytes[f.start + 5..f.start + 9].copy_from_slice(&crc);
}

fn event_frames(bytes: &[u8]) -> Vec<Frame> {
    frames(bytes).into_iter().filter(|f| f.kind == 2).collect()
}

fn verify(name: &str, bytes: &[u8]) -> (Option<i32>, String) {
    let dir = std::env::temp_dir().join(format!("theater-tamper-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path: PathBuf = dir.join(format!("{name}.bin"));
    std::fs::write(&path, bytes).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_theater-replay"))
        .args(["verify", path.to_str().unwrap()])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

#[test]
fn the_untouched_fixture_verifies() {
    let (code, text) = verify("intact", &fixture());
    assert_eq!(code, Some(0), "{text}");
}

#[test]
fn a_rewritten_event_with_a_fixed_checksum_is_named() {
    let mut bytes = fixture();
    let events = event_frames(&bytes);
    // Event 23 is the input of the transfer of 125: make it 124, same length.
    let f = &events[23];
    let mut event = decode_event(&bytes[f.payload.clone()]).unwrap();
    let EventBody::Input(d) = &mut event.body else {
        panic!("event 23 is an input")
    };
    let Payload::Blob { .. } = d.payload else {
        panic!("a blob payload")
    };
    // Its virtual time 0 becomes 7: same encoded length, so nothing else moves.
    d.time_ns = 7;
    let mut encoded = Vec::new();
    encode_event(&event, &mut encoded);
    assert_eq!(encoded.len(), f.payload.len());
    bytes[f.payload.clone()].copy_from_slice(&encoded);
    fix_crc(&mut bytes, f);
    let (code, text) = verify("rewritten", &bytes);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("(event 23)") && text.contains("this event was altered"),
        "{text}"
    );
}

#[test]
fn reordered_events_are_named() {
    let mut bytes = fixture();
    let events = event_frames(&bytes);
    let (a, b) = (&events[12], &events[13]);
    let (ra, rb) = (a.start..a.payload.end, b.start..b.payload.end);
    assert_eq!(ra.end, rb.start, "adjacent frames");
    let first = bytes[ra.clone()].to_vec();
    let second = bytes[rb.clone()].to_vec();
    let mut swapped = second;
    swapped.extend_from_slice(&first);
    bytes[ra.start..rb.end].copy_from_slice(&swapped);
    let (code, text) = verify("reordered", &bytes);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("(event 12)") && text.contains("altered or moved"),
        "{text}"
    );
}

#[test]
fn a_deleted_event_is_named() {
    let mut bytes = fixture();
    let events = event_frames(&bytes);
    let f = &events[17];
    bytes.drain(f.start..f.payload.end);
    let (code, text) = verify("deleted", &bytes);
    assert_eq!(code, Some(2), "{text}");
    // The chain cannot tell a deleted event from an altered one before the gap: the
    // report names the last event before the gap and says both.
    assert!(
        text.contains("(event 16)") && text.contains("removed or inserted right after it"),
        "{text}"
    );
}

#[test]
fn a_swapped_component_blob_is_named() {
    let mut bytes = fixture();
    // The component blob is the largest frame; replace its bytes (same length) and
    // recompute both its digest and its checksum, as a careful attacker would.
    let blobs: Vec<Frame> = frames(&bytes).into_iter().filter(|f| f.kind == 1).collect();
    let f = blobs.iter().max_by_key(|f| f.payload.len()).unwrap();
    let content = f.payload.start + 32..f.payload.end;
    let mid = content.start + content.len() / 2;
    bytes[mid] ^= 0x5a;
    let digest = blake3::hash(&bytes[content.clone()]);
    bytes[f.payload.start..f.payload.start + 32].copy_from_slice(digest.as_bytes());
    fix_crc(&mut bytes, f);
    let (code, text) = verify("swapped-blob", &bytes);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("(event 1)") && text.contains("not stored before it"),
        "{text}"
    );
}
