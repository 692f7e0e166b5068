//! `theater`: run a system of WebAssembly actors from a manifest, recording a trace.
//!
//! ```text
//! theater run <manifest.toml> [--record trace.bin] [--inputs inputs.jsonl | --inputs -]
//!             [--http 127.0.0.1:PORT] [--max-deliveries N] [--duration-ms N] [--seed N]
//!             [--schedule fifo|pct:SEED[:DEPTH[:STEPS]]] [--force] [--progress]
//! theater explore <manifest.toml> --inputs inputs.jsonl --until PREDICATE -o fail.trace
//!             [--runs N] [--jobs J] [--depth D] [--first-seed S] [--force]
//! ```
//!
//! Inputs are JSON lines `{"to": "<actor name or id>", "message": <any JSON>}` (the
//! message is passed as its JSON bytes) or `{"to": …, "text": "<raw text>"}`. Each input
//! is injected, then the system runs until idle. With `--http`, it then serves HTTP
//! requests routed by the manifest's `[[http.route]]`s (see `theater::ingress`) until
//! SIGINT or SIGTERM, `--duration-ms` or `--max-deliveries`. Exit code 0 on success, 2
//! on unusable input (manifest, inputs, trace file, address).

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use theater::ingress::{self, Exchange, ToScheduler};
use theater_runtime::inputs::InputLine;
use theater_runtime::{SegmentPolicy, Sink, SnapshotPolicy, System};

mod develop;
mod explore;
mod recording;
mod shipping;

