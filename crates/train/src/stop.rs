//! A stop asked for from outside (Ctrl-C, a cluster's SIGTERM): the training loop
//! finishes its step, keeps its state as a resume point and returns [`Interrupted`], so
//! no file is left half written and the run resumes where it stopped. Plain atomics, so a signal handler may
//! set and read them.

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);
static WATCHED: AtomicBool = AtomicBool::new(false);

/// Asks the work that watches for a stop to stop at its next step.
pub fn request() {
    REQUESTED.store(true, Ordering::SeqCst);
}

pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// Whether some work is watching for a stop now (else a stop must end the process).
pub fn watched() -> bool {
    WATCHED.load(Ordering::SeqCst)
}

/// Marks the work that watches for a stop while the guard lives. A request is for the
/// work watching when it came: a new watch starts with none.
pub struct Watch;

impl Watch {
    pub fn start() -> Watch {
        REQUESTED.store(false, Ordering::SeqCst);
        WATCHED.store(true, Ordering::SeqCst);
        Watch
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        WATCHED.store(false, Ordering::SeqCst);
    }
}

/// The error of work that stopped because a stop was asked for.
#[derive(Debug)]
pub struct Interrupted;

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("interrupted")
    }
}

impl std::error::Error for Interrupted {}

/// `Err(Interrupted)` once a stop was asked for.
pub fn check() -> anyhow::Result<()> {
    if requested() {
        return Err(Interrupted.into());
    }
    Ok(())
}
