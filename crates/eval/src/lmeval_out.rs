//! lm-evaluation-harness's output files, key for key: the results JSON (`results`,
//! `groups`, `group_subtasks`, `configs`, `versions`, `n-shot`, `higher_is_better`,
//! `n-samples`, `config`, `task_hashes`, …) and the per-sample JSONL (`doc_id`, `doc`,
//! `target`, `arguments`, `resps`, `filtered_resps`, metrics and the three hashes).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::{json, Map, Value as Json};

use crate::metrics::{MetricValue, TaskResult};
use crate::py::{py_bool, py_float, py_json_dumps, py_repr_str, py_str, sha256_hex};
use crate::pyrandom::PyRandom;
use crate::score::{SampleRecord, BYTES, WORDS};
use crate::task::{OutputType, Task};
use crate::template::Resolved;
use crate::yaml::{Group, Node};
use emergent_metrics::{ACC, BITS_PER_BYTE, BYTE_PERPLEXITY, PERPLEXITY, WORD_PERPLEXITY};

/// One scored task, as the output files need it.
pub struct TaskRun<'a> {
    pub task: &'a Task,
    pub result: &'a TaskResult,
    pub records: &'a [SampleRecord],
}

/// How the model was run: lm-eval's top-level `config` and model fields.
#[derive(Debug, Clone, Default)]
pub struct RunInfo {
    /// lm-eval's model type name (`hf`, `gguf`).
    pub model: String,
    pub model_args: Map<String, Json>,
    pub model_name: String,
    pub num_parameters: usize,
    pub batch_size: String,
    pub device: String,
    pub limit: Option<f64>,
    pub random_seed: u64,
    pub numpy_seed: u64,
    pub torch_seed: u64,
    pub fewshot_seed: u64,
    pub max_length: usize,
    pub eot_token_id: Option<u32>,
    /// (text, id) of the BOS, EOS and padding tokens.
    pub bos_token: Option<(String, u32)>,
    pub eos_token: Option<(String, u32)>,
    pub chat_template: Option<String>,
    pub system_instruction: Option<String>,
    pub fewshot_as_multiturn: Option<bool>,
    /// Seconds since the Unix epoch.
    pub start_time: f64,
    pub end_time: f64,
}

impl RunInfo {
    /// lm-eval's file-name form of the model name (`/a/b` → `__a__b`).
    pub fn model_name_sanitized(&self) -> String {
        let re = regex::Regex::new(r#"[\"<>:/|\\?*\[\]]+"#).expect("valid pattern");
        re.replace_all(&self.model_name, "__").into_owned()
    }
}

/// The filters of a task's responses: the task's, or lm-eval's `none`.
pub fn filter_keys(task: &Task) -> Vec<String> {
    if task.spec.output_type == OutputType::GenerateUntil && !task.spec.filter_list.is_empty() {
        task.spec
            .filter_list
            .iter()
            .map(|f| f.name.clone())
            .collect()
    } else {
        vec!["none".into()]
    }
}

/// The metrics lm-eval reports for a task: its `metric_list`, else the defaults.
pub fn lmeval_metrics(task: &Task) -> Vec<(String, bool)> {
    if task.spec.metric_list.is_empty() {
        return task
            .spec
            .output_type
            .default_metrics()
            .iter()
            .map(|m| (m.to_string(), higher_is_better(m)))
            .collect();
    }
    task.spec
        .metric_list
        .iter()
        .map(|m| {
            (
                m.metric.clone(),
                m.higher_is_better
                    .unwrap_or_else(|| higher_is_better(&m.metric)),
            )
        })
        .collect()
}

/// lm-eval's `higher_is_better` of a metric.
fn higher_is_better(metric: &str) -> bool {
    !emergent_metrics::lower_is_better(metric)
}

/// The name emergent's result gives lm-eval's `metric,filter`.
fn ours<'r>(task: &Task, r: &'r TaskResult, metric: &str, filter: &str) -> Option<&'r MetricValue> {
    let name =
        if task.spec.output_type == OutputType::GenerateUntil && task.spec.filter_list.len() > 1 {
            emergent_metrics::key(metric, filter)
        } else {
            metric.to_string()
        };
    r.metrics.iter().find(|m| m.metric == name)
}

