//! The README's two commands are the ones CI runs, and the scripts they name exist.

use std::path::Path;

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).unwrap()
}

const TEST_COMMAND: &str = "cargo test --workspace";
const RUN_COMMAND: &str = "./scripts/demo.sh";

#[test]
fn readme_commands_are_the_ones_ci_runs() {
    let readme = read("README.md");
    let ci = read(".ci/run");
    for command in [TEST_COMMAND, RUN_COMMAND] {
        assert!(readme.contains(command), "README does not show `{command}`");
        assert!(
            ci.lines().any(|l| l.trim() == command),
            ".ci/run does not run `{command}` as its own line"
        );
    }
    assert!(Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts/demo.sh")
        .exists());
}
