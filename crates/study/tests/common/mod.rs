//! A tiny study, small enough to run in seconds, and what its stages report.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use emergent_study::{parse_study, Event, Stage, Study};

pub const TINY: &str = r#"
name = "stage test"
seed = 3
threads = 2
[corpus]
builtin_documents = 600
world_people = 12
world_towns = 8
[tokenizer]
vocab_size = 260
[[models]]
layers = 1
hidden = 32
heads = 2
[training]
budgets = [8000, 16000]
batch_size = 4
seq_len = 32
checkpoints = 3
first_checkpoint_tokens = 2000
[eval]
documents = 10
tasks = ["exam-en", "reading-zh"]
"#;

pub fn tiny() -> Study {
    parse_study(TINY, "tiny").unwrap()
}

/// What a stage reported, owned.
#[derive(Debug, Clone, PartialEq)]
pub enum Seen {
    Say(String),
    Begin(Stage, u64),
    Advance(Stage, u64),
    End(Stage),
    RunBegin(String, u64, u64),
    RunStep(String, u64),
    RunEnd(String),
    Findings,
    Fetch(String, u64),
}

/// Records every event.
#[derive(Default)]
pub struct Log(pub Mutex<Vec<Seen>>);

impl Log {
    pub fn progress(&self) -> impl Fn(Event<'_>) + Sync + '_ {
        move |e| {
            let seen = match e {
                Event::Say(l) => Seen::Say(l.to_string()),
                Event::Begin { stage, total } => Seen::Begin(stage, total),
                Event::Advance { stage, done, .. } => Seen::Advance(stage, done),
                Event::End { stage } => Seen::End(stage),
                Event::RunBegin {
                    run,
                    step,
                    total_steps,
                } => Seen::RunBegin(run.to_string(), step, total_steps),
                Event::RunStep { run, step, .. } => Seen::RunStep(run.to_string(), step),
                Event::RunEnd { run } => Seen::RunEnd(run.to_string()),
                Event::Findings(_) => Seen::Findings,
                Event::Fetch { file, done, .. } => Seen::Fetch(file.to_string(), done),
            };
            self.0.lock().unwrap().push(seen);
        }
    }

    pub fn take(&self) -> Vec<Seen> {
        std::mem::take(&mut self.0.lock().unwrap())
    }
}

pub fn said(seen: &[Seen]) -> String {
    seen.iter()
        .filter_map(|s| match s {
            Seen::Say(l) => Some(l.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every checkpoint's weights and optimiser moments, by path under `out`.
pub fn checkpoint_files(out: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    for run in std::fs::read_dir(out.join("runs")).unwrap() {
        let run = run.unwrap().path();
        for ckpt in emergent_train::list_checkpoints(&run) {
            for name in ["model.safetensors", "optimizer.safetensors"] {
                let p = ckpt.join(name);
                files.push((
                    p.strip_prefix(out).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    files.sort();
    files
}

/// The evaluations of the study's database, as comparable rows.
pub fn evaluations(out: &Path) -> Vec<String> {
    let store = emergent_study::stores::open_store(out).unwrap();
    let mut rows: Vec<String> = store
        .points()
        .unwrap()
        .into_iter()
        .map(|p| {
            format!(
                "{} {} {} {} {:?} {:?} {}",
                p.checkpoint, p.task, p.metric, p.shots, p.value, p.stderr, p.val_loss
            )
        })
        .collect();
    rows.sort();
    rows
}
