//! The architectures emergent trains and scores, as descriptions of one block: which
//! norm, where it sits, how the residual adds, what attention and MLP carry. The
//! kernels read only this description; the names of tensors and config fields of each
//! architecture are in `layout.rs` and `config.rs`.

use serde::{Deserialize, Serialize};

/// A Hugging Face `model_type` that emergent implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Architecture {
    /// LLaMA and Mistral-style models (`llama`, `mistral`).
    #[default]
    Llama,
    /// transformers' GLM: the paper's models (partial interleaved rotary, q/k/v biases).
    Glm,
    /// GPT-NeoX, the Pythia suite.
    GptNeox,
    /// OLMo (1): LayerNorm without weight or bias.
    Olmo,
    /// OLMo-2: norms after attention and MLP, RMSNorm of q and k.
    Olmo2,
    /// Qwen2: biases on q, k and v.
    Qwen2,
}

impl Architecture {
    pub const ALL: [Architecture; 6] = [
        Architecture::Llama,
        Architecture::Glm,
        Architecture::GptNeox,
        Architecture::Olmo,
        Architecture::Olmo2,
        Architecture::Qwen2,
    ];

    /// The `model_type` of `config.json`.
    pub fn model_type(self) -> &'static str {
        match self {
            Architecture::Llama => "llama",
            Architecture::Glm => "glm",
            Architecture::GptNeox => "gpt_neox",
            Architecture::Olmo => "olmo",
            Architecture::Olmo2 => "olmo2",
            Architecture::Qwen2 => "qwen2",
        }
    }

    /// The architecture of a `model_type` (`mistral` reads as LLaMA).
    pub fn from_model_type(name: &str) -> Option<Architecture> {
        match name {
            "mistral" => Some(Architecture::Llama),
            _ => Self::ALL.into_iter().find(|a| a.model_type() == name),
        }
    }

    /// llama.cpp's name of the architecture (GGUF `general.architecture`), where
    /// emergent reads its GGUF files.
    pub fn gguf_arch(self) -> Option<&'static str> {
        match self {
            Architecture::Llama => Some("llama"),
            Architecture::GptNeox => Some("gptneox"),
            Architecture::Olmo => Some("olmo"),
            Architecture::Olmo2 => Some("olmo2"),
            Architecture::Qwen2 => Some("qwen2"),
            Architecture::Glm => None,
        }
    }

    /// Whether llama.cpp's converter interleaves the rotary halves of q and k rows
    /// (`LlamaModel.permute`): LLaMA and OLMo, whose GGUF rotary is the "normal" one.
    pub fn gguf_permutes_qk(self) -> bool {
        matches!(self, Architecture::Llama | Architecture::Olmo)
    }

    /// The transformers class that loads this architecture.
    pub fn hf_class(self) -> &'static str {
        match self {
            Architecture::Llama => "LlamaForCausalLM",
            Architecture::Glm => "GlmForCausalLM",
            Architecture::GptNeox => "GPTNeoXForCausalLM",
            Architecture::Olmo => "OlmoForCausalLM",
            Architecture::Olmo2 => "Olmo2ForCausalLM",
            Architecture::Qwen2 => "Qwen2ForCausalLM",
        }
    }

    /// The block as the architecture's reference implementation defaults it.
    pub fn block(self) -> Block {
        let llama = Block::default();
        match self {
            Architecture::Llama => llama,
            Architecture::Glm => Block {
                qkv_bias: true,
                rotary_fraction: 0.5,
                rotary_interleaved: true,
                ..llama
            },
            Architecture::GptNeox => Block {
                norm: Norm::Layer,
                parallel_residual: true,
                qkv_bias: true,
                o_bias: true,
                rotary_fraction: 0.25,
                mlp: Mlp::Gelu,
                mlp_bias: true,
                ..llama
            },
            Architecture::Olmo => Block {
                norm: Norm::LayerNoAffine,
                ..llama
            },
            Architecture::Olmo2 => Block {
                post_norm: true,
                qk_norm: true,
                ..llama
            },
            Architecture::Qwen2 => Block {
                qkv_bias: true,
                ..llama
            },
        }
    }
}

impl std::fmt::Display for Architecture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.model_type())
    }
}

/// The normalisation of a block and of the final hidden state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Norm {
    /// `x / rms(x) · w`.
    #[default]
    Rms,
    /// `(x − mean) / std · w + b`.
    Layer,
    /// `(x − mean) / std`, no parameters (OLMo).
    LayerNoAffine,
}

impl Norm {
    pub fn has_weight(self) -> bool {
        self != Norm::LayerNoAffine
    }

    pub fn has_bias(self) -> bool {
        self == Norm::Layer
    }
}

/// The feed-forward network of a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mlp {
    /// `down(silu(gate(x)) · up(x))`.
    #[default]
    SwiGlu,
    /// `down(gelu(up(x)))` with the exact (erf) GELU.
    Gelu,
}

/// One transformer block, as the kernels see it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Block {
    pub norm: Norm,
    /// Norms on the outputs of attention and MLP instead of their inputs (OLMo-2).
    pub post_norm: bool,
    /// `x + attn(ln1 x) + mlp(ln2 x)` instead of two residual steps (GPT-NeoX).
    pub parallel_residual: bool,
    pub qkv_bias: bool,
    pub o_bias: bool,
    /// RMSNorm over the whole q and k projections before rotary (OLMo-2).
    pub qk_norm: bool,
    /// The fraction of each head's dimensions that rotary rotates (the first ones).
    pub rotary_fraction: f32,
    /// Rotary pairs `(2i, 2i+1)` (GLM) instead of `(i, i + rot/2)`.
    pub rotary_interleaved: bool,
    pub mlp: Mlp,
    pub mlp_bias: bool,
}

impl Default for Block {
    fn default() -> Self {
        Block {
            norm: Norm::Rms,
            post_norm: false,
            parallel_residual: false,
            qkv_bias: false,
            o_bias: false,
            qk_norm: false,
            rotary_fraction: 1.0,
            rotary_interleaved: false,
            mlp: Mlp::SwiGlu,
            mlp_bias: false,
        }
    }
}

impl Block {
    /// Whether this is the LLaMA block (configs of it serialise without a `block`).
    pub fn is_llama(&self) -> bool {
        *self == Block::default()
    }

    /// Rotated dimensions per head: `head_dim · rotary_fraction`, rounded down as
    /// transformers does.
    pub fn rotary_dims(&self, head_dim: usize) -> usize {
        (head_dim as f64 * self.rotary_fraction as f64) as usize
    }
}
