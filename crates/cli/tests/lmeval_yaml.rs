//! `emergent eval` against lm-evaluation-harness 0.4.13's own command line on the same
//! YAML tasks and checkpoint (goldens from reference/make_lmeval_yaml_goldens.sh): the
//! results JSON and every samples JSONL, compared field by field: prompts, documents and
//! the three hashes exactly, log-likelihoods and aggregates within 1e-4.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn reference() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../reference")
}

fn run_in(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_emergent"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("runs")
}

/// Numbers (and numbers written as strings, as lm-eval logs responses) within a
/// relative 1e-4; everything else equal; the same keys, except `skip` (paths).
fn compare(ours: &Value, theirs: &Value, at: &str, skip: &[&str], worst: &mut f64) {
    if skip.contains(&at) {
        return;
    }
    let num = |v: &Value| match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse::<f64>().ok().filter(|_| s != "N/A"),
        _ => None,
    };
    match (ours, theirs) {
        (Value::Object(a), Value::Object(b)) => {
            let mut ka: Vec<&String> = a
                .keys()
                .filter(|k| !skip.contains(&format!("{at}.{k}").as_str()))
                .collect();
            let mut kb: Vec<&String> = b
                .keys()
                .filter(|k| !skip.contains(&format!("{at}.{k}").as_str()))
                .collect();
            ka.sort();
            kb.sort();
            assert_eq!(ka, kb, "{at}: keys differ");
            for k in ka {
                compare(&a[k], &b[k], &format!("{at}.{k}"), skip, worst);
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{at}: lengths differ");
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                compare(x, y, &format!("{at}[{i}]"), skip, worst);
            }
        }
        _ => match (num(ours), num(theirs)) {
            (Some(x), Some(y)) if ours.is_number() == theirs.is_number() => {
                let d = (x - y).abs() / y.abs().max(1.0);
                *worst = worst.max(d);
                assert!(d < 1e-4, "{at}: {x} vs {y}");
            }
            _ => assert_eq!(ours, theirs, "{at}"),
        },
    }
}

/// The reference checkpoint's files copied into `dst` (a model folder of its own).
fn copy_checkpoint(dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for f in std::fs::read_dir(reference().join("goldens/checkpoint/model")).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, dst.join(f.file_name().unwrap())).unwrap();
    }
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn only_file(dir: &Path, prefix: &str) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with(prefix))
        .collect();
    assert_eq!(found.len(), 1, "{prefix}* in {}: {found:?}", dir.display());
    found[0].clone()
}

/// The tasks' samples files in `dir` as one JSON array each.
fn samples_in(dir: &Path, prefix: &str) -> Value {
    let p = only_file(dir, prefix);
    Value::Array(
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
    )
}

/// emergent's `--output_path` folder `out` (one model folder inside) against lm-eval's
/// golden folder: the results JSON and each task's samples. What describes the machine,
/// the clock or the Python stack is not compared, nor the model's path when
/// `model_path_differs` (a checkpoint copied to a scratch folder).
fn compare_outputs(out: &Path, golden: &Path, tasks: &[&str], model_path_differs: bool) -> f64 {
    let dir = std::fs::read_dir(out)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut skip: Vec<String> = [
        "git_hash",
        "date",
        "pretty_env_info",
        "transformers_version",
        "lm_eval_version",
        "upper_git_hash",
        "total_evaluation_time_seconds",
        "start_time",
        "end_time",
        "emergent_version",
    ]
    .iter()
    .map(|k| format!(".{k}"))
    .collect();
    for k in [
        "model_dtype",
        "model_revision",
        "model_sha",
        "batch_sizes",
        "use_cache",
    ] {
        skip.push(format!(".config.{k}"));
    }
    if model_path_differs {
        for k in [".model_name", ".model_name_sanitized", ".config.model_args"] {
            skip.push(k.to_string());
        }
    }
    for t in tasks {
        for k in ["pretrained", "dtype", "max_length", "add_bos_token"] {
            skip.push(format!(".configs.{t}.metadata.{k}"));
        }
    }
    let skip: Vec<&str> = skip.iter().map(String::as_str).collect();
    let mut worst = 0.0f64;
    let ours = read_json(&only_file(&dir, "results_"));
    compare(
        &ours,
        &read_json(&golden.join("results.json")),
        "",
        &skip,
        &mut worst,
    );
    for t in tasks {
        let theirs = samples_in(golden, &format!("samples_{t}."));
        compare(
            &samples_in(&dir, &format!("samples_{t}_")),
            &theirs,
            t,
            &[],
            &mut worst,
        );
    }
    worst
}

