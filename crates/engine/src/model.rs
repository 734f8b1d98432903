//! The CPU model: parameters in one flat buffer ([`ParamLayout`]), activations in a
//! workspace allocated once for a batch shape and reused by every step.

use crate::block::{self, Acts, Grads};
use crate::infer::{KvCache, Segment};
use crate::ops::{AttnShape, Cpu, Ops, Rope};
use crate::{AdamW, ModelConfig, ParamLayout, Rng};

/// Requests that share a prefix: `shared` is computed once, then each tail is scored
/// after it. `scored[i]` is how many of the last tokens of `shared ++ tails[i]` get a
/// log-probability (at most `tails[i].len()`, or one less when `shared` is empty).
#[derive(Debug, Clone, Default)]
pub struct ScoreGroup {
    pub shared: Vec<u32>,
    pub tails: Vec<Vec<u32>>,
    pub scored: Vec<usize>,
}

/// What evaluation needs from a model, whichever backend computes it.
pub trait LanguageModel {
    fn config(&self) -> &ModelConfig;

    /// For each `i` in `0..tokens.len()-1`: `log p(tokens[i+1] | tokens[..=i])` and
    /// whether `tokens[i+1]` is the arg-max (ties to the lowest id) at that position.
    /// One full forward pass, no cache: the reference the cached paths are tested against.
    fn next_token_logprobs(&mut self, tokens: &[u32]) -> Vec<(f64, bool)>;

    /// For every group and tail, the log-probabilities (and arg-max flags) of the scored
    /// tokens, in order. The batch runs as two forward passes: the shared prefixes, then
    /// every tail against its prefix's key/value cache.
    fn score_groups(&mut self, groups: &[ScoreGroup]) -> Vec<Vec<Vec<(f64, bool)>>>;

    /// Greedy decoding of several prompts at once with a key/value cache: for each, at
    /// most `max_new` tokens, stopping early once `stop(i, generated)` returns true.
    fn greedy_batch(
        &mut self,
        prompts: &[Vec<u32>],
        max_new: usize,
        stop: &mut dyn FnMut(usize, &[u32]) -> bool,
    ) -> Vec<Vec<u32>>;

    /// Greedy decoding of one prompt.
    fn greedy(
        &mut self,
        prompt: &[u32],
        max_new: usize,
        stop: &mut dyn FnMut(&[u32]) -> bool,
    ) -> Vec<u32> {
        let mut one = |_: usize, out: &[u32]| stop(out);
        self.greedy_batch(&[prompt.to_vec()], max_new, &mut one)
            .pop()
            .unwrap_or_default()
    }

    /// Sum of next-token negative log-likelihoods over `b` rows of `t` tokens.
    fn sum_nll(&mut self, inputs: &[u32], targets: &[u32], b: usize, t: usize) -> f64;
}

/// What training needs from a backend: the gradient of one step, its clipping, the
/// optimiser's update and the checkpoint's tensors. Training reads nothing else, so a
/// second backend keeps its buffers (and AdamW's moments) where it likes.
pub trait Trainer: LanguageModel {
    /// One forward and backward pass; returns the mean loss and keeps its gradient.
    fn forward_backward(&mut self, inputs: &[u32], targets: &[u32], b: usize, t: usize) -> f32;

    /// Scales the gradient to a global L2 norm of at most `max_norm`; returns the norm
    /// before (as `torch.nn.utils.clip_grad_norm_`).
    fn clip_gradients(&mut self, max_norm: f64) -> f64;

    /// Installs the optimiser: fresh (`AdamW::new`) or restored from a checkpoint.
    fn set_optimizer(&mut self, optimizer: AdamW);

    /// One AdamW update of every parameter with learning rate `lr`.
    fn optimizer_step(&mut self, lr: f64);

    /// The optimiser's state on the host, for a checkpoint (`&mut` so a device backend
    /// can copy its moments back first).
    fn optimizer_state(&mut self) -> &AdamW;

    /// Where each tensor lives in the parameter (and moment) buffers.
    fn layout(&self) -> &ParamLayout;

    /// Writes `config.json` and `model.safetensors` into `dir` (which must exist).
    fn save_hf(&self, dir: &std::path::Path) -> Result<(), crate::EngineError>;
}

