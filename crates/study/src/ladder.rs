//! A study of checkpoints that exist already (`[[checkpoints]]`): each found by its
//! pattern, or as a revision of a Hugging Face Hub repository, its run, step and tokens
//! read from its folder or name, registered in the study's database, and put on a common
//! loss axis by scoring one validation text. The evaluation, analysis and report are then
//! those of a trained grid.
//!
//! A Hub checkpoint is stored by its locator (`hf://ORG/NAME@REVISION`): its small files
//! are fetched when it is found, its weights when it is scored, and with `keep = false`
//! they leave the cache once it is scored, so a ladder streams through a small disk.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use emergent_data::{read_records, RECORD_EXTENSIONS};
use emergent_engine::{GgufFile, ModelConfig};
use emergent_eval::{evaluate, EvalOptions, Scorer, Task};
use emergent_store::{CheckpointRow, RunRow, Store, UNSCORED_LOSS};

use crate::progress::{say, Event, Progress};
use crate::{CheckpointsConfig, Study, ValidationConfig};
use emergent_files::glob;
use emergent_files::hash_of;
use emergent_hub::{Hub, Locator, Part, RepoId};

pub use emergent_analysis::{BITS_PER_BYTE, NATS_PER_TOKEN};

/// One checkpoint found, before it is scored.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub run: String,
    pub size: String,
    pub checkpoint: String,
    /// Its folder or file (for a Hub checkpoint, its snapshot in the cache).
    pub path: PathBuf,
    /// What the database stores and the status shows: the path, or the Hub locator.
    pub source: String,
    pub step: u64,
    pub tokens: u64,
    pub params: u64,
    pub non_embedding_params: u64,
}

/// Every checkpoint the study's `[[checkpoints]]` name, sorted by run and step. A pattern
/// that matches nothing, a checkpoint whose config cannot be read and one without a step
/// or token count are errors naming the path, found before anything is scored.
pub fn discover(study: &Study) -> Result<Vec<Found>> {
    let mut found = Vec::new();
    for (i, entry) in study.checkpoints.iter().enumerate() {
        if let Some(repo) = &entry.repo {
            found.extend(on_the_hub(entry, repo).with_context(|| format!("checkpoints[{i}]"))?);
            continue;
        }
        let paths = glob::expand(&entry.path);
        if paths.is_empty() {
            bail!("checkpoints[{i}].path `{}`: matches nothing", entry.path);
        }
        for path in paths {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let run = path
                .parent()
                .and_then(|p| p.file_name())
                .map_or_else(|| "run".into(), |n| n.to_string_lossy().into_owned());
            let source = path.display().to_string();
            found.push(
                one(entry, &path, &name, run, source)
                    .with_context(|| path.display().to_string())?,
            );
        }
    }
    found.sort_by(|a, b| (&a.run, a.step).cmp(&(&b.run, b.step)));
    for w in found.windows(2) {
        if w[0].checkpoint == w[1].checkpoint {
            bail!(
                "{} and {} are both checkpoint `{}` (run and step): name the runs apart with `run`",
                w[0].source,
                w[1].source,
                w[0].checkpoint
            );
        }
    }
    Ok(found)
}

/// The series of a study of checkpoints, in name order: its runs (a Slurm task each).
pub fn runs(study: &Study) -> Result<Vec<String>> {
    let mut runs: Vec<String> = discover(study)?.into_iter().map(|f| f.run).collect();
    runs.dedup();
    Ok(runs)
}

