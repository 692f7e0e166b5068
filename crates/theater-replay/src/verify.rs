//! `verify`: a trace's integrity checked and its run re-executed.
//!
//! Both read every block of the trace. Where the trace allows it (one finished version
//! 3 file), they are made in one pass: the replay, split at snapshots over `--jobs`
//! threads, checks each block as it reads it ([`theater_runtime::replay_verifying`]),
//! so each block is decompressed and chain-hashed once. Anything that does not check out
//! that way, a divergence included, is looked at again by the ordinary integrity pass
//! first ([`theater_trace::Trace::verify_jobs`]), so damage is always reported as damage
//! (exit 2), with the first problem in trace order, and never as a divergence.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::bail;
use indicatif::ProgressBar;
use theater_runtime::replay::{ReplayOptions, ReplayReport};
use theater_runtime::RuntimeError;
use theater_trace::{Problem, Trace, TraceError, VerifyReport};

use crate::commands::event_range;
use crate::{open, progress, replay_with_progress, swaps, EXIT_DIFFERENCE, EXIT_UNUSABLE};

/// What `verify` checks.
pub(crate) struct VerifyOptions {
    pub(crate) integrity_only: bool,
    pub(crate) require_complete: bool,
    pub(crate) swaps: Vec<String>,
    pub(crate) checkpoint_every: Option<u64>,
    pub(crate) compare_fuel: bool,
    /// Threads to check and replay on (see `theater_runtime::replay_parallel`).
    pub(crate) jobs: usize,
}

/// `verify`: integrity and (unless `--integrity-only`) re-execution, on up to `--jobs`
/// threads. A trace cut by a crash is the normal state after one: its intact prefix is
/// checked and replayed, the lost tail reported, and it passes unless
/// `--require-complete`.
pub(crate) fn verify(
    path: &Path,
    options: &VerifyOptions,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let trace = open(path)?;
    if options.integrity_only {
        return Ok(match integrity(&trace, path, options, out)? {
            Integrity::Exit(code) => code,
            Integrity::Intact | Integrity::Cut => ExitCode::SUCCESS,
        });
    }
    let replay_options = ReplayOptions {
        checkpoint_every: options.checkpoint_every,
        swaps: swaps(&options.swaps)?,
        compare_fuel: options.compare_fuel,
    };
    if trace.can_check_inline() {
        let bar = progress(trace.event_count(), "verify");
        let (result, checked) = match threaded(path, &replay_options, options.jobs, &bar, true) {
            Ok((report, checked)) => (Ok(report), checked),
            Err(e) => (Err(e), None),
        };
        bar.finish_and_clear();
        match checked {
            Some(checked) => writeln!(out, "{}", integrity_ok(&trace, &checked))?,
            // Something did not check out: the ordinary pass tells damage from divergence.
            None => {
                if let Integrity::Exit(code) = integrity(&trace, path, options, out)? {
                    return Ok(code);
                }
            }
        }
        return replayed(path, &trace, result, &replay_options, false, out);
    }
    let cut = match integrity(&trace, path, options, out)? {
        Integrity::Exit(code) => return Ok(code),
        Integrity::Cut => true,
        Integrity::Intact => false,
    };
    out.flush()?;
    let bar = progress(trace.event_count(), "verify");
    let result = if options.jobs > 1 {
        threaded(path, &replay_options, options.jobs, &bar, false).map(|r| r.0)
    } else {
        let first = open(path)?;
        replay_with_progress(first, &replay_options, &bar)
    };
    bar.finish_and_clear();
    replayed(path, &trace, result, &replay_options, cut, out)
}

/// What the integrity pass found, once printed.
enum Integrity {
    Intact,
    /// Cut by a crash, its intact prefix checked: it is replayed up to the cut.
    Cut,
    /// Nothing more to do: end with this code.
    Exit(ExitCode),
}

fn integrity_ok(trace: &Trace, r: &VerifyReport) -> String {
    format!(
        "integrity ok: {}, {} blobs ({} bytes), chain head {}",
        event_range(trace),
        r.blobs,
        r.blob_bytes,
        r.head
    )
}

