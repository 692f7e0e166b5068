//! `theater-replay`: inspect, check and export Theater traces.
//!
//! `info`, `dump` and `export` read the trace; `verify` checks its integrity (every
//! frame, digest, chain link and blob) and then re-executes it against the recorded
//! components (or swapped builds), reporting the first divergence. The REPL, diff and
//! bisect come next.
//!
//! Exit codes are stable for scripts: 0 success, 1 reserved for a divergence or
//! difference, 2 unusable input (missing, corrupt, truncated or tampered trace, bad
//! arguments).

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand, ValueEnum};
use theater_runtime::replay::{replay, ReplayOptions};
use theater_runtime::RuntimeError;
use theater_trace::{event_to_json, export_json_lines, EventBody, Payload, Trace, TraceError};

/// Exit code for a divergence or difference.
const EXIT_DIFFERENCE: u8 = 1;
/// Exit code for unusable input (corrupt trace, bad arguments).
const EXIT_UNUSABLE: u8 = 2;

#[derive(Parser)]
#[command(
    name = "theater-replay",
    version,
    about = "Inspect, verify and export Theater traces"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Summary of a trace: run header, events, blobs, chain head, damage.
    Info { trace: PathBuf },
    /// Check every frame checksum, event digest, chain link and blob digest, then
    /// re-execute the run and compare. Exit 0 if it matches, 1 on a divergence, 2 if the
    /// trace is damaged or cannot be replayed.
    Verify {
        trace: PathBuf,
        /// Only check integrity; do not re-execute.
        #[arg(long)]
        integrity_only: bool,
        /// Replay with a component replaced: `NAME=path/to/new.wasm` (repeatable).
        #[arg(long = "swap", value_name = "NAME=WASM")]
        swaps: Vec<String>,
        /// Restore every actor from a checkpoint every K deliveries (fresh instances,
        /// same state): exposes actors that hide state in linear memory.
        #[arg(long, value_name = "K")]
        checkpoint_every: Option<u64>,
    },
    /// Print events, one per line.
    Dump {
        trace: PathBuf,
        /// One JSON object per line instead of text.
        #[arg(long)]
        json: bool,
        /// First event to print.
        #[arg(long, default_value_t = 0)]
        from: u64,
        /// How many events to print (default: all).
        #[arg(long)]
        count: Option<u64>,
    },
    /// Write the whole trace in another format.
    Export {
        trace: PathBuf,
        #[arg(long, value_enum)]
        format: ExportFormat,
        /// Output file (default: standard output).
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum ExportFormat {
    /// JSON Lines, one event per line (see docs/trace-format.md).
    Json,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(EXIT_UNUSABLE)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_UNUSABLE)
        }
    }
}

fn open(path: &Path) -> anyhow::Result<Trace> {
    let trace = Trace::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    if let Some(r) = trace.recovery() {
        eprintln!(
            "warning: {} has no valid footer (the writer did not finish): kept {} events in {} bytes, dropped {} bytes ({} event(s)): {}",
            path.display(),
            trace.event_count(),
            r.valid_bytes,
            r.dropped_bytes,
            r.dropped_events,
            r.reason
        );
    }
    Ok(trace)
}

/// Payloads in blobs up to this size are printed by `dump`.
const PREVIEW_MAX_BYTES: u64 = 1024;

/// A short blob payload as text (or hex when not UTF-8); `None` for inline payloads
/// (the event line shows them) and long ones.
fn blob_preview(trace: &Trace, payload: &Payload) -> anyhow::Result<Option<String>> {
    let Payload::Blob { digest, len } = payload else {
        return Ok(None);
    };
    if *len > PREVIEW_MAX_BYTES {
        return Ok(None);
    }
    let Some(bytes) = trace.blob(digest)? else {
        return Ok(None);
    };
    Ok(Some(match std::str::from_utf8(&bytes) {
        Ok(text) => text
            .chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_debug().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
        Err(_) => format!("0x{}", theater_trace::hex(&bytes)),
    }))
}

