//! Task specs (TOML) and their documents (JSONL). Field names follow
//! lm-evaluation-harness: a spec there translates to a spec here line for line.

use emergent_metrics::{
    ACC, ACC_NORM, BITS_PER_BYTE, BYTE_PERPLEXITY, EXACT_MATCH, PERPLEXITY, WORD_PERPLEXITY,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::template::{Field, Resolved, Templates};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputType {
    /// Each choice scored by log-likelihood after the context.
    MultipleChoice,
    /// Greedy decoding, compared with the target.
    GenerateUntil,
    /// The log-likelihood of the target and whether it is the greedy continuation.
    Loglikelihood,
    /// The log-likelihood of the whole target text, scored in windows of the model's
    /// context (lm-eval's perplexity tasks: word and byte perplexity, bits per byte).
    LoglikelihoodRolling,
}

impl OutputType {
    /// lm-eval's name of the output type.
    pub fn name(self) -> &'static str {
        match self {
            OutputType::MultipleChoice => "multiple_choice",
            OutputType::GenerateUntil => "generate_until",
            OutputType::Loglikelihood => "loglikelihood",
            OutputType::LoglikelihoodRolling => "loglikelihood_rolling",
        }
    }

    /// lm-eval's metrics when a task names none.
    pub fn default_metrics(self) -> &'static [&'static str] {
        match self {
            OutputType::MultipleChoice => &[ACC.name, ACC_NORM.name],
            OutputType::GenerateUntil => &[EXACT_MATCH.name],
            OutputType::Loglikelihood => &[PERPLEXITY.name, ACC.name],
            OutputType::LoglikelihoodRolling => &[
                WORD_PERPLEXITY.name,
                BYTE_PERPLEXITY.name,
                BITS_PER_BYTE.name,
            ],
        }
    }
}

// lm-eval's defaults, one definition each: the TOML reader, `TaskSpec::for_docs` and
// the YAML config's translation all take them from here.
pub(crate) fn space() -> String {
    " ".into()
}
pub(crate) fn blank_line() -> String {
    "\n\n".into()
}
pub(crate) fn max_gen_toks() -> usize {
    256
}
fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}
pub(crate) fn invalid() -> String {
    "[invalid]".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerationKwargs {
    /// Stop strings (cut from the output). The tokenizer's EOS text is always added.
    #[serde(default)]
    pub until: Vec<String>,
    #[serde(default = "max_gen_toks")]
    pub max_gen_toks: usize,
    /// lm-eval's sampling options: accepted where they mean greedy decoding (emergent
    /// decodes greedily), refused where they would sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub do_sample: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_beams: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repetition_penalty: Option<f64>,
}

impl Default for GenerationKwargs {
    fn default() -> Self {
        GenerationKwargs {
            until: Vec::new(),
            max_gen_toks: max_gen_toks(),
            do_sample: None,
            temperature: None,
            top_p: None,
            top_k: None,
            min_p: None,
            num_beams: None,
            repetition_penalty: None,
        }
    }
}

impl GenerationKwargs {
    /// Refuses options that make decoding other than greedy, naming the option.
    pub fn check_greedy(&self) -> Result<()> {
        let why = "emergent decodes greedily, as lm-eval does with `do_sample: false`";
        if self.do_sample == Some(true) {
            bail!("generation_kwargs.do_sample is true: sampling is not supported ({why})");
        }
        if self.num_beams.is_some_and(|b| b > 1) {
            bail!(
                "generation_kwargs.num_beams is {}: beam search is not supported ({why})",
                self.num_beams.unwrap_or(1)
            );
        }
        if let Some(r) = self.repetition_penalty.filter(|&r| r != 1.0) {
            bail!("generation_kwargs.repetition_penalty is {r}: only 1.0 is supported ({why})");
        }
        Ok(())
    }
}

/// What a filter does to a response before `take_first`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FilterFunction {
    /// lm-eval's `regex`: the selected match of `regex_pattern`, or `fallback`.
    #[default]
    Regex,
    /// lm-eval's `remove_whitespace`: leading and trailing whitespace removed.
    RemoveWhitespace,
}

