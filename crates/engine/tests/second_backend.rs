//! The operations interface implemented a second time, in plain scalar Rust with f64
//! sums (no SIMD, no threads, no blocking), and a model of every architecture trained
//! and scored through it against the CPU backend: what a new device has to write is an
//! implementation of `Ops`, and nothing else.

use emergent_engine::ops::{AdamStep, AttnShape, CachedSegment, Heads, Rope};
use emergent_engine::{
    AdamW, AdamWConfig, Architecture, Cpu, LanguageModel, Model, ModelConfig, Ops, ScoreGroup,
    Trainer,
};

#[derive(Default)]
struct Scalar;

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum()
}

fn put(dst: &mut f32, v: f64, accumulate: bool) {
    *dst = if accumulate {
        *dst + v as f32
    } else {
        v as f32
    };
}

/// Softmax of `scores` (already scaled) in place.
fn softmax(scores: &mut [f64]) {
    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let sum: f64 = scores
        .iter_mut()
        .map(|s| {
            *s = (*s - max).exp();
            *s
        })
        .sum();
    scores.iter_mut().for_each(|s| *s /= sum);
}

/// Attention of one query row over `keys`/`values` rows (head slices), into `out`;
/// returns the probabilities.
fn attend_row(q: &[f32], keys: &[&[f32]], values: &[&[f32]], out: &mut [f32]) -> Vec<f64> {
    let scale = 1.0 / (q.len() as f64).sqrt();
    let mut p: Vec<f64> = keys.iter().map(|k| dot(q, k) * scale).collect();
    softmax(&mut p);
    for (j, o) in out.iter_mut().enumerate() {
        *o = p
            .iter()
            .zip(values)
            .map(|(&pi, v)| pi * v[j] as f64)
            .sum::<f64>() as f32;
    }
    p
}

fn erf_gelu(x: f64) -> (f64, f64) {
    let cdf = 0.5 * (1.0 + libm::erf(x / std::f64::consts::SQRT_2));
    let pdf = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
    (x * cdf, cdf + x * pdf)
}

impl Ops for Scalar {
    fn linear(&self, y: &mut [f32], x: &[f32], w: &[f32], rows: usize, inp: usize, out: usize) {
        for r in 0..rows {
            for o in 0..out {
                y[r * out + o] = dot(&x[r * inp..][..inp], &w[o * inp..][..inp]) as f32;
            }
        }
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
        for r in 0..rows {
            for i in 0..inp {
                let mut s = 0.0;
                let mut at = 0;
                for (dy, &out) in dys.iter().zip(outs) {
                    for o in 0..out {
                        s += dy[r * out + o] as f64 * w[(at + o) * inp + i] as f64;
                    }
                    at += out;
                }
                put(&mut dx[r * inp + i], s, accumulate_dx);
            }
        }
        let mut at = 0;
        for (dy, &out) in dys.iter().zip(outs) {
            for o in 0..out {
                for i in 0..inp {
                    let s: f64 = (0..rows)
                        .map(|r| dy[r * out + o] as f64 * x[r * inp + i] as f64)
                        .sum();
                    dw[(at + o) * inp + i] += s as f32;
                }
            }
            at += out;
        }
    }

    fn bias_forward(&self, y: &mut [f32], b: &[f32]) {
        for row in y.chunks_mut(b.len()) {
            row.iter_mut().zip(b).for_each(|(y, b)| *y += b);
        }
    }

    fn bias_backward(&self, db: &mut [f32], dy: &[f32]) {
        let n = db.len();
        for (j, d) in db.iter_mut().enumerate() {
            *d += dy.chunks(n).map(|r| r[j] as f64).sum::<f64>() as f32;
        }
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
        for (r, (yr, xr)) in y.chunks_mut(d).zip(x.chunks(d)).enumerate() {
            let rs = 1.0 / (dot(xr, xr) / d as f64 + eps as f64).sqrt();
            for j in 0..d {
                yr[j] = (xr[j] as f64 * rs * w[j] as f64) as f32;
            }
            rstd[r] = rs as f32;
        }
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
        for r in 0..rows_of(dx, d) {
            let (dyr, xr, rs) = (&dy[r * d..][..d], &x[r * d..][..d], rstd[r] as f64);
            let gx: f64 = (0..d)
                .map(|j| dyr[j] as f64 * w[j] as f64 * xr[j] as f64)
                .sum();
            let c = gx / d as f64 * rs * rs * rs;
            for j in 0..d {
                let v = rs * dyr[j] as f64 * w[j] as f64 - xr[j] as f64 * c;
                put(&mut dx[r * d + j], v, accumulate);
            }
        }
    }