#[derive(Parser)]
#[command(
    name = "theater",
    version,
    about = "Run WebAssembly actors deterministically, recording a trace"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the system described by a manifest until idle.
    Run(RunArgs),
    /// Run the manifest's system with the same inputs under many seeded schedules
    /// (other legal delivery orders), in parallel, and write the first run under which
    /// the predicate holds as a trace. Exit 1 when one does, 0 when none does.
    Explore(explore::ExploreArgs),
    /// Create a new actor crate (Cargo.toml, src/lib.rs, manifest.toml, inputs.jsonl).
    New {
        /// The actor's name (also the crate's and the directory's).
        name: String,
        /// Where to create it (default: ./NAME). Must not exist.
        #[arg(long)]
        path: Option<PathBuf>,
        /// The guest SDK: a path to a `theater-guest` checkout or a git URL (default:
        /// the SDK this `theater` was built from).
        #[arg(long)]
        sdk: Option<String>,
    },
    /// Build an actor crate into a component (for wasm32-unknown-unknown, size-optimized).
    Build {
        /// The crate's directory (or its Cargo.toml).
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Where to write the component (default: DIR/CRATE_NAME.wasm).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Check a component against the actor world, and list the grants it needs.
    Check {
        component: PathBuf,
        /// Also check that every actor of this manifest using the component is granted
        /// what it imports.
        #[arg(long)]
        manifest: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    manifest: PathBuf,
    /// Record the run into this trace file, or into this directory of segment files
    /// when it is a directory, ends in `/`, or a segment option is given.
    #[arg(long)]
    record: Option<PathBuf>,
    /// Replace an existing trace file (or the segment files of a directory).
    #[arg(long)]
    force: bool,
    /// Continue the run recorded in the --record directory: rebuild the system from its
    /// last snapshot and the events after it (compared with the trace), then go on
    /// live in a new segment. Inputs the trace already holds are checked and skipped.
    /// The manifest must describe the recorded run.
    #[arg(long, requires = "record", conflicts_with = "force")]
    resume: bool,
    /// Record to a directory of segments, starting a new segment once one holds this
    /// many bytes [default: 64 MiB].
    #[arg(long, value_name = "BYTES", requires = "record")]
    segment_bytes: Option<u64>,
    /// Record to a directory of segments, starting a new segment once one is this many
    /// milliseconds old [default: one hour].
    #[arg(long, value_name = "MS", requires = "record")]
    segment_ms: Option<u64>,
    /// Record to a directory of segments, keeping only the newest N: older whole
    /// segments are deleted, and the rest still opens, seeks and verifies.
    #[arg(long, value_name = "N", requires = "record", value_parser = clap::value_parser!(u64).range(1..))]
    keep_segments: Option<u64>,
    /// With --record s3://… or file:///…: the local directory the run records its
    /// segments into before the shipper stores them [default: a directory named after
    /// the URL under the system's temporary directory].
    #[arg(long, value_name = "DIR", requires = "record")]
    spool: Option<PathBuf>,
    /// With a store URL: the most bytes of segments not yet stored the spool may hold;
    /// beyond, new HTTP requests get 503 (recorded as refused, `backlog`) and file
    /// inputs wait, until uploads catch up. Nothing recorded is ever dropped.
    #[arg(long, value_name = "BYTES", default_value_t = theater_store::SPOOL_BYTES_DEFAULT)]
    spool_bytes: u64,
    /// With a store URL: how long the run's end waits for a failing store to take the
    /// segments left; past it they stay in the spool (exit 2), and a --resume stores them.
    #[arg(long, value_name = "MS", default_value_t = theater_store::FINISH_WAIT_MS_DEFAULT)]
    ship_wait_ms: u64,
    /// Sync the trace to disk at every flush and at the end, so that it survives a
    /// crash of the machine, not just of this process (costs recording throughput:
    /// see docs/benchmarks.md).
    #[arg(long, requires = "record")]
    fsync: bool,
    /// Write a snapshot of the whole system into the trace after this many deliveries
    /// (0: not by count). The debugger starts a seek from the nearest snapshot instead
    /// of the first event. Snapshots take at most 1 % of the run's time.
    #[arg(long, value_name = "N", default_value_t = SnapshotPolicy::EVERY_DELIVERIES_DEFAULT)]
    snapshot_every: u64,
    /// Also write one once this many milliseconds passed since the last (0: not by
    /// time), so a slow run has them too.
    #[arg(long, value_name = "MS", default_value_t = SnapshotPolicy::EVERY_MS_DEFAULT)]
    snapshot_ms: u64,
    /// External inputs, JSON lines (`-` for standard input).
    #[arg(long)]
    inputs: Option<PathBuf>,
    /// Serve HTTP on this address (after the inputs), routing requests to actors by
    /// the manifest's `[[http.route]]`s, until SIGINT or SIGTERM. Port 0 picks a
    /// free port; the address is printed on standard error.
    #[arg(long, value_name = "ADDR")]
    http: Option<String>,
    /// Stop after this many deliveries.
    #[arg(long, default_value_t = 10_000_000)]
    max_deliveries: u64,
    /// Stop after this much wall-clock time (milliseconds).
    #[arg(long)]
    duration_ms: Option<u64>,
    /// Override the manifest's seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Override the manifest's delivery order: `fifo`, or `pct:SEED[:DEPTH[:STEPS]]`
    /// for one seeded schedule of those `theater explore` tries (recorded in the
    /// trace, so a replay takes the same order).
    #[arg(long, value_name = "SCHEDULE")]
    schedule: Option<theater_runtime::Schedule>,
    /// Print the number of events recorded so far to standard error every 1024
    /// deliveries.
    #[arg(long)]
    progress: bool,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let result = match cli.command {
        Command::Run(args) => run(args).map(|()| ExitCode::SUCCESS),
        Command::Explore(args) => explore::explore(args),
        Command::New { name, path, sdk } => develop::new(&name, path, sdk.as_deref()),
        Command::Build { dir, output } => develop::build(&dir, output.as_deref()),
        Command::Check {
            component,
            manifest,
        } => develop::check(&component, manifest.as_deref()),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn out_of_time(deadline: Option<std::time::Instant>) -> bool {
    deadline.is_some_and(|d| std::time::Instant::now() >= d)
}

/// Runs until idle, the delivery budget is spent, or the deadline passes (checked every
/// 1024 deliveries). With `progress`, prints the events recorded so far to standard
/// error after every 1024 deliveries.
fn drain(
    system: &mut System,
    budget: &mut u64,
    deadline: Option<std::time::Instant>,
    progress: bool,
) -> Result<()> {
    while *budget > 0 && !out_of_time(deadline) {
        let ran = system.run_until_idle((*budget).min(1024))?;
        *budget -= ran;
        if progress {
            eprintln!("progress: {} events", system.sink_mut().events());
        }
        if ran < 1024 {
            break;
        }
    }
    // Idle (or stopped): hand what is recorded to the writer before waiting for input.
    system.sink_mut().flush()?;
    Ok(())
}

/// Serves HTTP until a signal, the deadline or the delivery budget; returns why it
/// stopped and the exchange's counts.
fn serve_http(
    system: &mut System,
    addr: &str,
    config: &ingress::HttpConfig,
    (message_bytes, durable): (u64, bool),
    (budget, deadline, progress): (&mut u64, Option<std::time::Instant>, bool),
    backlog: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
) -> Result<(&'static str, Exchange)> {
    use std::sync::mpsc::RecvTimeoutError;
    use std::time::{Duration, Instant};
    if config.routes.is_empty() {
        bail!("--http: the manifest has no [[http.route]], so no request could reach an actor");
    }
    let routes = config
        .routes
        .iter()
        .map(|r| {
            let id = system
                .actor_id(&r.actor)
                .with_context(|| format!("http route {:?}: no actor {:?}", r.prefix, r.actor))?;
            Ok((r.prefix.clone(), id))
        })
        .collect::<Result<Vec<_>>>()?;
    let server = ingress::start(addr, routes, config.limits)
        .with_context(|| format!("cannot serve HTTP on {addr}"))?;
    // Everything recorded before the first request is on disk before the run says it
    // serves: a run that served can always be resumed.
    system
        .sync_now(Duration::from_secs(10))
        .context("the recording fell behind before serving")?;
    eprintln!("{}", ingress::serving_line(server.addr));
    let mut exchange = Exchange::new(config.limits, message_bytes)
        .durable(durable)
        .refuse_while(backlog);
    if durable {
        // The recorder thread wakes this loop when a sync completes: a held reply goes
        // out the moment its events are on disk.
        system.on_sync(server.waker());
    }
    let mut last_sweep = Instant::now();
    let sweep_every = Duration::from_millis(100);
    let why = loop {
        if *budget == 0 {
            break "delivery limit reached";
        }
        if out_of_time(deadline) {
            break "time limit reached";
        }
        let wait = deadline.map_or(sweep_every, |d| {
            d.saturating_duration_since(Instant::now()).min(sweep_every)
        });
        let first = match server.rx.recv_timeout(wait) {
            Ok(m) => m,
            Err(RecvTimeoutError::Timeout) if server.stopped() => break "the HTTP server stopped",
            Err(RecvTimeoutError::Timeout) => {
                exchange.release(system)?;
                exchange.sweep(system)?;
                last_sweep = Instant::now();
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => break "the HTTP server stopped",
        };
        // Take everything that arrived meanwhile, in arrival order, then run: under load
        // the system runs once per batch rather than once per request.
        let mut stop = None;
        for message in std::iter::once(first).chain(server.rx.try_iter()) {
            match message {
                ToScheduler::Request(r) => exchange.offer(system, r)?,
                ToScheduler::Dropped { request, reason } => {
                    exchange.dropped(system, request, reason)?
                }
                ToScheduler::Shutdown(why) => {
                    stop = Some(why);
                    break;
                }
                // Released below, with the replies this pass takes.
                ToScheduler::Synced(_) => {}
            }
        }
        drain(system, budget, deadline, progress)?;
        exchange.deliver(system)?;
        if last_sweep.elapsed() >= sweep_every {
            exchange.sweep(system)?;
            last_sweep = Instant::now();
        }
        if let Some(why) = stop {
            break why;
        }
    };
    // Stopping: the replies still held go out once their events are synced.
    let give_up = Instant::now() + Duration::from_millis(config.limits.reply_timeout_ms);
    while exchange.held() > 0 && Instant::now() < give_up {
        system.request_sync()?;
        std::thread::sleep(Duration::from_millis(1));
        exchange.release(system)?;
    }
    Ok((why, exchange))
}

fn run(args: RunArgs) -> Result<()> {
    let RunArgs {
        manifest,
        record,
        force,
        resume,
        segment_bytes,
        segment_ms,
        keep_segments,
        spool,
        spool_bytes,
        ship_wait_ms,
        fsync,
        snapshot_every,
        snapshot_ms,
        inputs,
        http,
        max_deliveries,
        duration_ms,
        seed,
        schedule,
        progress,
    } = args;
    let deadline =
        duration_ms.map(|ms| std::time::Instant::now() + std::time::Duration::from_millis(ms));
    let (mut spec, http_config) = theater::manifest::load_full(&manifest)?;
    if let Some(seed) = seed {
        spec.seed = seed;
    }
    if let Some(schedule) = schedule {
        spec.schedule = schedule;
    }
    let segments = SegmentPolicy {
        bytes: segment_bytes.unwrap_or(SegmentPolicy::BYTES_DEFAULT),
        ms: segment_ms.unwrap_or(SegmentPolicy::MS_DEFAULT),
        keep: keep_segments,
    };
    let mut segmented = segment_bytes.is_some() || segment_ms.is_some() || keep_segments.is_some();
    let target = match &record {
        Some(r) => shipping::Target::parse(r, spool.as_deref(), resume, force)?,
        None => None,
    };
    // A store URL: the run records into the spool, a directory of segments.
    let record = match &target {
        Some(t) => {
            if keep_segments.is_some() {
                bail!("--keep-segments applies to a local directory; a store keeps every segment");
            }
            segmented = true;
            Some(t.spool.clone())
        }
        None => record,
    };
    let (mut system, recorded_inputs) = match &record {
        Some(path) if resume => {
            let r = recording::resume(path, fsync, segments, &spec)?;
            (r.system, r.recorded_inputs)
        }
        None => (System::new(&spec, Sink::Off)?, Vec::new()),
        Some(path) => {
            let sink = recording::sink(path, force, fsync, segmented.then_some(segments), &spec)?;
            (System::new(&spec, sink)?, Vec::new())
        }
    };
    let shipping = target.map(|t| t.ship(spool_bytes)).transpose()?;
    system.record_snapshots(SnapshotPolicy {
        every_deliveries: snapshot_every,
        every_ms: snapshot_ms,
        budget_per_mille: SnapshotPolicy::BUDGET_PER_MILLE_DEFAULT,
    });
    system.set_http_client(std::sync::Arc::new(theater::outbound::UreqClient));
    let mut budget = max_deliveries;
    drain(&mut system, &mut budget, deadline, progress)?;
    let reader: Option<Box<dyn BufRead>> = match inputs.as_deref() {
        None => None,
        Some(p) if p.as_os_str() == "-" => Some(Box::new(std::io::stdin().lock())),
        Some(p) => Some(Box::new(std::io::BufReader::new(
            std::fs::File::open(p)
                .with_context(|| format!("cannot read inputs {}", p.display()))?,
        ))),
    };
    let mut refused = 0u64;
    let mut recorded = recorded_inputs.into_iter();
    if let Some(reader) = reader {
        for (n, line) in reader.lines().enumerate() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            if budget == 0 || out_of_time(deadline) {
                break;
            }
            let Some(input) = InputLine::parse(&line)
                .map_err(|e| anyhow::anyhow!("inputs line {}: {e}", n + 1))?
            else {
                continue;
            };
            let to = input
                .recipient(&system)
                .map_err(|e| anyhow::anyhow!("inputs line {}: {e}", n + 1))?;
            let payload = input.payload;
            // A resumed run: the inputs its trace holds were given already.
            if let Some((was_to, was)) = recorded.next() {
                if (was_to, &was) != (to, &payload) {
                    bail!(
                        "inputs line {}: not the input the trace holds at this point (to {was_to}: {}); a resumed run takes the same inputs, then new ones",
                        n + 1,
                        String::from_utf8_lossy(&was)
                    );
                }
                continue;
            }
            if let Some(s) = &shipping {
                wait_for_spool(s);
            }
            if !system.inject(to, payload)? {
                refused += 1;
            }
            drain(&mut system, &mut budget, deadline, progress)?;
        }
    }
    let mut served = None;
    let mut reason = if budget == 0 {
        "delivery limit reached"
    } else {
        "idle"
    };
    if let Some(addr) = &http {
        let (why, exchange) = serve_http(
            &mut system,
            addr,
            &http_config,
            (spec.limits.message_bytes, fsync && record.is_some()),
            (&mut budget, deadline, progress),
            shipping.as_ref().map(shipping::Shipping::full),
        )?;
        reason = why;
        served = Some(exchange);
    }
    let actors = system.actors();
    let (summary, sink) = system.finish(reason)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "run ended: {reason}")?;
    writeln!(
        out,
        "deliveries: {}  failures: {}  restarts: {}  actors spawned: {}  refused inputs: {refused}",
        summary.deliveries, summary.failures, summary.restarts, summary.actors_spawned
    )?;
    for (id, parent, name, status, restarts) in actors {
        let parent = parent.map_or(String::from("-"), |p| p.to_string());
        writeln!(
            out,
            "  actor {id:<4} {name:<20} parent {parent:<4} {status} restarts {restarts}"
        )?;
    }
    writeln!(out, "virtual time: {} ns", summary.time_ns)?;
    if let Some(x) = served {
        writeln!(
            out,
            "http: {} requests, {} refused, {} dropped, {} unanswered",
            x.requests,
            x.refused,
            x.dropped,
            x.waiting()
        )?;
    }
    if let Sink::Background(recorder) = sink {
        let waits = recorder.waits();
        if waits > 0 {
            eprintln!(
                "note: the run waited {waits} times for the recorder thread to catch up (a slow disk, or too few cores)"
            );
        }
        let t = recorder.finish()?;
        writeln!(
            out,
            "trace: {} ({} events, {} bytes), chain head {}",
            record
                .as_deref()
                .map_or(String::new(), |p| p.display().to_string()),
            t.events,
            t.bytes,
            t.head
        )?;
    }
    if let Some(s) = shipping {
        let url = s.url.clone();
        let r = s.finish(ship_wait_ms)?;
        writeln!(
            out,
            "stored: {url} ({} segments, {} bytes; blobs: {} uploaded, {} already in the store)",
            r.segments, r.segment_bytes, r.blobs_uploaded, r.blobs_present
        )?;
    }
    Ok(())
}

/// File inputs wait while the spool is over its bound (the shipper says why on standard
/// error), so nothing is refused that a file could give again.
fn wait_for_spool(shipping: &shipping::Shipping) {
    while shipping.is_full() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
