//! The one transformer block of every architecture, forward beside backward, composed
//! from the description in [`Block`](crate::Block). Training keeps one [`Acts`] per
//! layer and runs [`backward`]; KV-cached scoring reuses one [`Acts`] for every layer
//! and brings its own attention over the cache. Both call [`forward`], so an
//! architecture is written once.

use crate::arch::{Mlp, Norm};
use crate::layout::{LayerSlots, NormSlots};
use crate::ops::{Ops, Rope};
use crate::ModelConfig;

/// One block's activations over `rows` tokens (those the backward pass reads).
#[derive(Default)]
pub(crate) struct Acts {
    pub x_in: Vec<f32>,
    /// Norm 1's output: attention's input, or (post-norm) its normalised output.
    pub xn1: Vec<f32>,
    pub mean1: Vec<f32>,
    pub rstd1: Vec<f32>,
    /// q and k after rotary; before it (and before their norm) in `q_pre`/`k_pre`.
    pub q: Vec<f32>,
    pub k: Vec<f32>,
    pub v: Vec<f32>,
    pub q_pre: Vec<f32>,
    pub k_pre: Vec<f32>,
    pub q_rstd: Vec<f32>,
    pub k_rstd: Vec<f32>,
    /// Attention probabilities, when training (`b × heads × t × t`).
    pub probs: Vec<f32>,
    pub att: Vec<f32>,
    /// The output projection of attention, where it is kept apart (post-norm,
    /// parallel residual).
    pub o: Vec<f32>,
    /// The residual stream between attention and MLP (sequential residual only).
    pub x_mid: Vec<f32>,
    pub xn2: Vec<f32>,
    pub mean2: Vec<f32>,
    pub rstd2: Vec<f32>,
    pub gate: Vec<f32>,
    pub up: Vec<f32>,
    pub hact: Vec<f32>,
    /// The MLP's output before its post-norm.
    pub m: Vec<f32>,
}

impl Acts {
    /// Buffers for `n` rows; `probs` holds that many attention probabilities.
    pub fn new(c: &ModelConfig, n: usize, probs: usize) -> Self {
        let b = c.block;
        let (d, f, qd, kvd) = (c.hidden_size, c.intermediate_size, c.q_dim(), c.kv_dim());
        let z = |len: usize| vec![0.0f32; len];
        let when = |on: bool, len: usize| if on { z(len) } else { Vec::new() };
        Acts {
            x_in: z(n * d),
            xn1: z(n * d),
            mean1: z(n),
            rstd1: z(n),
            q: z(n * qd),
            k: z(n * kvd),
            v: z(n * kvd),
            q_pre: when(b.qk_norm, n * qd),
            k_pre: when(b.qk_norm, n * kvd),
            q_rstd: when(b.qk_norm, n),
            k_rstd: when(b.qk_norm, n),
            probs: z(probs),
            att: z(n * qd),
            o: when(b.post_norm || b.parallel_residual, n * d),
            x_mid: when(!b.parallel_residual, n * d),
            xn2: z(n * d),
            mean2: z(n),
            rstd2: z(n),
            gate: when(b.mlp == Mlp::SwiGlu, n * f),
            up: z(n * f),
            hact: z(n * f),
            m: when(b.post_norm, n * d),
        }
    }

    pub fn rows(&self, c: &ModelConfig) -> usize {
        self.x_in.len() / c.hidden_size
    }
}

/// Gradient buffers of one block, shared by all layers.
#[derive(Default)]
pub(crate) struct Grads {
    /// d(loss)/d(block output) on entry to [`backward`], d/d(block input) on exit.
    pub dx: Vec<f32>,
    pub dxn: Vec<f32>,
    /// The gradient at a post-norm's input.
    pub dbranch: Vec<f32>,
    pub dq: Vec<f32>,
    pub dk: Vec<f32>,
    pub dv: Vec<f32>,
    pub dq_pre: Vec<f32>,
    pub dk_pre: Vec<f32>,
    pub datt: Vec<f32>,
    pub dgate: Vec<f32>,
    pub dup: Vec<f32>,
    pub dh: Vec<f32>,
    pub dprobs: Vec<f32>,
}

