use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use emergent_data::Shard;
use emergent_engine::{AdamW, AdamWConfig, Backend, LrSchedule, ModelConfig, Rng};
use serde::{Deserialize, Serialize};

use crate::checkpoint::{
    latest_checkpoint, read_interval, read_trainer_state, resume_point, write_checkpoint,
    write_resume_point, CheckpointMeta, Interval, TrainerState,
};
use crate::data::{validation_loss, WindowSampler};

/// Everything that defines one run; its hash names the run's output.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunSpec {
    pub name: String,
    pub model: ModelConfig,
    pub seed: u64,
    pub batch_size: usize,
    pub seq_len: usize,
    pub total_steps: u64,
    /// Steps (update counts) after which a checkpoint is written; ends with `total_steps`.
    pub checkpoint_steps: Vec<u64>,
    pub schedule: LrSchedule,
    pub adamw: AdamWConfig,
    pub max_grad_norm: f64,
}

/// For tests of resumption: stop (as if killed) after this many updates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StopAfter(pub u64);

/// How a run executes: the backend its model is computed on and, for tests of
/// resumption, where it stops.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Execution {
    pub backend: Backend,
    pub stop_after: Option<StopAfter>,
}

/// What a run reports while it trains.
#[derive(Debug)]
pub enum TrainEvent<'a> {
    /// Training starts at `step` (0, or where an earlier start stopped).
    Start { step: u64, total_steps: u64 },
    /// An update is done.
    Step {
        step: u64,
        loss: f32,
        tokens_per_s: f64,
    },
    /// A checkpoint is written.
    Checkpoint(&'a CheckpointMeta),
    /// Stopped on request at `step`, between checkpoints: the state is kept in
    /// `resume/`, and the next start goes on from there.
    Paused { step: u64 },
}

/// The validation split: all of it, and each domain of the corpus apart.
#[derive(Clone, Copy)]
pub struct Validation<'a> {
    pub all: &'a Shard,
    pub domains: &'a [(String, Shard)],
}

/// Trains `spec` into `run_dir`, resuming from its resume point or its last complete
/// checkpoint, and returns the metadata of every checkpoint written by this call.
/// Resumed or not, the result is bit-identical. On a stop request (`crate::stop`) the
/// state is written as a resume point and [`crate::stop::Interrupted`] returned.
pub fn train(
    spec: &RunSpec,
    train: &Shard,
    val: Validation,
    tokenizer_files: &[PathBuf],
    run_dir: &Path,
    on_event: &mut dyn FnMut(TrainEvent),
    execution: Execution,
) -> Result<Vec<CheckpointMeta>> {
    let Execution {
        backend,
        stop_after,
    } = execution;
    std::fs::create_dir_all(run_dir).with_context(|| format!("creating {}", run_dir.display()))?;
    let resume = resume_point(run_dir).map(|(dir, _)| dir);
    let (mut model, mut state) = match resume.clone().or_else(|| latest_checkpoint(run_dir)) {
        Some(dir) => {
            let mut model = backend.load(&dir)?;
            let state = read_trainer_state(&dir, model.as_mut())?;
            (model, state)
        }
        None => {
            let mut model = backend.init(spec.model.clone(), spec.seed);
            let optimizer = AdamW::new(spec.adamw.clone(), model.layout());
            let state = TrainerState {
                step: 0,
                optimizer: optimizer.header(),
                epoch: 0,
                position: 0,
                rng: Rng::derive(spec.seed, 0xda7a),
                seconds: 0.0,
            };
            model.set_optimizer(optimizer);
            (model, state)
        }
    };
    let mut interval = match &resume {
        Some(dir) => read_interval(dir)?,
        None => Interval::default(),
    };
    let (b, t) = (spec.batch_size, spec.seq_len);
    let mut sampler = WindowSampler::new(train, t, b, spec.seed).map_err(anyhow::Error::msg)?;
    let (mut inputs, mut targets) = (vec![0u32; b * t], vec![0u32; b * t]);
    let flops_per_token = 3.0 * spec.model.forward_flops_per_token(t);
    on_event(TrainEvent::Start {
        step: state.step,
        total_steps: spec.total_steps,
    });
    let mut written = Vec::new();
    let started = Instant::now();
    let seconds_before = state.seconds;
    while state.step < spec.total_steps {
        if stop_after.is_some_and(|StopAfter(n)| state.step >= n) {
            return Ok(written);
        }
        if crate::stop::requested() {
            // Just after a checkpoint (or before any step) that is the place to resume.
            if interval.steps > 0 {
                state.seconds = seconds_before + started.elapsed().as_secs_f64();
                write_resume_point(run_dir, model.as_mut(), &mut state, interval)?;
            }
            on_event(TrainEvent::Paused { step: state.step });
            return Err(crate::stop::Interrupted.into());
        }
        let step_start = Instant::now();
        sampler.fill(train, state.step, &mut inputs, &mut targets);
        let loss = model.forward_backward(&inputs, &targets, b, t);
        let norm = model.clip_gradients(spec.max_grad_norm);
        // Checked before the update, so the last checkpoint and the optimiser state
        // stay good.
        if !(loss.is_finite() && norm.is_finite()) {
            bail!(
                "{}: step {}: the training loss is {loss} and the gradient norm {norm}: training diverged (try a lower lr); checkpoints before this step are kept",
                spec.name,
                state.step + 1
            );
        }
        let lr = spec.schedule.lr(state.step);
        model.optimizer_step(lr);
        state.step += 1;
        (state.epoch, state.position) = sampler.position(state.step);
        interval.loss_sum += loss as f64;
        interval.steps += 1;
        on_event(TrainEvent::Step {
            step: state.step,
            loss,
            tokens_per_s: (b * t) as f64 / step_start.elapsed().as_secs_f64(),
        });
        if spec.checkpoint_steps.contains(&state.step) {
            state.seconds = seconds_before + started.elapsed().as_secs_f64();
            let val_loss = validation_loss(model.as_mut(), val.all, t, b);
            if !val_loss.is_finite() {
                bail!(
                    "{}: step {}: the validation loss is {val_loss}: training diverged (try a lower lr); checkpoints before this step are kept",
                    spec.name,
                    state.step
                );
            }
            let domain_losses = val
                .domains
                .iter()
                .filter(|(_, s)| s.len() >= t)
                .map(|(d, s)| (d.clone(), validation_loss(model.as_mut(), s, t, b)))
                .collect();
            let meta = CheckpointMeta {
                run: spec.name.clone(),
                name: format!(
                    "{}/{}",
                    spec.name,
                    crate::checkpoint::step_dir_name(state.step)
                ),
                step: state.step,
                tokens: state.step * (b * t) as u64,
                params: spec.model.num_params() as u64,
                non_embedding_params: spec.model.non_embedding_params() as u64,
                flops: flops_per_token * (state.step * (b * t) as u64) as f64,
                val_loss,
                domain_losses,
                train_loss: interval.loss_sum / interval.steps.max(1) as f64,
                lr,
                seconds: state.seconds,
            };
            write_checkpoint(run_dir, model.as_mut(), &mut state, &meta, tokenizer_files)?;
            on_event(TrainEvent::Checkpoint(&meta));
            written.push(meta);
            interval = Interval::default();
        }
    }
    Ok(written)
}
