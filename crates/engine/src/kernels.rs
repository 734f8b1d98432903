//! Element-wise and row-wise kernels of the block, each forward beside its
//! backward. Rows are independent, so every kernel parallelises over rows and the
//! result does not depend on the thread count.

use rayon::prelude::*;

use crate::small_matmul::{
    small_matmul, small_matmul_panels, tile_rows, ByElement, ByRow, Panels, TILE_ROWS,
};

/// A raw pointer that rayon tasks may share when each writes a disjoint region.
#[derive(Clone, Copy)]
pub struct SharedMut(pub *mut f32);
// SAFETY: used only where callers guarantee disjoint writes (see attention).
unsafe impl Send for SharedMut {}
unsafe impl Sync for SharedMut {}

impl SharedMut {
    /// # Safety
    /// `offset + len` must lie inside the buffer and no other task may touch it.
    pub unsafe fn slice<'a>(self, offset: usize, len: usize) -> &'a mut [f32] {
        std::slice::from_raw_parts_mut(self.0.add(offset), len)
    }
}

/// Defines `$name` to run `$body` compiled for the widest tier the CPU has
/// ([`crate::simd`]): AVX-512, AVX2, or the baseline. The lanes are explicit, Rust
/// never fuses a multiply and an add by itself, and an explicit `mul_add` rounds once on
/// every build, so every build gives bit-identical results; a wider one only does more
/// lanes per instruction.
macro_rules! with_avx2 {
    ($(#[$doc:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty = $body:ident) => {
        $(#[$doc])*
        $vis fn $name($($arg: $ty),*) -> $ret {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) -> $ret {
                    $body($($arg),*)
                }
                #[target_feature(enable = "avx512f,avx2,fma")]
                unsafe fn avx512($($arg: $ty),*) -> $ret {
                    $body($($arg),*)
                }
                match crate::simd::tier() {
                    // SAFETY: the tier is one the CPU was checked for.
                    crate::simd::Tier::Avx512 => return unsafe { avx512($($arg),*) },
                    crate::simd::Tier::Avx2 => return unsafe { avx2($($arg),*) },
                    crate::simd::Tier::Baseline => {}
                }
            }
            $body($($arg),*)
        }
    };
}

/// `y = x / rms(x) * w`, keeping `1 / rms(x)` per row for the backward pass.
/// The order of operations is Hugging Face's `LlamaRMSNorm`.
pub fn rmsnorm_forward(y: &mut [f32], rstd: &mut [f32], x: &[f32], w: &[f32], d: usize, eps: f32) {
    y.par_chunks_mut(d)
        .zip(rstd.par_iter_mut())
        .zip(x.par_chunks(d))
        .for_each(|((y, r), x)| *r = rmsnorm_row(y, x, w, eps));
}

with_avx2! {
    fn rmsnorm_row(y: &mut [f32], x: &[f32], w: &[f32], eps: f32) -> f32 = rmsnorm_row_in_lanes
}

/// One row of [`rmsnorm_forward`]; returns `1 / rms(x)`. The mean square is summed in
/// f64, in eight lanes.
#[inline(always)]
fn rmsnorm_row_in_lanes(y: &mut [f32], x: &[f32], w: &[f32], eps: f32) -> f32 {
    let mut s = [0f64; 8];
    let mut chunks = x.chunks_exact(8);
    for c in &mut chunks {
        for j in 0..8 {
            s[j] += (c[j] as f64) * (c[j] as f64);
        }
    }
    let rest: f64 = chunks
        .remainder()
        .iter()
        .map(|&v| (v as f64) * (v as f64))
        .sum();
    let ms = (s.iter().sum::<f64>() + rest) / x.len() as f64;
    let r = 1.0 / (ms as f32 + eps).sqrt();
    for ((y, &x), &w) in y.iter_mut().zip(x).zip(w) {
        *y = (x * r) * w;
    }
    r
}

/// `dx (+)= ∂L/∂x` of [`rmsnorm_forward`]: `r·g − x·r³·mean(g·x)` with `g = dy·w`.
pub fn rmsnorm_backward_input(
    dx: &mut [f32],
    accumulate: bool,
    dy: &[f32],
    x: &[f32],
    w: &[f32],
    rstd: &[f32],
    d: usize,
) {
    dx.par_chunks_mut(d)
        .zip(dy.par_chunks(d))
        .zip(x.par_chunks(d))
        .zip(rstd.par_iter())
        .for_each(|(((dx, dy), x), &r)| rmsnorm_backward_row(dx, accumulate, dy, x, w, r));
}

with_avx2! {
    fn rmsnorm_backward_row(dx: &mut [f32], accumulate: bool, dy: &[f32], x: &[f32], w: &[f32], r: f32) -> () = rmsnorm_backward_row_in_lanes
}

/// One row of [`rmsnorm_backward_input`]; `mean(g·x)` summed in f64 in eight lanes.
#[inline(always)]
fn rmsnorm_backward_row_in_lanes(
    dx: &mut [f32],
    accumulate: bool,
    dy: &[f32],
    x: &[f32],
    w: &[f32],
    r: f32,
) {
    let d = dx.len();
    let (dy, x, w) = (&dy[..d], &x[..d], &w[..d]);
    let mut s = [0f64; 8];
    let main = d - d % 8;
    for c in (0..main).step_by(8) {
        for j in 0..8 {
            s[j] += (dy[c + j] * w[c + j]) as f64 * x[c + j] as f64;
        }
    }
    let rest: f64 = (main..d).map(|j| (dy[j] * w[j]) as f64 * x[j] as f64).sum();
    let dot = s.iter().sum::<f64>() + rest;
    let c = (dot / d as f64) as f32 * r * r * r;
    if accumulate {
        for j in 0..d {
            dx[j] += r * dy[j] * w[j] - x[j] * c;
        }
    } else {
        for j in 0..d {
            dx[j] = r * dy[j] * w[j] - x[j] * c;
        }
    }
}

