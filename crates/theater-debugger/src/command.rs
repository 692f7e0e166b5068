//! The REPL's command language: parsing lines into [`Command`]s, and the help text.
//!
//! Kept out of the binary so it can be tested and fuzzed without a terminal: any line
//! parses to a command or to a [`DebugError::Usage`] that says what is wrong, never a
//! panic.

use std::path::PathBuf;

use crate::breakpoint::{Breakpoint, BREAKPOINT_SYNTAX};
use crate::predicate::{ActorRef, Predicate, PREDICATE_SYNTAX};
use crate::DebugError;

/// One REPL command.
#[derive(Clone, Debug)]
pub enum Command {
    Step(usize),
    Next,
    Back(usize),
    Goto(u64),
    Continue,
    ReverseContinue,
    Break(Breakpoint),
    Watch(ActorRef),
    /// Delete one breakpoint, or all.
    Delete(Option<u32>),
    Info(InfoTopic),
    Actors,
    /// Show one event, or the current step's events.
    Event(Option<u64>),
    /// An actor's state at the cursor (default: the current step's actor).
    State(Option<ActorRef>),
    /// An actor's state at two events (default: before and after the current step).
    StateDiff {
        actor: Option<ActorRef>,
        between: Option<(u64, u64)>,
    },
    /// The last N log lines up to the cursor.
    Log(usize),
    Verify,
    Diff(PathBuf),
    Bisect(Predicate),
    /// Write the trace to a file: JSON lines, or a picture (`perfetto`, `mermaid` of the
    /// events around the cursor, `dot`).
    Export(PathBuf, ExportFormat),
    /// Open a live branch of the run at the cursor (see [`crate::Branch`]).
    Fork,
    /// In a branch: queue an external message (`request`: an external request).
    Send {
        actor: String,
        payload: String,
        request: bool,
    },
    /// In a branch: run until idle.
    Run,
    /// In a branch: end it and write its trace to FILE.
    Save(PathBuf),
    Help(Option<String>),
    Quit,
}

pub use crate::export::ExportFormat;

/// What `info` shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InfoTopic {
    Trace,
    Breakpoints,
    Checkpoints,
}

/// A command's name, aliases, synopsis and help.
#[derive(Clone, Copy, Debug)]
pub struct CommandHelp {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub usage: &'static str,
    pub help: &'static str,
}