fn number_or_na(x: f64) -> Json {
    serde_json::Number::from_f64(x).map_or(json!("N/A"), Json::Number)
}

/// lm-eval's bootstrap standard error of `perplexity` (`exp(-mean)`): 100 chunks of 1000
/// resamples, chunk `i` drawn by `random.Random(i).choices`, then the sample standard
/// deviation of the 100,000 perplexities.
pub fn bootstrap_perplexity_stderr(lls: &[f64]) -> f64 {
    let n = lls.len();
    let mut res = Vec::with_capacity(100_000);
    for chunk in 0..100u64 {
        let mut rnd = PyRandom::new(chunk);
        for _ in 0..1000 {
            let picks = rnd.choices(n);
            let mean = picks.iter().map(|&i| lls[i]).sum::<f64>() / n as f64;
            res.push((-mean).exp());
        }
    }
    let mu = res.iter().sum::<f64>() / res.len() as f64;
    (res.iter().map(|x| (x - mu) * (x - mu)).sum::<f64>() / (res.len() - 1) as f64).sqrt()
}

/// A task's entry of `results`: `name`, `alias`, `sample_len`, then `metric,filter` and
/// `metric_stderr,filter` for each metric and filter.
pub fn task_entry(run: &TaskRun) -> Map<String, Json> {
    let t = run.task;
    let mut m = Map::new();
    m.insert("name".into(), json!(t.spec.task));
    m.insert(
        "alias".into(),
        json!(t.spec.alias.clone().unwrap_or_else(|| t.spec.task.clone())),
    );
    m.insert("sample_len".into(), json!(run.records.len()));
    for filter in filter_keys(t) {
        for (metric, _) in lmeval_metrics(t) {
            let Some(v) = ours(t, run.result, &metric, &filter) else {
                continue;
            };
            let stderr = if metric == PERPLEXITY.name && run.records.len() > 1 {
                let lls: Vec<f64> = run.records.iter().map(|r| r.loglikelihoods[0]).collect();
                json!(bootstrap_perplexity_stderr(&lls))
            } else {
                number_or_na(v.stderr)
            };
            let stderr_name = format!("{metric}_stderr");
            m.insert(
                emergent_metrics::key(&metric, &filter),
                number_or_na(v.value),
            );
            m.insert(emergent_metrics::key(&stderr_name, &filter), stderr);
        }
    }
    m
}