/// `dw += Σ_rows dy · x · r`, split by columns so each sum runs in a fixed order.
pub fn rmsnorm_backward_weight(dw: &mut [f32], dy: &[f32], x: &[f32], rstd: &[f32], d: usize) {
    const COLS: usize = 64;
    dw.par_chunks_mut(COLS)
        .enumerate()
        .for_each(|(c, dw)| rmsnorm_weight_columns(dw, dy, x, rstd, d, c * COLS));
}

with_avx2! {
    fn rmsnorm_weight_columns(dw: &mut [f32], dy: &[f32], x: &[f32], rstd: &[f32], d: usize, c0: usize) -> () = rmsnorm_weight_columns_in_lanes
}

#[inline(always)]
fn rmsnorm_weight_columns_in_lanes(
    dw: &mut [f32],
    dy: &[f32],
    x: &[f32],
    rstd: &[f32],
    d: usize,
    c0: usize,
) {
    let cols = dw.len();
    let mut acc = [0f64; 64];
    let acc = &mut acc[..cols];
    for (row, &r) in rstd.iter().enumerate() {
        let base = row * d + c0;
        let (dy, x) = (&dy[base..base + cols], &x[base..base + cols]);
        for j in 0..cols {
            acc[j] += (dy[j] * x[j] * r) as f64;
        }
    }
    for (w, a) in dw.iter_mut().zip(acc) {
        *w += *a as f32;
    }
}

/// Rotary tables in Hugging Face's layout: the first `2·half` dimensions of each head
/// rotate, pair `i` at position `p` by `p · θ^(−2i/rot)`, computed in f32 as
/// `transformers` does so the tables agree bit for bit as far as `cos`/`sin` allow.
/// Pairs are `(i, i + half)`, or `(2i, 2i + 1)` when `interleaved` (GLM).
pub struct Rope {
    pub half: usize,
    pub head_dim: usize,
    pub interleaved: bool,
    pub cos: Vec<f32>,
    pub sin: Vec<f32>,
}

impl Rope {
    pub fn new(head_dim: usize, rot: usize, interleaved: bool, max_pos: usize, theta: f32) -> Self {
        let half = rot / 2;
        let inv_freq: Vec<f32> = (0..half)
            .map(|i| 1.0 / theta.powf((2 * i) as f32 / rot as f32))
            .collect();
        let mut cos = Vec::with_capacity(max_pos * half);
        let mut sin = Vec::with_capacity(max_pos * half);
        for p in 0..max_pos {
            for &f in &inv_freq {
                let a = p as f32 * f;
                cos.push(a.cos());
                sin.push(a.sin());
            }
        }
        Rope {
            half,
            head_dim,
            interleaved,
            cos,
            sin,
        }
    }

    pub fn max_positions(&self) -> usize {
        self.cos.len() / self.half.max(1)
    }

    /// Rotates row `r` of `x` (rows × heads·head_dim) to position `positions[r]`;
    /// `inverse` applies the transpose (the backward pass).
    pub fn apply_at(&self, x: &mut [f32], width: usize, positions: &[usize], inverse: bool) {
        x.par_chunks_mut(width)
            .zip(positions.par_iter())
            .for_each(|(xr, &p)| self.rotate_row(xr, p, inverse));
    }

    fn rotate_row(&self, xr: &mut [f32], p: usize, inverse: bool) {
        let h = self.half;
        let (c, s) = (&self.cos[p * h..(p + 1) * h], &self.sin[p * h..(p + 1) * h]);
        rotate_heads(xr, c, s, self.head_dim, self.interleaved, inverse);
    }
}

with_avx2! {
    fn rotate_heads(xr: &mut [f32], c: &[f32], s: &[f32], head_dim: usize, interleaved: bool, inverse: bool) -> () = rotate_in_lanes
}

#[inline(always)]
fn rotate_in_lanes(
    xr: &mut [f32],
    c: &[f32],
    s: &[f32],
    head_dim: usize,
    interleaved: bool,
    inverse: bool,
) {
    let h = c.len();
    let sign = if inverse { -1.0 } else { 1.0 };
    for head in xr.chunks_mut(head_dim) {
        if interleaved {
            for i in 0..h {
                let (x1, x2) = (head[2 * i], head[2 * i + 1]);
                let si = sign * s[i];
                head[2 * i] = x1 * c[i] - x2 * si;
                head[2 * i + 1] = x2 * c[i] + x1 * si;
            }
        } else {
            let (a, b) = head[..2 * h].split_at_mut(h);
            for i in 0..h {
                let (x1, x2) = (a[i], b[i]);
                let si = sign * s[i];
                a[i] = x1 * c[i] - x2 * si;
                b[i] = x2 * c[i] + x1 * si;
            }
        }
    }
}

/// Shapes of one causal attention call over `b` sequences of `t` tokens.
#[derive(Clone, Copy)]
pub struct AttnShape {
    pub b: usize,
    pub t: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
}

impl AttnShape {
    fn q_dim(&self) -> usize {
        self.heads * self.head_dim
    }
    fn kv_dim(&self) -> usize {
        self.kv_heads * self.head_dim
    }
    fn group(&self) -> usize {
        self.heads / self.kv_heads
    }
}

