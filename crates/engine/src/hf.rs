//! Hugging Face checkpoint I/O: `config.json` plus `model.safetensors` (or shards
//! listed in `model.safetensors.index.json`, or PyTorch's `pytorch_model.bin` and its
//! shards, read by `torch`), with each architecture's tensor names (`ParamLayout::hf`).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{CpuModel, EngineError, HfTensorMap, ModelConfig, ParamLayout};

/// One tensor read from a safetensors file, converted to f32.
#[derive(Debug, Clone)]
pub struct HfTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// Writes f32 tensors as a safetensors file (with `{"format": "pt"}` metadata, which
/// `transformers` requires). Written to a temporary name and renamed.
pub fn write_safetensors(
    path: &Path,
    tensors: &[(&str, &[usize], &[f32])],
) -> Result<(), EngineError> {
    let mut header = serde_json::Map::new();
    header.insert("__metadata__".into(), serde_json::json!({"format": "pt"}));
    let mut offset = 0usize;
    for (name, shape, data) in tensors {
        assert_eq!(
            shape.iter().product::<usize>(),
            data.len(),
            "shape of {name}"
        );
        let end = offset + data.len() * 4;
        header.insert(
            name.to_string(),
            serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [offset, end]}),
        );
        offset = end;
    }
    let mut json = serde_json::to_vec(&header).expect("header serialises");
    // Pad the header with spaces to 8 bytes so the data is aligned.
    while !json.len().is_multiple_of(8) {
        json.push(b' ');
    }
    let write = |tmp: &Path| -> std::io::Result<()> {
        let mut f = std::io::BufWriter::new(std::fs::File::create(tmp)?);
        f.write_all(&(json.len() as u64).to_le_bytes())?;
        f.write_all(&json)?;
        for (_, _, data) in tensors {
            for x in data.iter() {
                f.write_all(&x.to_le_bytes())?;
            }
        }
        f.into_inner().map_err(|e| e.into_error())?.sync_all()
    };
    emergent_files::write_via_temp(path, write).map_err(|e| EngineError::io(path, e))
}

/// Reads every tensor of one safetensors file as f32 (from F32, F16 or BF16).
/// The header and every offset are validated before any data is touched.
pub fn read_safetensors(path: &Path) -> Result<HashMap<String, HfTensor>, EngineError> {
    let mut out = HashMap::new();
    visit_safetensors(path, &mut |name, t| {
        out.insert(name, t);
        Ok(())
    })?;
    Ok(out)
}

/// Hands every tensor of one safetensors file to `take`, converted to f32 one at a time,
/// so that loading a model never holds the whole file converted beside its parameters;
/// each tensor's pages of the mapped file are released once it is converted.
pub fn visit_safetensors(
    path: &Path,
    take: &mut dyn FnMut(String, HfTensor) -> Result<(), EngineError>,
) -> Result<(), EngineError> {
    let file = emergent_files::open_regular(path).map_err(|e| EngineError::io(path, e))?;
    // SAFETY: the file is opened read-only and emergent never writes to it while mapped.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| EngineError::io(path, e))?;
    let st = safetensors::SafeTensors::deserialize(&map).map_err(|e| EngineError::Safetensors {
        path: path.into(),
        message: e.to_string(),
    })?;
    for (name, view) in st.tensors() {
        let bytes = view.data();
        let data: Vec<f32> = match view.dtype() {
            safetensors::Dtype::F32 => bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            safetensors::Dtype::BF16 => bytes
                .chunks_exact(2)
                .map(|b| bf16_to_f32(u16::from_le_bytes([b[0], b[1]])))
                .collect(),
            safetensors::Dtype::F16 => bytes
                .chunks_exact(2)
                .map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]])))
                .collect(),
            other => {
                return Err(EngineError::Tensor {
                    path: path.into(),
                    name,
                    message: format!("dtype {other:?} is not supported (F32, F16, BF16 are)"),
                })
            }
        };
        let at = bytes.as_ptr() as usize - map.as_ptr() as usize;
        // SAFETY: the map is private and read-only: dropped pages are read again from the
        // file if touched, and nothing borrows this tensor's bytes any more.
        let _ = unsafe {
            map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, at, bytes.len())
        };
        let shape = view.shape().to_vec();
        take(name, HfTensor { shape, data })?;
    }
    Ok(())
}

/// bfloat16 (the upper half of an f32) to single precision.
pub fn bf16_to_f32(h: u16) -> f32 {
    f32::from_bits((h as u32) << 16)
}

/// IEEE half to single precision, subnormals included.
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let frac = (h & 0x3ff) as u32;
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, f) => {
            // subnormal: value = f · 2^-24
            let v = f as f32 * (1.0 / 16_777_216.0);
            return if sign != 0 { -v } else { v };
        }
        (31, 0) => sign | 0x7f80_0000,
        (31, f) => sign | 0x7fc0_0000 | (f << 13),
        (e, f) => sign | ((e + 112) << 23) | (f << 13),
    };
    f32::from_bits(bits)
}

