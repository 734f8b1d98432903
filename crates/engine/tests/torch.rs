//! PyTorch checkpoints written by torch.save (reference/make_torch_goldens.py) read as
//! `torch.load(weights_only=True)` reads them, and a pickle that would run code refused.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use emergent_engine::{load_checkpoint, read_torch, HfTensor};

fn goldens() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../reference/goldens")
}

fn read_dir(dir: &Path) -> HashMap<String, HfTensor> {
    let mut out = HashMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "bin") {
            out.extend(read_torch(&path).unwrap().tensors);
        }
    }
    out
}

/// Every tensor of the `.bin` files in `dir` as `reference.json` says
/// `torch.load(weights_only=True)` reads it: shape, first elements exactly, sum.
fn matches_torch_load(dir: &Path) {
    let case = dir.display();
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap())
            .unwrap();
    let ours = read_dir(dir);
    let reference = reference.as_object().unwrap();
    assert_eq!(ours.len(), reference.len(), "{case}: tensor count");
    for (name, r) in reference {
        let t = &ours[name];
        let shape: Vec<usize> = serde_json::from_value(r["shape"].clone()).unwrap();
        assert_eq!(t.shape, shape, "{case} {name}");
        let first: Vec<f64> = serde_json::from_value(r["first"].clone()).unwrap();
        let ours_first: Vec<f64> = t.data.iter().take(4).map(|&x| x as f64).collect();
        assert_eq!(ours_first, first, "{case} {name}: first elements");
        let sum: f64 = t.data.iter().map(|&x| x as f64).sum();
        let scale: f64 = t.data.iter().map(|&x| (x as f64).abs()).sum::<f64>() + 1.0;
        let want = r["sum"].as_f64().unwrap();
        assert!(
            (sum - want).abs() <= 1e-12 * scale,
            "{case} {name}: sum {sum} vs {want}"
        );
    }
}

#[test]
fn tensors_match_torch_load() {
    for case in [
        "glm-tied-bin",
        "glm-tied-bf16",
        "glm-gqa-sharded",
        "gpt-neox-f16",
    ] {
        matches_torch_load(&goldens().join("torch").join(case));
    }
}

/// SmolLM2-135M as PyTorch shards (`reference/make_smollm2_bin.py`, from the GGUF file
/// `reference/fetch_smollm2.sh` fetches): every tensor as torch.load reads it, and the
/// model's logits those of the GGUF file it was dequantised from.
/// `SMOLLM2=FILE.gguf SMOLLM2_BIN=DIR cargo test --release -p emergent-engine --test torch -- --ignored`
#[test]
#[ignore = "needs SmolLM2 as .gguf and as PyTorch shards; set SMOLLM2 and SMOLLM2_BIN"]
fn smollm2_pytorch_shards_match_torch_load_and_the_gguf_file() {
    let dir = PathBuf::from(std::env::var("SMOLLM2_BIN").expect("SMOLLM2_BIN=DIR"));
    matches_torch_load(&dir);
    let gguf = PathBuf::from(std::env::var("SMOLLM2").expect("SMOLLM2=FILE.gguf"));
    let mut ours = load_checkpoint(&dir).unwrap();
    let (mut theirs, _) = emergent_engine::load_gguf(&gguf).unwrap();
    let tokens: Vec<u32> = (0..48).map(|i| (i * 997 + 13) % 49152).collect();
    let a = ours.logits(&tokens, 1, tokens.len()).to_vec();
    let b = theirs.logits(&tokens, 1, tokens.len());
    let scale = b.iter().fold(0f32, |m, x| m.max(x.abs()));
    let worst = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs())) / scale;
    eprintln!("SmolLM2 .bin against .gguf: logits' largest relative difference {worst:.2e}");
    assert!(worst < 1e-5, "logits differ by {worst}");
}

#[test]
fn a_torch_checkpoint_loads_the_weights_of_its_safetensors_twin() {
    for (case, arch) in [("glm-tied-bin", "glm-tied"), ("glm-gqa-sharded", "glm-gqa")] {
        let ours = load_checkpoint(&goldens().join("torch").join(case)).unwrap();
        let twin = load_checkpoint(&goldens().join("arch").join(arch).join("init")).unwrap();
        assert_eq!(ours.params, twin.params, "{case}");
    }
}

#[test]
fn a_pickle_that_would_run_code_is_refused_unrun() {
    let path = goldens().join("torch/evil/pytorch_model.bin");
    let marker = Path::new("/tmp/emergent-pwned");
    let _ = std::fs::remove_file(marker);
    let e = read_torch(&path).unwrap_err().to_string();
    assert!(
        e.contains("pytorch_model.bin") && e.contains("posix.system") && e.contains("refused"),
        "{e}"
    );
    assert!(!marker.exists());
}

#[test]
fn damaged_torch_files_are_errors_not_panics() {
    let bytes = std::fs::read(goldens().join("torch/glm-tied-bf16/pytorch_model.bin")).unwrap();
    assert!(emergent_engine::parse_torch(&bytes).is_ok());
    let mut rng = emergent_engine::Rng::new(7);
    for _ in 0..3000 {
        let mut b = bytes.clone();
        for _ in 0..1 + rng.below(4) {
            let i = rng.below(b.len());
            b[i] = rng.below(256) as u8;
        }
        let _ = emergent_engine::parse_torch(&b);
        let _ = emergent_engine::parse_torch(&bytes[..rng.below(bytes.len())]);
    }
}

#[test]
fn fuzz_regressions_are_errors() {
    // An archive directory offset near 2^64 once overflowed the offset sums.
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-regressions");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("torch-")
        {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                emergent_engine::parse_torch(&bytes).is_err(),
                "{}",
                path.display()
            );
        }
    }
}
