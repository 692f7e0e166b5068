//! `verify-all`: every trace under a prefix verified (integrity, then replay), or
//! regressed against new builds with `--swap`, one result line each, the traces of one
//! shard of a deterministic partition only, on several threads.
//!
//! A prefix is a directory searched recursively, or a prefix in a store (`file://` or
//! `s3://`, listed): a directory (or prefix) of segment files (`segment-NNNNNNNN.trace`)
//! is one trace, and so is every other file named `*.trace` (or, in a directory, that
//! starts with the trace magic); a store's shared `blobs/` are not traces. A trace's name is
//! its path under the prefix, with `/` between parts; the listing is sorted by name.
//! Shard `I/N` holds the traces whose name's blake3 digest, read as a number, is `I - 1`
//! modulo `N`: the shards of a listing are disjoint and cover it, and a trace stays in
//! its shard when others are added, so a batch system can fan the work out.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use anyhow::{bail, Context};
use theater_runtime::replay::{replay_cached, ReplayOptions};
use theater_runtime::{replay_verifying, ComponentCache, RuntimeError};
use theater_store::{Location, Store, StoreLocation};
use theater_trace::{segment_number, Digest, EventBody, Problem, Trace, TraceError};

use crate::{EXIT_DIFFERENCE, EXIT_UNUSABLE};

/// The most traces one `verify-all` lists under its prefix.
pub(crate) const VERIFY_ALL_TRACES_MAX: usize = 100_000;

/// `theater-replay verify-all`'s arguments.
#[derive(clap::Args)]
pub(crate) struct VerifyAllArgs {
    /// A directory (or `file://` URL) holding traces, searched recursively.
    prefix: String,
    /// Replay with a component replaced, in every trace that has a component of that
    /// name: `NAME=path/to/new.wasm` (repeatable).
    #[arg(long = "swap", value_name = "NAME=WASM")]
    swaps: Vec<String>,
    /// Only the traces of shard I of N (1 ≤ I ≤ N), a deterministic partition of the
    /// listing by name.
    #[arg(long, value_name = "I/N")]
    shard: Option<String>,
    /// Traces verified at once [default: the number of cores].
    #[arg(long, value_name = "J", value_parser = clap::value_parser!(u64).range(1..))]
    jobs: Option<u64>,
    /// One JSON object per line: `trace`, `status` (ok, divergence, damaged), and
    /// `events`, `head`, `cut` or the `report`.
    #[arg(long)]
    json: bool,
}

/// What became of one trace.
#[derive(Debug)]
enum Outcome {
    Ok {
        events: u64,
        head: Digest,
        /// Cut by a crash: its intact prefix verified.
        cut: bool,
    },
    Divergence(String),
    Damaged(String),
}

/// Runs `verify-all`: exit 0 when every trace verified, 1 when one diverged, 2 when one
/// is unusable (damaged wins over divergence).
pub(crate) fn verify_all(args: VerifyAllArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let root = Root::parse(&args.prefix)?;
    let shard = args.shard.as_deref().map(parse_shard).transpose()?;
    let swaps = crate::swaps(&args.swaps)?;
    let listed = root.list()?;
    let names: Vec<&String> = listed
        .iter()
        .filter(|n| shard.is_none_or(|(i, n_of)| in_shard(n, i, n_of)))
        .collect();
    let jobs = args.jobs.map_or_else(
        || std::thread::available_parallelism().map_or(1, usize::from),
        |j| j as usize,
    );
    let results: Mutex<Vec<Option<Outcome>>> = Mutex::new((0..names.len()).map(|_| None).collect());
    let next = AtomicUsize::new(0);
    let bar = crate::progress(names.len() as u64, "verify-all");
    let base = ComponentCache::new(&Default::default())?;
    std::thread::scope(|s| {
        for _ in 0..jobs.min(names.len()).max(1) {
            s.spawn(|| {
                let mut cache = base.clone();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(name) = names.get(i) else {
                        return;
                    };
                    let outcome = check(&root, name, &swaps, &mut cache);
                    results.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(outcome);
                    bar.inc(1);
                }
            });
        }
    });
    bar.finish_and_clear();
    let results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    let (mut ok, mut diverged, mut damaged) = (0u64, 0u64, 0u64);
    for (name, outcome) in names.iter().zip(results) {
        let outcome = outcome.expect("every listed trace was checked");
        match &outcome {
            Outcome::Ok { .. } => ok += 1,
            Outcome::Divergence(_) => diverged += 1,
            Outcome::Damaged(_) => damaged += 1,
        }
        print(out, name, &outcome, args.json)?;
    }
    if !args.json {
        let of = shard.map_or(String::new(), |(i, n)| {
            format!(
                " (shard {i}/{n}: {} of {} listed)",
                names.len(),
                listed.len()
            )
        });
        writeln!(
            out,
            "verified {} traces{of}: {ok} ok, {diverged} diverged, {damaged} damaged",
            names.len()
        )?;
    }
    out.flush()?;
    Ok(if damaged > 0 {
        ExitCode::from(EXIT_UNUSABLE)
    } else if diverged > 0 {
        ExitCode::from(EXIT_DIFFERENCE)
    } else {
        ExitCode::SUCCESS
    })
}