/// Causal softmax attention: `probs[b,h] = softmax(q kᵀ · scale)` (kept for the
/// backward pass) and `out = probs · v`. One task per (sequence, key/value head) so
/// grouped-query heads share their keys without write conflicts. Query rows go in tiles
/// of [`tile_rows`], each reading only the keys up to its last row.
pub fn attention_forward(
    out: &mut [f32],
    probs: &mut [f32],
    q: &[f32],
    k: &[f32],
    v: &[f32],
    s: AttnShape,
) {
    let (t, hd, qd, kvd) = (s.t, s.head_dim, s.q_dim(), s.kv_dim());
    let scale = 1.0 / (hd as f32).sqrt();
    let out_ptr = SharedMut(out.as_mut_ptr());
    let probs_ptr = SharedMut(probs.as_mut_ptr());
    let rows_len = t * qd;
    (0..s.b * s.kv_heads).into_par_iter().for_each(|task| {
        let (b, g) = (task / s.kv_heads, task % s.kv_heads);
        let kv0 = b * t * kvd + g * hd;
        let vrows = ByRow {
            data: &v[kv0..],
            ld: kvd,
        };
        PANELS.with_borrow_mut(|keys| {
            keys.pack(&k[kv0..], kvd, t, hd);
            for h in g * s.group()..(g + 1) * s.group() {
                // SAFETY: probs[b, h] and the (b, h) block of `out` belong to this task alone.
                let p = unsafe { probs_ptr.slice((b * s.heads + h) * t * t, t * t) };
                let o = unsafe { out_ptr.slice(b * rows_len + h * hd, rows_len - h * hd) };
                let q0 = b * t * qd + h * hd;
                let tr = tile_rows();
                for i0 in (0..t).step_by(tr) {
                    let (rows, n) = (tr.min(t - i0), (i0 + tr).min(t));
                    let qa = ByElement {
                        data: &q[q0 + i0 * qd..],
                        rs: qd,
                        ps: 1,
                    };
                    small_matmul_panels(&mut p[i0 * t..], t, qa, keys, rows, n, hd, false);
                    for i in i0..i0 + rows {
                        let row = &mut p[i * t..(i + 1) * t];
                        let (live, masked) = row.split_at_mut(i + 1);
                        softmax_scaled(live, scale);
                        masked.fill(0.0);
                    }
                    let pa = ByElement {
                        data: &p[i0 * t..],
                        rs: t,
                        ps: 1,
                    };
                    small_matmul(&mut o[i0 * qd..], qd, pa, vrows, rows, hd, n, false);
                }
            }
        });
    });
}

thread_local! {
    /// Keys (or values) of the head in hand, packed for [`small_matmul_panels`].
    static PANELS: std::cell::RefCell<Panels> = std::cell::RefCell::new(Panels::default());
}

/// `e^x` in f32 within about 2 ulp (Cephes' `expf`: range reduction by ln 2, a degree-6
/// polynomial, the exponent set by bits). libm's `expf` is a call per element; this is
/// plain arithmetic, so the loops over it vectorise. The multiply-adds are written as
/// `mul_add`, one rounding each: fused instructions on every CPU with FMA, and the same
/// bits from libm's `fmaf` on one without. Arguments are clamped to [-87.33, 88]: below,
/// the result is the smallest normal float instead of a subnormal.
#[inline(always)]
pub(crate) fn exp_f32(x: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5 · 2^23: adding it rounds to an integer
    let x = x.clamp(-87.33, 88.0);
    let t = x.mul_add(std::f32::consts::LOG2_E, MAGIC);
    let n = t - MAGIC;
    let r = n.mul_add(-0.693_359_4, x);
    let r = n.mul_add(2.121_944_4e-4, r);
    let p = 1.987_569_1e-4f32.mul_add(r, 1.398_199_9e-3);
    let p = p.mul_add(r, 8.333_452e-3);
    let p = p.mul_add(r, 4.166_579_6e-2);
    let p = p.mul_add(r, 1.666_666_5e-1);
    let p = p.mul_add(r, 0.5);
    let y = p.mul_add(r * r, r) + 1.0;
    let bits = (t.to_bits() as i32 - MAGIC.to_bits() as i32 + 127) << 23;
    y * f32::from_bits(bits as u32)
}

/// The largest element (NaN-free rows), in eight lanes so it vectorises.
#[inline(always)]
pub(crate) fn max_f32(xs: &[f32]) -> f32 {
    let mut m = [f32::NEG_INFINITY; 8];
    let mut chunks = xs.chunks_exact(8);
    for c in &mut chunks {
        for j in 0..8 {
            m[j] = if c[j] > m[j] { c[j] } else { m[j] };
        }
    }
    let rest = chunks.remainder().iter();
    rest.chain(&m)
        .fold(f32::NEG_INFINITY, |a, &b| if b > a { b } else { a })
}

/// `Σ e^(x − shift)` accumulated in f64, in eight lanes so it vectorises.
#[inline(always)]
pub(crate) fn sum_exp(xs: &[f32], shift: f32) -> f64 {
    let mut s = [0f64; 8];
    let mut chunks = xs.chunks_exact(8);
    for c in &mut chunks {
        for j in 0..8 {
            s[j] += exp_f32(c[j] - shift) as f64;
        }
    }
    let mut rest = 0f64;
    for &x in chunks.remainder() {
        rest += exp_f32(x - shift) as f64;
    }
    s.iter().sum::<f64>() + rest
}

/// `xs ← e^(xs − shift)`, returning their sum exactly as [`sum_exp`] sums them.
#[inline(always)]
fn exp_in_place(xs: &mut [f32], shift: f32) -> f64 {
    let mut s = [0f64; 8];
    let mut chunks = xs.chunks_exact_mut(8);
    for c in &mut chunks {
        for j in 0..8 {
            c[j] = exp_f32(c[j] - shift);
            s[j] += c[j] as f64;
        }
    }
    let mut rest = 0f64;
    for x in chunks.into_remainder() {
        *x = exp_f32(*x - shift);
        rest += *x as f64;
    }
    s.iter().sum::<f64>() + rest
}

