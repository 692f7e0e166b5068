//! `theater explore`: the manifest's system fed the inputs file under many seeded
//! schedules, in parallel (see `theater_debugger::explore`), the first one under which
//! the predicate holds written as a trace.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use theater_debugger::rerun::Input;
use theater_debugger::{ExploreOptions, Predicate};
use theater_runtime::inputs::InputLine;
use theater_runtime::{Schedule, Sink, System, SystemSpec};

/// `theater explore`'s arguments.
#[derive(clap::Args)]
pub(crate) struct ExploreArgs {
    manifest: PathBuf,
    /// External inputs, JSON lines, as `theater run --inputs` takes them.
    #[arg(long)]
    inputs: PathBuf,
    /// Schedules to try.
    #[arg(long, default_value_t = 100)]
    runs: u64,
    /// Threads running them [default: the number of cores].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    jobs: Option<u64>,
    /// What a failing run is: failed | failed:ACTOR | log:REGEX | ACTOR:/json/pointer OP
    /// VALUE.
    #[arg(long)]
    until: String,
    /// The bug depth PCT aims at: the number of orderings a bug needs to show.
    #[arg(long, default_value_t = Schedule::PCT_DEPTH_DEFAULT)]
    depth: u32,
    /// The seed of the first run (run i has seed SEED + i).
    #[arg(long, default_value_t = 0)]
    first_seed: u64,
    /// Where to write the first failing run's trace.
    #[arg(long, short)]
    output: PathBuf,
    /// Replace an existing output file.
    #[arg(long)]
    force: bool,
}

/// Runs `theater explore`: exit 0 when no run failed, 1 when one did (its trace
/// written), 2 on unusable input.
pub(crate) fn explore(args: ExploreArgs) -> Result<ExitCode> {
    let predicate: Predicate = args.until.parse()?;
    if args.output.exists() && !args.force {
        bail!(
            "{} exists (use --force to replace it)",
            args.output.display()
        );
    }
    let (spec, _) = theater::manifest::load_full(&args.manifest)?;
    let inputs = read_inputs(&spec, &args.inputs)?;
    let jobs = args.jobs.map_or_else(
        || std::thread::available_parallelism().map_or(1, usize::from),
        |j| j as usize,
    );
    let options = ExploreOptions {
        runs: args.runs,
        jobs,
        depth: args.depth,
        first_seed: args.first_seed,
    };
    let bar = ProgressBar::with_draw_target(Some(args.runs), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("explore [{bar:40}] {pos}/{len} runs, {msg} {per_sec}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message("0 failed");
    let started = std::time::Instant::now();
    let report =
        theater_debugger::explore(&spec, &inputs, &predicate, &options, &|done, failed| {
            bar.set_position(done);
            bar.set_message(format!("{failed} failed"));
        });
    bar.finish_and_clear();
    let report = report?;
    let secs = started.elapsed().as_secs_f64();
    let mut out = std::io::stdout().lock();
    if report.baseline_holds {
        writeln!(
            out,
            "note: `{predicate}` holds under the manifest's own schedule ({}) already",
            spec.schedule
        )?;
    }
    writeln!(
        out,
        "explored {} schedules (pct, depth {}, {} steps) on {jobs} threads in {secs:.1} s: {} failed",
        report.runs, options.depth, report.steps, report.failures
    )?;
    let Some(first) = report.first else {
        writeln!(out, "no schedule made `{predicate}` hold")?;
        return Ok(ExitCode::SUCCESS);
    };
    write_trace(&args.output, &first.trace)?;
    writeln!(
        out,
        "first failing run: #{} of {}, --schedule {} ({} deliveries); wrote {}",
        first.run + 1,
        report.runs,
        first.schedule,
        first.deliveries,
        args.output.display()
    )?;
    writeln!(
        out,
        "shrink its inputs: theater-replay minimize {} --until '{predicate}' -o minimized.trace",
        args.output.display()
    )?;
    Ok(ExitCode::from(1))
}

fn write_trace(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// The inputs file's lines, names resolved against the system's top-level actors.
fn read_inputs(spec: &SystemSpec, path: &Path) -> Result<Vec<Input>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read inputs {}", path.display()))?;
    let lines = InputLine::parse_all(&text)
        .map_err(|e| anyhow::anyhow!("inputs {}: {e}", path.display()))?;
    let system = System::new(spec, Sink::Off)?;
    lines
        .into_iter()
        .enumerate()
        .map(|(n, line)| {
            let to = line
                .recipient(&system)
                .map_err(|e| anyhow::anyhow!("inputs {}, input {}: {e}", path.display(), n + 1))?;
            Ok(Input {
                event: n as u64,
                to,
                payload: line.payload,
                request: false,
            })
        })
        .collect()
}