fn run(command: Command) -> anyhow::Result<ExitCode> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    match command {
        Command::Info { trace: path } => {
            let trace = open(&path)?;
            writeln!(out, "trace:   {}", path.display())?;
            writeln!(out, "size:    {} bytes", trace.file_len())?;
            writeln!(out, "events:  {}", trace.event_count())?;
            writeln!(out, "blobs:   {}", trace.blob_count())?;
            writeln!(out, "head:    {}", trace.head())?;
            if let Some(h) = trace.header() {
                writeln!(
                    out,
                    "run:     {} mode={:?} seed={}",
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
        }
        Command::Verify {
            trace: path,
            integrity_only,
            swaps,
            checkpoint_every,
        } => {
            let trace = open(&path)?;
            match trace.verify() {
                Ok(r) => writeln!(
                    out,
                    "integrity ok: {} events, {} blobs ({} bytes), chain head {}",
                    r.events, r.blobs, r.blob_bytes, r.head
                )?,
                Err(e @ TraceError::Corrupt(_)) => {
                    out.flush()?;
                    eprintln!("verify failed: {}: {e}", path.display());
                    return Ok(ExitCode::from(EXIT_UNUSABLE));
                }
                Err(e) => return Err(e.into()),
            }
            if !integrity_only {
                let mut options = ReplayOptions {
                    checkpoint_every,
                    ..ReplayOptions::default()
                };
                for swap in swaps {
                    let (name, file) = swap
                        .split_once('=')
                        .with_context(|| format!("--swap {swap:?}: expected NAME=path.wasm"))?;
                    let bytes =
                        std::fs::read(file).with_context(|| format!("cannot read {file}"))?;
                    options.swaps.insert(name.to_string(), bytes);
                }
                let head = trace.head();
                out.flush()?;
                match replay(trace, &options) {
                    Ok(report) if report.head == head => writeln!(
                        out,
                        "replay ok: {} events re-executed, same chain head",
                        report.events
                    )?,
                    Ok(report) => {
                        writeln!(
                            out,
                            "replay stopped after {} events (chain head {})",
                            report.events, report.head
                        )?;
                        return Ok(ExitCode::from(EXIT_DIFFERENCE));
                    }
                    Err(RuntimeError::Divergence(d)) => {
                        out.flush()?;
                        eprintln!("{}: {d}", path.display());
                        return Ok(ExitCode::from(EXIT_DIFFERENCE));
                    }
                    Err(e) => bail!("cannot replay {}: {e}", path.display()),
                }
            }
        }
        Command::Dump {
            trace: path,
            json,
            from,
            count,
        } => {
            let trace = open(&path)?;
            let count = count.unwrap_or(u64::MAX);
            for event in trace
                .events_from(from)
                .take(count.try_into().unwrap_or(usize::MAX))
            {
                let e = event?;
                if json {
                    writeln!(out, "{}", event_to_json(&e))?;
                } else {
                    writeln!(
                        out,
                        "#{:<6} {}  {}",
                        e.number,
                        e.digest.short(),
                        e.event.body
                    )?;
                    // Blob payloads are shown too, when short: they are the messages.
                    if let EventBody::Input(d) | EventBody::Delivered(d) = &e.event.body {
                        if let Some(text) = blob_preview(&trace, &d.payload)? {
                            writeln!(out, "{:22}payload: {text}", "")?;
                        }
                    }
                }
            }
        }
        Command::Export {
            trace: path,
            format: ExportFormat::Json,
            output,
        } => {
            let trace = open(&path)?;
            let n = match output {
                Some(file) => {
                    let f = std::fs::File::create(&file)
                        .with_context(|| format!("cannot create {}", file.display()))?;
                    let mut w = io::BufWriter::new(f);
                    let n = export_json_lines(&trace, &mut w)?;
                    w.flush()?;
                    n
                }
                None => export_json_lines(&trace, &mut out)?,
            };
            eprintln!("exported {n} events");
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
