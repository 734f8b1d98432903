//! GGUF (llama.cpp's format) for the architectures llama.cpp and emergent share (LLaMA,
//! GPT-NeoX, OLMo, OLMo-2, Qwen2): a bounds-checked reader of the header, metadata and
//! tensor table, and dequantisation of F32, F16, BF16, Q8_0, Q4_0 and Q4_1 at load.
//! Every read goes through [`Cursor`], which fails with the file's name instead of
//! reading past its end. Tensor names are in `layout.rs` (`ParamLayout::gguf`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::arch::{Architecture, Norm};
use crate::hf::{bf16_to_f32, f16_to_f32};
use crate::{CpuModel, EngineError, ModelConfig, ParamLayout};

/// A metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum GgufValue {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    Array(Vec<GgufValue>),
}

impl GgufValue {
    pub fn as_int(&self) -> Option<i64> {
        match self {
            GgufValue::Int(i) => Some(*i),
            _ => None,
        }
    }
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            GgufValue::Float(f) => Some(*f),
            GgufValue::Int(i) => Some(*i as f64),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            GgufValue::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_array(&self) -> Option<&[GgufValue]> {
        match self {
            GgufValue::Array(a) => Some(a),
            _ => None,
        }
    }
}

/// One entry of the tensor table.
#[derive(Debug, Clone)]
pub struct GgufTensorInfo {
    pub name: String,
    /// Dimensions, innermost first (GGUF's order).
    pub dims: Vec<u64>,
    pub kind: u32,
    pub offset: u64,
}

/// A parsed GGUF file: metadata, tensor table, and the bytes.
pub struct GgufFile {
    pub path: PathBuf,
    pub metadata: BTreeMap<String, GgufValue>,
    pub tensors: Vec<GgufTensorInfo>,
    data_start: usize,
    bytes: memmap2::Mmap,
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    path: &'a Path,
}

impl<'a> Cursor<'a> {
    fn err(&self, message: String) -> EngineError {
        EngineError::Gguf {
            path: self.path.to_path_buf(),
            message,
        }
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], EngineError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            return Err(self.err(format!(
                "truncated: {what} needs {n} bytes at offset {}, file has {}",
                self.pos,
                self.bytes.len()
            )));
        };
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u32(&mut self, what: &str) -> Result<u32, EngineError> {
        Ok(u32::from_le_bytes(self.take(4, what)?.try_into().unwrap()))
    }

    fn u64(&mut self, what: &str) -> Result<u64, EngineError> {
        Ok(u64::from_le_bytes(self.take(8, what)?.try_into().unwrap()))
    }

    /// A count that must fit in what remains of the file (`min_size` bytes per item).
    fn count(&mut self, what: &str, min_size: usize) -> Result<usize, EngineError> {
        let n = self.u64(what)?;
        let left = (self.bytes.len() - self.pos) as u64;
        if n.saturating_mul(min_size.max(1) as u64) > left {
            return Err(self.err(format!(
                "{what} is {n}, more than the {left} remaining bytes can hold"
            )));
        }
        Ok(n as usize)
    }

    fn string(&mut self, what: &str) -> Result<String, EngineError> {
        let n = self.count(what, 1)?;
        let b = self.take(n, what)?;
        String::from_utf8(b.to_vec()).map_err(|_| self.err(format!("{what} is not UTF-8")))
    }

    fn value(&mut self, kind: u32, key: &str, depth: usize) -> Result<GgufValue, EngineError> {
        let v = match kind {
            0 => GgufValue::Int(self.take(1, key)?[0] as i64),
            1 => GgufValue::Int(self.take(1, key)?[0] as i8 as i64),
            2 => GgufValue::Int(u16::from_le_bytes(self.take(2, key)?.try_into().unwrap()) as i64),
            3 => GgufValue::Int(i16::from_le_bytes(self.take(2, key)?.try_into().unwrap()) as i64),
            4 => GgufValue::Int(self.u32(key)? as i64),
            5 => GgufValue::Int(self.u32(key)? as i32 as i64),
            6 => GgufValue::Float(f32::from_bits(self.u32(key)?) as f64),
            7 => GgufValue::Bool(self.take(1, key)?[0] != 0),
            8 => GgufValue::Str(self.string(key)?),
            9 => {
                if depth > 2 {
                    return Err(self.err(format!("metadata `{key}`: arrays nested too deep")));
                }
                let inner = self.u32(key)?;
                let n = self.count(key, 1)?;
                let mut items = Vec::with_capacity(n.min(1 << 20));
                for _ in 0..n {
                    items.push(self.value(inner, key, depth + 1)?);
                }
                GgufValue::Array(items)
            }
            10 => GgufValue::Int(self.u64(key)? as i64),
            11 => GgufValue::Int(self.u64(key)? as i64),
            12 => GgufValue::Float(f64::from_bits(self.u64(key)?)),
            k => return Err(self.err(format!("metadata `{key}`: unknown value type {k}"))),
        };
        Ok(v)
    }
}