    fn rmsnorm_backward_weight(
        &self,
        dw: &mut [f32],
        dy: &[f32],
        x: &[f32],
        rstd: &[f32],
        d: usize,
    ) {
        for (j, w) in dw.iter_mut().enumerate() {
            let s: f64 = (0..rstd.len())
                .map(|r| dy[r * d + j] as f64 * x[r * d + j] as f64 * rstd[r] as f64)
                .sum();
            *w += s as f32;
        }
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
        for (r, (yr, xr)) in y.chunks_mut(d).zip(x.chunks(d)).enumerate() {
            let mu = xr.iter().map(|&v| v as f64).sum::<f64>() / d as f64;
            let var = xr.iter().map(|&v| (v as f64 - mu).powi(2)).sum::<f64>() / d as f64;
            let rs = 1.0 / (var + eps as f64).sqrt();
            for j in 0..d {
                let xhat = (xr[j] as f64 - mu) * rs;
                let v = xhat * w.map_or(1.0, |w| w[j] as f64) + b.map_or(0.0, |b| b[j] as f64);
                yr[j] = v as f32;
            }
            (mean[r], rstd[r]) = (mu as f32, rs as f32);
        }
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
        for r in 0..rows_of(dx, d) {
            let (mu, rs) = (mean[r] as f64, rstd[r] as f64);
            let g = |j: usize| dy[r * d + j] as f64 * w.map_or(1.0, |w| w[j] as f64);
            let xhat = |j: usize| (x[r * d + j] as f64 - mu) * rs;
            let mg = (0..d).map(g).sum::<f64>() / d as f64;
            let mgx = (0..d).map(|j| g(j) * xhat(j)).sum::<f64>() / d as f64;
            for j in 0..d {
                put(
                    &mut dx[r * d + j],
                    rs * (g(j) - mg - xhat(j) * mgx),
                    accumulate,
                );
            }
        }
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
        for (j, w) in dw.iter_mut().enumerate() {
            let s: f64 = (0..mean.len())
                .map(|r| {
                    let xhat = (x[r * d + j] as f64 - mean[r] as f64) * rstd[r] as f64;
                    dy[r * d + j] as f64 * xhat
                })
                .sum();
            *w += s as f32;
        }
    }

    fn rotary(&self, rope: &Rope, x: &mut [f32], width: usize, positions: &[usize], inverse: bool) {
        let h = rope.half;
        let sign = if inverse { -1.0 } else { 1.0 };
        for (row, &p) in x.chunks_mut(width).zip(positions) {
            for head in row.chunks_mut(rope.head_dim) {
                for i in 0..h {
                    let (a, b) = if rope.interleaved {
                        (2 * i, 2 * i + 1)
                    } else {
                        (i, i + h)
                    };
                    let (c, s) = (
                        rope.cos[p * h + i] as f64,
                        sign * rope.sin[p * h + i] as f64,
                    );
                    let (x1, x2) = (head[a] as f64, head[b] as f64);
                    head[a] = (x1 * c - x2 * s) as f32;
                    head[b] = (x2 * c + x1 * s) as f32;
                }
            }
        }
    }

