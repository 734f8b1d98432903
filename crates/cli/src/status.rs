//! `emergent status DIR`: where a study stands, read from its directory alone (on any
//! machine that sees it): each run done, training (at which step), stopped, failed (with
//! its last error line) or pending, and the evaluations done.

use std::path::Path;

use anyhow::{bail, Context, Result};
use emergent_store::Store;
use emergent_study::lock::{run_lock, DirLock};
use emergent_train::{latest_checkpoint, read_meta, step_dir_name};

use crate::pipeline::{grid, FAILED_FILE, PROGRESS_FILE};

/// One run's state.
#[derive(Debug, PartialEq)]
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

fn last_step(run_dir: &Path) -> u64 {
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
    if step == 0 && latest_checkpoint(run_dir).is_none() {
        return Ok(RunState::Pending);
    }
    Ok(RunState::Stopped { step })
}

/// Prints the study's state and returns whether everything is done.
pub fn status(dir: &Path) -> Result<bool> {
    let file = dir.join("study.toml");
    if !file.exists() {
        bail!(
            "{}: no study here (no study.toml; `emergent run` writes it)",
            dir.display()
        );
    }
    let study = emergent_study::load_study(Some(&file), false)?;
    println!("study: {} ({})", study.name, dir.display());
    let runs = grid(&study, study.tokenizer.vocab_size, None);
    let mut counts = [0usize; 5];
    let mut lines = Vec::new();
    for (_, spec) in &runs {
        let state = run_state(&dir.join("runs").join(&spec.name), spec.total_steps)?;
        let n = spec.total_steps;
        let (k, text) = match &state {
            RunState::Done => (0, format!("done        {n} steps")),
            RunState::Training { step } => (1, format!("training    step {step} of {n}")),
            RunState::Stopped { step } => (
                2,
                format!("stopped     step {step} of {n} (the next run resumes it)"),
            ),
            RunState::Failed { step, error } => {
                (3, format!("failed      step {step} of {n}: {error}"))
            }
            RunState::Pending => (4, "pending".to_string()),
        };
        counts[k] += 1;
        lines.push(format!("  {:<24} {text}", spec.name));
    }
    println!(
        "runs: {} ({} done, {} training, {} stopped, {} failed, {} pending)",
        runs.len(),
        counts[0],
        counts[1],
        counts[2],
        counts[3],
        counts[4]
    );
    for l in lines {
        println!("{l}");
    }
    // The study's database and the runs' own (a job array's), read as one.
    let mut dbs = crate::run_stores(dir);
    dbs.push(dir.join("results.sqlite"));
    let mut checkpoints = std::collections::BTreeSet::new();
    let mut evaluated = std::collections::BTreeSet::new();
    for db in dbs.iter().filter(|d| d.exists()) {
        let store = Store::open(db).with_context(|| format!("reading {}", db.display()))?;
        checkpoints.extend(store.checkpoints()?.into_iter().map(|c| c.checkpoint));
        evaluated.extend(store.evaluated()?);
    }
    let (checkpoints, evaluated) = (checkpoints.len(), evaluated.len());
    let tasks = study.eval.tasks.len();
    println!(
        "evaluations: {evaluated} of {} ({checkpoints} checkpoints × {tasks} tasks)",
        checkpoints * tasks
    );
    let report = dir.join("report/index.html");
    if report.exists() {
        println!("report: {}", report.display());
    } else {
        println!("report: not written yet");
    }
    Ok(counts[0] == runs.len() && evaluated == checkpoints * tasks)
}
