//! SmolLM2-135M-Instruct (Q4_1 GGUF) against transformers' GGUF loader. The file is
//! not in the repository: `reference/fetch_smollm2.sh` fetches it, then
//! `SMOLLM2=$(reference/fetch_smollm2.sh) cargo test -p emergent-eval --test smollm2 -- --ignored`.

use std::path::PathBuf;

use emergent_engine::read_safetensors;
use emergent_eval::load_model;

#[test]
#[ignore = "needs SmolLM2 (reference/fetch_smollm2.sh); set SMOLLM2 to its path"]
fn smollm2_q4_1_matches_transformers() {
    let path = PathBuf::from(std::env::var("SMOLLM2").expect("SMOLLM2=path/to/file.gguf"));
    let (mut model, tok) = load_model(&path, emergent_engine::Backend::Cpu).unwrap();
    // The full logits are the CPU model's own; scores come through the backend's trait.
    let (mut cpu, _) = emergent_engine::load_gguf(&path).unwrap();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../reference/goldens/smollm2");
    let rows: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("golden.json")).unwrap()).unwrap();
    let last = read_safetensors(&dir.join("last_logits.safetensors")).unwrap();
    for (i, row) in rows.as_array().unwrap().iter().enumerate() {
        let text = row["text"].as_str().unwrap();
        let want: Vec<u32> = row["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as u32)
            .collect();
        let ids = tok.encode_with_special(text);
        assert_eq!(ids, want, "token ids of {text:?}");
        let lps = model.next_token_logprobs(&ids);
        let mut worst = 0f64;
        for (ours, theirs) in lps.iter().zip(row["next_logprobs"].as_array().unwrap()) {
            worst = worst.max((ours.0 - theirs.as_f64().unwrap()).abs());
        }
        let t = ids.len();
        let logits = cpu.logits(&ids, 1, t)[(t - 1) * 49152..].to_vec();
        let theirs = &last[&format!("last_logits_{i}")].data;
        let scale = theirs.iter().fold(0f32, |m, x| m.max(x.abs()));
        let err = logits
            .iter()
            .zip(theirs)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()))
            / scale;
        eprintln!("text {i}: worst log-prob difference {worst:.2e}, last-row logits relative error {err:.2e}");
        assert!(worst < 1e-3, "log-probs differ by {worst}");
        assert!(err < 1e-4, "logits differ by {err}");
    }
}
