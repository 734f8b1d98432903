//! Advisory locks (`flock` on a lock file), so that several processes working in one
//! folder never do the same thing at once: one prepares a study's corpus while the others
//! wait, a run is trained by one process, a file is fetched into the Hub's cache by one.
//! `flock` is also what Python's `filelock` takes, so a lock is shared with
//! `huggingface_hub`.
//! The kernel drops a lock when its process dies, so a killed process blocks no one.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// A held lock; released when dropped.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
    pub path: PathBuf,
}

/// The lock file of a run's folder.
pub fn run_lock(run_dir: &Path) -> PathBuf {
    run_dir.join(".lock")
}

fn open(path: &Path) -> Result<(File, PathBuf)> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let path = path.to_path_buf();
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening the lock {}", path.display()))?;
    Ok((file, path))
}

#[cfg(unix)]
fn flock(file: &File, blocking: bool) -> std::io::Result<bool> {
    use std::os::unix::io::AsRawFd;
    let op = libc::LOCK_EX | if blocking { 0 } else { libc::LOCK_NB };
    loop {
        // SAFETY: flock only reads the descriptor, which `file` keeps open.
        if unsafe { libc::flock(file.as_raw_fd(), op) } == 0 {
            return Ok(true);
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EWOULDBLOCK) if !blocking => return Ok(false),
            _ => return Err(e),
        }
    }
}

#[cfg(not(unix))]
fn flock(_file: &File, _blocking: bool) -> std::io::Result<bool> {
    Ok(true)
}

impl DirLock {
    /// The lock file `path` (made if missing), waiting while another process holds it.
    pub fn wait(path: &Path) -> Result<DirLock> {
        let (file, path) = open(path)?;
        flock(&file, true).with_context(|| format!("locking {}", path.display()))?;
        Ok(DirLock { _file: file, path })
    }

    /// The lock file `path` if no other process holds it.
    pub fn try_take(path: &Path) -> Result<Option<DirLock>> {
        let (file, path) = open(path)?;
        let got = flock(&file, false).with_context(|| format!("locking {}", path.display()))?;
        Ok(got.then_some(DirLock { _file: file, path }))
    }
}

/// Calls `work` on every item while holding the item's lock. An item whose lock another
/// process holds is left for last (`held` hears of it) and waited for then: by that time
/// the other process has done it, or died and left it free. `work` asks again what is
/// left to do, since another process may have done it meanwhile.
pub fn each_under_lock<T>(
    items: impl IntoIterator<Item = T>,
    lock_of: impl Fn(&T) -> PathBuf,
    mut held: impl FnMut(&T),
    mut work: impl FnMut(T) -> Result<()>,
) -> Result<()> {
    let mut deferred = Vec::new();
    for item in items {
        match DirLock::try_take(&lock_of(&item))? {
            Some(_lock) => work(item)?,
            None => {
                held(&item);
                deferred.push(item);
            }
        }
    }
    for item in deferred {
        let _lock = DirLock::wait(&lock_of(&item))?;
        work(item)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_is_refused_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let lock = run_lock(&dir.path().join("run"));
        let held = DirLock::try_take(&lock).unwrap().expect("free");
        // A second open file description conflicts even within one process.
        assert!(DirLock::try_take(&lock).unwrap().is_none());
        drop(held);
        assert!(DirLock::try_take(&lock).unwrap().is_some());
        let _w = DirLock::wait(&lock).unwrap();
    }
}
