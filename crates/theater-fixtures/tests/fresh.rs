//! The committed components match their sources. Skipped (with a message) only when the
//! wasm target is not installed; `.ci/run` installs it, so CI always checks.

#[test]
fn committed_components_are_not_stale() {
    if !theater_fixtures::target_installed() {
        eprintln!("wasm32-unknown-unknown not installed: cannot check fixture freshness");
        return;
    }
    let dir = theater_fixtures::repo_root().join("target/fixtures");
    let built = theater_fixtures::build_all(&dir).expect("guest actors build");
    let stale = theater_fixtures::stale(&built);
    assert!(
        stale.is_empty(),
        "stale components, rebuild with scripts/build-fixtures.sh: {stale:?}"
    );
}
