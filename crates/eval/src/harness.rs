//! `emergent eval --model`: one model, or several, on tasks, with lm-evaluation-harness's
//! flags, written as lm-eval's output files beside emergent's own. The binary turns its
//! arguments into a [`Request`] and draws what an [`Observer`] is told.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use emergent_engine::Backend;
use emergent_hub::Locator;
use serde_json::{json, Map, Value as Json};

use crate::{
    evaluate, load_chat_template, load_model, results_json, sample_lines, select_tasks,
    write_outputs, EvalOptions, Node, RunInfo, SampleRecord, Scorer, Task, TaskResult, TaskRun,
};

/// What to score and how, in lm-eval's terms (its command-line flags).
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// A Hugging Face checkpoint directory, a GGUF file, or lm-eval's model type `hf`
    /// (`gguf`) with `pretrained=PATH` in `model_args`.
    pub model: String,
    /// lm-eval's `key=value,…`: pretrained, revision, max_length, add_bos_token, dtype.
    pub model_args: Option<String>,
    /// The revision of a Hub repository the model names (`--revision`; `main` when
    /// neither this nor `revision=` in `model_args` names one).
    pub revision: Option<String>,
    /// Task names, groups, tags, YAML or TOML files, folders of them.
    pub tasks: Vec<String>,
    /// Folders of YAML task configs that `tasks` can name.
    pub include_path: Vec<PathBuf>,
    /// The shipped task specs' folder.
    pub shipped: PathBuf,
    /// Text files scored as rolling log-likelihoods (perplexity).
    pub text: Vec<PathBuf>,
    /// A count of documents, or below 1 a share of each task.
    pub limit: Option<String>,
    pub num_fewshot: Option<usize>,
    /// N, `auto` or `auto:N`.
    pub batch_size: Option<String>,
    pub device: Option<String>,
    /// lm-eval's results (and samples) go here.
    pub output_path: Option<PathBuf>,
    pub log_samples: bool,
    /// One seed for all four, or `python,numpy,torch,fewshot`.
    pub seed: Option<String>,
    pub apply_chat_template: bool,
    pub system_instruction: Option<String>,
    pub score_long_continuations: bool,
    /// Where shipped specs' and `dataset_path` tasks' documents live.
    pub data: Option<PathBuf>,
    /// emergent's own results.json and samples.jsonl go here.
    pub out: Option<PathBuf>,
}

/// What the harness reports while it works; the binary draws it.
pub trait Observer {
    /// A task starts: `docs` documents will be scored.
    fn task(&mut self, name: &str, docs: u64);
    /// `docs` more documents of the current task are scored.
    fn advance(&mut self, docs: u64);
    /// The current task is done (scored or failed).
    fn task_done(&mut self);
    /// A line for the user: a file written, an error that did not stop the others.
    fn say(&mut self, line: &str);
    /// One model is scored and its files are written.
    fn scored(&mut self, outcome: &Outcome);
    /// A file of a Hub checkpoint is being fetched: `done` of `total` bytes.
    fn fetch(&mut self, _file: &str, _done: u64, _total: u64) {}
}

/// One model's scores.
pub struct Outcome {
    /// lm-eval's results JSON.
    pub results: Json,
    /// Every task scored, in the order scored, with emergent's own metrics.
    pub scored: Vec<TaskResult>,
}

/// lm-eval's `simple_parse_args_string`: `a=1,b=True` to typed values.
fn parse_model_args(s: &str) -> Result<Map<String, Json>> {
    let mut out = Map::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| anyhow!("--model_args: `{part}` is not key=value"))?;
        let v = match v {
            "True" | "true" => json!(true),
            "False" | "false" => json!(false),
            "None" => Json::Null,
            v => v
                .parse::<i64>()
                .map(Json::from)
                .or_else(|_| v.parse::<f64>().map(Json::from))
                .unwrap_or_else(|_| json!(v)),
        };
        out.insert(k.trim().to_string(), v);
    }
    Ok(out)
}