    fn attention_forward(
        &self,
        out: &mut [f32],
        probs: &mut [f32],
        q: &[f32],
        k: &[f32],
        v: &[f32],
        s: AttnShape,
    ) {
        let (t, hd) = (s.t, s.head_dim);
        let (qd, kvd, group) = (s.heads * hd, s.kv_heads * hd, s.heads / s.kv_heads);
        for b in 0..s.b {
            for h in 0..s.heads {
                let g = h / group;
                let kv = |m: &'_ [f32], j: usize| -> Vec<f32> {
                    m[(b * t + j) * kvd + g * hd..][..hd].to_vec()
                };
                for i in 0..t {
                    let keys: Vec<Vec<f32>> = (0..=i).map(|j| kv(k, j)).collect();
                    let values: Vec<Vec<f32>> = (0..=i).map(|j| kv(v, j)).collect();
                    let kr: Vec<&[f32]> = keys.iter().map(Vec::as_slice).collect();
                    let vr: Vec<&[f32]> = values.iter().map(Vec::as_slice).collect();
                    let qi = &q[(b * t + i) * qd + h * hd..][..hd];
                    let o = &mut out[(b * t + i) * qd + h * hd..][..hd];
                    let p = attend_row(qi, &kr, &vr, o);
                    let prow = &mut probs[((b * s.heads + h) * t + i) * t..][..t];
                    prow.fill(0.0);
                    for (j, pj) in p.iter().enumerate() {
                        prow[j] = *pj as f32;
                    }
                }
            }
        }
    }

    fn attention_backward(
        &self,
        dq: &mut [f32],
        dk: &mut [f32],
        dv: &mut [f32],
        _dprobs: &mut [f32],
        dout: &[f32],
        probs: &[f32],
        q: &[f32],
        k: &[f32],
        v: &[f32],
        s: AttnShape,
    ) {
        let (t, hd) = (s.t, s.head_dim);
        let (qd, kvd, group) = (s.heads * hd, s.kv_heads * hd, s.heads / s.kv_heads);
        let scale = 1.0 / (hd as f64).sqrt();
        let mut dkf = vec![0f64; dk.len()];
        let mut dvf = vec![0f64; dv.len()];
        for b in 0..s.b {
            for h in 0..s.heads {
                let g = h / group;
                let at_q = |i: usize| (b * t + i) * qd + h * hd;
                let at_kv = |j: usize| (b * t + j) * kvd + g * hd;
                for i in 0..t {
                    let p = &probs[((b * s.heads + h) * t + i) * t..][..t];
                    let doi = &dout[at_q(i)..][..hd];
                    let dp: Vec<f64> = (0..=i).map(|j| dot(doi, &v[at_kv(j)..][..hd])).collect();
                    let sum: f64 = (0..=i).map(|j| p[j] as f64 * dp[j]).sum();
                    let mut dqi = vec![0f64; hd];
                    for j in 0..=i {
                        let ds = p[j] as f64 * (dp[j] - sum) * scale;
                        for e in 0..hd {
                            dqi[e] += ds * k[at_kv(j) + e] as f64;
                            dkf[at_kv(j) + e] += ds * q[at_q(i) + e] as f64;
                            dvf[at_kv(j) + e] += p[j] as f64 * doi[e] as f64;
                        }
                    }
                    for e in 0..hd {
                        dq[at_q(i) + e] = dqi[e] as f32;
                    }
                }
            }
        }
        dk.iter_mut().zip(dkf).for_each(|(d, x)| *d = x as f32);
        dv.iter_mut().zip(dvf).for_each(|(d, x)| *d = x as f32);
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
        let hd = heads.head_dim;
        let (qd, kvd) = (heads.heads * hd, heads.kv_heads * hd);
        let group = heads.heads / heads.kv_heads;
        for sg in segments {
            for h in 0..heads.heads {
                let g = h / group;
                for i in 0..sg.len {
                    let mut keys: Vec<&[f32]> = Vec::new();
                    let mut values: Vec<&[f32]> = Vec::new();
                    for j in 0..sg.prefix {
                        keys.push(&sg.prefix_k[j * kvd + g * hd..][..hd]);
                        values.push(&sg.prefix_v[j * kvd + g * hd..][..hd]);
                    }
                    for j in 0..=i {
                        keys.push(&k[(sg.offset + j) * kvd + g * hd..][..hd]);
                        values.push(&v[(sg.offset + j) * kvd + g * hd..][..hd]);
                    }
                    let row = (sg.offset + i) * qd + h * hd;
                    attend_row(&q[row..][..hd], &keys, &values, &mut out[row..][..hd]);
                }
            }
        }
    }

    fn swiglu_forward(&self, h: &mut [f32], gate: &[f32], up: &[f32]) {
        for i in 0..h.len() {
            let g = gate[i] as f64;
            h[i] = (g / (1.0 + (-g).exp()) * up[i] as f64) as f32;
        }
    }

    fn swiglu_backward(
        &self,
        dgate: &mut [f32],
        dup: &mut [f32],
        dh: &[f32],
        gate: &[f32],
        up: &[f32],
    ) {
        for i in 0..dh.len() {
            let (g, u, d) = (gate[i] as f64, up[i] as f64, dh[i] as f64);
            let sig = 1.0 / (1.0 + (-g).exp());
            dup[i] = (d * g * sig) as f32;
            dgate[i] = (d * u * sig * (1.0 + g * (1.0 - sig))) as f32;
        }
    }

    fn gelu_forward(&self, h: &mut [f32], x: &[f32]) {
        h.iter_mut()
            .zip(x)
            .for_each(|(h, &x)| *h = erf_gelu(x as f64).0 as f32);
    }

    fn gelu_backward(&self, dx: &mut [f32], dh: &[f32], x: &[f32]) {
        for i in 0..dx.len() {
            dx[i] = (dh[i] as f64 * erf_gelu(x[i] as f64).1) as f32;
        }
    }

    fn add_assign(&self, dst: &mut [f32], src: &[f32]) {
        dst.iter_mut().zip(src).for_each(|(d, s)| *d += s);
    }

    fn embed(&self, x: &mut [f32], tokens: &[u32], table: &[f32], d: usize) {
        for (r, &t) in tokens.iter().enumerate() {
            x[r * d..][..d].copy_from_slice(&table[t as usize * d..][..d]);
        }
    }

    fn embed_backward(&self, dtable: &mut [f32], dx: &[f32], tokens: &[u32], d: usize) {
        for (r, &t) in tokens.iter().enumerate() {
            for j in 0..d {
                dtable[t as usize * d + j] += dx[r * d + j];
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
        for (r, row) in logits.chunks_mut(vocab).enumerate() {
            let mut p: Vec<f64> = row.iter().map(|&x| x as f64).collect();
            let target = targets[r] as usize;
            let logit = p[target];
            let max = p.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let lse = max + p.iter().map(|x| (x - max).exp()).sum::<f64>().ln();
            nll[r] = lse - logit;
            if let Some(scale) = grad_scale {
                softmax(&mut p);
                p[target] -= 1.0;
                row.iter_mut()
                    .zip(&p)
                    .for_each(|(x, g)| *x = (g * scale as f64) as f32);
            }
        }
    }

    fn logprobs(&self, logits: &[f32], vocab: usize, targets: &[u32]) -> Vec<(f64, bool)> {
        logits
            .chunks(vocab)
            .zip(targets)
            .map(|(row, &t)| {
                let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
                let lse = max
                    + row
                        .iter()
                        .map(|&x| (x as f64 - max).exp())
                        .sum::<f64>()
                        .ln();
                (row[t as usize] as f64 - lse, self.argmax(row) == t)
            })
            .collect()
    }

    fn argmax(&self, row: &[f32]) -> u32 {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        row.iter().position(|&x| x == max).unwrap_or(0) as u32
    }

    fn adamw(&self, p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32], s: AdamStep) {
        let (b1, b2) = (s.beta1 as f64, s.beta2 as f64);
        for i in 0..p.len() {
            let gi = g[i] as f64;
            let mi = m[i] as f64 + (gi - m[i] as f64) * (1.0 - b1);
            let vi = v[i] as f64 * b2 + (1.0 - b2) * gi * gi;
            let denom = vi.sqrt() / s.bc2_sqrt as f64 + s.eps as f64;
            p[i] = (p[i] as f64 * s.shrink as f64 - s.step_size as f64 * mi / denom) as f32;
            (m[i], v[i]) = (mi as f32, vi as f32);
        }
    }

    fn clip_grad_norm(&self, grads: &mut [f32], max_norm: f64) -> f64 {
        let norm = dot(grads, grads).sqrt();
        let coef = max_norm / (norm + 1e-6);
        if coef < 1.0 {
            grads
                .iter_mut()
                .for_each(|g| *g = (*g as f64 * coef) as f32);
        }
        norm
    }
}

