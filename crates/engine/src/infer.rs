//! Inference with a key/value cache. A forward call takes several *segments*: runs of
//! tokens that each continue one cached prefix. Every linear layer sees all the
//! segments' tokens as one matrix (so a batch of requests costs one product per
//! weight), attention reads each segment's own prefix, and the output head is applied
//! only to the rows whose log-probabilities are read.

use rayon::prelude::*;

use crate::block::{self, Acts};
use crate::kernels::{softmax_scaled, SharedMut};
use crate::matmul::{matmul, Mat, Threads};
use crate::model::Model;
use crate::ops::{CachedSegment, Heads, Ops};

/// Keys and values of a prefix, per layer (`len × kv_dim` each, positions 0..len).
#[derive(Clone, Default)]
pub struct KvCache {
    k: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    len: usize,
}

impl KvCache {
    pub fn new(layers: usize) -> Self {
        KvCache {
            k: vec![Vec::new(); layers],
            v: vec![Vec::new(); layers],
            len: 0,
        }
    }

    /// Number of cached positions.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Tokens that continue the prefix in `caches[cache]`.
#[derive(Clone, Copy)]
pub struct Segment<'a> {
    pub cache: usize,
    pub tokens: &'a [u32],
    /// Store this segment's keys and values into its cache. A cache that is appended
    /// to must not be read by another segment of the same call.
    pub append: bool,
    /// Logits are returned for rows `logits_from..tokens.len()` of this segment.
    pub logits_from: usize,
}

/// Where each segment's rows sit in the flat token matrix.
struct Placement {
    offset: usize,
    len: usize,
    prefix: usize,
}

/// Rows the output head takes at a time when scoring (the last block up to twice as
/// many, [`row_blocks`]): a batch of thousands of scored rows never holds all their
/// logits (256 rows of a 49,152-token vocabulary: 50 MB).
const HEAD_ROWS: usize = 256;

impl<O: Ops> Model<O> {
    /// Runs `segs` after their cached prefixes; returns the logits of the requested rows,
    /// segment by segment (`rows × vocab`).
    pub fn forward_segments(&self, caches: &mut [KvCache], segs: &[Segment]) -> Vec<f32> {
        let xn = self.run_segments(caches, segs);
        self.head(&xn)
    }

    /// Runs `segs` and gives each requested row's log-probability of its target (rows in
    /// the order `forward_segments` gives them) and whether it is the arg-max, the output
    /// head taken [`HEAD_ROWS`] rows at a time.
    pub fn score_segments(
        &self,
        caches: &mut [KvCache],
        segs: &[Segment],
        targets: &[u32],
    ) -> Vec<(f64, bool)> {
        let xn = self.run_segments(caches, segs);
        let (d, v) = (self.config.hidden_size, self.config.vocab_size);
        row_blocks(targets.len(), HEAD_ROWS)
            .flat_map(|(r0, r1)| {
                let logits = self.head(&xn[r0 * d..r1 * d]);
                self.ops.logprobs(&logits, v, &targets[r0..r1])
            })
            .collect()
    }

