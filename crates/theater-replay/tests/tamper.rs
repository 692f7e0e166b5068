//! Deliberate tampering, not just bit rot: an attacker who knows the format rewrites an
//! event, reorders two events, deletes one, or swaps a component blob, and then repairs
//! everything a format-aware tool can repair without forging the chain: recompresses
//! the block, fixes frame lengths and checksums, renumbers blocks, rebuilds the index's
//! offsets and the footer. `theater-replay verify` must exit 2 and name the damage each
//! time: the chain values stored at block headers, the index and the footer catch the
//! events; blob digests catch the blob.

use std::path::PathBuf;
use std::process::Command;

use theater_trace::format::HEADER_LEN;
use theater_trace::wire::{body_bytes, decode_body, get_varint, put_varint};
use theater_trace::{Digest, EventBody, Payload};

fn fixture() -> Vec<u8> {
    std::fs::read(theater_testkit::fixture_trace("bank-bug.bin")).unwrap()
}

/// A version 3 trace taken apart: its frames in order, blocks decompressed into their
/// encoded events.
#[derive(Clone)]
struct Parts {
    header: Vec<u8>,
    frames: Vec<Part>,
    /// The index's chain values and head, kept as stored: the attacker does not forge
    /// the chain.
    index_head: Digest,
    index_chains: Vec<Digest>,
    footer_head: Digest,
}

#[derive(Clone)]
enum Part {
    /// Block: its stored chain value before it, and its records: events' encodings and
    /// small blobs (`true`), in order.
    Block {
        chain_before: Digest,
        records: Vec<(bool, Vec<u8>)>,
    },
    /// Zblob: digest and raw bytes.
    Blob { digest: Digest, bytes: Vec<u8> },
}

type IndexV3 = (
    u64,
    Digest,
    Vec<(u64, u64, Digest)>,
    Vec<(Digest, u64, u64, Option<u32>)>,
);

fn take_apart(bytes: &[u8]) -> Parts {
    let mut frames = Vec::new();
    let mut at = HEADER_LEN as usize;
    let mut index: Option<IndexV3> = None;
    let mut footer_head = Digest::ZERO;
    while at < bytes.len() {
        let kind = bytes[at];
        let len = u32::from_le_bytes(bytes[at + 1..at + 5].try_into().unwrap()) as usize;
        let p = &bytes[at + 9..at + 9 + len];
        match kind {
            5 => {
                let raw_len = u32::from_le_bytes(p[12..16].try_into().unwrap()) as usize;
                let chain_before = Digest(p[16..48].try_into().unwrap());
                let raw = match p[48] {
                    0 => p[49..].to_vec(),
                    _ => zstd::bulk::decompress(&p[49..], raw_len).unwrap(),
                };
                let mut records = Vec::new();
                let mut i = 0;
                while i < raw.len() {
                    let (head, k) = get_varint(&raw[i..]).unwrap();
                    let n = (head >> 1) as usize;
                    records.push((head & 1 == 1, raw[i + k..i + k + n].to_vec()));
                    i += k + n;
                }
                frames.push(Part::Block {
                    chain_before,
                    records,
                });
            }
            6 => {
                let raw_len = u64::from_le_bytes(p[33..41].try_into().unwrap()) as usize;
                let bytes = match p[32] {
                    0 => p[41..].to_vec(),
                    _ => zstd::bulk::decompress(&p[41..], raw_len).unwrap(),
                };
                frames.push(Part::Blob {
                    digest: Digest(p[..32].try_into().unwrap()),
                    bytes,
                });
            }
            3 => index = Some(rmp_serde::from_slice(p).unwrap()),
            4 => footer_head = Digest(p[16..48].try_into().unwrap()),
            k => panic!("frame kind {k} in a version 3 trace"),
        }
        at += 9 + len;
    }
    let (_, index_head, blocks, _) = index.expect("a finished trace");
    Parts {
        header: bytes[..HEADER_LEN as usize].to_vec(),
        frames,
        index_head,
        index_chains: blocks.iter().map(|b| b.2).collect(),
        footer_head,
    }
}

fn frame(out: &mut Vec<u8>, kind: u8, payload: &[u8]) {
    let len = (payload.len() as u32).to_le_bytes();
    let mut crc = crc32fast::Hasher::new();
    crc.update(&[kind]);
    crc.update(&len);
    crc.update(payload);
    out.push(kind);
    out.extend_from_slice(&len);
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.extend_from_slice(payload);
}

