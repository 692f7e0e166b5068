//! Segments in an object store's form: zblobs taken out ([`externalize`]) and kept by
//! digest in a blob store. The thin segments read, seek and verify exactly as the files
//! they came from, with every blob fetched and checked; a blob missing from the store, or
//! altered there, is a clear error that names it, never a panic.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use theater_trace::synth::{self, for_seeds, Rng};
use theater_trace::{
    externalize, internalize, segment_file_name, BlobSource, ByteSource, Digest, EventBody,
    RemotePart, SegmentStart, Trace, TraceError, TraceWriter, WriterOptions,
};

#[derive(Debug)]
struct Object(Vec<u8>);

impl ByteSource for Object {
    fn len(&self) -> u64 {
        self.0.len() as u64
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let start = offset as usize;
        let part = self
            .0
            .get(start..start + buf.len())
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::UnexpectedEof))?;
        buf.copy_from_slice(part);
        Ok(())
    }
}

#[derive(Debug, Default)]
struct Blobs(Mutex<BTreeMap<Digest, Vec<u8>>>);

impl BlobSource for Blobs {
    fn fetch(&self, digest: &Digest) -> std::io::Result<Option<Vec<u8>>> {
        Ok(self.0.lock().unwrap().get(digest).cloned())
    }
}

/// A run of `segments` sealed segments (each with a 40 KiB component, the same in all,
/// and a large payload of its own), as bytes.
fn run(seed: u64, segments: u64) -> (Vec<Vec<u8>>, Digest) {
    let mut rng = Rng::new(seed);
    let component = rng.bytes(40 << 10);
    let options = WriterOptions {
        flush_every_events: 1 + rng.below(40) as u32,
        ..WriterOptions::default()
    };
    let (mut events, mut head) = (0u64, Digest::ZERO);
    let mut files = Vec::new();
    for k in 0..segments {
        let mut w = if k == 0 {
            TraceWriter::new(
                Vec::new(),
                synth::header(seed),
                synth::MANIFEST,
                options.clone(),
            )
        } else {
            let start = SegmentStart {
                run: synth::header(seed),
                segment: k,
                first_event: events,
                previous_head: head,
            };
            TraceWriter::segment(Vec::new(), start, synth::MANIFEST, options.clone())
        }
        .unwrap();
        let digest = w.blob(&component).unwrap();
        w.append(EventBody::ComponentRegistered {
            name: "big".into(),
            component: digest,
        })
        .unwrap();
        let large = rng.bytes(20 << 10);
        w.blob(&large).unwrap();
        let end = w.event_count() + 30 + rng.below(200);
        synth::random_run(&mut rng, &mut w, end).unwrap();
        let (summary, bytes) = w.finish().unwrap();
        (events, head) = (summary.events, summary.head);
        files.push(bytes);
    }
    (files, head)
}

fn thin(files: &[Vec<u8>], blobs: &Blobs) -> Vec<RemotePart> {
    files
        .iter()
        .enumerate()
        .map(|(k, bytes)| {
            let e = externalize(bytes.clone()).unwrap();
            assert!(e.thin.len() < bytes.len(), "the zblobs left the segment");
            let mut store = blobs.0.lock().unwrap();
            for (d, object) in e.blobs {
                store.insert(d, object);
            }
            RemotePart {
                name: segment_file_name(k as u64),
                source: Arc::new(Object(e.thin)),
            }
        })
        .collect()
}

#[test]
fn thin_segments_read_and_verify_as_the_files_they_came_from() {
    for_seeds(12, |seed| {
        let segments = 1 + seed % 3;
        let (files, head) = run(seed, segments);
        let blobs = Arc::new(Blobs::default());
        let parts = thin(&files, &blobs);
        // The shared component is one object, whatever the number of segments.
        let stored = blobs.0.lock().unwrap().len();
        assert_eq!(
            stored as u64,
            1 + segments,
            "one component, one large payload each"
        );
        let remote = Trace::open_remote("mem://run", parts, blobs.clone()).unwrap();
        assert_eq!(remote.head(), head);
        let report = remote.verify().unwrap();
        assert_eq!(report.head, head);
        // Every event and every blob equals the fat files'.
        let fat: Vec<_> = files
            .iter()
            .flat_map(|f| {
                let t = Trace::from_bytes(f.clone()).unwrap();
                t.events().map(|e| e.unwrap().event).collect::<Vec<_>>()
            })
            .collect();
        let thin: Vec<_> = remote.events().map(|e| e.unwrap().event).collect();
        assert_eq!(thin, fat);
        for f in &files {
            let t = Trace::from_bytes(f.clone()).unwrap();
            for d in t.blob_digests() {
                assert_eq!(remote.blob(d).unwrap(), t.blob(d).unwrap(), "blob {d}");
            }
        }
        // A seek to the last event.
        let last = remote.event(remote.event_count() - 1).unwrap();
        assert_eq!(last.digest, head);
        // Internalized again: the very bytes the writer wrote.
        let source: theater_trace::SharedBlobSource = blobs.clone();
        for (k, f) in files.iter().enumerate() {
            let thin = externalize(f.clone()).unwrap().thin;
            assert_eq!(&internalize(thin, &source).unwrap(), f, "segment {k}");
        }
    });
}

#[test]
fn a_blob_missing_from_the_store_or_altered_there_is_named() {
    let (files, _) = run(7, 2);
    let blobs = Arc::new(Blobs::default());
    let parts = thin(&files, &blobs);
    let component = {
        let t = Trace::from_bytes(files[0].clone()).unwrap();
        t.events()
            .find_map(|e| match e.unwrap().event.body {
                EventBody::ComponentRegistered { component, .. } => Some(component),
                _ => None,
            })
            .unwrap()
    };
    // Altered: one byte of its compressed data flipped (and the frame's checksum no
    // longer matches).
    let good = blobs.0.lock().unwrap().get(&component).cloned().unwrap();
    let mut bad = good.clone();
    let n = bad.len();
    bad[n - 1] ^= 1;
    blobs.0.lock().unwrap().insert(component, bad);
    let remote = Trace::open_remote("mem://run", parts.clone(), blobs.clone()).unwrap();
    let err = remote.verify().unwrap_err().to_string();
    assert!(err.contains(&component.to_string()), "{err}");
    let err = remote.blob(&component).unwrap_err().to_string();
    assert!(err.contains(&component.to_string()), "{err}");
    // Missing.
    blobs.0.lock().unwrap().remove(&component);
    let remote = Trace::open_remote("mem://run", parts.clone(), blobs.clone()).unwrap();
    let err = remote.verify().unwrap_err();
    assert!(matches!(err, TraceError::Segments(_)), "{err}");
    assert!(
        err.to_string()
            .contains(&format!("blob {component} is missing")),
        "{err}"
    );
    // Events still read: no blob is needed to step.
    assert_eq!(remote.events().count() as u64, remote.event_count());
}

#[test]
fn only_a_sealed_segment_is_externalized() {
    let (files, _) = run(3, 1);
    let mut cut = files[0].clone();
    cut.truncate(cut.len() - 10);
    assert!(matches!(externalize(cut), Err(TraceError::Misuse(_))));
    assert!(externalize(b"not a trace".to_vec()).is_err());
}
