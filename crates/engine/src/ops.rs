//! The operations a model is computed from: products, norms, rotary, attention (full
//! and over a key/value cache), activations, the loss, the optimiser's step and the
//! embedding. The block ([`crate::block`]), the model's head, scoring, decoding and
//! training are written once over [`Ops`]; a backend is an implementation of it.
//!
//! Buffers are `f32` slices in the layouts the kernels document (rows × width, weights
//! as Hugging Face stores them, parameters in [`crate::ParamLayout`] order). A device
//! backend implements these over memory both it and the host address (CUDA's managed
//! memory), so the model's buffer management stays as it is.

use rayon::prelude::*;

pub use crate::kernels::{AttnShape, Rope};

/// The heads of one attention layer.
#[derive(Clone, Copy, Debug)]
pub struct Heads {
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
}

/// One segment of [`Ops::cached_attention`]: rows `offset..offset + len` of the
/// queries, keys and values, continuing `prefix` cached positions whose keys and values
/// (`prefix × kv_dim` each) are `prefix_k` and `prefix_v`.
#[derive(Clone, Copy)]
pub struct CachedSegment<'a> {
    pub offset: usize,
    pub len: usize,
    pub prefix: usize,
    pub prefix_k: &'a [f32],
    pub prefix_v: &'a [f32],
}

/// One AdamW update of a parameter range: `p ← p·shrink − step_size · m̂ / (√v / bc2_sqrt + eps)`
/// after `m ← m + (g − m)(1 − β₁)` and `v ← β₂ v + (1 − β₂) g²` (as `torch.optim.AdamW`).
#[derive(Clone, Copy, Debug)]
pub struct AdamStep {
    pub shrink: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub step_size: f32,
    pub bc2_sqrt: f32,
}

/// What a backend computes. Every method's buffers and their layouts are those of the
/// CPU kernel of the same name; results must agree with [`Cpu`]'s to rounding.
#[allow(clippy::too_many_arguments)]
pub trait Ops: Send + Sync {
    /// `y (rows × out) = x (rows × inp) · Wᵀ` for `w` of `out × inp`.
    fn linear(&self, y: &mut [f32], x: &[f32], w: &[f32], rows: usize, inp: usize, out: usize);

    /// Backward of linears reading one `x` whose weights lie one after another:
    /// `dx (+)= Σᵢ dyᵢ · Wᵢ`, `dWᵢ += dyᵢᵀ · x`.
    fn linear_backward(
        &self,
        dx: &mut [f32],
        accumulate_dx: bool,
        dw: &mut [f32],
        dys: &[&[f32]],
        outs: &[usize],
        x: &[f32],
        w: &[f32],
        rows: usize,
        inp: usize,
    );

    /// `y[r] += b` for every row.
    fn bias_forward(&self, y: &mut [f32], b: &[f32]);

    /// `db += Σ_rows dy`.
    fn bias_backward(&self, db: &mut [f32], dy: &[f32]);

    /// `y = x / rms(x) · w`, keeping `1 / rms` per row.
    fn rmsnorm_forward(
        &self,
        y: &mut [f32],
        rstd: &mut [f32],
        x: &[f32],
        w: &[f32],
        d: usize,
        eps: f32,
    );

    /// `dx (+)= ∂L/∂x` of [`Ops::rmsnorm_forward`].
    fn rmsnorm_backward_input(
        &self,
        dx: &mut [f32],
        accumulate: bool,
        dy: &[f32],
        x: &[f32],
        w: &[f32],
        rstd: &[f32],
        d: usize,
    );

    /// `dw += Σ_rows dy · x · rstd`.
    fn rmsnorm_backward_weight(
        &self,
        dw: &mut [f32],
        dy: &[f32],
        x: &[f32],
        rstd: &[f32],
        d: usize,
    );