/// The revisions of a Hub repository an entry names, each with its small files fetched
/// (configuration, tokenizer, trainer state): the run is named after the repository, the
/// checkpoint after the revision.
fn on_the_hub(entry: &CheckpointsConfig, repo: &str) -> Result<Vec<Found>> {
    let hub = Hub::from_env();
    let repo = RepoId::parse(repo)?;
    let refs: Vec<String> = hub.refs(&repo)?.into_iter().map(|(name, _)| name).collect();
    let revisions = emergent_hub::expand_revisions(&entry.revisions, &refs)
        .with_context(|| format!("{repo}"))?;
    let mut found = Vec::new();
    for revision in revisions {
        let locator = Locator {
            repo: repo.clone(),
            revision: revision.clone(),
        };
        let dir = hub
            .checkpoint(
                &repo,
                &revision,
                Part::Config,
                &|_: &str, _: u64, _: u64| {},
            )
            .with_context(|| locator.to_string())?;
        let run = repo.name.clone();
        found.push(
            one(entry, &dir, &revision, run, locator.to_string())
                .with_context(|| locator.to_string())?,
        );
    }
    Ok(found)
}

/// What a checkpoint's folder (or GGUF file) and name say about it; its run is
/// `default_run` unless the entry names one.
fn one(
    entry: &CheckpointsConfig,
    path: &Path,
    name: &str,
    default_run: String,
    source: String,
) -> Result<Found> {
    let config = if path.is_dir() {
        ModelConfig::from_hf_json(&path.join("config.json"))?
    } else {
        GgufFile::open(path)?.model_config()?
    };
    let meta = Counts::read(path.join("meta.json"))?;
    let trainer = Counts::read(path.join("trainer_state.json"))?;
    let step = meta
        .get("step")?
        .or(trainer.get("global_step")?)
        .or_else(|| step_in_name(name))
        .ok_or_else(|| {
            anyhow!("no step: no meta.json or trainer_state.json with one, and no `step…` or `checkpoint-…` in the name")
        })?;
    let tokens = meta
        .get("tokens")?
        .or(trainer.get("num_input_tokens_seen")?)
        .or_else(|| entry.tokens_per_step.map(|t| t.saturating_mul(step)))
        .ok_or_else(|| {
            anyhow!("step {step} but no token count (meta.json `tokens`, trainer_state.json `num_input_tokens_seen`): give the entry's `tokens_per_step`")
        })?;
    let run = entry.run.clone().unwrap_or(default_run);
    let non_embedding = config.non_embedding_params() as u64;
    Ok(Found {
        size: entry
            .size
            .clone()
            .unwrap_or_else(|| size_label(non_embedding)),
        checkpoint: format!("{run}/{name}"),
        run,
        path: path.to_path_buf(),
        source,
        step,
        tokens,
        params: config.num_params() as u64,
        non_embedding_params: non_embedding,
    })
}

/// A checkpoint's `meta.json` or `trainer_state.json`, where it has one: the counts a
/// ladder takes from it.
struct Counts {
    path: PathBuf,
    doc: Option<serde_json::Value>,
}

impl Counts {
    /// Absent is no counts; present but unreadable or not JSON is an error naming it.
    fn read(path: PathBuf) -> Result<Counts> {
        if !path.exists() {
            return Ok(Counts { path, doc: None });
        }
        let text = emergent_files::read_regular_to_string(&path)
            .with_context(|| format!("{}", path.display()))?;
        let doc = serde_json::from_str(&text)
            .with_context(|| format!("{}: invalid JSON", path.display()))?;
        Ok(Counts {
            path,
            doc: Some(doc),
        })
    }

    /// A count the file gives: a whole number, else an error naming the file and field
    /// (−1, 10³⁰ or a string would otherwise be passed over in silence).
    fn get(&self, field: &str) -> Result<Option<u64>> {
        let Some(v) = self.doc.as_ref().and_then(|d| d.get(field)) else {
            return Ok(None);
        };
        match v.as_u64() {
            Some(n) => Ok(Some(n)),
            None if v.is_null() => Ok(None),
            None => bail!(
                "{}: field `{field}`: {v} is not a whole number (0 to 2⁶⁴ − 1)",
                self.path.display()
            ),
        }
    }
}

