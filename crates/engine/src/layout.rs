//! Where every parameter lives in the one flat buffer, and the Hugging Face name of
//! every tensor of every architecture: the one place that knows them.

use std::ops::Range;

use crate::arch::{Architecture, Mlp};
use crate::ModelConfig;

/// Where one tensor lives inside the flat parameter buffer.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorSlot {
    /// The Hugging Face name, e.g. `model.layers.0.self_attn.q_proj.weight`; for a
    /// part of a fused tensor (GPT-NeoX's q, k and v) the fused name with the part.
    pub name: String,
    pub shape: Vec<usize>,
    pub offset: usize,
    /// Norm gains and biases (every 1-D parameter) and embeddings are excluded from
    /// weight decay by default.
    pub is_norm: bool,
    pub is_bias: bool,
    pub is_embedding: bool,
}

impl TensorSlot {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn range(&self) -> std::ops::Range<usize> {
        self.offset..self.offset + self.len()
    }
}

/// A tensor of the Hugging Face checkpoint: the concatenation of `parts` of the flat
/// buffer, in order (one part, except where the checkpoint fuses what the engine keeps
/// apart).
#[derive(Debug, Clone, PartialEq)]
pub struct HfTensorMap {
    pub name: String,
    pub shape: Vec<usize>,
    pub parts: Vec<Range<usize>>,
}

impl HfTensorMap {
    /// This tensor's values gathered from a buffer in the layout.
    pub fn gather(&self, buffer: &[f32]) -> Vec<f32> {
        self.parts
            .iter()
            .flat_map(|r| buffer[r.clone()].iter().copied())
            .collect()
    }

    /// Writes `data` (this tensor's values) into a buffer in the layout.
    pub fn scatter(&self, data: &[f32], buffer: &mut [f32]) {
        let mut rest = data;
        for r in &self.parts {
            let (now, later) = rest.split_at(r.len());
            buffer[r.clone()].copy_from_slice(now);
            rest = later;
        }
    }
}

/// Offsets of every tensor in one flat buffer. Parameters, gradients and both AdamW
/// moments share this layout, so the optimiser is one pass over four slices.
#[derive(Debug, Clone)]
pub struct ParamLayout {
    pub slots: Vec<TensorSlot>,
    pub embed: usize,
    pub layers: Vec<LayerSlots>,
    pub final_norm: NormSlots,
    /// Offset of the output head: the embedding itself when tied.
    pub lm_head: usize,
    /// The checkpoint's tensors, in the order they are written.
    pub hf: Vec<HfTensorMap>,
    /// The same tensors under llama.cpp's GGUF names (`blk.0.attn_q.weight`), for the
    /// architectures llama.cpp has ([`Architecture::gguf_arch`]).
    pub gguf: Vec<HfTensorMap>,
    /// With tied embeddings, the head's name a checkpoint may still hold a copy under
    /// (the embedding's `hf` entry is `hf[0]`).
    pub tied_head: Option<String>,
    total: usize,
}

/// Offsets of a norm's weight and bias, where it has them.
#[derive(Debug, Clone, Copy, Default)]
pub struct NormSlots {
    pub weight: Option<usize>,
    pub bias: Option<usize>,
}

/// Offsets of one block's tensors. q, k and v lie one after another, as do their
/// biases, and the MLP's gate and up (and their biases), so one backward product
/// covers each group.
#[derive(Debug, Clone, Copy)]
pub struct LayerSlots {
    /// Before attention (after it, with post-norms).
    pub norm1: NormSlots,
    pub wq: usize,
    pub wk: usize,
    pub wv: usize,
    pub bq: Option<usize>,
    pub q_norm: Option<usize>,
    pub k_norm: Option<usize>,
    pub wo: usize,
    pub bo: Option<usize>,
    /// Before the MLP (after it, with post-norms).
    pub norm2: NormSlots,
    /// SwiGLU's gate (then up, contiguous); the GELU MLP has none.
    pub w_gate: Option<usize>,
    pub w_up: usize,
    /// The bias of the MLP's input projections (`[gate; up]`, or up).
    pub b_in: Option<usize>,
    pub w_down: usize,
    pub b_down: Option<usize>,
}

