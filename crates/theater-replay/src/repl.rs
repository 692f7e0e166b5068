//! The interactive debugger: a rustyline loop over a [`Session`].
//!
//! History is kept in a file (`--history`, default `~/.theater-replay-history`); Tab
//! completes command names, breakpoint forms, event kinds, actor names and file names.
//! A command that fails prints why and the session goes on.

use std::borrow::Cow;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};
use theater_debugger::command::{help, parse_command, Command, InfoTopic, COMMANDS};
use theater_debugger::export::{self, ExportFormat, MERMAID_WINDOW_EVENTS};
use theater_debugger::{bisect, diff, ActorRef, Breakpoint, DebugError, Session, EVENT_KINDS};

use crate::render;
use crate::repl_branch::OpenBranch;

/// Completion for the REPL.
struct ReplHelper {
    actors: Vec<String>,
    files: FilenameCompleter,
}

fn candidates<'a>(word: &str, options: impl IntoIterator<Item = &'a str>) -> Vec<Pair> {
    let mut out: Vec<Pair> = options
        .into_iter()
        .filter(|o| o.starts_with(word))
        .map(|o| Pair {
            display: o.to_string(),
            replacement: format!("{o} "),
        })
        .collect();
    out.sort_by(|a, b| a.display.cmp(&b.display));
    out.dedup_by(|a, b| a.display == b.display);
    out
}

impl Completer for ReplHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let head = &line[..pos];
        let start = head.rfind(char::is_whitespace).map_or(0, |i| i + 1);
        let word = &head[start..];
        let words: Vec<&str> = head[..start].split_whitespace().collect();
        let actors = self.actors.iter().map(String::as_str);
        let found = match words.as_slice() {
            [] => candidates(word, COMMANDS.iter().map(|c| c.name)),
            ["break" | "br"] => candidates(word, ["actor", "kind", "failure", "payload"]),
            ["break" | "br", "actor"] | ["watch" | "w" | "state" | "st" | "state-diff" | "sd"] => {
                candidates(word, actors)
            }
            ["break" | "br", "kind"] => candidates(word, EVENT_KINDS),
            ["help" | "h" | "?"] => candidates(word, COMMANDS.iter().map(|c| c.name)),
            ["info" | "i"] => candidates(word, ["trace", "breakpoints", "checkpoints"]),
            ["bisect"] => candidates(word, ["failed"].into_iter().chain(actors)),
            ["diff" | "export"] => return self.files.complete(line, pos, ctx),
            ["export", _] => candidates(word, ["json", "perfetto", "mermaid", "dot"]),
            _ => Vec::new(),
        };
        Ok((start, found))
    }
}

impl Hinter for ReplHelper {
    type Hint = String;
}
impl Highlighter for ReplHelper {
    fn highlight_prompt<'b, 's: 'b, 'p: 'b>(
        &'s self,
        prompt: &'p str,
        _default: bool,
    ) -> Cow<'b, str> {
        Cow::Borrowed(prompt)
    }
}
impl Validator for ReplHelper {}
impl Helper for ReplHelper {}

/// The default history file.
pub(crate) fn default_history() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| Path::new(&h).join(".theater-replay-history"))
}

/// Runs the REPL until `quit` or end of input.
pub(crate) fn run(
    mut session: Session,
    path: &Path,
    history: Option<PathBuf>,
) -> anyhow::Result<()> {
    let mut rl: Editor<ReplHelper, DefaultHistory> =
        Editor::new().context("cannot start the line editor")?;
    rl.set_helper(Some(ReplHelper {
        actors: Vec::new(),
        files: FilenameCompleter::new(),
    }));
    if let Some(h) = &history {
        // A missing history file is normal on first use.
        let _ = rl.load_history(h);
    }
    let mut out = std::io::stdout();
    writeln!(
        out,
        "theater-replay: {} ({} events, {} steps). Type `help` for commands.",
        path.display(),
        session.trace().event_count(),
        session.steps()
    )?;
    writeln!(out, "{}", render::step_events(&session, 0))?;
    let mut notes_seen = 0;
    let mut branch = OpenBranch::default();
    loop {
        if let Some(h) = rl.helper_mut() {
            h.actors = session
                .actors()
                .map(|list| list.into_iter().map(|a| a.name).collect())
                .unwrap_or_default();
        }
        let prompt = format!("{}{}", branch.prompt(), render::prompt(&session.position()));
        let line = match rl.readline(&prompt) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e).context("reading a command"),
        };
        if !line.trim().is_empty() {
            let _ = rl.add_history_entry(line.as_str());
        }
        let command = match parse_command(&line) {
            Ok(None) => continue,
            Ok(Some(c)) => c,
            Err(e) => {
                writeln!(out, "error: {e}")?;
                continue;
            }
        };
        if let Command::Quit = command {
            break;
        }
        let result = match branch.execute(&session, path, &command) {
            Some(result) => result,
            None => execute(&mut session, command),
        };
        match result {
            Ok(text) if text.is_empty() => {}
            Ok(text) => writeln!(out, "{text}")?,
            Err(e) => writeln!(out, "error: {e}")?,
        }
        for note in &session.notes()[notes_seen..] {
            writeln!(out, "note: {note}")?;
        }
        notes_seen = session.notes().len();
        out.flush()?;
    }
    if let Some(h) = &history {
        if let Err(e) = rl.save_history(h) {
            eprintln!("warning: cannot save history to {}: {e}", h.display());
        }
    }
    Ok(())
}