impl Grads {
    pub fn new(c: &ModelConfig, n: usize, probs: usize) -> Self {
        let b = c.block;
        let (d, f, qd, kvd) = (c.hidden_size, c.intermediate_size, c.q_dim(), c.kv_dim());
        let z = |len: usize| vec![0.0f32; len];
        let when = |on: bool, len: usize| if on { z(len) } else { Vec::new() };
        Grads {
            dx: z(n * d),
            dxn: z(n * d),
            dbranch: when(b.post_norm, n * d),
            dq: z(n * qd),
            dk: z(n * kvd),
            dv: z(n * kvd),
            dq_pre: when(b.qk_norm, n * qd),
            dk_pre: when(b.qk_norm, n * kvd),
            datt: z(n * qd),
            dgate: when(b.mlp == Mlp::SwiGlu, n * f),
            dup: z(n * f),
            dh: z(n * f),
            dprobs: z(probs),
        }
    }
}

/// `y = x Wᵀ (+ b)`.
#[allow(clippy::too_many_arguments)]
fn affine(
    ops: &dyn Ops,
    y: &mut [f32],
    x: &[f32],
    p: &[f32],
    w: usize,
    b: Option<usize>,
    n: usize,
    inp: usize,
    out: usize,
) {
    ops.linear(y, x, &p[w..], n, inp, out);
    if let Some(b) = b {
        ops.bias_forward(y, &p[b..][..out]);
    }
}

/// A norm of the kind `c.block.norm` over rows of width `d`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn norm_forward(
    ops: &dyn Ops,
    c: &ModelConfig,
    y: &mut [f32],
    mean: &mut [f32],
    rstd: &mut [f32],
    x: &[f32],
    p: &[f32],
    s: NormSlots,
    d: usize,
) {
    let w = s.weight.map(|o| &p[o..][..d]);
    match c.block.norm {
        Norm::Rms => ops.rmsnorm_forward(
            y,
            rstd,
            x,
            w.expect("RMSNorm has a weight"),
            d,
            c.rms_norm_eps,
        ),
        Norm::Layer | Norm::LayerNoAffine => {
            let b = s.bias.map(|o| &p[o..][..d]);
            ops.layernorm_forward(y, mean, rstd, x, w, b, d, c.rms_norm_eps)
        }
    }
}

/// Backward of [`norm_forward`]: `dx (+)= ∂L/∂x`, and the weight and bias gradients.
#[allow(clippy::too_many_arguments)]
pub(crate) fn norm_backward(
    ops: &dyn Ops,
    c: &ModelConfig,
    dx: &mut [f32],
    accumulate: bool,
    dy: &[f32],
    x: &[f32],
    (mean, rstd): (&[f32], &[f32]),
    p: &[f32],
    g: &mut [f32],
    s: NormSlots,
    d: usize,
) {
    let w = s.weight.map(|o| &p[o..][..d]);
    match c.block.norm {
        Norm::Rms => {
            let (o, w) = (s.weight.expect("RMSNorm has a weight"), w.expect("weight"));
            ops.rmsnorm_backward_weight(&mut g[o..][..d], dy, x, rstd, d);
            ops.rmsnorm_backward_input(dx, accumulate, dy, x, w, rstd, d);
        }
        Norm::Layer | Norm::LayerNoAffine => {
            if let Some(o) = s.weight {
                ops.layernorm_backward_weight(&mut g[o..][..d], dy, x, mean, rstd, d);
            }
            if let Some(o) = s.bias {
                ops.bias_backward(&mut g[o..][..d], dy);
            }
            ops.layernorm_backward_input(dx, accumulate, dy, x, w, mean, rstd, d);
        }
    }
}

