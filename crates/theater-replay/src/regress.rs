//! `regress`: a trace's inputs rerun against new builds, every behaviour change reported
//! per actor (text, or JSON for CI); exit 0 identical, 1 different, 2 unusable.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use theater_debugger::{regress, RegressOptions};

use crate::{open, progress, swaps, EXIT_DIFFERENCE};

/// What `regress` was asked.
#[derive(clap::Args)]
pub(crate) struct RegressArgs {
    pub(crate) trace: PathBuf,
    /// The new build: `NAME=path/to/new.wasm` (repeatable; at least one).
    #[arg(long = "swap", value_name = "NAME=WASM")]
    pub(crate) swaps: Vec<String>,
    /// The report as one JSON object (stable for CI; see the book).
    #[arg(long)]
    pub(crate) json: bool,
    /// Changed deliveries shown in full per actor.
    #[arg(long, value_name = "K", default_value_t = theater_debugger::REGRESS_DETAILS_DEFAULT)]
    pub(crate) details: usize,
    /// Compare fuel for swapped components too.
    #[arg(long)]
    pub(crate) compare_fuel: bool,
    /// Cut the new run after N deliveries (default: twice the recorded ones, at least
    /// a million), so a new build that loops forever ends; a cut run differs.
    #[arg(long, value_name = "N")]
    pub(crate) max_deliveries: Option<u64>,
    /// Also write the new run as a trace (to `diff`, `bisect` or open in the REPL).
    #[arg(long, short)]
    pub(crate) output: Option<PathBuf>,
    /// Replace an existing output file.
    #[arg(long)]
    pub(crate) force: bool,
}

pub(crate) fn run(args: &RegressArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    if args.swaps.is_empty() {
        bail!("regress needs at least one --swap NAME=NEW.wasm (the new build to check)");
    }
    if let Some(o) = args.output.as_deref().filter(|o| o.exists() && !args.force) {
        bail!("{} exists (use --force to replace it)", o.display());
    }
    let options = RegressOptions {
        swaps: swaps(&args.swaps)?,
        compare_fuel: args.compare_fuel,
        details: args.details,
        max_deliveries: args.max_deliveries,
        output: args.output.clone(),
    };
    if let Some(o) = args.output.as_deref().filter(|o| o.exists()) {
        std::fs::remove_file(o).with_context(|| format!("cannot replace {}", o.display()))?;
    }
    let trace = open(&args.trace)?;
    let bar = progress(0, "regress");
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:10} {spinner} {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let report = regress(trace, &options);
    bar.finish_and_clear();
    let report = report.with_context(|| format!("cannot regress {}", args.trace.display()))?;
    if args.json {
        writeln!(out, "{}", report.to_json())?;
    } else {
        writeln!(out, "swapped: {}", args.swaps.join(", "))?;
        if let Some(o) = &args.output {
            writeln!(out, "new run written to {}", o.display())?;
        }
        write!(out, "{}", report.render())?;
    }
    Ok(if report.identical() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_DIFFERENCE)
    })
}
