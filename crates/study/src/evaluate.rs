//! The third stage: every checkpoint scored on every task it was not already scored on
//! (keyed by the task's spec, its documents and the seed), its per-document records
//! written beside the database.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use emergent_data::{Tokenizer, TASK_NAMES};
use emergent_eval::{evaluate, load_model, load_task, EvalOptions, SampleRecord, Scorer, Task};
use emergent_store::{scored_loss, CheckpointRow, EvalRow, Store};
use emergent_train::stop;
use sha2::{Digest, Sha256};

use crate::builtin_tasks::write_builtin_task;
use crate::ladder::{self, ValidationPass};
use crate::lock::each_under_lock;
use crate::progress::{say, Event, Progress, Stage};
use crate::Study;
use emergent_files::hash_of;

/// Writes the built-in world's tasks into `out/tasks/` and returns every task spec path.
pub fn prepare_tasks(study: &Study, out: &Path) -> Result<Vec<PathBuf>> {
    let dir = out.join("tasks");
    let w = study.world();
    let e = &study.eval;
    e.tasks
        .iter()
        .map(|name| {
            if TASK_NAMES.contains(&name.as_str()) {
                write_builtin_task(&w, &dir, name, e.documents, study.seed + 1, e.num_fewshot)
            } else {
                Ok(PathBuf::from(name))
            }
        })
        .collect()
}

/// A checkpoint's folder of per-document records (and of its locks) under `samples/`.
pub(crate) fn samples_folder(samples_dir: &Path, checkpoint: &str) -> PathBuf {
    samples_dir.join(checkpoint.replace(['/', '\\'], "_"))
}

