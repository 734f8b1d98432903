//! Tasks and their scoring, following lm-evaluation-harness. A task is a spec (TOML,
//! with Jinja templates) and documents (JSONL); a model answers log-likelihood requests
//! (batched over a shared prompt's key/value cache) and greedy generation requests.

mod extract;
mod metrics;
mod model_io;
mod pyrandom;
mod score;
mod task;
mod template;

pub use extract::{ExactMatch, Filter};
pub use metrics::{argmax, mean_stderr, MetricValue, TaskResult};
pub use model_io::{load_model, Model};
pub use pyrandom::PyRandom;
pub use score::{evaluate, EvalOptions, SampleRecord, Scorer};
pub use task::{
    load_task, load_task_with_data, write_task, Doc, DocFields, FewshotConfig, FewshotPool,
    FilterFunction, FilterSpec, GenerationKwargs, MetricSpec, OutputType, Sampler, Task, TaskSpec,
};
pub use template::{Field, Resolved, Templates};
