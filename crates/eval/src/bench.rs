//! Scoring speed on one model and a task set or text files scored as rolling windows
//! (`emergent bench eval`): documents and scored tokens per second, the floating-point
//! work done and its share of the machine's matrix-multiply
//! limit, and peak memory, as one JSON object that `bench/eval_compare.sh` sets beside
//! lm-evaluation-harness's.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use emergent_engine::{
    matmul_peak_gflops, peak_rss_mb, Backend, LanguageModel, ModelConfig, ScoreGroup,
};
use serde_json::Value as Json;

use crate::{evaluate, load_model, load_task_with_data, EvalOptions, Scorer, Task};

/// What to score, and how.
#[derive(Clone, Debug)]
pub struct EvalBench {
    /// A checkpoint directory or a GGUF file.
    pub model: PathBuf,
    /// Task spec files.
    pub tasks: Vec<PathBuf>,
    /// Text files, each scored as one document's rolling windows (perplexity).
    pub texts: Vec<PathBuf>,
    /// Where the specs' data files live when not beside them.
    pub data: Option<PathBuf>,
    pub limit: Option<usize>,
    pub num_fewshot: Option<usize>,
    pub batch_tokens: usize,
    /// The context in tokens (lm-eval's `max_length`); the model's own when absent.
    pub max_length: Option<usize>,
    pub backend: Backend,
}

/// Scores every task once and measures it.
pub fn bench_eval(args: &EvalBench) -> Result<Json> {
    let started = Instant::now();
    let (mut model, tokenizer) = load_model(&args.model, args.backend)?;
    let load_s = started.elapsed().as_secs_f64();
    let opts = EvalOptions {
        limit: args.limit,
        num_fewshot: args.num_fewshot,
        batch_tokens: args.batch_tokens,
        max_length: args.max_length,
        ..EvalOptions::default()
    };
    let mut counted = Counted::new(model.as_mut());
    let (mut docs, mut requests, mut score_s) = (0usize, 0usize, 0f64);
    let texts = args.texts.iter().map(|t| Task::from_text_file(t));
    let tasks = args
        .tasks
        .iter()
        .map(|name| load_task_with_data(name, args.data.as_deref()))
        .chain(texts);
    for task in tasks {
        let task = task?;
        let mut scorer = Scorer {
            model: &mut counted,
            tokenizer: &tokenizer,
        };
        let t = Instant::now();
        let (result, records) = evaluate(&mut scorer, &task, &opts, &mut |_| {})?;
        score_s += t.elapsed().as_secs_f64();
        docs += result.n_docs;
        requests += records.iter().map(|r| r.continuations.len()).sum::<usize>();
    }
    let peak_rss = peak_rss_mb(); // before the limit's own buffers
    let limit = matmul_peak_gflops();
    let gflops = counted.flops / score_s / 1e9;
    let model_gflops = counted.flops / counted.model_s / 1e9;
    let line = serde_json::json!({
        "bench": "eval",
        "model": args.model,
        "tasks": args.tasks,
        "texts": args.texts,
        "threads": rayon::current_num_threads(),
        "docs": docs,
        "requests": requests,
        "load_s": load_s,
        "score_s": score_s,
        "model_s": counted.model_s,
        "docs_per_s": docs as f64 / score_s,
        "token_rows": counted.rows,
        "head_rows": counted.head_rows,
        "scored_tokens_per_s": counted.head_rows as f64 / score_s,
        "gflops": gflops,
        "matmul_peak_gflops": limit,
        "matmul_limit_fraction": gflops / limit,
        "model_gflops": model_gflops,
        "model_matmul_limit_fraction": model_gflops / limit,
        "peak_rss_mb": peak_rss,
    });
    Ok(line)
}

/// A model that counts the floating-point work of what passes through it: 2 FLOPs per
/// matrix-multiplied parameter per token row, attention's 2·2·(positions attended)·width
/// per layer per row, and the output head only on the rows whose log-probability is read.
struct Counted<'a> {
    model: &'a mut dyn LanguageModel,
    flops: f64,
    rows: usize,
    head_rows: usize,
    /// Seconds spent inside the model (the rest of scoring is tokenising and bookkeeping).
    model_s: f64,
}

impl<'a> Counted<'a> {
    fn new(model: &'a mut dyn LanguageModel) -> Self {
        Counted {
            model,
            flops: 0.0,
            rows: 0,
            head_rows: 0,
            model_s: 0.0,
        }
    }

    /// Rows at positions `start..start + n` of one sequence.
    fn rows_at(&mut self, start: usize, n: usize) {
        let c: &ModelConfig = self.model.config();
        // RMSNorm weights are not multiplied as matrices.
        let norms = (2 * c.num_hidden_layers + 1) * c.hidden_size;
        let matmul = (c.non_embedding_params() - norms) as f64;
        let attended = (start..start + n).map(|p| p as f64 + 1.0).sum::<f64>();
        let width = (c.num_hidden_layers * c.q_dim()) as f64;
        self.flops += 2.0 * matmul * n as f64 + 4.0 * width * attended;
        self.rows += n;
    }

    fn head(&mut self, n: usize) {
        let c = self.model.config();
        self.flops += 2.0 * (c.vocab_size * c.hidden_size) as f64 * n as f64;
        self.head_rows += n;
    }
}

impl LanguageModel for Counted<'_> {
    fn config(&self) -> &ModelConfig {
        self.model.config()
    }

    fn next_token_logprobs(&mut self, tokens: &[u32]) -> Vec<(f64, bool)> {
        self.rows_at(0, tokens.len());
        self.head(tokens.len());
        self.model.next_token_logprobs(tokens)
    }

    fn score_groups(&mut self, groups: &[ScoreGroup]) -> Vec<Vec<Vec<(f64, bool)>>> {
        for g in groups {
            self.rows_at(0, g.shared.len());
            for (tail, &scored) in g.tails.iter().zip(&g.scored) {
                self.rows_at(g.shared.len(), tail.len());
                self.head(scored);
            }
        }
        let t = Instant::now();
        let out = self.model.score_groups(groups);
        self.model_s += t.elapsed().as_secs_f64();
        out
    }

    fn greedy_batch(
        &mut self,
        prompts: &[Vec<u32>],
        max_new: usize,
        stop: &mut dyn FnMut(usize, &[u32]) -> bool,
    ) -> Vec<Vec<u32>> {
        let t = Instant::now();
        let out = self.model.greedy_batch(prompts, max_new, stop);
        self.model_s += t.elapsed().as_secs_f64();
        for (p, o) in prompts.iter().zip(&out) {
            self.rows_at(0, p.len() + o.len().saturating_sub(1));
            self.head(o.len());
        }
        out
    }

    fn sum_nll(&mut self, inputs: &[u32], targets: &[u32], b: usize, t: usize) -> f64 {
        for _ in 0..b {
            self.rows_at(0, t);
        }
        self.head(b * t);
        self.model.sum_nll(inputs, targets, b, t)
    }
}
