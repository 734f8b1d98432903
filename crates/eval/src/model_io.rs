//! Any checkpoint with its tokenizer: a Hugging Face directory (ours or anyone's, of
//! every architecture the engine has) or a GGUF file, whose tokenizer is rebuilt from
//! its metadata as `transformers` does.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::json;

use emergent_data::Tokenizer;
use emergent_engine::{Backend, GgufFile, GgufValue, LanguageModel, ModelConfig};

/// A model to score, on whichever backend runs it.
pub type Model = Box<dyn LanguageModel + Send>;

/// Loads `path` onto `backend`: a checkpoint directory with `tokenizer.json`, or a
/// `.gguf` file.
pub fn load_model(path: &Path, backend: Backend) -> Result<(Model, Tokenizer)> {
    if path.is_dir() {
        let model: Model = backend.load(path)?;
        let mut tok = Tokenizer::load(&path.join("tokenizer.json"))?;
        tok.set_bos(bos_from_config(path, &tok));
        check_vocab(model.config(), &tok, path)?;
        return Ok((model, tok));
    }
    if !path.exists() {
        bail!("{}: no such file or directory", path.display());
    }
    let (model, file) = backend.load_gguf(path)?;
    let mut tok = gguf_tokenizer(&file)?;
    tok.set_bos(model.config().bos_token_id);
    check_vocab(model.config(), &tok, path)?;
    Ok((model, tok))
}

/// The chat template of a checkpoint directory or a GGUF file
/// (`tokenizer.chat_template`), with the special tokens it may name.
pub fn load_chat_template(path: &Path, tok: &Tokenizer) -> Result<Option<crate::ChatTemplate>> {
    if path.is_dir() {
        return crate::ChatTemplate::from_checkpoint(path);
    }
    let file = emergent_engine::GgufFile::open(path)?;
    let Some(source) = file
        .get("tokenizer.chat_template")
        .and_then(GgufValue::as_str)
    else {
        return Ok(None);
    };
    let text = |id: Option<u32>| id.map_or(String::new(), |i| tok.decode_with_special(&[i]));
    Ok(Some(crate::ChatTemplate {
        source: source.to_string(),
        bos_token: text(tok.bos_id()),
        eos_token: text(tok.eos_id()),
    }))
}

fn check_vocab(config: &ModelConfig, tok: &Tokenizer, path: &Path) -> Result<()> {
    let vocab = config.vocab_size;
    if tok.vocab_size() > vocab {
        bail!(
            "{}: the tokenizer has {} tokens, more than the model's vocab_size {}",
            path.display(),
            tok.vocab_size(),
            vocab
        );
    }
    if let Some(id) = tok.max_id().filter(|&id| id as usize >= vocab) {
        bail!(
            "{}: the tokenizer has token id {id}, outside the model's vocab_size {vocab}",
            path.display(),
        );
    }
    Ok(())
}

/// The BOS token named by `tokenizer_config.json`, as `transformers` reads it.
fn bos_from_config(dir: &Path, tok: &Tokenizer) -> Option<u32> {
    let text = std::fs::read_to_string(dir.join("tokenizer_config.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let bos = v.get("bos_token")?;
    let name = bos.as_str().or_else(|| bos.get("content")?.as_str())?;
    tok.token_id(name)
}

fn strings(file: &GgufFile, key: &str) -> Result<Vec<String>> {
    let arr = file
        .get(key)
        .and_then(GgufValue::as_array)
        .ok_or_else(|| anyhow!("{}: metadata `{key}` is missing", file.path.display()))?;
    arr.iter()
        .map(|v| v.as_str().map(str::to_string))
        .collect::<Option<_>>()
        .ok_or_else(|| {
            anyhow!(
                "{}: metadata `{key}` is not a list of strings",
                file.path.display()
            )
        })
}

/// Byte-level BPE (`tokenizer.ggml.model = gpt2`) from the file's vocabulary and merges,
/// control tokens added as special, as `transformers`' GGUF loader builds it.
fn gguf_tokenizer(file: &GgufFile) -> Result<Tokenizer> {
    let model = file.get("tokenizer.ggml.model").and_then(GgufValue::as_str);
    match model {
        Some("gpt2") => {}
        None => bail!(
            "{}: no tokenizer in the file (metadata `tokenizer.ggml.model` is missing)",
            file.path.display()
        ),
        Some(other) => bail!(
            "{}: metadata `tokenizer.ggml.model` is `{other}`; only byte-level BPE (`gpt2`) is supported",
            file.path.display()
        ),
    }
    let tokens = strings(file, "tokenizer.ggml.tokens")?;
    let merges = strings(file, "tokenizer.ggml.merges")?;
    let types: Vec<i64> = file
        .get("tokenizer.ggml.token_type")
        .and_then(GgufValue::as_array)
        .map(|a| a.iter().map(|v| v.as_int().unwrap_or(1)).collect())
        .unwrap_or_default();
    let vocab: serde_json::Map<String, serde_json::Value> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), json!(i)))
        .collect();
    let added: Vec<serde_json::Value> = tokens
        .iter()
        .enumerate()
        .filter(|(i, _)| types.get(*i) == Some(&3))
        .map(|(i, t)| {
            json!({"id": i, "content": t, "single_word": false, "lstrip": false,
                   "rstrip": false, "normalized": false, "special": true})
        })
        .collect();
    let byte_level = json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true});
    let spec = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": byte_level,
        "post_processor": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true},
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": false, "byte_fallback": false,
                  "ignore_merges": false, "vocab": vocab, "merges": merges},
    });
    Tokenizer::from_json(&spec.to_string())
        .with_context(|| format!("{}: building the tokenizer", file.path.display()))
}
