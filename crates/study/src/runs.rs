//! The second stage: the grid of runs (model size × token budget), each trained in its
//! own directory under a lock, resumed where it stopped, its checkpoints recorded.

use std::path::Path;

use anyhow::{bail, Context, Result};
use emergent_engine::Backend;
use emergent_engine::{AdamWConfig, LrSchedule};
use emergent_store::{CheckpointRow, RunRow, Store};
use emergent_train::{
    list_checkpoints, log_spaced_steps, read_meta, step_dir_name, stop, train, Execution, RunSpec,
    TrainEvent, Validation,
};

use crate::corpus::Prepared;
use crate::lock::{each_under_lock, run_lock};
use crate::progress::{say, Event, Progress, Stage};
use crate::write_study_file;
use crate::Study;
use emergent_files::hash_of;

fn human_tokens(n: u64) -> String {
    match n {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}M", n / 1_000_000),
        n if n >= 1_000_000 => format!("{:.1}M", n as f64 / 1e6),
        n if n >= 1_000 => format!("{}K", n / 1_000),
        n => n.to_string(),
    }
}

/// One run per (model size × token budget).
pub fn grid(study: &Study, vocab: usize, eos: Option<u32>) -> Vec<(String, RunSpec)> {
    let t = &study.training;
    let tokens_per_step = (t.batch_size * t.seq_len) as u64;
    let mut runs = Vec::new();
    for size in &study.models {
        for &budget in &t.budgets {
            let total_steps = (budget / tokens_per_step).max(1);
            let first = (t.first_checkpoint_tokens / tokens_per_step).max(1);
            let model = size.model_config(t, vocab, eos);
            let name = format!("{}-tok{}", size.name(), human_tokens(budget));
            let spec = RunSpec {
                name: name.clone(),
                model,
                seed: study.seed,
                batch_size: t.batch_size,
                seq_len: t.seq_len,
                total_steps,
                checkpoint_steps: log_spaced_steps(first, total_steps, t.checkpoints),
                schedule: LrSchedule {
                    max_lr: t.lr,
                    min_lr: t.lr * t.min_lr_ratio,
                    warmup_steps: t.warmup_steps.min(total_steps / 2),
                    total_steps,
                },
                adamw: AdamWConfig {
                    beta1: t.beta1,
                    beta2: t.beta2,
                    eps: t.eps,
                    weight_decay: t.weight_decay,
                    decay_norms: t.decay_norms,
                    decay_embeddings: t.decay_embeddings,
                },
                max_grad_norm: t.max_grad_norm,
            };
            runs.push((size.name(), spec));
        }
    }
    runs
}

/// A run's training compute in GFLOPs: 6 per parameter per token.
fn run_gflops(spec: &RunSpec) -> u64 {
    let tokens = spec.total_steps * (spec.batch_size * spec.seq_len) as u64;
    (6.0 * spec.model.num_params() as f64 * tokens as f64 / 1e9).ceil() as u64
}

/// Refuses a grid whose runs in `out` were trained with another configuration, naming
/// every one, before anything is trained or written.
fn check_runs(runs: &[(String, RunSpec)], out: &Path, data: &Prepared) -> Result<()> {
    let mut clashes = Vec::new();
    for (_, spec) in runs {
        let run_dir = out.join("runs").join(&spec.name);
        let marker = run_dir.join("run.json");
        if !marker.exists() {
            continue;
        }
        let key = hash_of(&(spec, &data.dir.file_name()));
        let text = std::fs::read_to_string(&marker)
            .with_context(|| format!("reading {}", marker.display()))?;
        let old: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a run marker", marker.display()))?;
        if old["hash"] != key {
            clashes.push(format!(
                "{}: trained with another configuration (hash {} ≠ {key})",
                run_dir.display(),
                old["hash"]
            ));
        }
    }
    if !clashes.is_empty() {
        bail!(
            "{}\nuse another --out, or remove those run directories",
            clashes.join("\n")
        );
    }
    Ok(())
}

/// A panic's message.
fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".into())
}