/// Every command, in the order `help` lists them.
pub const COMMANDS: &[CommandHelp] = &[
    CommandHelp { name: "step", aliases: &["s"], usage: "step [N]", help: "Execute the next N steps (default 1), ignoring breakpoints. A step is one input or one whole delivery." },
    CommandHelp { name: "next", aliases: &["n"], usage: "next", help: "Run forward to the next step of the current step's actor (or a breakpoint)." },
    CommandHelp { name: "back", aliases: &["b"], usage: "back [N]", help: "Go back N steps (default 1): restores the nearest checkpoint and re-executes forward." },
    CommandHelp { name: "goto", aliases: &["g"], usage: "goto EVENT", help: "Go to the end of the step containing event number EVENT (forward or back)." },
    CommandHelp { name: "continue", aliases: &["c"], usage: "continue", help: "Run forward to the next breakpoint or watchpoint, or the end." },
    CommandHelp { name: "reverse-continue", aliases: &["rc"], usage: "reverse-continue", help: "Run backward to the previous breakpoint or watchpoint, or the start." },
    CommandHelp { name: "break", aliases: &["br"], usage: "break actor ACTOR | kind KIND | failure | payload TEXT | payload /REGEX/", help: "Stop at steps of an actor, containing an event kind, failing, or carrying a matching message." },
    CommandHelp { name: "watch", aliases: &["w"], usage: "watch ACTOR", help: "Stop when the actor's state changes." },
    CommandHelp { name: "delete", aliases: &["d"], usage: "delete [ID]", help: "Delete a breakpoint by id, or all of them." },
    CommandHelp { name: "info", aliases: &["i"], usage: "info [trace|breakpoints|checkpoints]", help: "Show the trace summary, the breakpoints, or the checkpoints held." },
    CommandHelp { name: "actors", aliases: &["a"], usage: "actors", help: "The supervision tree at the cursor, with each actor's status and restarts." },
    CommandHelp { name: "event", aliases: &["e"], usage: "event [N]", help: "Show event N, or the events of the current step." },
    CommandHelp { name: "state", aliases: &["st"], usage: "state [ACTOR]", help: "An actor's state at the cursor, decoded (JSON, MessagePack) or as hex. Default: the current step's actor." },
    CommandHelp { name: "state-diff", aliases: &["sd"], usage: "state-diff [ACTOR] [EVENT EVENT]", help: "How an actor's state differs between two events (default: before and after the current step)." },
    CommandHelp { name: "log", aliases: &["l"], usage: "log [N]", help: "The last N log lines written up to the cursor (default 20)." },
    CommandHelp { name: "verify", aliases: &[], usage: "verify", help: "Re-execute the rest of the trace from the cursor and report the first divergence, if any." },
    CommandHelp { name: "diff", aliases: &[], usage: "diff OTHER.bin", help: "Compare this trace with another, per actor, and show the first divergence in context." },
    CommandHelp { name: "bisect", aliases: &[], usage: "bisect PREDICATE", help: "Find the first step at which PREDICATE holds and go there. PREDICATE: failed | failed:ACTOR | log:REGEX | ACTOR:/json/pointer OP VALUE." },
    CommandHelp { name: "export", aliases: &[], usage: "export FILE [json|perfetto|mermaid|dot]", help: "Write the trace to FILE: JSON lines (default), a Perfetto timeline, a Mermaid sequence diagram of the 40 events around the cursor, or the supervision tree as DOT." },
    CommandHelp { name: "fork", aliases: &[], usage: "fork", help: "Open a live branch at the cursor: the system as it is here, going on with the messages you send (`send`, `run`), recorded as a new trace (`save`). Other commands still move through the recording." },
    CommandHelp { name: "send", aliases: &[], usage: "send [request] ACTOR PAYLOAD", help: "In a branch: queue PAYLOAD (e.g. JSON) for ACTOR as an external message, or with `request` as an external request. `run` delivers it." },
    CommandHelp { name: "run", aliases: &[], usage: "run", help: "In a branch: deliver everything queued until the system is idle (at most a million deliveries)." },
    CommandHelp { name: "save", aliases: &[], usage: "save FILE", help: "In a branch: end it and write its trace to FILE (a branch of the recording; `diff` aligns the two at the fork point)." },
    CommandHelp { name: "help", aliases: &["h", "?"], usage: "help [COMMAND]", help: "List the commands, or explain one." },
    CommandHelp { name: "quit", aliases: &["q", "exit"], usage: "quit", help: "Leave the debugger (Ctrl-D too)." },
];

/// The command a name or alias stands for.
pub fn lookup(word: &str) -> Option<&'static CommandHelp> {
    COMMANDS
        .iter()
        .find(|c| c.name == word || c.aliases.contains(&word))
}

/// Edit distance counting a swap of two neighbours as one edit (optimal string
/// alignment), so `stpe` is closer to `step` than to `state`.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

/// The command name closest to a mistyped word, if one is close.
pub fn suggest(word: &str) -> Option<&'static str> {
    COMMANDS
        .iter()
        .map(|c| (edit_distance(word, c.name), c.name))
        .filter(|(d, name)| *d <= 2.max(name.len() / 3))
        .min()
        .map(|(_, n)| n)
}

fn usage(c: &CommandHelp, why: impl std::fmt::Display) -> DebugError {
    DebugError::Usage(format!("{}: {why}; usage: {}", c.name, c.usage))
}

fn count(c: &CommandHelp, arg: &str) -> Result<usize, DebugError> {
    if arg.is_empty() {
        return Ok(1);
    }
    match arg.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(usage(c, format!("{arg:?} is not a positive count"))),
    }
}

fn event_number(c: &CommandHelp, arg: &str) -> Result<u64, DebugError> {
    arg.trim_start_matches('#')
        .parse::<u64>()
        .map_err(|_| usage(c, format!("{arg:?} is not an event number")))
}

