//! `emergent eval --model M`: one model on tasks, with lm-evaluation-harness's flags
//! and output files beside emergent's own. The scoring and writing is
//! `emergent_eval::harness`; this file turns flags into its request and draws it.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;

use emergent_eval::harness::{self, Observer, Outcome, Request};
use emergent_eval::{lmeval_table, TaskResult};

#[derive(Args, Clone, Default)]
pub struct EvalArgs {
    /// The study file (TOML); the built-in default study when absent.
    pub study: Option<PathBuf>,
    /// The output directory: the study's (default emergent-out), or with --model
    /// the one that receives results.json (aggregates) and samples.jsonl
    /// (per-document records).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Use the built-in quick study when no file is given.
    #[arg(long)]
    pub quick: bool,
    /// With a study: only these runs' checkpoints (names, or indices in the grid).
    #[arg(long = "run")]
    pub runs: Vec<String>,
    /// The model scored outside a study: a Hugging Face checkpoint directory (safetensors
    /// or pytorch_model.bin) or a GGUF file, or lm-eval's model type `hf` with
    /// `--model_args pretrained=PATH`. Repeat it, or give a quoted pattern
    /// (`'ladder/*/step-*'`), to score several, each into its own results folder. As in
    /// transformers, a path that exists wins; otherwise ORG/NAME is a Hugging Face Hub
    /// repository, taken from the Hub's cache (HF_HUB_CACHE, HF_HOME) or fetched into it
    /// (HF_ENDPOINT, HF_TOKEN; HF_HUB_OFFLINE=1 uses the cache alone).
    #[arg(long)]
    pub model: Vec<String>,
    /// lm-eval's `key=value,…`: pretrained, revision, max_length, add_bos_token, dtype
    /// (float32).
    #[arg(long = "model_args", alias = "model-args")]
    pub model_args: Option<String>,
    /// The revision of a Hub repository --model names: a branch, tag or commit
    /// (`step1000`); `main` when neither this nor `revision=` in --model_args names one.
    #[arg(long)]
    pub revision: Option<String>,
    /// Tasks, comma-separated: lm-eval YAML configs (.yaml), folders of them, TOML specs,
    /// or names of tasks, groups and tags (in --include_path folders and shipped tasks/).
    #[arg(long, value_delimiter = ',')]
    pub tasks: Vec<String>,
    /// Folders of lm-eval YAML task configs whose tasks --tasks can name (repeatable).
    #[arg(long = "include_path", alias = "include-path")]
    pub include_path: Vec<PathBuf>,
    /// Perplexity on text files: word and byte perplexity and bits per byte over each
    /// file, in lm-eval's rolling windows (repeatable).
    #[arg(long)]
    pub text: Vec<PathBuf>,
    /// Documents per task: a count, or a fraction of each task below 1 (as lm-eval).
    #[arg(long)]
    pub limit: Option<String>,
    /// Override the tasks' few-shot count.
    #[arg(long = "num_fewshot", alias = "num-fewshot")]
    pub num_fewshot: Option<usize>,
    /// Prompts decoded together: N, `auto` or `auto:N` (the numbers never change).
    #[arg(long = "batch_size", alias = "batch-size")]
    pub batch_size: Option<String>,
    /// Where models score: `cpu` (the only device of this build).
    #[arg(long)]
    pub device: Option<String>,
    /// lm-eval's results JSON goes to PATH/<model>/results_<date>.json, or to PATH_<date>.json
    /// when PATH ends in .json; the folder is created before scoring starts.
    #[arg(long = "output_path", alias = "output-path", short = 'o')]
    pub output_path: Option<PathBuf>,
    /// Also write lm-eval's per-sample JSONL beside the results (needs --output_path).
    #[arg(long = "log_samples", alias = "log-samples", short = 's')]
    pub log_samples: bool,
    /// lm-eval's seeds: one number for all, or `python,numpy,torch,fewshot` (default
    /// 0,1234,1234,1234); only the few-shot seed changes what is scored.
    #[arg(long)]
    pub seed: Option<String>,
    /// Wrap each prompt in the model's chat template (tokenizer_config.json).
    #[arg(long = "apply_chat_template", alias = "apply-chat-template")]
    pub apply_chat_template: bool,
    /// A system message: the chat template's system turn, or put before the prompt.
    #[arg(long = "system_instruction", alias = "system-instruction")]
    pub system_instruction: Option<String>,
    /// Worker threads (all cores when absent).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Score a continuation longer than the model's context on its last tokens (the
    /// record is marked) instead of refusing it as lm-eval does.
    #[arg(long = "score-long-continuations")]
    pub score_long_continuations: bool,
    /// Where the data of shipped specs and of `dataset_path` tasks lives: DIR/TASK/FILE,
    /// DIR/FILE, or DIR/<dataset_path>/<dataset_name>/<split>.{jsonl,json,csv,parquet}.
    #[arg(long)]
    pub data: Option<PathBuf>,
}