fn rows_of(x: &[f32], d: usize) -> usize {
    x.len() / d
}

fn config(arch: Architecture) -> ModelConfig {
    ModelConfig {
        num_key_value_heads: if arch == Architecture::GptNeox { 4 } else { 2 },
        bos_token_id: Some(0),
        eos_token_id: Some(0),
        architecture: arch,
        block: arch.block(),
        ..ModelConfig::llama(53, 32, 2, 4, 56, 48)
    }
}

/// Largest difference relative to the largest magnitude.
fn rel_diff(a: &[f32], b: &[f32]) -> f64 {
    let scale = a.iter().map(|x| x.abs() as f64).fold(1e-12, f64::max);
    let diff = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() as f64)
        .fold(0.0, f64::max);
    diff / scale
}

/// Trains both models the same steps and checks loss, gradient and weights agree.
fn train_both(cpu: &mut Model<Cpu>, scalar: &mut Model<Scalar>, arch: Architecture) {
    let (b, t) = (3, 29);
    let tokens: Vec<u32> = (0..b * (t + 1))
        .map(|i| ((i * 37 + i / 5) % 53) as u32)
        .collect();
    let rows: Vec<&[u32]> = tokens.chunks(t + 1).collect();
    let inputs: Vec<u32> = rows.iter().flat_map(|r| r[..t].to_vec()).collect();
    let targets: Vec<u32> = rows.iter().flat_map(|r| r[1..].to_vec()).collect();
    let layout = cpu.layout.clone();
    cpu.set_optimizer(AdamW::new(AdamWConfig::default(), &layout));
    scalar.set_optimizer(AdamW::new(AdamWConfig::default(), &layout));
    for step in 0..3 {
        let (lc, ls) = (
            cpu.forward_backward(&inputs, &targets, b, t),
            scalar.forward_backward(&inputs, &targets, b, t),
        );
        assert!(
            (lc - ls).abs() < 1e-5 * lc.abs(),
            "{arch:?} step {step}: loss {lc} vs {ls}"
        );
        let g = rel_diff(&cpu.grads, &scalar.grads);
        assert!(
            g < 1e-4,
            "{arch:?} step {step}: gradients differ by {g:e} of their largest"
        );
        let (nc, ns) = (cpu.clip_gradients(1.0), scalar.clip_gradients(1.0));
        assert!(
            (nc - ns).abs() < 1e-5 * nc,
            "{arch:?}: gradient norm {nc} vs {ns}"
        );
        cpu.optimizer_step(1e-3);
        scalar.optimizer_step(1e-3);
        let p = rel_diff(&cpu.params, &scalar.params);
        assert!(
            p < 1e-4,
            "{arch:?} step {step}: weights differ by {p:e} of their largest"
        );
    }
}