/// lm-eval's `--seed`: one value for all four seeds, or up to four (missing → defaults).
fn parse_seeds(s: Option<&str>) -> Result<[u64; 4]> {
    let mut seeds = [0, 1234, 1234, 1234];
    let Some(s) = s else { return Ok(seeds) };
    let items: Vec<&str> = s.split(',').map(str::trim).collect();
    let parse = |x: &str| {
        x.parse::<u64>()
            .map_err(|_| anyhow!("--seed: `{x}` is not a non-negative integer"))
    };
    if items.len() == 1 {
        let v = parse(items[0])?;
        return Ok([v; 4]);
    }
    if items.len() > 4 {
        bail!("--seed: at most 4 values (python,numpy,torch,fewshot)");
    }
    for (slot, x) in seeds.iter_mut().zip(items) {
        if x != "None" {
            *slot = parse(x)?;
        }
    }
    Ok(seeds)
}

/// `--limit`: a count, or below 1 a share of each task.
fn parse_limit(s: Option<&str>) -> Result<(Option<usize>, Option<f64>)> {
    let Some(s) = s else { return Ok((None, None)) };
    let x: f64 = s
        .parse()
        .map_err(|_| anyhow!("--limit: `{s}` is not a number"))?;
    if x.is_nan() || x <= 0.0 || !x.is_finite() {
        bail!("--limit: {s} must be above 0");
    }
    if x < 1.0 {
        Ok((None, Some(x)))
    } else if x.fract() == 0.0 {
        Ok((Some(x as usize), None))
    } else {
        bail!("--limit: {s} is neither a count nor a fraction below 1")
    }
}

/// `--batch_size`: the prompts decoded together, when a count is given.
fn parse_batch_size(batch_size: &str) -> Result<Option<usize>> {
    let auto = batch_size.starts_with("auto");
    let count = batch_size
        .strip_prefix("auto")
        .map_or(batch_size, |r| r.strip_prefix(':').unwrap_or(r));
    if auto && count.is_empty() {
        return Ok(None);
    }
    let n: usize = count.parse().ok().filter(|&n| n > 0).ok_or_else(|| {
        anyhow!("--batch_size {batch_size}: a positive count, `auto` or `auto:N`")
    })?;
    Ok((!auto).then_some(n))
}

/// Options and model arguments checked before anything is loaded.
struct Plan {
    model_path: PathBuf,
    /// The Hub checkpoint the model is, fetched into `model_path` before it is loaded.
    hub: Option<Locator>,
    model_type: String,
    model_args: Map<String, Json>,
    opts: EvalOptions,
    seeds: [u64; 4],
    batch_size: String,
    backend: Backend,
}

/// Where the model is and what lm-eval calls its type.
fn model_location(model: &str, model_args: &mut Map<String, Json>) -> Result<(PathBuf, String)> {
    match model {
        "hf" | "huggingface" | "gguf" => {
            let p = model_args
                .get("pretrained")
                .and_then(Json::as_str)
                .ok_or_else(|| anyhow!("--model {model} needs --model_args pretrained=PATH"))?;
            Ok((PathBuf::from(p), model.to_string()))
        }
        path => {
            model_args.entry("pretrained").or_insert(json!(path));
            let t = if Path::new(path).is_dir() {
                "hf"
            } else {
                "gguf"
            };
            Ok((PathBuf::from(path), t.to_string()))
        }
    }
}

/// A model named by a path that does not exist and that reads as `ORG/NAME` is a Hub
/// repository at the revision named by `--revision` or `revision=` (`main` when neither),
/// as in transformers; the revision is written into the model arguments lm-eval reports.
fn hub_model(
    path: &Path,
    revision: Option<&str>,
    model_args: &mut Map<String, Json>,
) -> Result<Option<Locator>> {
    let arg = model_args.get("revision").map(|v| match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    });
    let revision = match (revision, arg.as_deref()) {
        (Some(a), Some(b)) if a != b => {
            bail!("--revision {a} and --model_args revision={b} name different revisions")
        }
        (a, b) => a.or(b).map(str::to_string),
    };
    let name = path.to_string_lossy();
    if path.exists() {
        if let Some(r) = revision {
            bail!("revision {r}: {name} is a local checkpoint; a revision names one of a Hub repository (ORG/NAME)");
        }
        return Ok(None);
    }
    let Ok(repo) = emergent_hub::RepoId::parse(&name) else {
        return Ok(None);
    };
    let revision = revision.unwrap_or_else(|| "main".into());
    emergent_hub::repo::check_revision(&revision)?;
    model_args.insert("revision".into(), json!(revision));
    Ok(Some(Locator { repo, revision }))
}