/// The Hugging Face names of one architecture's tensors (llama.cpp's are the same for
/// every architecture but the norms').
struct Names {
    embed: &'static str,
    layer: &'static str,
    norm1: &'static str,
    norm2: &'static str,
    attn: &'static str,
    q: &'static str,
    k: &'static str,
    v: &'static str,
    o: &'static str,
    mlp: &'static str,
    up: &'static str,
    down: &'static str,
    final_norm: &'static str,
    head: &'static str,
    /// llama.cpp's names of the two norms of a block.
    gguf_norm1: &'static str,
    gguf_norm2: &'static str,
}

fn names(a: Architecture) -> Names {
    let llama = Names {
        embed: "model.embed_tokens",
        layer: "model.layers",
        norm1: "input_layernorm",
        norm2: "post_attention_layernorm",
        attn: "self_attn",
        q: "q_proj",
        k: "k_proj",
        v: "v_proj",
        o: "o_proj",
        mlp: "mlp",
        up: "up_proj",
        down: "down_proj",
        final_norm: "model.norm",
        head: "lm_head",
        gguf_norm1: "attn_norm",
        gguf_norm2: "ffn_norm",
    };
    match a {
        Architecture::GptNeox => Names {
            embed: "gpt_neox.embed_in",
            layer: "gpt_neox.layers",
            attn: "attention",
            q: "query_key_value",
            k: "query_key_value",
            v: "query_key_value",
            o: "dense",
            up: "dense_h_to_4h",
            down: "dense_4h_to_h",
            final_norm: "gpt_neox.final_layer_norm",
            head: "embed_out",
            ..llama
        },
        Architecture::Olmo2 => Names {
            norm1: "post_attention_layernorm",
            norm2: "post_feedforward_layernorm",
            gguf_norm1: "post_attention_norm",
            gguf_norm2: "post_ffw_norm",
            ..llama
        },
        _ => llama,
    }
}

struct Builder {
    slots: Vec<TensorSlot>,
    hf: Vec<HfTensorMap>,
    gguf: Vec<HfTensorMap>,
    total: usize,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Matrix,
    Embedding,
    Norm,
    Bias,
}

impl Builder {
    /// A tensor that is one checkpoint tensor of its own, named `name` by Hugging Face
    /// and `gguf` by llama.cpp.
    fn push(&mut self, name: String, gguf: String, shape: Vec<usize>, kind: Kind) -> usize {
        let offset = self.slot(name.clone(), shape.clone(), kind);
        let len = shape.iter().product::<usize>();
        let parts: Vec<Range<usize>> = std::iter::once(offset..offset + len).collect();
        self.gguf.push(HfTensorMap {
            name: gguf,
            shape: shape.clone(),
            parts: parts.clone(),
        });
        self.hf.push(HfTensorMap { name, shape, parts });
        offset
    }

    /// A tensor of the buffer only (part of a fused checkpoint tensor).
    fn slot(&mut self, name: String, shape: Vec<usize>, kind: Kind) -> usize {
        let offset = self.total;
        self.total += shape.iter().product::<usize>();
        self.slots.push(TensorSlot {
            name,
            shape,
            offset,
            is_norm: kind == Kind::Norm,
            is_bias: kind == Kind::Bias,
            is_embedding: kind == Kind::Embedding,
        });
        offset
    }

    fn norm(&mut self, c: &ModelConfig, (prefix, gguf): (&str, &str), width: usize) -> NormSlots {
        let n = c.block.norm;
        NormSlots {
            weight: n.has_weight().then(|| {
                let (h, g) = (format!("{prefix}.weight"), format!("{gguf}.weight"));
                self.push(h, g, vec![width], Kind::Norm)
            }),
            bias: n.has_bias().then(|| {
                let (h, g) = (format!("{prefix}.bias"), format!("{gguf}.bias"));
                self.push(h, g, vec![width], Kind::Bias)
            }),
        }
    }

