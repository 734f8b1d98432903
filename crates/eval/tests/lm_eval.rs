//! emergent's scoring against lm-evaluation-harness 0.4 on the same checkpoint and tasks
//! (goldens from reference/make_lmeval_goldens.sh): the same prompts (few-shot draws
//! included), per-sample log-likelihoods within 1e-4, the same greedy flags, choices,
//! generations and extracted answers, and the same aggregates.

mod common;

use std::path::PathBuf;

use emergent_eval::{evaluate, load_model, load_task, EvalOptions, Scorer};
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../reference")
}

fn metric(results: &Value, name: &str) -> f64 {
    results[name]
        .as_f64()
        .unwrap_or_else(|| panic!("no {name} in {results}"))
}

#[test]
fn agrees_with_lm_evaluation_harness() {
    let worst = agrees(
        &root().join("goldens/checkpoint/model"),
        &root().join("goldens/lmeval"),
    );
    eprintln!("worst per-sample log-likelihood difference: {worst:.2e}");
}

/// A tiny model of every architecture, as transformers saved it, scored by lm-eval.
#[test]
fn agrees_with_lm_evaluation_harness_on_every_architecture() {
    for arch in ["llama", "glm", "gpt_neox", "olmo", "olmo2", "qwen2"] {
        let dir = root().join(format!("goldens/arch/hf-{arch}"));
        let worst = agrees(&dir, &dir.join("lmeval"));
        eprintln!("{arch}: worst per-sample log-likelihood difference {worst:.2e}");
    }
}

/// Scores every shipped lm-eval task spec on `model_dir` and checks each sample and
/// aggregate against lm-eval's in `golden_dir`; returns the worst log-likelihood gap.
fn agrees(model_dir: &std::path::Path, golden_dir: &std::path::Path) -> f64 {
    let (mut model, tok) = load_model(model_dir, emergent_engine::Backend::Cpu).unwrap();
    let mut worst = 0f64;
    for name in ["lm-mc", "lm-wino", "lm-gen", "lm-ll"] {
        let golden: Value = serde_json::from_str(
            &std::fs::read_to_string(golden_dir.join(format!("{name}.json"))).unwrap(),
        )
        .unwrap();
        let task = load_task(&root().join(format!("lmeval-tasks/{name}.toml"))).unwrap();
        let mut scorer = Scorer {
            model: model.as_mut(),
            tokenizer: &tok,
        };
        let (result, records) =
            evaluate(&mut scorer, &task, &EvalOptions::default(), &mut |_| {}).unwrap();
        let ours = |m: &str| {
            result
                .metrics
                .iter()
                .find(|x| x.metric == m)
                .unwrap_or_else(|| panic!("{name}: no {m}"))
                .value
        };
        for s in golden["samples"].as_array().unwrap() {
            let r = &records[s["doc_id"].as_u64().unwrap() as usize];
            worst = worst.max(common::check_sample(name, s, r));
        }
        let res = &golden["results"];
        match name {
            "lm-gen" => {
                for f in ["strict-match", "flexible-extract"] {
                    assert_eq!(
                        ours(&format!("exact_match,{f}")),
                        metric(res, &format!("exact_match,{f}"))
                    );
                }
            }
            "lm-ll" => {
                assert_eq!(ours("acc"), metric(res, "acc,none"));
                let (a, b) = (ours("perplexity"), metric(res, "perplexity,none"));
                assert!(((a - b) / b).abs() < 1e-4, "perplexity {a} vs {b}");
            }
            _ => {
                assert_eq!(ours("acc"), metric(res, "acc,none"), "{name} acc");
                assert_eq!(
                    ours("acc_norm"),
                    metric(res, "acc_norm,none"),
                    "{name} acc_norm"
                );
                let (a, b) = (ours("brier_score"), metric(res, "brier_score,none"));
                assert!((a - b).abs() < 1e-5, "{name} brier {a} vs {b}");
            }
        }
    }
    worst
}
