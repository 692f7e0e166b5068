//! Replaying a trace: the same scheduler, fed from the trace.
//!
//! The replay rebuilds the system from the trace alone (manifest and components are
//! blobs in it), then walks the recorded events: external inputs are re-injected where
//! they were recorded, every other event is recomputed by the scheduler and compared
//! with the recording. The first difference stops the replay with a [`Divergence`]
//! report. A component may be swapped for another build (regression testing): its
//! digest is then mapped to the recorded one, and any behaviour change shows up as a
//! divergence in the events that follow.
//!
//! [`Divergence`]: crate::Divergence

use std::collections::BTreeMap;

use theater_trace::{Digest, EventBody, Payload, Trace};

use crate::error::RuntimeError;
use crate::sink::{Replayer, Sink};
use crate::spec::SystemSpec;
use crate::system::{ComponentCache, System};

/// How to replay.
#[derive(Clone, Debug, Default)]
pub struct ReplayOptions {
    /// Components to replace, by name: their new bytes (regression testing).
    pub swaps: BTreeMap<String, Vec<u8>>,
    /// Restore from a checkpoint every K deliveries: each actor's instance is replaced by
    /// a fresh one while the host-held state is kept — exactly what resuming from a
    /// checkpoint does. An actor that keeps hidden state in linear memory then diverges.
    pub checkpoint_every: Option<u64>,
}

/// What a successful replay matched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayReport {
    /// Events matched, the run header included.
    pub events: u64,
    /// Digest of the last event matched: equals the recording's chain head when the
    /// whole trace was replayed.
    pub head: Digest,
    /// Whether the recording ended with `RunEnded` (a crashed recording replays up to
    /// where it was cut).
    pub finished: bool,
}

/// The system spec recorded in a trace, with each component's bytes filled from the
/// trace (or from `swaps`, by component name).
pub fn spec_from_trace(
    trace: &Trace,
    swaps: &BTreeMap<String, Vec<u8>>,
) -> Result<(SystemSpec, BTreeMap<Digest, Digest>), RuntimeError> {
    let header = trace
        .header()
        .ok_or_else(|| RuntimeError::Unreplayable("the trace has no run header".into()))?;
    let manifest = trace
        .blob(&header.manifest)?
        .ok_or_else(|| RuntimeError::Unreplayable("the manifest blob is missing".into()))?;
    let mut spec = SystemSpec::from_manifest_bytes(&manifest)?;
    let mut recorded: BTreeMap<String, Digest> = BTreeMap::new();
    for e in trace.events_from(1) {
        match e?.event.body {
            EventBody::ComponentRegistered { name, component } => {
                recorded.insert(name, component);
            }
            _ => break,
        }
    }
    let mut aliases = BTreeMap::new();
    for c in &mut spec.components {
        let digest = *recorded.get(&c.name).ok_or_else(|| {
            RuntimeError::Unreplayable(format!(
                "component {:?} is not registered in the trace",
                c.name
            ))
        })?;
        c.bytes = match swaps.get(&c.name) {
            Some(bytes) => {
                aliases.insert(Digest::of(bytes), digest);
                bytes.clone()
            }
            None => trace.blob(&digest)?.ok_or_else(|| {
                RuntimeError::Unreplayable(format!("component blob {digest} is missing"))
            })?,
        };
    }
    Ok((spec, aliases))
}

/// Replays `trace` to its end (or to where a crashed recording was cut). Returns the
/// first divergence as an error.
pub fn replay(trace: Trace, options: &ReplayOptions) -> Result<ReplayReport, RuntimeError> {
    let (spec, _) = spec_from_trace(&trace, &options.swaps)?;
    replay_cached(trace, options, &mut ComponentCache::new(&spec.limits)?)
}

/// [`replay`], reusing compiled components.
pub fn replay_cached(
    trace: Trace,
    options: &ReplayOptions,
    cache: &mut ComponentCache,
) -> Result<ReplayReport, RuntimeError> {
    let (spec, aliases) = spec_from_trace(&trace, &options.swaps)?;
    let mut deliveries = 0u64;
    let mut replayer = Replayer::new(trace, 1);
    replayer.aliases = aliases;
    let mut system = System::with_cache(&spec, Sink::Replay(Box::new(replayer)), cache)?;
    loop {
        let Some(next) = system.sink_mut().peek_recorded()? else {
            // The recording stops here (its writer was cut off): all of it matched.
            let sink = system.sink_mut();
            return Ok(ReplayReport {
                events: sink.events(),
                head: sink.head(),
                finished: false,
            });
        };
        match next {
            EventBody::Input(d) => {
                let bytes = payload_bytes(&mut system, &d.payload)?;
                system.inject(d.to, bytes)?;
            }
            EventBody::Refused { to, payload, .. } => {
                let bytes = payload_bytes(&mut system, &payload)?;
                system.inject(to, bytes)?;
            }
            EventBody::RunEnded { reason, .. } => {
                let (_, sink) = system.finish(&reason)?;
                return Ok(ReplayReport {
                    events: sink.events(),
                    head: sink.head(),
                    finished: true,
                });
            }
            other => {
                if let Some(k) = options.checkpoint_every {
                    if deliveries > 0 && deliveries.is_multiple_of(k.max(1)) {
                        system.restore_instances()?;
                    }
                }
                deliveries += 1;
                if !system.step()? {
                    return Err(RuntimeError::Divergence(Box::new(crate::Divergence {
                        event: system.sink_mut().events(),
                        actor: other.actor(),
                        expected: other.to_string(),
                        actual: "(nothing: the replayed system is idle)".into(),
                    })));
                }
            }
        }
    }
}

fn payload_bytes(system: &mut System, p: &Payload) -> Result<Vec<u8>, RuntimeError> {
    match p {
        Payload::Inline(b) => Ok(b.0.clone()),
        Payload::Blob { digest, .. } => match system.sink_mut() {
            Sink::Replay(r) => r.trace().blob(digest)?.ok_or_else(|| {
                RuntimeError::Unreplayable(format!("payload blob {digest} is missing"))
            }),
            _ => Err(RuntimeError::Unreplayable("not replaying".into())),
        },
    }
}
