//! `emergent bench eval`: scoring speed on one model and a task set, as one JSON line
//! that `bench/eval_compare.sh` sets beside lm-evaluation-harness's.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use clap::Args;
use emergent_engine::{matmul_peak_gflops, Backend, LanguageModel, ModelConfig, ScoreGroup};
use emergent_eval::{evaluate, load_model, load_task_with_data, EvalOptions, Scorer};

#[derive(Args, Clone)]
pub struct BenchEvalArgs {
    /// A Hugging Face LLaMA checkpoint directory or a GGUF file.
    #[arg(long)]
    model: PathBuf,
    /// Tasks, comma-separated: spec files or names of shipped specs.
    #[arg(long, value_delimiter = ',', required = true)]
    tasks: Vec<PathBuf>,
    /// Where shipped specs' JSONL lives (as `emergent eval --data`).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Score at most this many documents per task.
    #[arg(long)]
    limit: Option<usize>,
    /// Override the tasks' few-shot count.
    #[arg(long)]
    num_fewshot: Option<usize>,
    /// Tokens per forward pass when scoring (EvalOptions::batch_tokens).
    #[arg(long, default_value_t = EvalOptions::default().batch_tokens)]
    batch_tokens: usize,
    /// Worker threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Where the model scores (`cpu`, the only device of this build).
    #[arg(long, default_value = "cpu")]
    device: Backend,
}

/// Sizes the global thread pool (0: one thread per core). Ignored when the pool exists
/// already (only in tests that call twice).
pub fn set_threads(threads: usize) {
    if threads > 0 {
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build_global();
    }
}

pub fn bench_eval(args: &BenchEvalArgs) -> Result<()> {
    set_threads(args.threads);
    let started = Instant::now();
    let (mut model, tokenizer) = load_model(&args.model, args.device)?;
    let load_s = started.elapsed().as_secs_f64();
    let opts = EvalOptions {
        limit: args.limit,
        num_fewshot: args.num_fewshot,
        batch_tokens: args.batch_tokens,
        ..EvalOptions::default()
    };
    let mut counted = Counted::new(model.as_mut());
    let (mut docs, mut requests, mut score_s) = (0usize, 0usize, 0f64);
    for name in &args.tasks {
        let task = load_task_with_data(&crate::task_path(name), args.data.as_deref())?;
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
        "threads": rayon::current_num_threads(),
        "docs": docs,
        "requests": requests,
        "load_s": load_s,
        "score_s": score_s,
        "model_s": counted.model_s,
        "docs_per_s": docs as f64 / score_s,
        "token_rows": counted.rows,
        "head_rows": counted.head_rows,
        "gflops": gflops,
        "matmul_peak_gflops": limit,
        "matmul_limit_fraction": gflops / limit,
        "model_gflops": model_gflops,
        "model_matmul_limit_fraction": model_gflops / limit,
        "peak_rss_mb": peak_rss,
    });
    println!("{line}");
    Ok(())
}

/// Peak resident memory of this process (Linux's VmHWM), in MB.
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb / 1024.0)
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