/// The model arguments emergent honours, applied to the options; the rest refused.
fn apply_model_args(model_args: &Map<String, Json>, opts: &mut EvalOptions) -> Result<()> {
    for (k, v) in model_args {
        match k.as_str() {
            "pretrained" | "trust_remote_code" | "revision" | "use_fast_tokenizer"
            | "batch_size" => {}
            "max_length" => {
                let n = v.as_u64().filter(|&n| n > 0).ok_or_else(|| {
                    anyhow!("--model_args max_length={v}: a positive count of tokens")
                })?;
                opts.max_length = Some(n as usize);
            }
            "add_bos_token" => {
                let b = v
                    .as_bool()
                    .ok_or_else(|| anyhow!("--model_args add_bos_token={v}: True or False"))?;
                opts.add_bos_token = Some(b);
            }
            "dtype" => {
                if !matches!(v.as_str(), Some("float32" | "auto" | "float")) {
                    bail!("--model_args dtype={v}: emergent scores in float32 (dtype=float32 or auto)");
                }
            }
            other => bail!("--model_args: `{other}` is not an argument emergent takes (pretrained, revision, max_length, add_bos_token, dtype)"),
        }
    }
    Ok(())
}

fn plan(req: &Request) -> Result<Plan> {
    let mut model_args = match &req.model_args {
        Some(s) => parse_model_args(s)?,
        None => Map::new(),
    };
    let (model_path, model_type) = model_location(&req.model, &mut model_args)?;
    let hub = hub_model(&model_path, req.revision.as_deref(), &mut model_args)?;
    let mut opts = EvalOptions {
        num_fewshot: req.num_fewshot,
        score_long_continuations: req.score_long_continuations,
        ..EvalOptions::default()
    };
    (opts.limit, opts.limit_fraction) = parse_limit(req.limit.as_deref())?;
    apply_model_args(&model_args, &mut opts)?;
    let batch_size = req.batch_size.clone().unwrap_or_else(|| "1".into());
    if let Some(n) = parse_batch_size(&batch_size)? {
        opts.batch_generate = n;
    }
    let device = req.device.as_deref().unwrap_or("cpu");
    let backend: Backend = device
        .parse()
        .map_err(|e| anyhow!("--device {device}: {e}"))?;
    let seeds = parse_seeds(req.seed.as_deref())?;
    opts.fewshot_seed = seeds[3];
    Ok(Plan {
        model_path,
        hub,
        model_type,
        model_args,
        opts,
        seeds,
        batch_size,
        backend,
    })
}

/// The `--output_path` folder, created now so that nothing scored is lost to it later.
fn prepare_output(path: &Path) -> Result<()> {
    let is_json = path.extension().and_then(|e| e.to_str()) == Some("json");
    let dir = if is_json {
        path.parent().unwrap_or(Path::new("."))
    } else {
        path
    };
    if !is_json && path.is_file() {
        bail!(
            "--output_path {}: a file; give a folder or a path ending in .json",
            path.display()
        );
    }
    if dir.as_os_str().is_empty() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)
        .with_context(|| format!("--output_path: creating {}", dir.display()))
}