with_avx2! {
    /// `log p(target)` from a row of logits, and whether `target` is the arg-max (ties
    /// to the lowest id: the first position holding the maximum).
    pub(crate) fn logprob_of(row: &[f32], target: u32) -> (f64, bool) = logprob_in_lanes
}

#[inline(always)]
fn logprob_in_lanes(row: &[f32], target: u32) -> (f64, bool) {
    let max = max_f32(row);
    let sum = sum_exp(row, max);
    (
        (row[target as usize] - max) as f64 - sum.ln(),
        first_at(row, max) == target,
    )
}

/// The first position holding `max` (so ties go to the lowest id).
#[inline(always)]
fn first_at(row: &[f32], max: f32) -> u32 {
    row.iter().position(|&x| x == max).unwrap_or(0) as u32
}

/// The arg-max of a row, ties to the lowest id: greedy decoding's next token.
pub(crate) fn argmax(row: &[f32]) -> u32 {
    first_at(row, max_f32(row))
}

with_avx2! {
    /// `xs ← softmax(xs · scale)` in place: one causal attention row.
    pub(crate) fn softmax_scaled(xs: &mut [f32], scale: f32) -> () = softmax_in_lanes
}

#[inline(always)]
fn softmax_in_lanes(xs: &mut [f32], scale: f32) {
    // Rounding is monotonic, so the largest scaled score is the largest score scaled,
    // and each exponential's argument is the one a separate scaling pass would give.
    let max = max_f32(xs) * scale;
    let mut s = [0f32; 8];
    let mut chunks = xs.chunks_exact_mut(8);
    for c in &mut chunks {
        for j in 0..8 {
            c[j] = exp_f32(c[j] * scale - max);
            s[j] += c[j];
        }
    }
    let mut sum: f32 = s.iter().sum();
    for x in chunks.into_remainder() {
        *x = exp_f32(*x * scale - max);
        sum += *x;
    }
    let inv = 1.0 / sum;
    xs.iter_mut().for_each(|x| *x *= inv);
}

/// `dst += src` (the residual connection).
pub(crate) fn add_assign(dst: &mut [f32], src: &[f32]) {
    dst.par_chunks_mut(4096)
        .zip(src.par_chunks(4096))
        .for_each(|(d, s)| d.iter_mut().zip(s).for_each(|(d, s)| *d += s));
}

/// LayerNorm: `y = (x − mean) · rstd · w + b` (no `w` or `b` for OLMo's), keeping
/// `mean` and `rstd` per row for the backward pass. Moments are summed in f64.
#[allow(clippy::too_many_arguments)]
pub fn layernorm_forward(
    y: &mut [f32],
    mean: &mut [f32],
    rstd: &mut [f32],
    x: &[f32],
    w: Option<&[f32]>,
    b: Option<&[f32]>,
    d: usize,
    eps: f32,
) {
    y.par_chunks_mut(d)
        .zip(mean.par_iter_mut().zip(rstd.par_iter_mut()))
        .zip(x.par_chunks(d))
        .for_each(|((y, (m, r)), x)| {
            let mu = x.iter().map(|&v| v as f64).sum::<f64>() / d as f64;
            let var = x.iter().map(|&v| (v as f64 - mu).powi(2)).sum::<f64>() / d as f64;
            let rs = 1.0 / (var as f32 + eps).sqrt();
            let mu = mu as f32;
            for (j, (y, &x)) in y.iter_mut().zip(x).enumerate() {
                let xhat = (x - mu) * rs;
                *y = match (w, b) {
                    (Some(w), Some(b)) => xhat * w[j] + b[j],
                    (Some(w), None) => xhat * w[j],
                    _ => xhat,
                };
            }
            (*m, *r) = (mu, rs);
        });
}

/// `dx (+)= ∂L/∂x` of [`layernorm_forward`]:
/// `rstd · (g − mean(g) − x̂ · mean(g · x̂))` with `g = dy · w`.
#[allow(clippy::too_many_arguments)]
pub fn layernorm_backward_input(
    dx: &mut [f32],
    accumulate: bool,
    dy: &[f32],
    x: &[f32],
    w: Option<&[f32]>,
    mean: &[f32],
    rstd: &[f32],
    d: usize,
) {
    dx.par_chunks_mut(d)
        .zip(dy.par_chunks(d).zip(x.par_chunks(d)))
        .zip(mean.par_iter().zip(rstd.par_iter()))
        .for_each(|((dx, (dy, x)), (&mu, &rs))| {
            let g = |j: usize| w.map_or(dy[j], |w| dy[j] * w[j]);
            let (mut sg, mut sgx) = (0f64, 0f64);
            for (j, &xj) in x.iter().enumerate() {
                let xhat = (xj - mu) * rs;
                sg += g(j) as f64;
                sgx += (g(j) * xhat) as f64;
            }
            let (mg, mgx) = ((sg / d as f64) as f32, (sgx / d as f64) as f32);
            for (j, (dxj, &xj)) in dx.iter_mut().zip(x).enumerate() {
                let xhat = (xj - mu) * rs;
                let v = rs * (g(j) - mg - xhat * mgx);
                if accumulate {
                    *dxj += v;
                } else {
                    *dxj = v;
                }
            }
        });
}

/// `dw += Σ_rows dy · x̂` of [`layernorm_forward`], by columns so each sum runs in a
/// fixed order.
pub fn layernorm_backward_weight(
    dw: &mut [f32],
    dy: &[f32],
    x: &[f32],
    mean: &[f32],
    rstd: &[f32],
    d: usize,
) {
    const COLS: usize = 64;
    dw.par_chunks_mut(COLS).enumerate().for_each(|(c, dw)| {
        let c0 = c * COLS;
        let mut acc = [0f64; COLS];
        for (row, (&mu, &rs)) in mean.iter().zip(rstd).enumerate() {
            let base = row * d + c0;
            for j in 0..dw.len() {
                acc[j] += (dy[base + j] * ((x[base + j] - mu) * rs)) as f64;
            }
        }
        for (w, a) in dw.iter_mut().zip(acc) {
            *w += a as f32;
        }
    });
}

