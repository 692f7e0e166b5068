//! The non-interactive subcommands, one function each: what they print goes to `out`,
//! what they return is the exit code (`EXIT_DIFFERENCE` for a divergence, a
//! difference, or a predicate that never holds).

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use indicatif::ProgressStyle;
use theater_debugger::export::{ExportFormat, MERMAID_WINDOW_EVENTS};
use theater_debugger::inspect::{describe, text_preview};
use theater_debugger::{
    bisect, bisect_inputs, diff, minimize, DebugError, Predicate, Session, SessionOptions,
};
use theater_trace::event_to_json;

use crate::{open, progress, render, session_progress, EXIT_DIFFERENCE, MERMAID_BEFORE_EVENTS};

/// "N events", and which, when the trace does not start at event 0.
pub(crate) fn event_range(trace: &theater_trace::Trace) -> String {
    let (first, end) = (trace.first_event(), trace.event_count());
    if first == 0 {
        format!("{end} events")
    } else {
        format!(
            "{} events ({first} to {})",
            end - first,
            end.saturating_sub(1)
        )
    }
}

/// `info`: the trace's size, counts, head, run header and whether it finished.
pub(crate) fn info(path: &Path, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let trace = open(path)?;
    writeln!(out, "trace:   {}", path.display())?;
    writeln!(out, "size:    {} bytes", trace.file_len())?;
    match trace.block_count() {
        Some(blocks) => writeln!(
            out,
            "format:  version {} ({blocks} compressed blocks)",
            trace.format_version()
        )?,
        None => writeln!(
            out,
            "format:  version {} (one frame per event; `theater-replay convert` rewrites it in version {})",
            trace.format_version(),
            theater_trace::FORMAT_VERSION
        )?,
    }
    writeln!(
        out,
        "events:  {}",
        event_range(&trace).replacen(" events", "", 1)
    )?;
    if let (Some(first), Some(last)) = (trace.segments().first(), trace.segments().last()) {
        let cut = trace
            .segments()
            .iter()
            .filter(|s| s.recovery.is_some())
            .count();
        writeln!(
            out,
            "segments: {} (segment {} to {}{}{})",
            trace.segments().len(),
            first.number,
            last.number,
            if first.number > 0 {
                "; older ones deleted"
            } else {
                ""
            },
            if cut > 0 {
                format!("; {cut} cut by a crash")
            } else {
                String::new()
            }
        )?;
    } else if let Some((parent, at)) = trace.fork_origin()? {
        writeln!(
            out,
            "fork:    of the trace with head {}, going on from its event #{at}",
            parent.short()
        )?;
    } else if let Some((n, _)) = trace.segment_start() {
        writeln!(out, "segment: {n} of a trace recorded to a directory")?;
    }
    writeln!(out, "blobs:   {}", trace.blob_count())?;
    let snapshots = trace.snapshots()?;
    if let Some(last) = snapshots.last() {
        writeln!(
            out,
            "snapshots: {} (the last at event {last}: a seek starts from the nearest)",
            snapshots.len()
        )?;
    }
    writeln!(out, "head:    {}", trace.head())?;
    if let Some(h) = trace.header() {
        // The order deliveries were picked in is part of the manifest blob.
        let schedule = trace
            .blob(&h.manifest)
            .ok()
            .flatten()
            .and_then(|m| theater_runtime::SystemSpec::from_manifest_bytes(&m).ok())
            .map_or_else(|| "unknown".into(), |s| s.schedule.to_string());
        writeln!(
            out,
            "run:     {} mode={} seed={} schedule={schedule}",
            h.producer, h.mode, h.seed
        )?;
        writeln!(
            out,
            "engine:  {} nan-canonicalization={} relaxed-simd-deterministic={} threads={} fuel={} max-stack={}B",
            h.engine.engine,
            h.engine.nan_canonicalization,
            h.engine.relaxed_simd_deterministic,
            h.engine.threads,
            h.engine.fuel_metering,
            h.engine.max_wasm_stack_bytes
        )?;
    }
    writeln!(
        out,
        "state:   {}",
        if trace.recovery().is_some() {
            "incomplete (recovered)"
        } else {
            "finished"
        }
    )?;

    Ok(ExitCode::SUCCESS)
}

/// `dump`: every event from `from`, as text or JSON lines.
pub(crate) fn dump(
    path: &Path,
    json: bool,
    from: u64,
    count: Option<u64>,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let trace = open(path)?;
    let count = count.unwrap_or(u64::MAX);
    for event in trace
        .events_from(from)
        .take(count.try_into().unwrap_or(usize::MAX))
    {
        let e = event?;
        if json {
            writeln!(out, "{}", event_to_json(&e))?;
        } else {
            // Blob payloads are shown too, when short: they are the messages.
            writeln!(out, "{}", describe(&trace, &e))?;
        }
    }

    Ok(ExitCode::SUCCESS)
}

/// `diff`: per-actor comparison of two runs; exit 1 when they differ.
pub(crate) fn diff_runs(
    a: &Path,
    b: &Path,
    mermaid: Option<&Path>,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let (ta, tb) = (open(a)?, open(b)?);
    let d = diff(&ta, &tb)?;
    if let (Some(file), Some(first)) = (mermaid, &d.first) {
        let mut md = String::from("# First divergence\n");
        for (name, trace, side) in [(a, &ta, &first.a), (b, &tb, &first.b)] {
            let at = side.event.unwrap_or(trace.event_count());
            let from = at.saturating_sub(MERMAID_BEFORE_EVENTS);
            md.push_str(&format!(
                "\n## {} (event {at})\n\n```mermaid\n{}```\n",
                name.display(),
                theater_debugger::export::mermaid_marked(
                    trace,
                    from,
                    MERMAID_WINDOW_EVENTS,
                    Some((at, "first divergence"))
                )?
            ));
        }
        std::fs::write(file, md).with_context(|| format!("cannot write {}", file.display()))?;
    }
    writeln!(
        out,
        "{}",
        render::diff(&d, &a.display().to_string(), &b.display().to_string())
    )?;
    out.flush()?;
    Ok(if d.same() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_DIFFERENCE)
    })
}