/// The step in a checkpoint's name: the number after the last `step` or `checkpoint`
/// (`step1000`, `step-01000`, `checkpoint-1000`, `pythia-70m-step3000.gguf`).
pub fn step_in_name(name: &str) -> Option<u64> {
    let lower = name.to_ascii_lowercase();
    let at = ["step", "checkpoint"]
        .iter()
        .filter_map(|k| lower.rfind(k).map(|i| i + k.len()))
        .max()?;
    let digits: String = lower[at..]
        .trim_start_matches(['-', '_', '.'])
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// `70M`, `1.4B`: a size from its non-embedding parameters.
fn size_label(n: u64) -> String {
    let (v, unit) = match n {
        n if n >= 1_000_000_000 => (n as f64 / 1e9, "B"),
        n if n >= 1_000_000 => (n as f64 / 1e6, "M"),
        n => (n as f64 / 1e3, "K"),
    };
    let s = format!("{v:.1}");
    format!("{}{unit}", s.trim_end_matches(".0"))
}

/// Registers the checkpoints in the study's database: a run per series (its budget the
/// most tokens any of its checkpoints saw), a checkpoint row per checkpoint (its loss
/// `UNSCORED_LOSS` until the validation text is scored).
pub fn register(store: &Store, found: &[Found]) -> Result<()> {
    // A checkpoint already registered at the same path keeps its loss.
    let known: std::collections::HashMap<(String, String), f64> = store
        .checkpoints()?
        .into_iter()
        .map(|c| ((c.checkpoint, c.path), c.val_loss))
        .collect();
    for f in found {
        let budget = found
            .iter()
            .filter(|g| g.run == f.run)
            .map(|g| g.tokens)
            .max()
            .unwrap_or(f.tokens);
        store.put_run(&RunRow {
            run: f.run.clone(),
            size: f.size.clone(),
            params: f.params,
            non_embedding_params: f.non_embedding_params,
            token_budget: budget,
            spec_hash: "checkpoints".into(),
        })?;
        let path = f.source.clone();
        let val_loss = known
            .get(&(f.checkpoint.clone(), path.clone()))
            .copied()
            .unwrap_or(UNSCORED_LOSS);
        store.put_checkpoint(&CheckpointRow {
            checkpoint: f.checkpoint.clone(),
            run: f.run.clone(),
            step: f.step,
            tokens: f.tokens,
            flops: 6.0 * f.params as f64 * f.tokens as f64,
            val_loss,
            path,
        })?;
    }
    Ok(())
}

/// The unit of the loss axis: nats per token when every checkpoint is a folder with the
/// same `tokenizer.json` bytes, else bits per byte, which no tokenizer changes.
pub fn loss_unit(found: &[Found]) -> &'static str {
    let tokenizer = |f: &Found| std::fs::read(f.path.join("tokenizer.json")).ok();
    let first = found.first().and_then(tokenizer);
    if first.is_some() && found.iter().all(|f| tokenizer(f) == first) {
        NATS_PER_TOKEN
    } else {
        BITS_PER_BYTE
    }
}

/// The validation documents, and each one's domain where the table has a domain field.
struct Validation {
    path: PathBuf,
    docs: Vec<String>,
    domains: Vec<Option<String>>,
}

/// A text file is one document; a table's rows are documents (its `text_field`, `text`
/// unless named), each with its `domain_field`. A row without them is an error naming the
/// file and row.
fn read_validation(v: &ValidationConfig) -> Result<Validation> {
    let path = v.text.clone();
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if !RECORD_EXTENSIONS.contains(&ext) {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("validation.text: reading {}", path.display()))?;
        return Ok(Validation {
            path,
            docs: vec![text],
            domains: vec![None],
        });
    }
    let field = v.text_field.as_deref().unwrap_or("text");
    let (mut docs, mut domains) = (Vec::new(), Vec::new());
    for r in read_records(&path)? {
        let get = |f: &str| match r.doc.get(f) {
            Some(serde_json::Value::String(s)) => Ok(s.clone()),
            _ => Err(anyhow!(
                "{}:{}: no string field `{f}`",
                path.display(),
                r.at
            )),
        };
        docs.push(get(field)?);
        domains.push(v.domain_field.as_deref().map(get).transpose()?);
    }
    if docs.is_empty() {
        bail!("{}: no documents", path.display());
    }
    Ok(Validation {
        path,
        docs,
        domains,
    })
}