/// `y[r] += b` for every row of `y` (rows × `b.len()`).
pub fn bias_forward(y: &mut [f32], b: &[f32]) {
    y.par_chunks_mut(b.len())
        .for_each(|row| row.iter_mut().zip(b).for_each(|(y, b)| *y += b));
}

/// `db += Σ_rows dy`, by columns so each sum runs in a fixed order.
pub fn bias_backward(db: &mut [f32], dy: &[f32]) {
    const COLS: usize = 64;
    let width = db.len();
    db.par_chunks_mut(COLS).enumerate().for_each(|(c, db)| {
        let c0 = c * COLS;
        let mut acc = [0f64; COLS];
        for row in dy.chunks_exact(width) {
            for j in 0..db.len() {
                acc[j] += row[c0 + j] as f64;
            }
        }
        for (b, a) in db.iter_mut().zip(acc) {
            *b += a as f32;
        }
    });
}

const SQRT_HALF: f64 = std::f64::consts::FRAC_1_SQRT_2;

/// The exact GELU, `x · Φ(x) = x/2 · (1 + erf(x/√2))`, computed in f64 (PyTorch's
/// `gelu` with `approximate="none"`).
pub fn gelu_forward(h: &mut [f32], x: &[f32]) {
    h.par_chunks_mut(4096)
        .zip(x.par_chunks(4096))
        .for_each(|(h, x)| {
            for (h, &x) in h.iter_mut().zip(x) {
                let x = x as f64;
                *h = (0.5 * x * (1.0 + libm::erf(x * SQRT_HALF))) as f32;
            }
        });
}

/// Backward of [`gelu_forward`]: `dx = dh · (Φ(x) + x · φ(x))`.
pub fn gelu_backward(dx: &mut [f32], dh: &[f32], x: &[f32]) {
    const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;
    dx.par_chunks_mut(4096)
        .zip(dh.par_chunks(4096).zip(x.par_chunks(4096)))
        .for_each(|(dx, (dh, x))| {
            for ((dx, &dh), &x) in dx.iter_mut().zip(dh).zip(x) {
                let x = x as f64;
                let cdf = 0.5 * (1.0 + libm::erf(x * SQRT_HALF));
                let pdf = INV_SQRT_2PI * (-0.5 * x * x).exp();
                *dx = (dh as f64 * (cdf + x * pdf)) as f32;
            }
        });
}

/// Backward of [`attention_forward`]. `dprobs` is scratch of the size of `probs`.
/// Query tiles first (`dS`, then `dq = dS · k`), then key tiles (`dk = dSᵀ · q` and
/// `dv = pᵀ · dout`, summed over the heads that share them), every product reading
/// only the causal part.
#[allow(clippy::too_many_arguments)]
pub fn attention_backward(
    dq: &mut [f32],
    dk: &mut [f32],
    dv: &mut [f32],
    dprobs: &mut [f32],
    dout: &[f32],
    probs: &[f32],
    q: &[f32],
    k: &[f32],
    v: &[f32],
    s: AttnShape,
) {
    let (t, hd, qd, kvd) = (s.t, s.head_dim, s.q_dim(), s.kv_dim());
    let scale = 1.0 / (hd as f32).sqrt();
    let (dq_ptr, dk_ptr, dv_ptr) = (
        SharedMut(dq.as_mut_ptr()),
        SharedMut(dk.as_mut_ptr()),
        SharedMut(dv.as_mut_ptr()),
    );
    let dp_ptr = SharedMut(dprobs.as_mut_ptr());
    (0..s.b * s.kv_heads).into_par_iter().for_each(|task| {
        let (b, g) = (task / s.kv_heads, task % s.kv_heads);
        let kv0 = b * t * kvd + g * hd;
        let krows = ByRow {
            data: &k[kv0..],
            ld: kvd,
        };
        // SAFETY: the (b, g) blocks of dk/dv and the (b, h) blocks of dq/dprobs are this task's.
        let dkb = unsafe { dk_ptr.slice(kv0, t * kvd - g * hd) };
        let dvb = unsafe { dv_ptr.slice(kv0, t * kvd - g * hd) };
        PANELS.with_borrow_mut(|values| {
            values.pack(&v[kv0..], kvd, t, hd);
            for (nth, h) in (g * s.group()..(g + 1) * s.group()).enumerate() {
                let p = &probs[(b * s.heads + h) * t * t..][..t * t];
                let dp = unsafe { dp_ptr.slice((b * s.heads + h) * t * t, t * t) };
                let dqb = unsafe { dq_ptr.slice(b * t * qd + h * hd, t * qd - h * hd) };
                let q0 = b * t * qd + h * hd;
                let tr = tile_rows();
                for i0 in (0..t).step_by(tr) {
                    let (rows, n) = (tr.min(t - i0), (i0 + tr).min(t));
                    let doa = ByElement {
                        data: &dout[q0 + i0 * qd..],
                        rs: qd,
                        ps: 1,
                    };
                    small_matmul_panels(&mut dp[i0 * t..], t, doa, values, rows, n, hd, false);
                    for i in i0..i0 + rows {
                        let (pr, dr) = (&p[i * t..i * t + i + 1], &mut dp[i * t..(i + 1) * t]);
                        let (live, masked) = dr.split_at_mut(i + 1);
                        softmax_backward_row(live, pr, scale);
                        masked.fill(0.0);
                    }
                    let dsa = ByElement {
                        data: &dp[i0 * t..],
                        rs: t,
                        ps: 1,
                    };
                    small_matmul(&mut dqb[i0 * qd..], qd, dsa, krows, rows, hd, n, false);
                }
                // Key rows j0.. are read by query rows j0.. alone (causal): the column
                // strip of dS (or p) from row j0 down, as A transposed. Six rows a step
                // on every tier: where a tile starts decides which masked zeros a
                // row's chain holds, and so (for a zero sum) the sign of its zero.
                for j0 in (0..t).step_by(TILE_ROWS) {
                    let rows = TILE_ROWS.min(t - j0);
                    let (dkj, dvj) = (&mut dkb[j0 * kvd..], &mut dvb[j0 * kvd..]);
                    let (ds_t, p_t) = (column_strip(dp, t, j0), column_strip(p, t, j0));
                    let (qj, doj) = (
                        rows_from(q, q0 + j0 * qd, qd),
                        rows_from(dout, q0 + j0 * qd, qd),
                    );
                    let acc = nth > 0;
                    small_matmul(dkj, kvd, ds_t, qj, rows, hd, t - j0, acc);
                    small_matmul(dvj, kvd, p_t, doj, rows, hd, t - j0, acc);
                }
            }
        });
    });
}

