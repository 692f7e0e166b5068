//! `theater run --record`: where the recording goes (a trace file, or a directory of
//! segments), and `--resume`: a run recorded to a directory, rebuilt from its trace and
//! continued.

use std::path::Path;

use anyhow::{Context, Result};
use theater_runtime::{run_header, Recorder, SegmentPlan, SegmentPolicy, Sink, SystemSpec};
use theater_trace::{segment_number, TraceWriter, WriterOptions};

/// The recorder for `--record PATH`: a trace file, or a directory of segments.
pub(crate) fn sink(
    path: &Path,
    force: bool,
    fsync: bool,
    segments: Option<SegmentPolicy>,
    spec: &SystemSpec,
) -> Result<Sink> {
    let options = WriterOptions {
        fsync,
        ..WriterOptions::default()
    };
    let to_dir = segments.is_some() || path.is_dir() || path.to_string_lossy().ends_with('/');
    if to_dir {
        if path.is_dir() && force {
            for entry in std::fs::read_dir(path)? {
                let entry = entry?;
                if entry
                    .file_name()
                    .to_str()
                    .and_then(segment_number)
                    .is_some()
                {
                    std::fs::remove_file(entry.path())
                        .with_context(|| format!("cannot replace {}", path.display()))?;
                }
            }
        }
        let plan = SegmentPlan::for_run(path, spec, options, segments.unwrap_or_default());
        let recorder = Recorder::spawn_segmented(plan).with_context(|| {
            format!(
                "cannot record to {} (use --force to replace its segments)",
                path.display()
            )
        })?;
        return Ok(Sink::Background(Box::new(recorder)));
    }
    if force && path.exists() {
        std::fs::remove_file(path).with_context(|| format!("cannot replace {}", path.display()))?;
    }
    let flush_ms = options.flush_interval_ms;
    let writer = TraceWriter::create(path, run_header(spec), &spec.manifest_bytes(), options)
        .with_context(|| {
            format!(
                "cannot record to {} (use --force to replace it)",
                path.display()
            )
        })?;
    Ok(Sink::Background(Box::new(Recorder::spawn(
        writer, flush_ms,
    )?)))
}

/// `--resume`: the run recorded in `dir`, rebuilt and recording again into a new
/// segment; says on standard error how the previous process ended and what the rebuild
/// re-executed.
pub(crate) fn resume(
    dir: &Path,
    fsync: bool,
    policy: SegmentPolicy,
    spec: &SystemSpec,
) -> Result<theater_runtime::resume::Resumed> {
    if !theater_runtime::resume::has_segments(dir) {
        anyhow::bail!(
            "cannot resume: {} holds no recording to a directory of segments (record with --record DIR/)",
            dir.display()
        );
    }
    let options = WriterOptions {
        fsync,
        ..WriterOptions::default()
    };
    let plan = SegmentPlan::for_run(dir, spec, options, policy);
    let mut cache = theater_runtime::ComponentCache::new(&spec.limits)?;
    let started = std::time::Instant::now();
    let r = theater_runtime::resume::resume(spec, plan, &mut cache)
        .with_context(|| format!("cannot resume the run in {}", dir.display()))?;
    let previous = match r.previous {
        theater_trace::PreviousEnd::Finished => "finished".to_string(),
        theater_trace::PreviousEnd::Stopped => "was stopped".to_string(),
        theater_trace::PreviousEnd::Cut => format!(
            "was cut (lost {} bytes, {} event(s) of a torn block)",
            r.lost_bytes, r.lost_events
        ),
    };
    eprintln!(
        "theater: resumed: the previous process {previous}; rebuilt from the snapshot at event {}, re-executing {} events, in {} ms; the trace holds {} inputs from a file (given again, they are checked and skipped)",
        r.from_snapshot,
        r.reexecuted,
        started.elapsed().as_millis(),
        r.recorded_inputs.len()
    );
    Ok(r)
}