/// Where models run: one choice (`--device`, a study's `device`) that every caller
/// takes its models from. Only the CPU in this build; a device is a variant here and an
/// implementation of [`Ops`], with nothing else changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    #[default]
    Cpu,
}

impl std::str::FromStr for Backend {
    type Err = crate::EngineError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "cpu" => Ok(Backend::Cpu),
            other => Err(crate::EngineError::Device(other.to_string())),
        }
    }
}

impl Backend {
    pub fn is_cpu(&self) -> bool {
        *self == Backend::Cpu
    }

    /// The name `--device` takes.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Cpu => "cpu",
        }
    }

    /// A model with these parameters (in [`ParamLayout`] order).
    pub fn model(self, config: ModelConfig, params: Vec<f32>) -> Box<dyn Trainer + Send> {
        match self {
            Backend::Cpu => Box::new(CpuModel::from_params(config, params)),
        }
    }

    /// A freshly initialised model to train.
    pub fn init(self, config: ModelConfig, seed: u64) -> Box<dyn Trainer + Send> {
        self.model(config.clone(), initial_params(&config, seed))
    }

    /// A Hugging Face checkpoint directory, to train on or score.
    pub fn load(
        self,
        dir: &std::path::Path,
    ) -> Result<Box<dyn Trainer + Send>, crate::EngineError> {
        let (config, params) = crate::hf::read_checkpoint(dir)?;
        Ok(self.model(config, params))
    }

    /// A GGUF file, to score, with its metadata (the tokenizer is rebuilt from it).
    pub fn load_gguf(
        self,
        path: &std::path::Path,
    ) -> Result<(Box<dyn Trainer + Send>, crate::GgufFile), crate::EngineError> {
        let (config, params, file) = crate::gguf::read_gguf(path)?;
        Ok((self.model(config, params), file))
    }
}

/// Buffers for a batch of `b × t`: every layer's activations when training (one
/// layer's, reused, when not), the final norm, the logits, and the gradient buffers.
#[derive(Default)]
struct Workspace {
    b: usize,
    t: usize,
    training: bool,
    layers: Vec<Acts>,
    /// Row `r`'s position, `r % t`.
    positions: Vec<usize>,
    x_out: Vec<f32>,
    mean_f: Vec<f32>,
    rstd_f: Vec<f32>,
    xf: Vec<f32>,
    logits: Vec<f32>,
    nll: Vec<f64>,
    grads: Grads,
}

fn alloc(c: &ModelConfig, b: usize, t: usize, training: bool) -> Workspace {
    let n = b * t;
    let (d, v) = (c.hidden_size, c.vocab_size);
    let probs = b * c.num_attention_heads * t * t;
    let kept = if training { c.num_hidden_layers } else { 1 };
    Workspace {
        b,
        t,
        training,
        layers: (0..kept).map(|_| Acts::new(c, n, probs)).collect(),
        positions: (0..n).map(|r| r % t).collect(),
        x_out: vec![0.0; n * d],
        mean_f: vec![0.0; n],
        rstd_f: vec![0.0; n],
        xf: vec![0.0; n * d],
        logits: vec![0.0; n * v],
        nll: vec![0.0; n],
        grads: if training {
            Grads::new(c, n, probs)
        } else {
            Grads::default()
        },
    }
}

/// A model computed by the operations of `O`: its parameters, gradient, optimiser and
/// workspaces. The forward and backward passes, scoring and decoding are written once,
/// here and in [`crate::block`], over [`Ops`].
pub struct Model<O: Ops = Cpu> {
    pub ops: O,
    pub config: ModelConfig,
    pub layout: ParamLayout,
    pub params: Vec<f32>,
    /// Gradient of the last [`Trainer::forward_backward`], in the parameter layout.
    pub grads: Vec<f32>,
    pub(crate) rope: Rope,
    /// AdamW's state, once training installs it ([`Trainer::set_optimizer`]).
    optimizer: Option<AdamW>,
    ws: Workspace,
    /// The other workspace (training or scoring), kept so that validation between
    /// training steps allocates nothing.
    spare_ws: Workspace,
}

