//! Checkpoint directories: a Hugging Face model (`config.json`, `model.safetensors`,
//! `tokenizer.json`, `tokenizer_config.json`) with emergent's `meta.json` and the
//! trainer state beside it. Written under `NAME.tmp` and renamed when complete.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use emergent_engine::{read_safetensors, write_safetensors, AdamW, Rng, Trainer};
use serde::{Deserialize, Serialize};

/// What a checkpoint records about itself (`meta.json`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CheckpointMeta {
    pub run: String,
    pub name: String,
    pub step: u64,
    pub tokens: u64,
    pub params: u64,
    pub non_embedding_params: u64,
    /// Training FLOPs so far: 3 × forward FLOPs per token × tokens.
    pub flops: f64,
    pub val_loss: f64,
    /// Validation loss per domain of the corpus (the built-in world's genres, a JSONL
    /// corpus's domain field), when the corpus has domains.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub domain_losses: std::collections::BTreeMap<String, f64>,
    /// Mean training loss over the steps since the previous checkpoint.
    pub train_loss: f64,
    pub lr: f64,
    pub seconds: f64,
}

/// Everything besides the weights that a bit-exact resume needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainerState {
    pub step: u64,
    /// The optimiser's settings and update count (its moments are in
    /// `optimizer.safetensors`; between checkpoints the backend holds them).
    pub optimizer: AdamW,
    pub epoch: u64,
    pub position: u64,
    pub rng: Rng,
    pub seconds: f64,
}

pub fn step_dir_name(step: u64) -> String {
    format!("step-{step:07}")
}

/// Complete checkpoints of a run directory, oldest first.
pub fn list_checkpoints(run_dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(run_dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            n.starts_with("step-") && !n.ends_with(".tmp") && p.join("meta.json").exists()
        })
        .collect();
    v.sort();
    v
}

pub fn latest_checkpoint(run_dir: &Path) -> Option<PathBuf> {
    list_checkpoints(run_dir).pop()
}

pub fn read_meta(dir: &Path) -> Result<CheckpointMeta> {
    let p = dir.join("meta.json");
    let text = std::fs::read_to_string(&p).with_context(|| format!("{}", p.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: invalid meta.json", p.display()))
}

/// Writes a checkpoint atomically: everything goes to `step-N.tmp`, then one rename.
pub fn write_checkpoint(
    run_dir: &Path,
    model: &mut (dyn Trainer + Send),
    state: &mut TrainerState,
    meta: &CheckpointMeta,
    tokenizer_files: &[PathBuf],
) -> Result<PathBuf> {
    let final_dir = run_dir.join(step_dir_name(state.step));
    let tmp = run_dir.join(format!("{}.tmp", step_dir_name(state.step)));
    cleaned_on_error(&tmp, || {
        fresh_dir(&tmp)?;
        write_state(&tmp, model, state)?;
        for f in tokenizer_files {
            let name = f.file_name().context("tokenizer file name")?;
            std::fs::copy(f, tmp.join(name)).with_context(|| format!("copying {}", f.display()))?;
        }
        let c = model.config();
        let gen =
            serde_json::json!({"bos_token_id": c.bos_token_id, "eos_token_id": c.eos_token_id});
        let at = |name: &str| tmp.join(name);
        std::fs::write(
            at("generation_config.json"),
            serde_json::to_string_pretty(&gen)?,
        )
        .with_context(|| format!("writing {}", at("generation_config.json").display()))?;
        std::fs::write(at("meta.json"), serde_json::to_string_pretty(meta)?)
            .with_context(|| format!("writing {}", at("meta.json").display()))?;
        replace_dir(&tmp, &final_dir)
    })?;
    // A resume point older than this checkpoint is of no more use.
    remove_resume_point(run_dir)?;
    Ok(final_dir)
}

/// Runs `write`, which fills the temporary directory `tmp`; when it fails, `tmp` is
/// removed so a partial checkpoint does not keep the space a full disk needs.
fn cleaned_on_error<T>(tmp: &Path, write: impl FnOnce() -> Result<T>) -> Result<T> {
    let out = write();
    if out.is_err() && tmp.exists() {
        let _ = std::fs::remove_dir_all(tmp);
    }
    out
}

/// An empty directory at `dir`, whatever was there.
fn fresh_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))
}

