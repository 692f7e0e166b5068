//! `theater-replay`: the debugger for Theater traces.
//!
//! `theater-replay TRACE` opens the interactive debugger (see `repl`). The subcommands
//! are for scripts and CI: `info`, `dump` and `export` read the trace; `verify` checks
//! its integrity (every frame, digest, chain link and blob) and re-executes it against
//! the recorded components (or swapped builds); `diff` compares two runs; `bisect` finds
//! the first step at which a predicate holds; `minimize` shrinks a failing run's inputs;
//! `fork` goes on from one event of a run with some of its later inputs changed;
//! `regress` reruns a trace's inputs against new builds and reports every behaviour
//! change per actor; `verify-all` verifies (or regresses) every trace under a prefix,
//! one shard of them if asked; `convert` rewrites an old trace in the current format.
//!
//! Exit codes are stable for scripts: 0 success, 1 a divergence, a difference, or a
//! predicate that never holds, 2 unusable input (missing, corrupt, truncated or tampered
//! trace, bad arguments).

mod commands;
mod convert;
mod fork;
mod regress;
mod render;
mod repl;
mod repl_branch;
mod verify;
mod verify_all;

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::builder::TypedValueParser as _;
use clap::{Parser, Subcommand};
use std::collections::BTreeMap;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use theater_debugger::export::ExportFormat;
use theater_debugger::{Session, SessionOptions};
use theater_runtime::replay::{ReplayDriver, ReplayOptions, ReplayReport, Step};
use theater_runtime::{ComponentCache, Limits, RuntimeError};
use theater_trace::Trace;

/// Events shown before the first divergence or culprit in a `--mermaid` picture (of
/// `MERMAID_WINDOW_EVENTS`).
const MERMAID_BEFORE_EVENTS: u64 = 20;

/// Exit code for a divergence or difference.
const EXIT_DIFFERENCE: u8 = 1;
/// Exit code for unusable input (corrupt trace, bad arguments).
const EXIT_UNUSABLE: u8 = 2;

