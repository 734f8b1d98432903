//! The built-in world's tasks as task specs and JSONL documents, so they are scored
//! exactly like any task from files (and can be inspected or reused as files).

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Result};
use emergent_data::{TaskItem, World, WorldTask};
use emergent_eval::Field;
use emergent_eval::{
    write_task, Doc, FilterFunction, FilterSpec, MetricSpec, OutputType, TaskSpec,
};

fn doc(item: &TaskItem) -> Doc {
    match item {
        TaskItem::Choice {
            prompt,
            choices,
            gold,
        } => Doc::multiple_choice(prompt.clone(), choices.clone(), *gold),
        // WinoGrande's layout: the choices are contexts, the answer the shared continuation.
        TaskItem::Contexts {
            contexts,
            continuation,
            gold,
        } => Doc {
            prompt: String::new(),
            choices: contexts.clone(),
            gold: Some(*gold),
            answer: Some(continuation.clone()),
        },
        TaskItem::Answer { prompt, answer } => Doc::generation(prompt.clone(), answer.clone()),
    }
}

/// The spec that scores `task` as lm-evaluation-harness scores its counterpart.
fn spec(task: &WorldTask, num_fewshot: usize) -> TaskSpec {
    let first = task.items.first();
    let output_type = match first {
        Some(TaskItem::Answer { .. }) => OutputType::GenerateUntil,
        _ => OutputType::MultipleChoice,
    };
    let mut s = TaskSpec::for_docs(&task.name, output_type);
    s.target_delimiter = task.lang.answer_gap().into();
    match first {
        Some(TaskItem::Contexts { .. }) => {
            s.doc_to_text = Field::Text("gold".into());
            s.doc_to_target = Field::Text("answer".into());
            s.target_delimiter = String::new();
        }
        // Continuations that carry their own leading space.
        Some(TaskItem::Choice { choices, .. }) if choices.iter().all(|c| c.starts_with(' ')) => {
            s.target_delimiter = String::new();
        }
        _ => {}
    }
    s.description = task.description.clone();
    if !task.fewshot.is_empty() {
        s.data_files
            .insert("train".into(), format!("{}-train.jsonl", task.name));
        s.training_split = Some("train".into());
        s.num_fewshot = num_fewshot;
    }
    s.generation_kwargs.until = task.until.clone();
    s.generation_kwargs.max_gen_toks = task.max_gen_toks;
    if output_type == OutputType::GenerateUntil {
        s.filter_list = vec![if task.numeric_answer {
            // The whole worked solution, both steps and the answer: answers alone repeat
            // (sums of small numbers) and a guess would score; a guessed solution does not.
            FilterSpec {
                name: "solution".into(),
                function: FilterFunction::Regex,
                regex_pattern: SOLUTION.into(),
                group_select: 0,
                fallback: "[invalid]".into(),
            }
        } else {
            FilterSpec {
                name: "remove-whitespace".into(),
                function: FilterFunction::RemoveWhitespace,
                regex_pattern: String::new(),
                group_select: 0,
                fallback: "[invalid]".into(),
            }
        }];
        s.metric_list = vec![MetricSpec {
            metric: emergent_metrics::EXACT_MATCH.name.into(),
            ..Default::default()
        }];
    }
    s
}

/// A worked two-step solution in either language: `8 + 2 = 10. 10 - 7 = 3. #### 3`.
const SOLUTION: &str =
    "([0-9]+ \\+ [0-9]+ = [0-9]+(?:\\. |。)[0-9]+ - [0-9]+ = [0-9]+(?:\\. |。)#### [0-9]+)";

/// Writes built-in task `name` into `dir` and returns its spec's path. `num_fewshot`
/// overrides the task's own shot count when given.
pub fn write_builtin_task(
    world: &World,
    dir: &Path,
    name: &str,
    documents: usize,
    seed: u64,
    num_fewshot: Option<usize>,
) -> Result<PathBuf> {
    let task = world.task(name, documents, seed).map_err(|e| anyhow!(e))?;
    let spec = spec(&task, num_fewshot.unwrap_or(task.num_fewshot));
    let docs: Vec<Doc> = task.items.iter().map(doc).collect();
    let shots: Vec<Doc> = task.fewshot.iter().map(doc).collect();
    let mut splits: Vec<(&str, &[Doc])> = vec![("test", &docs)];
    if !shots.is_empty() {
        splits.push(("train", &shots));
    }
    write_task(dir, &spec, &splits)
}