    /// The blocks over `segs` after their cached prefixes, then the final norm of the
    /// requested rows.
    fn run_segments(&self, caches: &mut [KvCache], segs: &[Segment]) -> Vec<f32> {
        let c = &self.config;
        let (d, kvd) = (c.hidden_size, c.kv_dim());
        let mut place = Vec::with_capacity(segs.len());
        let mut n = 0;
        for s in segs {
            let prefix = caches[s.cache].len;
            assert!(
                prefix + s.tokens.len() <= self.rope.max_positions(),
                "{} positions exceed max_position_embeddings {}",
                prefix + s.tokens.len(),
                self.rope.max_positions()
            );
            self.check_tokens(s.tokens);
            place.push(Placement {
                offset: n,
                len: s.tokens.len(),
                prefix,
            });
            n += s.tokens.len();
        }
        let positions: Vec<usize> = place
            .iter()
            .flat_map(|pl| pl.prefix..pl.prefix + pl.len)
            .collect();
        let p = &self.params;
        let lay = &self.layout;
        let mut a = Acts::new(c, n, 0);
        let mut x = vec![0.0f32; n * d];
        let heads = Heads {
            heads: c.num_attention_heads,
            kv_heads: c.num_key_value_heads,
            head_dim: c.head_dim(),
        };
        let all_tokens: Vec<u32> = segs.iter().flat_map(|s| s.tokens.iter().copied()).collect();
        let ops = &self.ops;
        ops.embed(&mut a.x_in, &all_tokens, &p[lay.embed..], d);
        for (l, s) in lay.layers.iter().enumerate() {
            let mut attend = |a: &mut Acts| {
                let cached: Vec<CachedSegment> = segs
                    .iter()
                    .zip(&place)
                    .map(|(sg, pl)| CachedSegment {
                        offset: pl.offset,
                        len: pl.len,
                        prefix: pl.prefix,
                        prefix_k: &caches[sg.cache].k[l],
                        prefix_v: &caches[sg.cache].v[l],
                    })
                    .collect();
                ops.cached_attention(&mut a.att, &a.q, &a.k, &a.v, &cached, heads);
                for (sg, pl) in segs.iter().zip(&place) {
                    if sg.append {
                        let cache = &mut caches[sg.cache];
                        let (lo, hi) = (pl.offset * kvd, (pl.offset + pl.len) * kvd);
                        cache.k[l].extend_from_slice(&a.k[lo..hi]);
                        cache.v[l].extend_from_slice(&a.v[lo..hi]);
                    }
                }
            };
            block::forward(
                ops,
                c,
                p,
                s,
                &self.rope,
                &positions,
                &mut a,
                &mut x,
                &mut attend,
            );
            std::mem::swap(&mut x, &mut a.x_in);
        }
        for (sg, pl) in segs.iter().zip(&place) {
            if sg.append {
                caches[sg.cache].len += pl.len;
            }
        }
        self.final_rows(&a.x_in, segs, &place)
    }

    /// The final norm of the requested rows only.
    fn final_rows(&self, x: &[f32], segs: &[Segment], place: &[Placement]) -> Vec<f32> {
        let c = &self.config;
        let d = c.hidden_size;
        let mut rows = Vec::new();
        for (sg, pl) in segs.iter().zip(place) {
            for r in sg.logits_from.min(pl.len)..pl.len {
                rows.extend_from_slice(&x[(pl.offset + r) * d..][..d]);
            }
        }
        let m = rows.len() / d;
        let mut xn = vec![0.0f32; m * d];
        let (mut mean, mut rstd) = (vec![0.0f32; m], vec![0.0f32; m]);
        let lay = &self.layout;
        let p = &self.params;
        block::norm_forward(
            &self.ops,
            c,
            &mut xn,
            &mut mean,
            &mut rstd,
            &rows,
            p,
            lay.final_norm,
            d,
        );
        xn
    }

    /// The output head on normalised rows.
    fn head(&self, xn: &[f32]) -> Vec<f32> {
        let (d, v) = (self.config.hidden_size, self.config.vocab_size);
        let m = xn.len() / d;
        let mut logits = vec![0.0f32; m * v];
        let w = &self.params[self.layout.lm_head..];
        self.ops.linear(&mut logits, xn, w, m, d, v);
        logits
    }
}

/// `0..len` as blocks of `size` rows, the last taking the remainder: every block but a
/// whole shorter than `size` has at least `size` rows, so none falls to `gemm`'s
/// one-row (vector) kernel where the whole product would not, and the bits are those of
/// the whole.
fn row_blocks(len: usize, size: usize) -> impl Iterator<Item = (usize, usize)> {
    let blocks = (len / size).max(1);
    (0..blocks).map(move |b| {
        let end = if b + 1 == blocks { len } else { (b + 1) * size };
        (b * size, end)
    })
}

/// Query rows at which a segment's scores against its own keys are computed
/// ([`row_blocks`]), each block only against the keys up to its last row (the prefix's
/// keys, never masked, stay one product over all rows). A cut segment's blocks of at
/// least this many rows take the same path through `gemm` as the whole segment's did (a
/// block of one row, or of few rows and columns, would take its vector or horizontal
/// kernels), and a score is one chain of multiply-adds over the head's width wherever
/// its rows are cut: the same bits.
const CAUSAL_BLOCK: usize = 128;