/// `bisect`: the first step where the predicate holds, or (`--good`/`--bad`) the first
/// input that makes it hold.
pub(crate) fn bisect_trace(
    trace: Option<PathBuf>,
    until: Option<String>,
    good: Option<PathBuf>,
    bad: Option<PathBuf>,
    mermaid: Option<PathBuf>,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    if let (Some(good), Some(bad)) = (good, bad) {
        let predicate: Predicate = until.as_deref().unwrap_or("failed").parse()?;
        let (tg, tb) = (open(&good)?, open(&bad)?);
        let r = bisect_inputs(&tg, &tb, &predicate)?;
        let show = |i: &Option<theater_debugger::rerun::Input>| {
            i.as_ref().map_or("(none)".to_string(), |i| {
                format!("to actor {}: {}", i.to, text_preview(&i.payload))
            })
        };
        writeln!(
            out,
            "the first input that makes `{predicate}` hold is input {} ({} reruns)",
            r.index + 1,
            r.runs
        )?;
        writeln!(out, "  in {}: {}", bad.display(), show(&r.bad))?;
        writeln!(out, "  in {}: {}", good.display(), show(&r.good))?;
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    let path = trace.context("bisect needs a trace (or --good and --bad)")?;
    let until = until.context("bisect needs --until PREDICATE")?;
    let predicate: Predicate = until.parse()?;
    let mut session = Session::new(open(&path)?, &SessionOptions::default())?;
    let bar = progress(session.trace().event_count(), "bisect");
    session.set_progress(Some(session_progress(&bar)));
    let found = bisect(&mut session, &predicate);
    bar.finish_and_clear();
    match found? {
        Some(r) => {
            writeln!(out, "{}", render::bisect(&session, &until, &r))?;
            if let Some(file) = &mermaid {
                let at = r.events.first().map_or(0, |e| e.number);
                let from = at.saturating_sub(MERMAID_BEFORE_EVENTS);
                let md = format!(
                    "# `{until}` first holds after event {at}\n\n```mermaid\n{}```\n",
                    theater_debugger::export::mermaid_marked(
                        session.trace(),
                        from,
                        MERMAID_WINDOW_EVENTS,
                        Some((at, "culprit: the predicate holds after this"))
                    )?
                );
                std::fs::write(file, md)
                    .with_context(|| format!("cannot write {}", file.display()))?;
            }
        }
        None => {
            writeln!(out, "`{predicate}` never holds in {}", path.display())?;
            out.flush()?;
            return Ok(ExitCode::from(EXIT_DIFFERENCE));
        }
    }

    Ok(ExitCode::SUCCESS)
}

/// `minimize`: the smallest input subset that still makes the predicate hold.
pub(crate) fn minimize_trace(
    trace: &Path,
    until: &str,
    output: &Path,
    force: bool,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let predicate: Predicate = until.parse()?;
    if output.exists() && !force {
        bail!("{} exists (use --force to replace it)", output.display());
    }
    let t = open(trace)?;
    let bar = progress(0, "minimize");
    bar.set_style(
        ProgressStyle::with_template("{msg:10} {pos} reruns, {prefix} inputs left")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let m = minimize(&t, &predicate, |runs, left| {
        bar.set_position(runs);
        bar.set_prefix(left.to_string());
    });
    bar.finish_and_clear();
    let m = match m {
        Ok(m) => m,
        Err(e @ DebugError::NotFound(_)) => {
            writeln!(out, "{e}")?;
            out.flush()?;
            return Ok(ExitCode::from(EXIT_DIFFERENCE));
        }
        Err(e) => return Err(e.into()),
    };
    std::fs::write(output, &m.trace)
        .with_context(|| format!("cannot write {}", output.display()))?;
    writeln!(
        out,
        "kept {} of {} inputs ({} reruns); wrote {}",
        m.kept.len(),
        m.original.len(),
        m.runs,
        output.display()
    )?;
    for i in &m.kept {
        writeln!(
            out,
            "  input (was event #{}) to actor {}: {}",
            i.event,
            i.to,
            text_preview(&i.payload)
        )?;
    }

    Ok(ExitCode::SUCCESS)
}

/// `export`: the trace as JSON lines or a picture, to a file or standard output.
pub(crate) fn export(
    path: &Path,
    format: ExportFormat,
    output: Option<&Path>,
    from: u64,
    count: Option<u64>,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let trace = open(path)?;
    let mut sink: Box<dyn Write + '_> = match output {
        Some(file) => Box::new(io::BufWriter::new(
            std::fs::File::create(file)
                .with_context(|| format!("cannot create {}", file.display()))?,
        )),
        None => Box::new(&mut *out),
    };
    let window = (from, count.unwrap_or(u64::MAX));
    let what = theater_debugger::export::write(&trace, format, window, &mut sink)?;
    sink.flush()?;
    drop(sink);
    eprintln!("exported {what}");

    Ok(ExitCode::SUCCESS)
}
