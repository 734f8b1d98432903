//! The shipped benchmark specs (tasks/) against lm-evaluation-harness 0.4 running its own
//! registered tasks on the same documents (goldens from reference/make_lmeval_goldens.sh):
//! the same prompts (few-shot examples included), continuations, log-likelihoods within
//! 1e-4, greedy flags, generations and extracted answers, and the same aggregates.
//! GSM8K runs on the real test set in ../shared/data/gsm8k (skipped if it is absent).

mod common;

use std::path::{Path, PathBuf};

use emergent_eval::{
    evaluate, load_model, load_task_with_data, EvalOptions, ExactMatch, Filter, Resolved, Scorer,
};
use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The tiny golden checkpoint with its context widened as the golden script widens it
/// (RoPE has no learned positions, so the weights are the same model).
fn widened_checkpoint(dir: &Path) -> PathBuf {
    let src = repo().join("reference/goldens/checkpoint/model");
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
    }
    let cfg_path = dir.join("config.json");
    let mut cfg: Value =
        serde_json::from_str(&std::fs::read_to_string(&cfg_path).unwrap()).unwrap();
    cfg["max_position_embeddings"] = 2048.into();
    std::fs::write(&cfg_path, cfg.to_string()).unwrap();
    dir.to_path_buf()
}

struct Case {
    golden: &'static str,
    spec: &'static str,
    /// Where our document index starts for the golden's doc 0 (MMLU's subjects share a file).
    offset: usize,
}

const CASES: &[Case] = &[
    Case {
        golden: "hellaswag",
        spec: "hellaswag",
        offset: 0,
    },
    Case {
        golden: "arc_easy",
        spec: "arc_easy",
        offset: 0,
    },
    Case {
        golden: "arc_challenge",
        spec: "arc_challenge",
        offset: 0,
    },
    Case {
        golden: "piqa",
        spec: "piqa",
        offset: 0,
    },
    Case {
        golden: "winogrande",
        spec: "winogrande",
        offset: 0,
    },
    Case {
        golden: "lambada_openai",
        spec: "lambada_openai",
        offset: 0,
    },
    Case {
        golden: "mmlu_abstract_algebra",
        spec: "mmlu",
        offset: 0,
    },
    Case {
        golden: "mmlu_high_school_geography",
        spec: "mmlu",
        offset: 3,
    },
    Case {
        golden: "triviaqa",
        spec: "triviaqa",
        offset: 0,
    },
    Case {
        golden: "gsm8k",
        spec: "gsm8k",
        offset: 0,
    },
];

#[test]
fn shipped_specs_score_as_lm_eval_scores_its_own_tasks() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut model, tok) = load_model(
        &widened_checkpoint(tmp.path()),
        emergent_engine::Backend::Cpu,
    )
    .unwrap();
    let gsm8k = repo().join("../shared/data");
    let mut worst = 0f64;
    for case in CASES {
        let data = if case.spec == "gsm8k" {
            if !gsm8k.join("gsm8k/test.jsonl").exists() {
                eprintln!("skipping gsm8k: {} is absent", gsm8k.display());
                continue;
            }
            gsm8k.clone()
        } else {
            repo().join("reference/benchmark-samples")
        };
        let path = repo().join(format!("reference/goldens/benchmarks/{}.json", case.golden));
        let golden: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let spec = repo().join(format!("tasks/{0}/{0}.toml", case.spec));
        let task = load_task_with_data(&spec, Some(&data)).unwrap();
        let opts = EvalOptions {
            num_fewshot: Some(golden["num_fewshot"].as_u64().unwrap() as usize),
            limit: golden["limit"].as_u64().map(|n| case.offset + n as usize),
            ..EvalOptions::default()
        };
        let mut scorer = Scorer {
            model: model.as_mut(),
            tokenizer: &tok,
        };
        let (result, records) = evaluate(&mut scorer, &task, &opts, &mut |_| {}).unwrap();
        let name = case.golden;
        for s in golden["samples"].as_array().unwrap() {
            let r = &records[case.offset + s["doc_id"].as_u64().unwrap() as usize];
            worst = worst.max(common::check_sample(name, s, r));
        }
        // Aggregates: MMLU's subjects are checked per document above (one file holds both).
        if case.spec == "mmlu" {
            continue;
        }
        for (key, want) in golden["results"].as_object().unwrap() {
            let Some(want) = want.as_f64() else { continue };
            let Some((metric, filter)) = key.split_once(',') else {
                continue;
            };
            let (metric, stderr) = match metric.strip_suffix("_stderr") {
                Some(m) => (m, true),
                None => (metric, false),
            };
            // lm-eval bootstraps perplexity's stderr (random resampling); ours is the
            // delta method's, so only the value is compared.
            if stderr && metric == "perplexity" {
                continue;
            }
            let ours_name =
                if metric == "exact_match" && filter != "none" && task.spec.filter_list.len() > 1 {
                    format!("exact_match,{filter}")
                } else {
                    metric.to_string()
                };
            let ours = result
                .metrics
                .iter()
                .find(|m| m.metric == ours_name)
                .unwrap_or_else(|| panic!("{name}: no {ours_name}"));
            let ours = if stderr { ours.stderr } else { ours.value };
            assert!(
                (ours - want).abs() <= 1e-6 * want.abs().max(1.0),
                "{name} {key}: {ours} vs {want}"
            );
        }
    }
    eprintln!("worst per-sample log-likelihood difference: {worst:.2e}");
}