/// What scoring a study of checkpoints adds to each checkpoint: its loss on the
/// validation documents (a task of rolling log-likelihoods, as `eval --text` scores), in
/// the study's unit.
pub struct ValidationPass {
    task: Task,
    v: Validation,
    unit: &'static str,
}

/// The validation documents read, in `unit`; when they, their domains or the unit
/// changed, every loss computed from the old ones is forgotten, to be scored again.
pub fn validation_pass(study: &Study, store: &Store, unit: &'static str) -> Result<ValidationPass> {
    let config = study
        .validation
        .as_ref()
        .ok_or_else(|| anyhow!("a study of checkpoints needs `[validation] text`"))?;
    let v = read_validation(config)?;
    let task = Task::from_texts("validation", &v.path, v.docs.clone())?;
    let key = hash_of(&(&v.docs, &v.domains, unit));
    store.put_meta("loss_unit", unit)?;
    if store.meta("validation_key")?.as_deref() != Some(key.as_str()) {
        for mut c in store.checkpoints()? {
            c.val_loss = UNSCORED_LOSS;
            store.put_checkpoint(&c)?;
        }
        store.put_meta("validation_key", &key)?;
    }
    Ok(ValidationPass { task, v, unit })
}

impl ValidationPass {
    pub fn describe(&self) -> String {
        format!("{} ({})", self.v.path.display(), self.unit)
    }

    /// Scores checkpoint `c` with the loaded model and stores its loss, overall and per
    /// domain.
    pub(crate) fn score(
        &self,
        store: &Store,
        c: &CheckpointRow,
        scorer: &mut Scorer,
    ) -> Result<()> {
        let (loss, domains) = validation_loss(scorer, &self.task, &self.v, self.unit)?;
        store.put_domain_losses(&c.checkpoint, &domains)?;
        store.put_checkpoint(&CheckpointRow {
            val_loss: loss,
            ..c.clone()
        })
    }
}

/// The folder a stored checkpoint names: its path, or a Hub checkpoint's snapshot in
/// the cache with its weights fetched where the cache lacks them.
pub(crate) fn fetched(source: &str, progress: &dyn Progress) -> Result<PathBuf> {
    let Some(locator) = Locator::parse(source) else {
        return Ok(PathBuf::from(source));
    };
    let l = locator?;
    let bytes =
        |file: &str, done: u64, total: u64| progress.event(Event::Fetch { file, done, total });
    Hub::from_env().checkpoint(&l.repo, &l.revision, Part::All, &bytes)
}

/// After a checkpoint's scoring: a Hub checkpoint whose entry says `keep = false` takes
/// its weights out of the cache (its small files stay, for the next discovery).
pub(crate) fn release(
    study: &Study,
    source: &str,
    dir: &Path,
    progress: &dyn Progress,
) -> Result<()> {
    let Some(Ok(l)) = Locator::parse(source) else {
        return Ok(());
    };
    let repo = l.repo.to_string();
    let entries = study
        .checkpoints
        .iter()
        .filter(|e| e.repo.as_deref() == Some(&repo));
    if entries.clone().count() == 0 || entries.clone().any(|e| e.keep) {
        return Ok(());
    }
    let freed = Hub::from_env().release_weights(dir)?;
    say(
        progress,
        format!(
            "{source}: scored; {:.1} MB of weights leave the cache (keep = false)",
            freed as f64 / 1e6
        ),
    );
    Ok(())
}

