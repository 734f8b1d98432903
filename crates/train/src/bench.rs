//! Training and forward speed of one model shape on random tokens (`emergent bench train`,
//! `emergent bench forward`), as one JSON object that `bench/compare.sh` sets beside
//! `bench/pytorch_reference.py`'s (the same fields).

use std::time::Instant;

use emergent_engine::{
    matmul_peak_gflops, peak_rss_mb, AdamW, AdamWConfig, Backend, ModelConfig, Rng,
};
use serde_json::Value as Json;

/// One benchmark: a model shape, its batches and how many steps are timed.
#[derive(Clone, Debug)]
pub struct ModelBench {
    pub config: ModelConfig,
    pub batch: usize,
    pub seq: usize,
    /// Timed steps, after `warmup` untimed ones.
    pub steps: usize,
    pub warmup: usize,
    pub seed: u64,
    pub backend: Backend,
    /// A training step (forward, backward, clipping, AdamW), else a forward pass with the
    /// loss.
    pub training: bool,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Times `warmup + steps` calls of `step`; the median and the least seconds of the
/// timed ones. The least is the speed undisturbed by other work on the machine: A/B
/// comparisons (`bench/ab.sh`) read it, since bursts of load here slow single steps by
/// up to 60%.
fn time_steps(warmup: usize, steps: usize, mut step: impl FnMut(usize)) -> (f64, f64) {
    let mut secs = Vec::with_capacity(steps);
    for i in 0..warmup + steps {
        let t = Instant::now();
        step(i);
        if i >= warmup {
            secs.push(t.elapsed().as_secs_f64());
        }
    }
    let best = secs.iter().copied().fold(f64::INFINITY, f64::min);
    (median(secs), best)
}

/// Runs the benchmark: its tokens per second, median and fastest step, GFLOP/s against
/// the machine's matrix-multiply limit, the loss reached and peak memory.
pub fn bench_model(args: &ModelBench) -> Json {
    let (config, training) = (&args.config, args.training);
    let (b, t) = (args.batch, args.seq);
    let vocab = config.vocab_size;
    let mut model = args.backend.init(config.clone(), args.seed);
    let mut rng = Rng::new(args.seed ^ 0xbe4c);
    // Fresh random tokens every step, as a data loader would give.
    let batches: Vec<Vec<u32>> = (0..4)
        .map(|_| {
            (0..b * (t + 1))
                .map(|_| (rng.uniform() * vocab as f64) as u32 % vocab as u32)
                .collect()
        })
        .collect();
    let split = |i: usize| -> (Vec<u32>, Vec<u32>) {
        let rows = &batches[i % batches.len()];
        let mut x = Vec::with_capacity(b * t);
        let mut y = Vec::with_capacity(b * t);
        for r in rows.chunks(t + 1) {
            x.extend_from_slice(&r[..t]);
            y.extend_from_slice(&r[1..]);
        }
        (x, y)
    };
    let data: Vec<(Vec<u32>, Vec<u32>)> = (0..batches.len()).map(split).collect();
    let mut loss = f64::NAN;
    let (secs, best) = if training {
        let opt = AdamW::new(AdamWConfig::default(), model.layout());
        model.set_optimizer(opt);
        time_steps(args.warmup, args.steps, |i| {
            let (x, y) = &data[i % data.len()];
            loss = model.forward_backward(x, y, b, t) as f64;
            model.clip_gradients(1.0);
            model.optimizer_step(1e-3);
        })
    } else {
        time_steps(args.warmup, args.steps, |i| {
            let (x, y) = &data[i % data.len()];
            loss = model.sum_nll(x, y, b, t) / (b * t) as f64;
        })
    };
    let tokens_per_s = (b * t) as f64 / secs;
    // Forward: 2 FLOPs per matrix-multiplied parameter per token plus causal attention;
    // a training step is three times that (forward, and backward's two products).
    let forward = config.forward_flops_per_token(t);
    let flops_per_token = if training { 3.0 * forward } else { forward };
    let gflops = tokens_per_s * flops_per_token / 1e9;
    let peak_rss_mb = peak_rss_mb(); // before the limit's own buffers
    let limit = matmul_peak_gflops();
    let line = serde_json::json!({
        "bench": if training { "train" } else { "forward" },
        "framework": "emergent",
        "vocab": vocab, "d_model": config.hidden_size, "layers": config.num_hidden_layers,
        "heads": config.num_attention_heads, "mlp": config.intermediate_size, "seq": t, "batch": b, "steps": args.steps,
        "threads": rayon::current_num_threads(),
        "params": config.num_params(),
        "tokens_per_s": tokens_per_s,
        "step_s": secs,
        "best_step_s": best,
        "gflops": gflops,
        "matmul_peak_gflops": limit,
        "matmul_limit_fraction": gflops / limit,
        "loss": loss,
        "peak_rss_mb": peak_rss_mb,
    });
    line
}