/// lm-eval's `Group.aggregate`: each aggregated metric over the group's leaf tasks,
/// weighted by their sizes or not, with the pooled (or unweighted-mean) standard error.
pub fn group_entry(g: &Group, entries: &BTreeMap<String, Map<String, Json>>) -> Map<String, Json> {
    let mut m = Map::new();
    m.insert(
        "alias".into(),
        json!(g.alias.clone().unwrap_or_else(|| g.name.clone())),
    );
    m.insert("name".into(), json!(g.name));
    if g.aggregate.is_empty() {
        return m;
    }
    let leaves: Vec<&str> = g
        .children
        .iter()
        .flat_map(Node::tasks)
        .map(|t| t.spec.task.as_str())
        .collect();
    let size =
        |e: &Map<String, Json>| e.get("sample_len").and_then(Json::as_u64).unwrap_or(0) as f64;
    let sample_len: f64 = leaves
        .iter()
        .filter_map(|t| entries.get(*t))
        .map(size)
        .sum();
    m.insert("sample_len".into(), json!(sample_len as u64));
    let mut counts = Map::new();
    for a in &g.aggregate {
        let filters = a.filter_list.clone().unwrap_or_else(|| {
            let prefix = format!("{},", a.metric);
            let mut found: Vec<String> = Vec::new();
            for t in &leaves {
                for k in entries
                    .get(*t)
                    .map(|e| e.keys().cloned().collect::<Vec<_>>())
                    .unwrap_or_default()
                {
                    if let Some(f) = k.strip_prefix(&prefix) {
                        if !found.iter().any(|x| x == f) {
                            found.push(f.to_string());
                        }
                    }
                }
            }
            found
        });
        for f in filters {
            let key = format!("{},{f}", a.metric);
            let se_key = format!("{}_stderr,{f}", a.metric);
            let mut values = Vec::new();
            let mut sizes = Vec::new();
            let mut stderrs = Vec::new();
            for t in &leaves {
                let Some(e) = entries.get(*t) else { continue };
                let Some(v) = e.get(&key).and_then(Json::as_f64) else {
                    continue;
                };
                values.push(v);
                sizes.push(size(e));
                if let Some(se) = e.get(&se_key) {
                    stderrs.push(se.as_f64());
                }
            }
            if values.is_empty() {
                continue;
            }
            let w: Vec<f64> = if a.weight_by_size {
                sizes.clone()
            } else {
                vec![1.0; sizes.len()]
            };
            let mean =
                values.iter().zip(&w).map(|(v, w)| v * w).sum::<f64>() / w.iter().sum::<f64>();
            m.insert(key.clone(), json!(mean));
            counts.insert(key, json!(sizes.iter().sum::<f64>() as u64));
            let se = if stderrs.len() == values.len() && stderrs.iter().all(Option::is_some) {
                let se: Vec<f64> = stderrs.into_iter().flatten().collect();
                if a.weight_by_size {
                    let total: f64 = sizes.iter().sum();
                    let pooled = sizes
                        .iter()
                        .zip(&se)
                        .map(|(n, s)| (n - 1.0) * s * s * n)
                        .sum::<f64>()
                        / (total - sizes.len() as f64);
                    json!((pooled / total).sqrt())
                } else {
                    json!(se.iter().map(|s| s * s).sum::<f64>().sqrt() / se.len() as f64)
                }
            } else {
                json!("N/A")
            };
            m.insert(se_key, se);
        }
    }
    if !counts.is_empty() {
        m.insert("sample_count".into(), Json::Object(counts));
    }
    m
}

/// What lm-eval's `doc_to_target` gives, as `str()` prints it.
fn target_text(task: &Task, doc_id: usize) -> String {
    match &task.fields[doc_id].target {
        Resolved::Index(i) => i.to_string(),
        Resolved::Text(s) => s.clone(),
        Resolved::List(l) => {
            let items: Vec<String> = l.iter().map(|s| py_repr_str(s)).collect();
            format!("[{}]", items.join(", "))
        }
    }
}

/// The generation arguments lm-eval passes with each prompt.
pub fn generation_args(task: &Task) -> Json {
    task.lmeval_config
        .as_ref()
        .and_then(|c| c.get("generation_kwargs").cloned())
        .unwrap_or_else(|| serde_json::to_value(&task.spec.generation_kwargs).unwrap_or(Json::Null))
}

/// lm-eval's logged samples of a task, one per document and filter (filters outer).
pub fn sample_lines(run: &TaskRun) -> Vec<Json> {
    let t = run.task;
    let metrics: Vec<String> = lmeval_metrics(t).into_iter().map(|(m, _)| m).collect();
    let mut out = Vec::new();
    for filter in filter_keys(t) {
        for r in run.records {
            out.push(sample_line(t, r, &filter, &metrics));
        }
    }
    out
}

