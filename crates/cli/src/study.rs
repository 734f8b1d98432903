//! The study file: every field has a default, documented in `studies/default.toml`;
//! unknown fields and wrong types are errors that name the field.

use std::path::Path;

use anyhow::{anyhow, Result};
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
    pub corpus: CorpusConfig,
    pub tokenizer: TokenizerConfig,
    pub models: Vec<SizeConfig>,
    pub training: TrainingConfig,
    pub eval: EvalConfig,
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
    pub layers: usize,
    pub hidden: usize,
    pub heads: usize,
    #[serde(default)]
    pub kv_heads: Option<usize>,
    #[serde(default)]
    pub mlp: Option<usize>,
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
            corpus: CorpusConfig::default(),
            tokenizer: TokenizerConfig::default(),
            models: [(1, 32, 2), (2, 48, 3), (2, 64, 4), (3, 80, 4), (4, 96, 4)]
                .map(|(layers, hidden, heads)| SizeConfig {
                    layers,
                    hidden,
                    heads,
                    kv_heads: None,
                    mlp: None,
                })
                .to_vec(),
            training: TrainingConfig::default(),
            eval: EvalConfig::default(),
        }
    }
}

impl Default for CorpusConfig {
    fn default() -> Self {
        CorpusConfig {
            source: "builtin".into(),
            text_field: "text".into(),
            domain_field: None,
            builtin_documents: 60000,
            world_people: 200,
            world_towns: 16,
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
            budgets: vec![800_000, 1_600_000, 3_200_000],
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
            documents: 400,
            num_fewshot: None,
        }
    }
}

impl SizeConfig {
    /// SwiGLU width: 8/3 of the hidden size rounded up to a multiple of 8, unless given.
    pub fn mlp_width(&self) -> usize {
        self.mlp
            .unwrap_or_else(|| (self.hidden * 8 / 3).div_ceil(8) * 8)
    }

    pub fn name(&self) -> String {
        format!("d{}-l{}", self.hidden, self.layers)
    }
}

/// Parses a study; `origin` names the file in errors.
pub fn parse_study(text: &str, origin: &str) -> Result<Study> {
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
    validate(&study).map_err(|e| anyhow!("{origin}: {e}"))?;
    Ok(study)
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

fn validate(s: &Study) -> Result<()> {
    if s.models.is_empty() {
        return Err(anyhow!("field `models`: at least one model size is needed"));
    }
    for (i, m) in s.models.iter().enumerate() {
        if m.heads == 0 || m.hidden % m.heads != 0 {
            return Err(anyhow!(
                "field `models[{i}].heads`: hidden size {} is not divisible by {} heads",
                m.hidden,
                m.heads
            ));
        }
        if (m.hidden / m.heads) % 2 != 0 {
            return Err(anyhow!(
                "field `models[{i}].heads`: head dimension {} must be even",
                m.hidden / m.heads
            ));
        }
        if let Some(kv) = m.kv_heads {
            if kv == 0 || m.heads % kv != 0 {
                return Err(anyhow!(
                    "field `models[{i}].kv_heads`: {} heads are not a multiple of {kv}",
                    m.heads
                ));
            }
        }
    }
    let t = &s.training;
    if t.budgets.is_empty() {
        return Err(anyhow!(
            "field `training.budgets`: at least one token budget is needed"
        ));
    }
    if t.batch_size == 0 || t.seq_len < 2 {
        return Err(anyhow!(
            "field `training.batch_size`/`training.seq_len`: must be positive (seq_len ≥ 2)"
        ));
    }
    if !(0.0..1.0).contains(&s.corpus.validation_fraction) {
        return Err(anyhow!(
            "field `corpus.validation_fraction`: must be in [0, 1)"
        ));
    }
    if s.seeds == 0 {
        return Err(anyhow!("field `seeds`: at least 1"));
    }
    if s.corpus.world_towns < emergent_data::world::MIN_TOWNS {
        return Err(anyhow!(
            "field `corpus.world_towns`: at least {} (reading passages need them)",
            emergent_data::world::MIN_TOWNS
        ));
    }
    if s.tokenizer.vocab_size < 260 && s.tokenizer.path.is_none() {
        return Err(anyhow!(
            "field `tokenizer.vocab_size`: at least 260 (256 bytes + merges + special)"
        ));
    }
    Ok(())
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
}
