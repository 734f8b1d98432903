use emergent_data::Shard;
use emergent_engine::{LanguageModel, Rng};

/// The order in which training sees the data: the shard cut into non-overlapping
/// windows of `seq + 1` tokens (inputs and next-token targets), shuffled anew each
/// epoch. The batch of step `s` depends only on the seed and `s`, so a resumed run
/// sees exactly the data the uninterrupted run would have.
pub struct WindowSampler {
    seed: u64,
    seq: usize,
    batch: usize,
    windows: usize,
    epoch: u64,
    order: Vec<u32>,
    /// One window's tokens, reused every step.
    window: Vec<u32>,
}

impl WindowSampler {
    pub fn new(shard: &Shard, seq: usize, batch: usize, seed: u64) -> Result<Self, String> {
        let windows = shard.len().saturating_sub(1) / seq;
        if windows < batch {
            return Err(format!(
                "{}: {} tokens make {windows} windows of {seq}, fewer than a batch of {batch}",
                shard.path.display(),
                shard.len()
            ));
        }
        Ok(WindowSampler {
            seed,
            seq,
            batch,
            windows,
            epoch: u64::MAX,
            order: Vec::new(),
            window: vec![0; seq + 1],
        })
    }

    /// (epoch, position in epoch) where step `step` starts.
    pub fn position(&self, step: u64) -> (u64, u64) {
        let first = step * self.batch as u64;
        (first / self.windows as u64, first % self.windows as u64)
    }

    /// Fills `inputs` and `targets` (batch × seq) for update number `step`.
    pub fn fill(&mut self, shard: &Shard, step: u64, inputs: &mut [u32], targets: &mut [u32]) {
        for row in 0..self.batch {
            let idx = step * self.batch as u64 + row as u64;
            let (epoch, pos) = (
                idx / self.windows as u64,
                (idx % self.windows as u64) as usize,
            );
            if epoch != self.epoch {
                self.order = (0..self.windows as u32).collect();
                Rng::derive(self.seed, 0xe0c0 + epoch).shuffle(&mut self.order);
                self.epoch = epoch;
            }
            let start = self.order[pos] as usize * self.seq;
            shard.read_into(start, &mut self.window);
            inputs[row * self.seq..(row + 1) * self.seq].copy_from_slice(&self.window[..self.seq]);
            targets[row * self.seq..(row + 1) * self.seq].copy_from_slice(&self.window[1..]);
        }
    }
}

/// Mean next-token cross-entropy over the validation shard, in non-overlapping windows
/// of `seq` tokens: every token but a window's first is scored once, summed in f64.
pub fn validation_loss(
    model: &mut dyn LanguageModel,
    shard: &Shard,
    seq: usize,
    batch: usize,
) -> f64 {
    let windows = shard.len() / seq;
    let (mut total, mut count) = (0f64, 0usize);
    let mut buf = vec![0u32; seq];
    let mut w = 0;
    while w < windows {
        let b = batch.min(windows - w);
        let (mut inputs, mut targets) = (
            Vec::with_capacity(b * (seq - 1)),
            Vec::with_capacity(b * (seq - 1)),
        );
        for k in 0..b {
            shard.read_into((w + k) * seq, &mut buf);
            inputs.extend_from_slice(&buf[..seq - 1]);
            targets.extend_from_slice(&buf[1..]);
        }
        total += model.sum_nll(&inputs, &targets, b, seq - 1);
        count += b * (seq - 1);
        w += b;
    }
    total / count.max(1) as f64
}
