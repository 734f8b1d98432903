//! A study's results databases: the study's own `results.sqlite`, and one per run
//! (`runs/R/results.sqlite`) written by a job of a job array, so that jobs on a shared
//! file system never write one SQLite file at once.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use emergent_store::Store;

/// The study's database, with what the runs' own databases hold merged in.
pub fn open_store(out: &Path) -> Result<Store> {
    let mut store = Store::open(&out.join("results.sqlite"))?;
    for db in run_stores(out) {
        store.merge_from(&db)?;
    }
    Ok(store)
}

/// Every run's own database, in name order.
pub fn run_stores(out: &Path) -> Vec<PathBuf> {
    let mut dbs: Vec<PathBuf> = std::fs::read_dir(out.join("runs"))
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path().join("results.sqlite")))
        .filter(|p| p.is_file())
        .collect();
    dbs.sort();
    dbs
}

/// A run's own database, created when absent.
pub fn run_store(out: &Path, run: &str) -> Result<Store> {
    let dir = out.join("runs").join(run);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Store::open(&dir.join("results.sqlite"))
}