/// GGML tensor types this reader dequantises: (id, name, block elements, block bytes).
const TYPES: [(u32, &str, usize, usize); 6] = [
    (0, "F32", 1, 4),
    (1, "F16", 1, 2),
    (2, "Q4_0", 32, 18),
    (3, "Q4_1", 32, 20),
    (8, "Q8_0", 32, 34),
    (30, "BF16", 1, 2),
];

impl GgufFile {
    pub fn open(path: &Path) -> Result<Self, EngineError> {
        let file = emergent_files::open_regular(path).map_err(|e| EngineError::io(path, e))?;
        // SAFETY: the map is read-only and every access is bounds-checked.
        let bytes = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| EngineError::io(path, e))?;
        let mut c = Cursor {
            bytes: &bytes,
            pos: 0,
            path,
        };
        if c.take(4, "magic")? != b"GGUF" {
            return Err(c.err("not a GGUF file (no GGUF magic)".into()));
        }
        let version = c.u32("version")?;
        if !(2..=3).contains(&version) {
            return Err(c.err(format!("GGUF version {version} is not supported (2 or 3)")));
        }
        let n_tensors = c.count("tensor count", 24)?;
        let n_kv = c.count("metadata count", 12)?;
        let mut metadata = BTreeMap::new();
        for _ in 0..n_kv {
            let key = c.string("metadata key")?;
            let kind = c.u32(&key)?;
            let value = c.value(kind, &key, 0)?;
            metadata.insert(key, value);
        }
        let mut tensors = Vec::with_capacity(n_tensors);
        for _ in 0..n_tensors {
            let name = c.string("tensor name")?;
            let n_dims = c.u32(&name)? as usize;
            if n_dims > 4 {
                return Err(c.err(format!("tensor `{name}`: {n_dims} dimensions")));
            }
            let dims = (0..n_dims)
                .map(|_| c.u64(&name))
                .collect::<Result<Vec<_>, _>>()?;
            let kind = c.u32(&name)?;
            let offset = c.u64(&name)?;
            tensors.push(GgufTensorInfo {
                name,
                dims,
                kind,
                offset,
            });
        }
        let align = metadata
            .get("general.alignment")
            .and_then(GgufValue::as_int)
            .unwrap_or(32)
            .max(1) as usize;
        let data_start = c.pos.div_ceil(align) * align;
        let path = path.to_path_buf();
        Ok(GgufFile {
            path,
            metadata,
            tensors,
            data_start,
            bytes,
        })
    }

    fn err(&self, message: String) -> EngineError {
        EngineError::Gguf {
            path: self.path.clone(),
            message,
        }
    }

    pub fn get(&self, key: &str) -> Option<&GgufValue> {
        self.metadata.get(key)
    }

    fn int(&self, key: &str) -> Result<usize, EngineError> {
        self.get(key)
            .and_then(GgufValue::as_int)
            .filter(|&v| v >= 0)
            .map(|v| v as usize)
            .ok_or_else(|| self.err(format!("metadata `{key}` is missing or not an integer")))
    }

    /// The tensor's values as f32, dequantised.
    pub fn tensor_f32(&self, info: &GgufTensorInfo) -> Result<Vec<f32>, EngineError> {
        let (bytes, n) = self.tensor_bytes(info)?;
        Ok(dequantize(info.kind, bytes, n))
    }

    /// The tensor's stored bytes and element count, checked against its type and the
    /// file's length before anything is allocated from them.
    fn tensor_bytes(&self, info: &GgufTensorInfo) -> Result<(&[u8], usize), EngineError> {
        let name = &info.name;
        let &(_, _, block, block_bytes) = TYPES
            .iter()
            .find(|t| t.0 == info.kind)
            .ok_or_else(|| {
                self.err(format!(
                    "tensor `{name}`: type {} is not supported (F32, F16, BF16, Q8_0, Q4_0, Q4_1 are)",
                    info.kind
                ))
            })?;
        let n = info
            .dims
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d))
            .filter(|&n| n < (1 << 40))
            .ok_or_else(|| self.err(format!("tensor `{name}`: dimensions overflow")))?
            as usize;
        if !n.is_multiple_of(block) {
            return Err(self.err(format!(
                "tensor `{name}`: {n} elements is not a whole number of {block}-element blocks"
            )));
        }
        let len = n / block * block_bytes;
        let start = (self.data_start as u64)
            .checked_add(info.offset)
            .filter(|&s| s + len as u64 <= self.bytes.len() as u64)
            .ok_or_else(|| {
                self.err(format!(
                    "tensor `{name}`: data at offset {} (+{len} bytes) runs past the end of the file ({} bytes)",
                    info.offset,
                    self.bytes.len()
                ))
            })? as usize;
        Ok((&self.bytes[start..start + len], n))
    }

    /// The model's shape from its `ARCH.*` metadata (llama.cpp's keys).
    pub fn model_config(&self) -> Result<ModelConfig, EngineError> {
        let name = self.get("general.architecture").and_then(GgufValue::as_str);
        let arch = Architecture::ALL
            .into_iter()
            .find(|a| a.gguf_arch().is_some() && a.gguf_arch() == name)
            .ok_or_else(|| {
                let known: Vec<&str> = Architecture::ALL
                    .iter()
                    .filter_map(|a| a.gguf_arch())
                    .collect();
                self.err(format!(
                    "general.architecture is {name:?}; emergent reads GGUF files of {}",
                    known.join(", ")
                ))
            })?;
        let a = arch.gguf_arch().expect("found by it");
        let key = |k: &str| format!("{a}.{k}");
        if self.tensors.iter().any(|t| t.name == "rope_freqs.weight") {
            return Err(self.err(
                "rope_freqs: a scaled rotary embedding is not supported (scores would be wrong without it)".into(),
            ));
        }
        let vocab = match self.get(&key("vocab_size")).and_then(GgufValue::as_int) {
            Some(v) => v as usize,
            None => self
                .get("tokenizer.ggml.tokens")
                .and_then(GgufValue::as_array)
                .map(|x| x.len())
                .ok_or_else(|| self.err(format!("no {a}.vocab_size or tokenizer.ggml.tokens")))?,
        };
        let heads = self.int(&key("attention.head_count"))?;
        let hidden = self.int(&key("embedding_length"))?;
        let float =
            |k: &str, default: f64| self.get(k).and_then(GgufValue::as_f64).unwrap_or(default);
        let token = |k: &str| self.get(k).and_then(GgufValue::as_int).map(|v| v as u32);
        let mut block = arch.block();
        let eps = match block.norm {
            Norm::Rms => float(&key("attention.layer_norm_rms_epsilon"), 1e-5),
            _ => float(&key("attention.layer_norm_epsilon"), 1e-5),
        };
        if arch == Architecture::GptNeox {
            let head_dim = hidden / heads.max(1);
            let rot = self
                .int(&key("rope.dimension_count"))
                .unwrap_or(head_dim / 4);
            block.rotary_fraction = rot as f32 / head_dim.max(1) as f32;
            block.parallel_residual = !matches!(
                self.get(&key("use_parallel_residual")),
                Some(GgufValue::Bool(false))
            );
        }
        // Biases are whatever tensors the file has (LLaMA and OLMo may carry them).
        let has = |suffix: &str| self.tensors.iter().any(|t| t.name.ends_with(suffix));
        if matches!(
            arch,
            Architecture::Llama | Architecture::Olmo | Architecture::Olmo2
        ) {
            block.qkv_bias = has("attn_q.bias");
            block.o_bias = has("attn_output.bias");
            block.mlp_bias = arch == Architecture::Llama && has("ffn_down.bias");
        }
        let config = ModelConfig {
            vocab_size: vocab,
            hidden_size: hidden,
            num_hidden_layers: self.int(&key("block_count"))?,
            num_attention_heads: heads,
            num_key_value_heads: self.int(&key("attention.head_count_kv")).unwrap_or(heads),
            intermediate_size: self.int(&key("feed_forward_length"))?,
            max_position_embeddings: self.int(&key("context_length"))?,
            rope_theta: float(&key("rope.freq_base"), 10000.0) as f32,
            rms_norm_eps: eps as f32,
            tie_word_embeddings: !self.tensors.iter().any(|t| t.name == "output.weight"),
            bos_token_id: token("tokenizer.ggml.bos_token_id"),
            eos_token_id: token("tokenizer.ggml.eos_token_id"),
            architecture: arch,
            block,
        };
        config.validate()?;
        Ok(config)
    }
}

