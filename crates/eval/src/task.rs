use std::io::BufRead;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputType {
    MultipleChoice,
    GenerateUntil,
}

fn space() -> String {
    " ".into()
}
fn blank_line() -> String {
    "\n\n".into()
}
fn newline() -> Vec<String> {
    vec!["\n".into()]
}
fn sixteen() -> usize {
    16
}

/// A task spec. Field names follow lm-evaluation-harness.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    pub task: String,
    pub output_type: OutputType,
    /// The documents, relative to the spec file.
    pub data: String,
    #[serde(default)]
    pub num_fewshot: usize,
    #[serde(default = "space")]
    pub target_delimiter: String,
    #[serde(default = "blank_line")]
    pub fewshot_delimiter: String,
    /// Stop strings for generation.
    #[serde(default = "newline")]
    pub until: Vec<String>,
    #[serde(default = "sixteen")]
    pub max_gen_toks: usize,
    /// The random-guess level of the main metric; 1/k for k choices when absent.
    #[serde(default)]
    pub baseline: Option<f64>,
    #[serde(default)]
    pub description: String,
}

/// One document: a prompt and either choices with the gold index, or an answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Doc {
    pub prompt: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gold: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
}

impl Doc {
    pub fn multiple_choice(prompt: String, choices: Vec<String>, gold: usize) -> Doc {
        Doc {
            prompt,
            choices,
            gold: Some(gold),
            answer: None,
        }
    }

    pub fn generation(prompt: String, answer: String) -> Doc {
        Doc {
            prompt,
            choices: Vec::new(),
            gold: None,
            answer: Some(answer),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Task {
    pub spec: TaskSpec,
    pub docs: Vec<Doc>,
    pub path: PathBuf,
}

impl Task {
    /// The random-guess level of accuracy.
    pub fn baseline(&self) -> f64 {
        if let Some(b) = self.spec.baseline {
            return b;
        }
        match self.spec.output_type {
            OutputType::MultipleChoice => {
                let k: f64 = self.docs.iter().map(|d| 1.0 / d.choices.len() as f64).sum();
                k / self.docs.len().max(1) as f64
            }
            OutputType::GenerateUntil => 0.0,
        }
    }
}

/// Reads a task spec and its JSONL documents, checking every document.
pub fn load_task(spec_path: &Path) -> Result<Task> {
    let text = std::fs::read_to_string(spec_path)
        .with_context(|| format!("reading task spec {}", spec_path.display()))?;
    let spec: TaskSpec = toml::from_str(&text)
        .map_err(|e| anyhow!("{}: {}", spec_path.display(), e.message().trim()))?;
    let data = spec_path
        .parent()
        .unwrap_or(Path::new("."))
        .join(&spec.data);
    let f = std::fs::File::open(&data)
        .with_context(|| format!("task `{}`: reading {}", spec.task, data.display()))?;
    let mut docs = Vec::new();
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.with_context(|| format!("{}", data.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let at = format!("{}:{}", data.display(), i + 1);
        let doc: Doc = serde_json::from_str(&line).map_err(|e| anyhow!("{at}: {e}"))?;
        match spec.output_type {
            OutputType::MultipleChoice => {
                if doc.choices.is_empty() {
                    bail!("{at}: field `choices` is empty");
                }
                match doc.gold {
                    None => bail!("{at}: missing field `gold`"),
                    Some(g) if g >= doc.choices.len() => {
                        bail!(
                            "{at}: field `gold` is {g}, out of range for {} choices",
                            doc.choices.len()
                        )
                    }
                    _ => {}
                }
            }
            OutputType::GenerateUntil => {
                if doc.answer.is_none() {
                    bail!("{at}: missing field `answer`");
                }
            }
        }
        docs.push(doc);
    }
    if docs.is_empty() {
        bail!("{}: no documents", data.display());
    }
    Ok(Task {
        spec,
        docs,
        path: spec_path.into(),
    })
}

/// Writes a spec and its documents (`NAME.toml` and `NAME.jsonl`) into `dir`.
pub fn write_task(dir: &Path, spec: &TaskSpec, docs: &[Doc]) -> Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let data = dir.join(&spec.data);
    let mut lines = String::new();
    for d in docs {
        lines.push_str(&serde_json::to_string(d)?);
        lines.push('\n');
    }
    std::fs::write(&data, lines).with_context(|| format!("writing {}", data.display()))?;
    let path = dir.join(format!("{}.toml", spec.task));
    std::fs::write(&path, toml::to_string(spec)?)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(dir: &Path, body: &str) -> PathBuf {
        let p = dir.join("t.toml");
        std::fs::write(
            &p,
            format!("task = \"t\"\noutput_type = \"multiple_choice\"\ndata = \"t.jsonl\"\n{body}"),
        )
        .unwrap();
        p
    }

    #[test]
    fn bad_documents_name_file_line_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let p = spec(dir.path(), "");
        let cases = [
            (
                "{\"prompt\": \"q\", \"choices\": [\"a\"], \"gold\": 3}\n",
                "out of range",
            ),
            (
                "{\"prompt\": \"q\", \"choices\": [], \"gold\": 0}\n",
                "`choices` is empty",
            ),
            (
                "{\"prompt\": \"q\", \"choices\": [\"a\"]}\n",
                "missing field `gold`",
            ),
            (
                "{\"prompt\": \"q\", \"choices\": [\"a\"], \"gold\": 0}\n{bad\n",
                "t.jsonl:2",
            ),
        ];
        for (data, want) in cases {
            std::fs::write(dir.path().join("t.jsonl"), data).unwrap();
            let e = format!("{:#}", load_task(&p).unwrap_err());
            assert!(e.contains(want), "{e} lacks {want}");
        }
        let p = spec(dir.path(), "shots = 3\n");
        let e = format!("{:#}", load_task(&p).unwrap_err());
        assert!(e.contains("shots"), "{e}");
    }
}
