use serde::{Deserialize, Serialize};
use std::path::Path;

use crate::EngineError;

/// The numbers that define a LLaMA model. Field names follow Hugging Face's
/// `LlamaConfig` where it has one, so `config.json` round-trips.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    pub rope_theta: f32,
    pub rms_norm_eps: f32,
    pub tie_word_embeddings: bool,
    pub bos_token_id: Option<u32>,
    pub eos_token_id: Option<u32>,
}

impl ModelConfig {
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    pub fn q_dim(&self) -> usize {
        self.num_attention_heads * self.head_dim()
    }

    pub fn kv_dim(&self) -> usize {
        self.num_key_value_heads * self.head_dim()
    }

    /// Checks the shape constraints the kernels rely on.
    pub fn validate(&self) -> Result<(), EngineError> {
        let bad = |field: &str, message: String| {
            Err(EngineError::Invalid {
                field: field.into(),
                message,
            })
        };
        // Bounded before anything is allocated from them: the largest public models
        // are well inside these.
        for (field, v, max) in [
            ("vocab_size", self.vocab_size, 1 << 24),
            ("hidden_size", self.hidden_size, 1 << 17),
            ("num_hidden_layers", self.num_hidden_layers, 1 << 12),
            ("num_attention_heads", self.num_attention_heads, 1 << 12),
            ("num_key_value_heads", self.num_key_value_heads, 1 << 12),
            ("intermediate_size", self.intermediate_size, 1 << 20),
            (
                "max_position_embeddings",
                self.max_position_embeddings,
                1 << 24,
            ),
        ] {
            if v == 0 || v > max {
                return bad(field, format!("{v}: must be between 1 and {max}"));
            }
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return bad(
                "num_attention_heads",
                format!(
                    "hidden_size {} is not divisible by {} heads",
                    self.hidden_size, self.num_attention_heads
                ),
            );
        }
        if !self.head_dim().is_multiple_of(2) {
            return bad(
                "num_attention_heads",
                format!(
                    "head dimension {} must be even for rotary embeddings",
                    self.head_dim()
                ),
            );
        }
        if !self
            .num_attention_heads
            .is_multiple_of(self.num_key_value_heads)
        {
            return bad(
                "num_key_value_heads",
                format!(
                    "{} attention heads are not a multiple of {} key/value heads",
                    self.num_attention_heads, self.num_key_value_heads
                ),
            );
        }
        let bytes = 4.0 * self.approx_params();
        if let Some(have) = crate::machine_memory().filter(|&m| bytes > m) {
            return bad(
                "hidden_size",
                format!(
                    "a model of {:.3e} parameters needs {:.1} GiB as f32, more than this machine's {:.1} GiB",
                    bytes / 4.0,
                    bytes / (1u64 << 30) as f64,
                    have / (1u64 << 30) as f64
                ),
            );
        }
        if !(self.rope_theta.is_finite() && self.rope_theta > 0.0) {
            return bad(
                "rope_theta",
                format!("{}: must be positive", self.rope_theta),
            );
        }
        if !(self.rms_norm_eps.is_finite() && self.rms_norm_eps > 0.0) {
            return bad(
                "rms_norm_eps",
                format!("{}: must be positive", self.rms_norm_eps),
            );
        }
        Ok(())
    }

    /// All parameters, the output head included when it is not tied.
    /// The parameter count in floating point, safe to compute from any sizes.
    fn approx_params(&self) -> f64 {
        let (h, f, v) = (
            self.hidden_size as f64,
            self.intermediate_size as f64,
            self.vocab_size as f64,
        );
        let kv = self.num_key_value_heads as f64 / self.num_attention_heads.max(1) as f64;
        let layer = h * h * (2.0 + 2.0 * kv) + 3.0 * h * f + 2.0 * h;
        let head = if self.tie_word_embeddings { 1.0 } else { 2.0 };
        self.num_hidden_layers as f64 * layer + head * v * h + h
    }

    pub fn num_params(&self) -> usize {
        crate::ParamLayout::new(self).total()
    }