impl EvalArgs {
    /// Whether any flag that only means something with --model is set.
    pub fn model_flags_given(&self) -> bool {
        !self.tasks.is_empty()
            || !self.text.is_empty()
            || self.output_path.is_some()
            || self.model_args.is_some()
            || self.revision.is_some()
    }
}

/// Scores every model `--model` names (patterns expanded), each into its own folder.
pub fn eval_models(args: &EvalArgs) -> Result<()> {
    if args.study.is_some() {
        bail!("give either a study or --model, not both");
    }
    if !args.runs.is_empty() {
        bail!("--run names runs of a study; it does not go with --model");
    }
    let mut models = Vec::new();
    for m in &args.model {
        if emergent_files::glob::is_pattern(m) {
            let found = emergent_files::glob::expand(m);
            if found.is_empty() {
                bail!("--model {m}: the pattern matches nothing");
            }
            models.extend(found.into_iter().map(|p| p.display().to_string()));
        } else {
            models.push(m.clone());
        }
    }
    crate::bench::set_threads(args.threads.unwrap_or(0));
    let mut drawn = Drawn {
        bar: None,
        fetch: crate::draw::FetchBar::default(),
    };
    harness::score_models(&args.request(), &models, &mut drawn)
}

impl EvalArgs {
    fn request(&self) -> Request {
        Request {
            model: String::new(),
            model_args: self.model_args.clone(),
            revision: self.revision.clone(),
            tasks: self.tasks.clone(),
            include_path: self.include_path.clone(),
            shipped: crate::shipped_tasks_dir(),
            text: self.text.clone(),
            limit: self.limit.clone(),
            num_fewshot: self.num_fewshot,
            batch_size: self.batch_size.clone(),
            device: self.device.clone(),
            output_path: self.output_path.clone(),
            log_samples: self.log_samples,
            seed: self.seed.clone(),
            apply_chat_template: self.apply_chat_template,
            system_instruction: self.system_instruction.clone(),
            score_long_continuations: self.score_long_continuations,
            data: self.data.clone(),
            out: self.out.clone(),
        }
    }
}

/// A progress bar per task; messages on stderr; each model's table on stdout.
struct Drawn {
    bar: Option<indicatif::ProgressBar>,
    fetch: crate::draw::FetchBar,
}

impl Observer for Drawn {
    fn task(&mut self, name: &str, docs: u64) {
        self.bar = Some(crate::progress_bar(docs, name));
    }
    fn advance(&mut self, docs: u64) {
        if let Some(b) = &self.bar {
            b.inc(docs);
        }
    }
    fn task_done(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
    fn say(&mut self, line: &str) {
        eprintln!("{line}");
    }
    fn scored(&mut self, outcome: &Outcome) {
        print!("{}", lmeval_table(&outcome.results));
        print_continuous(outcome.scored.iter());
    }
    fn fetch(&mut self, file: &str, done: u64, total: u64) {
        self.fetch.update(file, done, total);
    }
}

/// emergent's continuous metrics (probability of the answer, Brier score), which lm-eval
/// does not report.
fn print_continuous<'a>(results: impl Iterator<Item = &'a TaskResult>) {
    let mut lines = Vec::new();
    for r in results {
        for m in r
            .metrics
            .iter()
            .filter(|m| emergent_metrics::own_continuous().any(|c| c.name == m.metric))
        {
            lines.push(format!(
                "{:<24} {:<26} {:>10.4} ± {:.4}",
                r.task, m.metric, m.value, m.stderr
            ));
        }
        if r.truncated > 0 {
            lines.push(format!(
                "{:<24} {} of {} prompts left-truncated to fit the context",
                r.task, r.truncated, r.n_docs
            ));
        }
    }
    if !lines.is_empty() {
        println!("\ncontinuous metrics (emergent):");
        for l in lines {
            println!("{l}");
        }
    }
}