#[derive(Parser)]
#[command(
    name = "theater-replay",
    version,
    about = "Debug Theater traces: step, go back, break, inspect, verify, regress, diff, bisect, minimize, fork",
    after_help = "`theater-replay TRACE` is short for `theater-replay repl TRACE`."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The interactive debugger (also: `theater-replay TRACE`).
    Repl {
        trace: PathBuf,
        /// History file (default: ~/.theater-replay-history).
        #[arg(long)]
        history: Option<PathBuf>,
        /// Keep a checkpoint every this many events (going back re-executes at most this
        /// many past the nearest one).
        #[arg(long, default_value_t = theater_debugger::CHECKPOINT_EVERY_EVENTS_DEFAULT)]
        checkpoint_every: u64,
        /// Replay with a component replaced: `NAME=path/to/new.wasm` (repeatable).
        #[arg(long = "swap", value_name = "NAME=WASM")]
        swaps: Vec<String>,
    },
    /// Summary of a trace: run header, events, blobs, chain head, damage.
    Info { trace: PathBuf },
    /// Check every frame checksum, event digest, chain link and blob digest, then
    /// re-execute the run and compare. Exit 0 if it matches (a trace cut by a crash: up
    /// to the cut, with the lost tail reported), 1 on a divergence, 2 if the trace is
    /// damaged or cannot be replayed.
    Verify {
        trace: PathBuf,
        /// Only check integrity; do not re-execute.
        #[arg(long)]
        integrity_only: bool,
        /// Fail (exit 2) on a trace cut by a crash; by default its intact prefix is
        /// checked and replayed, the lost tail reported, and it passes.
        #[arg(long)]
        require_complete: bool,
        /// Replay with a component replaced: `NAME=path/to/new.wasm` (repeatable).
        #[arg(long = "swap", value_name = "NAME=WASM")]
        swaps: Vec<String>,
        /// Restore every actor from a checkpoint every K deliveries (fresh instances,
        /// same state): exposes actors that hide state in linear memory.
        #[arg(long, value_name = "K")]
        checkpoint_every: Option<u64>,
        /// Compare fuel for the deliveries of swapped components too (by default a swap
        /// compares behaviour: state, messages, logs, host calls and outcome).
        #[arg(long)]
        compare_fuel: bool,
        /// Check and replay on this many threads: the integrity check split at blocks,
        /// the replay at the trace's recorded snapshots (the state at the end of each
        /// part must equal the snapshot the next starts from). Default: the number of
        /// cores; a trace without snapshots, or a swap, replays on one.
        #[arg(long, value_name = "N")]
        jobs: Option<usize>,
    },
    /// Rerun the trace's external inputs against new builds and report every change in
    /// behaviour per actor: how many deliveries differ in state, messages, logs, host
    /// calls or outcome, and the first ones in full. Exit 0 if behaviour is identical, 1
    /// if it differs, 2 for unusable input.
    Regress(regress::RegressArgs),
    /// Rewrite a trace (format version 1, 2 or 3) in the current format: the same events
    /// in the same order, checked before the file is put in place. Exit 0 on success, 2
    /// if the trace is damaged, incomplete or the output exists (without --force).
    Convert(convert::ConvertArgs),
    /// Compare two traces per actor; show the first divergence with context and a
    /// summary. Exit 0 if they record the same run, 1 if they differ.
    Diff {
        a: PathBuf,
        b: PathBuf,
        /// Also write a Markdown file with a Mermaid sequence diagram of each run around
        /// the first divergence.
        #[arg(long, value_name = "FILE.md")]
        mermaid: Option<PathBuf>,
    },
    /// Find the first step at which a predicate holds (exit 1 if it never does), or with
    /// --good/--bad the first input difference between two runs that makes it hold.
    Bisect {
        trace: Option<PathBuf>,
        /// failed | failed:ACTOR | log:REGEX | ACTOR:/json/pointer OP VALUE
        #[arg(long)]
        until: Option<String>,
        /// A run in which the predicate does not hold.
        #[arg(long, requires = "bad", conflicts_with = "trace")]
        good: Option<PathBuf>,
        /// A run of the same system, with other inputs, in which it holds.
        #[arg(long, requires = "good")]
        bad: Option<PathBuf>,
        /// Also write a Markdown file with a Mermaid sequence diagram of the events around
        /// the culprit.
        #[arg(long, value_name = "FILE.md", conflicts_with = "good")]
        mermaid: Option<PathBuf>,
    },
    /// Shrink a failing trace's external inputs to the fewest that still make the
    /// predicate hold, and write that run as a new trace.
    Minimize {
        trace: PathBuf,
        /// failed | failed:ACTOR | log:REGEX | ACTOR:/json/pointer OP VALUE
        #[arg(long)]
        until: String,
        /// Where to write the minimized trace.
        #[arg(long, short)]
        output: PathBuf,
        /// Replace an existing output file.
        #[arg(long)]
        force: bool,
    },
    /// Go on from one event of a recorded run with some of its later inputs dropped or
    /// replaced, and write that run as a new trace (a branch of the parent: `diff`
    /// aligns the two at the fork point).
    Fork(fork::ForkArgs),
    /// Verify every trace under a directory (integrity, then replay), or regress them
    /// against new builds with --swap: one line per trace (ok, divergence with its
    /// report, damaged), optionally one shard of a deterministic partition. Exit 0 if
    /// all verify, 1 if one diverges, 2 if one is unusable.
    VerifyAll(verify_all::VerifyAllArgs),
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
    /// Write the trace in another format: JSON lines, a Perfetto timeline, a Mermaid
    /// sequence diagram of message flow, or the supervision tree as Graphviz DOT.
    Export {
        trace: PathBuf,
        /// json (JSON Lines, see docs/trace-format.md), perfetto (open it in
        /// https://ui.perfetto.dev), mermaid (a sequence diagram; --from/--count for a
        /// window), dot (the supervision tree).
        #[arg(long, value_parser = format_parser())]
        format: ExportFormat,
        /// Output file (default: standard output).
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// Mermaid: first event of the window.
        #[arg(long, default_value_t = 0)]
        from: u64,
        /// Mermaid: events in the window (default: all).
        #[arg(long)]
        count: Option<u64>,
    },
}

/// `--format`: one of the debugger's export formats, listed in `--help`.
fn format_parser() -> impl clap::builder::TypedValueParser<Value = ExportFormat> {
    clap::builder::PossibleValuesParser::new(ExportFormat::NAMES)
        .map(|name| name.parse::<ExportFormat>().expect("a listed format"))
}

/// The arguments, with `repl` inserted when the first one is a file (or looks like a
/// path) and not a subcommand's name (`theater-replay trace.bin`). A mistyped subcommand
/// is neither, so clap still suggests the right one.
fn arguments() -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(first) = args.get(1) {
        let word = first.to_string_lossy();
        let known = <Cli as clap::CommandFactory>::command()
            .get_subcommands()
            .any(|c| c.get_name() == word)
            || word == "help";
        // A file, or something that looks like a path (so a missing trace is reported as
        // missing rather than as an unknown subcommand).
        let pathlike = Path::new(first).exists() || word.contains(['.', '/']);
        if !known && !word.starts_with('-') && pathlike {
            args.insert(1, "repl".into());
        }
    }
    args
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse_from(arguments()) {
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
    let result = match cli.command {
        Command::Repl {
            trace,
            history,
            checkpoint_every,
            swaps,
        } => interactive(&trace, history, checkpoint_every, &swaps),
        command => run(command),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_UNUSABLE)
        }
    }
}