    /// Parameters outside the embedding and the output head (Kaplan et al.'s N).
    pub fn non_embedding_params(&self) -> usize {
        let d = self.hidden_size;
        let per_layer = 2 * d
            + d * self.q_dim()
            + 2 * d * self.kv_dim()
            + self.q_dim() * d
            + 3 * d * self.intermediate_size;
        per_layer * self.num_hidden_layers + d
    }

    /// Matrix-multiply FLOPs per token of a forward pass with context `seq`:
    /// 2 per weight that enters a product, plus causal attention.
    pub fn forward_flops_per_token(&self, seq: usize) -> f64 {
        let head = self.vocab_size * self.hidden_size;
        let matmul_params = self.non_embedding_params()
            - (2 * self.hidden_size * self.num_hidden_layers + self.hidden_size)
            + head;
        let attention =
            2.0 * 2.0 * seq as f64 * self.q_dim() as f64 * self.num_hidden_layers as f64 / 2.0;
        2.0 * matmul_params as f64 + attention
    }

    /// Reads a Hugging Face `config.json` of a LLaMA model.
    pub fn from_hf_json(path: &Path) -> Result<Self, EngineError> {
        let text = std::fs::read_to_string(path).map_err(|e| EngineError::io(path, e))?;
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|source| EngineError::Json {
                path: path.into(),
                source,
            })?;
        let field = |name: &str| -> Result<&serde_json::Value, EngineError> {
            v.get(name).ok_or_else(|| EngineError::Config {
                path: path.into(),
                field: name.into(),
                message: "missing".into(),
            })
        };
        let usize_field = |name: &str| -> Result<usize, EngineError> {
            field(name)?
                .as_u64()
                .map(|x| x as usize)
                .ok_or_else(|| EngineError::Config {
                    path: path.into(),
                    field: name.into(),
                    message: "expected a non-negative integer".into(),
                })
        };
        if let Some(arch) = v.get("model_type").and_then(|m| m.as_str()) {
            if arch != "llama" {
                return Err(EngineError::Config {
                    path: path.into(),
                    field: "model_type".into(),
                    message: format!("`{arch}` is not supported; emergent reads LLaMA models"),
                });
            }
        }
        // A scaled rotary embedding changes every logit: refused rather than ignored.
        let scaling = v
            .get("rope_scaling")
            .or_else(|| {
                v.get("rope_parameters")
                    .and_then(|r| r.get("rope_type").map(|_| r))
            })
            .filter(|r| !r.is_null())
            .filter(|r| {
                r.get("rope_type")
                    .or_else(|| r.get("type"))
                    .and_then(|t| t.as_str())
                    != Some("default")
            });
        if let Some(r) = scaling {
            return Err(EngineError::Config {
                path: path.into(),
                field: "rope_scaling".into(),
                message: format!("{r} is not supported: scores would be wrong without it"),
            });
        }
        let heads = usize_field("num_attention_heads")?;
        let rope_theta = v
            .get("rope_theta")
            .or_else(|| v.get("rope_parameters").and_then(|r| r.get("rope_theta")))
            .and_then(|x| x.as_f64())
            .unwrap_or(10000.0) as f32;
        let token = |name: &str| -> Option<u32> {
            match v.get(name)? {
                serde_json::Value::Number(n) => n.as_u64().map(|x| x as u32),
                serde_json::Value::Array(a) => a.first()?.as_u64().map(|x| x as u32),
                _ => None,
            }
        };
        let cfg = ModelConfig {
            vocab_size: usize_field("vocab_size")?,
            hidden_size: usize_field("hidden_size")?,
            num_hidden_layers: usize_field("num_hidden_layers")?,
            num_attention_heads: heads,
            num_key_value_heads: v
                .get("num_key_value_heads")
                .and_then(|x| x.as_u64())
                .map(|x| x as usize)
                .unwrap_or(heads),
            intermediate_size: usize_field("intermediate_size")?,
            max_position_embeddings: v
                .get("max_position_embeddings")
                .and_then(|x| x.as_u64())
                .unwrap_or(2048) as usize,
            rope_theta,
            rms_norm_eps: v
                .get("rms_norm_eps")
                .and_then(|x| x.as_f64())
                .unwrap_or(1e-6) as f32,
            tie_word_embeddings: v
                .get("tie_word_embeddings")
                .and_then(|x| x.as_bool())
                .unwrap_or(false),
            bos_token_id: token("bos_token_id"),
            eos_token_id: token("eos_token_id"),
        };
        if v.get("hidden_act")
            .and_then(|x| x.as_str())
            .is_some_and(|a| a != "silu")
        {
            return Err(EngineError::Config {
                path: path.into(),
                field: "hidden_act".into(),
                message: "only `silu` (SwiGLU) is supported".into(),
            });
        }
        cfg.validate().map_err(|e| match e {
            EngineError::Invalid { field, message } => EngineError::Config {
                path: path.into(),
                field,
                message,
            },
            other => other,
        })?;
        if let Some(hd) = v.get("head_dim").and_then(|x| x.as_u64()) {
            if hd as usize * heads != cfg.hidden_size {
                return Err(EngineError::Config {
                    path: path.into(),
                    field: "head_dim".into(),
                    message: format!(
                        "head_dim {hd} × {heads} heads differs from hidden_size {}",
                        cfg.hidden_size
                    ),
                });
            }
        }
        Ok(cfg)
    }

    /// The `config.json` that `transformers` loads as `LlamaForCausalLM`.
    pub fn to_hf_json(&self) -> serde_json::Value {
        serde_json::json!({
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.num_hidden_layers,
            "num_attention_heads": self.num_attention_heads,
            "num_key_value_heads": self.num_key_value_heads,
            "head_dim": self.head_dim(),
            "hidden_act": "silu",
            "max_position_embeddings": self.max_position_embeddings,
            "rms_norm_eps": self.rms_norm_eps,
            "rope_theta": self.rope_theta,
            "rope_scaling": null,
            "attention_bias": false,
            "attention_dropout": 0.0,
            "mlp_bias": false,
            "tie_word_embeddings": self.tie_word_embeddings,
            "bos_token_id": self.bos_token_id,
            "eos_token_id": self.eos_token_id,
            "initializer_range": 0.02,
            "pretraining_tp": 1,
            "torch_dtype": "float32",
            "use_cache": true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_json(edit: impl Fn(&mut serde_json::Value)) -> Result<ModelConfig, EngineError> {
        let mut v = serde_json::json!({
            "vocab_size": 64, "hidden_size": 16, "num_hidden_layers": 2,
            "num_attention_heads": 2, "num_key_value_heads": 2, "intermediate_size": 32,
            "max_position_embeddings": 128, "rope_theta": 10000.0, "rms_norm_eps": 1e-5,
            "tie_word_embeddings": false, "model_type": "llama"
        });
        edit(&mut v);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.json");
        std::fs::write(&p, v.to_string()).unwrap();
        ModelConfig::from_hf_json(&p)
    }

    #[test]
    fn sizes_are_bounded_before_anything_is_allocated() {
        assert!(config_json(|_| {}).is_ok());
        for (field, value) in [
            ("vocab_size", serde_json::json!(1_000_000_000_000u64)),
            (
                "max_position_embeddings",
                serde_json::json!(1_000_000_000_000u64),
            ),
            ("num_hidden_layers", serde_json::json!(1_000_000_000u64)),
            ("rms_norm_eps", serde_json::json!(-1.0)),
            (
                "rope_scaling",
                serde_json::json!({"rope_type": "llama3", "factor": 8.0}),
            ),
        ] {
            let e = config_json(|v| v[field] = value.clone())
                .err()
                .unwrap()
                .to_string();
            assert!(e.contains(field), "{field}: {e}");
        }
        let huge = config_json(|v| {
            v["hidden_size"] = serde_json::json!(65536);
            v["intermediate_size"] = serde_json::json!(262144);
            v["num_hidden_layers"] = serde_json::json!(4000);
        });
        if memory_is_known() {
            let e = huge.err().unwrap().to_string();
            assert!(e.contains("GiB"), "{e}");
        }
    }

    fn memory_is_known() -> bool {
        crate::machine_memory().is_some_and(|m| m < 1e15)
    }
}
