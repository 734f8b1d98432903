//! A study as a library: its file (every field has a default, documented in
//! `studies/default.toml`; unknown fields and wrong types are errors that name the
//! field), the stages from corpus to report (each runnable alone, each skipped where
//! its output exists), the built-in tasks, the databases of a study run as many jobs,
//! its status, and its Slurm jobs. Progress goes through [`Progress`]; nothing here
//! prints.

mod builtin_tasks;
mod corpus;
mod evaluate;
pub mod finish;
pub mod ladder;
pub use emergent_files::lock;
pub mod progress;
mod runs;
pub mod slurm;
mod stages;
pub mod status;
pub mod stores;

pub use corpus::{prepare_corpus, Prepared};
pub use evaluate::{eval_runs, prepare_tasks};
pub use progress::{Event, Lines, Progress, Stage};
pub use runs::{grid, select_runs, train_runs, FAILED_FILE, PROGRESS_FILE};
pub use stages::{
    eval_all, eval_run, finish, prepare, run_seeds, run_study, runs_failed, train_all, train_run,
    SeedsWritten,
};

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use emergent_engine::{Architecture, Backend, Mlp, ModelConfig};
use serde::{Deserialize, Serialize};

pub const DEFAULT_STUDY: &str = include_str!("../../../studies/default.toml");
pub const QUICK_STUDY: &str = include_str!("../../../studies/quick.toml");

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Study {
    pub name: String,
    pub seed: u64,
    /// Worker threads; 0 means one per core.
    pub threads: usize,
    /// Independent repeats of the whole study with seeds `seed`, `seed + 1`, …
    pub seeds: usize,
    /// Where models train and score (`cpu`, the only device of this build).
    #[serde(skip_serializing_if = "Backend::is_cpu")]
    pub device: Backend,
    pub corpus: CorpusConfig,
    pub tokenizer: TokenizerConfig,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<SizeConfig>,
    pub training: TrainingConfig,
    pub eval: EvalConfig,
    /// Checkpoints that exist already, scored instead of a trained grid (`[[checkpoints]]`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checkpoints: Vec<CheckpointsConfig>,
    /// The text whose loss puts existing checkpoints on one axis.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation: Option<ValidationConfig>,
}

/// One `[[checkpoints]]` entry: a folder, a GGUF file or a pattern of either (`path`), or
/// the revisions of a Hugging Face Hub repository (`repo`, `revisions`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CheckpointsConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
    /// A Hub repository, `ORG/NAME`, whose revisions are the checkpoints (the run is
    /// named after it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    /// The repository's revisions: names, and patterns (`step{1000..143000..1000}`,
    /// `step*`) kept to the revisions the repository has.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revisions: Vec<String>,
    /// Whether a revision's weights stay in the Hub's cache once it is scored; `false`
    /// streams the ladder through a disk that holds about one checkpoint.
    #[serde(default = "keep_default", skip_serializing_if = "is_kept")]
    pub keep: bool,
    /// The series' size label (else from the config: non-embedding parameters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
    /// Tokens per training step, for checkpoints whose token count only their step gives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_step: Option<u64>,
    /// The series the checkpoints belong to (else each one's parent folder's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
}

fn keep_default() -> bool {
    true
}

fn is_kept(keep: &bool) -> bool {
    *keep
}