/// Columns `j0..` of rows `j0..` of a `t × t` matrix, transposed: `A(r, p) = m[j0 + p, j0 + r]`.
fn column_strip(m: &[f32], t: usize, j0: usize) -> ByElement<'_> {
    ByElement {
        data: &m[j0 * t + j0..],
        rs: 1,
        ps: t,
    }
}

/// Rows of stride `ld` from `start` on.
fn rows_from(m: &[f32], start: usize, ld: usize) -> ByRow<'_> {
    ByRow {
        data: &m[start..],
        ld,
    }
}

with_avx2! {
    /// `dp ← p · (dp − Σ p·dp) · scale`: the gradient through one softmax row.
    fn softmax_backward_row(dp: &mut [f32], p: &[f32], scale: f32) -> () = softmax_backward_in_lanes
}

#[inline(always)]
fn softmax_backward_in_lanes(dp: &mut [f32], p: &[f32], scale: f32) {
    let n = dp.len();
    let p = &p[..n];
    let mut s = [0f32; 8];
    let main = n - n % 8;
    for c in (0..main).step_by(8) {
        for j in 0..8 {
            s[j] += p[c + j] * dp[c + j];
        }
    }
    let dot = (main..n).fold(s.iter().sum::<f32>(), |a, j| a + p[j] * dp[j]);
    for j in 0..n {
        dp[j] = p[j] * (dp[j] - dot) * scale;
    }
}

/// SwiGLU: `h = silu(gate) · up`.
pub fn swiglu_forward(h: &mut [f32], gate: &[f32], up: &[f32]) {
    h.par_chunks_mut(4096)
        .zip(gate.par_chunks(4096))
        .zip(up.par_chunks(4096))
        .for_each(|((h, g), u)| swiglu_chunk(h, g, u));
}

with_avx2! {
    fn swiglu_chunk(h: &mut [f32], g: &[f32], u: &[f32]) -> () = swiglu_in_lanes
}

#[inline(always)]
fn swiglu_in_lanes(h: &mut [f32], g: &[f32], u: &[f32]) {
    for ((h, &g), &u) in h.iter_mut().zip(g).zip(u) {
        *h = g / (1.0 + exp_f32(-g)) * u;
    }
}

/// Backward of [`swiglu_forward`], overwriting `dgate` and `dup`.
pub fn swiglu_backward(dgate: &mut [f32], dup: &mut [f32], dh: &[f32], gate: &[f32], up: &[f32]) {
    dgate
        .par_chunks_mut(4096)
        .zip(dup.par_chunks_mut(4096))
        .zip(
            dh.par_chunks(4096)
                .zip(gate.par_chunks(4096))
                .zip(up.par_chunks(4096)),
        )
        .for_each(|((dg, du), ((dh, g), u))| swiglu_backward_chunk(dg, du, dh, g, u));
}

with_avx2! {
    fn swiglu_backward_chunk(dg: &mut [f32], du: &mut [f32], dh: &[f32], g: &[f32], u: &[f32]) -> () = swiglu_backward_in_lanes
}

#[inline(always)]
fn swiglu_backward_in_lanes(dg: &mut [f32], du: &mut [f32], dh: &[f32], g: &[f32], u: &[f32]) {
    let n = dg.len();
    let (du, dh, g, u) = (&mut du[..n], &dh[..n], &g[..n], &u[..n]);
    for i in 0..n {
        let sig = 1.0 / (1.0 + exp_f32(-g[i]));
        let silu = g[i] * sig;
        du[i] = dh[i] * silu;
        dg[i] = dh[i] * u[i] * sig * (1.0 + g[i] * (1.0 - sig));
    }
}

/// Per-row cross-entropy `logsumexp(l) − l[target]` into `nll`.
/// With `grad_scale`, each row of `logits` becomes its gradient `(softmax − onehot) · scale`.
pub fn cross_entropy(
    logits: &mut [f32],
    nll: &mut [f64],
    targets: &[u32],
    v: usize,
    grad_scale: Option<f32>,
) {
    logits
        .par_chunks_mut(v)
        .zip(nll.par_iter_mut())
        .zip(targets.par_iter())
        .for_each(|((row, nll), &target)| {
            *nll = cross_entropy_row(row, target as usize, grad_scale);
        });
}

with_avx2! {
    fn cross_entropy_row(row: &mut [f32], target: usize, grad_scale: Option<f32>) -> f64 = cross_entropy_in_lanes
}