/// Scoring (full passes, cached groups, the validation loss) and greedy decoding agree.
fn score_both(cpu: &mut Model<Cpu>, scalar: &mut Model<Scalar>, arch: Architecture) {
    let close = |a: &[(f64, bool)], b: &[(f64, bool)], what: &str| {
        assert_eq!(a.len(), b.len(), "{arch:?} {what}");
        for ((x, _), (y, _)) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-4, "{arch:?} {what}: {x} vs {y}");
        }
    };
    let doc: Vec<u32> = (0..40).map(|i| ((i * 13 + 5) % 53) as u32).collect();
    close(
        &cpu.next_token_logprobs(&doc),
        &scalar.next_token_logprobs(&doc),
        "full pass",
    );
    let groups = vec![
        ScoreGroup {
            shared: doc[..17].to_vec(),
            tails: vec![doc[17..21].to_vec(), doc[30..33].to_vec()],
            scored: vec![4, 3],
        },
        ScoreGroup {
            shared: Vec::new(),
            tails: vec![doc[2..9].to_vec()],
            scored: vec![6],
        },
    ];
    let (gc, gs) = (cpu.score_groups(&groups), scalar.score_groups(&groups));
    for (a, b) in gc.iter().flatten().zip(gs.iter().flatten()) {
        close(a, b, "cached groups");
    }
    let (inputs, targets) = (&doc[..36], &doc[1..37]);
    let (nc, ns) = (
        cpu.sum_nll(inputs, targets, 2, 18),
        scalar.sum_nll(inputs, targets, 2, 18),
    );
    assert!((nc - ns).abs() < 1e-5 * nc, "{arch:?} sum_nll {nc} vs {ns}");
    // Greedy tokens agree while no two logits tie to rounding; each token's score agrees.
    let prompts = vec![doc[..9].to_vec(), doc[20..23].to_vec()];
    let (oc, os) = (
        cpu.greedy_batch(&prompts, 6, &mut |_, _| false),
        scalar.greedy_batch(&prompts, 6, &mut |_, _| false),
    );
    assert_eq!(oc, os, "{arch:?}: greedy decoding");
}

#[test]
fn a_second_implementation_of_the_operations_trains_and_scores_as_the_cpu() {
    for arch in Architecture::ALL {
        let c = config(arch);
        let mut cpu = Model::<Cpu>::init(c.clone(), 5);
        let mut scalar = Model::<Scalar>::init(c, 5);
        assert_eq!(cpu.params, scalar.params, "one initialisation");
        train_both(&mut cpu, &mut scalar, arch);
        score_both(&mut cpu, &mut scalar, arch);
    }
}