/// `[validation]`: the text every checkpoint scores: a text file, or a table of documents
/// (JSONL, JSON, CSV, Parquet) with a text field and optionally a domain field.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ValidationConfig {
    pub text: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_field: Option<String>,
    /// A loss per value of this field, beside the overall one (`--x loss:DOMAIN`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_field: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CorpusConfig {
    /// `builtin`, or a path to a text file (documents separated by blank lines) or a
    /// JSONL file (`.jsonl`) with one document per line, or Parquet (`.parquet`).
    pub source: String,
    pub text_field: String,
    /// A JSONL corpus's field naming each document's domain: validation loss is then
    /// recorded per domain too (the built-in world's domains are its genres).
    pub domain_field: Option<String>,
    pub builtin_documents: usize,
    pub world_people: usize,
    pub world_towns: usize,
    /// The built-in corpus's genres and their relative shares; absent, the default mix
    /// (`emergent_data::world::GENRES`). A pilot trains on one genre alone this way.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub genres: Option<std::collections::BTreeMap<String, f64>>,
    pub validation_fraction: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TokenizerConfig {
    pub vocab_size: usize,
    /// A Hugging Face `tokenizer.json` to use instead of training one.
    pub path: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SizeConfig {
    /// The Hugging Face `model_type` of the block: `llama` (the default), `glm`,
    /// `gpt_neox`, `olmo`, `olmo2` or `qwen2`.
    #[serde(default, skip_serializing_if = "is_llama")]
    pub architecture: Architecture,
    pub layers: usize,
    pub hidden: usize,
    pub heads: usize,
    #[serde(default)]
    pub kv_heads: Option<usize>,
    #[serde(default)]
    pub mlp: Option<usize>,
}

fn is_llama(a: &Architecture) -> bool {
    *a == Architecture::Llama
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TrainingConfig {
    /// Token budgets; each model size is trained once per budget.
    pub budgets: Vec<u64>,
    pub batch_size: usize,
    pub seq_len: usize,
    pub lr: f64,
    pub min_lr_ratio: f64,
    pub warmup_steps: u64,
    pub weight_decay: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub max_grad_norm: f64,
    /// Apply weight decay to norm gains / to the embedding and output head too.
    pub decay_norms: bool,
    pub decay_embeddings: bool,
    pub tie_embeddings: bool,
    pub rope_theta: f32,
    /// Checkpoints per run, log-spaced from `first_checkpoint_tokens` to the budget.
    pub checkpoints: usize,
    pub first_checkpoint_tokens: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EvalConfig {
    /// Built-in world tasks (`qa-en`, `math-zh`, …; see `emergent_data::TASK_NAMES`) or
    /// paths to task specs.
    pub tasks: Vec<String>,
    /// Documents generated per built-in task.
    pub documents: usize,
    /// Few-shot examples for every built-in task; absent, each task's own (exams 3,
    /// arithmetic 2, the others 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub num_fewshot: Option<usize>,
}

impl Default for Study {
    fn default() -> Self {
        Study {
            name: "emergent study".into(),
            seed: 0,
            threads: 0,
            seeds: 1,
            device: Backend::Cpu,
            corpus: CorpusConfig::default(),
            tokenizer: TokenizerConfig::default(),
            models: [(2, 16, 2), (2, 32, 2), (2, 48, 3), (3, 64, 4), (4, 80, 4)]
                .map(|(layers, hidden, heads)| SizeConfig {
                    architecture: Architecture::Llama,
                    layers,
                    hidden,
                    heads,
                    kv_heads: None,
                    mlp: None,
                })
                .to_vec(),
            training: TrainingConfig::default(),
            eval: EvalConfig::default(),
            checkpoints: Vec::new(),
            validation: None,
        }
    }
}

impl Default for CorpusConfig {
    fn default() -> Self {
        CorpusConfig {
            source: "builtin".into(),
            text_field: "text".into(),
            domain_field: None,
            builtin_documents: 70000,
            world_people: 200,
            world_towns: 16,
            genres: None,
            validation_fraction: 0.02,
        }
    }
}

impl Default for TokenizerConfig {
    fn default() -> Self {
        TokenizerConfig {
            vocab_size: 1024,
            path: None,
        }
    }
}

impl Default for TrainingConfig {
    fn default() -> Self {
        TrainingConfig {
            budgets: vec![1_000_000, 2_000_000, 4_000_000],
            batch_size: 16,
            seq_len: 128,
            lr: 1e-2,
            min_lr_ratio: 0.1,
            warmup_steps: 50,
            weight_decay: 0.1,
            beta1: 0.9,
            beta2: 0.95,
            eps: 1e-8,
            max_grad_norm: 1.0,
            decay_norms: false,
            decay_embeddings: false,
            tie_embeddings: false,
            rope_theta: 10000.0,
            checkpoints: 5,
            first_checkpoint_tokens: 100_000,
        }
    }
}

impl Default for EvalConfig {
    fn default() -> Self {
        EvalConfig {
            tasks: emergent_data::TASK_NAMES.map(String::from).to_vec(),
            documents: 300,
            num_fewshot: None,
        }
    }
}

impl SizeConfig {
    /// MLP width unless given: for SwiGLU 8/3 of the hidden size rounded up to a
    /// multiple of 8 (the parameters of a 4× GELU MLP), for GELU 4×.
    pub fn mlp_width(&self) -> usize {
        self.mlp
            .unwrap_or_else(|| match self.architecture.block().mlp {
                Mlp::SwiGlu => (self.hidden * 8 / 3).div_ceil(8) * 8,
                Mlp::Gelu => 4 * self.hidden,
            })
    }

    /// `d64-l2`, with the architecture in front unless it is LLaMA (`gpt_neox-d64-l2`).
    pub fn name(&self) -> String {
        let size = format!("d{}-l{}", self.hidden, self.layers);
        match self.architecture {
            Architecture::Llama => size,
            a => format!("{a}-{size}"),
        }
    }

    /// The engine's configuration of this size trained under `t`.
    pub fn model_config(&self, t: &TrainingConfig, vocab: usize, eos: Option<u32>) -> ModelConfig {
        let sizes = (self.hidden, self.layers, self.heads, self.mlp_width());
        ModelConfig {
            num_key_value_heads: self.kv_heads.unwrap_or(self.heads),
            rope_theta: t.rope_theta,
            tie_word_embeddings: t.tie_embeddings,
            bos_token_id: eos,
            eos_token_id: eos,
            architecture: self.architecture,
            block: self.architecture.block(),
            ..ModelConfig::llama(vocab, sizes.0, sizes.1, sizes.2, sizes.3, t.seq_len)
        }
    }
}

/// Parses a study; `origin` names the file in errors.
pub fn parse_study(text: &str, origin: &str) -> Result<Study> {
    if text.trim().is_empty() {
        return Err(anyhow!(
            "{origin}: the study file is empty (copy studies/default.toml to start one, or give no file for the built-in default)"
        ));
    }
    let study: Study = toml::from_str(text).map_err(|e| {
        let msg = e.message().trim();
        let Some(start) = e.span().map(|s| s.start) else {
            return anyhow!("{origin}: {msg}");
        };
        let line = text[..start].matches('\n').count() + 1;
        match field_at(text, start) {
            Some(f) => anyhow!("{origin}:{line}: field `{f}`: {msg}"),
            None => anyhow!("{origin}:{line}: {msg}"),
        }
    })?;
    let given = |key: &str| {
        text.parse::<toml::Table>()
            .is_ok_and(|t| t.contains_key(key))
    };
    let mut bad = if study.checkpoints.is_empty() {
        validate(&study)
    } else {
        validate_checkpoints(&study)
    };
    bad.extend(repeated_entries(&study, text));
    if given("models") && given("checkpoints") {
        bad.insert(0, "field `checkpoints`: a study trains `[[models]]` or scores existing `[[checkpoints]]`, not both".into());
    }
    let located: Vec<String> = bad
        .iter()
        .map(|b| match field_of(b).and_then(|f| line_of(text, f)) {
            Some(line) => format!("{origin}:{line}: {b}"),
            None => format!("{origin}: {b}"),
        })
        .collect();
    match located.len() {
        0 => Ok(study),
        1 => Err(anyhow!("{}", located[0])),
        n => Err(anyhow!("{n} problems:\n  {}", located.join("\n  "))),
    }
}

/// A model size or a budget given twice: the grid would train one run twice under
/// one name (and count it twice).
fn repeated_entries(s: &Study, text: &str) -> Vec<String> {
    let mut bad = Vec::new();
    for (j, m) in s.models.iter().enumerate() {
        if let Some(i) = s.models[..j].iter().position(|p| p.name() == m.name()) {
            let first = line_of(text, &format!("models[{i}]"))
                .map_or(String::new(), |l| format!(" (line {l})"));
            bad.push(format!(
                "field `models[{j}]`: the run name {} is already `models[{i}]`'s{first}: each size is given once",
                m.name()
            ));
        }
    }
    let budgets = &s.training.budgets;
    for (j, b) in budgets.iter().enumerate() {
        if budgets[..j].contains(b) {
            bad.push(format!(
                "field `training.budgets`: {b} tokens is given twice: each budget is given once"
            ));
        }
    }
    bad
}

/// The field a problem names: `field `training.lr`: …` → `training.lr`.
fn field_of(problem: &str) -> Option<&str> {
    problem.strip_prefix("field `")?.split('`').next()
}

/// The line (1-based) where a dotted field is set: `training.lr`, `models[1].hidden`,
/// `models[0]` (its table), `threads`. None when the file leaves it at its default.
fn line_of(text: &str, field: &str) -> Option<usize> {
    let (head, key) = match field.split_once('.') {
        Some((t, k)) => (Some(t), Some(k)),
        None if field.contains('[') => (Some(field), None),
        None => (None, Some(field)),
    };
    let (table, index) = match head.map(|h| h.split_once('[').ok_or(h)) {
        Some(Ok((name, rest))) => (
            Some(name),
            Some(rest.trim_end_matches(']').parse::<usize>().ok()?),
        ),
        Some(Err(name)) => (Some(name), None),
        None => (None, None),
    };
    // Top-level keys come before the first table.
    let mut in_target = table.is_none();
    let mut seen = 0;
    for (n, raw) in text.lines().enumerate() {
        let l = raw.trim();
        if l.starts_with('[') {
            let name = l.trim_matches(|c| c == '[' || c == ']').trim();
            in_target = false;
            if Some(name) == table {
                seen += 1;
                in_target = index.is_none_or(|i| seen == i + 1);
                if in_target && key.is_none() {
                    return Some(n + 1);
                }
            }
            continue;
        }
        if let (true, Some(k), Some((name, _))) = (in_target, key, l.split_once('=')) {
            if name.trim() == k {
                return Some(n + 1);
            }
        }
    }
    None
}

/// The dotted name of the `key = value` on the line holding byte `offset`, with the
/// table it is in (`[training]` → `training.lr`): TOML's own errors name only the line.
fn field_at(text: &str, offset: usize) -> Option<String> {
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let (key, _) = text[start..].lines().next()?.split_once('=')?;
    let key = key.trim();
    if key.is_empty() || key.starts_with('[') {
        return None;
    }
    let table = text[..start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim());
    Some(match table {
        Some(t) => format!("{t}.{key}"),
        None => key.to_string(),
    })
}

pub fn load_study(path: Option<&Path>, quick: bool) -> Result<Study> {
    match path {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| anyhow!("{}: {e}", p.display()))?;
            parse_study(&text, &p.display().to_string())
        }
        None if quick => parse_study(QUICK_STUDY, "studies/quick.toml (built in)"),
        None => parse_study(DEFAULT_STUDY, "studies/default.toml (built in)"),
    }
}

/// Bytes one training run of a size holds at once: weights, gradients and AdamW's two
/// moments (4 bytes each per parameter), and the activations kept for the backward pass
/// (about 20 values per hidden unit per token and layer, the attention probabilities of
/// every layer and their gradient, the logits and their gradient).
fn training_bytes(m: &SizeConfig, t: &TrainingConfig, vocab: usize) -> f64 {
    let (h, l, v) = (m.hidden as f64, m.layers as f64, vocab as f64);
    let f = m.mlp_width() as f64;
    let heads = m.heads.max(1) as f64;
    let kv = m.kv_heads.unwrap_or(m.heads) as f64;
    let attention = h * h * (2.0 + 2.0 * kv / heads);
    let params =
        l * (attention + 3.0 * h * f + 2.0 * h) + v * h * if t.tie_embeddings { 1.0 } else { 2.0 };
    let tokens = (t.batch_size * t.seq_len) as f64;
    let attention_probs = tokens * heads * t.seq_len as f64 * (l + 1.0);
    let activations = tokens * (l * (20.0 * h + 3.0 * f) + 2.0 * v) + attention_probs;
    16.0 * params + 4.0 * activations
}

fn gib(bytes: f64) -> String {
    format!("{:.1} GiB", bytes / (1u64 << 30) as f64)
}

/// Largest sizes accepted before anything is computed from them.
const MAX_HIDDEN: usize = 1 << 16;
const MAX_LAYERS: usize = 1 << 10;
const MAX_SEQ_LEN: usize = 1 << 17;

fn check_models(s: &Study, bad: &mut Vec<String>) {
    if s.models.is_empty() {
        bad.push("field `models`: at least one model size is needed".into());
    }
    let memory = emergent_engine::machine_memory();
    for (i, m) in s.models.iter().enumerate() {
        let at = format!("models[{i}]");
        if m.layers == 0 || m.layers > MAX_LAYERS {
            bad.push(format!(
                "field `{at}.layers`: {} (1 to {MAX_LAYERS})",
                m.layers
            ));
        }
        if m.hidden == 0 || m.hidden > MAX_HIDDEN {
            bad.push(format!(
                "field `{at}.hidden`: {} (1 to {MAX_HIDDEN})",
                m.hidden
            ));
            continue;
        }
        if m.heads == 0 || m.hidden % m.heads != 0 {
            bad.push(format!(
                "field `{at}.heads`: hidden size {} is not divisible by {} heads",
                m.hidden, m.heads
            ));
            continue;
        }
        if (m.hidden / m.heads) % 2 != 0 {
            bad.push(format!(
                "field `{at}.heads`: head dimension {} must be even",
                m.hidden / m.heads
            ));
        }
        if let Some(kv) = m.kv_heads {
            if kv == 0 || m.heads % kv != 0 {
                bad.push(format!(
                    "field `{at}.kv_heads`: {} heads are not a multiple of {kv}",
                    m.heads
                ));
            }
        }
        if m.mlp.is_some_and(|f| f == 0 || f > 8 * MAX_HIDDEN) {
            bad.push(format!("field `{at}.mlp`: 1 to {}", 8 * MAX_HIDDEN));
        }
        let t = &s.training;
        if m.layers <= MAX_LAYERS && (2..=MAX_SEQ_LEN).contains(&t.seq_len) {
            // What the engine itself requires of the block (rotary dimensions, heads).
            if let Err(emergent_engine::EngineError::Invalid { field, message }) = m
                .model_config(t, s.tokenizer.vocab_size.max(1), None)
                .validate_shape()
            {
                bad.push(format!(
                    "field `{at}`: {} ({field}): {message}",
                    m.architecture
                ));
            }
        }
        if m.layers <= MAX_LAYERS && t.seq_len <= MAX_SEQ_LEN {
            let need = training_bytes(m, t, s.tokenizer.vocab_size);
            if let Some(have) = memory.filter(|have| need > 0.8 * have) {
                bad.push(format!(
                    "field `{at}`: training {} needs about {} (weights, gradients, optimiser state and activations at batch {} × {} tokens), more than 80% of this machine's {}",
                    m.name(), gib(need), t.batch_size, t.seq_len, gib(have)
                ));
            }
        }
    }
}

fn check_training(t: &TrainingConfig, bad: &mut Vec<String>) {
    let mut need = |ok: bool, field: &str, what: String| {
        if !ok {
            bad.push(format!("field `training.{field}`: {what}"));
        }
    };
    need(
        !t.budgets.is_empty(),
        "budgets",
        "at least one token budget is needed".into(),
    );
    need(
        t.budgets
            .iter()
            .all(|&b| b >= (t.batch_size * t.seq_len) as u64 && b > 0),
        "budgets",
        format!(
            "{:?}: each at least one step's tokens ({} × {})",
            t.budgets, t.batch_size, t.seq_len
        ),
    );
    need(
        t.batch_size > 0 && t.batch_size <= 1 << 16,
        "batch_size",
        format!("{} (1 to 65536)", t.batch_size),
    );
    need(
        (2..=MAX_SEQ_LEN).contains(&t.seq_len),
        "seq_len",
        format!("{} (2 to {MAX_SEQ_LEN})", t.seq_len),
    );
    need(
        t.lr.is_finite() && t.lr > 0.0,
        "lr",
        format!("{} (a positive number)", t.lr),
    );
    need(
        (0.0..=1.0).contains(&t.min_lr_ratio),
        "min_lr_ratio",
        format!("{} (0 to 1)", t.min_lr_ratio),
    );
    need(
        (0.0..1.0).contains(&t.beta1),
        "beta1",
        format!("{} (0 to below 1)", t.beta1),
    );
    need(
        (0.0..1.0).contains(&t.beta2),
        "beta2",
        format!("{} (0 to below 1)", t.beta2),
    );
    need(
        t.eps.is_finite() && t.eps > 0.0,
        "eps",
        format!("{} (positive)", t.eps),
    );
    need(
        t.weight_decay.is_finite() && t.weight_decay >= 0.0,
        "weight_decay",
        format!("{} (0 or more)", t.weight_decay),
    );
    need(
        t.max_grad_norm.is_finite() && t.max_grad_norm > 0.0,
        "max_grad_norm",
        format!("{} (positive)", t.max_grad_norm),
    );
    need(
        t.rope_theta.is_finite() && t.rope_theta > 0.0,
        "rope_theta",
        format!("{} (positive)", t.rope_theta),
    );
    need(
        t.checkpoints >= 1,
        "checkpoints",
        format!("{} (at least 1)", t.checkpoints),
    );
    need(
        t.first_checkpoint_tokens > 0,
        "first_checkpoint_tokens",
        "positive".into(),
    );
}

fn check_data(s: &Study, bad: &mut Vec<String>) {
    let c = &s.corpus;
    if !(0.0..1.0).contains(&c.validation_fraction) {
        bad.push("field `corpus.validation_fraction`: must be in [0, 1)".into());
    }
    if c.source == "builtin" {
        if c.world_towns < emergent_data::world::MIN_TOWNS {
            bad.push(format!(
                "field `corpus.world_towns`: at least {} (reading passages need them)",
                emergent_data::world::MIN_TOWNS
            ));
        }
        if c.builtin_documents == 0 {
            bad.push("field `corpus.builtin_documents`: at least 1".into());
        }
        if let Err(e) = emergent_data::world::genre_mix(&c.genre_shares()) {
            bad.push(format!("field `corpus.genres`: {e}"));
        }
    } else if let Err(e) = std::fs::File::open(&c.source) {
        bad.push(format!("field `corpus.source`: {}: {e}", c.source));
    }
    match &s.tokenizer.path {
        Some(p) => {
            if let Err(e) = std::fs::File::open(p) {
                bad.push(format!("field `tokenizer.path`: {p}: {e}"));
            }
        }
        None if !(260..=1 << 20).contains(&s.tokenizer.vocab_size) => bad.push(format!(
            "field `tokenizer.vocab_size`: {} (260 to {}: 256 bytes + merges + special)",
            s.tokenizer.vocab_size,
            1 << 20
        )),
        None => {}
    }
    check_tasks(&s.eval, bad);
}

fn check_tasks(e: &EvalConfig, bad: &mut Vec<String>) {
    for t in &e.tasks {
        if !emergent_data::TASK_NAMES.contains(&t.as_str()) && !Path::new(t).is_file() {
            bad.push(format!(
                "field `eval.tasks`: `{t}` is neither a built-in task ({}) nor a task spec file",
                emergent_data::TASK_NAMES.join(", ")
            ));
        }
    }
    if e.documents == 0 {
        bad.push("field `eval.documents`: at least 1".into());
    }
}

/// An entry names a path, or a repository with its revisions; `keep` goes with a
/// repository. The problem starts with its field's name.
fn checkpoints_source(c: &CheckpointsConfig) -> std::result::Result<(), String> {
    match (&c.repo, c.path.trim().is_empty()) {
        (Some(_), false) => {
            Err("path`: give `path` (folders, files) or `repo` (a Hub repository), not both".into())
        }
        (None, true) => Err("path`: empty (give `path`, or `repo` with `revisions`)".into()),
        (None, false) if !c.revisions.is_empty() => {
            Err("revisions`: revisions go with `repo`".into())
        }
        (None, false) if !c.keep => Err(
            "keep`: `keep = false` goes with `repo`: emergent deletes only what it fetched".into(),
        ),
        (None, false) => Ok(()),
        (Some(repo), true) => {
            emergent_hub::RepoId::parse(repo).map_err(|e| format!("repo`: {e}"))?;
            if c.revisions.is_empty() {
                return Err("revisions`: none (names such as \"step1000\", or patterns such as \"step{1000..143000..1000}\")".into());
            }
            Ok(())
        }
    }
}

/// Every problem of a study of existing checkpoints: its entries, its validation text
/// and its tasks (the grid's fields are not used).
fn validate_checkpoints(s: &Study) -> Vec<String> {
    let mut bad = Vec::new();
    for (i, c) in s.checkpoints.iter().enumerate() {
        bad.extend(
            checkpoints_source(c)
                .err()
                .map(|e| format!("field `checkpoints[{i}].{e}")),
        );
        if c.tokens_per_step == Some(0) {
            bad.push(format!(
                "field `checkpoints[{i}].tokens_per_step`: positive"
            ));
        }
    }
    match &s.validation {
        None => bad.push("field `validation`: a study of checkpoints needs `[validation] text = \"FILE\"`, the text whose loss is the x axis".into()),
        Some(v) => {
            if let Err(e) = std::fs::File::open(&v.text) {
                bad.push(format!("field `validation.text`: {}: {e}", v.text.display()));
            }
        }
    }
    check_tasks(&s.eval, &mut bad);
    bad
}

/// Every problem of a study, found in one pass before any work starts.
fn validate(s: &Study) -> Vec<String> {
    let mut bad = Vec::new();
    check_models(s, &mut bad);
    check_training(&s.training, &mut bad);
    check_data(s, &mut bad);
    if s.seeds == 0 {
        bad.push("field `seeds`: at least 1".into());
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if s.threads > 4 * cores {
        bad.push(format!(
            "field `threads`: {} on a machine with {cores} cores (at most {}; 0 for one per core)",
            s.threads,
            4 * cores
        ));
    }
    bad
}

impl Study {
    /// The built-in world of this study's seed and sizes.
    pub(crate) fn world(&self) -> emergent_data::World {
        emergent_data::World::new(self.seed, self.corpus.world_people, self.corpus.world_towns)
    }
}

impl CorpusConfig {
    /// The genres' shares asked for: `genres`, or the default mix.
    pub(crate) fn genre_shares(&self) -> Vec<(&str, f64)> {
        match &self.genres {
            Some(g) => g.iter().map(|(k, v)| (k.as_str(), *v)).collect(),
            None => emergent_data::world::default_shares(),
        }
    }
}

/// `out/study.toml`: the study the results beside it came from. Written only once the
/// study is accepted over what `out` already holds.
pub fn write_study_file(study: &Study, out: &Path) -> Result<()> {
    let path = out.join("study.toml");
    // A study of existing checkpoints has no grid: its file names none.
    let written = Study {
        models: if study.checkpoints.is_empty() {
            study.models.clone()
        } else {
            Vec::new()
        },
        ..study.clone()
    };
    emergent_files::write_atomic(&path, toml::to_string(&written)?.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_studies_parse_and_defaults_match_the_documented_file() {
        let default = parse_study(DEFAULT_STUDY, "default").unwrap();
        assert_eq!(
            default,
            Study::default(),
            "studies/default.toml must document the defaults exactly"
        );
        parse_study(QUICK_STUDY, "quick").unwrap();
    }

    #[test]
    fn the_device_is_one_this_build_has() {
        let cpu = parse_study("device = \"cpu\"\n", "s.toml").unwrap();
        assert_eq!(cpu.device, Backend::Cpu);
        let e = format!(
            "{:#}",
            parse_study("seed = 1\ndevice = \"cuda\"\n", "s.toml").unwrap_err()
        );
        assert!(
            e.contains("s.toml:2") && e.contains("cuda") && e.contains("cpu"),
            "{e}"
        );
        // The CPU is the default and is not written: a study file keeps its bytes.
        assert!(!toml::to_string(&cpu).unwrap().contains("device"));
    }

    #[test]
    fn the_pilot_studies_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../studies/pilots");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let text = std::fs::read_to_string(&path).unwrap();
                parse_study(&text, &path.display().to_string()).unwrap();
                n += 1;
            }
        }
        assert!(n >= 2, "{n} pilot studies in {}", dir.display());
    }

    #[test]
    fn genres_must_be_the_worlds_with_a_positive_share() {
        let parse = |genres: &str| parse_study(&format!("[corpus]\ngenres = {genres}\n"), "s.toml");
        assert!(parse("{ binding = 2, reading = 1 }").is_ok());
        let e = parse("{ poems = 1 }").unwrap_err().to_string();
        assert!(
            e.contains("s.toml:2: field `corpus.genres`") && e.contains("`poems`"),
            "{e}"
        );
        assert!(parse("{ facts = 0 }").is_err());
    }

    #[test]
    fn unknown_fields_and_wrong_types_name_the_field() {
        let e = parse_study("[training]\nbatchsize = 3\n", "s.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("s.toml:2") && e.contains("batchsize"), "{e}");
        let e = parse_study("[training]\nlr = \"fast\"\n", "s.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("s.toml:2") && e.contains("invalid type"), "{e}");
        assert!(e.contains("field `training.lr`"), "{e}");
        let e = parse_study("seed = 1\n[eval]\nnum_fewshot = \"x\"\n", "s.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("s.toml:3: field `eval.num_fewshot`"), "{e}");
        let e = parse_study("[[models]]\nlayers = 1\nhidden = 30\nheads = 4\n", "s.toml")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("models[0].heads") && e.contains("not divisible"),
            "{e}"
        );
    }

    #[test]
    fn a_checkpoints_entry_names_a_path_or_a_repository_with_revisions() {
        let e = |entry: &str| {
            let text = format!("[[checkpoints]]\n{entry}\n[validation]\ntext = \"Cargo.toml\"\n");
            parse_study(&text, "s.toml").err().map(|e| format!("{e:#}"))
        };
        assert_eq!(e("repo = \"EleutherAI/pythia-160m\"\nrevisions = [\"step{1000..3000..1000}\"]\nkeep = false"), None);
        assert_eq!(e("path = \"runs/*/step-*\""), None);
        for (entry, says) in [
            ("repo = \"a/b\"", "revisions`: none"),
            (
                "repo = \"gpt2\"\nrevisions = [\"main\"]",
                "is not a Hub repository",
            ),
            (
                "repo = \"a/b\"\npath = \"x\"\nrevisions = [\"main\"]",
                "not both",
            ),
            (
                "path = \"x\"\nkeep = false",
                "keep = false` goes with `repo`",
            ),
            (
                "path = \"x\"\nrevisions = [\"main\"]",
                "revisions go with `repo`",
            ),
            ("tokens_per_step = 4", "path`: empty"),
        ] {
            let got = e(entry).unwrap_or_default();
            assert!(
                got.contains("checkpoints[0].") && got.contains(says),
                "{entry}: {got}"
            );
        }
    }

    #[test]
    fn range_errors_name_their_line() {
        let text = "seed = 1\nthreads = 100000\n[[models]]\nlayers = 1\nhidden = 32\nheads = 2\n[[models]]\nlayers = 0\nhidden = 32\nheads = 2\n[training]\nbatch_size = 4\nlr = -1.0\n";
        let e = parse_study(text, "s.toml").unwrap_err().to_string();
        assert!(e.contains("s.toml:2: field `threads`"), "{e}");
        assert!(e.contains("s.toml:8: field `models[1].layers`"), "{e}");
        assert!(e.contains("s.toml:13: field `training.lr`"), "{e}");
    }

    #[test]
    fn a_size_or_budget_given_twice_is_refused_naming_both_lines() {
        let text = "[[models]]\nlayers = 2\nhidden = 32\nheads = 2\n[[models]]\nlayers = 2\nhidden = 48\nheads = 2\n[[models]]\nlayers = 2\nhidden = 32\nheads = 4\n[training]\nbudgets = [100000, 200000, 100000]\n";
        let e = parse_study(text, "s.toml").unwrap_err().to_string();
        assert!(
            e.contains("s.toml:9: field `models[2]`") && e.contains("`models[0]`'s (line 1)"),
            "{e}"
        );
        assert!(
            e.contains("s.toml:14: field `training.budgets`: 100000 tokens is given twice"),
            "{e}"
        );
    }

    #[test]
    fn long_sequences_are_refused_for_their_attention_memory() {
        let text = "[[models]]\nlayers = 2\nhidden = 64\nheads = 4\n[training]\nbatch_size = 8\nseq_len = 65536\nbudgets = [10000000]\n";
        let e = parse_study(text, "s.toml").unwrap_err().to_string();
        assert!(
            e.contains("field `models[0]`") && e.contains("needs about"),
            "{e}"
        );
        let short = text.replace("65536", "256");
        parse_study(&short, "s.toml").unwrap();
    }

    #[test]
    fn architectures_are_named_and_their_blocks_checked() {
        let text = "[[models]]\narchitecture = \"gpt_neox\"\nlayers = 1\nhidden = 32\nheads = 8\n[[models]]\narchitecture = \"gpt_neox\"\nlayers = 1\nhidden = 32\nheads = 2\nkv_heads = 1\n";
        let e = parse_study(text, "s.toml").unwrap_err().to_string();
        assert!(
            e.contains("s.toml:1: field `models[0]`") && e.contains("partial_rotary_factor"),
            "{e}"
        );
        assert!(
            e.contains("models[1]") && e.contains("grouped-query"),
            "{e}"
        );
        let e = parse_study("[[models]]\narchitecture = \"mamba\"\n", "s.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("s.toml:2") && e.contains("mamba"), "{e}");
        let ok = parse_study(
            "[[models]]\narchitecture = \"olmo2\"\nlayers = 1\nhidden = 32\nheads = 4\nkv_heads = 2\n",
            "s.toml",
        )
        .unwrap();
        assert_eq!(ok.models[0].name(), "olmo2-d32-l1");
    }
}
