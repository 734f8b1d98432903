//! `emergent bench eval`: the flags of a scoring-speed measurement
//! (`emergent_eval::bench`), and the thread pool every command sizes.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use emergent_engine::Backend;
use emergent_eval::bench::EvalBench;
use emergent_eval::EvalOptions;

#[derive(Args, Clone)]
pub struct BenchEvalArgs {
    /// A Hugging Face LLaMA checkpoint directory or a GGUF file.
    #[arg(long)]
    model: PathBuf,
    /// Tasks, comma-separated: spec files or names of shipped specs.
    #[arg(long, value_delimiter = ',', required_unless_present = "text")]
    tasks: Vec<PathBuf>,
    /// A text file scored as rolling windows, as lm-eval scores perplexity (repeatable).
    #[arg(long)]
    text: Vec<PathBuf>,
    /// The context in tokens (lm-eval's `max_length`); the model's own when absent.
    #[arg(long)]
    max_length: Option<usize>,
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

/// Runs `emergent bench eval`; prints one JSON line.
pub fn bench_eval(args: &BenchEvalArgs) -> Result<()> {
    set_threads(args.threads);
    let bench = EvalBench {
        model: args.model.clone(),
        tasks: args.tasks.iter().map(|t| crate::task_path(t)).collect(),
        data: args.data.clone(),
        limit: args.limit,
        num_fewshot: args.num_fewshot,
        batch_tokens: args.batch_tokens,
        max_length: args.max_length,
        texts: args.text.clone(),
        backend: args.device,
    };
    println!("{}", emergent_eval::bench::bench_eval(&bench)?);
    Ok(())
}
