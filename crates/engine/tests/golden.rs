//! The engine against PyTorch + transformers on the same weights and batches, for
//! every architecture (goldens written by reference/make_goldens.py and, under
//! `arch/`, by reference/make_arch_goldens.py with each architecture's own class).
//!
//! Error measure: ‖ours − theirs‖∞ / ‖theirs‖∞ per tensor.

use std::collections::HashMap;
use std::path::PathBuf;

use emergent_engine::{
    clip_grad_norm, load_checkpoint, read_safetensors, AdamW, AdamWConfig, HfTensor, LanguageModel,
    LrSchedule, Trainer,
};

fn golden_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../reference/goldens")
        .join(name)
}

fn rel_err(ours: &[f32], theirs: &[f32]) -> f64 {
    assert_eq!(ours.len(), theirs.len());
    let scale = theirs.iter().fold(0f64, |m, &x| m.max(x.abs() as f64));
    let diff = ours
        .iter()
        .zip(theirs)
        .fold(0f64, |m, (&a, &b)| m.max((a as f64 - b as f64).abs()));
    diff / scale.max(1e-30)
}

fn check(what: &str, ours: &[f32], theirs: &[f32], tol: f64) {
    let e = rel_err(ours, theirs);
    if std::env::var("SHOW_ERR").is_ok() {
        let (i, _) = ours
            .iter()
            .zip(theirs)
            .enumerate()
            .fold((0, 0f32), |m, (i, (a, b))| {
                if (a - b).abs() > m.1 {
                    (i, (a - b).abs())
                } else {
                    m
                }
            });
        eprintln!(
            "{what}: {e:.2e} (worst at {i}: {} vs {})",
            ours[i], theirs[i]
        );
    }
    assert!(
        e <= tol,
        "{what}: relative error {e:.3e} > {tol:.0e}; ours {:?} vs torch {:?}",
        &ours[..ours.len().min(4)],
        &theirs[..theirs.len().min(4)]
    );
}

struct Case {
    golden: HashMap<String, HfTensor>,
    batches: Vec<Vec<u32>>,
    b: usize,
    t: usize,
    meta: serde_json::Value,
}

fn case(name: &str) -> Case {
    let dir = golden_dir(name);
    let golden = read_safetensors(&dir.join("golden.safetensors")).unwrap();
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).unwrap()).unwrap();
    let bt = &golden["batches"];
    let (b, t1) = (bt.shape[1], bt.shape[2]);
    let batches = bt
        .data
        .chunks(b * t1)
        .map(|c| c.iter().map(|&x| x as u32).collect())
        .collect();
    Case {
        golden,
        batches,
        b,
        t: t1 - 1,
        meta,
    }
}

/// Splits a (b, t+1) batch into inputs and next-token targets.
fn split(batch: &[u32], b: usize, t: usize) -> (Vec<u32>, Vec<u32>) {
    let rows: Vec<&[u32]> = batch.chunks(t + 1).collect();
    assert_eq!(rows.len(), b);
    (
        rows.iter().flat_map(|r| r[..t].to_vec()).collect(),
        rows.iter().flat_map(|r| r[1..].to_vec()).collect(),
    )
}

fn forward_and_gradients(name: &str) {
    let c = case(name);
    let mut model = load_checkpoint(&golden_dir(name).join("init")).unwrap();
    let (inputs, targets) = split(&c.batches[0], c.b, c.t);
    let logits = model.logits(&inputs, c.b, c.t).to_vec();
    check("logits", &logits, &c.golden["logits"].data, 1e-5);
    let loss = model.forward_backward(&inputs, &targets, c.b, c.t);
    check("loss", &[loss], &c.golden["loss"].data, 1e-5);
    for map in model.layout.hf.clone() {
        let theirs = &c.golden[&format!("grad.{}", map.name)];
        check(
            &format!("grad {}", map.name),
            &map.gather(&model.grads),
            &theirs.data,
            1e-4,
        );
    }
    if let Some(want) = c.golden.get("greedy") {
        let prompts = &c.golden["greedy_prompt"];
        let per = prompts.shape[1];
        let prompts: Vec<Vec<u32>> = prompts
            .data
            .chunks(per)
            .map(|r| r.iter().map(|&x| x as u32).collect())
            .collect();
        let new = want.shape[1];
        let ours: Vec<u32> = model
            .greedy_batch(&prompts, new, &mut |_, _| false)
            .concat();
        let theirs: Vec<u32> = want.data.iter().map(|&x| x as u32).collect();
        assert_eq!(ours, theirs, "greedy generation of {name}");
    }
}

fn three_adamw_steps(name: &str) {
    let c = case(name);
    let o = &c.meta["optimizer"];
    let f = |k: &str| o[k].as_f64().unwrap();
    let mut model = load_checkpoint(&golden_dir(name).join("init")).unwrap();
    let cfg = AdamWConfig {
        beta1: f("beta1") as f32,
        beta2: f("beta2") as f32,
        eps: f("eps") as f32,
        weight_decay: f("weight_decay") as f32,
        decay_norms: false,
        decay_embeddings: false,
    };
    let schedule = LrSchedule {
        max_lr: f("max_lr"),
        min_lr: f("min_lr"),
        warmup_steps: f("warmup_steps") as u64,
        total_steps: f("total_steps") as u64,
    };
    let mut opt = AdamW::new(cfg, &model.layout);
    for (step, batch) in c.batches.iter().enumerate() {
        let (inputs, targets) = split(batch, c.b, c.t);
        let loss = model.forward_backward(&inputs, &targets, c.b, c.t);
        check(
            "step loss",
            &[loss],
            &c.golden["step_losses"].data[step..step + 1],
            1e-5,
        );
        let norm = clip_grad_norm(&mut model.grads, f("max_grad_norm"));
        check(
            "grad norm",
            &[norm as f32],
            &c.golden["grad_norms"].data[step..step + 1],
            1e-5,
        );
        opt.update(&mut model.params, &model.grads, schedule.lr(step as u64));
    }
    for map in &model.layout.hf {
        let theirs = &c.golden[&format!("final.{}", map.name)];
        // A key bias shifts every score of a query by the same amount, so its gradient
        // is zero but for rounding: AdamW's g/√v turns that noise into steps of ±lr in
        // both engines alike. Still caught: a missing or doubled update (≥ 1e-2).
        let tol = if map.name.ends_with("k_proj.bias") {
            1e-3
        } else {
            1e-4
        };
        check(
            &format!("param {} after 3 steps", map.name),
            &map.gather(&model.params),
            &theirs.data,
            tol,
        );
    }
}

