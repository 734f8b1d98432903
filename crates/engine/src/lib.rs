//! The model engine: one transformer block for every architecture (LLaMA, GLM,
//! GPT-NeoX, OLMo, OLMo-2, Qwen2; see [`Architecture`]), forward and backward passes
//! over flat f32 buffers allocated once, AdamW with a warm-up/cosine schedule, and
//! Hugging Face checkpoint I/O (`config.json` + `model.safetensors`).
//!
//! The rest of emergent talks to a model through [`LanguageModel`] (scoring and
//! decoding) and [`Trainer`] (gradient, clipping, the optimiser's step, checkpoint
//! tensors), made by a [`Backend`], so a GPU backend implements the same two traits
//! without touching the callers.

mod adamw;
mod arch;
mod block;
mod config;
mod error;
mod gguf;
mod hf;
mod infer;
mod kernels;
mod layout;
mod matmul;
mod model;
pub mod ops;
pub mod simd;
mod small_matmul;
mod torch;

pub use adamw::{clip_grad_norm, AdamW, AdamWConfig, LrSchedule};
pub use arch::{Architecture, Block, Mlp, Norm};
pub use config::ModelConfig;
pub use emergent_rng::Rng;
pub use error::EngineError;
pub use gguf::{load_gguf, read_gguf, GgufFile, GgufTensorInfo, GgufValue};
pub use hf::{
    index_shards, load_checkpoint, read_checkpoint, read_safetensors, write_safetensors, HfTensor,
    IndexError,
};
pub use infer::{KvCache, Segment};
pub use layout::{HfTensorMap, LayerSlots, NormSlots, ParamLayout, TensorSlot};
pub use matmul::matmul_peak_gflops;
pub use model::{Backend, CpuModel, LanguageModel, Model, ScoreGroup, Trainer};
pub use ops::{Cpu, Ops};
pub use torch::{parse as parse_torch, read_torch};

/// Peak resident memory of this process (Linux's VmHWM), in MB.
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// This machine's memory in bytes (`/proc/meminfo`'s MemTotal), where it can be read:
/// sizes read from files and study settings are checked against it before allocating.
pub fn machine_memory() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024.0)
}