/// The trace at a path, or at a store URL (`s3://…`, `file:///…`), read by range.
fn open_trace(path: &Path) -> Result<Trace, theater_store::StoreError> {
    theater_store::open(&path.to_string_lossy())
}

/// A store error as the debugger's.
fn store_to_debug(e: theater_store::StoreError) -> theater_debugger::DebugError {
    e.into_trace_error().into()
}

fn open(path: &Path) -> anyhow::Result<Trace> {
    let trace = open_trace(path).with_context(|| format!("cannot open {}", path.display()))?;
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

fn swaps(list: &[String]) -> anyhow::Result<BTreeMap<String, Vec<u8>>> {
    let mut out = BTreeMap::new();
    for swap in list {
        let (name, file) = swap
            .split_once('=')
            .with_context(|| format!("--swap {swap:?}: expected NAME=path.wasm"))?;
        let bytes = std::fs::read(file).with_context(|| format!("cannot read {file}"))?;
        out.insert(name.to_string(), bytes);
    }
    Ok(out)
}

/// A progress bar on standard error, drawn only when it is a terminal.
fn progress(total: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{msg:10} [{bar:40}] {pos}/{len} {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

fn session_progress(bar: &ProgressBar) -> theater_debugger::ProgressFn {
    let bar = bar.clone();
    Box::new(move |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })
}

fn interactive(
    path: &Path,
    history: Option<PathBuf>,
    checkpoint_every: u64,
    swap_list: &[String],
) -> anyhow::Result<ExitCode> {
    let trace = open(path)?;
    let options = SessionOptions {
        checkpoint_every,
        swaps: swaps(swap_list)?,
    };
    let session = Session::new(trace, &options)
        .with_context(|| format!("cannot replay {}", path.display()))?;
    repl::run(session, path, history.or_else(repl::default_history))?;
    Ok(ExitCode::SUCCESS)
}

fn run(command: Command) -> anyhow::Result<ExitCode> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let code = match command {
        Command::Info { trace } => commands::info(&trace, &mut out)?,
        Command::Verify {
            trace,
            integrity_only,
            require_complete,
            swaps,
            checkpoint_every,
            compare_fuel,
            jobs,
        } => {
            let options = verify::VerifyOptions {
                integrity_only,
                require_complete,
                swaps,
                checkpoint_every,
                compare_fuel,
                jobs: jobs
                    .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
            };
            verify::verify(&trace, &options, &mut out)?
        }
        Command::Dump {
            trace,
            json,
            from,
            count,
        } => commands::dump(&trace, json, from, count, &mut out)?,
        Command::Diff { a, b, mermaid } => {
            commands::diff_runs(&a, &b, mermaid.as_deref(), &mut out)?
        }
        Command::Bisect {
            trace,
            until,
            good,
            bad,
            mermaid,
        } => commands::bisect_trace(trace, until, good, bad, mermaid, &mut out)?,
        Command::Minimize {
            trace,
            until,
            output,
            force,
        } => commands::minimize_trace(&trace, &until, &output, force, &mut out)?,
        Command::Export {
            trace,
            format,
            output,
            from,
            count,
        } => commands::export(&trace, format, output.as_deref(), from, count, &mut out)?,
        Command::Regress(args) => regress::run(&args, &mut out)?,
        Command::Fork(args) => fork::run(&args, &mut out)?,
        Command::VerifyAll(args) => verify_all::verify_all(args, &mut out)?,
        Command::Convert(args) => convert::run(&args, &mut out)?,
        Command::Repl { .. } => unreachable!("handled in main"),
    };
    out.flush()?;
    Ok(code)
}

/// `replay`, step by step, moving a progress bar.
fn replay_with_progress(
    trace: Trace,
    options: &ReplayOptions,
    bar: &ProgressBar,
) -> Result<ReplayReport, RuntimeError> {
    let mut cache = ComponentCache::new(&Limits::default())?;
    let mut driver = ReplayDriver::new(trace, options, &mut cache)?;
    loop {
        match driver.step()? {
            Step::Input | Step::Snapshot | Step::Segment | Step::Delivery => {
                bar.set_position(driver.events())
            }
            Step::Ended | Step::Cut => {
                return Ok(ReplayReport {
                    events: driver.events(),
                    head: driver.head(),
                    finished: driver.finished(),
                    fuel_differs: driver.fuel_differs(),
                })
            }
        }
    }
}