fn dequantize(kind: u32, b: &[u8], n: usize) -> Vec<f32> {
    let f16 = |i: usize| f16_to_f32(u16::from_le_bytes([b[i], b[i + 1]]));
    let mut out = Vec::with_capacity(n);
    match kind {
        0 => out.extend(
            b.chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap())),
        ),
        1 => out.extend((0..n).map(|i| f16(2 * i))),
        30 => out.extend(
            b.chunks_exact(2)
                .map(|c| bf16_to_f32(u16::from_le_bytes([c[0], c[1]]))),
        ),
        8 => {
            for blk in b.chunks_exact(34) {
                let d = f16_to_f32(u16::from_le_bytes([blk[0], blk[1]]));
                out.extend(blk[2..].iter().map(|&q| q as i8 as f32 * d));
            }
        }
        2 | 3 => {
            let (size, head) = if kind == 2 { (18, 2) } else { (20, 4) };
            for blk in b.chunks_exact(size) {
                let d = f16_to_f32(u16::from_le_bytes([blk[0], blk[1]]));
                let qs = &blk[head..];
                if kind == 2 {
                    out.extend(qs.iter().map(|&q| ((q & 0xf) as i32 - 8) as f32 * d));
                    out.extend(qs.iter().map(|&q| ((q >> 4) as i32 - 8) as f32 * d));
                } else {
                    let m = f16_to_f32(u16::from_le_bytes([blk[2], blk[3]]));
                    out.extend(qs.iter().map(|&q| (q & 0xf) as f32 * d + m));
                    out.extend(qs.iter().map(|&q| (q >> 4) as f32 * d + m));
                }
            }
        }
        _ => unreachable!("checked against TYPES"),
    }
    out
}