#[test]
fn gqa_untied_forward_and_gradients_match_pytorch() {
    forward_and_gradients("tiny-gqa");
}

#[test]
fn tied_mha_forward_and_gradients_match_pytorch() {
    forward_and_gradients("tiny-tied");
}

#[test]
fn gqa_untied_adamw_steps_match_pytorch() {
    three_adamw_steps("tiny-gqa");
}

#[test]
fn tied_mha_adamw_steps_match_pytorch() {
    three_adamw_steps("tiny-tied");
}

/// Every architecture, each against transformers' own class.
macro_rules! architecture_goldens {
    ($($test:ident: $name:literal,)*) => {$(
        #[test]
        fn $test() {
            let name = concat!("arch/", $name);
            forward_and_gradients(name);
            three_adamw_steps(name);
        }
    )*};
}

architecture_goldens! {
    glm_gqa_partial_interleaved_rotary_matches_transformers: "glm-gqa",
    glm_tied_quarter_rotary_matches_transformers: "glm-tied",
    gpt_neox_parallel_residual_matches_transformers: "gpt-neox",
    gpt_neox_sequential_residual_matches_transformers: "gpt-neox-sequential",
    olmo_non_parametric_layernorm_matches_transformers: "olmo",
    olmo2_post_norms_and_qk_norm_match_transformers: "olmo2",
    qwen2_qkv_biases_match_transformers: "qwen2",
    llama_with_biases_matches_transformers: "llama-bias",
}

/// A checkpoint emergent trained in each architecture (reference/arch-study.toml),
/// loaded by transformers' AutoModelForCausalLM: the same logits.
#[test]
fn checkpoints_emergent_trains_load_in_transformers_with_the_same_logits() {
    let root = golden_dir("arch");
    for arch in ["llama", "glm", "gpt_neox", "olmo", "olmo2", "qwen2"] {
        let dir = root.join(format!("trained-{arch}"));
        let theirs: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("trained.json")).unwrap())
                .unwrap();
        let mut model = load_checkpoint(&dir).unwrap();
        assert_eq!(model.config.architecture.model_type(), arch);
        assert_eq!(
            theirs["class"].as_str(),
            Some(model.config.architecture.hf_class())
        );
        let ids: Vec<u32> = theirs["input_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as u32)
            .collect();
        let want: Vec<f32> = theirs["logits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect();
        let n = ids.len();
        let ours = model.logits(&ids, 1, n).to_vec();
        check(&format!("logits of trained {arch}"), &ours, &want, 1e-5);
    }
}

#[test]
fn unsupported_or_incomplete_checkpoints_name_what_is_wrong() {
    let src = golden_dir("arch/gpt-neox/init");
    let dir = tempfile::tempdir().unwrap();
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(src.join("config.json")).unwrap()).unwrap();
    let weights = src.join("model.safetensors");
    let attempt = |edit: &dyn Fn(&mut serde_json::Value), tensors: Option<&[&str]>| {
        let mut c = config.clone();
        edit(&mut c);
        std::fs::write(dir.path().join("config.json"), c.to_string()).unwrap();
        let all = read_safetensors(&weights).unwrap();
        let kept: Vec<(&str, &[usize], &[f32])> = all
            .iter()
            .filter(|(name, _)| tensors.is_none_or(|drop| !drop.contains(&name.as_str())))
            .map(|(name, t)| (name.as_str(), t.shape.as_slice(), t.data.as_slice()))
            .collect();
        emergent_engine::write_safetensors(&dir.path().join("model.safetensors"), &kept).unwrap();
        load_checkpoint(dir.path()).err().map(|e| e.to_string())
    };
    assert_eq!(attempt(&|_| {}, None), None);
    let e = attempt(&|c| c["model_type"] = "mamba".into(), None).unwrap();
    assert!(
        e.contains("mamba") && e.contains("gpt_neox, olmo, olmo2, qwen2"),
        "{e}"
    );
    let e = attempt(&|c| c["hidden_act"] = "gelu_new".into(), None).unwrap();
    assert!(e.contains("hidden_act") && e.contains("gelu_new"), "{e}");
    let e = attempt(
        &|c| {
            c.as_object_mut().unwrap().remove("intermediate_size");
        },
        None,
    )
    .unwrap();
    assert!(
        e.contains("intermediate_size") && e.contains("missing"),
        "{e}"
    );
    let name = "gpt_neox.layers.1.attention.query_key_value.bias";
    let e = attempt(&|_| {}, Some(&[name])).unwrap();
    assert!(e.contains(name) && e.contains("GPTNeoXForCausalLM"), "{e}");
    let e = attempt(
        &|c| c["rope_parameters"]["partial_rotary_factor"] = 0.01.into(),
        None,
    )
    .unwrap();
    assert!(e.contains("partial_rotary_factor"), "{e}");
}