/// Moves the complete `tmp` into place at `dir`.
fn replace_dir(tmp: &Path, dir: &Path) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    std::fs::rename(tmp, dir).with_context(|| format!("renaming {} into place", tmp.display()))
}

/// The weights, the optimiser's moments and the trainer state: what a resume reads.
fn write_state(
    dir: &Path,
    model: &mut (dyn Trainer + Send),
    state: &mut TrainerState,
) -> Result<()> {
    model.save_hf(dir)?;
    let optimizer = model.optimizer_state();
    let n = optimizer.m.len();
    write_safetensors(
        &dir.join("optimizer.safetensors"),
        &[
            ("exp_avg", &[n], &optimizer.m),
            ("exp_avg_sq", &[n], &optimizer.v),
        ],
    )?;
    state.optimizer = optimizer.header();
    std::fs::write(
        dir.join("trainer_state.json"),
        serde_json::to_string_pretty(state)?,
    )?;
    Ok(())
}

/// Where a run stopped between checkpoints (on a signal, for a requeue) keeps its state:
/// not a checkpoint (nothing evaluates it), only the point the next start resumes from.
pub const RESUME_DIR: &str = "resume";

/// The training loss summed since the last checkpoint, kept with a resume point so the
/// next checkpoint's mean is the uninterrupted run's.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct Interval {
    pub loss_sum: f64,
    pub steps: u64,
}

/// Writes the resume point of a run stopped at `state.step`.
pub fn write_resume_point(
    run_dir: &Path,
    model: &mut (dyn Trainer + Send),
    state: &mut TrainerState,
    interval: Interval,
) -> Result<PathBuf> {
    let dir = run_dir.join(RESUME_DIR);
    let tmp = run_dir.join(format!("{RESUME_DIR}.tmp"));
    cleaned_on_error(&tmp, || {
        fresh_dir(&tmp)?;
        write_state(&tmp, model, state)?;
        let at = tmp.join("interval.json");
        std::fs::write(&at, serde_json::to_string_pretty(&interval)?)
            .with_context(|| format!("writing {}", at.display()))?;
        replace_dir(&tmp, &dir)
    })?;
    Ok(dir)
}

/// The resume point, when there is one further on than the last checkpoint.
pub fn resume_point(run_dir: &Path) -> Option<(PathBuf, u64)> {
    let dir = run_dir.join(RESUME_DIR);
    let step = |d: &Path| -> Option<u64> {
        let text = std::fs::read_to_string(d.join("trainer_state.json")).ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        v.get("step")?.as_u64()
    };
    let at = step(&dir)?;
    let last = latest_checkpoint(run_dir)
        .and_then(|c| step(&c))
        .unwrap_or(0);
    (at > last).then_some((dir, at))
}

/// The loss sums kept with a resume point.
pub fn read_interval(dir: &Path) -> Result<Interval> {
    let p = dir.join("interval.json");
    let text = std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: invalid", p.display()))
}

fn remove_resume_point(run_dir: &Path) -> Result<()> {
    let dir = run_dir.join(RESUME_DIR);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    Ok(())
}

/// Restores the trainer state of a checkpoint directory, and the optimiser into `model`.
pub fn read_trainer_state(dir: &Path, model: &mut (dyn Trainer + Send)) -> Result<TrainerState> {
    let p = dir.join("trainer_state.json");
    let text = std::fs::read_to_string(&p).with_context(|| format!("{}", p.display()))?;
    let state: TrainerState = serde_json::from_str(&text)
        .with_context(|| format!("{}: invalid trainer state", p.display()))?;
    let opt_path = dir.join("optimizer.safetensors");
    let mut moments = read_safetensors(&opt_path)?;
    let mut take = |name: &str| -> Result<Vec<f32>> {
        let t = moments
            .remove(name)
            .with_context(|| format!("{}: missing tensor `{name}`", opt_path.display()))?;
        let params = model.layout().total();
        if t.data.len() != params {
            bail!(
                "{}: `{name}` has {} values for {params} parameters",
                opt_path.display(),
                t.data.len(),
            );
        }
        Ok(t.data)
    };
    let mut optimizer = AdamW::new(state.optimizer.config.clone(), model.layout());
    optimizer.step = state.optimizer.step;
    optimizer.m = take("exp_avg")?;
    optimizer.v = take("exp_avg_sq")?;
    model.set_optimizer(optimizer);
    Ok(state)
}
