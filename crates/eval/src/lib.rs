//! Tasks and their scoring. A task is a spec (TOML) and documents (JSONL); a model
//! answers two kinds of request — log-likelihood of a continuation and greedy
//! generation — following lm-evaluation-harness's conventions.

mod metrics;
mod score;
mod task;

pub use metrics::{mean_stderr, MetricValue, TaskResult};
pub use score::{evaluate, loglikelihood, Scorer};
pub use task::{load_task, write_task, Doc, OutputType, Task, TaskSpec};
