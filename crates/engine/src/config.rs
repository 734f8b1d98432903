use serde::{Deserialize, Serialize};
use std::path::Path;

use crate::arch::{Architecture, Block, Mlp};
use crate::EngineError;

/// The numbers that define a model. Field names follow Hugging Face's `LlamaConfig`
/// where it has one; `architecture` and `block` say how the block differs from
/// LLaMA's, and are left out of a LLaMA config so its serialisation (and every hash
/// of it) is what it always was.
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
    /// The epsilon of every norm (`layer_norm_eps` in a GPT-NeoX config.json).
    pub rms_norm_eps: f32,
    pub tie_word_embeddings: bool,
    pub bos_token_id: Option<u32>,
    pub eos_token_id: Option<u32>,
    /// What the block is: LLaMA's unless the checkpoint or the study names another.
    #[serde(default, skip_serializing_if = "is_llama")]
    pub architecture: Architecture,
    #[serde(default, skip_serializing_if = "Block::is_llama")]
    pub block: Block,
}

fn is_llama(a: &Architecture) -> bool {
    *a == Architecture::Llama
}

impl ModelConfig {
    /// A LLaMA block of these sizes, with every other choice at LLaMA's usual value:
    /// a key/value head per head, rotary θ 10,000, norm ε 1e-5, untied embeddings, no
    /// special tokens. Anything else by struct update:
    /// `ModelConfig { num_key_value_heads: 2, ..ModelConfig::llama(…) }`.
    pub fn llama(
        vocab_size: usize,
        hidden_size: usize,
        num_hidden_layers: usize,
        num_attention_heads: usize,
        intermediate_size: usize,
        max_position_embeddings: usize,
    ) -> ModelConfig {
        ModelConfig {
            vocab_size,
            hidden_size,
            num_hidden_layers,
            num_attention_heads,
            num_key_value_heads: num_attention_heads,
            intermediate_size,
            max_position_embeddings,
            rope_theta: 10000.0,
            rms_norm_eps: 1e-5,
            tie_word_embeddings: false,
            bos_token_id: None,
            eos_token_id: None,
            architecture: Architecture::Llama,
            block: Block::default(),
        }
    }

    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    pub fn q_dim(&self) -> usize {
        self.num_attention_heads * self.head_dim()
    }

    pub fn kv_dim(&self) -> usize {
        self.num_key_value_heads * self.head_dim()
    }

    /// Dimensions of each head that rotary rotates.
    pub fn rotary_dims(&self) -> usize {
        self.block.rotary_dims(self.head_dim())
    }

    /// Checks the shape constraints the kernels rely on, and that the parameters fit in
    /// this machine's memory.
    pub fn validate(&self) -> Result<(), EngineError> {
        self.validate_shape()?;
        let bytes = 4.0 * self.approx_params();
        if let Some(have) = crate::machine_memory().filter(|&m| bytes > m) {
            return Err(EngineError::Invalid {
                field: "hidden_size".into(),
                message: format!(
                    "a model of {:.3e} parameters needs {:.1} GiB as f32, more than this machine's {:.1} GiB",
                    bytes / 4.0,
                    bytes / (1u64 << 30) as f64,
                    have / (1u64 << 30) as f64
                ),
            });
        }
        Ok(())
    }

