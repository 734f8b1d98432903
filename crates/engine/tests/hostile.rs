//! Checkpoint folders as an attacker, or a careless script, would leave them: each is
//! an error that names the file and the tensor or field, and none hangs.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use emergent_engine::{
    load_checkpoint, read_safetensors, write_safetensors, CpuModel, HfTensor, ModelConfig,
};

/// A tiny model saved as `config.json` + `model.safetensors` in `dir`, and its tensors.
fn saved(dir: &Path, tied: bool) -> Vec<(String, HfTensor)> {
    let mut config = ModelConfig::llama(16, 8, 1, 2, 16, 32);
    config.tie_word_embeddings = tied;
    let n = emergent_engine::ParamLayout::new(&config).total();
    let params = (0..n).map(|i| (i % 97) as f32 / 97.0 - 0.5).collect();
    CpuModel::from_params(config, params).save_hf(dir).unwrap();
    let mut tensors: Vec<_> = read_safetensors(&dir.join("model.safetensors"))
        .unwrap()
        .into_iter()
        .collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    tensors
}

fn write(path: &Path, tensors: &[(String, HfTensor)]) {
    let views: Vec<(&str, &[usize], &[f32])> = tensors
        .iter()
        .map(|(n, t)| (n.as_str(), t.shape.as_slice(), t.data.as_slice()))
        .collect();
    write_safetensors(path, &views).unwrap();
}

/// Two shards and their index in place of `model.safetensors`.
fn shard(dir: &Path, a: &[(String, HfTensor)], b: &[(String, HfTensor)]) {
    std::fs::remove_file(dir.join("model.safetensors")).unwrap();
    write(&dir.join("model-00001-of-00002.safetensors"), a);
    write(&dir.join("model-00002-of-00002.safetensors"), b);
    let mut map = serde_json::Map::new();
    for (file, part) in [
        ("model-00001-of-00002.safetensors", a),
        ("model-00002-of-00002.safetensors", b),
    ] {
        for (name, _) in part {
            map.insert(name.clone(), file.into());
        }
    }
    let index = serde_json::json!({"metadata": {}, "weight_map": map});
    std::fs::write(dir.join("model.safetensors.index.json"), index.to_string()).unwrap();
}

#[test]
fn a_tensor_in_two_shards_must_hold_the_same_values() {
    let dir = tempfile::tempdir().unwrap();
    let tensors = saved(dir.path(), false);
    let mut again = vec![tensors[0].clone()];
    shard(dir.path(), &tensors, &again);
    load_checkpoint(dir.path()).expect("the same copy twice is no conflict");
    again[0].1.data[0] += 1.0;
    write(&dir.path().join("model-00002-of-00002.safetensors"), &again);
    let e = load_checkpoint(dir.path()).err().unwrap().to_string();
    assert!(
        e.contains(&tensors[0].0) && e.contains("00002") && e.contains("also in"),
        "{e}"
    );
}

#[test]
fn a_head_that_differs_from_the_embedding_it_is_tied_to_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut tensors = saved(dir.path(), true);
    let embed = tensors
        .iter()
        .find(|(n, _)| n == "model.embed_tokens.weight")
        .unwrap()
        .1
        .clone();
    tensors.push(("lm_head.weight".into(), embed));
    write(&dir.path().join("model.safetensors"), &tensors);
    load_checkpoint(dir.path()).expect("a head equal to its tied embedding is its copy");
    tensors.last_mut().unwrap().1.data[3] = 9.0;
    write(&dir.path().join("model.safetensors"), &tensors);
    let e = load_checkpoint(dir.path()).err().unwrap().to_string();
    assert!(
        e.contains("lm_head.weight") && e.contains("tie_word_embeddings"),
        "{e}"
    );
}

#[test]
fn a_fifo_in_place_of_a_weight_file_or_config_is_an_error_not_a_hang() {
    for victim in ["model.safetensors", "config.json"] {
        let dir = tempfile::tempdir().unwrap();
        saved(dir.path(), false);
        let path = dir.path().join(victim);
        std::fs::remove_file(&path).unwrap();
        let made = std::process::Command::new("mkfifo").arg(&path).status();
        if !made.is_ok_and(|s| s.success()) {
            eprintln!("skipped: mkfifo is not available");
            return;
        }
        let (tx, rx) = mpsc::channel();
        let folder = dir.path().to_path_buf();
        std::thread::spawn(move || {
            let _ = tx.send(load_checkpoint(&folder).err().map(|e| e.to_string()));
        });
        let e = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("reading a FIFO {victim} hangs"))
            .unwrap();
        assert!(
            e.contains(victim) && e.contains("not a regular file"),
            "{e}"
        );
    }
}