/// Runs one command; returns what to print.
pub(crate) fn execute(s: &mut Session, command: Command) -> Result<String, DebugError> {
    Ok(match command {
        Command::Step(n) => {
            let stop = s.step(n)?;
            render::stop(s, &stop)
        }
        Command::Next => {
            let stop = s.next_same_actor()?;
            render::stop(s, &stop)
        }
        Command::Back(n) => {
            let stop = s.back(n)?;
            render::stop(s, &stop)
        }
        Command::Goto(e) => {
            let stop = s.goto_event(e)?;
            render::stop(s, &stop)
        }
        Command::Continue => {
            let stop = s.cont()?;
            render::stop(s, &stop)
        }
        Command::ReverseContinue => {
            let stop = s.reverse_cont()?;
            render::stop(s, &stop)
        }
        Command::Break(bp) => {
            let text = bp.to_string();
            let id = s.add_breakpoint(bp);
            format!("breakpoint {id}: {text}")
        }
        Command::Watch(a) => {
            let id = s.resolve(&a)?;
            let bp = Breakpoint::Watch(a);
            let text = bp.to_string();
            let n = s.add_breakpoint(bp);
            format!("watchpoint {n}: {text} (actor {id})")
        }
        Command::Delete(Some(id)) => {
            s.delete_breakpoint(id)?;
            format!("deleted breakpoint {id}")
        }
        Command::Delete(None) => {
            let n = s.breakpoints().len();
            s.clear_breakpoints();
            format!("deleted {n} breakpoint(s)")
        }
        Command::Info(InfoTopic::Breakpoints) => info_breakpoints(s),
        Command::Info(InfoTopic::Checkpoints) => format!(
            "{} checkpoint(s) held; {} events re-executed so far",
            s.checkpoint_count(),
            s.events_reexecuted()
        ),
        Command::Info(InfoTopic::Trace) => info_trace(s),
        Command::Actors => render::actors(&s.actors()?),
        Command::Event(None) => render::step_events(s, s.cursor()),
        Command::Event(Some(n)) => event_in_full(s, n)?,
        Command::State(a) => {
            let a = current_actor(s, a)?;
            let (id, bytes) = s.state(&a)?;
            let name = actor_name(s, id);
            render::state(id, &name, &bytes)
        }
        Command::StateDiff { actor, between } => state_diff(s, actor, between)?,
        Command::Log(n) => log_lines(s, n)?,
        Command::Verify => verify_rest(s)?,
        Command::Diff(other) => {
            let b = crate::open_trace(&other).map_err(crate::store_to_debug)?;
            let d = diff(s.trace(), &b)?;
            render::diff(&d, "this trace", &other.display().to_string())
        }
        Command::Bisect(p) => {
            let text = p.to_string();
            match bisect(s, &p)? {
                Some(r) => render::bisect(s, &text, &r),
                None => format!("`{text}` never holds in this trace"),
            }
        }
        Command::Export(path, format) => export_to(s, path, format)?,
        Command::Help(topic) => help(topic.as_deref())?,
        Command::Quit => String::new(),
        // The branch commands go to the open branch (`repl_branch`) before this.
        Command::Fork | Command::Send { .. } | Command::Run | Command::Save(_) => {
            return Err(DebugError::Usage(
                "a branch command outside the REPL".into(),
            ))
        }
    })
}

