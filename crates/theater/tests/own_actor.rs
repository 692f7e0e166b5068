//! An actor written outside this repository, as a user would: `theater new` in a
//! temporary directory, a third-party crate added, `theater build`, `theater run
//! --record`, `theater-replay verify`. Also the clear errors for what is not an actor.
//!
//! Needs the `wasm32-unknown-unknown` target (`.ci/run` adds it). The crates share one
//! cargo target directory under `target/`, so the SDK compiles once for all of them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use theater_testkit::repo;

fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).unwrap().join(name)
}

fn theater(dir: &Path, args: &[&str]) -> Output {
    Command::new(bin("theater"))
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", repo().join("target/user-actors"))
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A fresh directory outside the workspace.
fn outside(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("theater-own-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn git_status() -> String {
    let o = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=all", "--", "."])
        .arg(":(exclude)target")
        .current_dir(repo())
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn a_new_actor_with_a_third_party_crate_builds_runs_and_replays() {
    let before = git_status();
    let dir = outside("words");
    let o = theater(&dir, &["new", "words"]);
    assert!(o.status.success(), "{}", text(&o));
    let krate = dir.join("words");
    // The user adds a dependency from crates.io and uses it.
    let toml = std::fs::read_to_string(krate.join("Cargo.toml")).unwrap();
    let toml = toml.replace("[dependencies]\n", "[dependencies]\nitoa = \"1\"\n");
    std::fs::write(krate.join("Cargo.toml"), toml).unwrap();
    let lib = std::fs::read_to_string(krate.join("src/lib.rs")).unwrap();
    let lib = lib.replace(
        "log(Level::Info, &format!(\"{} words so far\", state.words));",
        "log(Level::Info, itoa::Buffer::new().format(state.words));",
    );
    assert!(lib.contains("itoa::Buffer"), "the scaffold changed: {lib}");
    std::fs::write(krate.join("src/lib.rs"), lib).unwrap();

    let o = theater(&krate, &["build"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("words.wasm"), "{}", text(&o));
    assert!(
        text(&o).contains("imports: runtime, messaging"),
        "{}",
        text(&o)
    );

    let o = theater(
        &krate,
        &["check", "words.wasm", "--manifest", "manifest.toml"],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("granted everything it imports"),
        "{}",
        text(&o)
    );

    let o = theater(
        &krate,
        &[
            "run",
            "manifest.toml",
            "--inputs",
            "inputs.jsonl",
            "--record",
            "run.trace",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = Command::new(bin("theater-replay"))
        .args(["dump", "run.trace"])
        .current_dir(&krate)
        .output()
        .unwrap();
    // 4 + 5 + 2 words, logged through itoa.
    assert!(text(&o).contains("log[info] \"11\""), "{}", text(&o));
    let o = Command::new(bin("theater-replay"))
        .args(["verify", "run.trace"])
        .current_dir(&krate)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("replay ok"), "{}", text(&o));

    // Building again over the first build, and into another file.
    let o = theater(&krate, &["build", ".", "-o", "again.wasm"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        std::fs::read(krate.join("again.wasm")).unwrap(),
        std::fs::read(krate.join("words.wasm")).unwrap()
    );
    swapped_builds_are_compared_by_behaviour(&krate);
    assert_eq!(git_status(), before, "the repository was touched");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn verify(krate: &Path, args: &[&str]) -> Output {
    Command::new(bin("theater-replay"))
        .arg("verify")
        .arg("run.trace")
        .args(args)
        .current_dir(krate)
        .output()
        .unwrap()
}

/// Rebuilds of the recorded actor, swapped in: one that only does extra work (fuel
/// differs, behaviour does not) verifies; one that counts differently diverges.
fn swapped_builds_are_compared_by_behaviour(krate: &Path) {
    let lib = std::fs::read_to_string(krate.join("src/lib.rs")).unwrap();
    let counting = "state.words += text.split_whitespace().count() as u64;";
    assert!(lib.contains(counting), "the scaffold changed: {lib}");
    let extra_work = lib.replace(
        counting,
        "state.words += std::hint::black_box(text.split_whitespace().rev().count()) as u64;",
    );
    std::fs::write(krate.join("src/lib.rs"), extra_work).unwrap();
    let o = theater(krate, &["build", "-o", "layout.wasm"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = verify(krate, &["--swap", "words=layout.wasm"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("behaviour identical (fuel differs in 3 deliveries)"),
        "{}",
        text(&o)
    );
    let o = verify(krate, &["--swap", "words=layout.wasm", "--compare-fuel"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("fuel="), "{}", text(&o));

    let off_by_one = lib.replace(counting, "state.words += text.len() as u64 % 7;");
    std::fs::write(krate.join("src/lib.rs"), off_by_one).unwrap();
    let o = theater(krate, &["build", "-o", "changed.wasm"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = verify(krate, &["--swap", "words=changed.wasm"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("divergence at event"), "{}", text(&o));

    let o = verify(krate, &["--swap", "nosuch=changed.wasm"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("nosuch"), "{}", text(&o));
    std::fs::write(krate.join("src/lib.rs"), lib).unwrap();
}

#[test]
fn new_refuses_an_existing_directory_and_bad_names() {
    let dir = outside("exists");
    std::fs::create_dir_all(dir.join("taken")).unwrap();
    let o = theater(&dir, &["new", "taken"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("already exists"), "{}", text(&o));
    assert_eq!(std::fs::read_dir(dir.join("taken")).unwrap().count(), 0);
    let o = theater(&dir, &["build", "nowhere"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("nowhere does not exist"), "{}", text(&o));
    let o = theater(&dir, &["new", "no/slashes"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("not a usable actor name"), "{}", text(&o));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_crate_without_actor_is_named_as_not_an_actor_and_nothing_is_written() {
    let dir = outside("plain");
    let o = theater(&dir, &["new", "plain"]);
    assert!(o.status.success(), "{}", text(&o));
    let krate = dir.join("plain");
    std::fs::write(
        krate.join("src/lib.rs"),
        "//! Not an actor.\n#[no_mangle]\npub extern \"C\" fn add(a: i32, b: i32) -> i32 { a + b }\n",
    )
    .unwrap();
    let o = theater(&krate, &["build"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("`plain` is not a Theater actor"), "{t}");
    assert!(t.contains("`init`") && t.contains("actor!"), "{t}");
    assert!(!krate.join("plain.wasm").exists());
    assert!(!krate.join("plain.wasm.partial").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn check_names_what_is_wrong_with_a_component() {
    let dir = outside("check");
    std::fs::write(dir.join("notes.txt"), "hello").unwrap();
    let o = theater(&dir, &["check", "notes.txt"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("not a component"), "{}", text(&o));

    // A component that imports an interface the world does not have.
    std::fs::write(
        dir.join("beyond.wat"),
        r#"(component
             (import "wasi:cli/environment@0.2.0" (instance))
           )"#,
    )
    .unwrap();
    let o = theater(&dir, &["check", "beyond.wat"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("imports beyond the theater:actor world: wasi:cli/environment@0.2.0"),
        "{}",
        text(&o)
    );

    // The bank fixture needs messaging and runtime; a manifest granting less is named.
    let bank = repo().join("fixtures/components/bank.wasm");
    let bank = bank.to_str().unwrap();
    let o = theater(&dir, &["check", bank]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("needs grants: messaging, runtime"),
        "{}",
        text(&o)
    );
    std::fs::write(
        dir.join("short.toml"),
        format!(
            "mode = \"simulated\"\nseed = 1\n[[component]]\nname = \"bank\"\npath = {bank:?}\n\
             [[actor]]\nname = \"bank\"\ncomponent = \"bank\"\ngrants = [\"messaging\"]\n"
        ),
    )
    .unwrap();
    let o = theater(&dir, &["check", bank, "--manifest", "short.toml"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("NOT granted runtime"), "{}", text(&o));
    std::fs::remove_dir_all(&dir).unwrap();
}
