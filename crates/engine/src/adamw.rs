use rayon::prelude::*;

use crate::ops::{AdamStep, Ops};
use serde::{Deserialize, Serialize};

use crate::ParamLayout;

/// AdamW hyper-parameters (PyTorch's names and defaults).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AdamWConfig {
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    /// Decay norm gains too (off by default, as in most LLM recipes).
    pub decay_norms: bool,
    /// Decay the embedding and output head too.
    pub decay_embeddings: bool,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig {
            beta1: 0.9,
            beta2: 0.95,
            eps: 1e-8,
            weight_decay: 0.1,
            decay_norms: false,
            decay_embeddings: false,
        }
    }
}

/// Linear warm-up to `max_lr`, then cosine decay to `min_lr` at `total_steps`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LrSchedule {
    pub max_lr: f64,
    pub min_lr: f64,
    pub warmup_steps: u64,
    pub total_steps: u64,
}

impl LrSchedule {
    /// Learning rate of update number `step` (0-based).
    pub fn lr(&self, step: u64) -> f64 {
        if step < self.warmup_steps {
            return self.max_lr * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let span = self.total_steps.saturating_sub(self.warmup_steps).max(1);
        let progress = ((step - self.warmup_steps) as f64 / span as f64).min(1.0);
        self.min_lr
            + 0.5 * (self.max_lr - self.min_lr) * (1.0 + (std::f64::consts::PI * progress).cos())
    }
}

/// AdamW with decoupled weight decay, element for element as `torch.optim.AdamW`.
/// Moments live in the parameter layout; `step` counts updates done.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdamW {
    pub config: AdamWConfig,
    pub step: u64,
    #[serde(skip)]
    pub m: Vec<f32>,
    #[serde(skip)]
    pub v: Vec<f32>,
    /// Per parameter range: whether it is decayed.
    #[serde(skip)]
    decay: Vec<(std::ops::Range<usize>, bool)>,
}

impl AdamW {
    pub fn new(config: AdamWConfig, layout: &ParamLayout) -> Self {
        let decay = layout
            .slots
            .iter()
            .map(|s| {
                let on = (!(s.is_norm || s.is_bias) || config.decay_norms)
                    && (!s.is_embedding || config.decay_embeddings);
                (s.range(), on)
            })
            .collect();
        AdamW {
            config,
            step: 0,
            m: vec![0.0; layout.total()],
            v: vec![0.0; layout.total()],
            decay,
        }
    }

    /// The settings and update count without the moments: what `trainer_state.json`
    /// records.
    pub fn header(&self) -> AdamW {
        AdamW {
            config: self.config.clone(),
            step: self.step,
            m: Vec::new(),
            v: Vec::new(),
            decay: Vec::new(),
        }
    }

    /// One update with learning rate `lr`, on the CPU.
    pub fn update(&mut self, params: &mut [f32], grads: &[f32], lr: f64) {
        self.update_with(&crate::ops::Cpu, params, grads, lr)
    }

    /// One update with learning rate `lr`, each parameter range by `ops`.
    pub fn update_with(&mut self, ops: &dyn Ops, params: &mut [f32], grads: &[f32], lr: f64) {
        self.step += 1;
        let c = &self.config;
        let lr = lr as f32;
        let bc1 = 1.0 - c.beta1.powi(self.step as i32);
        let bc2_sqrt = (1.0 - c.beta2.powi(self.step as i32)).sqrt();
        for (range, on) in &self.decay {
            let step = AdamStep {
                shrink: if *on { 1.0 - lr * c.weight_decay } else { 1.0 },
                beta1: c.beta1,
                beta2: c.beta2,
                eps: c.eps,
                step_size: lr / bc1,
                bc2_sqrt,
            };
            let (p, g) = (&mut params[range.clone()], &grads[range.clone()]);
            let (m, v) = (&mut self.m[range.clone()], &mut self.v[range.clone()]);
            ops.adamw(p, m, v, g, step);
        }
    }
}

/// Scales `grads` so their global L2 norm is at most `max_norm` (as
/// `torch.nn.utils.clip_grad_norm_`); returns the norm before clipping.
pub fn clip_grad_norm(grads: &mut [f32], max_norm: f64) -> f64 {
    let sq: Vec<f64> = grads
        .par_chunks(1 << 16)
        .map(|c| c.iter().map(|&g| g as f64 * g as f64).sum::<f64>())
        .collect();
    let norm = sq.iter().sum::<f64>().sqrt();
    let coef = max_norm / (norm + 1e-6);
    if coef < 1.0 {
        let coef = coef as f32;
        grads
            .par_chunks_mut(4096)
            .for_each(|c| c.iter_mut().for_each(|g| *g *= coef));
    }
    norm
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_warms_up_then_decays_to_the_floor() {
        let s = LrSchedule {
            max_lr: 1.0,
            min_lr: 0.1,
            warmup_steps: 4,
            total_steps: 14,
        };
        assert_eq!(s.lr(0), 0.25);
        assert_eq!(s.lr(3), 1.0);
        assert_eq!(s.lr(4), 1.0);
        assert!((s.lr(9) - 0.55).abs() < 1e-12);
        assert!((s.lr(14) - 0.1).abs() < 1e-12);
        assert!((s.lr(100) - 0.1).abs() < 1e-12);
    }

    #[test]
    fn clipping_scales_to_the_max_norm() {
        let mut g = vec![3.0, 4.0];
        assert_eq!(clip_grad_norm(&mut g, 1.0), 5.0);
        assert!((g[0] - 0.6).abs() < 1e-6 && (g[1] - 0.8).abs() < 1e-6);
        let mut small = vec![0.3, 0.4];
        clip_grad_norm(&mut small, 1.0);
        assert_eq!(small, vec![0.3, 0.4]);
    }
}