/// The model on the CPU kernels.
pub type CpuModel = Model<Cpu>;

impl<O: Ops + Default> Model<O> {
    /// A model with the given parameters (in [`ParamLayout`] order).
    pub fn from_params(config: ModelConfig, params: Vec<f32>) -> Self {
        Self::with_ops(O::default(), config, params)
    }

    /// GPT-2/LLaMA-style initialisation: N(0, 0.02) for matrices, with the two
    /// projections that write into the residual stream scaled by 1/√(2·layers);
    /// norm gains at 1, biases at 0.
    pub fn init(config: ModelConfig, seed: u64) -> Self {
        Self::from_params(config.clone(), initial_params(&config, seed))
    }
}

/// The parameters [`Model::init`] starts from.
fn initial_params(config: &ModelConfig, seed: u64) -> Vec<f32> {
    let layout = ParamLayout::new(config);
    let mut params = vec![0.0f32; layout.total()];
    let mut rng = Rng::derive(seed, 0x1417);
    let residual_std = 0.02 / (2.0 * config.num_hidden_layers as f64).sqrt();
    let residual: Vec<usize> = layout
        .layers
        .iter()
        .flat_map(|l| [l.wo, l.w_down])
        .collect();
    for slot in &layout.slots {
        let std = if residual.contains(&slot.offset) {
            residual_std
        } else {
            0.02
        };
        for p in &mut params[slot.range()] {
            *p = if slot.is_norm {
                1.0
            } else if slot.is_bias {
                0.0
            } else {
                (rng.normal() * std) as f32
            };
        }
    }
    params
}

impl<O: Ops> Model<O> {
    /// A model with the given parameters (in [`ParamLayout`] order), computed by `ops`.
    pub fn with_ops(ops: O, config: ModelConfig, params: Vec<f32>) -> Self {
        let layout = ParamLayout::new(&config);
        assert_eq!(
            params.len(),
            layout.total(),
            "parameter count differs from the layout"
        );
        let rope = Rope::new(
            config.head_dim(),
            config.rotary_dims(),
            config.block.rotary_interleaved,
            config.max_position_embeddings,
            config.rope_theta,
        );
        Model {
            ops,
            config,
            layout,
            params,
            grads: Vec::new(),
            rope,
            optimizer: None,
            ws: Workspace::default(),
            spare_ws: Workspace::default(),
        }
    }

    fn ensure_workspace(&mut self, b: usize, t: usize, training: bool) {
        assert!(
            t <= self.rope.max_positions(),
            "sequence of {t} tokens exceeds max_position_embeddings {}",
            self.rope.max_positions()
        );
        if self.ws.training != training {
            std::mem::swap(&mut self.ws, &mut self.spare_ws);
        }
        let ws = &self.ws;
        if ws.b != b || ws.t != t || ws.training != training {
            self.ws = Workspace::default(); // free the old buffers before allocating new ones
            self.ws = alloc(&self.config, b, t, training);
        }
        if training && self.grads.len() != self.params.len() {
            self.grads = vec![0.0; self.params.len()];
        }
    }

    /// Forward pass over `b × t` tokens; fills `ws.logits`.
    fn forward(&mut self, tokens: &[u32], b: usize, t: usize, training: bool) {
        self.ensure_workspace(b, t, training);
        let c = &self.config;
        let d = c.hidden_size;
        let p = &self.params;
        let lay = &self.layout;
        let ops = &self.ops;
        let ws = &mut self.ws;
        let shape = attn_shape(c, b, t);
        ops.embed(&mut ws.layers[0].x_in, tokens, &p[lay.embed..], d);
        let mut attend =
            |a: &mut Acts| ops.attention_forward(&mut a.att, &mut a.probs, &a.q, &a.k, &a.v, shape);
        for (l, s) in lay.layers.iter().enumerate() {
            let li = if training { l } else { 0 };
            // The block's output is the next block's input (or the final stream).
            let last = l + 1 == lay.layers.len();
            let (head, tail) = ws.layers.split_at_mut(li + 1);
            let out = if training && !last {
                &mut tail[0].x_in
            } else {
                &mut ws.x_out
            };
            block::forward(
                ops,
                c,
                p,
                s,
                &self.rope,
                &ws.positions,
                &mut head[li],
                out,
                &mut attend,
            );
            if !training && !last {
                std::mem::swap(&mut ws.x_out, &mut ws.layers[0].x_in);
            }
        }
        let (x, xf) = (&ws.x_out, &mut ws.xf);
        block::norm_forward(
            ops,
            c,
            xf,
            &mut ws.mean_f,
            &mut ws.rstd_f,
            x,
            p,
            lay.final_norm,
            d,
        );
        ops.linear(
            &mut ws.logits,
            &ws.xf,
            &p[lay.lm_head..],
            b * t,
            d,
            c.vocab_size,
        );
    }

