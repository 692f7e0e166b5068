//! `theater-replay convert OLD -o NEW`: rewrites a trace in the current format.
//!
//! The old trace is verified first; the new one is written next to its destination and
//! renamed into place only once it verifies and holds the same events in the same
//! order, so a failed conversion leaves nothing behind.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use theater_trace::{Trace, WriterOptions, FORMAT_VERSION};

/// Arguments of `convert`.
#[derive(clap::Args)]
pub(crate) struct ConvertArgs {
    /// The trace to convert (format version 1, 2 or 3).
    trace: PathBuf,
    /// Where to write the converted trace.
    #[arg(long, short)]
    output: PathBuf,
    /// Overwrite the output if it exists.
    #[arg(long)]
    force: bool,
}

pub(crate) fn run(args: &ConvertArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let old = crate::open_trace(&args.trace)
        .with_context(|| format!("cannot open {}", args.trace.display()))?;
    if args.output.exists() && !args.force {
        bail!(
            "{} exists (add --force to overwrite it)",
            args.output.display()
        );
    }
    let partial = partial_path(&args.output);
    let result = write_checked(&old, &args.trace, &partial);
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    let new = result?;
    std::fs::rename(&partial, &args.output)
        .with_context(|| format!("cannot move the result to {}", args.output.display()))?;
    writeln!(
        out,
        "converted {} (format version {}, {} events, {} bytes) to {} (format version {FORMAT_VERSION}, {} bytes, {:.1}x smaller)",
        args.trace.display(),
        old.format_version(),
        old.event_count(),
        old.file_len(),
        args.output.display(),
        new.file_len(),
        old.file_len() as f64 / new.file_len().max(1) as f64
    )?;
    writeln!(
        out,
        "same {} events in the same order, {} blobs; new chain head {}",
        new.event_count(),
        new.blob_count(),
        new.head()
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Converts `old` into the file `partial`, verifies it and compares its events.
fn write_checked(old: &Trace, old_path: &Path, partial: &Path) -> anyhow::Result<Trace> {
    let file = std::fs::File::options()
        .write(true)
        .create(true)
        .truncate(true)
        .open(partial)
        .with_context(|| format!("cannot create {}", partial.display()))?;
    let (_, file) = theater_trace::convert(old, file, WriterOptions::default())
        .with_context(|| format!("cannot convert {}", old_path.display()))?;
    file.sync_all()
        .with_context(|| format!("cannot sync {}", partial.display()))?;
    let new = Trace::open(partial)?;
    new.verify()
        .context("the converted trace does not verify (a bug: please report it)")?;
    if let Some(n) = theater_trace::first_difference(old, &new)? {
        bail!(
            "the converted trace differs from the original at event {n} (a bug: please report it)"
        );
    }
    Ok(new)
}

/// `NEW.partial`, next to `NEW`.
fn partial_path(output: &Path) -> PathBuf {
    let mut name = output.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    output.with_file_name(name)
}