#[test]
fn yaml_tasks_give_lm_evaluation_harness_files() {
    let tasks = reference().join("lmeval-yaml");
    let out = tempfile::tempdir().unwrap();
    let o = run_in(
        &tasks,
        &[
            "eval",
            "--model",
            "hf",
            "--model_args",
            "pretrained=../goldens/checkpoint/model,dtype=float32",
            "--tasks",
            "where_group,sums,stories,story_text",
            "--include_path",
            ".",
            "--batch_size",
            "1",
            "--device",
            "cpu",
            "--seed",
            "1234",
            "--output_path",
            out.path().to_str().unwrap(),
            "--log_samples",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let golden = reference().join("goldens/lmeval-yaml");
    let tasks = ["where_a", "where_b", "sums", "stories", "story_text"];
    let worst = compare_outputs(out.path(), &golden, &tasks, false);
    eprintln!("worst relative difference from lm-eval: {worst:.2e}");
}

/// `--model_args max_length=16,add_bos_token=True`: a shorter context and BOS first.
#[test]
fn model_args_match_lm_evaluation_harness() {
    let tasks = reference().join("lmeval-yaml");
    let out = tempfile::tempdir().unwrap();
    let o = run_in(
        &tasks,
        &[
            "eval",
            "--model",
            "hf",
            "--model_args",
            "pretrained=../goldens/checkpoint/model,dtype=float32,max_length=16,add_bos_token=True",
            "--tasks",
            "where_a,stories",
            "--include_path",
            ".",
            "--batch_size",
            "1",
            "--seed",
            "1234",
            "--output_path",
            out.path().to_str().unwrap(),
            "--log_samples",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let golden = reference().join("goldens/lmeval-yaml/args");
    let worst = compare_outputs(out.path(), &golden, &["where_a", "stories"], false);
    eprintln!("worst relative difference from lm-eval: {worst:.2e}");
}

/// `eval --text FILE` is lm-eval's rolling perplexity over the file as one document.
#[test]
fn text_files_get_lm_evaluation_harness_perplexities() {
    let tasks = reference().join("lmeval-yaml");
    let out = tempfile::tempdir().unwrap();
    let results = out.path().join("r.json");
    let o = run_in(
        &tasks,
        &[
            "eval",
            "--model",
            "../goldens/checkpoint/model",
            "--text",
            "data/story.txt",
            "--output_path",
            results.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ours = read_json(&only_file(out.path(), "r_"));
    let theirs = read_json(&reference().join("goldens/lmeval-yaml/results.json"));
    let (a, b) = (
        &ours["results"]["text-story"],
        &theirs["results"]["story_text"],
    );
    for m in [
        "word_perplexity,none",
        "byte_perplexity,none",
        "bits_per_byte,none",
    ] {
        let (x, y) = (a[m].as_f64().unwrap(), b[m].as_f64().unwrap());
        assert!(((x - y) / y).abs() < 1e-5, "{m}: {x} vs {y}");
    }
    assert!(String::from_utf8_lossy(&o.stdout).contains("bits_per_byte"));
}

/// `bench eval --text FILE` times the same rolling windows: every token of the text is
/// scored once whatever the context, and every window holds the context plus one token.
#[test]
fn bench_eval_times_rolling_windows() {
    let tasks = reference().join("lmeval-yaml");
    let bench = |max_length: &str| {
        let mut args = vec![
            "bench",
            "eval",
            "--model",
            "../goldens/checkpoint/model",
            "--text",
            "data/story.txt",
            "--threads",
            "1",
        ];
        if !max_length.is_empty() {
            args.extend(["--max-length", max_length]);
        }
        let o = run_in(&tasks, &args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let line: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let n = |k: &str| line[k].as_u64().unwrap();
        (n("docs"), n("head_rows"), n("token_rows"))
    };
    let (docs, scored, rows) = bench("16");
    let (_, scored_whole, _) = bench("");
    assert_eq!(docs, 1);
    assert!(scored > 16, "the story is {scored} tokens");
    assert_eq!(scored, scored_whole);
    // Every window is 17 rows: the first starts with the prefix token, each later one
    // (the last too, whose context reaches back over tokens already scored) with context.
    assert_eq!(rows, 17 * scored.div_ceil(16));
}

/// lm-eval output folders of several checkpoints are read back by `emergent analyze`,
/// each step from its model's folder name, with the samples beside them.
#[test]
fn lm_eval_outputs_are_read_back_by_analyze() {
    let out = tempfile::tempdir().unwrap();
    let task = reference().join("lmeval-yaml/where_group.yaml");
    for step in [100, 200] {
        let ckpt = out.path().join("ladder-32k").join(format!("step{step}"));
        copy_checkpoint(&ckpt);
        let o = run_in(
            out.path(),
            &[
                "eval",
                "--model",
                ckpt.to_str().unwrap(),
                "--tasks",
                task.to_str().unwrap(),
                "--output_path",
                "lm",
                "--log_samples",
            ],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let o = run_in(
        out.path(),
        &["analyze", "--results", "lm", "--x", "tokens", "--out", "an"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let findings = read_json(&out.path().join("an/findings.json"));
    let text = findings.to_string();
    for t in ["where_a", "where_b", "where_group"] {
        assert!(text.contains(t), "{t} missing from the findings");
    }
}

/// `--apply_chat_template` and `--system_instruction`: the model's own chat template
/// around lm-eval's turns (few-shot examples as user and assistant turns).
#[test]
fn chat_templates_and_system_instructions_match_lm_evaluation_harness() {
    let tasks = reference().join("lmeval-yaml");
    let golden = reference().join("goldens/lmeval-yaml/chat");
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("chat-model");
    copy_checkpoint(&model);
    let cfg_path = model.join("tokenizer_config.json");
    let mut cfg = read_json(&cfg_path);
    cfg["chat_template"] = std::fs::read_to_string(tasks.join("chatml.jinja"))
        .unwrap()
        .into();
    std::fs::write(&cfg_path, cfg.to_string()).unwrap();
    let out = tmp.path().join("out");
    let o = run_in(
        &tasks,
        &[
            "eval",
            "--model",
            "hf",
            "--model_args",
            &format!("pretrained={},dtype=float32", model.display()),
            "--tasks",
            "where_a,sums",
            "--include_path",
            ".",
            "--batch_size",
            "1",
            "--apply_chat_template",
            "--system_instruction",
            "Answer briefly.",
            "--output_path",
            out.to_str().unwrap(),
            "--log_samples",
            "--seed",
            "1234",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let worst = compare_outputs(&out, &golden, &["where_a", "sums"], true);
    eprintln!("worst relative difference from lm-eval: {worst:.2e}");
}

/// lm-eval's flags: batch sizes change nothing, a fractional limit is a share, a missing
/// output folder is made before scoring, and bad flags are refused before any work.
#[test]
fn lm_eval_flags_behave_as_lm_eval_spells_them() {
    let tasks = reference().join("lmeval-yaml");
    let tmp = tempfile::tempdir().unwrap();
    let model = "pretrained=../goldens/checkpoint/model";
    let results = |batch: &str, sub: &str| -> Value {
        let out = tmp.path().join(sub).join("deeper");
        let o = run_in(
            &tasks,
            &[
                "eval",
                "--model",
                "hf",
                "--model_args",
                model,
                "--tasks",
                "where_a,sums",
                "--include_path",
                ".",
                "--batch_size",
                batch,
                "--limit",
                "0.5",
                "--output_path",
                out.to_str().unwrap(),
            ],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let dir = std::fs::read_dir(&out)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        read_json(&only_file(&dir, "results_"))["results"].clone()
    };
    let one = results("1", "a");
    assert_eq!(one, results("8", "b"), "batch sizes give other numbers");
    assert_eq!(one, results("auto", "c"));
    assert_eq!(
        one["where_a"]["sample_len"], 7,
        "--limit 0.5 of 14 documents"
    );
    // lm-eval's bootstrap standard error of perplexity (a loglikelihood task).
    let out = tmp.path().join("ll.json");
    let o = run_in(
        &tasks,
        &[
            "eval",
            "--model",
            "../goldens/checkpoint/model",
            "--tasks",
            "../lmeval-tasks/lm-ll.toml",
            "--output_path",
            out.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ours = read_json(&only_file(tmp.path(), "ll_"))["results"]["lm-ll"].clone();
    let theirs = read_json(&reference().join("goldens/lmeval/lm-ll.json"))["results"].clone();
    let mut worst = 0.0;
    compare(&ours, &theirs, "lm-ll", &[], &mut worst);
    for (flags, want) in [
        (
            vec!["--device", "cuda"],
            "--device cuda: `cuda` is not a device of this build",
        ),
        (
            vec!["--model_args", "pretrained=x,load_in_8bit=True"],
            "`load_in_8bit` is not an argument",
        ),
        (
            vec!["--model_args", "pretrained=x,dtype=bfloat16"],
            "emergent scores in float32",
        ),
        (vec!["--log_samples"], "--log_samples needs --output_path"),
        (vec!["--limit", "1.5"], "neither a count nor a fraction"),
        (vec!["--batch_size", "0"], "--batch_size 0"),
        (vec!["--seed", "1,2,3,4,5"], "at most 4 values"),
    ] {
        let mut args = vec![
            "eval",
            "--model",
            "hf",
            "--model_args",
            model,
            "--tasks",
            "where_a",
            "--include_path",
            ".",
        ];
        if flags[0] == "--model_args" {
            args.truncate(3);
            args.push("--tasks");
            args.push("where_a");
        }
        args.extend(flags.iter().copied());
        let o = run_in(&tasks, &args);
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && e.contains(want), "{flags:?}: {e}");
    }
}