    /// The shape constraints alone: sizes bounded, heads dividing, rotary dimensions.
    pub fn validate_shape(&self) -> Result<(), EngineError> {
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
        let rot = self.rotary_dims();
        let fraction = self.block.rotary_fraction;
        if !(fraction > 0.0 && fraction <= 1.0 && rot.is_multiple_of(2)) || rot == 0 {
            return bad(
                "partial_rotary_factor",
                format!(
                    "{} of head dimension {} rotates {rot} dimensions: an even number from 2 to {} is needed",
                    self.block.rotary_fraction,
                    self.head_dim(),
                    self.head_dim()
                ),
            );
        }
        if self.architecture == Architecture::GptNeox
            && self.num_key_value_heads != self.num_attention_heads
        {
            return bad(
                "num_key_value_heads",
                "GPT-NeoX has no grouped-query attention".into(),
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
        let mats = if self.block.mlp == Mlp::Gelu {
            2.0
        } else {
            3.0
        };
        let layer = h * h * (2.0 + 2.0 * kv) + mats * h * f + 2.0 * h;
        let head = if self.tie_word_embeddings { 1.0 } else { 2.0 };
        self.num_hidden_layers as f64 * layer + head * v * h + h
    }

    pub fn num_params(&self) -> usize {
        crate::ParamLayout::new(self).total()
    }

    /// Parameters outside the embedding and the output head (Kaplan et al.'s N).
    pub fn non_embedding_params(&self) -> usize {
        let head = if self.tie_word_embeddings { 1 } else { 2 };
        self.num_params() - head * self.vocab_size * self.hidden_size
    }

    /// Matrix-multiply FLOPs per token of a forward pass with context `seq`:
    /// 2 per weight that enters a product, plus causal attention.
    pub fn forward_flops_per_token(&self, seq: usize) -> f64 {
        let layout = crate::ParamLayout::new(self);
        let matrices: usize = layout
            .slots
            .iter()
            .filter(|s| s.shape.len() == 2 && !s.is_embedding)
            .map(|s| s.len())
            .sum();
        let head = self.vocab_size * self.hidden_size;
        let attention =
            2.0 * 2.0 * seq as f64 * self.q_dim() as f64 * self.num_hidden_layers as f64 / 2.0;
        2.0 * (matrices + head) as f64 + attention
    }

    /// Reads a Hugging Face `config.json` of any architecture in [`Architecture::ALL`].
    pub fn from_hf_json(path: &Path) -> Result<Self, EngineError> {
        let text =
            emergent_files::read_regular_to_string(path).map_err(|e| EngineError::io(path, e))?;
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|cause| EngineError::Json {
                path: path.into(),
                cause,
            })?;
        let f = HfFields { v: &v, path };
        let arch = match v.get("model_type").and_then(|m| m.as_str()) {
            None => Architecture::Llama,
            Some(name) => Architecture::from_model_type(name).ok_or_else(|| {
                let known: Vec<&str> = Architecture::ALL.iter().map(|a| a.model_type()).collect();
                f.error(
                    "model_type",
                    format!(
                        "`{name}` is not supported; emergent reads {} (and mistral as llama)",
                        known.join(", ")
                    ),
                )
            })?,
        };
        f.refuse_rope_scaling()?;
        let cfg = f.config(arch)?;
        cfg.validate().map_err(|e| match e {
            EngineError::Invalid { field, message } => f.error(&field, message),
            other => other,
        })?;
        if let Some(hd) = v.get("head_dim").and_then(|x| x.as_u64()) {
            if hd as usize != cfg.head_dim() {
                return Err(f.error(
                    "head_dim",
                    format!(
                        "head_dim {hd} × {} heads differs from hidden_size {}",
                        cfg.num_attention_heads, cfg.hidden_size
                    ),
                ));
            }
        }
        Ok(cfg)
    }

    /// The `config.json` that `transformers` loads with the architecture's own class.
    pub fn to_hf_json(&self) -> serde_json::Value {
        let b = &self.block;
        let mut v = serde_json::json!({
            "architectures": [self.architecture.hf_class()],
            "model_type": self.architecture.model_type(),
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.num_hidden_layers,
            "num_attention_heads": self.num_attention_heads,
            "max_position_embeddings": self.max_position_embeddings,
            "rope_theta": self.rope_theta,
            "rope_scaling": null,
            "attention_dropout": 0.0,
            "tie_word_embeddings": self.tie_word_embeddings,
            "bos_token_id": self.bos_token_id,
            "eos_token_id": self.eos_token_id,
            // GLM's default pad id lies outside a small vocabulary.
            "pad_token_id": null,
            "initializer_range": 0.02,
            "torch_dtype": "float32",
            "use_cache": true,
        });
        let m = v.as_object_mut().expect("an object");
        let mut set = |k: &str, x: serde_json::Value| {
            m.insert(k.into(), x);
        };
        match self.architecture {
            Architecture::GptNeox => {
                set("hidden_act", "gelu".into());
                set("layer_norm_eps", self.rms_norm_eps.into());
                set("rotary_pct", b.rotary_fraction.into());
                set("partial_rotary_factor", b.rotary_fraction.into());
                set("rotary_emb_base", self.rope_theta.into());
                set("use_parallel_residual", b.parallel_residual.into());
                set("attention_bias", b.qkv_bias.into());
                set("hidden_dropout", 0.0.into());
                set("classifier_dropout", 0.0.into());
            }
            arch => {
                set("hidden_act", "silu".into());
                set("num_key_value_heads", self.num_key_value_heads.into());
                set("head_dim", self.head_dim().into());
                set("attention_bias", b.qkv_bias.into());
                if arch != Architecture::Olmo {
                    set("rms_norm_eps", self.rms_norm_eps.into());
                }
                match arch {
                    Architecture::Llama => {
                        set("mlp_bias", b.mlp_bias.into());
                        set("pretraining_tp", 1.into());
                    }
                    Architecture::Glm => {
                        set("partial_rotary_factor", b.rotary_fraction.into());
                    }
                    Architecture::Olmo => set("clip_qkv", serde_json::Value::Null),
                    Architecture::Qwen2 => {
                        set("use_sliding_window", false.into());
                        set("sliding_window", serde_json::Value::Null);
                    }
                    _ => {}
                }
            }
        }
        v
    }
}

/// The fields of one `config.json`, read with its path in every error.
struct HfFields<'a> {
    v: &'a serde_json::Value,
    path: &'a Path,
}

