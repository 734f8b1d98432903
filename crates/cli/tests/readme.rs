//! Every command in the README's fenced `sh` blocks runs, in the README's order, in a
//! scratch directory. Three things stand in for what a reader has: `studies/quick.toml`
//! there is a tiny study (the quick study's minute is too long for CI's budget once per
//! command), `CHECKPOINT` is the reference checkpoint, and the Hugging Face Hub is a
//! local one (`emergent_testhub`) serving the ladder fixture's small run as
//! `EleutherAI/pythia-160m` at three of its revisions' names; `studies/ladder.toml` and
//! `studies/pythia.toml` are the checkout's, their paths into `reference/` made absolute. Paths into the repository
//! (`reference/`, `scripts/`, `crates/`) and `../shared/data` resolve to the checkout's.
//! The `cargo` set-up commands are CI's own: `.ci/run` must run exactly the test
//! command, and the install path must hold the `emergent` binary.

use std::path::{Path, PathBuf};
use std::process::Command;

const TINY_STUDY: &str = r#"
name = "readme"
seed = 3
threads = 2
[corpus]
builtin_documents = 1000
world_people = 20
world_towns = 8
[tokenizer]
vocab_size = 280
[[models]]
layers = 1
hidden = 32
heads = 2
[[models]]
layers = 1
hidden = 48
heads = 4
kv_heads = 2
[training]
budgets = [20000]
batch_size = 4
seq_len = 64
checkpoints = 3
first_checkpoint_tokens = 4000
[eval]
documents = 10
tasks = ["qa-en", "exam-en"]
"#;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The commands of the README's `sh` blocks, comments dropped.
fn readme_commands() -> Vec<String> {
    let text = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let mut out = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with("```") {
            inside = !inside && t == "```sh";
            continue;
        }
        if !inside {
            continue;
        }
        let cmd = t.split(" #").next().unwrap().trim();
        if !cmd.is_empty() {
            out.push(cmd.to_string());
        }
    }
    out
}

fn has_chromium() -> bool {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .any(|b| {
            Command::new("sh")
                .args(["-c", &format!("command -v {b}")])
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

/// A README argument with the stand-ins resolved.
fn resolve(arg: &str, shared: &Path) -> String {
    let root = repo();
    if arg == "CHECKPOINT" {
        return root
            .join("reference/goldens/checkpoint/model")
            .display()
            .to_string();
    }
    if let Some(rest) = arg.strip_prefix("../shared/data/") {
        return shared.join(rest).display().to_string();
    }
    for dir in ["reference/", "scripts/", "crates/"] {
        if arg.starts_with(dir) {
            return root.join(arg).display().to_string();
        }
    }
    arg.to_string()
}

fn cargo_command(cmd: &str) {
    let root = repo();
    match cmd {
        "cargo test --workspace" => {
            let ci = std::fs::read_to_string(root.join(".ci/run")).unwrap();
            let last = ci.lines().rev().find(|l| !l.trim().is_empty()).unwrap();
            assert_eq!(
                last.trim(),
                cmd,
                ".ci/run must end with the README's test command"
            );
        }
        "cargo run --release -- run" => {
            // The default study itself takes 20 minutes: its command line is checked
            // here, the study in docs/benchmarks.md.
            let o = Command::new(env!("CARGO_BIN_EXE_emergent"))
                .args(["run", "--help"])
                .output()
                .unwrap();
            assert!(o.status.success());
        }
        "cargo install --path crates/cli" => {
            let toml = std::fs::read_to_string(root.join("crates/cli/Cargo.toml")).unwrap();
            assert!(
                toml.contains("name = \"emergent\""),
                "crates/cli builds `emergent`"
            );
        }
        other => panic!("README command `{other}` is not run by any test: add it here"),
    }
}

#[test]
fn every_readme_command_runs() {
    let commands = readme_commands();
    assert!(commands.len() >= 10, "{commands:?}");
    let shared = repo().join("../shared/data");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("studies")).unwrap();
    std::fs::write(dir.path().join("studies/quick.toml"), TINY_STUDY).unwrap();
    let here = format!("\"{}/reference/", repo().display());
    for study in ["ladder.toml", "pythia.toml"] {
        let text = std::fs::read_to_string(repo().join("studies").join(study)).unwrap();
        std::fs::write(
            dir.path().join("studies").join(study),
            text.replace("\"reference/", &here),
        )
        .unwrap();
    }
    let small = repo().join("reference/goldens/ladder/small");
    let hub = emergent_testhub::Server::start(
        &[emergent_testhub::Repo {
            id: "EleutherAI/pythia-160m".into(),
            revisions: [
                ("step1000", "step23"),
                ("step12000", "step60"),
                ("step23000", "step156"),
            ]
            .iter()
            .map(|(name, dir)| (name.to_string(), small.join(dir)))
            .collect(),
            token: None,
        }],
        emergent_testhub::Faults::default(),
    )
    .unwrap();
    let cache = dir.path().join("hf-cache");
    for cmd in &commands {
        let words: Vec<&str> = cmd.split_whitespace().collect();
        if words[0] == "cargo" {
            cargo_command(cmd);
            continue;
        }
        if cmd.contains("../shared/") && !shared.exists() {
            eprintln!("skipping `{cmd}`: ../shared/data is absent");
            continue;
        }
        let program = match words[0] {
            "emergent" => env!("CARGO_BIN_EXE_emergent").to_string(),
            "scripts/check_report.sh" if !has_chromium() => {
                eprintln!("skipping `{cmd}`: no chromium (apt-get install chromium)");
                continue;
            }
            s if s.starts_with("scripts/") => repo().join(s).display().to_string(),
            other => panic!("README command `{other}` is not run by any test: add it here"),
        };
        let args: Vec<String> = words[1..].iter().map(|a| resolve(a, &shared)).collect();
        let started = std::time::Instant::now();
        let o = Command::new(&program)
            .args(&args)
            .env("HF_ENDPOINT", &hub.url)
            .env("HF_HUB_CACHE", &cache)
            .env_remove("HF_HUB_OFFLINE")
            .env_remove("HF_TOKEN")
            .current_dir(dir.path())
            .output()
            .unwrap();
        eprintln!("{cmd}: {:.1} s", started.elapsed().as_secs_f64());
        assert!(
            o.status.success(),
            "`{cmd}` failed:\n{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    assert!(dir.path().join("quick/report/index.html").exists());
    assert!(dir.path().join("seeds/seeds.html").exists());
    assert!(dir.path().join("scores/results.json").exists());
    assert!(dir.path().join("again/findings.json").exists());
    assert!(dir.path().join("ladder/report/index.html").exists());
    assert!(dir.path().join("pythia/report/index.html").exists());
    assert!(dir.path().join("pythia-step1000/results.json").exists());
}
