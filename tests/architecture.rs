//! `docs/ARCHITECTURE.md` cannot drift silently, and no crate has an import circle.
//!
//! - The code map names every crate in `crates/`, and every crate it names exists.
//! - For each crate with modules, its section (`### `crates/NAME``) has a table whose
//!   first column lists exactly the crate's modules (`x` for `src/x.rs` or
//!   `src/x/mod.rs`, `x::y` for `src/x/y.rs`).
//! - Within each crate, the top-level modules' references to each other (`crate::x`,
//!   resolved through the crate root's re-exports) form no cycle. Comments and
//!   `#[cfg(test)] mod tests` blocks are not references.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use theater_testkit::repo;

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn crates() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(repo().join("crates"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("Cargo.toml").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The modules of a crate, from its `src/` files.
fn modules(krate: &str) -> BTreeSet<String> {
    let src = repo().join("crates").join(krate).join("src");
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir(&src).unwrap().filter_map(|e| e.ok()) {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if path.join("mod.rs").exists() {
                out.insert(name.clone());
            }
            for sub in std::fs::read_dir(&path).unwrap().filter_map(|e| e.ok()) {
                let sub = sub.file_name().to_string_lossy().into_owned();
                if let Some(stem) = sub.strip_suffix(".rs").filter(|s| *s != "mod") {
                    out.insert(format!("{name}::{stem}"));
                }
            }
        } else if let Some(stem) = name.strip_suffix(".rs") {
            if stem != "lib" && stem != "main" {
                out.insert(stem.to_string());
            }
        }
    }
    out
}

/// The first ```text block of the document: the code map.
fn code_map(doc: &str) -> &str {
    let start = doc.find("```text\n").expect("a code map") + "```text\n".len();
    &doc[start..start + doc[start..].find("```").unwrap()]
}

/// The modules the section `### `crates/NAME`` lists in its table's first column.
fn documented_modules(doc: &str, krate: &str) -> Option<BTreeSet<String>> {
    let heading = format!("### `crates/{krate}`\n");
    let start = doc.find(&heading)? + heading.len();
    let section = &doc[start..];
    let section = &section[..section.find("\n### ").unwrap_or(section.len())];
    let modules = section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once('`').map(|(m, _)| m.to_string()))
        .collect();
    Some(modules)
}

#[test]
fn the_code_map_names_every_crate_and_nothing_else() {
    let doc = read(&repo().join("docs/ARCHITECTURE.md"));
    let map = code_map(&doc);
    let crates = crates();
    for c in &crates {
        assert!(
            map.contains(&format!("crates/{c} ")),
            "the code map does not name crates/{c}"
        );
    }
    // Each entry starts a line; indented lines continue the one before.
    for line in map.lines().filter(|l| !l.starts_with(' ')) {
        let Some(path) = line.split_whitespace().next() else {
            continue;
        };
        let path = path.trim_end_matches('/');
        if path.contains('/') || path.contains('.') {
            assert!(
                repo().join(path).exists(),
                "the code map names {path}, which does not exist"
            );
        }
    }
}

#[test]
fn each_crates_module_table_lists_exactly_its_modules() {
    let doc = read(&repo().join("docs/ARCHITECTURE.md"));
    for c in crates() {
        let actual = modules(&c);
        if actual.is_empty() {
            continue;
        }
        let documented = documented_modules(&doc, &c)
            .unwrap_or_else(|| panic!("docs/ARCHITECTURE.md has no section ### `crates/{c}`"));
        let missing: Vec<_> = actual.difference(&documented).collect();
        let stale: Vec<_> = documented.difference(&actual).collect();
        assert!(
            missing.is_empty() && stale.is_empty(),
            "crates/{c}: modules not in its table: {missing:?}; in the table but not in the code: {stale:?}"
        );
    }
}

/// `text` without comments and without a trailing `#[cfg(test)] mod tests`.
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Which top-level module each name the crate root re-exports comes from.
fn reexports(root: &str, top: &BTreeSet<String>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for stmt in code_of(root).split(';') {
        let Some(rest) = stmt.trim().split_once("use ").map(|(_, r)| r) else {
            continue;
        };
        let module = rest.split("::").next().unwrap_or_default().trim();
        if !top.contains(module) {
            continue;
        }
        for ident in rest.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
            if !ident.is_empty() && ident != module {
                out.entry(ident.to_string())
                    .or_insert_with(|| module.to_string());
            }
        }
    }
    out
}

/// The top-level modules `code` refers to through `crate::`.
fn references(
    code: &str,
    top: &BTreeSet<String>,
    via: &BTreeMap<String, String>,
) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        let names: Vec<&str> = match rest.strip_prefix('{') {
            // `crate::{a::X, b}`: the first segment of each item.
            Some(group) => group[..group.find('}').unwrap_or(group.len())]
                .split(',')
                .map(|item| item.trim().split("::").next().unwrap_or_default())
                .collect(),
            None => vec![rest
                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .next()
                .unwrap_or_default()],
        };
        for name in names {
            if top.contains(name) {
                out.insert(name.to_string());
            } else if let Some(m) = via.get(name) {
                out.insert(m.clone());
            }
        }
    }
    out
}

/// A cycle in `graph`, if there is one.
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == n) {
            let mut c = path[i..].to_vec();
            c.push(n.to_string());
            return Some(c);
        }
        if done.contains(n) {
            return None;
        }
        path.push(n.to_string());
        for next in graph.get(n).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(n.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_crate_has_an_import_circle() {
    for c in crates() {
        let src = repo().join("crates").join(&c).join("src");
        let top: BTreeSet<String> = modules(&c)
            .into_iter()
            .map(|m| m.split("::").next().unwrap().to_string())
            .collect();
        let root = ["lib.rs", "main.rs"]
            .iter()
            .map(|f| src.join(f))
            .filter(|p| p.exists())
            .map(|p| read(&p))
            .collect::<String>();
        let via = reexports(&root, &top);
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for module in modules(&c) {
            let node = module.split("::").next().unwrap().to_string();
            let file = if module.contains("::") {
                src.join(module.replace("::", "/") + ".rs")
            } else if src.join(format!("{module}.rs")).exists() {
                src.join(format!("{module}.rs"))
            } else {
                src.join(&module).join("mod.rs")
            };
            let mut refs = references(&code_of(&read(&file)), &top, &via);
            refs.remove(&node);
            graph.entry(node).or_default().extend(refs);
        }
        if let Some(c2) = cycle(&graph) {
            panic!("crates/{c} has an import circle: {}", c2.join(" -> "));
        }
    }
}

/// The checker itself finds a circle and resolves re-exports.
#[test]
fn the_circle_check_sees_a_circle() {
    let top: BTreeSet<String> = ["a", "b"].map(String::from).into();
    let via = reexports("pub use b::{Thing, Other};", &top);
    assert_eq!(via["Thing"], "b");
    let a = references(
        &code_of("use crate::Thing; // crate::a is a comment"),
        &top,
        &via,
    );
    let mut b = references(&code_of("use crate::{a::X, b};"), &top, &via);
    b.remove("b");
    assert_eq!(a, ["b".to_string()].into());
    let graph: BTreeMap<String, BTreeSet<String>> =
        [("a".to_string(), a), ("b".to_string(), b)].into();
    assert!(cycle(&graph).is_some(), "{graph:?}");
}
