//! Why a build, a scaffold or a componentization failed.

use std::fmt;
use std::path::PathBuf;

/// Why building an actor failed. Each message says what to do about it.
#[derive(Debug)]
pub enum BuildError {
    /// The wasm target's standard library is not installed.
    TargetMissing,
    /// A file or directory could not be read or written.
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// `cargo` could not be started, or failed (its own output says why).
    Cargo(String),
    /// The directory holds no crate cargo can build.
    NotACrate(String),
    /// The crate builds no `cdylib`, so there is no wasm module to wrap.
    NoCdylib { package: String },
    /// The module does not export the actor world: `actor!` is missing.
    NotAnActor {
        package: String,
        missing: Vec<String>,
    },
    /// The module is not valid WebAssembly, or `wit-component` refused it.
    Component(String),
    /// `theater new` would overwrite something.
    Exists(PathBuf),
    /// An actor name cargo would not accept as a package name.
    BadName(String),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::TargetMissing => write!(
                f,
                "the {t} target is not installed: run `rustup target add {t}`",
                t = crate::TARGET
            ),
            BuildError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            BuildError::Cargo(m) => write!(f, "{m}"),
            BuildError::NotACrate(m) => write!(f, "not a crate cargo can build: {m}"),
            BuildError::NoCdylib { package } => write!(
                f,
                "crate `{package}` builds no cdylib, so there is no wasm module to wrap: add \
                 `[lib] crate-type = [\"cdylib\"]` to its Cargo.toml"
            ),
            BuildError::NotAnActor { package, missing } => write!(
                f,
                "crate `{package}` is not a Theater actor: its module does not export {}. \
                 Implement `theater_guest::Actor` for a type and export it with \
                 `theater_guest::actor!(YourType);` in src/lib.rs",
                missing
                    .iter()
                    .map(|m| format!("`{m}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            BuildError::Component(m) => write!(f, "cannot make a component: {m}"),
            BuildError::Exists(p) => write!(
                f,
                "{} already exists; choose another name or --path (nothing was written)",
                p.display()
            ),
            BuildError::BadName(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Attaches a path to an I/O error.
pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> BuildError {
    let path = path.into();
    move |source| BuildError::Io { path, source }
}