/// The CPU's [`Ops::cached_attention`]: one task per (segment, key/value head), as in
/// training.
pub(crate) fn cached_attention(
    out: &mut [f32],
    q: &[f32],
    k: &[f32],
    v: &[f32],
    segments: &[CachedSegment],
    heads: Heads,
) {
    let (hd, kv_heads) = (heads.head_dim, heads.kv_heads);
    let (qd, kvd) = (heads.heads * hd, kv_heads * hd);
    let group = heads.heads / kv_heads;
    let scale = 1.0 / (hd as f32).sqrt();
    let out_ptr = SharedMut(out.as_mut_ptr());
    let out_len = out.len();
    (0..segments.len() * kv_heads)
        .into_par_iter()
        .for_each(|task| {
            let (si, g) = (task / kv_heads, task % kv_heads);
            let pl = &segments[si];
            let (lq, pre) = (pl.len, pl.prefix);
            if lq == 0 {
                return;
            }
            let width = pre + lq;
            let mut scores = vec![0.0f32; lq * width];
            let own_v = Mat::strided(&v[pl.offset * kvd + g * hd..], lq, hd, kvd, 1);
            let pre_k = (pre > 0).then(|| Mat::strided(&pl.prefix_k[g * hd..], pre, hd, kvd, 1));
            let pre_v = (pre > 0).then(|| Mat::strided(&pl.prefix_v[g * hd..], pre, hd, kvd, 1));
            for h in g * group..(g + 1) * group {
                if let Some(pk) = pre_k {
                    let qm = Mat::strided(&q[pl.offset * qd + h * hd..], lq, hd, qd, 1);
                    matmul(&mut scores, width, qm, pk.t(), false, Threads::One);
                }
                for (r0, r1) in row_blocks(lq, CAUSAL_BLOCK) {
                    let q_rows = &q[(pl.offset + r0) * qd + h * hd..];
                    let qm = Mat::strided(q_rows, r1 - r0, hd, qd, 1);
                    // Keys past the block's last row are masked for all of its rows.
                    let keys = Mat::strided(&k[pl.offset * kvd + g * hd..], r1, hd, kvd, 1);
                    let s_rows = &mut scores[r0 * width + pre..];
                    matmul(s_rows, width, qm, keys.t(), false, Threads::One);
                }
                for i in 0..lq {
                    let row = &mut scores[i * width..(i + 1) * width];
                    let (live, masked) = row.split_at_mut(pre + i + 1);
                    softmax_scaled(live, scale);
                    masked.fill(0.0);
                }
                let start = pl.offset * qd + h * hd;
                // SAFETY: rows offset..offset+len, columns of head h belong to this task alone.
                let o = unsafe { out_ptr.slice(start, out_len - start) };
                if let Some(pv) = pre_v {
                    let pm = Mat::strided(&scores, lq, pre, width, 1);
                    matmul(o, qd, pm, pv, false, Threads::One);
                }
                let om = Mat::strided(&scores[pre..], lq, lq, width, 1);
                matmul(o, qd, om, own_v, pre > 0, Threads::One);
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Attention as one product per head over the whole segment, the masked scores
    /// computed and then zeroed: what the blocks must reproduce to the bit.
    fn whole(q: &[f32], k: &[f32], v: &[f32], seg: &CachedSegment, heads: Heads) -> Vec<f32> {
        let (hd, qd) = (heads.head_dim, heads.heads * heads.head_dim);
        let kvd = heads.kv_heads * hd;
        let (lq, pre) = (seg.len, seg.prefix);
        let width = pre + lq;
        let mut out = vec![0.0f32; lq * qd];
        for h in 0..heads.heads {
            let g = h / (heads.heads / heads.kv_heads);
            let mut scores = vec![0.0f32; lq * width];
            let qm = Mat::strided(&q[h * hd..], lq, hd, qd, 1);
            let (pk, pv) = (
                Mat::strided(seg.prefix_k.get(g * hd..).unwrap_or(&[]), pre, hd, kvd, 1),
                Mat::strided(seg.prefix_v.get(g * hd..).unwrap_or(&[]), pre, hd, kvd, 1),
            );
            let (ok, ov) = (
                Mat::strided(&k[g * hd..], lq, hd, kvd, 1),
                Mat::strided(&v[g * hd..], lq, hd, kvd, 1),
            );
            matmul(&mut scores, width, qm, pk.t(), false, Threads::One);
            matmul(&mut scores[pre..], width, qm, ok.t(), false, Threads::One);
            for i in 0..lq {
                let (live, masked) = scores[i * width..(i + 1) * width].split_at_mut(pre + i + 1);
                softmax_scaled(live, 1.0 / (hd as f32).sqrt());
                masked.fill(0.0);
            }
            let o = &mut out[h * hd..];
            matmul(
                o,
                qd,
                Mat::strided(&scores, lq, pre, width, 1),
                pv,
                false,
                Threads::One,
            );
            let om = Mat::strided(&scores[pre..], lq, lq, width, 1);
            matmul(o, qd, om, ov, pre > 0, Threads::One);
        }
        out
    }

    #[test]
    fn the_head_in_blocks_gives_the_whole_heads_bits() {
        use crate::model::CpuModel;
        use crate::ModelConfig;
        let config = ModelConfig {
            num_key_value_heads: 2,
            ..ModelConfig::llama(97, 48, 2, 6, 80, 1024)
        };
        let m = CpuModel::init(config, 7);
        let mut rng = emergent_rng::Rng::new(11);
        // 257 and 513 rows: a block of one row would take gemm's vector kernel.
        for n in [1, 200, 256, 257, 511, 513] {
            let tokens: Vec<u32> = (0..n).map(|_| rng.below(97) as u32).collect();
            let targets: Vec<u32> = (0..n).map(|_| rng.below(97) as u32).collect();
            let seg = [Segment {
                cache: 0,
                tokens: &tokens,
                append: false,
                logits_from: 0,
            }];
            let mut caches = vec![KvCache::new(2)];
            let got = m.score_segments(&mut caches, &seg, &targets);
            let whole = m.forward_segments(&mut caches, &seg);
            let want = m.ops.logprobs(&whole, 97, &targets);
            assert_eq!(got, want, "{n} rows");
        }
        let blocks: Vec<_> = row_blocks(513, 256).collect();
        assert_eq!(blocks, [(0, 256), (256, 513)]);
    }

    #[test]
    fn causal_blocks_give_the_whole_products_bits() {
        let heads = Heads {
            heads: 4,
            kv_heads: 2,
            head_dim: 16,
        };
        let (qd, kvd) = (64, 32);
        let mut rng = emergent_rng::Rng::new(7);
        let mut fill = |n: usize| (0..n).map(|_| rng.normal() as f32).collect::<Vec<f32>>();
        for (lq, pre) in [
            (1, 0),
            (127, 0),
            (255, 3),
            (256, 0),
            (300, 0),
            (300, 37),
            (700, 130),
        ] {
            let (q, k, v) = (fill(lq * qd), fill(lq * kvd), fill(lq * kvd));
            let (pk, pv) = (fill(pre * kvd), fill(pre * kvd));
            let seg = CachedSegment {
                offset: 0,
                len: lq,
                prefix: pre,
                prefix_k: &pk,
                prefix_v: &pv,
            };
            let mut out = vec![0.0f32; lq * qd];
            cached_attention(&mut out, &q, &k, &v, &[seg], heads);
            let reference = whole(&q, &k, &v, &seg, heads);
            let bits = |x: &[f32]| x.iter().map(|f| f.to_bits()).collect::<Vec<u32>>();
            assert!(bits(&out) == bits(&reference), "{lq} rows after {pre}");
        }
        let blocks: Vec<(usize, usize)> = row_blocks(300, CAUSAL_BLOCK).collect();
        assert_eq!(blocks, [(0, 128), (128, 300)]);
    }
}