/// The folders that receive results, checked and created before anything is scored.
fn prepare_outputs(req: &Request) -> Result<()> {
    if req.log_samples && req.output_path.is_none() {
        bail!("--log_samples needs --output_path (where lm-eval's samples files go)");
    }
    if let Some(dir) = &req.out {
        if dir.is_file() {
            bail!("--out {}: a file; --out names the directory that receives results.json and samples.jsonl", dir.display());
        }
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    if let Some(o) = &req.output_path {
        prepare_output(o)?;
    }
    Ok(())
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Every task the request names, loaded; the count of those that failed to load (each
/// said to the observer).
fn load_nodes(req: &Request, obs: &mut dyn Observer) -> (Vec<Node>, usize) {
    let mut failed = 0;
    let mut nodes: Vec<Node> = Vec::new();
    let selected = select_tasks(
        &req.tasks,
        &req.include_path,
        &req.shipped,
        req.data.as_deref(),
    );
    for (entry, sel) in selected {
        match sel {
            Ok(n) => nodes.extend(n),
            Err(e) => {
                obs.say(&format!("error: --tasks {entry}: {e:#}"));
                failed += 1;
            }
        }
    }
    for t in &req.text {
        match Task::from_text_file(t) {
            Ok(task) => nodes.push(Node::Task(Box::new(task))),
            Err(e) => {
                obs.say(&format!("error: --text {}: {e:#}", t.display()));
                failed += 1;
            }
        }
    }
    (nodes, failed)
}

/// Scores every model the request's `model` paths name, one after another, each into
/// its own folder under `out` and `output_path`; a model that fails is named at the end
/// and the others are still scored.
pub fn score_models(req: &Request, models: &[String], obs: &mut dyn Observer) -> Result<()> {
    if let [model] = models {
        let one = Request {
            model: model.clone(),
            ..req.clone()
        };
        return score_model(&one, obs);
    }
    if models
        .iter()
        .any(|m| matches!(m.as_str(), "hf" | "huggingface" | "gguf"))
    {
        bail!(
            "--model hf (with --model_args pretrained=PATH) names one model; give several as paths"
        );
    }
    if req
        .model_args
        .as_deref()
        .is_some_and(|a| a.contains("pretrained"))
    {
        bail!("--model_args pretrained=… names one model; several --model paths are their own");
    }
    if req
        .output_path
        .as_ref()
        .is_some_and(|o| o.extension().is_some_and(|e| e == "json"))
    {
        bail!("--output_path FILE.json holds one model's results; give a folder for several (one subfolder each)");
    }
    let common = common_parent(models);
    let mut failed = Vec::new();
    for (i, model) in models.iter().enumerate() {
        obs.say(&format!("model {}/{}: {model}", i + 1, models.len()));
        let one = Request {
            model: model.clone(),
            out: req
                .out
                .as_ref()
                .map(|o| o.join(model_folder(model, &common))),
            ..req.clone()
        };
        if let Err(e) = score_model(&one, obs) {
            obs.say(&format!("error: {model}: {e:#}"));
            failed.push(model.as_str());
        }
    }
    if !failed.is_empty() {
        bail!(
            "{} of {} models failed (the others were scored): {}",
            failed.len(),
            models.len(),
            failed.join(", ")
        );
    }
    Ok(())
}

/// The folders every model path starts with (`ladder/` for `ladder/a/step-1` and
/// `ladder/b/step-1`), left out of their output folders' names.
fn common_parent(models: &[String]) -> PathBuf {
    let parents: Vec<Vec<Component>> = models
        .iter()
        .map(|m| {
            Path::new(m)
                .parent()
                .map_or(vec![], |p| p.components().collect())
        })
        .collect();
    let n = (0..)
        .take_while(|&i| {
            parents
                .iter()
                .all(|p| p.get(i).is_some() && p[i] == parents[0][i])
        })
        .count();
    parents[0][..n].iter().collect()
}

/// A model's folder under `out`: its path below the common parent, separators
/// replaced (`a_step-1`).
fn model_folder(model: &str, common: &Path) -> String {
    let rel = Path::new(model)
        .strip_prefix(common)
        .unwrap_or(Path::new(model));
    let name: String = rel
        .to_string_lossy()
        .chars()
        .map(|c| {
            if matches!(c, '/' | '\\' | ':') {
                '_'
            } else {
                c
            }
        })
        .collect();
    name.trim_matches('_').to_string()
}

/// Tasks scored, by name, and the order they were scored in.
struct Scored {
    by_name: BTreeMap<String, (TaskResult, Vec<SampleRecord>)>,
    order: Vec<String>,
    failed: usize,
}

/// Scores each task once (a task in two groups is scored once); a task that fails is
/// said and counted, and the others are scored.
fn score_tasks(
    scorer: &mut Scorer,
    tasks: &[&Task],
    opts: &EvalOptions,
    obs: &mut dyn Observer,
) -> Scored {
    let mut s = Scored {
        by_name: BTreeMap::new(),
        order: Vec::new(),
        failed: 0,
    };
    for task in tasks {
        let name = task.spec.task.clone();
        if s.by_name.contains_key(&name) {
            continue;
        }
        let mut opts = opts.clone();
        let zero_shot = task
            .lmeval_config
            .as_ref()
            .and_then(|c| c.get("num_fewshot"))
            == Some(&json!(0));
        if zero_shot && opts.num_fewshot.is_some() {
            obs.say(&format!("{name}: num_fewshot is 0 in its config; --num_fewshot is ignored for it, as lm-eval ignores it"));
            opts.num_fewshot = None;
        }
        obs.task(&name, opts.docs_to_score(task.docs.len()) as u64);
        let r = evaluate(scorer, task, &opts, &mut |k| obs.advance(k as u64));
        obs.task_done();
        match r {
            Ok(r) => {
                s.by_name.insert(name.clone(), r);
                s.order.push(name);
            }
            Err(e) => {
                obs.say(&format!("error: {e:#}"));
                s.failed += 1;
            }
        }
    }
    s
}

/// Scores one model on the selected tasks and writes what was asked for.
pub fn score_model(req: &Request, obs: &mut dyn Observer) -> Result<()> {
    if req.tasks.is_empty() && req.text.is_empty() {
        bail!("--model needs --tasks (task names, YAML or TOML files, folders) or --text FILE");
    }
    let mut p = plan(req)?;
    prepare_outputs(req)?;
    let start_time = now();
    let (nodes, load_failed) = load_nodes(req, obs);
    if nodes.is_empty() {
        bail!("no task to score ({load_failed} failed to load)");
    }
    if let Some(l) = &p.hub {
        p.model_path = fetch(l, obs)?;
    }
    let (mut lm, tokenizer) = load_model(&p.model_path, p.backend)?;
    if req.apply_chat_template {
        let t = load_chat_template(&p.model_path, &tokenizer)?.ok_or_else(|| {
            anyhow!(
                "--apply_chat_template: {} has no chat template (tokenizer_config.json's `chat_template`, chat_template.jinja or GGUF `tokenizer.chat_template`)",
                p.model_path.display()
            )
        })?;
        p.opts.chat_template = Some(std::sync::Arc::new(t));
    }
    p.opts.system_instruction = req.system_instruction.clone();
    let tasks: Vec<&Task> = nodes.iter().flat_map(Node::tasks).collect();
    let mut scorer = Scorer {
        model: lm.as_mut(),
        tokenizer: &tokenizer,
    };
    let scored = score_tasks(&mut scorer, &tasks, &p.opts, obs);
    let config = lm.config().clone();
    let info = RunInfo {
        model: p.model_type.clone(),
        model_args: p.model_args.clone(),
        model_name: p
            .model_args
            .get("pretrained")
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_string(),
        num_parameters: config.num_params(),
        batch_size: p.batch_size.clone(),
        device: p.backend.name().into(),
        limit: p.opts.limit.map(|n| n as f64).or(p.opts.limit_fraction),
        random_seed: p.seeds[0],
        numpy_seed: p.seeds[1],
        torch_seed: p.seeds[2],
        fewshot_seed: p.seeds[3],
        max_length: p.opts.max_length.unwrap_or(config.max_position_embeddings),
        eot_token_id: config.eos_token_id.or(tokenizer.eos_id()),
        bos_token: tokenizer
            .bos_id()
            .map(|id| (tokenizer.decode_with_special(&[id]), id)),
        eos_token: tokenizer
            .eos_id()
            .map(|id| (tokenizer.decode_with_special(&[id]), id)),
        chat_template: p.opts.chat_template.as_ref().map(|t| t.source.clone()),
        system_instruction: req.system_instruction.clone(),
        fewshot_as_multiturn: req.apply_chat_template.then_some(true),
        start_time,
        end_time: now(),
    };
    write_results(req, &nodes, &tasks, &scored, &info, obs)?;
    let failed = load_failed + scored.failed;
    if failed > 0 {
        bail!(
            "{failed} task{} failed (the others were scored)",
            if failed == 1 { "" } else { "s" }
        );
    }
    Ok(())
}

/// A Hub checkpoint's folder in the cache, fetched where the cache lacks its files.
fn fetch(l: &Locator, obs: &mut dyn Observer) -> Result<PathBuf> {
    obs.say(&format!(
        "{}: no such local path, so the Hub repository; its cache first, then the Hub",
        l.repo
    ));
    let obs = std::cell::RefCell::new(obs);
    let progress = |f: &str, done: u64, total: u64| obs.borrow_mut().fetch(f, done, total);
    emergent_hub::Hub::from_env()
        .checkpoint(&l.repo, &l.revision, emergent_hub::Part::All, &progress)
        .with_context(|| l.to_string())
}

/// lm-eval's results (and samples) and emergent's own files, then the observer told.
fn write_results(
    req: &Request,
    nodes: &[Node],
    tasks: &[&Task],
    scored: &Scored,
    info: &RunInfo,
    obs: &mut dyn Observer,
) -> Result<()> {
    let runs: BTreeMap<String, TaskRun> = tasks
        .iter()
        .filter_map(|t| {
            let (result, records) = scored.by_name.get(&t.spec.task)?;
            Some((
                t.spec.task.clone(),
                TaskRun {
                    task: t,
                    result,
                    records,
                },
            ))
        })
        .collect();
    let samples: Option<Vec<(String, Vec<Json>)>> = req.log_samples.then(|| {
        scored
            .order
            .iter()
            .filter_map(|n| runs.get(n).map(|r| (n.clone(), sample_lines(r))))
            .collect()
    });
    let results = results_json(nodes, &runs, info, samples.as_deref());
    if let Some(dir) = &req.out {
        for f in write_own(dir, &scored.order, &scored.by_name)? {
            obs.say(&format!("wrote {}", f.display()));
        }
    }
    if let Some(o) = &req.output_path {
        for f in write_outputs(o, info, &results, samples.as_deref())? {
            obs.say(&format!("wrote {}", f.display()));
        }
    }
    let outcome = Outcome {
        results,
        scored: scored
            .order
            .iter()
            .map(|n| scored.by_name[n].0.clone())
            .collect(),
    };
    obs.scored(&outcome);
    Ok(())
}

/// emergent's own files: results.json (aggregates) and samples.jsonl (records).
fn write_own(
    dir: &Path,
    order: &[String],
    scored: &BTreeMap<String, (TaskResult, Vec<SampleRecord>)>,
) -> Result<Vec<PathBuf>> {
    let p = dir.join("samples.jsonl");
    let mut w = std::io::BufWriter::new(
        std::fs::File::create(&p).with_context(|| format!("creating {}", p.display()))?,
    );
    let mut results = Vec::new();
    for name in order {
        let (r, records) = &scored[name];
        for rec in records {
            writeln!(w, "{}", json!({"task": r.task, "record": rec}))
                .with_context(|| format!("writing {}", p.display()))?;
        }
        results.push(r);
    }
    w.flush()
        .with_context(|| format!("writing {}", p.display()))?;
    let j = dir.join("results.json");
    std::fs::write(&j, serde_json::to_string_pretty(&results)?)
        .with_context(|| format!("writing {}", j.display()))?;
    Ok(vec![j, p])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_limits_and_batch_sizes_parse_as_lm_eval_reads_them() {
        assert_eq!(parse_seeds(None).unwrap(), [0, 1234, 1234, 1234]);
        assert_eq!(parse_seeds(Some("7")).unwrap(), [7; 4]);
        assert_eq!(parse_seeds(Some("1,None,3")).unwrap(), [1, 1234, 3, 1234]);
        assert!(parse_seeds(Some("1,2,3,4,5")).is_err());
        assert_eq!(parse_limit(Some("0.5")).unwrap(), (None, Some(0.5)));
        assert_eq!(parse_limit(Some("20")).unwrap(), (Some(20), None));
        assert!(parse_limit(Some("2.5")).is_err());
        assert!(parse_limit(Some("0")).is_err());
        assert_eq!(parse_batch_size("8").unwrap(), Some(8));
        assert_eq!(parse_batch_size("auto").unwrap(), None);
        assert_eq!(parse_batch_size("auto:4").unwrap(), None);
        assert!(parse_batch_size("0").is_err());
        let args = parse_model_args("pretrained=a/b,max_length=64,add_bos_token=True").unwrap();
        assert_eq!(args["max_length"], json!(64));
        assert_eq!(args["add_bos_token"], json!(true));
    }

    #[test]
    fn each_model_gets_its_path_below_the_common_folder() {
        let models = vec!["ladder/a/step-1".to_string(), "ladder/b/step-1".to_string()];
        let common = common_parent(&models);
        assert_eq!(common, PathBuf::from("ladder"));
        assert_eq!(model_folder(&models[0], &common), "a_step-1");
        assert_eq!(model_folder(&models[1], &common), "b_step-1");
    }
}