    fn backward(&mut self, tokens: &[u32]) {
        let c = &self.config;
        let (b, t) = (self.ws.b, self.ws.t);
        let (n, d, v) = (b * t, c.hidden_size, c.vocab_size);
        let p = &self.params;
        let lay = &self.layout;
        let g = &mut self.grads;
        let ops = &self.ops;
        let ws = &mut self.ws;
        let shape = attn_shape(c, b, t);
        g.fill(0.0);
        let w = &mut ws.grads;
        // Output head and final norm; ws.logits already holds d(loss)/d(logits).
        ops.linear_backward(
            &mut w.dxn,
            false,
            &mut g[lay.lm_head..][..v * d],
            &[&ws.logits],
            &[v],
            &ws.xf,
            &p[lay.lm_head..],
            n,
            d,
        );
        let stats = (&ws.mean_f[..], &ws.rstd_f[..]);
        block::norm_backward(
            ops,
            c,
            &mut w.dx,
            false,
            &w.dxn,
            &ws.x_out,
            stats,
            p,
            g,
            lay.final_norm,
            d,
        );
        let mut attend_back = |a: &Acts, w: &mut Grads| {
            ops.attention_backward(
                &mut w.dq,
                &mut w.dk,
                &mut w.dv,
                &mut w.dprobs,
                &w.datt,
                &a.probs,
                &a.q,
                &a.k,
                &a.v,
                shape,
            )
        };
        for (l, s) in lay.layers.iter().enumerate().rev() {
            let a = &ws.layers[l];
            block::backward(
                ops,
                c,
                p,
                g,
                s,
                &self.rope,
                &ws.positions,
                a,
                w,
                &mut attend_back,
            );
        }
        ops.embed_backward(&mut g[lay.embed..], &w.dx, tokens, d);
    }

    pub(crate) fn check_tokens(&self, tokens: &[u32]) {
        let v = self.config.vocab_size as u32;
        if let Some(bad) = tokens.iter().find(|&&x| x >= v) {
            panic!("token id {bad} is outside the vocabulary of {v}");
        }
    }
}

fn attn_shape(c: &ModelConfig, b: usize, t: usize) -> AttnShape {
    AttnShape {
        b,
        t,
        heads: c.num_attention_heads,
        kv_heads: c.num_key_value_heads,
        head_dim: c.head_dim(),
    }
}

impl<O: Ops> Trainer for Model<O> {
    fn clip_gradients(&mut self, max_norm: f64) -> f64 {
        self.ops.clip_grad_norm(&mut self.grads, max_norm)
    }

    fn set_optimizer(&mut self, optimizer: AdamW) {
        assert_eq!(
            optimizer.m.len(),
            self.params.len(),
            "optimiser of another layout"
        );
        self.optimizer = Some(optimizer);
    }

    fn optimizer_step(&mut self, lr: f64) {
        let opt = self.optimizer.as_mut().expect("set_optimizer comes first");
        opt.update_with(&self.ops, &mut self.params, &self.grads, lr);
    }

    fn optimizer_state(&mut self) -> &AdamW {
        self.optimizer.as_ref().expect("set_optimizer comes first")
    }

    fn layout(&self) -> &ParamLayout {
        &self.layout
    }

    fn save_hf(&self, dir: &std::path::Path) -> Result<(), crate::EngineError> {
        Model::save_hf(self, dir)
    }