/// One block: `out = block(a.x_in)`. `positions[r]` is row `r`'s position for rotary;
/// `attend` fills `a.att` from `a.q`, `a.k`, `a.v` (and the cache, when scoring).
#[allow(clippy::too_many_arguments)]
pub(crate) fn forward(
    ops: &dyn Ops,
    c: &ModelConfig,
    p: &[f32],
    s: &LayerSlots,
    rope: &Rope,
    positions: &[usize],
    a: &mut Acts,
    out: &mut [f32],
    attend: &mut dyn FnMut(&mut Acts),
) {
    let blk = c.block;
    let n = a.rows(c);
    let (d, qd, kvd) = (c.hidden_size, c.q_dim(), c.kv_dim());
    if !blk.post_norm {
        norm_forward(
            ops,
            c,
            &mut a.xn1,
            &mut a.mean1,
            &mut a.rstd1,
            &a.x_in,
            p,
            s.norm1,
            d,
        );
    }
    let input = if blk.post_norm { &a.x_in } else { &a.xn1 };
    let bias = |i: usize| s.bq.map(|b| b + i);
    let (q, k) = if blk.qk_norm {
        (&mut a.q_pre, &mut a.k_pre)
    } else {
        (&mut a.q, &mut a.k)
    };
    affine(ops, q, input, p, s.wq, bias(0), n, d, qd);
    affine(ops, k, input, p, s.wk, bias(qd), n, d, kvd);
    affine(ops, &mut a.v, input, p, s.wv, bias(qd + kvd), n, d, kvd);
    if let (Some(qn), Some(kn)) = (s.q_norm, s.k_norm) {
        let eps = c.rms_norm_eps;
        ops.rmsnorm_forward(&mut a.q, &mut a.q_rstd, &a.q_pre, &p[qn..][..qd], qd, eps);
        ops.rmsnorm_forward(&mut a.k, &mut a.k_rstd, &a.k_pre, &p[kn..][..kvd], kvd, eps);
    }
    ops.rotary(rope, &mut a.q, qd, positions, false);
    ops.rotary(rope, &mut a.k, kvd, positions, false);
    attend(a);
    if blk.parallel_residual {
        affine(ops, &mut a.o, &a.att, p, s.wo, s.bo, n, qd, d);
        norm_forward(
            ops,
            c,
            &mut a.xn2,
            &mut a.mean2,
            &mut a.rstd2,
            &a.x_in,
            p,
            s.norm2,
            d,
        );
        mlp_forward(ops, c, p, s, a, n, out, Input::Xn2);
        ops.add_assign(out, &a.o);
        ops.add_assign(out, &a.x_in);
        return;
    }
    if blk.post_norm {
        affine(ops, &mut a.o, &a.att, p, s.wo, s.bo, n, qd, d);
        norm_forward(
            ops,
            c,
            &mut a.xn1,
            &mut a.mean1,
            &mut a.rstd1,
            &a.o,
            p,
            s.norm1,
            d,
        );
        a.x_mid.copy_from_slice(&a.x_in);
        ops.add_assign(&mut a.x_mid, &a.xn1);
        let mut m = std::mem::take(&mut a.m);
        mlp_forward(ops, c, p, s, a, n, &mut m, Input::XMid);
        norm_forward(ops, c, out, &mut a.mean2, &mut a.rstd2, &m, p, s.norm2, d);
        a.m = m;
    } else {
        // The projection lands in x_mid itself: nothing downstream reads it apart.
        affine(ops, &mut a.x_mid, &a.att, p, s.wo, s.bo, n, qd, d);
        ops.add_assign(&mut a.x_mid, &a.x_in);
        norm_forward(
            ops,
            c,
            &mut a.xn2,
            &mut a.mean2,
            &mut a.rstd2,
            &a.x_mid,
            p,
            s.norm2,
            d,
        );
        mlp_forward(ops, c, p, s, a, n, out, Input::Xn2);
    }
    ops.add_assign(out, &a.x_mid);
}

/// Which buffer of [`Acts`] the MLP reads.
#[derive(Clone, Copy)]
enum Input {
    Xn2,
    XMid,
}

fn mlp_input(a: &Acts, i: Input) -> &[f32] {
    match i {
        Input::Xn2 => &a.xn2,
        Input::XMid => &a.x_mid,
    }
}

/// `out = down(act(input))` with the block's MLP.
#[allow(clippy::too_many_arguments)]
fn mlp_forward(
    ops: &dyn Ops,
    c: &ModelConfig,
    p: &[f32],
    s: &LayerSlots,
    a: &mut Acts,
    n: usize,
    out: &mut [f32],
    i: Input,
) {
    let (d, f) = (c.hidden_size, c.intermediate_size);
    let x = match i {
        Input::Xn2 => &a.xn2,
        Input::XMid => &a.x_mid,
    };
    // The bias of gate and up is one vector, as their weights are one matrix.
    match s.w_gate {
        Some(wg) => {
            affine(ops, &mut a.gate, x, p, wg, s.b_in, n, d, f);
            affine(ops, &mut a.up, x, p, s.w_up, s.b_in.map(|b| b + f), n, d, f);
            ops.swiglu_forward(&mut a.hact, &a.gate, &a.up);
        }
        None => {
            affine(ops, &mut a.up, x, p, s.w_up, s.b_in, n, d, f);
            ops.gelu_forward(&mut a.hact, &a.up);
        }
    }
    affine(ops, out, &a.hact, p, s.w_down, s.b_down, n, f, d);
}

