//! GGUF files written by llama.cpp's gguf-py (reference/make_gguf_goldens.py), one per
//! tensor type: emergent's logits must match transformers running gguf-py's
//! dequantised, un-permuted weights. Broken files must give errors, never panics.

use std::path::PathBuf;

use emergent_engine::{load_gguf, read_safetensors, GgufFile};

/// Records the largest single allocation of this test binary, so a test can show that
/// a file's metadata never sized one.
struct Largest;
static LARGEST: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged.
unsafe impl std::alloc::GlobalAlloc for Largest {
    unsafe fn alloc(&self, l: std::alloc::Layout) -> *mut u8 {
        LARGEST.fetch_max(l.size(), std::sync::atomic::Ordering::Relaxed);
        std::alloc::System.alloc(l)
    }
    unsafe fn alloc_zeroed(&self, l: std::alloc::Layout) -> *mut u8 {
        LARGEST.fetch_max(l.size(), std::sync::atomic::Ordering::Relaxed);
        std::alloc::System.alloc_zeroed(l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: std::alloc::Layout, new: usize) -> *mut u8 {
        LARGEST.fetch_max(new, std::sync::atomic::Ordering::Relaxed);
        std::alloc::System.realloc(p, l, new)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: std::alloc::Layout) {
        std::alloc::System.dealloc(p, l)
    }
}

#[global_allocator]
static ALLOCATOR: Largest = Largest;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../reference/goldens/gguf")
}

/// ‖ours − theirs‖∞ / ‖theirs‖∞.
fn rel_err(ours: &[f32], theirs: &[f32]) -> f32 {
    let scale = theirs.iter().fold(0f32, |m, x| m.max(x.abs()));
    let diff = ours
        .iter()
        .zip(theirs)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    diff / scale
}

#[test]
fn every_tensor_type_matches_the_reference() {
    let golden = read_safetensors(&dir().join("golden.safetensors")).unwrap();
    let tokens: Vec<u32> = golden["tokens"].data.iter().map(|&x| x as u32).collect();
    for kind in ["f32", "f16", "bf16", "q8_0", "q4_0", "q4_1"] {
        let (mut model, _) = load_gguf(&dir().join(format!("tiny-{kind}.gguf"))).unwrap();
        assert_eq!(model.config.num_key_value_heads, 2);
        let ours = model.logits(&tokens, 1, tokens.len()).to_vec();
        let theirs = &golden[&format!("logits_{kind}")].data;
        let err = rel_err(&ours, theirs);
        eprintln!("{kind}: logits relative error {err:.2e}");
        assert!(err < 1e-5, "{kind}: relative error {err:e}");
    }
}

#[test]
fn truncated_or_corrupt_files_are_errors() {
    let bytes = std::fs::read(dir().join("tiny-q4_1.gguf")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("bad.gguf");
    for cut in [0, 3, 10, 30, 200, 1000, bytes.len() / 2, bytes.len() - 1] {
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let err = load_gguf(&path).err().expect("a truncated file loads");
        let msg = err.to_string();
        assert!(msg.contains("bad.gguf"), "{msg}");
    }
    // A huge string length in the first metadata key.
    let mut evil = bytes.clone();
    evil[24..32].copy_from_slice(&u64::MAX.to_le_bytes());
    std::fs::write(&path, &evil).unwrap();
    let msg = GgufFile::open(&path).err().unwrap().to_string();
    assert!(msg.contains("remaining bytes"), "{msg}");
    let mut wrong = bytes;
    wrong[0] = b'X';
    std::fs::write(&path, &wrong).unwrap();
    assert!(load_gguf(&path)
        .err()
        .unwrap()
        .to_string()
        .contains("magic"));
}

/// Inputs the fuzzer (fuzz/run.sh) found to fail, each kept as it was found.
#[test]
fn fuzzer_findings_stay_fixed() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-regressions");
    // Metadata for a 4.9 GB model in a 19 KB file: refused before allocating.
    let e = load_gguf(&dir.join("gguf-oom-5ada3a81.gguf"))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("gguf-oom-5ada3a81.gguf"), "{e}");
    let largest = LARGEST.load(std::sync::atomic::Ordering::Relaxed);
    assert!(largest < 1 << 28, "an allocation of {largest} bytes");
}

/// Qwen2, OLMo, OLMo-2 and GPT-NeoX GGUF files converted by llama.cpp's rules (q/k
/// permuted for OLMo, GPT-NeoX's q, k and v regrouped, gguf-py's tensor names): the
/// logits transformers computes on the same weights.
#[test]
fn other_architectures_match_transformers() {
    let golden = read_safetensors(&dir().join("architectures.safetensors")).unwrap();
    let tokens: Vec<u32> = golden["tokens"].data.iter().map(|&x| x as u32).collect();
    for (arch, model_type) in [
        ("qwen2", "qwen2"),
        ("olmo", "olmo"),
        ("olmo2", "olmo2"),
        ("gpt_neox", "gpt_neox"),
    ] {
        let (mut model, _) = load_gguf(&dir().join(format!("tiny-{arch}.gguf"))).unwrap();
        assert_eq!(model.config.architecture.model_type(), model_type);
        let ours = model.logits(&tokens, 1, tokens.len()).to_vec();
        let theirs = &golden[&format!("logits_{arch}")].data;
        let err = rel_err(&ours, theirs);
        assert!(err < 1e-5, "{arch}: relative error {err:e}");
    }
}