    fn forward_backward(&mut self, inputs: &[u32], targets: &[u32], b: usize, t: usize) -> f32 {
        assert_eq!(inputs.len(), b * t);
        assert_eq!(targets.len(), b * t);
        self.check_tokens(inputs);
        self.check_tokens(targets);
        self.forward(inputs, b, t, true);
        let v = self.config.vocab_size;
        let scale = 1.0 / (b * t) as f32;
        self.ops.cross_entropy(
            &mut self.ws.logits,
            &mut self.ws.nll,
            targets,
            v,
            Some(scale),
        );
        let loss = self.ws.nll.iter().sum::<f64>() / (b * t) as f64;
        self.backward(inputs);
        loss as f32
    }
}

impl<O: Ops> Model<O> {
    /// Logits of the last forward pass, `b·t × vocab`.
    pub fn logits(&mut self, tokens: &[u32], b: usize, t: usize) -> &[f32] {
        self.check_tokens(tokens);
        self.forward(tokens, b, t, false);
        &self.ws.logits
    }
}

impl<O: Ops> LanguageModel for Model<O> {
    fn config(&self) -> &ModelConfig {
        &self.config
    }

    fn next_token_logprobs(&mut self, tokens: &[u32]) -> Vec<(f64, bool)> {
        let t = tokens.len();
        if t < 2 {
            return Vec::new();
        }
        let v = self.config.vocab_size;
        self.logits(&tokens[..t - 1], 1, t - 1);
        self.ops.logprobs(&self.ws.logits, v, &tokens[1..])
    }

