//! The `emergent` binary end to end on a tiny study: results database, report,
//! no repeated work, a killed training process resumed bit-identically, and clear
//! errors for bad study files.

use std::path::Path;
use std::process::Command;

mod common;
use common::{bits_per_byte, rows, slurm_cluster, slurm_wait};

const STUDY: &str = r#"
name = "cli test"
seed = 5
threads = 2
[corpus]
builtin_documents = 1200
world_people = 20
world_towns = 8
[tokenizer]
vocab_size = 300
[[models]]
layers = 1
hidden = 32
heads = 2
[[models]]
layers = 2
hidden = 48
heads = 4
kv_heads = 2
[training]
budgets = [30000]
# 64 leaves math room for its 40 generated tokens; 4 × 64 keeps 117 steps.
batch_size = 4
seq_len = 64
checkpoints = 3
first_checkpoint_tokens = 4000
[eval]
documents = 12
tasks = ["exam-en", "math-zh"]
"#;

fn emergent(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_emergent"))
        .args(args)
        .output()
        .unwrap()
}

fn write_study(dir: &Path, text: &str) -> String {
    let p = dir.join("study.toml");
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

fn count(db: &Path, sql: &str) -> i64 {
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

#[test]
fn a_study_runs_end_to_end_and_a_rerun_redoes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let study = write_study(dir.path(), STUDY);
    let out = dir.path().join("out");
    let o = emergent(&["run", &study, "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let db = out.join("results.sqlite");
    let ckpts = count(&db, "SELECT COUNT(*) FROM checkpoints");
    assert_eq!(ckpts, 6, "2 runs × 3 checkpoints");
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(DISTINCT checkpoint || task) FROM evaluations"
        ),
        ckpts * 2
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM checkpoints WHERE val_loss > 0 AND val_loss < 10"
        ),
        6
    );
    // Validation loss per genre of the built-in corpus, at every checkpoint.
    let genres = count(&db, "SELECT COUNT(DISTINCT domain) FROM domain_losses");
    assert!(genres >= 4, "{genres} genres");
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM domain_losses WHERE loss > 0 AND loss < 10"
        ),
        count(&db, "SELECT COUNT(*) FROM domain_losses")
    );
    assert_eq!(
        count(&db, "SELECT COUNT(DISTINCT checkpoint) FROM domain_losses"),
        6
    );
    // A finished run's progress says its last step, not one a few seconds before it.
    for run in std::fs::read_dir(out.join("runs")).unwrap().flatten() {
        let p: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(run.path().join("progress.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(p["step"], p["total_steps"], "{}: {p}", run.path().display());
    }
    let html = std::fs::read_to_string(out.join("report/index.html")).unwrap();
    assert!(html.contains("exam-en") && html.contains("math-zh"));
    assert!(out.join("report/figures/exam-en-3shot-acc.svg").exists());
    assert!(out.join("report/figures/exam-en-3shot-acc.png").exists());
    let findings = std::fs::read_to_string(out.join("findings.json")).unwrap();
    for field in ["\"kind\"", "\"threshold\"", "\"r2_loss\"", "\"scaling\""] {
        assert!(findings.contains(field), "findings.json lacks {field}");
    }
    let json: serde_json::Value = serde_json::from_str(&findings).unwrap();
    let exam = json["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["task"] == "exam-en" && t["metric"] == "acc")
        .unwrap();
    assert_eq!(
        exam["noise_model"], "documents",
        "the study's samples/ are resampled"
    );
    assert!(
        exam["domain_r2"]["exams"].is_number(),
        "{}",
        exam["domain_r2"]
    );
    for claim in [
        "loss_predicts_performance",
        "emergent_tasks",
        "smooth_tasks",
        "continuous_metrics",
        "languages_agree",
    ] {
        assert!(
            json["claims"][claim]["holds"].is_boolean(),
            "claims.{claim}"
        );
    }
    assert!(html.contains("The paper's claims"));
    let modified = std::fs::metadata(out.join("runs/d32-l1-tok30K/step-0000117/model.safetensors"))
        .unwrap()
        .modified()
        .unwrap();
    let o = emergent(&["run", &study, "--out", out.to_str().unwrap()]);
    assert!(o.status.success());
    let after = std::fs::metadata(out.join("runs/d32-l1-tok30K/step-0000117/model.safetensors"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(modified, after, "a re-run must not retrain");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM checkpoints"), 6);

    // With nothing left to do, a read-only results database is enough.
    let mut perms = std::fs::metadata(&db).unwrap().permissions();
    perms.set_readonly(true);
    std::fs::set_permissions(&db, perms).unwrap();
    let o = emergent(&["run", &study, "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn seeds_repeat_the_study_and_are_compared_claim_by_claim() {
    let dir = tempfile::tempdir().unwrap();
    let one_size = STUDY.replace(
        "[[models]]\nlayers = 2\nhidden = 48\nheads = 4\nkv_heads = 2\n",
        "",
    );
    let study = write_study(dir.path(), &one_size);
    let out = dir.path().join("out");
    let o = emergent(&[
        "run",
        &study,
        "--out",
        out.to_str().unwrap(),
        "--seeds",
        "2",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for seed in [5, 6] {
        let d = out.join(format!("seed-{seed}"));
        assert!(d.join("findings.json").exists(), "seed {seed}");
        let s = std::fs::read_to_string(d.join("study.toml")).unwrap();
        assert!(s.contains(&format!("seed = {seed}")), "{s}");
    }
    let corpus = |seed: u64| {
        let data = out.join(format!("seed-{seed}/data"));
        let key = std::fs::read_dir(&data)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        std::fs::read(key.join("train.bin")).unwrap()
    };
    assert_ne!(corpus(5), corpus(6), "each seed draws its own corpus");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("seeds.json")).unwrap()).unwrap();
    assert_eq!(summary["seeds"], serde_json::json!([5, 6]));
    assert_eq!(summary["claims"].as_array().unwrap().len(), 5);
    for c in summary["claims"].as_array().unwrap() {
        assert_eq!(c["holds_per_seed"].as_array().unwrap().len(), 2);
    }
    assert!(std::fs::read_to_string(out.join("seeds.html"))
        .unwrap()
        .contains("seed-6/report/index.html"));
    let bad = emergent(&[
        "run",
        &study,
        "--out",
        out.to_str().unwrap(),
        "--seeds",
        "0",
    ]);
    assert!(!bad.status.success());
}

/// The test study trained long enough to be interrupted mid-run, without tasks.
fn long_training_study() -> String {
    STUDY
        .replace("budgets = [30000]", "budgets = [400000]")
        .replace("tasks = [\"exam-en\", \"math-zh\"]", "tasks = []")
}

/// Every checkpoint of the study in `one` has the same weights and optimiser moments in
/// `two` (the same study after `what`); the number of files compared.
fn same_checkpoints(one: &Path, two: &Path, what: &str) -> usize {
    let mut compared = 0;
    for run in std::fs::read_dir(one.join("runs")).unwrap() {
        for ckpt in emergent_train::list_checkpoints(&run.unwrap().path()) {
            let rel = ckpt.strip_prefix(one).unwrap();
            for f in ["model.safetensors", "optimizer.safetensors"] {
                let same = std::fs::read(ckpt.join(f)).unwrap()
                    == std::fs::read(two.join(rel).join(f)).unwrap();
                assert!(same, "{} differs after {what}", rel.join(f).display());
                compared += 1;
            }
        }
    }
    compared
}

#[test]
fn a_killed_training_process_resumes_bit_identically() {
    let dir = tempfile::tempdir().unwrap();
    let study = write_study(dir.path(), &long_training_study());
    let whole = dir.path().join("whole");
    let o = emergent(&["train", &study, "--out", whole.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let killed = dir.path().join("killed");
    let run = killed.join("runs/d48-l2-tok400K");
    let mut child = Command::new(env!("CARGO_BIN_EXE_emergent"))
        .args(["train", &study, "--out", killed.to_str().unwrap()])
        .spawn()
        .unwrap();
    // Kill it once the second run has written its first checkpoint.
    let t0 = std::time::Instant::now();
    while emergent_train::list_checkpoints(&run).is_empty() && t0.elapsed().as_secs() < 120 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before = emergent_train::list_checkpoints(&run).len();
    assert!(
        (1..3).contains(&before),
        "the kill should land mid-run ({before} checkpoints)"
    );
    let o = emergent(&["train", &study, "--out", killed.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        same_checkpoints(&whole, &killed, "resuming a killed run"),
        12
    );
}

/// `emergent STAGE STUDY --out OUT --run RUN`.
fn one_run(stage: &str, study: &str, out: &Path, run: &str) -> std::process::Output {
    emergent(&[stage, study, "--out", out.to_str().unwrap(), "--run", run])
}

/// `--device` names where models run; a device this build lacks is an error before any
/// work, in every command that builds a model.
#[test]
fn a_device_this_build_lacks_is_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let study = write_study(dir.path(), STUDY);
    let out = dir.path().join("out");
    let o = emergent(&[
        "train",
        &study,
        "--out",
        out.to_str().unwrap(),
        "--device",
        "cuda",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("--device cuda: `cuda` is not a device of this build"),
        "{err}"
    );
    assert!(!out.join("data").exists(), "nothing prepared");
    let o = emergent(&["bench", "train", "--device", "cuda", "--steps", "1"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("`cuda` is not a device"),
        "{err}"
    );
    let o = emergent(&[
        "bench",
        "train",
        "--device",
        "cpu",
        "--steps",
        "1",
        "--warmup",
        "0",
        "--layers",
        "1",
        "--d-model",
        "16",
        "--heads",
        "2",
        "--mlp",
        "32",
        "--vocab",
        "64",
        "--seq",
        "8",
        "--batch",
        "2",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// `--run` picks runs by name or by index (a job array's task id): training and
/// evaluation of one run touch no other.
#[test]
fn one_run_is_trained_and_evaluated_alone() {
    let dir = tempfile::tempdir().unwrap();
    let study = write_study(dir.path(), STUDY);
    let out = dir.path().join("out");
    let o = one_run("train", &study, &out, "7");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("--run 7: the study has 2 runs (0 to 1)"),
        "{err}"
    );
    let o = one_run("train", &study, &out, "nope");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("no such run (the study's runs: d32-l1-tok30K, d48-l2-tok30K)"),
        "{err}"
    );
    let o = one_run("train", &study, &out, "1");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let runs: Vec<String> = std::fs::read_dir(out.join("runs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(runs, ["d48-l2-tok30K"]);
    let o = one_run("eval", &study, &out, "d48-l2-tok30K");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // A run's rows go to its own database, as a job array's task writes them.
    assert!(!out.join("results.sqlite").exists());
    let db = out.join("runs/d48-l2-tok30K/results.sqlite");
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(DISTINCT checkpoint || task) FROM evaluations"
        ),
        6
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM evaluations WHERE checkpoint NOT LIKE 'd48%'"
        ),
        0
    );
    let o = emergent(&["status", out.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(
        said.contains("1 done")
            && said.contains("1 pending")
            && said.contains("evaluations: 6 of 6"),
        "{said}"
    );
    // The whole study then merges it, and scores only what is missing.
    let o = emergent(&["run", &study, "--out", out.to_str().unwrap(), "--no-report"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("6 evaluations cached, 6 to score"), "{err}");
    let main = out.join("results.sqlite");
    assert_eq!(
        count(
            &main,
            "SELECT COUNT(DISTINCT checkpoint || task) FROM evaluations"
        ),
        12
    );
}

#[test]
fn status_shows_pending_runs_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let study = write_study(dir.path(), STUDY);
    let out = dir.path().join("out");
    let o = emergent(&["status", out.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no study here"));
    let o = emergent(&["corpus", &study, "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = emergent(&["status", out.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(
        said.contains("runs: 2 (0 done, 0 training, 0 stopped, 0 failed, 2 pending)"),
        "{said}"
    );
    assert!(said.contains("evaluations: 0 of 0"), "{said}");
}

#[test]
fn bad_study_files_fail_with_the_field_named() {
    let dir = tempfile::tempdir().unwrap();
    for (text, want) in [
        ("[training]\nlearning_rate = 1.0\n", "learning_rate"),
        ("seed = \"one\"\n", "invalid type"),
        (
            "[[models]]\nlayers = 1\nhidden = 30\nheads = 4\n",
            "models[0].heads",
        ),
        (
            "[corpus]\nsource = \"/nonexistent/corpus.txt\"\n",
            "/nonexistent/corpus.txt",
        ),
    ] {
        let study = write_study(dir.path(), text);
        let o = emergent(&[
            "run",
            &study,
            "--out",
            dir.path().join("o").to_str().unwrap(),
        ]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{text} should fail");
        assert!(err.contains(want), "{err} lacks {want}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn eval_scores_any_checkpoint_writes_samples_and_survives_a_bad_task() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../reference");
    let dir = tempfile::tempdir().unwrap();
    let samples = dir.path().join("samples.jsonl");
    let json = dir.path().join("results.json");
    let tasks = format!(
        "{},{},{}",
        root.join("lmeval-tasks/lm-mc.toml").display(),
        dir.path().join("missing.toml").display(),
        root.join("lmeval-tasks/lm-ll.toml").display()
    );
    let out = emergent(&[
        "eval",
        "--model",
        root.join("goldens/checkpoint/model").to_str().unwrap(),
        "--tasks",
        &tasks,
        "--limit",
        "4",
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a failed task makes the exit status non-zero"
    );
    assert!(stderr.contains("missing.toml"), "{stderr}");
    let lines = std::fs::read_to_string(&samples).unwrap();
    assert_eq!(lines.lines().count(), 8, "4 documents of each good task");
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(results.as_array().unwrap().len(), 2);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("lm-mc") && stdout.contains("acc_norm"),
        "{stdout}"
    );
}

#[test]
fn shipped_specs_are_found_by_name_and_read_data_from_data_dir() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../reference");
    let model = root.join("goldens/checkpoint/model");
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("results.json");
    // Without --data the scored split's file is missing: the error names it and the flag.
    let out = emergent(&[
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--tasks",
        "arc_easy",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("test.jsonl") && stderr.contains("--data"),
        "{stderr}"
    );
    let out = emergent(&[
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--tasks",
        "arc_easy,piqa",
        "--data",
        root.join("benchmark-samples").to_str().unwrap(),
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let names: Vec<&str> = results
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["task"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["arc_easy", "piqa"]);
    assert_eq!(results[0]["n_docs"], 4);
}

#[test]
fn every_problem_of_a_study_is_listed_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let text = r#"
threads = 100000
[[models]]
layers = 0
hidden = 32
heads = 2
[[models]]
layers = 2
hidden = 1000000000
heads = 4
[training]
lr = -1.0
budgets = [0]
checkpoints = 0
[eval]
tasks = ["qa-fr"]
"#;
    let study = write_study(dir.path(), text);
    let out = dir.path().join("o");
    let started = std::time::Instant::now();
    let o = emergent(&["run", &study, "--out", out.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(started.elapsed().as_secs() < 10, "validation comes first");
    for want in [
        "models[0].layers",
        "models[1].hidden",
        "training.lr",
        "training.budgets",
        "training.checkpoints",
        "`qa-fr` is neither a built-in task",
        "field `threads`",
    ] {
        assert!(err.contains(want), "{err} lacks {want}");
    }
    assert!(!err.contains("panicked"), "{err}");
    assert!(!out.join("data").exists(), "nothing was prepared");
    let empty = write_study(dir.path(), "\n");
    let o = emergent(&["run", &empty, "--out", out.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("empty"), "{err}");
}

#[test]
fn a_diverging_run_stops_naming_its_step_and_the_others_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let text = STUDY.replace("[training]\n", "[training]\nlr = 1e6\nwarmup_steps = 0\n");
    let study = write_study(dir.path(), &text);
    let out = dir.path().join("out");
    let o = emergent(&["run", &study, "--out", out.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "a diverged run fails the study");
    assert!(err.contains("diverged") && err.contains("step "), "{err}");
    assert!(err.contains("2 runs failed"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    // `status` names each failed run with its step and last error line.
    let o = emergent(&["status", out.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(
        said.contains("2 failed") && said.contains("failed      step"),
        "{said}"
    );
    assert!(said.contains("training diverged"), "{said}");
}

#[test]
fn a_changed_study_over_the_same_out_is_refused_and_study_toml_kept() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let study = write_study(dir.path(), STUDY);
    let o = emergent(&["train", &study, "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let before = std::fs::read_to_string(out.join("study.toml")).unwrap();
    let changed = write_study(dir.path(), &STUDY.replace("seq_len = 64", "seq_len = 32"));
    let o = emergent(&["train", &changed, "--out", out.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("another configuration"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("study.toml")).unwrap(),
        before
    );
}

#[test]
fn a_corpus_file_is_cached_by_its_content() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("c.txt");
    let mut text = String::new();
    for i in 0..300 {
        text.push_str(&format!("document {i} says the fox runs over the hill\n\n"));
    }
    std::fs::write(&corpus, &text).unwrap();
    let study = write_study(
        dir.path(),
        &format!(
            "[corpus]\nsource = \"{}\"\n[tokenizer]\nvocab_size = 280\n[eval]\ntasks = []\n",
            corpus.display()
        ),
    );
    let out = dir.path().join("out");
    let data_dirs = || std::fs::read_dir(out.join("data")).unwrap().count();
    let o = emergent(&["corpus", &study, "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = emergent(&["corpus", &study, "--out", out.to_str().unwrap()]);
    assert!(o.status.success());
    assert_eq!(data_dirs(), 1, "the same file is the same corpus");
    text.push_str("one more document\n\n");
    std::fs::write(&corpus, &text).unwrap();
    let o = emergent(&["corpus", &study, "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(data_dirs(), 2, "a changed file is prepared again");
}

#[test]
fn sigint_finishes_the_step_says_how_to_resume_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let study = write_study(dir.path(), &long_training_study());
    let out = dir.path().join("out");
    let run = out.join("runs/d32-l1-tok400K");
    let child = Command::new(env!("CARGO_BIN_EXE_emergent"))
        .args(["train", &study, "--out", out.to_str().unwrap()])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    while emergent_train::list_checkpoints(&run).is_empty() && t0.elapsed().as_secs() < 120 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let pid = child.id().to_string();
    Command::new("kill").args(["-INT", &pid]).status().unwrap();
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{err}");
    assert!(err.contains("finishing the current step"), "{err}");
    assert!(
        err.contains("d32-l1-tok400K: stopped at step")
            && err.contains("resumes from them")
            && err.contains("emergent train"),
        "{err}"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&run)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "no half-written checkpoint");
    let o = emergent(&["train", &study, "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn a_study_trains_and_scores_every_architecture() {
    let dir = tempfile::tempdir().unwrap();
    let study = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../reference/arch-study.toml");
    let out = dir.path().join("out");
    let o = emergent(&[
        "run",
        study.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let db = out.join("results.sqlite");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM runs"), 6);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM checkpoints"), 12);
    assert_eq!(
        count(&db, "SELECT COUNT(DISTINCT checkpoint) FROM evaluations"),
        12
    );
    for (run, model_type) in [
        ("d32-l1-tok16K", "llama"),
        ("glm-d32-l1-tok16K", "glm"),
        ("gpt_neox-d32-l1-tok16K", "gpt_neox"),
        ("olmo-d32-l1-tok16K", "olmo"),
        ("olmo2-d32-l1-tok16K", "olmo2"),
        ("qwen2-d32-l1-tok16K", "qwen2"),
    ] {
        let config = out.join("runs").join(run).join("step-0000062/config.json");
        let c: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
        assert_eq!(c["model_type"], model_type, "{}", config.display());
    }
}

/// Two `emergent run` processes started at once on one study directory share the work
/// (a run is trained by one of them, the corpus prepared once) and end with what one
/// process makes: the same checkpoints byte for byte, the same rows, none twice.
#[test]
fn two_processes_on_one_study_end_with_the_results_of_one() {
    let dir = tempfile::tempdir().unwrap();
    let study = write_study(dir.path(), STUDY);
    let one = dir.path().join("one");
    let o = emergent(&["run", &study, "--out", one.to_str().unwrap(), "--no-report"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let two = dir.path().join("two");
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_emergent"))
            .args(["run", &study, "--out", two.to_str().unwrap(), "--no-report"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    // The first run's lock is held for a while, as a third process training it would:
    // both processes must leave it, train the rest between them, then one resumes it.
    let run = two.join("runs/d32-l1-tok30K");
    let held = emergent_study::lock::DirLock::try_take(&emergent_study::lock::run_lock(&run))
        .unwrap()
        .expect("a free lock");
    let (a, b) = (spawn(), spawn());
    // Released once the other run is trained: both processes are past the held one.
    let other = two.join("runs/d48-l2-tok30K/step-0000117/meta.json");
    let t0 = std::time::Instant::now();
    while !other.exists() && t0.elapsed().as_secs() < 300 {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_secs(1));
    drop(held);
    let mut scored = 0;
    for child in [a, b] {
        let o = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert!(o.status.success(), "{err}");
        assert!(
            err.contains("d32-l1-tok30K: another process is training it"),
            "a held run is left for later: {err}"
        );
        let n = err
            .lines()
            .find_map(|l| l.strip_suffix(" evaluations scored by this process"))
            .and_then(|l| l.rsplit(' ').next()?.parse::<usize>().ok())
            .unwrap_or_else(|| panic!("no count of evaluations scored: {err}"));
        scored += n;
    }
    assert_eq!(
        scored, 12,
        "the processes divide the evaluations, none scored twice"
    );
    let compared = same_checkpoints(&one, &two, "two processes shared the study");
    assert_eq!(compared, 12, "2 runs × 3 checkpoints × 2 files");
    let o = emergent(&["status", two.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(
        said.contains("runs: 2 (2 done") && said.contains("evaluations: 12 of 12"),
        "{said}"
    );
    for table in ["runs", "checkpoints", "evaluations", "domain_losses"] {
        let sql = format!("SELECT * FROM {table}");
        let (x, y) = (rows(&one, &sql), rows(&two, &sql));
        assert!(!x.is_empty(), "{table} is empty");
        assert_eq!(x, y, "{table} differs between one process and two");
    }
    // Two processes reaching the report together: one writes it, the other finds it
    // made from the same results and writes none.
    let finish = emergent_study::lock::DirLock::try_take(&two.join(".finish.lock"))
        .unwrap()
        .expect("a free lock");
    let report = || {
        Command::new(env!("CARGO_BIN_EXE_emergent"))
            .args(["run", &study, "--out", two.to_str().unwrap()])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    // Each process's stderr read as it comes, so the lock is let go only once both wait.
    let readers: Vec<_> = [report(), report()]
        .into_iter()
        .map(|mut child| {
            let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
            let err = child.stderr.take().unwrap();
            let sink = seen.clone();
            let reader = std::thread::spawn(move || {
                use std::io::BufRead;
                for line in std::io::BufReader::new(err).lines() {
                    let mut s = sink.lock().unwrap();
                    s.push_str(&line.unwrap());
                    s.push('\n');
                }
            });
            (child, seen, reader)
        })
        .collect();
    let t0 = std::time::Instant::now();
    while readers
        .iter()
        .any(|(_, seen, _)| !seen.lock().unwrap().contains("waiting for it"))
        && t0.elapsed().as_secs() < 300
    {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    drop(finish);
    let said: Vec<String> = readers
        .into_iter()
        .map(|(mut child, seen, reader)| {
            let status = child.wait().unwrap();
            reader.join().unwrap();
            let text = seen.lock().unwrap().clone();
            assert!(status.success(), "{text}");
            text
        })
        .collect();
    let skipped = said.iter().filter(|e| e.contains("is up to date")).count();
    assert_eq!(skipped, 1, "one report between two processes: {said:?}");
    assert!(two.join("report/index.html").exists());
}

/// The study through Slurm (a corpus job, a job array of runs, a finishing job) ends as
/// a local `emergent run` does: the same checkpoints byte for byte, the same rows.
#[test]
fn a_study_through_slurm_equals_the_local_run() {
    let dir = tempfile::tempdir().unwrap();
    let study = write_study(dir.path(), STUDY);
    let two = dir.path().join("slurm");
    let o = emergent(&["slurm", &study, "--out", two.to_str().unwrap(), "--dry-run"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let printed = String::from_utf8_lossy(&o.stdout);
    assert!(
        printed.contains("--dependency=afterok:$corpus"),
        "{printed}"
    );
    let train = std::fs::read_to_string(two.join("slurm/train.sbatch")).unwrap();
    assert!(
        train.contains("#SBATCH --array=0-1") && train.contains("--run \"$SLURM_ARRAY_TASK_ID\""),
        "{train}"
    );
    let o = emergent(&[
        "slurm",
        &study,
        "--out",
        two.to_str().unwrap(),
        "--gpus",
        "1",
    ]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("no GPU backend"));
    // Without Slurm's client the error names what to install.
    let empty = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_emergent"))
        .args(["slurm", &study, "--out", two.to_str().unwrap()])
        .env("PATH", empty.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("sbatch not found") && err.contains("slurm-client"),
        "{err}"
    );
    if !slurm_cluster() {
        return;
    }
    // A submission Slurm refuses shows Slurm's own words.
    let o = emergent(&[
        "slurm",
        &study,
        "--out",
        two.to_str().unwrap(),
        "--partition",
        "no-such-partition",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("sbatch refused") && err.contains("partition"),
        "{err}"
    );
    let one = dir.path().join("local");
    let o = emergent(&["run", &study, "--out", one.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = emergent(&["slurm", &study, "--out", two.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let finish = said.split_whitespace().last().unwrap().to_string();
    let state = slurm_wait(&finish);
    let logs: Vec<String> = std::fs::read_dir(two.join("slurm/logs"))
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            format!(
                "{}:\n{}",
                p.display(),
                std::fs::read_to_string(&p).unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(state, "COMPLETED", "the finishing job: {}", logs.join("\n"));
    assert_eq!(
        same_checkpoints(&one, &two, "the study ran through Slurm"),
        12
    );
    for table in ["runs", "checkpoints", "evaluations", "domain_losses"] {
        let sql = format!("SELECT * FROM {table}");
        assert_eq!(
            rows(&one, &sql),
            rows(&two, &sql),
            "{table} differs through Slurm"
        );
    }
    assert!(
        two.join("report/index.html").exists(),
        "the finishing job writes the report"
    );
}

/// A training task sent the preemption signal mid-run stops at a step, keeps its state
/// there, is requeued, and resumes from that step to the same bytes as an uninterrupted
/// run.
#[test]
fn a_preempted_slurm_task_is_requeued_and_resumes_bit_identically() {
    if !slurm_cluster() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Long enough to be signalled mid-run, with tasks so that the finishing job reports.
    let study = write_study(
        dir.path(),
        &STUDY.replace("budgets = [30000]", "budgets = [400000]"),
    );
    let whole = dir.path().join("whole");
    let o = emergent(&["train", &study, "--out", whole.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let two = dir.path().join("slurm");
    let o = emergent(&["slurm", &study, "--out", two.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let said = String::from_utf8_lossy(&o.stdout).to_string();
    let words: Vec<&str> = said.split_whitespace().collect();
    let array = words[words.iter().position(|w| *w == "array").unwrap() + 1].to_string();
    let finish = words.last().unwrap().to_string();
    let run = two.join("runs/d48-l2-tok400K");
    let t0 = std::time::Instant::now();
    while emergent_train::list_checkpoints(&run).is_empty() && t0.elapsed().as_secs() < 300 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // What Slurm sends before a time limit or on preemption (--signal=B:TERM).
    let o = Command::new("scancel")
        .args(["--batch", "--signal=TERM", &format!("{array}_1")])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let state = slurm_wait(&finish);
    let log = |suffix: &str| {
        std::fs::read_to_string(two.join(format!("slurm/logs/train-{array}_1.{suffix}")))
            .unwrap_or_default()
    };
    assert_eq!(state, "COMPLETED", "{}\n{}", log("out"), log("err"));
    // Slurm counts the requeue; the task's logs hold its last attempt.
    let task = format!("{array}_1");
    let o = Command::new("scontrol")
        .args(["show", "job", &task])
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        shown.contains("Restarts=1"),
        "the task was not requeued: {shown}\n{}",
        log("err")
    );
    // It went on from the step it stopped at, not from a checkpoint before it.
    let err = log("err");
    let resumed: u64 = err
        .split("d48-l2-tok400K: resuming at step ")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no resume in the requeued task's log:\n{err}"));
    assert!(
        ![15, 153].contains(&resumed),
        "resumed at a checkpoint: {err}"
    );
    assert_eq!(
        same_checkpoints(&whole, &two, "the requeued task resumed"),
        12
    );
}

#[test]
fn eval_scores_several_models_into_a_folder_each_and_reads_pytorch_files() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../reference");
    let dir = tempfile::tempdir().unwrap();
    let ladder = dir.path().join("ladder");
    // A safetensors checkpoint and its PyTorch twin, found by a pattern.
    for (name, src) in [
        ("a", "goldens/checkpoint/model"),
        ("b", "goldens/torch/checkpoint-bin"),
    ] {
        let d = ladder.join(name).join("step-1");
        std::fs::create_dir_all(&d).unwrap();
        for f in std::fs::read_dir(root.join(src)).unwrap() {
            let f = f.unwrap().path();
            std::fs::copy(&f, d.join(f.file_name().unwrap())).unwrap();
        }
    }
    let out = dir.path().join("out");
    let task = root.join("lmeval-tasks/lm-mc.toml");
    let o = emergent(&[
        "eval",
        "--model",
        &format!("{}/*/step-*", ladder.display()),
        "--model",
        dir.path().join("missing").to_str().unwrap(),
        "--tasks",
        task.to_str().unwrap(),
        "--limit",
        "4",
        "--out",
        out.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "a missing model fails the command");
    assert!(
        err.contains("1 of 3 models failed") && err.contains("missing"),
        "{err}"
    );
    let results: Vec<String> = ["a", "b"]
        .iter()
        .map(|r| {
            let folder = out.join(format!("ladder_{r}_step-1"));
            std::fs::read_to_string(folder.join("samples.jsonl")).unwrap()
        })
        .collect();
    assert_eq!(results[0].lines().count(), 4);
    assert_eq!(results[0], results[1], "the same weights score the same");
    let o = emergent(&[
        "eval",
        "--model",
        &format!("{}/none-*", ladder.display()),
        "--tasks",
        task.to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("matches nothing"));
}

/// A ladder as users keep theirs (`reference/goldens/ladder/`, re-saved by transformers,
/// torch and gguf-py: sharded safetensors with `trainer_state.json`, `pytorch_model.bin`
/// whole and sharded, GGUF files) scored and analysed in one command: every checkpoint
/// scored, the loss axis in bits per byte and equal to `eval --text` on each checkpoint,
/// the findings equal to `analyze` of the same observations as CSV, a re-run scoring
/// nothing; then with one tokenizer in nats per token, through Slurm, with domains, and
/// the bad inputs.
#[test]
fn a_study_of_existing_checkpoints_scores_them_on_one_loss_axis() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../reference");
    let ladder = root.join("goldens/ladder");
    let dir = tempfile::tempdir().unwrap();
    let val = dir.path().join("val.txt");
    std::fs::write(
        &val,
        "Meda is a cook and cooks the meals every day. Fanou is a shepherd.\n\
         Question: Where does Meda live?\nAnswer: Hollow\n露伦是作家，每天都写书。\n",
    )
    .unwrap();
    let entry = |pattern: &str, extra: &str| {
        format!(
            "[[checkpoints]]\npath = \"{}/{pattern}\"\n{extra}",
            ladder.display()
        )
    };
    let base = entry("base/checkpoint-*", "");
    let small = entry("small/step*", "tokens_per_step = 256\n");
    let tiny = entry("tiny/*.gguf", "tokens_per_step = 256\n");
    let text = |entries: &str| {
        format!(
            "name = \"ladder\"\n{entries}[validation]\ntext = \"{}\"\n[eval]\ntasks = [\"commonsense-en\", \"qa-en\"]\ndocuments = 20\n",
            val.display()
        )
    };
    let mixed = write_study(dir.path(), &text(&format!("{base}{small}{tiny}")));
    let out = dir.path().join("mixed");
    let o = emergent(&["run", &mixed, "--out", out.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("9 in 3 runs; the loss axis is bits/byte"),
        "{err}"
    );
    let db = out.join("results.sqlite");
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM checkpoints WHERE val_loss > 0"),
        9
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(DISTINCT checkpoint || task) FROM evaluations"
        ),
        18
    );
    let findings = std::fs::read_to_string(out.join("findings.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&findings).unwrap();
    assert_eq!(json["x_label"], "validation loss (bits/byte)");
    // Steps and tokens from trainer_state.json, and from the names.
    assert_eq!(
        rows(
            &out,
            "SELECT checkpoint, step, tokens FROM checkpoints WHERE step = 156"
        ),
        [
            "base/checkpoint-156|Integer(156)|Integer(39936)",
            "small/step156|Integer(156)|Integer(39936)",
            "tiny/step-156.gguf|Integer(156)|Integer(39936)"
        ]
    );
    // Each checkpoint's loss is what `eval --text` says of it.
    let e = dir.path().join("e");
    let o = emergent(&[
        "eval",
        "--model",
        &format!("{}/*/*", ladder.display()),
        "--text",
        val.to_str().unwrap(),
        "--out",
        e.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let conn = rusqlite::Connection::open(&db).unwrap();
    let mut stmt = conn
        .prepare("SELECT checkpoint, val_loss FROM checkpoints")
        .unwrap();
    let stored: Vec<(String, f64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(stored.len(), 9);
    for (checkpoint, loss) in stored {
        let bpb = bits_per_byte(&e.join(checkpoint.replace('/', "_")));
        assert_eq!(
            loss, bpb,
            "{checkpoint}: the ladder's loss is eval --text's"
        );
    }
    // The same observations as CSV (the report's points.csv, with their per-document
    // records and unit) give the same findings.
    let again = dir.path().join("again");
    let o = emergent(&[
        "analyze",
        "--results",
        out.join("report/tables/points.csv").to_str().unwrap(),
        "--out",
        again.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        std::fs::read_to_string(again.join("findings.json")).unwrap(),
        findings,
        "findings from the study and from its points.csv"
    );
    // A re-run scores nothing.
    let o = emergent(&["run", &mixed, "--out", out.to_str().unwrap(), "--no-report"]);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(
        err.contains("and the validation loss, 27 evaluations cached, 0 to score"),
        "{err}"
    );
    // One tokenizer (the same tokenizer.json bytes) makes the axis nats per token.
    let one = write_study(dir.path(), &text(&format!("{base}{small}")));
    let out = dir.path().join("one");
    let o = emergent(&["run", &one, "--out", out.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(
        err.contains("6 in 2 runs; the loss axis is nats/token"),
        "{err}"
    );
    let o = emergent(&["status", out.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(
        said.contains("checkpoints: 6 (6 with a validation loss)")
            && said.contains("small/step156")
            && said.contains("evaluations: 12 of 12"),
        "{said}"
    );
    // Through Slurm: a task per run, each into its run's database, then the finishing
    // job; the same rows as the local run.
    let slurm = dir.path().join("slurm");
    let o = emergent(&["slurm", &one, "--out", slurm.to_str().unwrap(), "--dry-run"]);
    let train = std::fs::read_to_string(slurm.join("slurm/train.sbatch")).unwrap();
    assert!(
        o.status.success() && train.contains("#SBATCH --array=0-1"),
        "{train}"
    );
    if slurm_cluster() {
        let o = emergent(&["slurm", &one, "--out", slurm.to_str().unwrap()]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let said = String::from_utf8_lossy(&o.stdout).to_string();
        let state = slurm_wait(said.split_whitespace().last().unwrap());
        assert_eq!(state, "COMPLETED");
        for table in ["runs", "checkpoints", "evaluations"] {
            let sql = format!("SELECT * FROM {table}");
            assert_eq!(
                rows(&out, &sql),
                rows(&slurm, &sql),
                "{table} differs through Slurm"
            );
        }
    }
    // A table of documents with a domain field: a loss per domain beside the overall one.
    let jsonl = dir.path().join("val.jsonl");
    std::fs::write(
        &jsonl,
        "{\"text\": \"Meda is a cook and cooks the meals every day.\", \"d\": \"en\"}\n\
         {\"text\": \"露伦是作家，每天都写书。\", \"d\": \"zh\"}\n",
    )
    .unwrap();
    let table = text(&base).replace(
        &format!("text = \"{}\"", val.display()),
        &format!("text = \"{}\"\ndomain_field = \"d\"", jsonl.display()),
    );
    let tab = dir.path().join("tab");
    let o = emergent(&[
        "run",
        &write_study(dir.path(), &table),
        "--out",
        tab.to_str().unwrap(),
        "--no-report",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let db = tab.join("results.sqlite");
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM domain_losses WHERE loss > 0"),
        6
    );
    // Bad input: a config too large for this machine, one that is not JSON, a pattern that
    // matches nothing, and a grid given as well.
    let huge = dir.path().join("huge/run/step-5");
    std::fs::create_dir_all(&huge).unwrap();
    let mut cfg: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("goldens/checkpoint/model/config.json")).unwrap(),
    )
    .unwrap();
    cfg["hidden_size"] = 16384.into();
    cfg["intermediate_size"] = 65536.into();
    cfg["num_hidden_layers"] = 1000.into();
    cfg["num_attention_heads"] = 128.into();
    cfg["num_key_value_heads"] = 128.into();
    std::fs::write(huge.join("config.json"), cfg.to_string()).unwrap();
    let refused = |what: &str, entries: &str| {
        let o = emergent(&[
            "run",
            &write_study(dir.path(), &text(entries)),
            "--out",
            dir.path().join(what).to_str().unwrap(),
        ]);
        assert!(!o.status.success(), "{what}");
        String::from_utf8_lossy(&o.stderr).to_string()
    };
    let err = refused(
        "big",
        &format!("[[checkpoints]]\npath = \"{}\"\n", huge.display()),
    );
    assert!(
        err.contains("step-5") && err.contains("more than this machine"),
        "{err}"
    );
    let broken = dir.path().join("unreadable/run/step-7");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("config.json"), "{\"hidden_size\": ").unwrap();
    let err = refused(
        "broken",
        &format!("{base}[[checkpoints]]\npath = \"{}\"\n", broken.display()),
    );
    assert!(
        err.contains("step-7/config.json: invalid JSON")
            && !dir.path().join("broken/results.sqlite").exists(),
        "{err}"
    );
    let bad = write_study(dir.path(), &text(&base).replace("checkpoint-*", "none-*"));
    let o = emergent(&[
        "run",
        &bad,
        "--out",
        dir.path().join("bad").to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("matches nothing"));
    let both = write_study(
        dir.path(),
        &format!(
            "{}[[models]]\nlayers = 1\nhidden = 32\nheads = 2\n",
            text(&base)
        ),
    );
    let o = emergent(&[
        "run",
        &both,
        "--out",
        dir.path().join("both").to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(
        err.contains("not both") && err.contains("study.toml"),
        "{err}"
    );
}
