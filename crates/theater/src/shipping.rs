//! `theater run --record s3://…` (or `file:///…`): the run records into a local spool
//! directory of segments, as `--record DIR/` does, and a shipper thread stores each
//! sealed segment (thin, its large blobs once per store) under the URL's prefix. On a
//! clean stop the last segment is sealed and stored before the process exits.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use theater_store::{Location, ShipReport, Shipper, ShipperOptions, Store, StoreLocation};

/// A recording that goes to a store.
#[derive(Debug)]
pub(crate) struct Shipping {
    shipper: Shipper,
    pub(crate) url: String,
    spool: PathBuf,
}

/// What `--record` names, when it is a store URL: the store and run, checked.
pub(crate) struct Target {
    store: Store,
    at: StoreLocation,
    pub(crate) spool: PathBuf,
}

impl Target {
    /// `None` for a plain path.
    pub(crate) fn parse(
        record: &Path,
        spool: Option<&Path>,
        resume: bool,
        force: bool,
    ) -> Result<Option<Target>> {
        let text = record.to_string_lossy();
        let Location::Store(at) = Location::parse(&text)? else {
            return Ok(None);
        };
        let url = at.display();
        if at.key().is_empty() {
            bail!("--record {url}: name a run under the store's root (s3://BUCKET/PREFIX/RUN)");
        }
        let store = Store::connect(&at)?;
        let exists =
            Shipper::check(&store, &at).with_context(|| format!("cannot record to {url}"))?;
        if exists && !resume {
            if !force {
                bail!("cannot record to {url}: it already holds a recording (use --force to replace it, or --resume to continue it)");
            }
            for (key, _) in store.list(at.key())? {
                store.delete(&key)?;
            }
        }
        let spool = match spool {
            Some(p) => p.to_path_buf(),
            None => std::env::temp_dir()
                .join("theater-spool")
                .join(theater_trace::Digest::of(url.as_bytes()).short()),
        };
        std::fs::create_dir_all(&spool)
            .with_context(|| format!("cannot create the spool {}", spool.display()))?;
        if resume && !theater_runtime::resume::has_segments(&spool) {
            if !exists {
                bail!("cannot resume {url}: it holds no recording");
            }
            // Another machine, or the spool is gone: the run comes back from the store.
            let n = Shipper::fetch_run(&store, &at, &spool)
                .with_context(|| format!("cannot resume {url}"))?;
            eprintln!(
                "theater: fetched {n} segments of {url} into the spool {}",
                spool.display()
            );
        }
        Ok(Some(Target { store, at, spool }))
    }

    /// Starts the shipper on the spool.
    pub(crate) fn ship(self, spool_bytes: u64) -> Result<Shipping> {
        let url = self.at.display();
        let options = ShipperOptions {
            spool_bytes,
            log: Box::new(|line| eprintln!("{line}")),
            ..ShipperOptions::default()
        };
        let shipper = Shipper::spawn(self.store, self.at, self.spool.clone(), options)?;
        Ok(Shipping {
            shipper,
            url,
            spool: self.spool,
        })
    }
}

impl Shipping {
    /// Raised while the spool is over its bound: new external inputs are refused.
    pub(crate) fn full(&self) -> Arc<AtomicBool> {
        self.shipper.spool_full()
    }

    pub(crate) fn is_full(&self) -> bool {
        self.shipper.spool_full().load(Ordering::SeqCst)
    }

    /// Stores what is left (the recorder has sealed the last segment), waiting at most
    /// `wait_ms` for a store that fails; an error names what stayed in the spool.
    pub(crate) fn finish(self, wait_ms: u64) -> Result<ShipReport> {
        let url = self.url.clone();
        let report = self
            .shipper
            .finish(wait_ms)
            .with_context(|| format!("cannot store the recording in {url}"))?;
        if report.left_in_spool > 0 {
            bail!(
                "{url}: the store did not take the last {} segment(s) within --ship-wait-ms {wait_ms}; they are kept in the spool {}: run again with --record {url} --spool {} --resume to store them",
                report.left_in_spool,
                self.spool.display(),
                self.spool.display()
            );
        }
        Ok(report)
    }
}