/// `linear_backward` of a projection whose weight (and bias) lie at `w` (`b`): `dx (+)=
/// Σ dyᵢ Wᵢ`, `dW += dyᵀ x`, `db += Σ dy`.
#[allow(clippy::too_many_arguments)]
fn affine_backward(
    ops: &dyn Ops,
    dx: &mut [f32],
    accumulate: bool,
    g: &mut [f32],
    p: &[f32],
    (w, b): (usize, Option<usize>),
    dys: &[&[f32]],
    outs: &[usize],
    x: &[f32],
    n: usize,
    inp: usize,
) {
    let total: usize = outs.iter().sum();
    ops.linear_backward(
        dx,
        accumulate,
        &mut g[w..][..total * inp],
        dys,
        outs,
        x,
        &p[w..],
        n,
        inp,
    );
    if let Some(b) = b {
        let mut at = b;
        for (dy, &out) in dys.iter().zip(outs) {
            ops.bias_backward(&mut g[at..][..out], dy);
            at += out;
        }
    }
}

/// Gradient through one block: `w.dx` holds d(loss)/d(block output) on entry and
/// d(loss)/d(block input) on exit; parameter gradients are added into `g`.
/// `attend_back` turns `w.datt` into `w.dq`, `w.dk`, `w.dv` (before rotary's inverse).
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward(
    ops: &dyn Ops,
    c: &ModelConfig,
    p: &[f32],
    g: &mut [f32],
    s: &LayerSlots,
    rope: &Rope,
    positions: &[usize],
    a: &Acts,
    w: &mut Grads,
    attend_back: &mut dyn FnMut(&Acts, &mut Grads),
) {
    let blk = c.block;
    let n = a.rows(c);
    let d = c.hidden_size;
    let post = blk.post_norm;
    if blk.parallel_residual {
        // out = x_in + o + mlp(norm2(x_in)): both branches read d(out) first.
        out_proj_backward(ops, c, p, g, s, a, &mut w.datt, &w.dx);
        mlp_backward(ops, c, p, g, s, a, w, n, Input::Xn2, Down::Dx);
        norm_backward(
            ops,
            c,
            &mut w.dx,
            true,
            &w.dxn,
            &a.x_in,
            (&a.mean2, &a.rstd2),
            p,
            g,
            s.norm2,
            d,
        );
        attention_backward(ops, c, p, g, s, rope, positions, a, w, attend_back);
        norm_backward(
            ops,
            c,
            &mut w.dx,
            true,
            &w.dxn,
            &a.x_in,
            (&a.mean1, &a.rstd1),
            p,
            g,
            s.norm1,
            d,
        );
        return;
    }
    if post {
        // out = x_mid + norm2(m)
        norm_backward(
            ops,
            c,
            &mut w.dbranch,
            false,
            &w.dx,
            &a.m,
            (&a.mean2, &a.rstd2),
            p,
            g,
            s.norm2,
            d,
        );
        mlp_backward(ops, c, p, g, s, a, w, n, Input::XMid, Down::Branch);
        ops.add_assign(&mut w.dx, &w.dxn);
        // x_mid = x_in + norm1(o)
        norm_backward(
            ops,
            c,
            &mut w.dbranch,
            false,
            &w.dx,
            &a.o,
            (&a.mean1, &a.rstd1),
            p,
            g,
            s.norm1,
            d,
        );
        out_proj_backward(ops, c, p, g, s, a, &mut w.datt, &w.dbranch);
        attention_backward(ops, c, p, g, s, rope, positions, a, w, attend_back);
        ops.add_assign(&mut w.dx, &w.dxn);
    } else {
        mlp_backward(ops, c, p, g, s, a, w, n, Input::Xn2, Down::Dx);
        norm_backward(
            ops,
            c,
            &mut w.dx,
            true,
            &w.dxn,
            &a.x_mid,
            (&a.mean2, &a.rstd2),
            p,
            g,
            s.norm2,
            d,
        );
        out_proj_backward(ops, c, p, g, s, a, &mut w.datt, &w.dx);
        attention_backward(ops, c, p, g, s, rope, positions, a, w, attend_back);
        norm_backward(
            ops,
            c,
            &mut w.dx,
            true,
            &w.dxn,
            &a.x_in,
            (&a.mean1, &a.rstd1),
            p,
            g,
            s.norm1,
            d,
        );
    }
}

