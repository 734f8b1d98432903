//! `emergent eval --model M`: one model on tasks, with lm-evaluation-harness's flags
//! and output files beside emergent's own.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use serde_json::{json, Map, Value as Json};

use emergent_eval::{
    evaluate, load_chat_template, load_model, results_json, sample_lines, select_tasks,
    write_outputs, EvalOptions, Node, RunInfo, SampleRecord, Scorer, Task, TaskResult, TaskRun,
};

#[derive(Args, Clone, Default)]
pub struct EvalArgs {
    /// The study file (TOML); the built-in default study when absent.
    pub study: Option<PathBuf>,
    /// The output directory: the study's (default emergent-out), or with --model
    /// the one that receives results.json (aggregates) and samples.jsonl
    /// (per-document records).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Use the built-in quick study when no file is given.
    #[arg(long)]
    pub quick: bool,
    /// With a study: only these runs' checkpoints (names, or indices in the grid).
    #[arg(long = "run")]
    pub runs: Vec<String>,
    /// The model scored outside a study: a Hugging Face checkpoint directory (safetensors
    /// or pytorch_model.bin) or a GGUF file, or lm-eval's model type `hf` with
    /// `--model_args pretrained=PATH`. Repeat it, or give a quoted pattern
    /// (`'ladder/*/step-*'`), to score several, each into its own results folder.
    #[arg(long)]
    pub model: Vec<String>,
    /// lm-eval's `key=value,…`: pretrained, max_length, add_bos_token, dtype (float32).
    #[arg(long = "model_args", alias = "model-args")]
    pub model_args: Option<String>,
    /// Tasks, comma-separated: lm-eval YAML configs (.yaml), folders of them, TOML specs,
    /// or names of tasks, groups and tags (in --include_path folders and shipped tasks/).
    #[arg(long, value_delimiter = ',')]
    pub tasks: Vec<String>,
    /// Folders of lm-eval YAML task configs whose tasks --tasks can name (repeatable).
    #[arg(long = "include_path", alias = "include-path")]
    pub include_path: Vec<PathBuf>,
    /// Perplexity on text files: word and byte perplexity and bits per byte over each
    /// file, in lm-eval's rolling windows (repeatable).
    #[arg(long)]
    pub text: Vec<PathBuf>,
    /// Documents per task: a count, or a fraction of each task below 1 (as lm-eval).
    #[arg(long)]
    pub limit: Option<String>,
    /// Override the tasks' few-shot count.
    #[arg(long = "num_fewshot", alias = "num-fewshot")]
    pub num_fewshot: Option<usize>,
    /// Prompts decoded together: N, `auto` or `auto:N` (the numbers never change).
    #[arg(long = "batch_size", alias = "batch-size")]
    pub batch_size: Option<String>,
    /// `cpu` (the only device of this build).
    #[arg(long)]
    pub device: Option<String>,
    /// lm-eval's results JSON goes to PATH/<model>/results_<date>.json, or to PATH_<date>.json
    /// when PATH ends in .json; the folder is created before scoring starts.
    #[arg(long = "output_path", alias = "output-path", short = 'o')]
    pub output_path: Option<PathBuf>,
    /// Also write lm-eval's per-sample JSONL beside the results (needs --output_path).
    #[arg(long = "log_samples", alias = "log-samples", short = 's')]
    pub log_samples: bool,
    /// lm-eval's seeds: one number for all, or `python,numpy,torch,fewshot` (default
    /// 0,1234,1234,1234); only the few-shot seed changes what is scored.
    #[arg(long)]
    pub seed: Option<String>,
    /// Wrap each prompt in the model's chat template (tokenizer_config.json).
    #[arg(long = "apply_chat_template", alias = "apply-chat-template")]
    pub apply_chat_template: bool,
    /// A system message: the chat template's system turn, or put before the prompt.
    #[arg(long = "system_instruction", alias = "system-instruction")]
    pub system_instruction: Option<String>,
    /// Worker threads (all cores when absent).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Score a continuation longer than the model's context on its last tokens (the
    /// record is marked) instead of refusing it as lm-eval does.
    #[arg(long = "score-long-continuations")]
    pub score_long_continuations: bool,
    /// Where the data of shipped specs and of `dataset_path` tasks lives: DIR/TASK/FILE,
    /// DIR/FILE, or DIR/<dataset_path>/<dataset_name>/<split>.{jsonl,json,csv,parquet}.
    #[arg(long)]
    pub data: Option<PathBuf>,
}