/// One checkpoint's loss on the validation documents, overall and per domain: the
/// rolling log-likelihood per token or per byte, summed over documents first.
fn validation_loss(
    scorer: &mut Scorer,
    task: &Task,
    v: &Validation,
    unit: &str,
) -> Result<(f64, Vec<(String, f64)>)> {
    let tokenizer = scorer.tokenizer;
    let (_, records) = evaluate(scorer, task, &EvalOptions::default(), &mut |_| {})?;
    let per_doc: Vec<(f64, f64)> = records
        .iter()
        .zip(&v.docs)
        .map(|(r, doc)| {
            let ll = r
                .metrics
                .get(emergent_metrics::LOGLIKELIHOOD)
                .copied()
                .unwrap_or(f64::NAN);
            let size = if unit == NATS_PER_TOKEN {
                tokenizer.encode(doc).len() as f64
            } else {
                doc.len() as f64
            };
            (-ll, size)
        })
        .collect();
    let loss = |which: &dyn Fn(usize) -> bool| {
        let (nll, size) = per_doc
            .iter()
            .enumerate()
            .filter(|(i, _)| which(*i))
            .fold((0.0, 0.0), |(a, b), (_, (n, s))| (a + n, b + s));
        // As lm-eval's bits_per_byte divides: by the bytes, then by ln 2.
        if unit == NATS_PER_TOKEN {
            nll / size
        } else {
            nll / size / std::f64::consts::LN_2
        }
    };
    let overall = loss(&|_| true);
    if !overall.is_finite() || overall <= 0.0 {
        bail!("its loss on the validation text is {overall}");
    }
    let names: std::collections::BTreeSet<&String> = v.domains.iter().flatten().collect();
    let domains = names
        .into_iter()
        .map(|d| (d.clone(), loss(&|i| v.domains[i].as_ref() == Some(d))))
        .collect();
    Ok((overall, domains))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_read_from_names() {
        assert_eq!(step_in_name("step1000"), Some(1000));
        assert_eq!(step_in_name("step-0001000"), Some(1000));
        assert_eq!(step_in_name("checkpoint-250"), Some(250));
        assert_eq!(step_in_name("pythia-70m-step3000.gguf"), Some(3000));
        assert_eq!(step_in_name("Step_12"), Some(12));
        assert_eq!(step_in_name("final"), None);
        assert_eq!(step_in_name("step"), None);
    }

    #[test]
    fn sizes_are_labelled_by_their_magnitude() {
        assert_eq!(size_label(70_426_624), "70.4M");
        assert_eq!(size_label(1_000_000), "1M");
        assert_eq!(size_label(1_400_000_000), "1.4B");
        assert_eq!(size_label(6_700), "6.7K");
    }

    #[test]
    fn a_count_that_is_not_a_whole_number_names_its_file_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trainer_state.json");
        for bad in ["-1", "1e30", "\"1000\"", "12.5"] {
            std::fs::write(&path, format!("{{\"global_step\": {bad}}}")).unwrap();
            let e = Counts::read(path.clone())
                .unwrap()
                .get("global_step")
                .unwrap_err();
            let e = format!("{e:#}");
            assert!(
                e.contains("trainer_state.json") && e.contains("`global_step`"),
                "{bad}: {e}"
            );
        }
        std::fs::write(
            &path,
            r#"{"global_step": 1000, "num_input_tokens_seen": null}"#,
        )
        .unwrap();
        let counts = Counts::read(path.clone()).unwrap();
        assert_eq!(counts.get("global_step").unwrap(), Some(1000));
        assert_eq!(counts.get("num_input_tokens_seen").unwrap(), None);
        std::fs::write(&path, "{not json").unwrap();
        let e = format!("{:#}", Counts::read(path.clone()).err().unwrap());
        assert!(
            e.contains("trainer_state.json") && e.contains("invalid JSON"),
            "{e}"
        );
        assert!(Counts::read(dir.path().join("absent.json"))
            .unwrap()
            .doc
            .is_none());
    }
}