/// Answer extraction: one of lm-eval's filters followed by `take_first`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterSpec {
    pub name: String,
    #[serde(default)]
    pub function: FilterFunction,
    /// Required by `regex`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub regex_pattern: String,
    /// Which match to keep (negative counts from the end).
    #[serde(default)]
    pub group_select: i64,
    #[serde(default = "invalid")]
    pub fallback: String,
}

/// How few-shot examples are drawn (lm-eval's `fewshot_config`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sampler {
    /// `random.Random(1234).sample`, as lm-eval's default sampler.
    #[default]
    Default,
    /// The first n documents of the few-shot split, in file order (MMLU's canonical shots).
    FirstN,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FewshotConfig {
    #[serde(default)]
    pub sampler: Sampler,
    /// Only few-shot documents whose field of this name equals the document's own
    /// (emergent's way to run lm-eval's per-subject MMLU tasks over one combined file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_field: Option<String>,
}

/// A metric and its options (`exact_match` takes lm-eval's normalisations).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricSpec {
    pub metric: String,
    #[serde(default)]
    pub ignore_case: bool,
    #[serde(default)]
    pub ignore_punctuation: bool,
    #[serde(default)]
    pub ignore_numbers: bool,
    #[serde(default)]
    pub regexes_to_ignore: Vec<String>,
    /// lm-eval's aggregation; only each metric's own is accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub higher_is_better: Option<bool>,
}

/// A task spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    pub task: String,
    pub output_type: OutputType,
    /// Split name → data file (JSONL, JSON, CSV or Parquet), relative to the spec
    /// (lm-eval's `dataset_kwargs.data_files`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data_files: BTreeMap<String, String>,
    /// Without `data_files`: the data set's name on the Hub, whose local copy is looked
    /// for under `--data DIR` (see [`crate::dataset_candidates`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_name: Option<String>,
    /// The name shown for the task (lm-eval's `task_alias`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// lm-eval's `metadata.version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<Json>,
    /// The evaluated split; when neither it nor `validation_split` is given, `test`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_split: Option<String>,
    /// Evaluated when there is no `test_split` (lm-eval's rule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_split: Option<String>,
    /// Few-shot examples come from here when there is no `fewshot_split`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training_split: Option<String>,
    /// Where few-shot examples come from: else the training, validation, then test split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fewshot_split: Option<String>,
    pub doc_to_text: Field,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc_to_choice: Option<Field>,
    pub doc_to_target: Field,
    #[serde(default = "space")]
    pub target_delimiter: String,
    #[serde(default = "blank_line")]
    pub fewshot_delimiter: String,
    #[serde(default)]
    pub num_fewshot: usize,
    #[serde(default, skip_serializing_if = "is_default")]
    pub fewshot_config: FewshotConfig,
    /// Text (a template) put before the few-shot examples.
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub generation_kwargs: GenerationKwargs,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filter_list: Vec<FilterSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metric_list: Vec<MetricSpec>,
    /// The random-guess level of the main metric; 1/k for k choices when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<f64>,
}

/// One document with its spec fields resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct DocFields {
    pub text: Resolved,
    pub choices: Option<Vec<String>>,
    pub target: Resolved,
}

#[derive(Debug, Clone)]
pub struct Task {
    pub spec: TaskSpec,
    pub path: PathBuf,
    pub docs: Vec<Json>,
    pub fields: Vec<DocFields>,
    pub fewshot_docs: FewshotPool,
    pub templates: std::sync::Arc<Templates>,
    /// Every data file read (the scored split's, then the few-shot split's).
    pub data_paths: Vec<PathBuf>,
    /// For a task read from lm-eval YAML: its configuration as lm-eval reports it.
    pub lmeval_config: Option<Json>,
}

/// Where a task's few-shot examples come from.
#[derive(Debug, Clone)]
pub enum FewshotPool {
    /// The scored split itself.
    Scored,
    Docs(Vec<Json>),
    /// The few-shot split could not be read (the error, given if examples are asked for).
    Missing(String),
}

/// A simple document (prompt, choices and gold index, or answer) for generated tasks.
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