fn print(out: &mut dyn Write, name: &str, outcome: &Outcome, json: bool) -> std::io::Result<()> {
    if json {
        let line = match outcome {
            Outcome::Ok { events, head, cut } => serde_json::json!({
                "trace": name, "status": "ok", "events": events, "head": head.to_hex(), "cut": cut,
            }),
            Outcome::Divergence(report) => {
                serde_json::json!({"trace": name, "status": "divergence", "report": report})
            }
            Outcome::Damaged(report) => {
                serde_json::json!({"trace": name, "status": "damaged", "report": report})
            }
        };
        return writeln!(out, "{line}");
    }
    match outcome {
        Outcome::Ok { events, head, cut } => writeln!(
            out,
            "ok          {name}: {events} events, chain head {}{}",
            head.short(),
            if *cut {
                " (cut by a crash; its intact prefix)"
            } else {
                ""
            }
        ),
        Outcome::Divergence(r) => writeln!(out, "divergence  {name}: {r}"),
        Outcome::Damaged(r) => writeln!(out, "damaged     {name}: {r}"),
    }
}

/// The trace `name` under `root` verified: integrity and a replay with the swaps that
/// name components of this trace, in one pass where the trace allows (as `verify`
/// does); anything that does not check out that way goes through the two passes, which
/// tell damage from divergence.
fn check(
    root: &Root,
    name: &str,
    swaps: &std::collections::BTreeMap<String, Vec<u8>>,
    cache: &mut ComponentCache,
) -> Outcome {
    let trace = match root.open(name) {
        Ok(t) => t,
        Err(e) => return Outcome::Damaged(e),
    };
    let head = trace.head();
    let names = match component_names(&trace) {
        Ok(n) => n,
        Err(e) => return Outcome::Damaged(e.to_string()),
    };
    let options = ReplayOptions {
        swaps: swaps
            .iter()
            .filter(|(n, _)| names.contains(n))
            .map(|(n, b)| (n.clone(), b.clone()))
            .collect(),
        ..ReplayOptions::default()
    };
    let mut replayed = None;
    if trace.can_check_inline() {
        let open = || root.open(name).map_err(RuntimeError::Unreplayable);
        let done = std::sync::atomic::AtomicU64::new(0);
        match replay_verifying(&open, &options, 1, cache, &done) {
            Ok((r, Some(_))) if r.head == head => {
                return Outcome::Ok {
                    events: r.events,
                    head,
                    cut: false,
                }
            }
            // The replay's outcome stands once the integrity pass finds no damage.
            other => replayed = Some(other.map(|(r, _)| r)),
        }
    }
    let cut = match trace.verify() {
        Ok(_) => false,
        Err(TraceError::Corrupt(c)) if matches!(c.problem, Problem::Incomplete { .. }) => true,
        Err(e) => return Outcome::Damaged(e.to_string()),
    };
    let replayed = replayed.unwrap_or_else(|| replay_cached(trace, &options, cache));
    match replayed {
        Ok(r) if r.head == head => Outcome::Ok {
            events: r.events,
            head,
            cut,
        },
        Ok(r) => Outcome::Divergence(format!(
            "the replay ended at event {} with chain head {}, the trace's is {}",
            r.events,
            r.head.short(),
            head.short()
        )),
        Err(RuntimeError::Divergence(d)) => Outcome::Divergence(d.to_string()),
        Err(e) => Outcome::Damaged(e.to_string()),
    }
}

/// The names of the components a trace registers (right after its header).
fn component_names(trace: &Trace) -> Result<Vec<String>, TraceError> {
    let mut names = Vec::new();
    for e in trace.events_from(trace.first_event() + 1) {
        match e?.event.body {
            EventBody::ComponentRegistered { name, .. } => names.push(name),
            EventBody::SegmentStarted { .. } => {}
            _ => break,
        }
    }
    Ok(names)
}

/// Where the traces are: a directory, or a prefix in a store (`file://` or `s3://`).
enum Root {
    Dir(PathBuf),
    Store(Store, StoreLocation),
}

impl Root {
    fn parse(prefix: &str) -> anyhow::Result<Root> {
        match Location::parse(prefix)? {
            Location::Local(path) if path.is_dir() => Ok(Root::Dir(path)),
            Location::Local(_) => bail!("{prefix}: not a directory"),
            Location::Store(at) => Ok(Root::Store(Store::connect(&at)?, at)),
        }
    }

    /// Every trace under the root, by name, sorted.
    fn list(&self) -> anyhow::Result<Vec<String>> {
        match self {
            Root::Dir(root) => list(root),
            Root::Store(store, at) => list_store(store, at),
        }
    }