/// Through attention's output projection: `datt = dy · Wo`, `dWo += dyᵀ att`, `dbo += Σ dy`.
#[allow(clippy::too_many_arguments)]
fn out_proj_backward(
    ops: &dyn Ops,
    c: &ModelConfig,
    p: &[f32],
    g: &mut [f32],
    s: &LayerSlots,
    a: &Acts,
    datt: &mut [f32],
    dy: &[f32],
) {
    let (n, d) = (a.rows(c), c.hidden_size);
    affine_backward(
        ops,
        datt,
        false,
        g,
        p,
        (s.wo, s.bo),
        &[dy],
        &[d],
        &a.att,
        n,
        c.q_dim(),
    );
}

/// Which gradient buffer holds d(MLP output).
#[derive(Clone, Copy)]
enum Down {
    Dx,
    Branch,
}

/// From d(MLP output) to `w.dxn` = d(MLP input).
#[allow(clippy::too_many_arguments)]
fn mlp_backward(
    ops: &dyn Ops,
    c: &ModelConfig,
    p: &[f32],
    g: &mut [f32],
    s: &LayerSlots,
    a: &Acts,
    w: &mut Grads,
    n: usize,
    input: Input,
    down: Down,
) {
    let (d, f) = (c.hidden_size, c.intermediate_size);
    let dy = match down {
        Down::Dx => &w.dx,
        Down::Branch => &w.dbranch,
    };
    affine_backward(
        ops,
        &mut w.dh,
        false,
        g,
        p,
        (s.w_down, s.b_down),
        &[dy],
        &[d],
        &a.hact,
        n,
        f,
    );
    let x = mlp_input(a, input);
    match s.w_gate {
        Some(wg) => {
            ops.swiglu_backward(&mut w.dgate, &mut w.dup, &w.dh, &a.gate, &a.up);
            affine_backward(
                ops,
                &mut w.dxn,
                false,
                g,
                p,
                (wg, s.b_in),
                &[&w.dgate, &w.dup],
                &[f, f],
                x,
                n,
                d,
            );
        }
        None => {
            ops.gelu_backward(&mut w.dup, &w.dh, &a.up);
            affine_backward(
                ops,
                &mut w.dxn,
                false,
                g,
                p,
                (s.w_up, s.b_in),
                &[&w.dup],
                &[f],
                x,
                n,
                d,
            );
        }
    }
}

/// From `w.datt` to `w.dxn` = d(attention input), through rotary and the q/k norms.
#[allow(clippy::too_many_arguments)]
fn attention_backward(
    ops: &dyn Ops,
    c: &ModelConfig,
    p: &[f32],
    g: &mut [f32],
    s: &LayerSlots,
    rope: &Rope,
    positions: &[usize],
    a: &Acts,
    w: &mut Grads,
    attend_back: &mut dyn FnMut(&Acts, &mut Grads),
) {
    let n = a.rows(c);
    let (d, qd, kvd) = (c.hidden_size, c.q_dim(), c.kv_dim());
    attend_back(a, w);
    ops.rotary(rope, &mut w.dq, qd, positions, true);
    ops.rotary(rope, &mut w.dk, kvd, positions, true);
    let (dq, dk) = if let (Some(qn), Some(kn)) = (s.q_norm, s.k_norm) {
        ops.rmsnorm_backward_weight(&mut g[qn..][..qd], &w.dq, &a.q_pre, &a.q_rstd, qd);
        ops.rmsnorm_backward_input(
            &mut w.dq_pre,
            false,
            &w.dq,
            &a.q_pre,
            &p[qn..][..qd],
            &a.q_rstd,
            qd,
        );
        ops.rmsnorm_backward_weight(&mut g[kn..][..kvd], &w.dk, &a.k_pre, &a.k_rstd, kvd);
        ops.rmsnorm_backward_input(
            &mut w.dk_pre,
            false,
            &w.dk,
            &a.k_pre,
            &p[kn..][..kvd],
            &a.k_rstd,
            kvd,
        );
        (&w.dq_pre, &w.dk_pre)
    } else {
        (&w.dq, &w.dk)
    };
    let input = if c.block.post_norm { &a.x_in } else { &a.xn1 };
    // q, k and v (and their biases) lie one after another: one product for the three.
    debug_assert!(s.wk == s.wq + qd * d && s.wv == s.wk + kvd * d);
    affine_backward(
        ops,
        &mut w.dxn,
        false,
        g,
        p,
        (s.wq, s.bq),
        &[dq, dk, &w.dv],
        &[qd, kvd, kvd],
        input,
        n,
        d,
    );
}