/// The runs `only` names (by name, or by index in the grid as a job array counts them),
/// or every run when it is empty.
pub fn select_runs(study: &Study, only: &[String]) -> Result<Option<Vec<String>>> {
    if only.is_empty() {
        return Ok(None);
    }
    let names: Vec<String> = if study.checkpoints.is_empty() {
        grid(study, study.tokenizer.vocab_size, None)
            .into_iter()
            .map(|(_, s)| s.name)
            .collect()
    } else {
        crate::ladder::runs(study)?
    };
    only.iter()
        .map(|r| match r.parse::<usize>() {
            Ok(i) => names.get(i).cloned().ok_or_else(|| {
                anyhow::anyhow!(
                    "--run {i}: the study has {} runs (0 to {})",
                    names.len(),
                    names.len().saturating_sub(1)
                )
            }),
            Err(_) if names.contains(r) => Ok(r.clone()),
            Err(_) => bail!(
                "--run {r}: no such run (the study's runs: {})",
                names.join(", ")
            ),
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

/// A run's last error, kept in its folder until it trains to the end.
pub const FAILED_FILE: &str = "failed.txt";
/// A run's step while it trains, rewritten every few seconds.
pub const PROGRESS_FILE: &str = "progress.json";

fn write_progress(run_dir: &Path, step: u64, total: u64) {
    let text = serde_json::json!({"step": step, "total_steps": total}).to_string();
    let _ = emergent_files::write_atomic(&run_dir.join(PROGRESS_FILE), text.as_bytes());
}

/// How often a training run rewrites its [`PROGRESS_FILE`].
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Trains the runs of the grid that `only` names (every run when `None`), resuming
/// each where it stopped, and records their checkpoints in `store`. A run that fails
/// (diverges, or hits a bug) keeps its checkpoints and the others go on; the failures
/// are returned, one line each. A stop request ends the stage with `Interrupted`.
pub fn train_runs(
    study: &Study,
    out: &Path,
    data: &Prepared,
    store: &Store,
    only: Option<&[String]>,
    progress: &dyn Progress,
) -> Result<Vec<String>> {
    let mut runs = grid(study, data.tokenizer.vocab_size(), data.tokenizer.eos_id());
    if let Some(only) = only {
        runs.retain(|(_, s)| only.contains(&s.name));
    }
    check_runs(&runs, out, data)?;
    write_study_file(study, out)?;
    let _watch = stop::Watch::start();
    let finished = runs
        .iter()
        .filter(|(_, s)| {
            let last = out
                .join("runs")
                .join(&s.name)
                .join(step_dir_name(s.total_steps));
            last.join("meta.json").exists()
        })
        .count();
    say(
        progress,
        format!(
            "train: {} runs ({} sizes × {} budgets), {finished}/{} runs done",
            runs.len(),
            study.models.len(),
            study.training.budgets.len(),
            runs.len()
        ),
    );
    let total_gflops = runs.iter().map(|(_, s)| run_gflops(s)).sum();
    progress.event(Event::Begin {
        stage: Stage::Train,
        total: total_gflops,
    });
    let mut at = Grid {
        gflops: 0,
        runs: 0,
        of: runs.len(),
    };
    let mut failed = Vec::new();
    let mut train_one = |size: &String, spec: &RunSpec| -> Result<()> {
        let failure = train_run(
            study.device,
            out,
            data,
            store,
            size,
            spec,
            &mut at,
            progress,
        )?;
        failed.extend(failure);
        Ok(())
    };
    each_under_lock(
        &runs,
        |(_, spec)| run_lock(&out.join("runs").join(&spec.name)),
        |(_, spec)| {
            say(
                progress,
                format!(
                    "{}: another process is training it; waiting for it after the others",
                    spec.name
                ),
            )
        },
        |(size, spec)| train_one(size, spec),
    )?;
    progress.event(Event::End {
        stage: Stage::Train,
    });
    Ok(failed)
}

/// Where the grid stands: GFLOPs and runs done.
struct Grid {
    gflops: u64,
    runs: usize,
    of: usize,
}

impl Grid {
    fn advance(&self, extra: u64, progress: &dyn Progress) {
        progress.event(Event::Advance {
            stage: Stage::Train,
            done: self.gflops + extra,
            note: &format!("{}/{} runs", self.runs, self.of),
        });
    }
}

/// Trains one run (its lock held by the caller) and records its checkpoints; returns
/// its failure, if it failed.
#[allow(clippy::too_many_arguments)]
fn train_run(
    backend: Backend,
    out: &Path,
    data: &Prepared,
    store: &Store,
    size: &str,
    spec: &RunSpec,
    at: &mut Grid,
    progress: &dyn Progress,
) -> Result<Option<String>> {
    let run_dir = out.join("runs").join(&spec.name);
    let key = hash_of(&(spec, &data.dir.file_name()));
    let marker = run_dir.join("run.json");
    if !marker.exists() {
        std::fs::create_dir_all(&run_dir)?;
        // Whole or absent: another process's check of the grid may read it at any moment.
        let text = serde_json::to_string_pretty(&serde_json::json!({"hash": key, "spec": spec}))?;
        emergent_files::write_atomic(&marker, text.as_bytes())
            .with_context(|| format!("writing {}", marker.display()))?;
    }
    store.put_run(&RunRow {
        run: spec.name.clone(),
        size: size.to_string(),
        params: spec.model.num_params() as u64,
        non_embedding_params: spec.model.non_embedding_params() as u64,
        token_budget: spec.total_steps * (spec.batch_size * spec.seq_len) as u64,
        spec_hash: key.clone(),
    })?;
    let gflops = run_gflops(spec);
    let mut written: Option<std::time::Instant> = None;
    let mut on_event = |e: TrainEvent| match e {
        TrainEvent::Start { step, total_steps } => {
            if step > 0 && step < total_steps {
                say(progress, format!("{}: resuming at step {step}", spec.name));
            }
            progress.event(Event::RunBegin {
                run: &spec.name,
                step,
                total_steps,
            })
        }
        TrainEvent::Step {
            step,
            loss,
            tokens_per_s,
        } => {
            progress.event(Event::RunStep {
                run: &spec.name,
                step,
                loss,
                tokens_per_s,
            });
            // The grid's count follows this run's steps, so its time left is a rate
            // over steady progress rather than over whole runs.
            let frac = step as f64 / spec.total_steps.max(1) as f64;
            at.advance((frac * gflops as f64) as u64, progress);
            // `emergent status`, from any machine, reads where the run is.
            if written.is_none_or(|w| w.elapsed() >= PROGRESS_EVERY) {
                write_progress(&run_dir, step, spec.total_steps);
                written = Some(std::time::Instant::now());
            }
        }
        TrainEvent::Checkpoint(m) => say(
            progress,
            format!(
                "  {}  tokens {:>10}  train loss {:.4}  val loss {:.4}",
                m.name, m.tokens, m.train_loss, m.val_loss
            ),
        ),
        TrainEvent::Paused { step } => say(
            progress,
            format!(
                "{}: stopped at step {step}; the next start resumes there",
                spec.name
            ),
        ),
    };
    let run = || {
        train(
            spec,
            &data.train,
            Validation {
                all: &data.val,
                domains: &data.val_domains,
            },
            &data.tokenizer_files(),
            &run_dir,
            &mut on_event,
            Execution {
                backend,
                stop_after: None,
            },
        )
    };
    let trained = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)).unwrap_or_else(|p| {
        Err(anyhow::anyhow!(
            "{}: training stopped on an internal error: {}",
            spec.name,
            panic_text(p.as_ref())
        ))
    });
    progress.event(Event::RunEnd { run: &spec.name });
    let failure = run_dir.join(FAILED_FILE);
    let result = match trained {
        Err(e) if e.is::<stop::Interrupted>() => return Err(e),
        Err(e) => {
            say(progress, format!("error: {e:#}"));
            if std::fs::write(&failure, format!("{e:#}\n")).is_err() {
                // A full disk leaves an empty file, which would say nothing.
                let _ = std::fs::remove_file(&failure);
            }
            Some(format!("{e:#}"))
        }
        Ok(_) => {
            let _ = std::fs::remove_file(&failure);
            // The last progress written may be seconds before the end.
            write_progress(&run_dir, spec.total_steps, spec.total_steps);
            None
        }
    };
    at.runs += 1;
    at.gflops += gflops;
    at.advance(0, progress);
    record_checkpoints(&run_dir, store)?;
    Ok(result)
}

/// Every checkpoint of a run, with its domains' losses, into the database.
fn record_checkpoints(run_dir: &Path, store: &Store) -> Result<()> {
    for ckpt in list_checkpoints(run_dir) {
        let m = read_meta(&ckpt)?;
        store.put_checkpoint(&CheckpointRow {
            checkpoint: m.name.clone(),
            run: m.run,
            step: m.step,
            tokens: m.tokens,
            flops: m.flops,
            val_loss: m.val_loss,
            path: ckpt.display().to_string(),
        })?;
        let domains: Vec<(String, f64)> = m.domain_losses.into_iter().collect();
        store.put_domain_losses(&m.name, &domains)?;
    }
    Ok(())
}
