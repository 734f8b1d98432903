//! The data flow of a study, each stage skipped when its output (keyed by a hash of
//! what produced it) already exists: corpus → tokenizer + shards → training runs →
//! evaluation of every checkpoint on every task → report.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use emergent_data::{
    read_corpus, read_jsonl_field, split_documents, train_bpe, write_shard, write_tokenizer_config,
    CorpusSource, Shard, Tokenizer, World, EOS_TOKEN, TASK_NAMES,
};
use emergent_engine::{AdamWConfig, LrSchedule};
use emergent_eval::{evaluate, load_model, load_task, EvalOptions, SampleRecord, Scorer};
use emergent_store::{CheckpointRow, EvalRow, RunRow, Store};
use emergent_train::{
    list_checkpoints, log_spaced_steps, read_meta, say, step_dir_name, stop, train, RunSpec,
    Validation,
};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};

use crate::builtin_tasks::write_builtin_task;
use emergent_study::lock::{run_lock, DirLock};
use emergent_study::Study;

/// Short hex digest of anything serialisable: the key of a stage's output.
pub fn hash_of<T: serde::Serialize>(value: &T) -> String {
    let bytes = serde_json::to_vec(value).expect("serialisable");
    let d = Sha256::digest(&bytes);
    d.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// The prepared corpus: tokenizer and shards in one directory.
pub struct Prepared {
    pub dir: PathBuf,
    pub tokenizer: Tokenizer,
    pub train: Shard,
    pub val: Shard,
    /// The validation split per domain, where the corpus has domains.
    pub val_domains: Vec<(String, Shard)>,
}

impl Prepared {
    pub fn tokenizer_files(&self) -> Vec<PathBuf> {
        vec![
            self.dir.join("tokenizer.json"),
            self.dir.join("tokenizer_config.json"),
        ]
    }
}

/// A progress bar with `template` (of unknown length when `len` is 0). On a terminal
/// it redraws in place; elsewhere (a log file, a cluster job's output) indicatif draws
/// nothing, so a line with the bar's prefix, position, message and time left is
/// printed every [`LOG_EVERY`] instead.
pub fn bar(len: u64, template: &str) -> ProgressBar {
    let pb = if len == 0 {
        ProgressBar::no_length()
    } else {
        ProgressBar::new(len)
    };
    pb.set_style(
        ProgressStyle::with_template(template)
            .unwrap()
            .progress_chars("=> "),
    );
    if !std::io::stderr().is_terminal() {
        log_progress(pb.downgrade());
    }
    pb
}

/// How often a bar prints its line when stderr is not a terminal.
const LOG_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

fn log_progress(weak: indicatif::WeakProgressBar) {
    std::thread::spawn(move || {
        let mut since = std::time::Instant::now();
        loop {
            std::thread::sleep(std::time::Duration::from_millis(500));
            let Some(pb) = weak.upgrade() else { return };
            if pb.is_finished() {
                return;
            }
            if since.elapsed() < LOG_EVERY {
                continue;
            }
            since = std::time::Instant::now();
            let elapsed = indicatif::HumanDuration(pb.elapsed());
            match pb.length() {
                Some(len) if pb.position() > 0 => {
                    let percent = 100.0 * pb.position() as f64 / len.max(1) as f64;
                    eprintln!(
                        "{} {percent:.0}% {} after {elapsed}, eta {}",
                        pb.prefix(),
                        pb.message(),
                        indicatif::HumanDuration(pb.eta())
                    );
                }
                Some(_) => eprintln!("{} starting: {} after {elapsed}", pb.prefix(), pb.message()),
                None => eprintln!(
                    "{} {} {} after {elapsed}",
                    pb.prefix(),
                    pb.position(),
                    pb.message()
                ),
            }
        }
    });
}

fn world(study: &Study) -> World {
    World::new(
        study.seed,
        study.corpus.world_people,
        study.corpus.world_towns,
    )
}

fn doc_texts(docs: &[(String, Option<String>)]) -> Vec<&str> {
    docs.iter().map(|d| d.0.as_str()).collect()
}

/// A file's size and SHA-256, read in blocks: what a cache keyed by the file holds.
fn content_digest(path: &Path) -> Result<String> {
    use std::io::Read;
    let mut file =
        std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut digest = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file
            .read(&mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        digest.update(&buf[..n]);
    }
    Ok(format!("{size}:{:x}", digest.finalize()))
}

/// Corpus, validation split, tokenizer and shards, under `data/<hash>/`: keyed by the
/// study's corpus and tokenizer settings and by the content of the files they name.
pub fn prepare_corpus(study: &Study, out: &Path) -> Result<Prepared> {
    let c = &study.corpus;
    let source = (c.source != "builtin")
        .then(|| content_digest(Path::new(&c.source)))
        .transpose()?;
    let tokenizer_file = study
        .tokenizer
        .path
        .as_ref()
        .map(|p| content_digest(Path::new(p)))
        .transpose()?;
    let settings = (
        &study.corpus,
        &study.tokenizer,
        study.seed,
        study.training.seq_len,
    );
    // The built-in corpus has no files: its key stays what it always was, so earlier
    // studies resume.
    let key = match (source, tokenizer_file) {
        (None, None) => hash_of(&settings),
        files => hash_of(&(settings, files)),
    };
    let dir = out.join("data").join(&key);
    // Another process preparing the same corpus is waited for, then its work is used.
    let _lock = DirLock::wait(&out.join(".corpus.lock"))?;
    if !dir.join("done").exists() {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let c = &study.corpus;
        eprintln!("corpus: preparing {}", dir.display());
        let docs: Vec<(String, Option<String>)> = if c.source == "builtin" {
            world(study)
                .documents_by_genre(c.builtin_documents, study.seed)
                .into_iter()
                .map(|(d, g)| (d, Some(g.to_string())))
                .collect()
        } else {
            let path = Path::new(&c.source);
            let docs = read_corpus(&CorpusSource::from_path(path, &c.text_field))?;
            let domains = match &c.domain_field {
                Some(f) => read_jsonl_field(path, f)?.into_iter().map(Some).collect(),
                None => vec![None; docs.len()],
            };
            docs.into_iter().zip(domains).collect()
        };
        if docs.len() < 2 {
            bail!(
                "corpus {}: {} documents; at least 2 are needed for a validation split",
                c.source,
                docs.len()
            );
        }
        let (train_docs, val_docs) = split_documents(docs, c.validation_fraction, study.seed);
        let tokenizer = match &study.tokenizer.path {
            Some(p) => Tokenizer::load(Path::new(p))?,
            None => {
                let texts: Vec<String> = train_docs.iter().map(|d| d.0.clone()).collect();
                train_bpe(&texts, study.tokenizer.vocab_size)?
            }
        };
        tokenizer.save(&dir.join("tokenizer.json"))?;
        write_tokenizer_config(
            &dir,
            study.training.seq_len,
            tokenizer.eos_id().map(|_| EOS_TOKEN),
        )?;
        // Each domain's validation documents get a shard of their own.
        let mut domains: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (text, domain) in &val_docs {
            if let Some(domain) = domain {
                domains.entry(domain.as_str()).or_default().push(text);
            }
        }
        let mut shards = vec![
            ("train.bin".to_string(), doc_texts(&train_docs)),
            ("val.bin".to_string(), doc_texts(&val_docs)),
        ];
        for (i, (domain, docs)) in domains.into_iter().enumerate() {
            shards.push((format!("val-{i}.bin"), docs));
            std::fs::write(dir.join(format!("val-{i}.domain")), domain)?;
        }
        for (name, docs) in shards {
            let mut tokens = Vec::new();
            for d in docs {
                tokens.extend(tokenizer.encode(d));
                tokens.extend(tokenizer.eos_id());
            }
            write_shard(&dir.join(name), &tokens)?;
        }
        std::fs::write(dir.join("done"), "")?;
    }
    let tokenizer = Tokenizer::load(&dir.join("tokenizer.json"))?;
    let train = Shard::open(&dir.join("train.bin"))?;
    let val = Shard::open(&dir.join("val.bin"))?;
    let mut val_domains = Vec::new();
    for i in 0.. {
        let name = dir.join(format!("val-{i}.domain"));
        if !name.exists() {
            break;
        }
        let domain = std::fs::read_to_string(&name)
            .with_context(|| format!("reading {}", name.display()))?;
        val_domains.push((domain, Shard::open(&dir.join(format!("val-{i}.bin")))?));
    }
    eprintln!(
        "corpus: {} training and {} validation tokens, vocabulary {}",
        train.len(),
        val.len(),
        tokenizer.vocab_size()
    );
    Ok(Prepared {
        dir,
        tokenizer,
        train,
        val,
        val_domains,
    })
}

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

/// `out/study.toml`: the study the results beside it came from. Written only once the
/// study is accepted over what `out` already holds.
pub fn write_study_file(study: &Study, out: &Path) -> Result<()> {
    let path = out.join("study.toml");
    emergent_data::write_atomic(&path, toml::to_string(study)?.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
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

/// Sets a flag when dropped, so a thread waiting on it ends even when its run panics.
struct SetOnDrop<'a>(&'a std::sync::atomic::AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A panic's message.
fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".into())
}

/// Trains every run of the grid (resuming where it stopped) and records its
/// checkpoints in the results database. A run that fails (diverges, or hits a bug)
/// keeps its checkpoints and the others go on; the failures are returned, one line each.
/// The runs `only` names (by name, or by index in the grid as a job array counts them),
/// or every run when it is empty.
pub fn select_runs(study: &Study, only: &[String]) -> Result<Option<Vec<String>>> {
    if only.is_empty() {
        return Ok(None);
    }
    let names: Vec<String> = grid(study, study.tokenizer.vocab_size, None)
        .into_iter()
        .map(|(_, s)| s.name)
        .collect();
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

pub fn train_all(
    study: &Study,
    out: &Path,
    data: &Prepared,
    store: &Store,
    only: Option<&[String]>,
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
    eprintln!(
        "train: {} runs ({} sizes × {} budgets), {finished}/{} runs done",
        runs.len(),
        study.models.len(),
        study.training.budgets.len(),
        runs.len()
    );
    let multi = MultiProgress::new();
    // Runs differ thirtyfold in cost: the study's time left is counted in FLOPs.
    let overall = multi.add(bar(
        runs.iter().map(|(_, s)| run_gflops(s)).sum(),
        "train [{elapsed_precise}] [{bar:30}] {percent}% of the grid's FLOPs, {msg} eta {eta}",
    ));
    overall.set_prefix("train");
    let mut done = 0;
    let mut failed = Vec::new();
    overall.set_message(format!("0/{} runs", runs.len()));
    let mut train_one = |size: &String, spec: &RunSpec| -> Result<()> {
        let run_dir = out.join("runs").join(&spec.name);
        let key = hash_of(&(spec, &data.dir.file_name()));
        let marker = run_dir.join("run.json");
        if !marker.exists() {
            std::fs::create_dir_all(&run_dir)?;
            std::fs::write(
                &marker,
                serde_json::to_string_pretty(&serde_json::json!({"hash": key, "spec": spec}))?,
            )?;
        }
        store.put_run(&RunRow {
            run: spec.name.clone(),
            size: size.clone(),
            params: spec.model.num_params() as u64,
            non_embedding_params: spec.model.non_embedding_params() as u64,
            token_budget: spec.total_steps * (spec.batch_size * spec.seq_len) as u64,
            spec_hash: key.clone(),
        })?;
        let pb = multi.add(bar(
            spec.total_steps,
            "{prefix:>16} [{bar:30}] {pos}/{len} steps {msg} eta {eta}",
        ));
        pb.set_prefix(spec.name.clone());
        let before = overall.position();
        let finished = std::sync::atomic::AtomicBool::new(false);
        let trained = std::thread::scope(|scope| {
            let _done = SetOnDrop(&finished);
            // The grid's bar follows this run's steps, so its time left is a rate over
            // steady progress rather than over whole runs.
            scope.spawn(|| {
                let mut ticks = 0u64;
                while !finished.load(std::sync::atomic::Ordering::Relaxed) {
                    let frac = pb.position() as f64 / pb.length().unwrap_or(1).max(1) as f64;
                    overall.set_position(before + (frac * run_gflops(spec) as f64) as u64);
                    // `emergent status`, from any machine, reads where the run is.
                    if ticks.is_multiple_of(25) {
                        write_progress(&run_dir, pb.position(), spec.total_steps);
                    }
                    ticks += 1;
                    std::thread::sleep(std::time::Duration::from_millis(200));
                }
            });
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
                    &pb,
                    None,
                )
            };
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)).unwrap_or_else(|p| {
                Err(anyhow::anyhow!(
                    "{}: training stopped on an internal error: {}",
                    spec.name,
                    panic_text(p.as_ref())
                ))
            })
        });
        pb.finish_and_clear();
        let failure = run_dir.join(FAILED_FILE);
        match trained {
            Err(e) if e.is::<stop::Interrupted>() => return Err(e),
            Err(e) => {
                say(&overall, format!("error: {e:#}"));
                let _ = std::fs::write(&failure, format!("{e:#}\n"));
                failed.push(format!("{e:#}"));
            }
            Ok(_) => {
                let _ = std::fs::remove_file(&failure);
            }
        }
        done += 1;
        overall.set_message(format!("{done}/{} runs", runs.len()));
        overall.set_position(before + run_gflops(spec));
        for ckpt in list_checkpoints(&run_dir) {
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
        overall.inc(1);
        Ok(())
    };
    // A run another process is training comes last: by then it is done, or its process
    // has died and the lock is free to resume it.
    let mut deferred = Vec::new();
    for (size, spec) in &runs {
        match DirLock::try_take(&run_lock(&out.join("runs").join(&spec.name)))? {
            Some(_lock) => train_one(size, spec)?,
            None => {
                say(
                    &overall,
                    format!(
                        "{}: another process is training it; waiting for it after the others",
                        spec.name
                    ),
                );
                deferred.push((size, spec));
            }
        }
    }
    for (size, spec) in deferred {
        let _lock = DirLock::wait(&run_lock(&out.join("runs").join(&spec.name)))?;
        train_one(size, spec)?;
    }
    overall.finish();
    Ok(failed)
}