/// Writes the parts back: every length, checksum, block number, offset and count
/// consistent; every stored chain value as it was.
fn put_together(parts: &Parts) -> Vec<u8> {
    let mut out = parts.header.clone();
    let (mut events, mut blocks, mut blobs) = (0u64, Vec::new(), Vec::new());
    for part in &parts.frames {
        let offset = out.len() as u64;
        match part {
            Part::Block {
                chain_before,
                records,
            } => {
                let mut raw = Vec::new();
                let mut count = 0u32;
                for (blob, bytes) in records {
                    put_varint(&mut raw, (bytes.len() as u64) << 1 | u64::from(*blob));
                    let at = raw.len() as u32;
                    raw.extend_from_slice(bytes);
                    if *blob {
                        blobs.push((Digest::of(bytes), offset, bytes.len() as u64, Some(at)));
                    } else {
                        count += 1;
                    }
                }
                let mut p = Vec::new();
                p.extend_from_slice(&events.to_le_bytes());
                p.extend_from_slice(&count.to_le_bytes());
                p.extend_from_slice(&(raw.len() as u32).to_le_bytes());
                p.extend_from_slice(&chain_before.0);
                p.push(1);
                p.extend_from_slice(&zstd::bulk::compress(&raw, 3).unwrap());
                frame(&mut out, 5, &p);
                let chain = parts.index_chains[blocks.len()];
                blocks.push((events, offset, chain));
                events += u64::from(count);
            }
            Part::Blob { digest, bytes } => {
                let mut p = digest.0.to_vec();
                p.push(0);
                p.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
                p.extend_from_slice(bytes);
                frame(&mut out, 6, &p);
                blobs.push((*digest, offset, bytes.len() as u64, None));
            }
        }
    }
    blobs.sort();
    let index_offset = out.len() as u64;
    let index: IndexV3 = (events, parts.index_head, blocks, blobs);
    frame(&mut out, 3, &rmp_serde::to_vec(&index).unwrap());
    let mut footer = Vec::new();
    footer.extend_from_slice(&index_offset.to_le_bytes());
    footer.extend_from_slice(&events.to_le_bytes());
    footer.extend_from_slice(&parts.footer_head.0);
    footer.extend_from_slice(b"TTRCEND\n");
    frame(&mut out, 4, &footer);
    out
}

/// The records of the block holding event `n`, and the index of `n`'s record in them.
fn locate(parts: &mut Parts, n: usize) -> (&mut Vec<(bool, Vec<u8>)>, usize) {
    let mut first = 0;
    for part in &mut parts.frames {
        if let Part::Block { records, .. } = part {
            let events: Vec<usize> = (0..records.len()).filter(|&i| !records[i].0).collect();
            if n < first + events.len() {
                let i = events[n - first];
                return (records, i);
            }
            first += events.len();
        }
    }
    panic!("no event {n}")
}

/// The index of the event record after record `i`.
fn next_event(records: &[(bool, Vec<u8>)], i: usize) -> usize {
    (i + 1..records.len()).find(|&j| !records[j].0).unwrap()
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

/// The report names a range of events holding `n` and says they were altered.
fn names_altered_range(text: &str, n: usize) -> bool {
    let Some(rest) = text.split("events ").nth(1) else {
        return false;
    };
    let mut words = rest.split(' ');
    let first: usize = words
        .next()
        .and_then(|w| w.parse().ok())
        .unwrap_or(usize::MAX);
    let last: usize = words
        .nth(1)
        .and_then(|w| w.trim_end_matches(',').parse().ok())
        .unwrap_or(0);
    (first..=last).contains(&n) && text.contains("altered")
}

#[test]
fn the_untouched_fixture_and_its_reassembly_verify() {
    let bytes = fixture();
    let (code, text) = verify("intact", &bytes);
    assert_eq!(code, Some(0), "{text}");
    // The rewriter itself changes nothing a verifier cares about.
    let (code, text) = verify("reassembled", &put_together(&take_apart(&bytes)));
    assert_eq!(code, Some(0), "{text}");
}

#[test]
fn a_rewritten_event_is_named() {
    let mut parts = take_apart(&fixture());
    let (records, i) = locate(&mut parts, 23);
    let mut body = decode_body(&records[i].1).unwrap();
    // Event 23 is the input of the transfer of 125; its virtual time 0 becomes 7.
    let EventBody::Input(d) = &mut body else {
        panic!("event 23 is an input")
    };
    assert!(
        matches!(d.payload, Payload::Inline(_)),
        "a 53-byte payload is inline"
    );
    d.time_ns = 7;
    records[i].1 = body_bytes(&body).unwrap();
    let (code, text) = verify("rewritten", &put_together(&parts));
    assert_eq!(code, Some(2), "{text}");
    assert!(names_altered_range(&text, 23), "{text}");
}

#[test]
fn reordered_events_are_named() {
    let mut parts = take_apart(&fixture());
    let (records, i) = locate(&mut parts, 12);
    let j = next_event(records, i);
    records.swap(i, j);
    let (code, text) = verify("reordered", &put_together(&parts));
    assert_eq!(code, Some(2), "{text}");
    assert!(names_altered_range(&text, 12), "{text}");
}

#[test]
fn a_deleted_event_is_named() {
    let mut parts = take_apart(&fixture());
    let (records, i) = locate(&mut parts, 17);
    records.remove(i);
    let (code, text) = verify("deleted", &put_together(&parts));
    assert_eq!(code, Some(2), "{text}");
    assert!(
        names_altered_range(&text, 17) && text.contains("removed"),
        "{text}"
    );
}

#[test]
fn a_swapped_component_blob_is_named() {
    let mut parts = take_apart(&fixture());
    // The component blob is the largest; replace a byte and recompute its digest, as a
    // careful attacker would.
    let blob = parts
        .frames
        .iter_mut()
        .filter_map(|p| match p {
            Part::Blob { digest, bytes } => Some((digest, bytes)),
            Part::Block { .. } => None,
        })
        .max_by_key(|(_, b)| b.len())
        .unwrap();
    let mid = blob.1.len() / 2;
    blob.1[mid] ^= 0x5a;
    *blob.0 = Digest::of(blob.1);
    let (code, text) = verify("swapped-blob", &put_together(&parts));
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("(event 1)") && text.contains("not stored before it"),
        "{text}"
    );
}