/// The weight files of a checkpoint directory: `model.safetensors`, the safetensors
/// shards of an index, or PyTorch's `pytorch_model.bin` and its shards, in that order of
/// preference (transformers saves both where asked, and safetensors reads without copying).
fn weight_files(dir: &Path) -> Result<Vec<PathBuf>, EngineError> {
    let single = dir.join("model.safetensors");
    if single.exists() {
        return Ok(vec![single]);
    }
    let index = dir.join("model.safetensors.index.json");
    if index.exists() {
        return index_files(&index);
    }
    crate::torch::torch_files(dir).unwrap_or_else(|| {
        Err(EngineError::io(
            dir,
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no model.safetensors, pytorch_model.bin or an index of their shards in the \
                 checkpoint directory",
            ),
        ))
    })
}

/// The shard files an index (`*.index.json`, `weight_map`) lists, beside it.
pub(crate) fn index_files(index: &Path) -> Result<Vec<PathBuf>, EngineError> {
    let dir = index.parent().unwrap_or(Path::new("."));
    let text =
        emergent_files::read_regular_to_string(index).map_err(|e| EngineError::io(index, e))?;
    let names = index_shards(&text).map_err(|e| match e {
        IndexError::Json(cause) => EngineError::Json {
            path: index.into(),
            cause,
        },
        IndexError::Field(message) => EngineError::Config {
            path: index.into(),
            field: "weight_map".into(),
            message,
        },
    })?;
    Ok(names.into_iter().map(|n| dir.join(n)).collect())
}

/// Why an index's text gives no shard names.
#[derive(Debug)]
pub enum IndexError {
    Json(serde_json::Error),
    Field(String),
}

/// The shard names an index's `weight_map` lists, sorted and once each: plain file
/// names, so no entry reaches outside the checkpoint's folder.
pub fn index_shards(text: &str) -> Result<Vec<String>, IndexError> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(IndexError::Json)?;
    let map = v
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| IndexError::Field("missing or not an object".into()))?;
    let mut names = Vec::new();
    for f in map.values() {
        let name = f
            .as_str()
            .filter(|n| !n.is_empty() && Path::new(n).file_name() == Some(n.as_ref()));
        let name = name
            .ok_or_else(|| IndexError::Field(format!("{f} is not a file name beside the index")))?;
        names.push(name.to_string());
    }
    names.sort();
    names.dedup();
    Ok(names)
}

/// Loads a Hugging Face checkpoint directory (ours or anyone's) of any architecture as a
/// CPU model.
pub fn load_checkpoint(dir: &Path) -> Result<CpuModel, EngineError> {
    let (config, params) = read_checkpoint(dir)?;
    Ok(CpuModel::from_params(config, params))
}