/// One row: the negative log-likelihood of `target` (log-sum-exp in f64), and with a
/// `grad_scale` the row replaced by `scale · (softmax − onehot)`.
#[inline(always)]
fn cross_entropy_in_lanes(row: &mut [f32], target: usize, grad_scale: Option<f32>) -> f64 {
    let max = max_f32(row);
    let Some(scale) = grad_scale else {
        return max as f64 + sum_exp(row, max).ln() - row[target] as f64;
    };
    let logit = row[target] as f64;
    // The exponentials are kept in the row and summed as `sum_exp` sums them, so the
    // loss is the same and the gradient needs no second pass of `exp`.
    let sum = exp_in_place(row, max);
    let k = (scale as f64 / sum) as f32;
    row.iter_mut().for_each(|x| *x *= k);
    row[target] -= scale;
    max as f64 + sum.ln() - logit
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The loss is the same with and without the gradient, and the softmax's scaling
    /// inside its `exp` pass gives the bits of a separate scaling pass.
    #[test]
    fn fused_passes_give_the_separate_passes_bits() {
        let row: Vec<f32> = (0..1037).map(|i| (i as f32 * 0.731).sin() * 9.0).collect();
        let mut with_grad = row.clone();
        let loss = cross_entropy_row(&mut row.clone(), 17, None);
        assert_eq!(loss, cross_entropy_row(&mut with_grad, 17, Some(0.5)));
        let max = max_f32(&row);
        assert_eq!(exp_in_place(&mut row.clone(), max), sum_exp(&row, max));
        let scale = 0.125f32.sqrt();
        let mut fused = row.clone();
        softmax_scaled(&mut fused, scale);
        let mut scaled: Vec<f32> = row.iter().map(|x| x * scale).collect();
        let m = max_f32(&scaled);
        scaled.iter_mut().for_each(|x| *x = exp_f32(*x - m));
        let mut lanes = [0f32; 8];
        let body = scaled.len() / 8 * 8;
        for (i, x) in scaled[..body].iter().enumerate() {
            lanes[i % 8] += x;
        }
        let total = scaled[body..]
            .iter()
            .fold(lanes.iter().sum::<f32>(), |a, x| a + x);
        let inv = 1.0 / total;
        for (f, x) in fused.iter().zip(&scaled) {
            assert_eq!(f.to_bits(), (x * inv).to_bits());
        }
    }

    #[test]
    fn exp_f32_is_within_three_ulp_of_exact() {
        let mut worst = 0f64;
        for i in 0..=2_000_000 {
            let x = -87.0 + 175.0 * i as f32 / 2e6;
            let exact = (x as f64).exp();
            worst = worst.max(((exp_f32(x) as f64) - exact).abs() / exact);
        }
        assert!(
            worst < 3.0 * f32::EPSILON as f64,
            "worst relative error {worst:e}"
        );
        assert_eq!(exp_f32(0.0), 1.0);
        assert!(exp_f32(-1000.0) < 1.2e-38 && exp_f32(1000.0).is_finite());
    }

    fn numeric_grad(f: &mut dyn FnMut(&[f32]) -> f64, x: &[f32]) -> Vec<f64> {
        let mut x = x.to_vec();
        (0..x.len())
            .map(|i| {
                let h = 1e-3f32;
                let orig = x[i];
                x[i] = orig + h;
                let up = f(&x);
                x[i] = orig - h;
                let down = f(&x);
                x[i] = orig;
                (up - down) / (2.0 * h as f64)
            })
            .collect()
    }

    /// Plain f64 loops: causal attention, and its backward for an upstream gradient.
    #[allow(clippy::type_complexity)]
    fn naive_attention(
        q: &[f32],
        k: &[f32],
        v: &[f32],
        dout: &[f32],
        s: AttnShape,
    ) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
        let (t, hd, qd, kvd) = (s.t, s.head_dim, s.q_dim(), s.kv_dim());
        let scale = 1.0 / (hd as f64).sqrt();
        let (mut out, mut dq) = (vec![0.0; s.b * t * qd], vec![0.0; s.b * t * qd]);
        let (mut dk, mut dv) = (vec![0.0; s.b * t * kvd], vec![0.0; s.b * t * kvd]);
        for b in 0..s.b {
            for h in 0..s.heads {
                let g = h / s.group();
                let qi = |i: usize, c: usize| q[(b * t + i) * qd + h * hd + c] as f64;
                let kj = |j: usize, c: usize| k[(b * t + j) * kvd + g * hd + c] as f64;
                let vj = |j: usize, c: usize| v[(b * t + j) * kvd + g * hd + c] as f64;
                for i in 0..t {
                    let sc: Vec<f64> = (0..=i)
                        .map(|j| (0..hd).map(|c| qi(i, c) * kj(j, c)).sum::<f64>() * scale)
                        .collect();
                    let m = sc.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let z: f64 = sc.iter().map(|x| (x - m).exp()).sum();
                    let p: Vec<f64> = sc.iter().map(|x| (x - m).exp() / z).collect();
                    let dov = |c: usize| dout[(b * t + i) * qd + h * hd + c] as f64;
                    let dp: Vec<f64> = (0..=i)
                        .map(|j| (0..hd).map(|c| dov(c) * vj(j, c)).sum())
                        .collect();
                    let dot: f64 = p.iter().zip(&dp).map(|(a, b)| a * b).sum();
                    for j in 0..=i {
                        let ds = p[j] * (dp[j] - dot) * scale;
                        for c in 0..hd {
                            out[(b * t + i) * qd + h * hd + c] += p[j] * vj(j, c);
                            dv[(b * t + j) * kvd + g * hd + c] += p[j] * dov(c);
                            dq[(b * t + i) * qd + h * hd + c] += ds * kj(j, c);
                            dk[(b * t + j) * kvd + g * hd + c] += ds * qi(i, c);
                        }
                    }
                }
            }
        }
        (out, dq, dk, dv)
    }

    #[test]
    fn blocked_causal_attention_matches_plain_loops() {
        // 150 positions: three row blocks, the last one partial; grouped-query heads.
        let s = AttnShape {
            b: 2,
            t: 150,
            heads: 4,
            kv_heads: 2,
            head_dim: 8,
        };
        let (qd, kvd) = (s.q_dim(), s.kv_dim());
        let mut rng = crate::Rng::new(9);
        let mut draw = |n: usize| (0..n).map(|_| rng.normal() as f32).collect::<Vec<f32>>();
        let (q, k, v, dout) = (
            draw(s.b * s.t * qd),
            draw(s.b * s.t * kvd),
            draw(s.b * s.t * kvd),
            draw(s.b * s.t * qd),
        );
        let mut out = vec![0.0; q.len()];
        let mut probs = vec![0.0; s.b * s.heads * s.t * s.t];
        attention_forward(&mut out, &mut probs, &q, &k, &v, s);
        let (mut dq, mut dk, mut dv) = (vec![0.0; q.len()], vec![1.0; k.len()], vec![1.0; v.len()]);
        let mut dprobs = vec![0.0; probs.len()];
        attention_backward(
            &mut dq,
            &mut dk,
            &mut dv,
            &mut dprobs,
            &dout,
            &probs,
            &q,
            &k,
            &v,
            s,
        );
        let (want_out, want_dq, want_dk, want_dv) = naive_attention(&q, &k, &v, &dout, s);
        for (name, ours, want) in [
            ("out", &out, &want_out),
            ("dq", &dq, &want_dq),
            ("dk", &dk, &want_dk),
            ("dv", &dv, &want_dv),
        ] {
            let worst = ours
                .iter()
                .zip(want)
                .map(|(a, b)| (*a as f64 - b).abs())
                .fold(0.0, f64::max);
            assert!(worst < 1e-4, "{name}: worst difference {worst:e}");
        }
    }

    #[test]
    fn rmsnorm_backward_matches_finite_differences() {
        let d = 6;
        let x: Vec<f32> = (0..2 * d).map(|i| (i as f32 * 0.7).sin() + 0.1).collect();
        let w: Vec<f32> = (0..d).map(|i| 1.0 + 0.1 * i as f32).collect();
        let dy: Vec<f32> = (0..2 * d).map(|i| (i as f32 * 0.3).cos()).collect();
        let mut loss = |x: &[f32]| {
            let (mut y, mut r) = (vec![0.0; 2 * d], vec![0.0; 2]);
            rmsnorm_forward(&mut y, &mut r, x, &w, d, 1e-5);
            y.iter().zip(&dy).map(|(a, b)| (a * b) as f64).sum()
        };
        let want = numeric_grad(&mut loss, &x);
        let (mut y, mut r) = (vec![0.0; 2 * d], vec![0.0; 2]);
        rmsnorm_forward(&mut y, &mut r, &x, &w, d, 1e-5);
        let mut dx = vec![0.0; 2 * d];
        rmsnorm_backward_input(&mut dx, false, &dy, &x, &w, &r, d);
        for (a, b) in dx.iter().zip(want) {
            assert!((*a as f64 - b).abs() < 2e-3, "{a} vs {b}");
        }
    }

    #[test]
    fn rope_inverse_undoes_rotation_and_leaves_the_rest() {
        for (rot, interleaved) in [(8, false), (4, false), (4, true), (2, true)] {
            let rope = Rope::new(8, rot, interleaved, 16, 10000.0);
            let x: Vec<f32> = (0..3 * 16).map(|i| (i as f32).sin()).collect();
            let mut y = x.clone();
            rope.apply_at(&mut y, 16, &[0, 5, 9], false);
            for (j, (a, b)) in x.iter().zip(&y).enumerate() {
                if j % 8 >= rot || j < 16 {
                    assert_eq!(a, b, "dimension {j} of rot {rot} moved");
                }
            }
            rope.apply_at(&mut y, 16, &[0, 5, 9], true);
            for (a, b) in x.iter().zip(&y) {
                assert!((a - b).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn layernorm_and_gelu_gradients_match_finite_differences() {
        let d = 12;
        let x: Vec<f32> = (0..2 * d)
            .map(|i| ((i * 7) as f32 * 0.37).sin() * 2.0)
            .collect();
        let w: Vec<f32> = (0..d).map(|i| 1.0 + 0.1 * i as f32).collect();
        let b: Vec<f32> = (0..d).map(|i| 0.05 * i as f32).collect();
        let dy: Vec<f32> = (0..2 * d).map(|i| (i as f32 * 0.91).cos()).collect();
        let loss = |x: &[f32]| -> f64 {
            let (mut y, mut m, mut r) = (vec![0.0; 2 * d], vec![0.0; 2], vec![0.0; 2]);
            layernorm_forward(&mut y, &mut m, &mut r, x, Some(&w), Some(&b), d, 1e-5);
            let mut h = vec![0.0; 2 * d];
            gelu_forward(&mut h, &y);
            h.iter().zip(&dy).map(|(&h, &g)| h as f64 * g as f64).sum()
        };
        let (mut y, mut m, mut r) = (vec![0.0; 2 * d], vec![0.0; 2], vec![0.0; 2]);
        layernorm_forward(&mut y, &mut m, &mut r, &x, Some(&w), Some(&b), d, 1e-5);
        let mut dh = vec![0.0; 2 * d];
        gelu_backward(&mut dh, &dy, &y);
        let mut dx = vec![0.0; 2 * d];
        layernorm_backward_input(&mut dx, false, &dh, &x, Some(&w), &m, &r, d);
        for j in 0..2 * d {
            let (mut up, mut down) = (x.clone(), x.clone());
            up[j] += 1e-2;
            down[j] -= 1e-2;
            let numeric = (loss(&up) - loss(&down)) / 2e-2;
            assert!(
                (dx[j] as f64 - numeric).abs() < 3e-3,
                "{j}: {} vs {numeric}",
                dx[j]
            );
        }
    }
}
