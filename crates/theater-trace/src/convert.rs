//! Rewriting a trace in the current format ([`crate::FORMAT_VERSION`]).
//!
//! A conversion keeps a trace's meaning: the same events, in the same order, with the
//! same blobs; only the bytes change (and with them the chain values, which are a
//! function of the bytes). Version 1 and 2 state digests become 128-bit ones, as the
//! reader already presents them, and their payloads of 33 to 256 bytes, held as blobs,
//! are inlined (a payload compares equal in either form; those blobs are then not
//! written). Only a finished trace that verifies is converted: a trace cut by a crash
//! would come out looking finished, which it is not.

use std::collections::BTreeSet;

use crate::digest::Digest;
use crate::error::TraceError;
use crate::event::{EventBody, Payload, INLINE_PAYLOAD_MAX_BYTES};
use crate::reader::Trace;
use crate::writer::{TraceSink, TraceSummary, TraceWriter, WriterOptions};

/// Writes every event and blob of `trace` to `sink` in the current format. Fails, before
/// writing anything, if `trace` does not verify.
pub fn convert<W: TraceSink>(
    trace: &Trace,
    sink: W,
    options: WriterOptions,
) -> Result<(TraceSummary, W), TraceError> {
    trace.verify()?;
    let Some(header) = trace.header().cloned() else {
        return Err(TraceError::Misuse("an empty trace has nothing to convert"));
    };
    let manifest = trace
        .blob(&header.manifest)?
        .ok_or(TraceError::UnknownBlob {
            digest: header.manifest,
        })?;
    let mut writer = TraceWriter::new(sink, header, &manifest, options)?;
    let mut stored: BTreeSet<Digest> = BTreeSet::from([Digest::of(&manifest)]);
    for e in trace.events().skip(1) {
        let mut body = e?.event.body;
        inline_short_blobs(trace, &mut body)?;
        let mut missing = Vec::new();
        body.for_each_blob_ref(|d| {
            if !stored.contains(d) {
                missing.push(*d);
            }
        });
        for d in missing {
            if !stored.insert(d) {
                continue; // referenced twice by this event
            }
            let bytes = trace
                .blob(&d)?
                .ok_or(TraceError::UnknownBlob { digest: d })?;
            writer.blob(&bytes)?;
        }
        writer.append(body)?;
    }
    writer.finish()
}

/// Replaces each payload held as a blob but short enough to be inline in the current
/// format (versions 1 and 2 inlined at most 32 bytes) by its bytes: the same payload,
/// in the one form the current format allows.
fn inline_short_blobs(trace: &Trace, body: &mut EventBody) -> Result<(), TraceError> {
    let mut result = Ok(());
    body.for_each_payload_mut(|p| {
        let Payload::Blob { digest, len } = p else {
            return;
        };
        if result.is_err() || *len > INLINE_PAYLOAD_MAX_BYTES as u64 {
            return;
        }
        result = match trace.blob(digest) {
            Ok(Some(bytes)) => {
                *p = Payload::Inline(bytes.into());
                Ok(())
            }
            Ok(None) => Err(TraceError::UnknownBlob { digest: *digest }),
            Err(e) => Err(e),
        };
    });
    result
}

/// The number of the first event whose body differs between `a` and `b` (or that one of
/// them lacks); `None` when they hold the same events in the same order.
pub fn first_difference(a: &Trace, b: &Trace) -> Result<Option<u64>, TraceError> {
    let (mut ia, mut ib) = (a.events(), b.events());
    let mut n = 0;
    loop {
        match (ia.next().transpose()?, ib.next().transpose()?) {
            (None, None) => return Ok(None),
            (Some(x), Some(y)) if x.event.body == y.event.body => n += 1,
            _ => return Ok(Some(n)),
        }
    }
}