/// A checkpoint directory's configuration and parameters (in [`ParamLayout`] order), for
/// any backend.
pub fn read_checkpoint(dir: &Path) -> Result<(ModelConfig, Vec<f32>), EngineError> {
    let config_path = dir.join("config.json");
    let config = ModelConfig::from_hf_json(&config_path)?;
    let layout = ParamLayout::new(&config);
    let index: HashMap<&str, usize> = layout
        .hf
        .iter()
        .enumerate()
        .map(|(i, m)| (m.name.as_str(), i))
        .collect();
    let files = weight_files(dir)?;
    // Which file each tensor came from, the integer tensors met, and a tied head's copy.
    let mut from: Vec<Option<usize>> = vec![None; layout.hf.len()];
    let mut integer: HashMap<String, (&'static str, usize)> = HashMap::new();
    let mut head: Option<(String, HfTensor, usize)> = None;
    let mut params = vec![0.0f32; layout.total()];
    for (f, file) in files.iter().enumerate() {
        // Each tensor is checked and put in place as it is read, then dropped.
        let mut take = |name: String, t: HfTensor| -> Result<(), EngineError> {
            if layout.tied_head.as_deref() == Some(name.as_str()) {
                head = Some((name, t, f));
                return Ok(());
            }
            let Some(&i) = index.get(name.as_str()) else {
                return Ok(());
            };
            let map = &layout.hf[i];
            if let Some(first) = from[i] {
                return same_copy(map, &t, &params, file, &map.name, || {
                    format!(
                        "also in {}, with other values or shape: which copy is the model's is unknown",
                        files[first].display()
                    )
                });
            }
            place(map, &t, file, &mut params)?;
            from[i] = Some(f);
            Ok(())
        };
        if file.extension().is_some_and(|e| e == "bin") {
            let dict = crate::torch::read_torch(file)?;
            for (name, what) in dict.integer {
                integer.insert(name, (what, f));
            }
            for (name, t) in dict.tensors {
                take(name, t)?;
            }
        } else {
            visit_safetensors(file, &mut take)?;
        }
    }
    if let Some(i) = from.iter().position(Option::is_none) {
        let name = layout.hf[i].name.clone();
        let message = match integer.get(&name) {
            Some((what, f)) => format!(
                "stored as {what} in {}: weights are floating point (F32, F16, BF16, F64)",
                files[*f].display()
            ),
            None => format!(
                "missing from the checkpoint ({} needs it)",
                config.architecture.hf_class()
            ),
        };
        return Err(EngineError::Tensor {
            path: dir.to_path_buf(),
            name,
            message,
        });
    }
    if let (Some((name, t, f)), Some(embed)) = (head, layout.hf.first()) {
        same_copy(embed, &t, &params, &files[f], &name, || {
            format!(
                "differs from `{}`, which config.json ties it to (tie_word_embeddings): set it \
                 to false to use this head, or save the checkpoint again",
                embed.name
            )
        })?;
    }
    Ok((config, params))
}

/// A second copy of a tensor already in place must hold the same shape and values:
/// a tensor met again in another shard (which copy is the model's is otherwise a guess),
/// or the head a checkpoint still holds beside the embedding config.json ties it to.
fn same_copy(
    map: &HfTensorMap,
    t: &HfTensor,
    params: &[f32],
    file: &Path,
    name: &str,
    message: impl FnOnce() -> String,
) -> Result<(), EngineError> {
    if t.shape == map.shape && map.gather(params) == t.data {
        return Ok(());
    }
    Err(EngineError::Tensor {
        path: file.to_path_buf(),
        name: name.into(),
        message: message(),
    })
}

/// One checkpoint tensor into the parameters, once its shape and values are checked.
fn place(
    map: &HfTensorMap,
    t: &HfTensor,
    file: &Path,
    params: &mut [f32],
) -> Result<(), EngineError> {
    let bad = |message: String| EngineError::Tensor {
        path: file.to_path_buf(),
        name: map.name.clone(),
        message,
    };
    if t.shape != map.shape {
        return Err(bad(format!(
            "shape {:?}, expected {:?} from config.json",
            t.shape, map.shape
        )));
    }
    if let Some(i) = t.data.iter().position(|v| !v.is_finite()) {
        return Err(bad(format!(
            "element {i} is {}: a model with non-finite weights scores nothing",
            t.data[i]
        )));
    }
    map.scatter(&t.data, params);
    Ok(())
}

impl<O: crate::ops::Ops> crate::Model<O> {
    /// Writes `config.json` and `model.safetensors` into `dir` (which must exist).
    pub fn save_hf(&self, dir: &Path) -> Result<(), EngineError> {
        let cfg =
            serde_json::to_string_pretty(&self.config.to_hf_json()).expect("config serialises");
        let cfg_path = dir.join("config.json");
        std::fs::write(&cfg_path, cfg).map_err(|e| EngineError::io(&cfg_path, e))?;
        let data: Vec<Vec<f32>> = self
            .layout
            .hf
            .iter()
            .map(|m| m.gather(&self.params))
            .collect();
        let tensors: Vec<(&str, &[usize], &[f32])> = self
            .layout
            .hf
            .iter()
            .zip(&data)
            .map(|(m, d)| (m.name.as_str(), m.shape.as_slice(), d.as_slice()))
            .collect();
        write_safetensors(&dir.join("model.safetensors"), &tensors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_non_finite_weight_is_an_error_naming_its_tensor() {
        let config = ModelConfig::llama(16, 8, 1, 2, 16, 32);
        let layout = ParamLayout::new(&config);
        let mut params = vec![0.01f32; layout.total()];
        let slot = &layout.slots[3];
        params[slot.range().start + 2] = f32::NAN;
        let name = slot.name.clone();
        let dir = tempfile::tempdir().unwrap();
        CpuModel::from_params(config, params)
            .save_hf(dir.path())
            .unwrap();
        let e = load_checkpoint(dir.path()).err().unwrap().to_string();
        assert!(e.contains(&name) && e.contains("non-finite"), "{e}");
    }

    #[test]
    fn an_index_names_only_files_beside_it() {
        let ok = r#"{"weight_map": {"a": "m-2.bin", "b": "m-1.bin", "c": "m-2.bin"}}"#;
        assert_eq!(index_shards(ok).unwrap(), ["m-1.bin", "m-2.bin"]);
        for bad in ["../m.bin", "/etc/passwd", "", ".", "..", "d/m.bin"] {
            let text = serde_json::json!({"weight_map": {"a": bad}}).to_string();
            assert!(
                matches!(index_shards(&text), Err(IndexError::Field(_))),
                "{bad}"
            );
        }
        for bad in [r#"{"weight_map": {"a": 3}}"#, r#"{"weight_map": []}"#, "{}"] {
            assert!(
                matches!(index_shards(bad), Err(IndexError::Field(_))),
                "{bad}"
            );
        }
        assert!(matches!(index_shards("{"), Err(IndexError::Json(_))));
    }

    #[test]
    fn f16_conversion_covers_normal_subnormal_and_special() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0001), 5.960_464_5e-8);
        assert!(f16_to_f32(0x7c00).is_infinite());
        assert_eq!(f16_to_f32(0x3555), 0.333_251_95);
    }
}