    /// A linear layer: weight `out × inp`, and a bias if `bias`.
    fn linear(
        &mut self,
        (name, gguf): (&str, &str),
        out: usize,
        inp: usize,
        bias: bool,
    ) -> (usize, Option<usize>) {
        let (h, g) = (format!("{name}.weight"), format!("{gguf}.weight"));
        let w = self.push(h, g, vec![out, inp], Kind::Matrix);
        let b = bias.then(|| {
            let (h, g) = (format!("{name}.bias"), format!("{gguf}.bias"));
            self.push(h, g, vec![out], Kind::Bias)
        });
        (w, b)
    }
}

impl ParamLayout {
    pub fn new(c: &ModelConfig) -> Self {
        let mut b = Builder {
            slots: Vec::new(),
            hf: Vec::new(),
            gguf: Vec::new(),
            total: 0,
        };
        let n = names(c.architecture);
        let blk = c.block;
        let (d, f, qd, kvd) = (c.hidden_size, c.intermediate_size, c.q_dim(), c.kv_dim());
        let embed = b.push(
            format!("{}.weight", n.embed),
            "token_embd.weight".into(),
            vec![c.vocab_size, d],
            Kind::Embedding,
        );
        let mut layers = Vec::new();
        for i in 0..c.num_hidden_layers {
            let p = format!("{}.{i}", n.layer);
            let at = |part: &str| format!("{p}.{}.{part}", n.attn);
            let g = |part: &str| format!("blk.{i}.{part}");
            let norm1 = b.norm(c, (&format!("{p}.{}", n.norm1), &g(n.gguf_norm1)), d);
            let (wq, wk, wv, bq);
            if c.architecture == Architecture::GptNeox {
                (wq, wk, wv, bq) = fused_qkv(&mut b, c, &at(n.q), &g("attn_qkv"));
            } else {
                let mut qkv = |part: &str, gguf: &str, suffix: &str, shape: Vec<usize>, kind| {
                    let (h, gg) = (
                        format!("{}.{suffix}", at(part)),
                        g(&format!("{gguf}.{suffix}")),
                    );
                    b.push(h, gg, shape, kind)
                };
                wq = qkv(n.q, "attn_q", "weight", vec![qd, d], Kind::Matrix);
                wk = qkv(n.k, "attn_k", "weight", vec![kvd, d], Kind::Matrix);
                wv = qkv(n.v, "attn_v", "weight", vec![kvd, d], Kind::Matrix);
                bq = blk.qkv_bias.then(|| {
                    let bq = qkv(n.q, "attn_q", "bias", vec![qd], Kind::Bias);
                    qkv(n.k, "attn_k", "bias", vec![kvd], Kind::Bias);
                    qkv(n.v, "attn_v", "bias", vec![kvd], Kind::Bias);
                    bq
                });
            }
            let mut qk_norm = |part: &str, width: usize| {
                let (h, gg) = (
                    format!("{}.weight", at(part)),
                    g(&format!("attn_{part}.weight")),
                );
                b.push(h, gg, vec![width], Kind::Norm)
            };
            let q_norm = blk.qk_norm.then(|| qk_norm("q_norm", qd));
            let k_norm = blk.qk_norm.then(|| qk_norm("k_norm", kvd));
            let (wo, bo) = b.linear((&at(n.o), &g("attn_output")), d, qd, blk.o_bias);
            let norm2 = b.norm(c, (&format!("{p}.{}", n.norm2), &g(n.gguf_norm2)), d);
            let mlp = |part: &str| format!("{p}.{}.{part}", n.mlp);
            let (w_gate, w_up, b_in) = match (blk.mlp, c.architecture) {
                (Mlp::Gelu, _) => {
                    let (w, bias) = b.linear((&mlp(n.up), &g("ffn_up")), f, d, blk.mlp_bias);
                    (None, w, bias)
                }
                // GLM fuses gate and up into one tensor, gate first.
                (Mlp::SwiGlu, Architecture::Glm) => {
                    let (h, gg) = (mlp("gate_up_proj.weight"), g("ffn_up.weight"));
                    let w = b.push(h, gg, vec![2 * f, d], Kind::Matrix);
                    (Some(w), w + f * d, None)
                }
                (Mlp::SwiGlu, _) => {
                    let mut part = |hf: &str, gguf: &str, suffix: &str, shape: Vec<usize>, kind| {
                        let (h, gg) = (
                            mlp(&format!("{hf}.{suffix}")),
                            g(&format!("{gguf}.{suffix}")),
                        );
                        b.push(h, gg, shape, kind)
                    };
                    let w_gate = part("gate_proj", "ffn_gate", "weight", vec![f, d], Kind::Matrix);
                    let w_up = part("up_proj", "ffn_up", "weight", vec![f, d], Kind::Matrix);
                    let b_gate = blk.mlp_bias.then(|| {
                        let bg = part("gate_proj", "ffn_gate", "bias", vec![f], Kind::Bias);
                        part("up_proj", "ffn_up", "bias", vec![f], Kind::Bias);
                        bg
                    });
                    (Some(w_gate), w_up, b_gate)
                }
            };
            let (w_down, b_down) = b.linear((&mlp(n.down), &g("ffn_down")), d, f, blk.mlp_bias);
            layers.push(LayerSlots {
                norm1,
                wq,
                wk,
                wv,
                bq,
                q_norm,
                k_norm,
                wo,
                bo,
                norm2,
                w_gate,
                w_up,
                b_in,
                w_down,
                b_down,
            });
        }
        let final_norm = b.norm(c, (n.final_norm, "output_norm"), d);
        let lm_head = if c.tie_word_embeddings {
            embed
        } else {
            b.push(
                format!("{}.weight", n.head),
                "output.weight".into(),
                vec![c.vocab_size, d],
                Kind::Embedding,
            )
        };
        ParamLayout {
            slots: b.slots,
            embed,
            layers,
            final_norm,
            lm_head,
            hf: b.hf,
            gguf: b.gguf,
            tied_head: c.tie_word_embeddings.then(|| format!("{}.weight", n.head)),
            total: b.total,
        }
    }

