use crate::ModelConfig;

/// Where one named tensor lives inside the flat parameter buffer.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorSlot {
    /// The Hugging Face name, e.g. `model.layers.0.self_attn.q_proj.weight`.
    pub name: String,
    pub shape: Vec<usize>,
    pub offset: usize,
    /// Norm gains and embeddings are excluded from weight decay by default.
    pub is_norm: bool,
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

/// Offsets of every tensor in one flat buffer. Parameters, gradients and both
/// AdamW moments share this layout, so the optimiser is one pass over four slices.
/// This is the one place that knows the Hugging Face tensor names.
#[derive(Debug, Clone)]
pub struct ParamLayout {
    pub slots: Vec<TensorSlot>,
    pub embed: usize,
    pub layers: Vec<LayerSlots>,
    pub final_norm: usize,
    /// Offset of the output head: the embedding itself when tied.
    pub lm_head: usize,
    total: usize,
}

/// Offsets of one block's tensors.
#[derive(Debug, Clone, Copy)]
pub struct LayerSlots {
    pub attn_norm: usize,
    pub wq: usize,
    pub wk: usize,
    pub wv: usize,
    pub wo: usize,
    pub mlp_norm: usize,
    pub w_gate: usize,
    pub w_up: usize,
    pub w_down: usize,
}

impl ParamLayout {
    pub fn new(c: &ModelConfig) -> Self {
        let mut slots = Vec::new();
        let mut total = 0usize;
        let mut push = |name: String, shape: Vec<usize>, is_norm: bool, is_embedding: bool| {
            let offset = total;
            total += shape.iter().product::<usize>();
            slots.push(TensorSlot {
                name,
                shape,
                offset,
                is_norm,
                is_embedding,
            });
            offset
        };
        let (d, f) = (c.hidden_size, c.intermediate_size);
        let embed = push(
            "model.embed_tokens.weight".into(),
            vec![c.vocab_size, d],
            false,
            true,
        );
        let mut layers = Vec::new();
        for i in 0..c.num_hidden_layers {
            let p = format!("model.layers.{i}");
            layers.push(LayerSlots {
                attn_norm: push(format!("{p}.input_layernorm.weight"), vec![d], true, false),
                wq: push(
                    format!("{p}.self_attn.q_proj.weight"),
                    vec![c.q_dim(), d],
                    false,
                    false,
                ),
                wk: push(
                    format!("{p}.self_attn.k_proj.weight"),
                    vec![c.kv_dim(), d],
                    false,
                    false,
                ),
                wv: push(
                    format!("{p}.self_attn.v_proj.weight"),
                    vec![c.kv_dim(), d],
                    false,
                    false,
                ),
                wo: push(
                    format!("{p}.self_attn.o_proj.weight"),
                    vec![d, c.q_dim()],
                    false,
                    false,
                ),
                mlp_norm: push(
                    format!("{p}.post_attention_layernorm.weight"),
                    vec![d],
                    true,
                    false,
                ),
                w_gate: push(
                    format!("{p}.mlp.gate_proj.weight"),
                    vec![f, d],
                    false,
                    false,
                ),
                w_up: push(format!("{p}.mlp.up_proj.weight"), vec![f, d], false, false),
                w_down: push(
                    format!("{p}.mlp.down_proj.weight"),
                    vec![d, f],
                    false,
                    false,
                ),
            });
        }
        let final_norm = push("model.norm.weight".into(), vec![d], true, false);
        let lm_head = if c.tie_word_embeddings {
            embed
        } else {
            push("lm_head.weight".into(), vec![c.vocab_size, d], false, true)
        };
        ParamLayout {
            slots,
            embed,
            layers,
            final_norm,
            lm_head,
            total,
        }
    }

    pub fn total(&self) -> usize {
        self.total
    }

    pub fn slot(&self, name: &str) -> Option<&TensorSlot> {
        self.slots.iter().find(|s| s.name == name)
    }
}