    fn score_groups(&mut self, groups: &[ScoreGroup]) -> Vec<Vec<Vec<(f64, bool)>>> {
        let threads = rayon::current_num_threads();
        if self.config.hidden_size > SMALL_WIDTH || threads < 2 || groups.len() < 2 {
            return self.score_serial(groups);
        }
        // A narrow model's products are too small to split well between threads: give
        // each thread whole documents instead, in a pool of its own so that every
        // product inside runs on one core. Rows never mix, so the scores are the same.
        let chunks = split_by_tokens(groups, threads);
        let this = &*self;
        std::thread::scope(|scope| {
            let handles: Vec<_> = chunks
                .into_iter()
                .map(|chunk| {
                    scope.spawn(move || {
                        match rayon::ThreadPoolBuilder::new().num_threads(1).build() {
                            Ok(pool) => pool.install(|| this.score_serial(chunk)),
                            Err(_) => this.score_serial(chunk),
                        }
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        })
    }

    fn greedy_batch(
        &mut self,
        prompts: &[Vec<u32>],
        max_new: usize,
        stop: &mut dyn FnMut(usize, &[u32]) -> bool,
    ) -> Vec<Vec<u32>> {
        let v = self.config.vocab_size;
        let max_pos = self.config.max_position_embeddings;
        let mut caches = vec![KvCache::new(self.config.num_hidden_layers); prompts.len()];
        let mut outs: Vec<Vec<u32>> = vec![Vec::new(); prompts.len()];
        // (prompt index, tokens to feed next)
        let mut live: Vec<(usize, Vec<u32>)> = prompts
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.is_empty() && max_new > 0)
            .map(|(i, p)| (i, p[p.len().saturating_sub(max_pos)..].to_vec()))
            .collect();
        while !live.is_empty() {
            let segs: Vec<Segment> = live
                .iter()
                .map(|(i, toks)| Segment {
                    cache: *i,
                    tokens: toks,
                    append: true,
                    logits_from: toks.len() - 1,
                })
                .collect();
            let logits = self.forward_segments(&mut caches, &segs);
            let mut still = Vec::new();
            for (row, (i, _)) in logits.chunks(v).zip(&live) {
                let tok = self.ops.argmax(row);
                outs[*i].push(tok);
                let full = caches[*i].len() >= max_pos;
                if outs[*i].len() < max_new && !full && !stop(*i, &outs[*i]) {
                    still.push((*i, vec![tok]));
                }
            }
            live = still;
        }
        outs
    }

    fn sum_nll(&mut self, inputs: &[u32], targets: &[u32], b: usize, t: usize) -> f64 {
        self.check_tokens(inputs);
        self.check_tokens(targets);
        self.forward(inputs, b, t, false);
        let v = self.config.vocab_size;
        self.ops
            .cross_entropy(&mut self.ws.logits, &mut self.ws.nll, targets, v, None);
        self.ws.nll.iter().sum()
    }
}

/// Widths up to which scoring splits documents between threads rather than products.
const SMALL_WIDTH: usize = 256;

/// Consecutive runs of `groups` with about equal token counts, one per thread.
fn split_by_tokens(groups: &[ScoreGroup], parts: usize) -> Vec<&[ScoreGroup]> {
    let size = |g: &ScoreGroup| g.shared.len() + g.tails.iter().map(Vec::len).sum::<usize>();
    let total: usize = groups.iter().map(size).sum();
    let mut out = Vec::with_capacity(parts);
    let (mut start, mut acc) = (0, 0);
    for (i, g) in groups.iter().enumerate() {
        acc += size(g);
        if acc * parts >= total * (out.len() + 1) && out.len() + 1 < parts {
            out.push(&groups[start..=i]);
            start = i + 1;
        }
    }
    if start < groups.len() {
        out.push(&groups[start..]);
    }
    out
}

impl<O: Ops> Model<O> {
    /// [`LanguageModel::score_groups`] on the current thread pool.
    fn score_serial(&self, groups: &[ScoreGroup]) -> Vec<Vec<Vec<(f64, bool)>>> {
        let layers = self.config.num_hidden_layers;
        let mut caches = vec![KvCache::new(layers); groups.len()];
        let prefill: Vec<Segment> = groups
            .iter()
            .enumerate()
            .filter(|(_, g)| g.shared.len() > 1)
            .map(|(i, g)| Segment {
                cache: i,
                tokens: &g.shared[..g.shared.len() - 1],
                append: true,
                logits_from: usize::MAX,
            })
            .collect();
        if !prefill.is_empty() {
            self.forward_segments(&mut caches, &prefill);
        }
        // A tail's inputs are the last shared token (if any) and all its own but the last.
        let mut inputs = Vec::new();
        let mut targets = Vec::new();
        let mut owner = Vec::new();
        for (i, g) in groups.iter().enumerate() {
            for (tail, &scored) in g.tails.iter().zip(&g.scored) {
                let mut seq: Vec<u32> = g.shared.last().copied().into_iter().collect();
                seq.extend_from_slice(tail);
                let input = seq[..seq.len().saturating_sub(1)].to_vec();
                assert!(scored <= input.len(), "more tokens scored than predicted");
                targets.push(seq[seq.len() - scored..].to_vec());
                inputs.push(input);
                owner.push(i);
            }
        }
        let segs: Vec<Segment> = (0..inputs.len())
            .map(|k| Segment {
                cache: owner[k],
                tokens: &inputs[k],
                append: false,
                logits_from: inputs[k].len() - targets[k].len(),
            })
            .collect();
        let flat: Vec<u32> = targets.iter().flatten().copied().collect();
        let scores = self.score_segments(&mut caches, &segs, &flat);
        let mut rest = scores.as_slice();
        let mut lens = targets.iter().map(Vec::len);
        groups
            .iter()
            .map(|g| {
                g.tails
                    .iter()
                    .map(|_| {
                        let (head, tail) = rest.split_at(lens.next().unwrap_or(0));
                        rest = tail;
                        head.to_vec()
                    })
                    .collect()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_split_in_order_into_balanced_parts() {
        let group = |n: usize| ScoreGroup {
            shared: vec![0; n],
            tails: vec![vec![0; n]],
            scored: vec![n],
        };
        let groups: Vec<ScoreGroup> = [9, 7, 5, 5, 3, 2, 1].into_iter().map(group).collect();
        let parts = split_by_tokens(&groups, 2);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].len() + parts[1].len(), groups.len());
        let tokens = |p: &[ScoreGroup]| p.iter().map(|g| 2 * g.shared.len()).sum::<usize>();
        assert_eq!((tokens(parts[0]), tokens(parts[1])), (32, 32));
        assert_eq!(split_by_tokens(&groups[..1], 2).len(), 1);
    }
}