/// Parses one line; `Ok(None)` for a blank line.
pub fn parse_command(line: &str) -> Result<Option<Command>, DebugError> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let rest = rest.trim();
    let Some(c) = lookup(word) else {
        let hint = suggest(word).map_or(String::new(), |s| format!(" (did you mean `{s}`?)"));
        return Err(DebugError::Usage(format!(
            "unknown command `{word}`{hint}; type `help` for the list"
        )));
    };
    let no_args = |cmd: Command| {
        if rest.is_empty() {
            Ok(cmd)
        } else {
            Err(usage(c, format!("unexpected argument {rest:?}")))
        }
    };
    let command = match c.name {
        "step" => Command::Step(count(c, rest)?),
        "next" => no_args(Command::Next)?,
        "back" => Command::Back(count(c, rest)?),
        "goto" if rest.is_empty() => return Err(usage(c, "an event number is needed")),
        "goto" => Command::Goto(event_number(c, rest)?),
        "continue" => no_args(Command::Continue)?,
        "reverse-continue" => no_args(Command::ReverseContinue)?,
        "break" => Command::Break(
            Breakpoint::parse(rest).map_err(|e| DebugError::Usage(format!("break: {e}")))?,
        ),
        "watch" if rest.is_empty() => return Err(usage(c, "which actor?")),
        "watch" => Command::Watch(rest.parse()?),
        "delete" if rest.is_empty() => Command::Delete(None),
        "delete" => Command::Delete(Some(
            rest.parse()
                .map_err(|_| usage(c, format!("{rest:?} is not a breakpoint id")))?,
        )),
        "info" => Command::Info(match rest {
            "" | "trace" => InfoTopic::Trace,
            "breakpoints" | "break" | "b" => InfoTopic::Breakpoints,
            "checkpoints" => InfoTopic::Checkpoints,
            other => return Err(usage(c, format!("no topic {other:?}"))),
        }),
        "actors" => no_args(Command::Actors)?,
        "event" if rest.is_empty() => Command::Event(None),
        "event" => Command::Event(Some(event_number(c, rest)?)),
        "state" if rest.is_empty() => Command::State(None),
        "state" => Command::State(Some(rest.parse()?)),
        "state-diff" => {
            let words: Vec<&str> = rest.split_whitespace().collect();
            match words.as_slice() {
                [] => Command::StateDiff {
                    actor: None,
                    between: None,
                },
                [a] => Command::StateDiff {
                    actor: Some(a.parse()?),
                    between: None,
                },
                [x, y] => Command::StateDiff {
                    actor: None,
                    between: Some((event_number(c, x)?, event_number(c, y)?)),
                },
                [a, x, y] => Command::StateDiff {
                    actor: Some(a.parse()?),
                    between: Some((event_number(c, x)?, event_number(c, y)?)),
                },
                _ => return Err(usage(c, "too many arguments")),
            }
        }
        "log" if rest.is_empty() => Command::Log(20),
        "log" => Command::Log(count(c, rest)?),
        "verify" => no_args(Command::Verify)?,
        "diff" if rest.is_empty() => return Err(usage(c, "which trace to compare with?")),
        "diff" => Command::Diff(PathBuf::from(rest)),
        "bisect" if rest.is_empty() => {
            return Err(usage(
                c,
                format!("a predicate is needed ({PREDICATE_SYNTAX})"),
            ))
        }
        "bisect" => Command::Bisect(rest.parse()?),
        "export" if rest.is_empty() => return Err(usage(c, "a file to write is needed")),
        "export" => {
            let (file, format) = match rest.rsplit_once(char::is_whitespace) {
                Some((file, f)) => match f.parse::<ExportFormat>() {
                    Ok(format) => (file.trim(), format),
                    Err(_) => (rest, ExportFormat::Json),
                },
                None => (rest, ExportFormat::Json),
            };
            Command::Export(PathBuf::from(file), format)
        }
        "fork" => no_args(Command::Fork)?,
        "send" => {
            let (request, rest) = match rest.split_once(char::is_whitespace) {
                Some(("request", more)) => (true, more.trim()),
                _ => (false, rest),
            };
            let Some((actor, payload)) = rest.split_once(char::is_whitespace) else {
                return Err(usage(c, "an actor and a payload are needed"));
            };
            Command::Send {
                actor: actor.to_string(),
                payload: payload.trim().to_string(),
                request,
            }
        }
        "run" => no_args(Command::Run)?,
        "save" if rest.is_empty() => return Err(usage(c, "a file to write is needed")),
        "save" => Command::Save(PathBuf::from(rest)),
        "help" if rest.is_empty() => Command::Help(None),
        "help" => Command::Help(Some(rest.to_string())),
        "quit" => Command::Quit,
        _ => return Err(DebugError::Usage(format!("unknown command `{word}`"))),
    };
    Ok(Some(command))
}