/// Per-document records of one evaluation, `samples/<checkpoint>/<task>.jsonl`.
fn write_samples(dir: &Path, checkpoint: &str, task: &str, records: &[SampleRecord]) -> Result<()> {
    let dir = samples_folder(dir, checkpoint);
    std::fs::create_dir_all(&dir)?;
    let mut text = String::new();
    for r in records {
        text.push_str(&serde_json::to_string(r)?);
        text.push('\n');
    }
    let path = dir.join(format!("{task}.jsonl"));
    emergent_files::write_atomic(&path, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// How much of the prompts' encodings one study's tokenizer remembers.
const REMEMBERED_ENCODINGS_BYTES: usize = 256 << 20;

/// The tokenizer of the checkpoint last scored, kept while the next checkpoints have the
/// same `tokenizer.json` and BOS (every run of a study shares one), so that the prompts
/// of every task are encoded once, not once per checkpoint.
#[derive(Default)]
struct SharedTokenizer {
    current: Option<(TokenizerKey, Tokenizer)>,
}

/// A checkpoint's `tokenizer.json` and BOS; none where it has no such file.
type TokenizerKey = Option<(Vec<u8>, Option<u32>)>;

impl SharedTokenizer {
    fn of(&mut self, dir: &Path, loaded: Tokenizer) -> &Tokenizer {
        let key: TokenizerKey = std::fs::read(dir.join("tokenizer.json"))
            .ok()
            .map(|bytes| (bytes, loaded.bos_id()));
        let current = match self.current.take() {
            Some((k, kept)) if k.is_some() && k == key => (k, kept),
            _ => {
                let mut loaded = loaded;
                if key.is_some() {
                    loaded.remember_encodings(REMEMBERED_ENCODINGS_BYTES);
                }
                (key, loaded)
            }
        };
        &self.current.insert(current).1
    }
}

/// What a task's scores depend on: its spec, the bytes of every data file it read (where
/// the task found them, which for an lm-eval YAML task may be an `include:`d file's
/// folder) and the study's seed.
fn task_key(task: &Task, seed: u64) -> Result<String> {
    let mut digest = Sha256::new();
    for file in &task.data_paths {
        digest.update(std::fs::read(file).with_context(|| format!("reading {}", file.display()))?);
    }
    Ok(hash_of(&(&task.spec, digest.finalize().to_vec(), seed)))
}

/// Scores every checkpoint on every task that it was not already scored on, and in a
/// study of checkpoints on the validation text where its loss is not known: each
/// checkpoint loaded once (fetched first where it is on the Hub, and released after
/// where its entry says so). The checkpoints that could not be scored are returned.
pub fn eval_runs(
    study: &Study,
    store: &mut Store,
    task_paths: &[PathBuf],
    out: &Path,
    only: Option<&[String]>,
    validation: Option<&ValidationPass>,
    progress: &dyn Progress,
) -> Result<Vec<String>> {
    let _watch = stop::Watch::start();
    let mut tasks = Vec::new();
    for p in task_paths {
        let task = load_task(p)?;
        let key = task_key(&task, study.seed)?;
        tasks.push((task, key));
    }
    let mut ckpts = store.checkpoints()?;
    if let Some(only) = only {
        ckpts.retain(|c| only.contains(&c.run));
    }
    // How many tasks (and validation losses) each checkpoint still needs; which ones is
    // asked again under its lock.
    let units = tasks.len() + usize::from(validation.is_some());
    let mut missing_of = Vec::with_capacity(ckpts.len());
    for c in &ckpts {
        let loss = usize::from(validation.is_some() && scored_loss(c.val_loss).is_none());
        missing_of.push(todo(store, c, &tasks)?.len() + loss);
    }
    let cached = ckpts.len() * units - missing_of.iter().sum::<usize>();
    if let Some(v) = validation {
        say(progress, format!("validation: {}", v.describe()));
    }
    say(
        progress,
        format!(
            "eval: {} checkpoints × {} tasks{}, {cached} evaluations cached, {} to score",
            ckpts.len(),
            tasks.len(),
            if validation.is_some() {
                " and the validation loss"
            } else {
                ""
            },
            ckpts.len() * units - cached
        ),
    );
    // A checkpoint's scoring costs about its parameter count (plus a fixed part): the
    // bar counts that, so its time left holds while the sizes grow.
    let params: std::collections::HashMap<String, u64> = store
        .runs()?
        .into_iter()
        .map(|r| (r.run, r.params))
        .collect();
    let weight = |c: &CheckpointRow| params.get(&c.run).copied().unwrap_or(0) / 1000 + 100;
    progress.event(Event::Begin {
        stage: Stage::Eval,
        total: ckpts.iter().map(|c| weight(c) * units as u64).sum(),
    });
    let mut scoring = Scoring {
        study,
        store,
        samples_dir: out.join("samples"),
        progress,
        shared: SharedTokenizer::default(),
        done: 0,
        of: ckpts.len(),
        scored: 0,
        validation,
        failed: Vec::new(),
    };
    let mut pending = Vec::new();
    for (i, (c, missing)) in ckpts.iter().zip(missing_of).enumerate() {
        scoring.done += weight(c) * (units - missing) as u64;
        if missing > 0 {
            pending.push((i, c, missing));
        }
    }
    let samples_dir = scoring.samples_dir.clone();
    each_under_lock(
        pending,
        |(_, c, _)| eval_lock(&samples_dir, &c.checkpoint),
        |(_, c, _)| {
            say(
                progress,
                format!(
                    "{}: another process is scoring it; coming back to it after the others",
                    c.checkpoint
                ),
            )
        },
        |(i, c, before)| {
            let now = todo(scoring.store, c, &tasks)?;
            let loss =
                validation.is_some() && scoring.store.checkpoint_loss(&c.checkpoint)?.is_none();
            let left = now.len() + usize::from(loss);
            scoring.done += weight(c) * (before - left) as u64;
            scoring.checkpoint(i, c, now, loss, weight(c))
        },
    )?;
    progress.event(Event::End { stage: Stage::Eval });
    say(
        progress,
        format!(
            "eval: {} evaluations scored by this process",
            scoring.scored
        ),
    );
    Ok(scoring.failed)
}

/// The tasks (with their keys) a checkpoint has not been scored on.
fn todo<'t>(
    store: &Store,
    c: &CheckpointRow,
    tasks: &'t [(Task, String)],
) -> Result<Vec<(&'t Task, &'t String)>> {
    let mut todo = Vec::new();
    for (t, k) in tasks {
        if !store.has_evaluation(&c.checkpoint, &t.spec.task, k)? {
            todo.push((t, k));
        }
    }
    Ok(todo)
}

/// The lock a process holds while it scores one checkpoint.
fn eval_lock(samples_dir: &Path, checkpoint: &str) -> PathBuf {
    samples_folder(samples_dir, checkpoint).join(".lock")
}

/// What scoring the checkpoints shares: the database, the records' folder, the
/// tokenizer, and the progress made.
struct Scoring<'a> {
    study: &'a Study,
    store: &'a mut Store,
    samples_dir: PathBuf,
    progress: &'a dyn Progress,
    shared: SharedTokenizer,
    done: u64,
    of: usize,
    scored: usize,
    validation: Option<&'a ValidationPass>,
    /// The checkpoints that could not be loaded or whose validation loss failed.
    failed: Vec<String>,
}

