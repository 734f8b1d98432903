//! Tasks and their scoring, following lm-evaluation-harness. A task is a spec (emergent's
//! TOML or lm-eval's YAML, with Jinja templates; groups of tasks aggregated as lm-eval
//! aggregates them) and documents (JSONL, JSON, CSV or Parquet); a model answers
//! log-likelihood requests (batched over a shared prompt's key/value cache), rolling
//! log-likelihoods over whole texts and greedy generation requests. Results and
//! per-sample records are also written as lm-eval's own output files.
//!
//! The spine, in the order data flows: `task` (the spec and a loaded task) ← `yaml` (lm-eval
//! config files; a group's tasks built by the function `load` gives it) and
//! `lmeval_config` (a config as a spec, and a spec as YAML) ← `load` (files and names to
//! tasks) and `spec_files` (a spec written with its lm-eval twin and documents) → `score` (requests to a model, records, metrics) → `lmeval_out` and `table`
//! (lm-eval's files and table) ← `harness` (an `eval --model` from request to files).
//! `py` and `pyrandom` hold the Python behaviour lm-eval's numbers depend on.

pub mod bench;
mod chat;
mod extract;
pub mod harness;
mod lmeval_config;
mod lmeval_out;
mod load;
mod metrics;
mod model_io;
mod py;
mod pyrandom;
mod score;
mod spec_files;
mod table;
mod task;
mod template;
mod yaml;

pub use chat::{maybe_delimit, ChatTemplate};
pub use extract::{ExactMatch, Filter};
pub use lmeval_config::to_lmeval_yaml;
pub use lmeval_out::{
    bootstrap_perplexity_stderr, config_dump, date_id, filter_keys, lmeval_metrics, output_files,
    results_json, sample_lines, write_outputs, RunInfo, TaskRun,
};
pub use load::{
    dataset_candidates, load_task, load_task_with_data, load_yaml_task, select_tasks, shipped_spec,
};
pub use metrics::{argmax, mean_stderr, MetricValue, TaskResult};
pub use model_io::{load_chat_template, load_model, Model};
pub use py::{is_py_space, py_float, py_json_dumps, py_str, sha256_hex};
pub use pyrandom::PyRandom;
pub use score::{evaluate, EvalOptions, SampleRecord, Scorer, BYTES, WORDS};
pub use spec_files::{twin_text, write_task};
pub use table::lmeval_table;
pub use task::{
    Doc, DocFields, FewshotConfig, FewshotPool, FilterFunction, FilterSpec, GenerationKwargs,
    MetricSpec, OutputType, Sampler, Task, TaskSpec,
};
pub use template::{Field, Resolved, Templates};
pub use yaml::{is_yaml, read_config, AggregateMetric, Config, Group, Node, Selector, TaskIndex};
