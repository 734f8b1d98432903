//! The engine against PyTorch + transformers on the same weights and batches
//! (goldens written by reference/make_goldens.py).
//!
//! Error measure: ‖ours − theirs‖∞ / ‖theirs‖∞ per tensor.

use std::collections::HashMap;
use std::path::PathBuf;

use emergent_engine::{
    clip_grad_norm, load_checkpoint, read_safetensors, AdamW, AdamWConfig, HfTensor, LrSchedule,
    Trainer,
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
        eprintln!("{what}: {e:.2e}");
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
    for slot in model.layout.slots.clone() {
        let theirs = &c.golden[&format!("grad.{}", slot.name)];
        check(
            &format!("grad {}", slot.name),
            &model.grads[slot.range()],
            &theirs.data,
            1e-4,
        );
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
    for slot in &model.layout.slots {
        let theirs = &c.golden[&format!("final.{}", slot.name)];
        check(
            &format!("param {} after 3 steps", slot.name),
            &model.params[slot.range()],
            &theirs.data,
            1e-4,
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