    fn open(&self, name: &str) -> Result<Trace, String> {
        match self {
            Root::Dir(root) => Trace::open(&root.join(name)).map_err(|e| e.to_string()),
            // A directory: each run finds its own blobs/ (the nearest above it).
            Root::Store(_, at) if at.is_local() => {
                let url = if name == "." {
                    at.display()
                } else {
                    format!("{}/{name}", at.display())
                };
                theater_store::open(&url).map_err(|e| e.to_string())
            }
            Root::Store(store, at) => {
                let key = if name == "." {
                    at.key().to_string()
                } else {
                    at.child(name)
                };
                theater_store::open_in(store, &at.with_key(&key)).map_err(|e| e.to_string())
            }
        }
    }
}

/// The traces under a store prefix: a prefix holding segment files is one trace (the
/// prefix itself is named `.`), and so is every object named `*.trace`; the shared blobs
/// (`…/blobs/<digest>`) are not traces.
fn list_store(store: &Store, at: &StoreLocation) -> anyhow::Result<Vec<String>> {
    let mut out = std::collections::BTreeSet::new();
    for (key, _) in store.list(at.key())? {
        let name = key
            .strip_prefix(at.key())
            .unwrap_or(&key)
            .trim_start_matches('/');
        let (dir, file) = name.rsplit_once('/').unwrap_or(("", name));
        if dir == "blobs" || dir.ends_with("/blobs") {
            continue;
        }
        if segment_number(file).is_some() {
            out.insert(if dir.is_empty() {
                ".".to_string()
            } else {
                dir.to_string()
            });
        } else if file.ends_with(".trace") {
            out.insert(name.to_string());
        }
        if out.len() > VERIFY_ALL_TRACES_MAX {
            bail!(
                "{}: more than {VERIFY_ALL_TRACES_MAX} traces (VERIFY_ALL_TRACES_MAX); give a narrower prefix",
                at.display()
            );
        }
    }
    Ok(out.into_iter().collect())
}

/// `I/N` with 1 ≤ I ≤ N.
fn parse_shard(s: &str) -> anyhow::Result<(u64, u64)> {
    let bad = || anyhow::anyhow!("--shard {s:?}: expected I/N with 1 <= I <= N, such as 1/4");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (i, n): (u64, u64) = (i.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?);
    if i == 0 || n == 0 || i > n {
        return Err(bad());
    }
    Ok((i, n))
}

fn in_shard(name: &str, i: u64, n: u64) -> bool {
    let d = Digest::of(name.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&d.as_bytes()[..8]);
    u64::from_le_bytes(first) % n == i - 1
}

/// Every trace under `root`, by name, sorted.
fn list(root: &Path) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .with_context(|| format!("cannot list {}", dir.display()))?
            .collect::<Result<_, _>>()
            .with_context(|| format!("cannot list {}", dir.display()))?;
        entries.sort_by_key(std::fs::DirEntry::file_name);
        if entries.iter().any(|e| is_segment(&e.file_name())) {
            // A directory of segments is one trace (the prefix itself is named `.`).
            out.push(if dir == root {
                ".".into()
            } else {
                name_of(root, &dir)
            });
            continue;
        }
        for e in entries {
            let path = e.path();
            let kind = e
                .file_type()
                .with_context(|| format!("cannot stat {}", path.display()))?;
            if kind.is_dir() {
                dirs.push(path);
            } else if kind.is_file() && is_trace_file(&path) {
                out.push(name_of(root, &path));
            }
        }
        if out.len() > VERIFY_ALL_TRACES_MAX {
            bail!(
                "{}: more than {VERIFY_ALL_TRACES_MAX} traces (VERIFY_ALL_TRACES_MAX); give a narrower prefix",
                root.display()
            );
        }
    }
    out.sort();
    Ok(out)
}

fn is_segment(name: &std::ffi::OsStr) -> bool {
    let name = name.to_string_lossy();
    name.starts_with("segment-") && name.ends_with(".trace")
}

/// Named `*.trace`, or starting with the trace magic.
fn is_trace_file(path: &Path) -> bool {
    if path.extension().is_some_and(|e| e == "trace") {
        return true;
    }
    let mut magic = [0u8; 8];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok_and(|()| magic == theater_trace::format::MAGIC)
}

fn name_of(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_a_listing() {
        let names: Vec<String> = (0..200).map(|i| format!("node-{i}/run.trace")).collect();
        for n in [1, 2, 3, 7] {
            let mut seen = vec![0; names.len()];
            for i in 1..=n {
                for (k, name) in names.iter().enumerate() {
                    seen[k] += u32::from(in_shard(name, i, n));
                }
            }
            assert!(seen.iter().all(|&c| c == 1), "{n} shards");
        }
        assert_eq!(parse_shard("2/3").unwrap(), (2, 3));
        for bad in ["0/2", "3/2", "1/0", "1", "a/b", "1/2/3"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
    }
}