fn sample_line(t: &Task, r: &SampleRecord, filter: &str, metrics: &[String]) -> Json {
    let i = r.doc_id;
    let target = target_text(t, i);
    let ll_pair = |k: usize| json!([py_float(r.loglikelihoods[k]), py_bool(r.is_greedy[k])]);
    let (arguments, resps, filtered): (Vec<Vec<Json>>, Vec<Json>, Vec<Json>) =
        match t.spec.output_type {
            OutputType::MultipleChoice | OutputType::Loglikelihood => {
                let one_context = r.contexts.len() != r.continuations.len();
                let args = r
                    .continuations
                    .iter()
                    .enumerate()
                    .map(|(k, c)| {
                        let ctx = if one_context {
                            &r.contexts[0]
                        } else {
                            &r.contexts[k]
                        };
                        vec![json!(ctx), json!(c)]
                    })
                    .collect();
                let resps = (0..r.continuations.len())
                    .map(|k| json!([ll_pair(k)]))
                    .collect();
                let filtered = (0..r.continuations.len()).map(ll_pair).collect();
                (args, resps, filtered)
            }
            OutputType::GenerateUntil => {
                let out = r.prediction.as_str().unwrap_or_default().to_string();
                let f = r
                    .filtered
                    .get(filter)
                    .cloned()
                    .unwrap_or_else(|| out.clone());
                (
                    vec![vec![json!(r.contexts[0]), generation_args(t)]],
                    vec![json!([out])],
                    vec![json!(f)],
                )
            }
            OutputType::LoglikelihoodRolling => {
                let ll = py_float(r.loglikelihoods[0]);
                (
                    vec![vec![json!(r.contexts[0])]],
                    vec![json!([ll])],
                    vec![json!(ll)],
                )
            }
        };
    let prompt = arguments
        .first()
        .and_then(|a| a.first())
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_string();
    let mut args = Map::new();
    for (k, a) in arguments.into_iter().enumerate() {
        let inner: Map<String, Json> = a
            .into_iter()
            .enumerate()
            .map(|(j, x)| (format!("arg_{j}"), x))
            .collect();
        args.insert(format!("gen_args_{k}"), Json::Object(inner));
    }
    let doc = &t.docs[i];
    let mut m = Map::new();
    m.insert("doc_id".into(), json!(i));
    m.insert("doc".into(), doc.clone());
    m.insert("target".into(), json!(target));
    m.insert("arguments".into(), Json::Object(args));
    m.insert("resps".into(), Json::Array(resps));
    m.insert("filtered_resps".into(), Json::Array(filtered));
    m.insert("filter".into(), json!(filter));
    m.insert("metrics".into(), json!(metrics));
    m.insert("doc_hash".into(), json!(sha256_hex(&py_json_dumps(doc))));
    m.insert("prompt_hash".into(), json!(sha256_hex(&prompt)));
    m.insert("target_hash".into(), json!(sha256_hex(&target)));
    for metric in metrics {
        let filtered_name = emergent_metrics::key(metric, filter);
        let name = metric.as_str();
        let v = match name {
            _ if name == WORD_PERPLEXITY.name => json!([
                r.loglikelihoods[0],
                r.metrics.get(WORDS).map_or(0, |w| *w as u64)
            ]),
            _ if name == BYTE_PERPLEXITY.name || name == BITS_PER_BYTE.name => json!([
                r.loglikelihoods[0],
                r.metrics.get(BYTES).map_or(0, |b| *b as u64)
            ]),
            _ if name == PERPLEXITY.name => json!(r.loglikelihoods[0]),
            _ if name == ACC.name && t.spec.output_type == OutputType::Loglikelihood => {
                json!(r.is_greedy[0] as u8)
            }
            _ => match r
                .metrics
                .get(&filtered_name)
                .or_else(|| r.metrics.get(metric))
            {
                Some(x) => json!(x),
                None => continue,
            },
        };
        m.insert(metric.clone(), v);
    }
    Json::Object(m)
}

