//! The book (`docs/book/`) as a user would follow it: every command in its `sh` blocks is
//! run, in chapter order, in a scratch directory that sees the repository's `fixtures/`,
//! with the `theater` and `theater-replay` binaries this `cargo test --workspace` built
//! first on the PATH. Lines starting with `cargo` or `./scripts/` are the README's two
//! commands, which CI (`.ci/run`) runs itself. A comment line `# prints: TEXT` after a
//! command says what it prints: its output (standard output and error) must contain
//! TEXT. Every link to another file must resolve.

use std::path::{Path, PathBuf};
use std::process::Command;

use theater_testkit::repo;

/// `target/debug` (or whichever profile built this test).
fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).unwrap().to_path_buf()
}

fn chapters() -> Vec<PathBuf> {
    let book = repo().join("docs/book");
    let summary = std::fs::read_to_string(book.join("SUMMARY.md")).unwrap();
    summary
        .lines()
        .filter_map(|l| l.split_once("](").map(|(_, rest)| rest))
        .filter_map(|rest| rest.split_once(')').map(|(link, _)| link))
        .map(|link| book.join(link))
        .collect()
}

/// What a `# prints:` comment introduces.
const PRINTS: &str = "# prints: ";

/// The commands of the `sh` blocks, each with what its `# prints:` lines expect.
fn sh_lines(text: &str) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    let mut in_sh = false;
    for line in text.lines() {
        if line.starts_with("```") {
            in_sh = !in_sh && line.trim() == "```sh";
            continue;
        }
        let line = line.trim();
        if !in_sh || line.is_empty() {
            continue;
        }
        if let Some(expected) = line.strip_prefix(PRINTS) {
            let (_, expects) = out
                .last_mut()
                .expect("a `# prints:` line follows a command");
            expects.push(expected.to_string());
        } else if !line.starts_with('#') {
            out.push((line.to_string(), Vec::new()));
        }
    }
    out
}

#[test]
fn every_chapter_exists_and_every_link_resolves() {
    let chapters = chapters();
    assert!(chapters.len() >= 13, "{chapters:?}");
    for c in &chapters {
        let text = std::fs::read_to_string(c).unwrap_or_else(|e| panic!("{}: {e}", c.display()));
        for (_, rest) in text.match_indices("](").map(|(i, _)| ((), &text[i + 2..])) {
            let link = rest.split(')').next().unwrap();
            if link.starts_with("http") || link.starts_with('#') || link.starts_with('<') {
                continue;
            }
            let target = c.parent().unwrap().join(link.split('#').next().unwrap());
            assert!(target.exists(), "{}: broken link {link}", c.display());
        }
    }
}

#[test]
fn every_command_in_the_book_runs() {
    let bins = bin_dir();
    for b in ["theater", "theater-replay"] {
        assert!(
            bins.join(b).exists(),
            "{} is missing: run `cargo test --workspace`, which builds it",
            bins.join(b).display()
        );
    }
    let scratch = std::env::temp_dir().join(format!("theater-book-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();
    std::os::unix::fs::symlink(repo().join("fixtures"), scratch.join("fixtures")).unwrap();
    let path = format!(
        "{}:{}",
        bins.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let (mut ran, mut checked) = (0, 0);
    for chapter in chapters() {
        let text = std::fs::read_to_string(&chapter).unwrap();
        for (line, expects) in sh_lines(&text) {
            if line.starts_with("cargo ") || line.starts_with("./scripts/") {
                continue;
            }
            let out = Command::new("bash")
                .args(["-euo", "pipefail", "-c", &line])
                .current_dir(&scratch)
                .env("PATH", &path)
                // Actor crates the book creates share one target directory, so the
                // guest SDK compiles once (`crates/theater/tests/own_actor.rs` uses it too).
                .env("CARGO_TARGET_DIR", repo().join("target/user-actors"))
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}: `{line}` failed ({:?}):\n{}{}",
                chapter.display(),
                out.status.code(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            let printed = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            for expected in &expects {
                assert!(
                    printed.contains(expected.as_str()),
                    "{}: `{line}` does not print `{expected}`; it printed:\n{printed}",
                    chapter.display()
                );
                checked += 1;
            }
            ran += 1;
        }
    }
    assert!(ran >= 20, "only {ran} commands in the book");
    assert!(checked >= 20, "only {checked} outputs checked in the book");
    std::fs::remove_dir_all(&scratch).unwrap();
}