    /// `y = (x − mean) · rstd · w + b`, keeping `mean` and `rstd` per row.
    fn layernorm_forward(
        &self,
        y: &mut [f32],
        mean: &mut [f32],
        rstd: &mut [f32],
        x: &[f32],
        w: Option<&[f32]>,
        b: Option<&[f32]>,
        d: usize,
        eps: f32,
    );

    /// `dx (+)= ∂L/∂x` of [`Ops::layernorm_forward`].
    fn layernorm_backward_input(
        &self,
        dx: &mut [f32],
        accumulate: bool,
        dy: &[f32],
        x: &[f32],
        w: Option<&[f32]>,
        mean: &[f32],
        rstd: &[f32],
        d: usize,
    );

    /// `dw += Σ_rows dy · x̂`.
    fn layernorm_backward_weight(
        &self,
        dw: &mut [f32],
        dy: &[f32],
        x: &[f32],
        mean: &[f32],
        rstd: &[f32],
        d: usize,
    );

    /// Rotates row `r` of `x` (rows × `width`) to position `positions[r]` with `rope`'s
    /// tables; `inverse` applies the transpose.
    fn rotary(&self, rope: &Rope, x: &mut [f32], width: usize, positions: &[usize], inverse: bool);

    /// Causal attention over `b` sequences of `t` rows; `probs` (`b × heads × t × t`)
    /// kept for the backward pass.
    fn attention_forward(
        &self,
        out: &mut [f32],
        probs: &mut [f32],
        q: &[f32],
        k: &[f32],
        v: &[f32],
        shape: AttnShape,
    );

    /// Backward of [`Ops::attention_forward`]: overwrites `dq`, `dk`, `dv`; `dprobs` is
    /// scratch of the size of `probs`.
    fn attention_backward(
        &self,
        dq: &mut [f32],
        dk: &mut [f32],
        dv: &mut [f32],
        dprobs: &mut [f32],
        dout: &[f32],
        probs: &[f32],
        q: &[f32],
        k: &[f32],
        v: &[f32],
        shape: AttnShape,
    );

    /// Causal attention of each segment's rows over its cached prefix and itself.
    fn cached_attention(
        &self,
        out: &mut [f32],
        q: &[f32],
        k: &[f32],
        v: &[f32],
        segments: &[CachedSegment],
        heads: Heads,
    );

    /// `h = silu(gate) · up`.
    fn swiglu_forward(&self, h: &mut [f32], gate: &[f32], up: &[f32]);

    /// Backward of [`Ops::swiglu_forward`], overwriting `dgate` and `dup`.
    fn swiglu_backward(
        &self,
        dgate: &mut [f32],
        dup: &mut [f32],
        dh: &[f32],
        gate: &[f32],
        up: &[f32],
    );

    /// The exact (erf) GELU.
    fn gelu_forward(&self, h: &mut [f32], x: &[f32]);

    /// Backward of [`Ops::gelu_forward`], overwriting `dx`.
    fn gelu_backward(&self, dx: &mut [f32], dh: &[f32], x: &[f32]);

    /// `dst += src`.
    fn add_assign(&self, dst: &mut [f32], src: &[f32]);

    /// Row `r` of `x` is row `tokens[r]` of `table` (vocabulary × `d`).
    fn embed(&self, x: &mut [f32], tokens: &[u32], table: &[f32], d: usize);

    /// `dtable[tokens[r]] += dx[r]`, in row order.
    fn embed_backward(&self, dtable: &mut [f32], dx: &[f32], tokens: &[u32], d: usize);

    /// Per-row `logsumexp(l) − l[target]` into `nll`; with `grad_scale`, each row of
    /// `logits` becomes `(softmax − onehot) · scale`.
    fn cross_entropy(
        &self,
        logits: &mut [f32],
        nll: &mut [f64],
        targets: &[u32],
        vocab: usize,
        grad_scale: Option<f32>,
    );

    /// Per row of `logits` (rows × `vocab`): `log p(targets[r])` and whether it is the
    /// arg-max (ties to the lowest id).
    fn logprobs(&self, logits: &[f32], vocab: usize, targets: &[u32]) -> Vec<(f64, bool)>;

