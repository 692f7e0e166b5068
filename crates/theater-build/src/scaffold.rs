//! `theater new`: a new actor crate, ready to build, run and replay.
//!
//! The crate is its own workspace (so it builds inside another one without joining it)
//! and depends on the guest SDK by path or by git. [`scaffold`] writes every file into a
//! temporary sibling directory and renames it into place, so a failure leaves nothing.

use std::path::{Path, PathBuf};

use crate::error::io;
use crate::BuildError;

/// Where the new crate gets the guest SDK from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sdk {
    /// A local checkout of `theater-guest`.
    Path(PathBuf),
    /// A git repository holding `theater-guest` (cargo finds the package in it).
    Git { url: String, rev: Option<String> },
}

impl Sdk {
    fn dependency(&self) -> String {
        match self {
            Sdk::Path(p) => format!("{{ path = {} }}", toml_string(&p.display().to_string())),
            Sdk::Git { url, rev: None } => format!("{{ git = {} }}", toml_string(url)),
            Sdk::Git { url, rev: Some(r) } => {
                format!("{{ git = {}, rev = {} }}", toml_string(url), toml_string(r))
            }
        }
    }
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Checks `name` is a usable package and actor name: ASCII letters, digits, `-` and
/// `_`, starting with a letter, at most 64 characters.
pub fn check_name(name: &str) -> Result<(), BuildError> {
    let ok = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(BuildError::BadName(format!(
            "{name:?} is not a usable actor name: use ASCII letters, digits, `-` and `_`, \
             starting with a letter, at most 64 characters"
        )))
    }
}

/// The files of a new actor crate named `name`: (relative path, contents).
pub fn files(name: &str, sdk: &Sdk) -> Vec<(&'static str, String)> {
    let snake = name.replace('-', "_");
    vec![
        ("Cargo.toml", cargo_toml(name, sdk)),
        ("src/lib.rs", LIB_RS.to_string()),
        (
            "manifest.toml",
            MANIFEST.replace("{name}", name).replace("{snake}", &snake),
        ),
        ("inputs.jsonl", INPUTS.replace("{name}", name)),
        (
            "README.md",
            README.replace("{name}", name).replace("{snake}", &snake),
        ),
        (".gitignore", "/target\n/*.wasm\n/*.trace\n".to_string()),
    ]
}

fn cargo_toml(name: &str, sdk: &Sdk) -> String {
    format!(
        "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n\n\
         [lib]\ncrate-type = [\"cdylib\"]\n\n\
         [dependencies]\ntheater-guest = {}\nserde = {{ version = \"1\", features = [\"derive\"] }}\n\n\
         # Its own workspace: it builds wherever it lives.\n[workspace]\n",
        sdk.dependency()
    )
}

const LIB_RS: &str = r#"//! A Theater actor: it counts the words of every text it is sent, and answers the
//! request `"total"` with the count so far.

use serde::{Deserialize, Serialize};
use theater_guest::{actor, encode, log, Actor, Level, Sender};

struct Words;

/// Everything the actor remembers between messages. Keep all state here: anything
/// left in memory between calls would not survive a replay from a checkpoint.
#[derive(Default, Serialize, Deserialize)]
struct State {
    messages: u64,
    words: u64,
}

impl Actor for Words {
    type State = State;

    fn init(_args: &[u8]) -> Result<State, String> {
        Ok(State::default())
    }

    fn on_message(state: &mut State, _from: Sender, message: &[u8]) -> Result<(), String> {
        let text = std::str::from_utf8(message).map_err(|e| format!("not text: {e}"))?;
        state.messages += 1;
        state.words += text.split_whitespace().count() as u64;
        log(Level::Info, &format!("{} words so far", state.words));
        Ok(())
    }

    fn on_request(
        state: &mut State,
        _from: Sender,
        _correlation: u64,
        _request: &[u8],
    ) -> Result<Option<Vec<u8>>, String> {
        Ok(Some(encode(&state.words)))
    }
}

actor!(Words);
"#;

const MANIFEST: &str = r#"# The system `theater run` starts: one {name} actor.
mode = "simulated"
seed = 1

[[component]]
name = "{name}"
path = "{snake}.wasm"   # written by `theater build`, relative to this file

[[actor]]
name = "{name}"
component = "{name}"
restart = "permanent"
grants = ["runtime", "messaging"]
"#;

const INPUTS: &str = r#"{"to": "{name}", "text": "the quick brown fox"}
{"to": "{name}", "text": "jumps over the lazy dog"}
{"to": "{name}", "text": "and again"}
"#;

const README: &str = r#"# {name}

A Theater actor. Build it into a component, run it while recording a trace, and
replay the trace:

```sh
theater build                      # writes {snake}.wasm
theater run manifest.toml --inputs inputs.jsonl --record run.trace
theater-replay verify run.trace    # re-executes the run: same behaviour
theater-replay run.trace           # step through it in the REPL
```

After a change, check the new build against the recorded run:

```sh
theater build -o fixed.wasm
theater-replay regress run.trace --swap {name}=fixed.wasm
```
"#;

/// Writes a new actor crate named `name` into `dir`, which must not exist. Returns the
/// files written (relative to `dir`).
pub fn scaffold(name: &str, dir: &Path, sdk: &Sdk) -> Result<Vec<&'static str>, BuildError> {
    check_name(name)?;
    if dir.exists() {
        return Err(BuildError::Exists(dir.to_path_buf()));
    }
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(io(&parent))?;
    let staging = parent.join(format!(".{name}.theater-new"));
    let _ = std::fs::remove_dir_all(&staging);
    let written = write_all(&staging, name, sdk).and_then(|files| {
        std::fs::rename(&staging, dir).map_err(io(dir))?;
        Ok(files)
    });
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    written
}

fn write_all(staging: &Path, name: &str, sdk: &Sdk) -> Result<Vec<&'static str>, BuildError> {
    let mut names = Vec::new();
    for (rel, contents) in files(name, sdk) {
        let path = staging.join(rel);
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p).map_err(io(p))?;
        }
        std::fs::write(&path, contents).map_err(io(&path))?;
        names.push(rel);
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for good in ["a", "my-actor", "r2_d2"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "1x", "a b", "a/b", "ä", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_name(&"x".repeat(64)).is_ok());
    }

    #[test]
    fn dependency_strings_are_escaped() {
        let sdk = Sdk::Path(PathBuf::from("a\"b\\c"));
        assert_eq!(sdk.dependency(), r#"{ path = "a\"b\\c" }"#);
        let git = Sdk::Git {
            url: "https://x/y".into(),
            rev: Some("abc".into()),
        };
        assert_eq!(git.dependency(), r#"{ git = "https://x/y", rev = "abc" }"#);
    }

    #[test]
    fn an_existing_directory_is_refused_and_left_alone() {
        let dir = std::env::temp_dir().join(format!("theater-new-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("keep"), "x").unwrap();
        let e = scaffold("x", &dir, &Sdk::Path("sdk".into())).unwrap_err();
        assert!(matches!(e, BuildError::Exists(_)), "{e}");
        assert_eq!(std::fs::read_to_string(dir.join("keep")).unwrap(), "x");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
