//! `emergent bench train` and `emergent bench forward`: the flags of one model shape
//! (those of `bench/pytorch_reference.py`), measured by `emergent_train::bench`.

use anyhow::{bail, Result};
use clap::Args;
use emergent_engine::{Backend, ModelConfig};
use emergent_train::bench::ModelBench;

#[derive(Args, Clone, Debug)]
pub struct BenchModelArgs {
    #[arg(long, default_value_t = 4096)]
    vocab: usize,
    #[arg(long, default_value_t = 256)]
    d_model: usize,
    #[arg(long, default_value_t = 4)]
    layers: usize,
    #[arg(long, default_value_t = 4)]
    heads: usize,
    #[arg(long, default_value_t = 688)]
    mlp: usize,
    /// Context length of each sequence.
    #[arg(long, default_value_t = 256)]
    seq: usize,
    #[arg(long, default_value_t = 8)]
    batch: usize,
    /// Timed steps (after `warmup` untimed ones).
    #[arg(long, default_value_t = 20)]
    steps: usize,
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// Worker threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Where the model runs (`cpu`, the only device of this build).
    #[arg(long, default_value = "cpu")]
    device: Backend,
}

impl BenchModelArgs {
    fn config(&self) -> Result<ModelConfig> {
        let c = ModelConfig::llama(
            self.vocab,
            self.d_model,
            self.layers,
            self.heads,
            self.mlp,
            self.seq,
        );
        c.validate()?;
        if self.steps == 0 || self.batch == 0 || self.seq < 2 {
            bail!("--steps and --batch must be positive and --seq at least 2");
        }
        Ok(c)
    }
}

/// Runs `emergent bench train` (`training`) or `bench forward`; prints one JSON line.
pub fn bench_model(args: &BenchModelArgs, training: bool) -> Result<()> {
    crate::bench::set_threads(args.threads);
    let bench = ModelBench {
        config: args.config()?,
        batch: args.batch,
        seq: args.seq,
        steps: args.steps,
        warmup: args.warmup,
        seed: args.seed,
        backend: args.device,
        training,
    };
    println!("{}", emergent_train::bench::bench_model(&bench));
    Ok(())
}