    /// The arg-max of a row, ties to the lowest id.
    fn argmax(&self, row: &[f32]) -> u32;

    /// One AdamW update of a range of parameters with its moments.
    fn adamw(&self, p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32], step: AdamStep);

    /// Scales `grads` to a global L2 norm of at most `max_norm`; returns the norm before.
    fn clip_grad_norm(&self, grads: &mut [f32], max_norm: f64) -> f64;
}

/// The CPU backend: the SIMD kernels, on rayon's threads.
#[derive(Clone, Copy, Debug, Default)]
pub struct Cpu;

impl Ops for Cpu {
    fn linear(&self, y: &mut [f32], x: &[f32], w: &[f32], rows: usize, inp: usize, out: usize) {
        crate::matmul::linear(y, x, w, rows, inp, out)
    }

    fn linear_backward(
        &self,
        dx: &mut [f32],
        accumulate_dx: bool,
        dw: &mut [f32],
        dys: &[&[f32]],
        outs: &[usize],
        x: &[f32],
        w: &[f32],
        rows: usize,
        inp: usize,
    ) {
        crate::matmul::linear_backward(dx, accumulate_dx, dw, dys, outs, x, w, rows, inp)
    }

    fn bias_forward(&self, y: &mut [f32], b: &[f32]) {
        crate::kernels::bias_forward(y, b)
    }

    fn bias_backward(&self, db: &mut [f32], dy: &[f32]) {
        crate::kernels::bias_backward(db, dy)
    }

    fn rmsnorm_forward(
        &self,
        y: &mut [f32],
        rstd: &mut [f32],
        x: &[f32],
        w: &[f32],
        d: usize,
        eps: f32,
    ) {
        crate::kernels::rmsnorm_forward(y, rstd, x, w, d, eps)
    }

    fn rmsnorm_backward_input(
        &self,
        dx: &mut [f32],
        accumulate: bool,
        dy: &[f32],
        x: &[f32],
        w: &[f32],
        rstd: &[f32],
        d: usize,
    ) {
        crate::kernels::rmsnorm_backward_input(dx, accumulate, dy, x, w, rstd, d)
    }

    fn rmsnorm_backward_weight(
        &self,
        dw: &mut [f32],
        dy: &[f32],
        x: &[f32],
        rstd: &[f32],
        d: usize,
    ) {
        crate::kernels::rmsnorm_backward_weight(dw, dy, x, rstd, d)
    }

    fn layernorm_forward(
        &self,
        y: &mut [f32],
        mean: &mut [f32],
        rstd: &mut [f32],
        x: &[f32],
        w: Option<&[f32]>,
        b: Option<&[f32]>,
        d: usize,
        eps: f32,
    ) {
        crate::kernels::layernorm_forward(y, mean, rstd, x, w, b, d, eps)
    }

    fn layernorm_backward_input(
        &self,
        dx: &mut [f32],
        accumulate: bool,
        dy: &[f32],
        x: &[f32],
        w: Option<&[f32]>,
        mean: &[f32],
        rstd: &[f32],
        d: usize,
    ) {
        crate::kernels::layernorm_backward_input(dx, accumulate, dy, x, w, mean, rstd, d)
    }

    fn layernorm_backward_weight(
        &self,
        dw: &mut [f32],
        dy: &[f32],
        x: &[f32],
        mean: &[f32],
        rstd: &[f32],
        d: usize,
    ) {
        crate::kernels::layernorm_backward_weight(dw, dy, x, mean, rstd, d)
    }

    fn rotary(&self, rope: &Rope, x: &mut [f32], width: usize, positions: &[usize], inverse: bool) {
        rope.apply_at(x, width, positions, inverse)
    }

    fn attention_forward(
        &self,
        out: &mut [f32],
        probs: &mut [f32],
        q: &[f32],
        k: &[f32],
        v: &[f32],
        shape: AttnShape,
    ) {
        crate::kernels::attention_forward(out, probs, q, k, v, shape)
    }

