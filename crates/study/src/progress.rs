//! What the stages report as they work, for whoever draws it: the binary's progress
//! bars, a test's log, nothing. Stages never print; every line and every count goes
//! through [`Progress`].

use emergent_analysis::Findings;

/// A stage whose amount of work is known when it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Counted in GFLOPs of the grid's runs: they differ thirtyfold in cost.
    Train,
    /// Counted in scoring cost: a checkpoint's parameters (in thousands) plus a fixed
    /// part, per task.
    Eval,
    /// Counted in task–metric series.
    Analyze,
    /// Counted in figures; its total is not known ahead (0).
    Report,
}

#[derive(Debug)]
pub enum Event<'a> {
    /// A line for the log: what a stage found, did or skipped.
    Say(&'a str),
    /// A stage starts, with `total` units of work (0: not known).
    Begin {
        stage: Stage,
        total: u64,
    },
    /// `done` units of the stage are done; `note` says what it is on.
    Advance {
        stage: Stage,
        done: u64,
        note: &'a str,
    },
    End {
        stage: Stage,
    },
    /// A run starts training at `step` of `total_steps` (0, or where it stopped).
    RunBegin {
        run: &'a str,
        step: u64,
        total_steps: u64,
    },
    RunStep {
        run: &'a str,
        step: u64,
        loss: f32,
        tokens_per_s: f64,
    },
    RunEnd {
        run: &'a str,
    },
    /// The analysis is done and written.
    Findings(&'a Findings),
    /// A file of a Hub checkpoint is being fetched: `done` of `total` bytes.
    Fetch {
        file: &'a str,
        done: u64,
        total: u64,
    },
}

/// Receives every [`Event`]; called from the stage's threads, so it is `Sync`.
pub trait Progress: Sync {
    fn event(&self, event: Event<'_>);
}

impl<F: Fn(Event<'_>) + Sync> Progress for F {
    fn event(&self, event: Event<'_>) {
        self(event)
    }
}

/// Writes the lines to stderr and draws nothing: for a library caller with no display.
pub struct Lines;

impl Progress for Lines {
    fn event(&self, event: Event<'_>) {
        if let Event::Say(line) = event {
            eprintln!("{line}");
        }
    }
}

/// `Say` with a formatted line.
pub(crate) fn say(progress: &dyn Progress, line: impl AsRef<str>) {
    progress.event(Event::Say(line.as_ref()));
}
