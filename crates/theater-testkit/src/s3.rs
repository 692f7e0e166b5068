//! A real S3-compatible server on loopback for the object-store tests: `s3s-fs` (a
//! crates.io binary serving a directory, each sub-directory a bucket; objects on disk, so
//! it survives its own restart). `.ci/run` installs it; a machine without it builds it
//! once into `target/tools` (a few minutes), so `cargo test` needs nothing by hand.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The version `.ci/run` installs: the newest that builds on this toolchain.
pub const S3S_FS_VERSION: &str = "0.14.1";

/// Static credentials of the test server (not secrets: loopback only).
pub const ACCESS_KEY: &str = "theater-test-key";
pub const SECRET_KEY: &str = "theater-test-secret-do-not-print";

/// A running `s3s-fs`.
#[derive(Debug)]
pub struct S3Server {
    child: Option<Child>,
    pub port: u16,
    pub root: PathBuf,
    binary: PathBuf,
}

impl S3Server {
    /// Starts a server over a fresh directory holding the given (empty) buckets.
    pub fn start(root: &Path, buckets: &[&str]) -> S3Server {
        for b in buckets {
            std::fs::create_dir_all(root.join(b)).unwrap();
        }
        let port = free_port();
        let mut s = S3Server {
            child: None,
            port,
            root: root.to_path_buf(),
            binary: binary(),
        };
        s.resume();
        s
    }

    /// The endpoint URL.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The environment a client of this server needs.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_string()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_string()),
            ("AWS_DEFAULT_REGION", "us-east-1".to_string()),
            ("AWS_ENDPOINT", self.endpoint()),
            ("AWS_ALLOW_HTTP", "true".to_string()),
        ]
    }

    /// Stops the server (its files stay).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port and files; waits until it accepts connections.
    pub fn resume(&mut self) {
        let child = Command::new(&self.binary)
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(&self.root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.binary.display()));
        self.child = Some(child);
        let give_up = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < give_up,
                "s3s-fs did not listen on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// `s3s-fs`: `THEATER_S3S_FS`, else on the `PATH` or in `~/.cargo/bin`, else built once
/// into `target/tools`.
fn binary() -> PathBuf {
    static BUILT: Mutex<Option<PathBuf>> = Mutex::new(None);
    if let Some(p) = std::env::var_os("THEATER_S3S_FS") {
        return PathBuf::from(p);
    }
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
    {
        dirs.push(home.join("bin"));
    }
    let tools = crate::repo().join("target/tools");
    dirs.push(tools.join("bin"));
    if let Some(found) = dirs.iter().map(|d| d.join("s3s-fs")).find(|p| p.is_file()) {
        return found;
    }
    let mut built = BUILT.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(p) = built.as_ref() {
        return p.clone();
    }
    eprintln!(
        "building s3s-fs {S3S_FS_VERSION} into {} (once)",
        tools.display()
    );
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(["install", "s3s-fs", "--version", S3S_FS_VERSION, "--locked"])
        .args(["--features", "binary", "--root"])
        .arg(&tools)
        .status()
        .expect("cargo install s3s-fs");
    assert!(
        status.success(),
        "cargo install s3s-fs {S3S_FS_VERSION} failed"
    );
    let p = tools.join("bin/s3s-fs");
    *built = Some(p.clone());
    p
}