impl EvalArgs {
    /// Whether any flag that only means something with --model is set.
    pub fn model_flags_given(&self) -> bool {
        !self.tasks.is_empty()
            || !self.text.is_empty()
            || self.output_path.is_some()
            || self.model_args.is_some()
    }
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

/// Options and model arguments checked before anything is loaded.
struct Plan {
    model_path: PathBuf,
    model_type: String,
    model_args: Map<String, Json>,
    opts: EvalOptions,
    seeds: [u64; 4],
    batch_size: String,
}

fn plan(args: &EvalArgs, model: &str) -> Result<Plan> {
    let mut model_args = match &args.model_args {
        Some(s) => parse_model_args(s)?,
        None => Map::new(),
    };
    let (model_path, model_type) = match model {
        "hf" | "huggingface" | "gguf" => {
            let p = model_args
                .get("pretrained")
                .and_then(Json::as_str)
                .ok_or_else(|| anyhow!("--model {model} needs --model_args pretrained=PATH"))?;
            (PathBuf::from(p), model.to_string())
        }
        path => {
            model_args.entry("pretrained").or_insert(json!(path));
            let t = if Path::new(path).is_dir() {
                "hf"
            } else {
                "gguf"
            };
            (PathBuf::from(path), t.to_string())
        }
    };
    let mut opts = EvalOptions {
        num_fewshot: args.num_fewshot,
        score_long_continuations: args.score_long_continuations,
        ..EvalOptions::default()
    };
    (opts.limit, opts.limit_fraction) = parse_limit(args.limit.as_deref())?;
    for (k, v) in &model_args {
        match k.as_str() {
            "pretrained" | "trust_remote_code" | "revision" | "use_fast_tokenizer" => {}
            "max_length" => {
                opts.max_length = Some(v.as_u64().filter(|&n| n > 0).ok_or_else(|| anyhow!("--model_args max_length={v}: a positive count of tokens"))? as usize)
            }
            "add_bos_token" => opts.add_bos_token = Some(v.as_bool().ok_or_else(|| anyhow!("--model_args add_bos_token={v}: True or False"))?),
            "dtype" => {
                if !matches!(v.as_str(), Some("float32" | "auto" | "float")) {
                    bail!("--model_args dtype={v}: emergent scores in float32 (dtype=float32 or auto)");
                }
            }
            "batch_size" => {}
            other => bail!("--model_args: `{other}` is not an argument emergent takes (pretrained, max_length, add_bos_token, dtype)"),
        }
    }
    let batch_size = args.batch_size.clone().unwrap_or_else(|| "1".into());
    let auto = batch_size.starts_with("auto");
    let count = batch_size
        .strip_prefix("auto")
        .map_or(batch_size.as_str(), |r| r.strip_prefix(':').unwrap_or(r));
    if !(auto && count.is_empty()) {
        let n: usize = count.parse().ok().filter(|&n| n > 0).ok_or_else(|| {
            anyhow!("--batch_size {batch_size}: a positive count, `auto` or `auto:N`")
        })?;
        if !auto {
            opts.batch_generate = n;
        }
    }
    if let Some(d) = args.device.as_deref().filter(|d| *d != "cpu") {
        bail!("--device {d}: this build scores on the CPU only (--device cpu)");
    }
    let seeds = parse_seeds(args.seed.as_deref())?;
    opts.fewshot_seed = seeds[3];
    Ok(Plan {
        model_path,
        model_type,
        model_args,
        opts,
        seeds,
        batch_size,
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

/// A text file as a rolling-log-likelihood task of one document.
fn text_task(path: &Path) -> Result<Task> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("text");
    Task::from_texts(&format!("text-{stem}"), path, vec![text])
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Scores every model `--model` names (patterns expanded), one after another, each into
/// its own folder under `--out` and `--output_path`; a model that fails is named at the end
/// and the others are still scored.
pub fn eval_models(args: &EvalArgs) -> Result<()> {
    let mut models = Vec::new();
    for m in &args.model {
        if emergent_study::glob::is_pattern(m) {
            let found = emergent_study::glob::expand(m);
            if found.is_empty() {
                bail!("--model {m}: the pattern matches nothing");
            }
            models.extend(found.into_iter().map(|p| p.display().to_string()));
        } else {
            models.push(m.clone());
        }
    }
    if models.len() == 1 {
        return eval_model(args, &models[0]);
    }
    if models
        .iter()
        .any(|m| matches!(m.as_str(), "hf" | "huggingface" | "gguf"))
    {
        bail!(
            "--model hf (with --model_args pretrained=PATH) names one model; give several as paths"
        );
    }
    if args
        .model_args
        .as_deref()
        .is_some_and(|a| a.contains("pretrained"))
    {
        bail!("--model_args pretrained=… names one model; several --model paths are their own");
    }
    if args
        .output_path
        .as_ref()
        .is_some_and(|o| o.extension().is_some_and(|e| e == "json"))
    {
        bail!("--output_path FILE.json holds one model's results; give a folder for several (one subfolder each)");
    }
    let common = common_parent(&models);
    let mut failed = Vec::new();
    for (i, model) in models.iter().enumerate() {
        eprintln!("model {}/{}: {model}", i + 1, models.len());
        let mut one = args.clone();
        one.model = vec![model.clone()];
        one.out = args
            .out
            .as_ref()
            .map(|o| o.join(model_folder(model, &common)));
        if let Err(e) = eval_model(&one, model) {
            eprintln!("error: {model}: {e:#}");
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

/// A model's folder under `--out`: its path below the common parent, separators
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

/// Scores one model on the selected tasks and writes what was asked for.
pub fn eval_model(args: &EvalArgs, model: &str) -> Result<()> {
    if args.study.is_some() {
        bail!("give either a study or --model, not both");
    }
    if !args.runs.is_empty() {
        bail!("--run names runs of a study; it does not go with --model");
    }
    if args.tasks.is_empty() && args.text.is_empty() {
        bail!("--model needs --tasks (task names, YAML or TOML files, folders) or --text FILE");
    }
    if args.log_samples && args.output_path.is_none() {
        bail!("--log_samples needs --output_path (where lm-eval's samples files go)");
    }
    let p = plan(args, model)?;
    if let Some(dir) = &args.out {
        if dir.is_file() {
            bail!("--out {}: a file; --out names the directory that receives results.json and samples.jsonl", dir.display());
        }
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    if let Some(o) = &args.output_path {
        prepare_output(o)?;
    }
    crate::bench::set_threads(args.threads.unwrap_or(0));
    let start_time = now();
    let shipped = crate::shipped_tasks_dir();
    let mut failed = 0usize;
    let mut nodes: Vec<Node> = Vec::new();
    for (entry, sel) in select_tasks(
        &args.tasks,
        &args.include_path,
        &shipped,
        args.data.as_deref(),
    ) {
        match sel {
            Ok(n) => nodes.extend(n),
            Err(e) => {
                eprintln!("error: --tasks {entry}: {e:#}");
                failed += 1;
            }
        }
    }
    for t in &args.text {
        match text_task(t) {
            Ok(task) => nodes.push(Node::Task(Box::new(task))),
            Err(e) => {
                eprintln!("error: --text {}: {e:#}", t.display());
                failed += 1;
            }
        }
    }
    if nodes.is_empty() {
        bail!("no task to score ({failed} failed to load)");
    }
    let (mut lm, tokenizer) = load_model(&p.model_path)?;
    let mut p = p;
    if args.apply_chat_template {
        let t = load_chat_template(&p.model_path, &tokenizer)?.ok_or_else(|| {
            anyhow!(
                "--apply_chat_template: {} has no chat template (tokenizer_config.json's `chat_template`, chat_template.jinja or GGUF `tokenizer.chat_template`)",
                p.model_path.display()
            )
        })?;
        p.opts.chat_template = Some(std::sync::Arc::new(t));
    }
    p.opts.system_instruction = args.system_instruction.clone();
    let mut scored: BTreeMap<String, (TaskResult, Vec<SampleRecord>)> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let tasks: Vec<&Task> = nodes.iter().flat_map(Node::tasks).collect();
    for task in &tasks {
        let name = task.spec.task.clone();
        if scored.contains_key(&name) {
            continue;
        }
        let n = p.opts.docs_to_score(task.docs.len());
        let pb = crate::progress_bar(n as u64, &name);
        let mut scorer = Scorer {
            model: lm.as_mut(),
            tokenizer: &tokenizer,
        };
        let mut opts = p.opts.clone();
        if task
            .lmeval_config
            .as_ref()
            .and_then(|c| c.get("num_fewshot"))
            == Some(&json!(0))
            && opts.num_fewshot.is_some()
        {
            // lm-eval keeps a task's explicit 0-shot whatever --num_fewshot says.
            eprintln!("{name}: num_fewshot is 0 in its config; --num_fewshot is ignored for it, as lm-eval ignores it");
            opts.num_fewshot = None;
        }
        match evaluate(&mut scorer, task, &opts, &mut |k| pb.inc(k as u64)) {
            Ok(r) => {
                pb.finish_and_clear();
                scored.insert(name.clone(), r);
                order.push(name);
            }
            Err(e) => {
                pb.finish_and_clear();
                eprintln!("error: {e:#}");
                failed += 1;
            }
        }
    }
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
        device: "cpu".into(),
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
        system_instruction: args.system_instruction.clone(),
        fewshot_as_multiturn: args.apply_chat_template.then_some(true),
        start_time,
        end_time: now(),
    };
    let runs: BTreeMap<String, TaskRun> = tasks
        .iter()
        .filter_map(|t| {
            let (result, records) = scored.get(&t.spec.task)?;
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
    let samples: Option<Vec<(String, Vec<Json>)>> = args.log_samples.then(|| {
        order
            .iter()
            .filter_map(|n| runs.get(n).map(|r| (n.clone(), sample_lines(r))))
            .collect()
    });
    let results = results_json(&nodes, &runs, &info, samples.as_deref());
    print!("{}", lmeval_table(&results));
    print_continuous(order.iter().filter_map(|n| scored.get(n).map(|(r, _)| r)));
    if let Some(dir) = &args.out {
        write_own(dir, &order, &scored)?;
    }
    if let Some(o) = &args.output_path {
        let files = write_outputs(o, &info, &results, samples.as_deref())?;
        for f in files {
            eprintln!("wrote {}", f.display());
        }
    }
    if failed > 0 {
        bail!(
            "{failed} task{} failed (the others were scored)",
            if failed == 1 { "" } else { "s" }
        );
    }
    Ok(())
}

/// emergent's own files: results.json (aggregates) and samples.jsonl (records).
fn write_own(
    dir: &Path,
    order: &[String],
    scored: &BTreeMap<String, (TaskResult, Vec<SampleRecord>)>,
) -> Result<()> {
    let p = dir.join("samples.jsonl");
    let mut w = std::io::BufWriter::new(
        std::fs::File::create(&p).with_context(|| format!("creating {}", p.display()))?,
    );
    let mut results = Vec::new();
    for name in order {
        let (r, records) = &scored[name];
        for rec in records {
            writeln!(w, "{}", json!({"task": r.task, "record": rec}))?;
        }
        results.push(r);
    }
    w.flush()?;
    let j = dir.join("results.json");
    std::fs::write(&j, serde_json::to_string_pretty(&results)?)
        .with_context(|| format!("writing {}", j.display()))?;
    eprintln!("results: {}\nsamples: {}", j.display(), p.display());
    Ok(())
}

fn fmt_value(v: &Json) -> String {
    match v {
        Json::Number(n) => format!("{:.4}", n.as_f64().unwrap_or(f64::NAN)),
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// lm-eval's results table: tasks and groups (members indented), then the groups alone.
pub fn lmeval_table(results: &Json) -> String {
    let mut out = table_of(results, "results", "Tasks");
    if results.get("groups").is_some() {
        out.push('\n');
        out.push_str(&table_of(results, "groups", "Groups"));
    }
    out
}

fn table_of(results: &Json, column: &str, title: &str) -> String {
    let empty = Map::new();
    let entries = results[column].as_object().unwrap_or(&empty);
    let subtasks = results["group_subtasks"].as_object().unwrap_or(&empty);
    let mut depth: BTreeMap<String, usize> = BTreeMap::new();
    let mut keys: Vec<String> = Vec::new();
    fn visit(
        k: &str,
        d: usize,
        subtasks: &Map<String, Json>,
        depth: &mut BTreeMap<String, usize>,
        keys: &mut Vec<String>,
    ) {
        if keys.iter().any(|x| x == k) {
            return;
        }
        depth.insert(k.to_string(), d);
        keys.push(k.to_string());
        for c in subtasks
            .get(k)
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(c) = c.as_str() {
                visit(c, d + 1, subtasks, depth, keys);
            }
        }
    }
    let children: Vec<&str> = subtasks
        .values()
        .filter_map(Json::as_array)
        .flatten()
        .filter_map(Json::as_str)
        .collect();
    for k in entries.keys() {
        if !children.contains(&k.as_str()) || column == "groups" {
            visit(
                k,
                0,
                if column == "groups" { &empty } else { subtasks },
                &mut depth,
                &mut keys,
            );
        }
    }
    let mut rows = vec![[
        title, "Version", "Filter", "n-shot", "Metric", "", "Value", "", "Stderr",
    ]
    .map(String::from)
    .to_vec()];
    for k in keys.iter().filter(|k| entries.contains_key(*k)) {
        let e = entries[k].as_object().unwrap_or(&empty);
        let version = results["versions"]
            .get(k)
            .map_or("N/A".into(), |v| match v {
                Json::Null => "N/A".into(),
                other => fmt_version(other),
            });
        let shots = results["n-shot"]
            .get(k)
            .map_or(String::new(), |v| v.to_string());
        let hib = &results["higher_is_better"][k];
        let alias = e.get("alias").and_then(Json::as_str).unwrap_or(k);
        let d = depth.get(k).copied().unwrap_or(0);
        let name = if d > 0 {
            format!("{}- {alias}", " ".repeat(d))
        } else {
            alias.to_string()
        };
        let mut metrics: Vec<(&String, &Json)> = e
            .iter()
            .filter(|(m, _)| m.contains(',') && !m.contains("_stderr,"))
            .collect();
        metrics.sort_by(|a, b| a.0.cmp(b.0));
        let mut first = true;
        for (mf, v) in metrics {
            let (m, f) = emergent_metrics::split_key(mf);
            let arrow = match hib.get(m).and_then(Json::as_bool) {
                Some(true) => "↑",
                Some(false) => "↓",
                None => "",
            };
            let se = e
                .get(&emergent_metrics::key(&format!("{m}_stderr"), f))
                .map(fmt_value)
                .unwrap_or_default();
            let (n, ver, sh) = if first {
                (name.clone(), version.clone(), shots.clone())
            } else {
                Default::default()
            };
            rows.push(vec![
                n,
                ver,
                f.to_string(),
                sh,
                m.to_string(),
                arrow.into(),
                fmt_value(v),
                "±".into(),
                se,
            ]);
            first = false;
        }
    }
    let widths: Vec<usize> = (0..9)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for (i, r) in rows.iter().enumerate() {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(&format!("|{}|\n", cells.join("|")));
        if i == 0 {
            let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            out.push_str(&format!("|{}|\n", rule.join("|")));
        }
    }
    out
}

fn fmt_version(v: &Json) -> String {
    match v {
        Json::Number(n) => n.as_f64().map_or(n.to_string(), |f| {
            if f.fract() == 0.0 {
                format!("{}", f as i64)
            } else {
                f.to_string()
            }
        }),
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// emergent's continuous metrics (probability of the answer, Brier score), which lm-eval
/// does not report.
fn print_continuous<'a>(results: impl Iterator<Item = &'a TaskResult>) {
    let mut lines = Vec::new();
    for r in results {
        for m in r
            .metrics
            .iter()
            .filter(|m| emergent_metrics::own_continuous().any(|c| c.name == m.metric))
        {
            lines.push(format!(
                "{:<24} {:<26} {:>10.4} ± {:.4}",
                r.task, m.metric, m.value, m.stderr
            ));
        }
        if r.truncated > 0 {
            lines.push(format!(
                "{:<24} {} of {} prompts left-truncated to fit the context",
                r.task, r.truncated, r.n_docs
            ));
        }
    }
    if !lines.is_empty() {
        println!("\ncontinuous metrics (emergent):");
        for l in lines {
            println!("{l}");
        }
    }
}