/// `info breakpoints`.
fn info_breakpoints(s: &Session) -> String {
    if s.breakpoints().is_empty() {
        "no breakpoints".into()
    } else {
        s.breakpoints()
            .iter()
            .map(|(id, bp)| format!("{id}: {bp}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// `info trace`: counts, head, cursor, run header, divergence.
fn info_trace(s: &Session) -> String {
    let t = s.trace();
    let p = s.position();
    let events = match t.first_event() {
        0 => t.event_count().to_string(),
        first => format!(
            "{} ({first} to {}: the trace starts at a segment)",
            t.event_count() - first,
            t.event_count().saturating_sub(1)
        ),
    };
    let mut text = format!(
        "events: {}  steps: {}  blobs: {}  chain head: {}\ncursor: step {} (event #{})",
        events,
        s.steps(),
        t.blob_count(),
        t.head(),
        p.step,
        p.event
    );
    if let Some(h) = t.header() {
        text.push_str(&format!(
            "\nrun: {} mode={} seed={}",
            h.producer, h.mode, h.seed
        ));
    }
    if let Some(d) = s.divergence() {
        text.push_str(&format!("\nreplay diverges: {d}"));
    }
    text
}

/// `event N`: its line, then its JSON-lines form pretty-printed.
fn event_in_full(s: &Session, n: u64) -> Result<String, DebugError> {
    let e = s.trace().event(n).map_err(|_| {
        DebugError::NotFound(format!(
            "no event {n}: the trace has events {} to {}",
            s.trace().first_event(),
            s.trace().event_count().saturating_sub(1)
        ))
    })?;
    // The JSON-lines form of the event, pretty-printed.
    let line = theater_trace::event_to_json(&e);
    let json = serde_json::from_str::<serde_json::Value>(&line)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or(line);
    Ok(format!(
        "{}\n{json}",
        theater_debugger::inspect::describe(s.trace(), &e)
    ))
}

/// `state-diff [ACTOR] [X Y]`: an actor's state before and after the step, or between
/// two events.
fn state_diff(
    s: &mut Session,
    actor: Option<ActorRef>,
    between: Option<(u64, u64)>,
) -> Result<String, DebugError> {
    let a = current_actor(s, actor)?;
    let id = s.resolve(&a)?;
    let cursor = s.cursor();
    let (from, to, from_label, to_label) = match between {
        Some((x, y)) => (
            s.position_of_event(x)?,
            s.position_of_event(y)?,
            format!("at event #{x}"),
            format!("at event #{y}"),
        ),
        None if cursor == 0 => {
            return Err(DebugError::Usage(
                "state-diff: no step executed yet; give two events".into(),
            ))
        }
        None => (
            cursor - 1,
            cursor,
            format!("before step {cursor}"),
            format!("after step {cursor}"),
        ),
    };
    let old = s.state_at(id, from)?;
    let new = s.state_at(id, to)?;
    s.goto_step(cursor)?;
    Ok(format!(
        "actor {} #{id}\n{}",
        actor_name(s, id),
        render::state_diff(old.as_deref(), new.as_deref(), &from_label, &to_label)
    ))
}

/// `log [N]`: the last log lines up to the cursor.
fn log_lines(s: &Session, n: usize) -> Result<String, DebugError> {
    let lines = s.logs(n)?;
    Ok(if lines.is_empty() {
        "no log lines up to here".into()
    } else {
        lines
            .iter()
            .map(|(e, a, l)| format!("#{e:<6} actor {a} [{}] {}", l.level, l.message))
            .collect::<Vec<_>>()
            .join("\n")
    })
}

/// `verify`: re-executes the rest of the trace from the cursor.
fn verify_rest(s: &mut Session) -> Result<String, DebugError> {
    let from = s.position().event;
    Ok(match s.verify_rest() {
        Ok(head) if head == s.trace().head() => {
            format!("replay ok: events #{from} to the end re-executed, chain head {head} matches")
        }
        Ok(head) => format!(
            "replay ended with chain head {head}, the recording's is {}",
            s.trace().head()
        ),
        Err(DebugError::Divergence(d)) => format!("divergence: {d}"),
        Err(e) => return Err(e),
    })
}

/// `export FILE [FORMAT]`.
fn export_to(s: &Session, path: PathBuf, format: ExportFormat) -> Result<String, DebugError> {
    // A Mermaid diagram shows the events around the cursor.
    let from = s.position().event.saturating_sub(MERMAID_WINDOW_EVENTS / 2);
    let f = std::fs::File::create(&path)
        .map_err(|e| DebugError::Io(format!("cannot create {}", path.display()), e))?;
    let mut w = std::io::BufWriter::new(f);
    let what = export::write(s.trace(), format, (from, MERMAID_WINDOW_EVENTS), &mut w)?;
    w.flush()
        .map_err(|e| DebugError::Io(format!("writing {}", path.display()), e))?;
    Ok(format!("exported {what} to {}", path.display()))
}

/// `a`, or the actor of the current step.
fn current_actor(s: &Session, a: Option<ActorRef>) -> Result<ActorRef, DebugError> {
    match a {
        Some(a) => Ok(a),
        None => s
            .position()
            .actor
            .map(|(id, _)| ActorRef::Id(id))
            .ok_or_else(|| DebugError::Usage("which actor? (no step executed yet)".into())),
    }
}

fn actor_name(s: &mut Session, id: u64) -> String {
    s.actors()
        .ok()
        .and_then(|l| l.into_iter().find(|a| a.id == id))
        .map(|a| a.name)
        .unwrap_or_default()
}
