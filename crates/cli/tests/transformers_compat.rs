//! A checkpoint written by emergent, loaded by `transformers` as LlamaForCausalLM
//! (reference/make_goldens.sh): the same logits and the same tokenization.

use std::path::PathBuf;

use emergent_data::Tokenizer;
use emergent_engine::{load_checkpoint, read_safetensors};

fn golden() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../reference/goldens/checkpoint")
}

#[test]
fn transformers_loads_our_checkpoint_with_the_same_logits() {
    let g = read_safetensors(&golden().join("logits.safetensors")).unwrap();
    let ids: Vec<u32> = g["input_ids"].data.iter().map(|&x| x as u32).collect();
    let theirs = &g["logits"].data;
    let mut model = load_checkpoint(&golden().join("model")).unwrap();
    let ours = model.logits(&ids, 1, ids.len()).to_vec();
    let scale = theirs.iter().fold(0f32, |m, x| m.max(x.abs()));
    let diff = ours
        .iter()
        .zip(theirs)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(
        diff / scale <= 1e-5,
        "relative logit error {}",
        diff / scale
    );
}

#[test]
fn tokenizer_encodes_like_transformers() {
    let g: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(golden().join("tokenizer.json")).unwrap())
            .unwrap();
    assert_eq!(g["model_class"], "LlamaForCausalLM");
    let tok = Tokenizer::load(&golden().join("model/tokenizer.json")).unwrap();
    for (i, text) in g["texts"].as_array().unwrap().iter().enumerate() {
        let want: Vec<u32> = g["ids"][i]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as u32)
            .collect();
        let ours = tok.encode(text.as_str().unwrap());
        assert_eq!(ours, want, "encoding of {text}");
        assert_eq!(tok.decode(&ours), g["decoded"][i].as_str().unwrap());
    }
}

#[test]
fn a_missing_tensor_or_bad_config_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let src = golden().join("model");
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
    }
    // Drop one tensor from the file.
    let tensors = read_safetensors(&dir.path().join("model.safetensors")).unwrap();
    let kept: Vec<(&str, &[usize], &[f32])> = tensors
        .iter()
        .filter(|(n, _)| n.as_str() != "model.layers.1.mlp.up_proj.weight")
        .map(|(n, t)| (n.as_str(), t.shape.as_slice(), t.data.as_slice()))
        .collect();
    emergent_engine::write_safetensors(&dir.path().join("model.safetensors"), &kept).unwrap();
    let e = load_checkpoint(dir.path()).err().unwrap().to_string();
    assert!(
        e.contains("model.layers.1.mlp.up_proj.weight") && e.contains("missing"),
        "{e}"
    );
    // A truncated weights file.
    let bytes = std::fs::read(src.join("model.safetensors")).unwrap();
    std::fs::write(
        dir.path().join("model.safetensors"),
        &bytes[..bytes.len() / 2],
    )
    .unwrap();
    let e = load_checkpoint(dir.path()).err().unwrap().to_string();
    assert!(
        e.contains("model.safetensors") && e.contains("not a valid safetensors"),
        "{e}"
    );
    // Width not divisible by the heads.
    let cfg = std::fs::read_to_string(src.join("config.json"))
        .unwrap()
        .replace("\"num_attention_heads\": 4", "\"num_attention_heads\": 5");
    std::fs::write(dir.path().join("config.json"), cfg).unwrap();
    let e = load_checkpoint(dir.path()).err().unwrap().to_string();
    assert!(
        e.contains("config.json") && e.contains("num_attention_heads"),
        "{e}"
    );
}