/// lm-eval's dump of a task's configuration, defaults filled in as its `TaskConfig` has them.
pub fn config_dump(task: &Task, shots: usize, info: &RunInfo) -> Json {
    let s = &task.spec;
    let mut c: Map<String, Json> = match &task.lmeval_config {
        Some(Json::Object(o)) => o.clone(),
        _ => {
            let mut o = Map::new();
            o.insert("task".into(), json!(s.task));
            o.insert("dataset_path".into(), json!("json"));
            o.insert("dataset_kwargs".into(), json!({"data_files": s.data_files}));
            for (k, v) in [
                ("test_split", &s.test_split),
                ("validation_split", &s.validation_split),
                ("training_split", &s.training_split),
                ("fewshot_split", &s.fewshot_split),
            ] {
                if let Some(v) = v {
                    o.insert(k.into(), json!(v));
                }
            }
            o.insert(
                "doc_to_text".into(),
                serde_json::to_value(&s.doc_to_text).unwrap_or(Json::Null),
            );
            o.insert(
                "doc_to_target".into(),
                serde_json::to_value(&s.doc_to_target).unwrap_or(Json::Null),
            );
            if let Some(ch) = &s.doc_to_choice {
                o.insert(
                    "doc_to_choice".into(),
                    serde_json::to_value(ch).unwrap_or(Json::Null),
                );
            }
            o.insert("output_type".into(), json!(s.output_type.name()));
            if s.output_type == OutputType::GenerateUntil {
                o.insert("generation_kwargs".into(), generation_args(task));
            }
            o
        }
    };
    let mut put = |k: &str, v: Json| {
        c.entry(k.to_string()).or_insert(v);
    };
    put("unsafe_code", json!(false));
    put("description", json!(s.description));
    put("target_delimiter", json!(s.target_delimiter));
    put("fewshot_delimiter", json!(s.fewshot_delimiter));
    put(
        "fewshot_config",
        json!({
            "sampler": match s.fewshot_config.sampler { crate::task::Sampler::Default => "default", crate::task::Sampler::FirstN => "first_n" },
            "split": s.fewshot_split,
            "process_docs": null,
            "fewshot_indices": null,
            "samples": null,
            "doc_to_text": s.doc_to_text,
            "doc_to_choice": s.doc_to_choice,
            "doc_to_target": s.doc_to_target,
            "gen_prefix": null,
            "fewshot_delimiter": s.fewshot_delimiter,
            "target_delimiter": s.target_delimiter,
        }),
    );
    put("output_type", json!(s.output_type.name()));
    put("repeats", json!(1));
    put("should_decontaminate", json!(false));
    c.insert("num_fewshot".into(), json!(shots));
    let mut meta = match c.get("metadata") {
        Some(Json::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    for (k, v) in &info.model_args {
        meta.insert(k.clone(), v.clone());
    }
    if let Some(name) = task.path.file_name().and_then(|n| n.to_str()) {
        meta.insert("config_source".into(), json!(name));
    }
    c.insert("metadata".into(), Json::Object(meta));
    Json::Object(c)
}

/// The results JSON of a run over `nodes`, whose tasks' runs are in `runs` by name.
/// `task_hashes` is filled from the logged samples (`sample_lines` per task), when given.
pub fn results_json(
    nodes: &[Node],
    runs: &BTreeMap<String, TaskRun>,
    info: &RunInfo,
    samples: Option<&[(String, Vec<Json>)]>,
) -> Json {
    let mut entries: BTreeMap<String, Map<String, Json>> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut configs = BTreeMap::new();
    let mut versions = BTreeMap::new();
    let mut nshot = BTreeMap::new();
    let mut higher = BTreeMap::new();
    let mut nsamples = Map::new();
    let mut hashes = Map::new();
    // A task in several groups is reported once.
    let mut seen = std::collections::BTreeSet::new();
    let all_tasks: Vec<&Task> = nodes
        .iter()
        .flat_map(Node::tasks)
        .filter(|t| seen.insert(t.spec.task.clone()))
        .collect();
    for t in &all_tasks {
        let Some(run) = runs.get(&t.spec.task) else {
            continue;
        };
        let name = t.spec.task.clone();
        entries.insert(name.clone(), task_entry(run));
        order.push(name.clone());
        configs.insert(name.clone(), config_dump(t, run.result.shots, info));
        // lm-eval reports a configured task without a version as version "Yaml".
        versions.insert(
            name.clone(),
            t.spec.version.clone().unwrap_or(json!("Yaml")),
        );
        nshot.insert(name.clone(), json!(run.result.shots));
        let hib: Map<String, Json> = lmeval_metrics(t)
            .into_iter()
            .map(|(m, h)| (m, json!(h)))
            .collect();
        higher.insert(name.clone(), Json::Object(hib));
        nsamples.insert(
            name.clone(),
            json!({"original": t.docs.len(), "effective": run.records.len()}),
        );
        let logged = samples.and_then(|all| all.iter().find(|(n, _)| *n == name));
        if let Some((_, lines)) = logged {
            hashes.insert(name, task_hash(lines));
        }
    }
    let mut groups = Map::new();
    let mut subtasks = Map::new();
    let mut all_groups = Vec::new();
    for n in nodes {
        collect_groups(n, &mut all_groups);
    }
    // Children before parents, as lm-eval aggregates them.
    for g in all_groups {
        let e = group_entry(g, &entries);
        let children: Vec<&str> = g.children.iter().map(Node::name).collect();
        subtasks.insert(g.name.clone(), json!(children));
        versions.insert(g.name.clone(), g.version.clone());
        let shots: Vec<&Json> = children.iter().filter_map(|c| nshot.get(*c)).collect();
        if !shots.is_empty() && shots.iter().all(|s| *s == shots[0]) {
            nshot.insert(g.name.clone(), shots[0].clone());
        }
        let hib = group_higher(&children, &higher);
        if !hib.is_empty() {
            higher.insert(g.name.clone(), Json::Object(hib));
        }
        if !g.aggregate.is_empty() {
            groups.insert(g.name.clone(), Json::Object(e.clone()));
        }
        entries.insert(g.name.clone(), e);
        order.push(g.name.clone());
    }
    let results: Map<String, Json> = order
        .iter()
        .filter_map(|n| entries.get(n).map(|e| (n.clone(), Json::Object(e.clone()))))
        .collect();
    let mut out = Map::new();
    out.insert("results".into(), Json::Object(results));
    if !groups.is_empty() {
        out.insert("groups".into(), Json::Object(groups));
    }
    out.insert("group_subtasks".into(), Json::Object(subtasks));
    out.insert("configs".into(), json!(configs));
    out.insert("versions".into(), json!(versions));
    out.insert("n-shot".into(), json!(nshot));
    out.insert("higher_is_better".into(), json!(higher));
    out.insert("n-samples".into(), Json::Object(nsamples));
    out.insert("config".into(), run_config(info));
    run_fields(&mut out, info, hashes);
    Json::Object(out)
}

/// lm-eval's task hash: the SHA-256 of every logged sample's three hashes joined.
fn task_hash(lines: &[Json]) -> Json {
    let joined: String = lines
        .iter()
        .map(|s| {
            ["doc_hash", "prompt_hash", "target_hash"]
                .iter()
                .map(|k| s[*k].as_str().unwrap_or_default())
                .collect::<String>()
        })
        .collect();
    json!(sha256_hex(&joined))
}

/// A group's direction per metric: its children's, or null where they disagree.
fn group_higher(children: &[&str], higher: &BTreeMap<String, Json>) -> Map<String, Json> {
    let mut hib = Map::new();
    for c in children {
        if let Some(Json::Object(h)) = higher.get(*c) {
            for (m, v) in h {
                match hib.get(m) {
                    None => {
                        hib.insert(m.clone(), v.clone());
                    }
                    Some(old) if old != v => {
                        hib.insert(m.clone(), Json::Null);
                    }
                    _ => {}
                }
            }
        }
    }
    hib
}

/// lm-eval's `config`: how the model was run.
fn run_config(info: &RunInfo) -> Json {
    json!({
            "model": info.model,
            "model_args": info.model_args,
            "model_num_parameters": info.num_parameters,
            "model_dtype": "torch.float32",
            "batch_size": info.batch_size,
            "batch_sizes": [],
            "device": info.device,
            "use_cache": null,
            "limit": info.limit,
            "bootstrap_iters": 100000,
            "gen_kwargs": {},
            "random_seed": info.random_seed,
            "numpy_seed": info.numpy_seed,
            "torch_seed": info.torch_seed,
            "fewshot_seed": info.fewshot_seed,
    })
}

/// The run's top-level fields after `config`, in lm-eval's order: dates, tokenizer,
/// task hashes, model, system instruction, chat template, times.
fn run_fields(out: &mut Map<String, Json>, info: &RunInfo, hashes: Map<String, Json>) {
    out.insert("date".into(), json!(info.start_time));
    out.insert("emergent_version".into(), json!(env!("CARGO_PKG_VERSION")));
    let tok = |t: &Option<(String, u32)>| {
        t.as_ref()
            .map_or(Json::Null, |(s, id)| json!([s, id.to_string()]))
    };
    out.insert("tokenizer_pad_token".into(), tok(&info.eos_token));
    out.insert("tokenizer_eos_token".into(), tok(&info.eos_token));
    out.insert("tokenizer_bos_token".into(), tok(&info.bos_token));
    out.insert("eot_token_id".into(), json!(info.eot_token_id));
    out.insert("max_length".into(), json!(info.max_length));
    out.insert("task_hashes".into(), Json::Object(hashes));
    out.insert("model_source".into(), json!(info.model));
    out.insert("model_name".into(), json!(info.model_name));
    out.insert(
        "model_name_sanitized".into(),
        json!(info.model_name_sanitized()),
    );
    out.insert("system_instruction".into(), json!(info.system_instruction));
    out.insert(
        "system_instruction_sha".into(),
        json!(info.system_instruction.as_deref().map(sha256_hex)),
    );
    out.insert(
        "fewshot_as_multiturn".into(),
        json!(info.fewshot_as_multiturn),
    );
    out.insert("chat_template".into(), json!(info.chat_template));
    out.insert(
        "chat_template_sha".into(),
        json!(info.chat_template.as_deref().map(sha256_hex)),
    );
    out.insert("start_time".into(), json!(info.start_time));
    out.insert("end_time".into(), json!(info.end_time));
    out.insert(
        "total_evaluation_time_seconds".into(),
        json!(py_str(&json!(info.end_time - info.start_time))),
    );
}

fn collect_groups<'n>(n: &'n Node, out: &mut Vec<&'n Group>) {
    if let Node::Group(g) = n {
        for c in &g.children {
            collect_groups(c, out);
        }
        if !out.iter().any(|x| x.name == g.name) {
            out.push(g);
        }
    }
}

/// lm-eval's date id of a file name: local ISO time with `:` as `-`.
pub fn date_id(unix: f64) -> String {
    let secs = unix.floor() as i64;
    let micros = ((unix - secs as f64) * 1e6).round().min(999_999.0) as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + (m <= 2) as i64;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}-{:02}-{:02}.{micros:06}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Where lm-eval writes a run's files for `--output_path PATH`: a `.json` path names the
/// results file (the date added to its stem) and its folder receives the samples;
/// otherwise `PATH/<model_name_sanitized>/`.
pub fn output_files(path: &Path, info: &RunInfo, date: &str) -> (PathBuf, PathBuf) {
    if path.extension().and_then(|e| e.to_str()) == Some("json") {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("results");
        let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        (dir.join(format!("{stem}_{date}.json")), dir)
    } else {
        let dir = path.join(info.model_name_sanitized());
        (dir.join(format!("results_{date}.json")), dir)
    }
}

/// Writes the results JSON and (when `samples` is given) one samples file per task.
pub fn write_outputs(
    path: &Path,
    info: &RunInfo,
    results: &Json,
    samples: Option<&[(String, Vec<Json>)]>,
) -> Result<Vec<PathBuf>> {
    let date = date_id(info.end_time);
    let (file, dir) = output_files(path, info, &date);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut written = Vec::new();
    for (task, lines) in samples.unwrap_or_default() {
        let p = dir.join(format!("samples_{task}_{date}.jsonl"));
        let mut text = String::new();
        for l in lines {
            text.push_str(&serde_json::to_string(l)?);
            text.push('\n');
        }
        std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?;
        written.push(p);
    }
    std::fs::write(&file, serde_json::to_string_pretty(results)?)
        .with_context(|| format!("writing {}", file.display()))?;
    written.insert(0, file);
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_lm_evals_file_ids() {
        assert_eq!(date_id(1796191682.109303), "2026-12-02T06-08-02.109303");
    }
}
