//! `build-fixtures`: rebuild the committed actor components (`build`), or report which
//! are stale against their sources (`check`, exit 1 if any).

use anyhow::{bail, Result};
use theater_fixtures::{build_all, components_dir, repo_root, stale, target_installed, TARGET};

fn main() -> Result<()> {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "build".into());
    if !target_installed() {
        bail!("the {TARGET} target is not installed: run `rustup target add {TARGET}`");
    }
    let built = build_all(&repo_root().join("target/fixtures"))?;
    match mode.as_str() {
        "build" => {
            std::fs::create_dir_all(components_dir())?;
            for (name, bytes) in &built {
                let path = components_dir().join(format!("{name}.wasm"));
                std::fs::write(&path, bytes)?;
                println!("{:>8} bytes  fixtures/components/{name}.wasm", bytes.len());
            }
        }
        "check" => {
            let stale = stale(&built);
            if !stale.is_empty() {
                bail!(
                    "stale components (run scripts/build-fixtures.sh): {}",
                    stale.join(", ")
                );
            }
            println!("{} components up to date", built.len());
        }
        other => bail!("unknown mode {other:?}: use `build` or `check`"),
    }
    Ok(())
}