    pub fn total(&self) -> usize {
        self.total
    }

    pub fn slot(&self, name: &str) -> Option<&TensorSlot> {
        self.slots.iter().find(|s| s.name == name)
    }
}

/// GPT-NeoX's `query_key_value`: rows grouped by head, `[q_h; k_h; v_h]` for each head
/// `h`, and its bias alike. The engine keeps q, k and v apart; the checkpoint tensor
/// gathers them back.
fn fused_qkv(
    b: &mut Builder,
    c: &ModelConfig,
    name: &str,
    gguf: &str,
) -> (usize, usize, usize, Option<usize>) {
    let (d, hd, heads) = (c.hidden_size, c.head_dim(), c.num_attention_heads);
    let qd = c.q_dim();
    let [wq, wk, wv] = ["query", "key", "value"]
        .map(|part| b.slot(format!("{name}.weight[{part}]"), vec![qd, d], Kind::Matrix));
    let per_head = |bases: [usize; 3], rows: usize| -> Vec<Range<usize>> {
        (0..heads)
            .flat_map(|h| bases.map(|base| base + h * rows..base + (h + 1) * rows))
            .collect()
    };
    b.hf.push(HfTensorMap {
        name: format!("{name}.weight"),
        shape: vec![3 * qd, d],
        parts: per_head([wq, wk, wv], hd * d),
    });
    // llama.cpp's attn_qkv is [q; k; v] whole, as the engine keeps them.
    b.gguf.push(HfTensorMap {
        name: format!("{gguf}.weight"),
        shape: vec![3 * qd, d],
        parts: std::iter::once(wq..wv + qd * d).collect(),
    });
    let bq = c.block.qkv_bias.then(|| {
        let [bq, bk, bv] = ["query", "key", "value"]
            .map(|part| b.slot(format!("{name}.bias[{part}]"), vec![qd], Kind::Bias));
        b.hf.push(HfTensorMap {
            name: format!("{name}.bias"),
            shape: vec![3 * qd],
            parts: per_head([bq, bk, bv], hd),
        });
        b.gguf.push(HfTensorMap {
            name: format!("{gguf}.bias"),
            shape: vec![3 * qd],
            parts: std::iter::once(bq..bv + qd).collect(),
        });
        bq
    });
    (wq, wk, wv, bq)
}