impl TaskSpec {
    /// lm-eval's `test_split`, with emergent's default (`test`) when no split is named.
    fn declared_test_split(&self) -> Option<&str> {
        match (&self.test_split, &self.validation_split) {
            (None, None) => Some("test"),
            (t, _) => t.as_deref(),
        }
    }

    /// The split that is scored: the test split, else the validation split.
    pub fn eval_split(&self) -> &str {
        self.declared_test_split()
            .or(self.validation_split.as_deref())
            .unwrap_or("test")
    }

    /// Where few-shot examples come from, as lm-eval chooses.
    pub fn fewshot_pool_split(&self) -> &str {
        self.fewshot_split
            .as_deref()
            .or(self.training_split.as_deref())
            .or(self.validation_split.as_deref())
            .unwrap_or_else(|| self.eval_split())
    }

    /// Whether few-shot draws leave the document out (one extra drawn, then dropped):
    /// lm-eval does so when `fewshot_split` equals `test_split` (both unset included);
    /// emergent also whenever the pool is the scored split, so a document never
    /// shows its own answer.
    pub fn fewshot_excludes_doc(&self) -> bool {
        self.fewshot_split.as_deref() == self.test_split.as_deref()
            || self.fewshot_pool_split() == self.eval_split()
    }

    /// A spec over [`Doc`] fields, stored in `NAME.jsonl` beside it.
    pub fn for_docs(task: &str, output_type: OutputType) -> TaskSpec {
        let mc = output_type == OutputType::MultipleChoice;
        TaskSpec {
            task: task.into(),
            output_type,
            data_files: BTreeMap::from([("test".into(), format!("{task}.jsonl"))]),
            dataset_path: None,
            dataset_name: None,
            alias: None,
            version: None,
            test_split: None,
            validation_split: None,
            training_split: None,
            fewshot_split: None,
            doc_to_text: Field::Text("prompt".into()),
            doc_to_choice: mc.then(|| Field::Text("choices".into())),
            doc_to_target: Field::Text(if mc { "gold" } else { "answer" }.into()),
            target_delimiter: space(),
            fewshot_delimiter: blank_line(),
            num_fewshot: 0,
            fewshot_config: FewshotConfig::default(),
            description: String::new(),
            generation_kwargs: GenerationKwargs::default(),
            filter_list: Vec::new(),
            metric_list: Vec::new(),
            baseline: None,
        }
    }
}

impl Task {
    /// The random-guess level of the main metric.
    pub fn baseline(&self) -> f64 {
        if let Some(b) = self.spec.baseline {
            return b;
        }
        match self.spec.output_type {
            OutputType::MultipleChoice => {
                let k: f64 = self
                    .fields
                    .iter()
                    .map(|d| 1.0 / d.choices.as_ref().map_or(1, |c| c.len().max(1)) as f64)
                    .sum();
                k / self.fields.len().max(1) as f64
            }
            _ => 0.0,
        }
    }

    /// Resolves a document's fields (a template error names the task and the field).
    pub fn resolve(&self, doc: &Json) -> Result<DocFields> {
        resolve(&self.spec, &self.templates, doc)
    }
}

pub(crate) fn resolve(spec: &TaskSpec, t: &Templates, doc: &Json) -> Result<DocFields> {
    let task = &spec.task;
    let has_choices = spec.doc_to_choice.is_some();
    // The template's text is part of the message: minijinja names no variable.
    let named = |field: &str, f: &Field, e: minijinja::Error| {
        let source = match f {
            Field::Text(t) => format!(" {t:?}"),
            _ => String::new(),
        };
        anyhow!("task `{task}`: template `{field}`{source}: {e:#}")
    };
    let choices = match &spec.doc_to_choice {
        Some(f) => Some(
            t.choices(f, doc)
                .map_err(|e| named("doc_to_choice", f, e))?,
        ),
        None => None,
    };
    let text = t
        .text(&spec.doc_to_text, doc, has_choices)
        .map_err(|e| named("doc_to_text", &spec.doc_to_text, e))?;
    let target = t
        .target(&spec.doc_to_target, doc, has_choices)
        .map_err(|e| named("doc_to_target", &spec.doc_to_target, e))?;
    Ok(DocFields {
        text,
        choices,
        target,
    })
}