    fn attention_backward(
        &self,
        dq: &mut [f32],
        dk: &mut [f32],
        dv: &mut [f32],
        dprobs: &mut [f32],
        dout: &[f32],
        probs: &[f32],
        q: &[f32],
        k: &[f32],
        v: &[f32],
        shape: AttnShape,
    ) {
        crate::kernels::attention_backward(dq, dk, dv, dprobs, dout, probs, q, k, v, shape)
    }

    fn cached_attention(
        &self,
        out: &mut [f32],
        q: &[f32],
        k: &[f32],
        v: &[f32],
        segments: &[CachedSegment],
        heads: Heads,
    ) {
        crate::infer::cached_attention(out, q, k, v, segments, heads)
    }

    fn swiglu_forward(&self, h: &mut [f32], gate: &[f32], up: &[f32]) {
        crate::kernels::swiglu_forward(h, gate, up)
    }

    fn swiglu_backward(
        &self,
        dgate: &mut [f32],
        dup: &mut [f32],
        dh: &[f32],
        gate: &[f32],
        up: &[f32],
    ) {
        crate::kernels::swiglu_backward(dgate, dup, dh, gate, up)
    }

    fn gelu_forward(&self, h: &mut [f32], x: &[f32]) {
        crate::kernels::gelu_forward(h, x)
    }

    fn gelu_backward(&self, dx: &mut [f32], dh: &[f32], x: &[f32]) {
        crate::kernels::gelu_backward(dx, dh, x)
    }

    fn add_assign(&self, dst: &mut [f32], src: &[f32]) {
        crate::kernels::add_assign(dst, src)
    }

    fn embed(&self, x: &mut [f32], tokens: &[u32], table: &[f32], d: usize) {
        for (row, &tok) in x.chunks_mut(d).zip(tokens) {
            let e = tok as usize * d;
            row.copy_from_slice(&table[e..e + d]);
        }
    }

    fn embed_backward(&self, dtable: &mut [f32], dx: &[f32], tokens: &[u32], d: usize) {
        // A serial scatter keeps the sum order fixed.
        for (row, &tok) in dx.chunks(d).zip(tokens) {
            let e = tok as usize * d;
            for (gi, &x) in dtable[e..e + d].iter_mut().zip(row) {
                *gi += x;
            }
        }
    }

    fn cross_entropy(
        &self,
        logits: &mut [f32],
        nll: &mut [f64],
        targets: &[u32],
        vocab: usize,
        grad_scale: Option<f32>,
    ) {
        crate::kernels::cross_entropy(logits, nll, targets, vocab, grad_scale)
    }

    fn logprobs(&self, logits: &[f32], vocab: usize, targets: &[u32]) -> Vec<(f64, bool)> {
        logits
            .par_chunks(vocab)
            .zip(targets)
            .map(|(row, &t)| crate::kernels::logprob_of(row, t))
            .collect()
    }

    fn argmax(&self, row: &[f32]) -> u32 {
        crate::kernels::argmax(row)
    }

    fn adamw(&self, p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32], s: AdamStep) {
        p.par_chunks_mut(4096)
            .zip(m.par_chunks_mut(4096))
            .zip(v.par_chunks_mut(4096))
            .zip(g.par_chunks(4096))
            .for_each(|(((p, m), v), g)| {
                for i in 0..p.len() {
                    p[i] *= s.shrink;
                    // torch: exp_avg.lerp_(grad, 1 - beta1)
                    m[i] += (g[i] - m[i]) * (1.0 - s.beta1);
                    v[i] = v[i] * s.beta2 + (1.0 - s.beta2) * g[i] * g[i];
                    let denom = v[i].sqrt() / s.bc2_sqrt + s.eps;
                    p[i] -= s.step_size * m[i] / denom;
                }
            });
    }

    fn clip_grad_norm(&self, grads: &mut [f32], max_norm: f64) -> f64 {
        crate::adamw::clip_grad_norm(grads, max_norm)
    }
}