/// GSM8K's extraction on the real test set: each reference solution, read as if the model
/// had written it, yields its own `#### <number>` under both of lm-eval's filters and
/// scores an exact match against the target.
#[test]
fn gsm8k_reference_solutions_extract_their_own_answers() {
    let data = repo().join("../shared/data");
    if !data.join("gsm8k/test.jsonl").exists() {
        eprintln!("skipping: {} is absent", data.display());
        return;
    }
    let task = load_task_with_data(&repo().join("tasks/gsm8k/gsm8k.toml"), Some(&data)).unwrap();
    let filters: Vec<Filter> = task
        .spec
        .filter_list
        .iter()
        .map(|f| Filter::new(f, "gsm8k").unwrap())
        .collect();
    let em = ExactMatch::new(&task.spec.metric_list[0], "gsm8k").unwrap();
    assert_eq!(task.docs.len(), 1319);
    for (doc, f) in task.docs.iter().zip(&task.fields) {
        let Resolved::Text(solution) = &f.target else {
            panic!("target is not text")
        };
        let number = solution.rsplit("#### ").next().unwrap().replace(',', "");
        for filter in &filters {
            let got = filter.apply(&format!(" {solution}\n\n"));
            assert_eq!(got.replace(',', ""), number, "{}: {doc}", filter.name);
            assert_eq!(
                em.score(&got, std::slice::from_ref(solution)),
                1.0,
                "{}: {doc}",
                filter.name
            );
        }
        // A wrong final number is not a match.
        assert_eq!(
            em.score("#### 123456789", std::slice::from_ref(solution)),
            0.0
        );
    }
}

/// A `match_field` the documents lack is an error naming it, not a silent match-all.
#[test]
fn fewshot_match_field_must_exist() {
    let dir = tempfile::tempdir().unwrap();
    let spec = std::fs::read_to_string(repo().join("tasks/mmlu/mmlu.toml"))
        .unwrap()
        .replace("match_field = \"subject\"", "match_field = \"subjekt\"");
    let path = dir.path().join("mmlu.toml");
    std::fs::write(&path, spec).unwrap();
    let task =
        load_task_with_data(&path, Some(&repo().join("reference/benchmark-samples"))).unwrap();
    let (mut model, tok) = load_model(
        &widened_checkpoint(dir.path()),
        emergent_engine::Backend::Cpu,
    )
    .unwrap();
    let mut scorer = Scorer {
        model: model.as_mut(),
        tokenizer: &tok,
    };
    let opts = EvalOptions {
        num_fewshot: Some(1),
        ..EvalOptions::default()
    };
    let err = evaluate(&mut scorer, &task, &opts, &mut |_| {}).unwrap_err();
    assert!(format!("{err:#}").contains("`subjekt`"), "{err:#}");
}

/// Every shipped spec has its lm-eval YAML twin beside it, current, read back as the same
/// spec, and scored the same (EMERGENT_BLESS=1 rewrites the twins).
#[test]
fn shipped_specs_have_lm_eval_twins_that_score_the_same() {
    let samples = repo().join("reference/benchmark-samples");
    let gsm8k = repo().join("../shared/data/gsm8k");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(repo().join("tasks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 9, "{dirs:?}");
    for dir in dirs {
        let name = dir.file_name().unwrap().to_str().unwrap().to_string();
        let toml_path = dir.join(format!("{name}.toml"));
        let yaml_path = dir.join(format!("{name}.yaml"));
        let spec: emergent_eval::TaskSpec =
            toml::from_str(&std::fs::read_to_string(&toml_path).unwrap()).unwrap();
        let want = emergent_eval::twin_text(&spec).unwrap();
        if std::env::var_os("EMERGENT_BLESS").is_some() {
            std::fs::write(&yaml_path, &want).unwrap();
        }
        let have = std::fs::read_to_string(&yaml_path).unwrap_or_default();
        assert_eq!(
            have,
            want,
            "{} is stale: EMERGENT_BLESS=1 rewrites it",
            yaml_path.display()
        );
        let data = if name == "gsm8k" { &gsm8k } else { &samples };
        if !data.exists() {
            eprintln!("skipping {name}'s documents: {} is absent", data.display());
            continue;
        }
        let from_toml = load_task_with_data(&toml_path, Some(data)).unwrap();
        let from_yaml = load_task_with_data(&yaml_path, Some(data)).unwrap();
        let mut read_back = from_yaml.spec.clone();
        read_back.version = None;
        assert_eq!(
            read_back, from_toml.spec,
            "{name}: the twin reads as another spec"
        );
        assert_eq!(from_yaml.docs, from_toml.docs, "{name}");
        if name == "arc_easy" || name == "winogrande" {
            let dir = tempfile::tempdir().unwrap();
            let (mut model, tok) = load_model(
                &widened_checkpoint(dir.path()),
                emergent_engine::Backend::Cpu,
            )
            .unwrap();
            let mut s = Scorer {
                model: model.as_mut(),
                tokenizer: &tok,
            };
            let opts = EvalOptions::default();
            let a = evaluate(&mut s, &from_toml, &opts, &mut |_| {}).unwrap();
            let b = evaluate(&mut s, &from_yaml, &opts, &mut |_| {}).unwrap();
            assert_eq!(a, b, "{name}: TOML and YAML score differently");
        }
    }
}