/// Checks what scoring relies on: choices present, indices in range.
pub(crate) fn check(spec: &TaskSpec, f: &DocFields) -> Result<()> {
    if spec.output_type != OutputType::MultipleChoice {
        if let Resolved::Index(i) = f.target {
            if let Some(c) = &f.choices {
                if i >= c.len() {
                    bail!(
                        "field `doc_to_target` is {i}, out of range for {} choices",
                        c.len()
                    );
                }
            }
        }
        return Ok(());
    }
    let Some(choices) = &f.choices else {
        bail!("a multiple_choice task needs `doc_to_choice`");
    };
    if choices.is_empty() {
        bail!("the choice list (`doc_to_choice`) is empty");
    }
    let (gold_field, gold) = match (&f.text, &f.target) {
        (Resolved::Index(i), _) => ("doc_to_text", vec![*i]),
        (_, Resolved::Index(i)) => ("doc_to_target", vec![*i]),
        (_, Resolved::Text(s)) => match choices.iter().position(|c| c == s) {
            Some(i) => ("doc_to_target", vec![i]),
            None => bail!("field `doc_to_target` is `{s}`, which is not one of the choices"),
        },
        (_, Resolved::List(l)) => (
            "doc_to_target",
            l.iter().map(|s| s.parse().unwrap_or(usize::MAX)).collect(),
        ),
    };
    for g in gold {
        if g >= choices.len() {
            bail!(
                "field `{gold_field}` gives answer index {}, out of range for {} choices",
                if g == usize::MAX {
                    "(not a number)".to_string()
                } else {
                    g.to_string()
                },
                choices.len()
            );
        }
    }
    Ok(())
}

impl Task {
    /// A text file as a rolling-log-likelihood task of one document, named
    /// `text-STEM` (`eval --text FILE`, `bench eval --text FILE`).
    pub fn from_text_file(path: &Path) -> Result<Task> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("text");
        Task::from_texts(&format!("text-{stem}"), path, vec![text])
    }

    /// A rolling-log-likelihood task over texts held in memory (`eval --text FILE`):
    /// one document `{"text": …}` per text.
    pub fn from_texts(name: &str, path: &Path, texts: Vec<String>) -> Result<Task> {
        let mut spec = TaskSpec::for_docs(name, OutputType::LoglikelihoodRolling);
        spec.data_files.clear();
        spec.doc_to_text = Field::Text(String::new());
        spec.doc_to_target = Field::Text("text".into());
        let templates = std::sync::Arc::new(Templates::default());
        let docs: Vec<Json> = texts
            .into_iter()
            .map(|t| serde_json::json!({ "text": t }))
            .collect();
        let fields = docs
            .iter()
            .map(|d| resolve(&spec, &templates, d))
            .collect::<Result<Vec<_>>>()?;
        Ok(Task {
            spec,
            path: path.into(),
            docs,
            fields,
            fewshot_docs: FewshotPool::Scored,
            templates,
            data_paths: vec![path.into()],
            lmeval_config: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::load_task;

    fn spec(dir: &Path, body: &str) -> PathBuf {
        let p = dir.join("t.toml");
        std::fs::write(
            &p,
            format!(
                "task = \"t\"\noutput_type = \"multiple_choice\"\ndata_files = {{ test = \"t.jsonl\" }}\n\
                 doc_to_text = \"{{{{q}}}}\"\ndoc_to_choice = \"choices\"\ndoc_to_target = \"gold\"\n{body}"
            ),
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
                "{\"q\": \"q\", \"choices\": [\"a\"], \"gold\": 3}\n",
                "out of range",
            ),
            ("{\"q\": \"q\", \"choices\": [], \"gold\": 0}\n", "is empty"),
            (
                "{\"q\": \"q\", \"choices\": [\"a\"]}\n",
                "t.jsonl:1: field `doc_to_target`",
            ),
            (
                "{\"choices\": [\"a\"], \"gold\": 0}\n",
                "template `doc_to_text`",
            ),
            (
                "{\"q\": \"q\", \"choices\": [\"a\"], \"gold\": 0}\n{bad\n",
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