/// llama.cpp stores q/k rows of each head interleaved (pairs i, i+half side by side);
/// Hugging Face's rotate-half layout has the halves apart. This undoes the interleave.
fn unpermute_rows(w: &[f32], heads: usize, cols: usize) -> Vec<f32> {
    let rows = w.len() / cols;
    let hd = rows / heads;
    let half = hd / 2;
    let mut out = vec![0.0; w.len()];
    for h in 0..heads {
        for i in 0..half {
            for part in 0..2 {
                let src = h * hd + 2 * i + part;
                let dst = h * hd + part * half + i;
                out[dst * cols..(dst + 1) * cols].copy_from_slice(&w[src * cols..(src + 1) * cols]);
            }
        }
    }
    out
}

/// Loads a GGUF file as a CPU model, dequantising every tensor to f32.
pub fn load_gguf(path: &Path) -> Result<(CpuModel, GgufFile), EngineError> {
    let (config, params, file) = read_gguf(path)?;
    Ok((CpuModel::from_params(config, params), file))
}

/// A GGUF file's configuration and parameters (in [`ParamLayout`] order, dequantised to
/// f32), for any backend.
pub fn read_gguf(path: &Path) -> Result<(ModelConfig, Vec<f32>, GgufFile), EngineError> {
    let file = GgufFile::open(path)?;
    let config = file.model_config()?;
    let layout = ParamLayout::new(&config);
    // Every parameter's tensor is found, shaped and inside the file before the buffer
    // is allocated: metadata alone never sizes an allocation.
    let mut sources = Vec::with_capacity(layout.gguf.len());
    for map in &layout.gguf {
        let info = file
            .tensors
            .iter()
            .find(|t| t.name == map.name)
            .ok_or_else(|| file.err(format!("tensor `{}` is missing", map.name)))?;
        let shape: Vec<usize> = info.dims.iter().rev().map(|&d| d as usize).collect();
        if shape != map.shape {
            return Err(file.err(format!(
                "tensor `{}`: shape {shape:?}, expected {:?} from the metadata",
                info.name, map.shape
            )));
        }
        file.tensor_bytes(info)?;
        sources.push(info);
    }
    if let Some(extra) = file
        .tensors
        .iter()
        .find(|t| !layout.gguf.iter().any(|m| m.name == t.name))
    {
        return Err(file.err(format!(
            "tensor `{}` is not part of {} as emergent reads it",
            extra.name, config.architecture
        )));
    }
    let permuted = config.architecture.gguf_permutes_qk();
    let rows_of = |offset: usize| {
        layout.layers.iter().find_map(|l| {
            (offset == l.wq)
                .then_some(config.num_attention_heads)
                .or((offset == l.wk).then_some(config.num_key_value_heads))
        })
    };
    let mut params = vec![0.0f32; layout.total()];
    for (map, info) in layout.gguf.iter().zip(sources) {
        let mut data = file.tensor_f32(info)?;
        if let Some(heads) = rows_of(map.parts[0].start).filter(|_| permuted) {
            data = unpermute_rows(&data, heads, config.hidden_size);
        }
        if let Some(i) = data.iter().position(|v| !v.is_finite()) {
            return Err(file.err(format!(
                "tensor `{}`: element {i} is {}: a model with non-finite weights scores nothing",
                info.name, data[i]
            )));
        }
        map.scatter(&data, &mut params);
    }
    Ok((config, params, file))
}