/// `help` and `help COMMAND`.
pub fn help(topic: Option<&str>) -> Result<String, DebugError> {
    match topic {
        None => {
            let mut out = String::from("Commands (a step is one input or one whole delivery):\n");
            for c in COMMANDS {
                let aliases = if c.aliases.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", c.aliases.join(", "))
                };
                out.push_str(&format!(
                    "  {:<20} {}\n",
                    format!("{}{aliases}", c.name),
                    c.usage
                ));
            }
            out.push_str("Type `help COMMAND` for details.");
            Ok(out)
        }
        Some(word) => {
            let c = lookup(word).ok_or_else(|| {
                let hint =
                    suggest(word).map_or(String::new(), |s| format!(" (did you mean `{s}`?)"));
                DebugError::Usage(format!("no command `{word}`{hint}"))
            })?;
            let mut out = format!("{}\n  {}", c.usage, c.help);
            if c.name == "break" {
                out.push_str(&format!("\n  forms: {BREAKPOINT_SYNTAX}"));
            }
            if !c.aliases.is_empty() {
                out.push_str(&format!("\n  aliases: {}", c.aliases.join(", ")));
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands_and_aliases() {
        assert!(matches!(
            parse_command("step").unwrap(),
            Some(Command::Step(1))
        ));
        assert!(matches!(
            parse_command("s 5").unwrap(),
            Some(Command::Step(5))
        ));
        assert!(matches!(
            parse_command("goto #12").unwrap(),
            Some(Command::Goto(12))
        ));
        assert!(matches!(
            parse_command("rc").unwrap(),
            Some(Command::ReverseContinue)
        ));
        assert!(parse_command("  ").unwrap().is_none());
        assert!(matches!(
            parse_command("state-diff bank 3 9").unwrap(),
            Some(Command::StateDiff {
                actor: Some(_),
                between: Some((3, 9))
            })
        ));
        assert!(matches!(
            parse_command("bisect bank:/accounts/alice < 0").unwrap(),
            Some(Command::Bisect(_))
        ));
        assert!(matches!(
            parse_command(r#"send bank {"open": {"name": "x"}}"#).unwrap(),
            Some(Command::Send { actor, payload, request: false })
                if actor == "bank" && payload == r#"{"open": {"name": "x"}}"#
        ));
        assert!(matches!(
            parse_command("send request kv GET /a").unwrap(),
            Some(Command::Send { actor, payload, request: true })
                if actor == "kv" && payload == "GET /a"
        ));
        assert!(parse_command("send bank").is_err());
        assert!(parse_command("run now").is_err());
        assert!(parse_command("save").is_err());
    }

    #[test]
    fn bad_lines_say_what_is_wrong() {
        let e = parse_command("stpe").unwrap_err().to_string();
        assert!(
            e.contains("unknown command `stpe`") && e.contains("did you mean `step`"),
            "{e}"
        );
        let e = parse_command("step zero").unwrap_err().to_string();
        assert!(
            e.contains("not a positive count") && e.contains("usage: step [N]"),
            "{e}"
        );
        assert!(parse_command("goto").is_err());
        assert!(parse_command("break kind nothing").is_err());
        assert!(parse_command("next now").is_err());
        assert!(parse_command("state-diff a 1 2 3").is_err());
        assert!(help(Some("stpe"))
            .unwrap_err()
            .to_string()
            .contains("did you mean `step`"));
    }

    #[test]
    fn every_command_has_help() {
        let all = help(None).unwrap();
        for c in COMMANDS {
            assert!(all.contains(c.usage), "{}", c.name);
            assert!(help(Some(c.name)).unwrap().contains(c.help));
        }
    }
}