/// The integrity pass on up to `--jobs` threads, its outcome printed.
fn integrity(
    trace: &Trace,
    path: &Path,
    options: &VerifyOptions,
    out: &mut dyn Write,
) -> anyhow::Result<Integrity> {
    match trace.verify_jobs(options.jobs) {
        Ok(r) => {
            writeln!(out, "{}", integrity_ok(trace, &r))?;
            Ok(Integrity::Intact)
        }
        // A trace cut by a crash: its intact prefix checked out.
        Err(TraceError::Corrupt(c)) if matches!(c.problem, Problem::Incomplete { .. }) => {
            let r = trace
                .recovery()
                .expect("only a recovered trace is incomplete");
            writeln!(
                out,
                "integrity ok up to the cut: {}, chain head {}",
                event_range(trace),
                trace.head()
            )?;
            writeln!(
                out,
                "cut: the run did not finish its trace; lost {} bytes ({} event(s)) after byte {}: {}",
                r.dropped_bytes, r.dropped_events, r.valid_bytes, r.reason
            )?;
            if options.require_complete {
                out.flush()?;
                eprintln!(
                    "verify failed: {}: {c} (--require-complete)",
                    path.display()
                );
                return Ok(Integrity::Exit(ExitCode::from(EXIT_UNUSABLE)));
            }
            Ok(Integrity::Cut)
        }
        Err(e @ (TraceError::Corrupt(_) | TraceError::Segments(_))) => {
            out.flush()?;
            eprintln!("verify failed: {}: {e}", path.display());
            Ok(Integrity::Exit(ExitCode::from(EXIT_UNUSABLE)))
        }
        Err(e) => Err(e.into()),
    }
}

/// The replay's outcome printed, and the exit code.
fn replayed(
    path: &Path,
    trace: &Trace,
    result: Result<ReplayReport, RuntimeError>,
    options: &ReplayOptions,
    cut: bool,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    match result {
        Ok(report) if report.head == trace.head() => {
            writeln!(
                out,
                "replay ok: {} events re-executed, same chain head{}",
                report.events - trace.first_event(),
                if cut { " (up to the cut)" } else { "" }
            )?;
            if report.fuel_differs > 0 {
                writeln!(
                    out,
                    "behaviour identical (fuel differs in {} deliveries)",
                    report.fuel_differs
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Ok(report) => {
            writeln!(
                out,
                "replay stopped after {} events (chain head {})",
                report.events, report.head
            )?;
            Ok(ExitCode::from(EXIT_DIFFERENCE))
        }
        Err(RuntimeError::Divergence(d)) => {
            out.flush()?;
            eprintln!("{}: {d}", path.display());
            if !options.swaps.is_empty() {
                explain_swap_divergence(path, options)?;
            }
            Ok(ExitCode::from(EXIT_DIFFERENCE))
        }
        Err(e) => bail!("cannot replay {}: {e}", path.display()),
    }
}

/// The trace at `path` replayed on up to `jobs` threads
/// ([`theater_runtime::replay_verifying`] with `inline`, else
/// [`theater_runtime::replay_parallel`]), the bar following it.
fn threaded(
    path: &Path,
    options: &ReplayOptions,
    jobs: usize,
    bar: &ProgressBar,
    inline: bool,
) -> Result<(ReplayReport, Option<VerifyReport>), RuntimeError> {
    let done = AtomicU64::new(0);
    let open = || crate::open_trace(path).map_err(|e| RuntimeError::from(e.into_trace_error()));
    std::thread::scope(|s| {
        let replay = s.spawn(|| {
            let mut cache = theater_runtime::ComponentCache::new(&Default::default())?;
            if inline {
                theater_runtime::replay_verifying(&open, options, jobs, &mut cache, &done)
            } else {
                theater_runtime::replay_parallel(&open, options, jobs, &mut cache, &done)
                    .map(|r| (r, None))
            }
        });
        while !replay.is_finished() {
            bar.set_position(done.load(Ordering::Relaxed));
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        replay
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// After a divergence with swapped components: the first delivery that behaves
/// differently, in full (the input, what was recorded, what the new build did, and a
/// diff of the actor's state), from a regression run of the same inputs.
fn explain_swap_divergence(path: &Path, replay: &ReplayOptions) -> anyhow::Result<()> {
    let options = theater_debugger::RegressOptions {
        swaps: replay.swaps.clone(),
        compare_fuel: replay.compare_fuel,
        details: 0,
        max_deliveries: None,
        output: None,
    };
    let report = theater_debugger::regress(open(path)?, &options)?;
    if let Some(first) = &report.first {
        eprint!(
            "first delivery that behaves differently: {}",
            report.render_change(first)
        );
    }
    Ok(())
}
