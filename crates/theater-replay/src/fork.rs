//! `fork`: a recorded run from one event on, with some of its later inputs dropped or
//! changed, recorded as a new trace that branches from the parent (`diff` aligns the
//! two at the fork point).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use theater_debugger::{fork, ForkEdits};
use theater_runtime::inputs::InputLine;

use crate::open;

/// What `fork` was asked.
#[derive(clap::Args)]
pub(crate) struct ForkArgs {
    pub(crate) trace: PathBuf,
    /// The event to fork at: a step boundary (an input, the first event of a delivery,
    /// a snapshot, the end). The parent's events before it are the fork's history.
    #[arg(long, value_name = "EVENT")]
    pub(crate) at: u64,
    /// Leave out the input recorded at EVENT (repeatable; at or after `--at`).
    #[arg(long = "drop-input", value_name = "EVENT")]
    pub(crate) drop: Vec<u64>,
    /// Give the input recorded at EVENT this payload instead, e.g. JSON (repeatable;
    /// at or after `--at`).
    #[arg(long = "replace-input", value_name = "EVENT=PAYLOAD")]
    pub(crate) replace: Vec<String>,
    /// Feed these inputs (JSON Lines, as `theater run --inputs` reads) instead of every
    /// input of the parent at or after `--at`.
    #[arg(long, value_name = "FILE.jsonl", conflicts_with_all = ["drop", "replace"])]
    pub(crate) inputs: Option<PathBuf>,
    /// Where to write the forked trace.
    #[arg(long, short)]
    pub(crate) output: PathBuf,
    /// Replace an existing output file.
    #[arg(long)]
    pub(crate) force: bool,
}

pub(crate) fn run(args: &ForkArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let mut replace = BTreeMap::new();
    for r in &args.replace {
        let (n, payload) = r
            .split_once('=')
            .with_context(|| format!("--replace-input {r:?}: expected EVENT=PAYLOAD"))?;
        let n: u64 = n
            .trim()
            .parse()
            .with_context(|| format!("--replace-input {r:?}: {n:?} is not an event number"))?;
        if replace.insert(n, payload.as_bytes().to_vec()).is_some() {
            bail!("--replace-input: input {n} is replaced twice");
        }
    }
    let inputs = match &args.inputs {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read inputs {}", path.display()))?;
            let lines = InputLine::parse_all(&text)
                .map_err(|e| anyhow::anyhow!("inputs {}: {e}", path.display()))?;
            Some(lines)
        }
    };
    let edits = ForkEdits {
        inputs,
        drop: args.drop.iter().copied().collect::<BTreeSet<u64>>(),
        replace,
    };
    if args.output.exists() {
        if !args.force {
            bail!(
                "{} exists (use --force to replace it)",
                args.output.display()
            );
        }
        std::fs::remove_file(&args.output)
            .with_context(|| format!("cannot replace {}", args.output.display()))?;
    }
    let trace = open(&args.trace)?;
    let r = fork(trace, args.at, &edits, &args.output)
        .with_context(|| args.trace.display().to_string())?;
    writeln!(
        out,
        "forked {} (head {}) at event #{}: rebuilt from event #{}, {} recorded events re-executed",
        args.trace.display(),
        r.parent_head.short(),
        r.at,
        r.from,
        r.reexecuted
    )?;
    let fed = if r.new_inputs {
        format!("fed {} new inputs instead of the parent's", r.inputs)
    } else {
        format!(
            "fed {} inputs after it ({} dropped, {} replaced)",
            r.inputs, r.dropped, r.replaced
        )
    };
    writeln!(
        out,
        "{fed}, each once the system was idle; {} deliveries{}",
        r.deliveries,
        if r.cut {
            " (stopped at the delivery limit)"
        } else {
            ""
        }
    )?;
    if r.live {
        writeln!(
            out,
            "recorded live: clock, randomness and HTTP results were the recorded ones up to event #{}; after it they are fresh",
            r.at
        )?;
    } else {
        writeln!(
            out,
            "simulated: after event #{} the run goes on from the virtual clock and generator as they were there",
            r.at
        )?;
    }
    writeln!(
        out,
        "wrote {}: events #{} to #{}, head {}",
        args.output.display(),
        r.at,
        (r.at + r.events).saturating_sub(1),
        r.head
    )?;
    Ok(ExitCode::SUCCESS)
}