/// A run's last error, kept in its folder until it trains to the end.
pub const FAILED_FILE: &str = "failed.txt";
/// A run's step while it trains, rewritten every few seconds.
pub const PROGRESS_FILE: &str = "progress.json";

fn write_progress(run_dir: &Path, step: u64, total: u64) {
    let text = serde_json::json!({"step": step, "total_steps": total}).to_string();
    let _ = emergent_data::write_atomic(&run_dir.join(PROGRESS_FILE), text.as_bytes());
}

/// Writes the built-in world's tasks into `out/tasks/` and returns every task spec path.
pub fn prepare_tasks(study: &Study, out: &Path) -> Result<Vec<PathBuf>> {
    let dir = out.join("tasks");
    let w = world(study);
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

/// Per-document records of one evaluation, `samples/<checkpoint>/<task>.jsonl`.
fn write_samples(dir: &Path, checkpoint: &str, task: &str, records: &[SampleRecord]) -> Result<()> {
    let dir = dir.join(checkpoint.replace(['/', '\\'], "_"));
    std::fs::create_dir_all(&dir)?;
    let mut text = String::new();
    for r in records {
        text.push_str(&serde_json::to_string(r)?);
        text.push('\n');
    }
    let path = dir.join(format!("{task}.jsonl"));
    emergent_data::write_atomic(&path, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// Scores every checkpoint on every task that it was not already scored on.
pub fn eval_all(
    study: &Study,
    store: &mut Store,
    task_paths: &[PathBuf],
    out: &Path,
    only: Option<&[String]>,
) -> Result<()> {
    let _watch = stop::Watch::start();
    let samples_dir = &out.join("samples");
    let mut tasks = Vec::new();
    for p in task_paths {
        let task = load_task(p)?;
        let mut digest = Sha256::new();
        for file in task.spec.data_files.values() {
            digest.update(std::fs::read(
                p.parent().unwrap_or(Path::new(".")).join(file),
            )?);
        }
        let key = hash_of(&(&task.spec, digest.finalize().to_vec(), study.seed));
        tasks.push((task, key));
    }
    let mut ckpts = store.checkpoints()?;
    if let Some(only) = only {
        ckpts.retain(|c| only.contains(&c.run));
    }
    // Which tasks each checkpoint still needs, asked of the database once.
    let mut todo_of = Vec::with_capacity(ckpts.len());
    for c in &ckpts {
        let mut todo = Vec::new();
        for (t, k) in &tasks {
            if !store.has_evaluation(&c.checkpoint, &t.spec.task, k)? {
                todo.push((t, k));
            }
        }
        todo_of.push(todo);
    }
    let cached = ckpts.len() * tasks.len() - todo_of.iter().map(Vec::len).sum::<usize>();
    eprintln!(
        "eval: {} checkpoints × {} tasks, {cached} evaluations cached, {} to score",
        ckpts.len(),
        tasks.len(),
        ckpts.len() * tasks.len() - cached
    );
    // A checkpoint's scoring costs about its parameter count (plus a fixed part): the
    // bar counts that, so its time left holds while the sizes grow.
    let params: std::collections::HashMap<String, u64> = store
        .runs()?
        .into_iter()
        .map(|r| (r.run, r.params))
        .collect();
    let weight = |c: &CheckpointRow| params.get(&c.run).copied().unwrap_or(0) / 1000 + 100;
    let pb = bar(
        ckpts.iter().map(|c| weight(c) * tasks.len() as u64).sum(),
        "eval  [{elapsed_precise}] [{bar:30}] {percent}% {msg} eta {eta}",
    );
    pb.set_prefix("eval");
    for (i, (c, todo)) in ckpts.iter().zip(todo_of).enumerate() {
        pb.inc(weight(c) * (tasks.len() - todo.len()) as u64);
        if todo.is_empty() {
            continue;
        }
        pb.set_message(format!(
            "checkpoint {}/{}: {}",
            i + 1,
            ckpts.len(),
            c.checkpoint
        ));
        let dir = Path::new(&c.path);
        let (mut model, tokenizer) = load_model(dir)?;
        for (task, key) in todo {
            stop::check()?;
            let mut scorer = Scorer {
                model: model.as_mut(),
                tokenizer: &tokenizer,
            };
            let opts = EvalOptions {
                fewshot_seed: study.seed,
                ..EvalOptions::default()
            };
            let (r, records) = match evaluate(&mut scorer, task, &opts, &mut |_| {}) {
                Ok(x) => x,
                Err(e) => {
                    // The other tasks still run; this one is retried next time.
                    say(
                        &pb,
                        format!("error: {} on {}: {e:#}", task.spec.task, c.checkpoint),
                    );
                    pb.inc(weight(c));
                    continue;
                }
            };
            write_samples(samples_dir, &c.checkpoint, &r.task, &records)?;
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
            store.put_evaluations(&rows)?;
            pb.inc(weight(c));
        }
    }
    pb.finish_and_clear();
    Ok(())
}
