//! Where a study stands, read from its directory alone (on any machine that sees it):
//! each run done, training (at which step), stopped, failed (with its last error line)
//! or pending, or for a study of existing checkpoints each checkpoint's validation loss
//! and tasks scored; and the evaluations done.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use emergent_store::{scored_loss, CheckpointRow, Store};
use emergent_train::{latest_checkpoint, read_meta, resume_point, step_dir_name};

use crate::lock::{run_lock, DirLock};
use crate::runs::{grid, FAILED_FILE, PROGRESS_FILE};
use crate::stores::run_stores;
use crate::Study;

/// One run's state.
#[derive(Debug, Clone, PartialEq)]
pub enum RunState {
    Done,
    /// Another process holds the run's lock.
    Training {
        step: u64,
    },
    /// Stopped before its end with no error: the next `emergent run` resumes it.
    Stopped {
        step: u64,
    },
    Failed {
        step: u64,
        error: String,
    },
    Pending,
}

/// Where the run's next start goes on from: its resume point, else its last checkpoint.
fn last_step(run_dir: &Path) -> u64 {
    if let Some((_, step)) = resume_point(run_dir) {
        return step;
    }
    latest_checkpoint(run_dir)
        .and_then(|c| read_meta(&c).ok())
        .map_or(0, |m| m.step)
}

fn progress_step(run_dir: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(run_dir.join(PROGRESS_FILE)).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("step")?.as_u64()
}

pub fn run_state(run_dir: &Path, total_steps: u64) -> Result<RunState> {
    if run_dir
        .join(step_dir_name(total_steps))
        .join("meta.json")
        .exists()
    {
        return Ok(RunState::Done);
    }
    if !run_dir.exists() {
        return Ok(RunState::Pending);
    }
    if DirLock::try_take(&run_lock(run_dir))?.is_none() {
        let step = progress_step(run_dir).unwrap_or_else(|| last_step(run_dir));
        return Ok(RunState::Training { step });
    }
    let step = last_step(run_dir);
    if let Ok(text) = std::fs::read_to_string(run_dir.join(FAILED_FILE)) {
        let error = text
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .to_string();
        return Ok(RunState::Failed { step, error });
    }
    if step == 0 {
        return Ok(RunState::Pending);
    }
    Ok(RunState::Stopped { step })
}

pub struct RunStatus {
    pub run: String,
    pub total_steps: u64,
    pub state: RunState,
}

/// One existing checkpoint of a study of checkpoints: its validation loss once scored,
/// and how many of the study's tasks it has been scored on.
pub struct CheckpointStatus {
    pub checkpoint: String,
    pub path: String,
    pub loss: Option<f64>,
    pub tasks_done: usize,
}

pub struct StudyStatus {
    pub study: Study,
    pub runs: Vec<RunStatus>,
    /// Each checkpoint of a study of existing checkpoints (none for a trained grid).
    pub existing: Vec<CheckpointStatus>,
    pub checkpoints: usize,
    /// Checkpoint × task pairs scored.
    pub evaluated: usize,
    pub report: Option<PathBuf>,
}

impl StudyStatus {
    /// Every run trained to its end and every checkpoint scored on every task.
    pub fn done(&self) -> bool {
        self.runs.iter().all(|r| r.state == RunState::Done)
            && self.existing.iter().all(|c| c.loss.is_some())
            && self.evaluated == self.checkpoints * self.study.eval.tasks.len()
    }
}

/// The state of the study in `dir`.
pub fn status(dir: &Path) -> Result<StudyStatus> {
    let file = dir.join("study.toml");
    if !file.exists() {
        bail!(
            "{}: no study here (no study.toml; `emergent run` writes it)",
            dir.display()
        );
    }
    let study = crate::load_study(Some(&file), false)?;
    let grid_runs = if study.checkpoints.is_empty() {
        grid(&study, study.tokenizer.vocab_size, None)
    } else {
        Vec::new()
    };
    let runs = grid_runs
        .into_iter()
        .map(|(_, spec)| {
            let state = run_state(&dir.join("runs").join(&spec.name), spec.total_steps)?;
            Ok(RunStatus {
                run: spec.name,
                total_steps: spec.total_steps,
                state,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    // The study's database and the runs' own (a job array's), read as one.
    let mut dbs = run_stores(dir);
    dbs.push(dir.join("results.sqlite"));
    // Each checkpoint once, as the databases hold it (a run's and the study's may both),
    // with its loss where any of them has it scored.
    let mut checkpoints: BTreeMap<String, CheckpointRow> = BTreeMap::new();
    let mut evaluated = BTreeSet::new();
    for db in dbs.iter().filter(|d| d.exists()) {
        let store = Store::open(db).with_context(|| format!("reading {}", db.display()))?;
        for c in store.checkpoints()? {
            let kept = checkpoints.entry(c.checkpoint.clone()).or_insert(c.clone());
            if scored_loss(kept.val_loss).is_none() {
                *kept = c;
            }
        }
        evaluated.extend(store.evaluated()?);
    }
    let existing = if study.checkpoints.is_empty() {
        Vec::new()
    } else {
        // In training order: by series, then step (step-23 before step-156).
        let mut rows: Vec<&CheckpointRow> = checkpoints.values().collect();
        rows.sort_by(|a, b| (&a.run, a.step).cmp(&(&b.run, b.step)));
        rows.into_iter()
            .map(|c| CheckpointStatus {
                checkpoint: c.checkpoint.clone(),
                path: c.path.clone(),
                loss: scored_loss(c.val_loss),
                tasks_done: evaluated.iter().filter(|(k, _)| *k == c.checkpoint).count(),
            })
            .collect()
    };
    let report = dir.join("report/index.html");
    Ok(StudyStatus {
        study,
        runs,
        existing,
        checkpoints: checkpoints.len(),
        evaluated: evaluated.len(),
        report: report.exists().then_some(report),
    })
}