impl Scoring<'_> {
    /// Scores checkpoint `c` (number `i`) on the validation text where `loss`, then on
    /// `todo`, storing each task's rows as it ends.
    fn checkpoint(
        &mut self,
        i: usize,
        c: &CheckpointRow,
        todo: Vec<(&Task, &String)>,
        loss: bool,
        weight: u64,
    ) -> Result<()> {
        if todo.is_empty() && !loss {
            return Ok(());
        }
        let note = format!("checkpoint {}/{}: {}", i + 1, self.of, c.checkpoint);
        let progress = self.progress;
        let advance = |done| {
            progress.event(Event::Advance {
                stage: Stage::Eval,
                done,
                note: &note,
            })
        };
        advance(self.done);
        let units = todo.len() + usize::from(loss);
        let loaded = ladder::fetched(&c.path, progress)
            .and_then(|dir| Ok((load_model(&dir, self.study.device)?, dir)));
        let ((mut model, loaded), dir) = match loaded {
            Ok(m) => m,
            Err(e) => {
                // A checkpoint that cannot be fetched or read is named; the others are scored.
                say(progress, format!("error: {}: {e:#}", c.path));
                self.failed.push(c.path.clone());
                self.done += weight * units as u64;
                advance(self.done);
                return Ok(());
            }
        };
        let tokenizer = self.shared.of(&dir, loaded);
        if let (true, Some(v)) = (loss, self.validation) {
            stop::check()?;
            let mut scorer = Scorer {
                model: model.as_mut(),
                tokenizer,
            };
            if let Err(e) = v.score(self.store, c, &mut scorer) {
                say(progress, format!("error: {}: {e:#}", c.path));
                self.failed.push(c.path.clone());
            }
            self.done += weight;
            advance(self.done);
        }
        for (task, key) in todo {
            stop::check()?;
            let mut scorer = Scorer {
                model: model.as_mut(),
                tokenizer,
            };
            let opts = EvalOptions {
                fewshot_seed: self.study.seed,
                ..EvalOptions::default()
            };
            let (r, records) = match evaluate(&mut scorer, task, &opts, &mut |_| {}) {
                Ok(x) => x,
                Err(e) => {
                    // The other tasks still run; this one is retried next time.
                    say(
                        progress,
                        format!("error: {} on {}: {e:#}", task.spec.task, c.checkpoint),
                    );
                    self.done += weight;
                    advance(self.done);
                    continue;
                }
            };
            write_samples(&self.samples_dir, &c.checkpoint, &r.task, &records)?;
            let rows: Vec<EvalRow> = r
                .metrics
                .iter()
                .map(|m| EvalRow {
                    checkpoint: c.checkpoint.clone(),
                    task: r.task.clone(),
                    task_hash: key.clone(),
                    shots: r.shots as u32,
                    metric: m.metric.clone(),
                    value: m.value,
                    stderr: m.stderr,
                    n: m.n as u64,
                    baseline: r.baseline,
                })
                .collect();
            self.store.put_evaluations(&rows)?;
            self.scored += 1;
            self.done += weight;
            advance(self.done);
        }
        drop(model);
        ladder::release(self.study, &c.path, &dir, progress)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_with_the_same_tokenizer_share_one() {
        let docs: Vec<String> = (0..100).map(|i| format!("fox {i} in Hollow")).collect();
        let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        train_bpe_into(&docs, 280, dirs[0].path());
        let json = |d: &tempfile::TempDir| d.path().join("tokenizer.json");
        std::fs::copy(json(&dirs[0]), json(&dirs[1])).unwrap();
        train_bpe_into(&docs[..50], 270, dirs[2].path());
        let load = |d: &tempfile::TempDir| Tokenizer::load(&json(d)).unwrap();
        let mut shared = SharedTokenizer::default();
        let first: *const Tokenizer = shared.of(dirs[0].path(), load(&dirs[0]));
        let again: *const Tokenizer = shared.of(dirs[1].path(), load(&dirs[1]));
        assert!(std::ptr::eq(first, again), "the same bytes: one tokenizer");
        let text = "fox 7 in Hollow";
        let other = shared.of(dirs[2].path(), load(&dirs[2]));
        assert_eq!(other.encode(text), load(&dirs[2]).encode(text));
        let mut with_bos = load(&dirs[2]);
        with_bos.set_bos(Some(0));
        assert_eq!(shared.of(dirs[2].path(), with_bos).bos_id(), Some(0));
    }

    #[test]
    fn a_task_is_keyed_by_the_data_files_it_read() {
        // The task's YAML includes a base config from another folder, which names the
        // data file: the file beside the base is read, and only its bytes change the key.
        let dir = tempfile::tempdir().unwrap();
        let (base, own) = (dir.path().join("base"), dir.path().join("own"));
        std::fs::create_dir_all(&base).unwrap();
        std::fs::create_dir_all(&own).unwrap();
        std::fs::write(
            base.join("base.yaml"),
            "output_type: multiple_choice\ndataset_path: json\n\
             dataset_kwargs:\n  data_files:\n    test: docs.jsonl\ntest_split: test\n\
             doc_to_text: '{{q}}'\ndoc_to_choice: '{{choices}}'\ndoc_to_target: 0\n",
        )
        .unwrap();
        let doc = |q: &str| format!("{{\"q\": \"{q}\", \"choices\": [\"a\", \"b\"]}}\n");
        std::fs::write(base.join("docs.jsonl"), doc("first")).unwrap();
        std::fs::write(own.join("docs.jsonl"), doc("a decoy beside the task")).unwrap();
        let spec = own.join("t.yaml");
        std::fs::write(&spec, "include: ../base/base.yaml\ntask: t\n").unwrap();
        let key = || {
            let task = load_task(&spec).unwrap();
            assert_eq!(task.docs[0]["q"], "first");
            task_key(&task, 0).unwrap()
        };
        let before = key();
        std::fs::write(own.join("docs.jsonl"), doc("another decoy")).unwrap();
        assert_eq!(key(), before, "a file the task does not read");
        std::fs::write(base.join("docs.jsonl"), doc("first")).unwrap();
        assert_eq!(key(), before);
        std::fs::write(base.join("docs.jsonl"), doc("first").repeat(2)).unwrap();
        assert_ne!(key(), before, "the file the task reads");
    }

    fn train_bpe_into(docs: &[String], vocab: usize, dir: &Path) {
        let tok = emergent_data::train_bpe(docs, vocab).unwrap();
        tok.save(&dir.join("tokenizer.json")).unwrap();
    }
}