impl HfFields<'_> {
    fn error(&self, field: &str, message: impl Into<String>) -> EngineError {
        EngineError::Config {
            path: self.path.into(),
            field: field.into(),
            message: message.into(),
        }
    }

    /// The first of `names` that is present (a field some versions call otherwise),
    /// looked up in `rope_parameters` too.
    fn get(&self, names: &[&str]) -> Option<&serde_json::Value> {
        let rope = self.v.get("rope_parameters");
        names
            .iter()
            .find_map(|n| self.v.get(*n).or_else(|| rope.and_then(|r| r.get(*n))))
            .filter(|x| !x.is_null())
    }

    fn usize(&self, name: &str) -> Result<usize, EngineError> {
        let x = self
            .v
            .get(name)
            .ok_or_else(|| self.error(name, "missing: the architecture needs it"))?;
        x.as_u64()
            .map(|x| x as usize)
            .ok_or_else(|| self.error(name, "expected a non-negative integer"))
    }

    fn usize_or(&self, name: &str, default: usize) -> Result<usize, EngineError> {
        match self.v.get(name).filter(|x| !x.is_null()) {
            None => Ok(default),
            Some(_) => self.usize(name),
        }
    }

    fn float_or(&self, names: &[&str], default: f64) -> Result<f32, EngineError> {
        match self.get(names) {
            None => Ok(default as f32),
            Some(x) => x
                .as_f64()
                .map(|x| x as f32)
                .ok_or_else(|| self.error(names[0], "expected a number")),
        }
    }

    fn bool_or(&self, name: &str, default: bool) -> Result<bool, EngineError> {
        match self.v.get(name).filter(|x| !x.is_null()) {
            None => Ok(default),
            Some(x) => x
                .as_bool()
                .ok_or_else(|| self.error(name, "expected true or false")),
        }
    }

    fn token(&self, name: &str) -> Option<u32> {
        match self.v.get(name)? {
            serde_json::Value::Number(n) => n.as_u64().map(|x| x as u32),
            serde_json::Value::Array(a) => a.first()?.as_u64().map(|x| x as u32),
            _ => None,
        }
    }

    /// A scaled rotary embedding changes every logit: refused rather than ignored.
    fn refuse_rope_scaling(&self) -> Result<(), EngineError> {
        let scaling = self
            .v
            .get("rope_scaling")
            .or_else(|| {
                self.v
                    .get("rope_parameters")
                    .and_then(|r| r.get("rope_type").map(|_| r))
            })
            .filter(|r| !r.is_null())
            .filter(|r| {
                r.get("rope_type")
                    .or_else(|| r.get("type"))
                    .and_then(|t| t.as_str())
                    != Some("default")
            });
        match scaling {
            Some(r) => Err(self.error(
                "rope_scaling",
                format!("{r} is not supported: scores would be wrong without it"),
            )),
            None => Ok(()),
        }
    }

    /// Refuses a field whose non-default value the engine does not implement.
    fn refuse(
        &self,
        name: &str,
        ok: impl Fn(&serde_json::Value) -> bool,
        why: &str,
    ) -> Result<(), EngineError> {
        match self.v.get(name) {
            Some(x) if !x.is_null() && !ok(x) => Err(self.error(name, format!("{x}: {why}"))),
            _ => Ok(()),
        }
    }

    fn config(&self, arch: Architecture) -> Result<ModelConfig, EngineError> {
        let heads = self.usize("num_attention_heads")?;
        let neox = arch == Architecture::GptNeox;
        let act = if neox { "gelu" } else { "silu" };
        self.refuse(
            "hidden_act",
            |x| x.as_str() == Some(act),
            &format!("{arch} is implemented with `{act}` only"),
        )?;
        let mut block = arch.block();
        match arch {
            Architecture::GptNeox => {
                block.rotary_fraction =
                    self.float_or(&["rotary_pct", "partial_rotary_factor"], 0.25)?;
                block.parallel_residual = self.bool_or("use_parallel_residual", true)?;
                let bias = self.bool_or("attention_bias", true)?;
                (block.qkv_bias, block.o_bias) = (bias, bias);
            }
            Architecture::Glm => {
                block.rotary_fraction = self.float_or(&["partial_rotary_factor"], 0.5)?;
                block.qkv_bias = self.bool_or("attention_bias", true)?;
            }
            Architecture::Llama => {
                let bias = self.bool_or("attention_bias", false)?;
                (block.qkv_bias, block.o_bias) = (bias, bias);
                block.mlp_bias = self.bool_or("mlp_bias", false)?;
            }
            Architecture::Olmo | Architecture::Olmo2 => {
                let bias = self.bool_or("attention_bias", false)?;
                (block.qkv_bias, block.o_bias) = (bias, bias);
                self.refuse(
                    "clip_qkv",
                    |_| false,
                    "clipping q, k and v is not implemented",
                )?;
            }
            Architecture::Qwen2 => {
                self.refuse(
                    "use_sliding_window",
                    |x| x.as_bool() == Some(false),
                    "sliding-window attention is not implemented",
                )?;
            }
        }
        let eps_names: &[&str] = match arch {
            Architecture::GptNeox => &["layer_norm_eps"],
            Architecture::Olmo => &[],
            _ => &["rms_norm_eps"],
        };
        let eps_default = if matches!(arch, Architecture::Llama) {
            1e-6
        } else {
            1e-5
        };
        Ok(ModelConfig {
            vocab_size: self.usize("vocab_size")?,
            hidden_size: self.usize("hidden_size")?,
            num_hidden_layers: self.usize("num_hidden_layers")?,
            num_attention_heads: heads,
            num_key_value_heads: if neox {
                heads
            } else {
                self.usize_or("num_key_value_heads", heads)?
            },
            intermediate_size: self.usize("intermediate_size")?,
            max_position_embeddings: self.usize_or("max_position_embeddings", 2048)?,
            rope_theta: self.float_or(&["rope_theta", "rotary_emb_base"], 10000.0)?,
            rms_norm_eps: if eps_names.is_empty() {
                1e-5
            } else {
                self.float_or(eps_names, eps_default)?
            },
            tie_word_embeddings: self.bool_or("tie_word_embeddings", false)?,
            bos_token_id: self.token("bos_token_id"),
            eos_token_id: self.token("eos_token_id"),
            architecture: arch,
            block,
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
