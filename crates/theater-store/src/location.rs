//! Where a trace lives: a plain path (a local file or directory, the embedded default), a
//! `file://` URL (a directory laid out as an object store: thin segments, shared blobs),
//! or an `s3://bucket/prefix` URL (any S3-compatible store, configured from the usual
//! `AWS_*` environment variables).
//!
//! Blobs are kept once per store under `blobs/`: at the bucket's root for `s3://`, and
//! for `file://` in the nearest directory at or above the location that holds a `blobs/`
//! directory (else the run's parent), so runs recorded side by side share them.

use std::path::{Path, PathBuf};

use crate::error::StoreError;

/// A trace location, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// A plain path: a trace file, or a directory of segment files.
    Local(PathBuf),
    /// A run (or a prefix of runs) in an object store.
    Store(StoreLocation),
}

/// A run's place in an object store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreLocation {
    pub(crate) kind: StoreKind,
    /// The run's prefix (or a prefix of runs), relative to the store's root, without a
    /// leading or trailing `/`; empty for the root.
    pub(crate) key: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum StoreKind {
    S3 { bucket: String },
    File { root: PathBuf },
}

impl Location {
    /// Reads a location: `s3://bucket/prefix`, `file:///absolute/path`, or a plain path.
    pub fn parse(text: &str) -> Result<Location, StoreError> {
        let bad = |why: &str| StoreError::BadLocation {
            location: redact(text),
            why: why.to_string(),
        };
        if let Some(rest) = text.strip_prefix("s3://") {
            // Credentials never come from the URL (and are never shown).
            let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
            let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(bad("an s3:// URL names a bucket: s3://BUCKET/PREFIX"));
            }
            return Ok(Location::Store(StoreLocation {
                kind: StoreKind::S3 {
                    bucket: bucket.to_string(),
                },
                key: clean_key(key),
            }));
        }
        if let Some(rest) = text.strip_prefix("file://") {
            if !rest.starts_with('/') {
                return Err(bad("a file:// URL holds an absolute path: file:///DIR/RUN"));
            }
            let path = PathBuf::from(rest.trim_end_matches('/'));
            let (root, key) = file_root(&path);
            return Ok(Location::Store(StoreLocation {
                kind: StoreKind::File { root },
                key,
            }));
        }
        if text.contains("://") {
            return Err(bad(
                "not a location this build knows: a path, file:///… or s3://BUCKET/PREFIX",
            ));
        }
        Ok(Location::Local(PathBuf::from(text)))
    }

    /// Whether `text` names a store (a URL) rather than a plain path.
    pub fn is_url(text: &str) -> bool {
        text.starts_with("s3://") || text.starts_with("file://")
    }
}

impl StoreLocation {
    /// The URL as shown to people: no user information, ever.
    pub fn display(&self) -> String {
        match &self.kind {
            StoreKind::S3 { bucket } if self.key.is_empty() => format!("s3://{bucket}"),
            StoreKind::S3 { bucket } => format!("s3://{bucket}/{}", self.key),
            StoreKind::File { root } if self.key.is_empty() => format!("file://{}", root.display()),
            StoreKind::File { root } => format!("file://{}/{}", root.display(), self.key),
        }
    }

    /// The run's prefix under the store's root.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The same store, another prefix under its root.
    pub fn with_key(&self, key: &str) -> StoreLocation {
        StoreLocation {
            kind: self.kind.clone(),
            key: clean_key(key),
        }
    }

    /// Whether the store is a local directory (`file://`).
    pub fn is_local(&self) -> bool {
        matches!(self.kind, StoreKind::File { .. })
    }

    /// The key of `name` under this location's prefix.
    pub fn child(&self, name: &str) -> String {
        if self.key.is_empty() {
            name.to_string()
        } else {
            format!("{}/{name}", self.key)
        }
    }
}

/// `s3://user:secret@bucket/…` shown as `s3://bucket/…`.
pub(crate) fn redact(text: &str) -> String {
    match text.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            if path.is_empty() && !rest.contains('/') {
                format!("{scheme}://{host}")
            } else {
                format!("{scheme}://{host}/{path}")
            }
        }
        None => text.to_string(),
    }
}

fn clean_key(key: &str) -> String {
    key.split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect::<Vec<_>>()
        .join("/")
}

/// A `file://` run's store root (where `blobs/` is) and its key under it.
fn file_root(path: &Path) -> (PathBuf, String) {
    let mut dir = Some(path);
    while let Some(d) = dir {
        if d.join("blobs").is_dir() {
            return (d.to_path_buf(), relative(path, d));
        }
        dir = d.parent();
    }
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => (p.to_path_buf(), relative(path, p)),
        _ => (PathBuf::from("/"), relative(path, Path::new("/"))),
    }
}

fn relative(path: &Path, root: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    clean_key(&rel.to_string_lossy())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expect: &str) {
        let got = match Location::parse(text) {
            Ok(Location::Local(p)) => format!("local {}", p.display()),
            Ok(Location::Store(s)) => format!("store {} key {:?}", s.display(), s.key),
            Err(e) => format!("error {e}"),
        };
        assert_eq!(got, expect, "{text}");
    }

    #[test]
    fn locations_parse() {
        check("run.trace", "local run.trace");
        check("/var/traces/run/", "local /var/traces/run/");
        check(
            "s3://bucket/a/b/run-1",
            "store s3://bucket/a/b/run-1 key \"a/b/run-1\"",
        );
        check("s3://bucket/a//b/", "store s3://bucket/a/b key \"a/b\"");
        check("s3://bucket", "store s3://bucket key \"\"");
        check("s3://AKIA:secret@bucket/x", "store s3://bucket/x key \"x\"");
        check(
            "s3:///x",
            "error s3:///x: an s3:// URL names a bucket: s3://BUCKET/PREFIX",
        );
        check(
            "gs://b/x",
            "error gs://b/x: not a location this build knows: a path, file:///… or s3://BUCKET/PREFIX",
        );
        check(
            "file://relative/x",
            "error file://relative/x: a file:// URL holds an absolute path: file:///DIR/RUN",
        );
    }

    #[test]
    fn no_credential_is_shown() {
        assert_eq!(redact("s3://KEY:SECRET@bucket/p"), "s3://bucket/p");
        assert_eq!(redact("s3://KEY:SECRET@bucket"), "s3://bucket");
        let e = Location::parse("gs://KEY:SECRET@b/x")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("SECRET"), "{e}");
    }

    #[test]
    fn a_file_store_root_is_where_blobs_are() {
        let base = std::env::temp_dir().join(format!("theater-location-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(base.join("fleet/blobs")).unwrap();
        let url = format!("file://{}/fleet/node-a/run-1", base.display());
        let Location::Store(s) = Location::parse(&url).unwrap() else {
            panic!("a store")
        };
        assert_eq!(s.key, "node-a/run-1");
        assert_eq!(
            s.kind,
            StoreKind::File {
                root: base.join("fleet")
            }
        );
        // The store's root itself.
        let url = format!("file://{}/fleet", base.display());
        let Location::Store(s) = Location::parse(&url).unwrap() else {
            panic!("a store")
        };
        assert_eq!(
            (s.key.as_str(), s.kind),
            (
                "",
                StoreKind::File {
                    root: base.join("fleet")
                }
            )
        );
        // No blobs/ above: the run's parent.
        let url = format!("file://{}/other/run-2", base.display());
        let Location::Store(s) = Location::parse(&url).unwrap() else {
            panic!("a store")
        };
        assert_eq!(s.key, "run-2");
        let _ = std::fs::remove_dir_all(&base);
    }
}
