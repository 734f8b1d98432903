//! Where the numbers come from: one observation per (checkpoint, task, metric), read
//! from a CSV file or from lm-evaluation-harness result files (the study's own SQLite
//! database is converted by the CLI). A bad row is rejected with its file and line and
//! the rest is kept; a file that cannot be read at all is an error naming it.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

/// The validation loss's unit when checkpoints share one tokenizer.
pub const NATS_PER_TOKEN: &str = "nats/token";
/// The validation loss's unit that no tokenizer changes.
pub const BITS_PER_BYTE: &str = "bits/byte";

/// One evaluation of one checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Obs {
    pub run: String,
    /// Model size label (one colour per size in the figures).
    pub size: String,
    pub params: f64,
    pub non_embedding_params: Option<f64>,
    pub step: Option<u64>,
    pub tokens: f64,
    pub flops: f64,
    /// Pre-training (validation) loss; NaN when the source has none.
    pub loss: f64,
    pub task: String,
    pub shots: u32,
    pub metric: String,
    pub value: f64,
    pub stderr: Option<f64>,
    /// Documents behind the value.
    pub n: Option<f64>,
    /// The metric's random-guess level, when known.
    pub baseline: Option<f64>,
    pub language: Option<String>,
    /// The run's planned token budget, when known (a run short of it is unfinished).
    pub budget: Option<f64>,
    /// Validation loss per domain of the corpus (genre, source file, …).
    pub domain_loss: BTreeMap<String, f64>,
    /// Per-document scores behind `value`, when records exist.
    #[serde(skip)]
    pub docs: Option<Arc<DocScores>>,
}

/// One metric's score on every document of one evaluation, ordered by document id.
#[derive(Debug, Clone, PartialEq)]
pub struct DocScores {
    pub ids: Vec<u64>,
    pub values: Vec<f64>,
    /// The records file the scores were read from, when they came from one (written
    /// back as points.csv's `samples` column).
    pub source: Option<PathBuf>,
}

impl DocScores {
    /// From (document id, score) pairs in any order.
    pub fn new(mut pairs: Vec<(u64, f64)>) -> DocScores {
        pairs.sort_by_key(|p| p.0);
        DocScores {
            ids: pairs.iter().map(|p| p.0).collect(),
            values: pairs.iter().map(|p| p.1).collect(),
            source: None,
        }
    }
}

impl Obs {
    /// The checkpoint this observation belongs to.
    pub fn checkpoint_key(&self) -> (String, u64) {
        (self.run.clone(), self.step.unwrap_or(self.tokens as u64))
    }
}

/// Observations read, and the rows that were not.
#[derive(Debug, Default)]
pub struct Loaded {
    pub obs: Vec<Obs>,
    pub rejected: Vec<String>,
    /// The loss column's unit where the input names one (a CSV's `loss_unit`).
    pub loss_unit: Option<String>,
}

/// A whole input that cannot be used.
#[derive(Debug)]
pub struct InputError(pub String);

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InputError {}

type Result<T> = std::result::Result<T, InputError>;

/// Label for a parameter count: 70M, 1.4B, 96K.
pub fn human_count(n: f64) -> String {
    let (v, unit) = match n {
        n if n >= 1e9 => (n / 1e9, "B"),
        n if n >= 1e6 => (n / 1e6, "M"),
        n if n >= 1e3 => (n / 1e3, "K"),
        n => (n, ""),
    };
    let s = format!("{v:.1}");
    format!("{}{unit}", s.trim_end_matches(".0"))
}

// ---------------------------------------------------------------- CSV

const REQUIRED: [&str; 7] = ["run", "params", "tokens", "loss", "task", "metric", "value"];

/// Splits one CSV line (RFC 4180 quoting, no embedded newlines).
fn split_csv(line: &str) -> std::result::Result<Vec<String>, &'static str> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => out.push(std::mem::take(&mut field)),
            _ => field.push(c),
        }
    }
    if quoted {
        return Err("unterminated quote");
    }
    out.push(field);
    Ok(out)
}

/// Reads a results CSV: required `run,params,tokens,loss,task,metric,value`, optional
/// `step,non_embedding_params,flops,n,stderr,shots,language,baseline,size,budget`, any
/// number of `loss:DOMAIN` columns, `loss_unit` (`nats/token`, the default, or
/// `bits/byte`; one per file), and `samples`: a file of per-document records
/// ([`read_samples`]; relative to the CSV's folder) behind the row's value. A bad row is rejected with its line and column;
/// a second row for the same (run, checkpoint, task, shots, metric) is dropped with a
/// message naming both lines.
pub fn read_csv(path: &Path) -> Result<Loaded> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| InputError(format!("{}: cannot read: {e}", path.display())))?;
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines
        .next()
        .ok_or_else(|| InputError(format!("{}: empty file, expected a header", path.display())))?;
    let header: Vec<String> = split_csv(header.trim_start_matches('\u{feff}'))
        .map_err(|e| InputError(format!("{}:1: {e}", path.display())))?
        .into_iter()
        .map(|h| h.trim().to_string())
        .collect();
    let col: HashMap<&str, usize> = header
        .iter()
        .enumerate()
        .map(|(i, h)| (h.as_str(), i))
        .collect();
    let missing: Vec<&str> = REQUIRED
        .iter()
        .copied()
        .filter(|c| !col.contains_key(c))
        .collect();
    if !missing.is_empty() {
        return Err(InputError(format!(
            "{}:1: missing required column{} {} (the header needs {})",
            path.display(),
            if missing.len() > 1 { "s" } else { "" },
            missing.join(", "),
            REQUIRED.join(",")
        )));
    }
    let domains: Vec<(&str, usize)> = header
        .iter()
        .enumerate()
        .filter_map(|(i, h)| Some((h.strip_prefix("loss:").filter(|d| !d.is_empty())?, i)))
        .collect();
    let mut out = Loaded::default();
    let mut seen: HashMap<(String, u64, String, u32, String), usize> = HashMap::new();
    let mut records = RecordFiles::new(path);
    let mut unit_line: Option<usize> = None;
    let mut rows = 0;
    for (i, line) in lines {
        rows += 1;
        let at = format!("{}:{}", path.display(), i + 1);
        let row = split_csv(line).map_err(|e| format!("{at}: {e}")).and_then(|f| {
            let mut o = csv_row(&f, &col, &domains, &at)?;
            let unit = col.get("loss_unit").and_then(|&c| f.get(c)).map(|s| s.trim());
            if let Some(unit) = unit.filter(|s| !s.is_empty()) {
                loss_unit(unit, &mut out.loss_unit, &mut unit_line, i + 1, &at)?;
            }
            let file = col.get("samples").and_then(|&c| f.get(c)).map(|s| s.trim());
            if let Some(file) = file.filter(|s| !s.is_empty()) {
                match records.scores(file, &o.metric) {
                    Ok(d) => o.docs = Some(d),
                    Err(e) => out.rejected.push(format!(
                        "{at}: column `samples`: {e}; the row's value is kept without per-document scores"
                    )),
                }
            }
            Ok(o)
        });
        match row {
            Ok(o) => {
                let key = (
                    o.run.clone(),
                    o.checkpoint_key().1,
                    o.task.clone(),
                    o.shots,
                    o.metric.clone(),
                );
                match seen.get(&key) {
                    Some(first) => out.rejected.push(format!(
                        "{at}: duplicate of line {first} (run {}, checkpoint {}, task {}, {} shots, metric {}): dropped",
                        key.0, key.1, key.2, key.3, key.4
                    )),
                    None => {
                        seen.insert(key, i + 1);
                        out.obs.push(o);
                    }
                }
            }
            Err(e) => out.rejected.push(e),
        }
    }
    if rows == 0 {
        return Err(InputError(format!(
            "{}: a header but no rows",
            path.display()
        )));
    }
    Ok(out)
}

/// Checks a row's `loss_unit` against the units known and the one the file's rows before
/// it named: one file, one unit.
fn loss_unit(
    unit: &str,
    known: &mut Option<String>,
    first: &mut Option<usize>,
    line: usize,
    at: &str,
) -> std::result::Result<(), String> {
    if unit != NATS_PER_TOKEN && unit != BITS_PER_BYTE {
        return Err(format!(
            "{at}: column `loss_unit`: `{unit}` is neither {NATS_PER_TOKEN} nor {BITS_PER_BYTE}"
        ));
    }
    match (known.as_deref(), *first) {
        (Some(k), Some(l)) if k != unit => Err(format!(
            "{at}: column `loss_unit`: `{unit}`, but line {l} says `{k}` (one unit per file)"
        )),
        (Some(_), _) => Ok(()),
        _ => {
            *known = Some(unit.to_string());
            *first = Some(line);
            Ok(())
        }
    }
}

/// The per-document records files a CSV's `samples` column names (relative to the CSV's
/// folder), each read once.
struct RecordFiles {
    dir: PathBuf,
    read: HashMap<String, std::result::Result<BTreeMap<String, Arc<DocScores>>, String>>,
}

impl RecordFiles {
    fn new(csv: &Path) -> RecordFiles {
        RecordFiles {
            dir: csv.parent().unwrap_or(Path::new(".")).to_path_buf(),
            read: HashMap::new(),
        }
    }

    fn scores(&mut self, file: &str, metric: &str) -> std::result::Result<Arc<DocScores>, String> {
        let dir = &self.dir;
        let by_metric = self
            .read
            .entry(file.to_string())
            .or_insert_with(|| read_samples(&dir.join(file)))
            .as_ref()
            .map_err(String::clone)?;
        by_metric
            .get(metric)
            .cloned()
            .ok_or_else(|| format!("{file} has no scores of `{metric}`"))
    }
}

fn csv_row(
    f: &[String],
    col: &HashMap<&str, usize>,
    domains: &[(&str, usize)],
    at: &str,
) -> std::result::Result<Obs, String> {
    let cell = |i: usize| f.get(i).map(|s| s.trim()).filter(|s| !s.is_empty());
    let get = |name: &str| col.get(name).and_then(|&i| cell(i));
    let text = |name: &str| {
        get(name)
            .map(str::to_string)
            .ok_or_else(|| format!("{at}: column `{name}` is empty"))
    };
    let parse = |name: &str, s: &str| {
        s.parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| format!("{at}: column `{name}`: `{s}` is not a finite number"))
    };
    // A value checked by `ok`, which says what it must be.
    let checked = |name: &str, ok: &dyn Fn(f64) -> bool, must: &str| {
        get(name)
            .map(|s| {
                let v = parse(name, s)?;
                if ok(v) {
                    Ok(v)
                } else {
                    Err(format!("{at}: column `{name}`: {s} {must}"))
                }
            })
            .transpose()
    };
    let need = |name: &str, ok: &dyn Fn(f64) -> bool, must: &str| {
        checked(name, ok, must)?.ok_or_else(|| format!("{at}: column `{name}` is empty"))
    };
    let integer = |v: f64| v >= 0.0 && v.fract() == 0.0 && v < 9e15;
    let params = need("params", &|v| v > 0.0, "is not a positive parameter count")?;
    let tokens = need("tokens", &|v| v >= 0.0, "is not a non-negative token count")?;
    let loss = need(
        "loss",
        &|v| v > 0.0 && v < 1e3,
        "is not a loss in nats per token (positive, below 1000)",
    )?;
    let metric = text("metric")?;
    let top = emergent_metrics::upper_bound(&metric);
    let outside = top.map(|t| format!("is outside [0, {t}], the range of this metric"));
    let value = need(
        "value",
        &|v| top.is_none_or(|t| (0.0..=t).contains(&v) || v.abs() < 1e-12),
        outside.as_deref().unwrap_or("is not finite"),
    )?;
    let step = checked("step", &integer, "is not a non-negative whole step")?;
    let shots = checked(
        "shots",
        &|v| integer(v) && v < 1e6,
        "is not a non-negative whole number of shots",
    )?;
    let n = checked(
        "n",
        &|v| integer(v) && v >= 1.0,
        "is not a whole number of documents (at least 1)",
    )?;
    let stderr = checked(
        "stderr",
        &|v| v >= 0.0,
        "is not a non-negative standard error",
    )?;
    let baseline = checked(
        "baseline",
        &|v| top.is_none_or(|t| (0.0..=t).contains(&v)),
        outside.as_deref().unwrap_or("is not finite"),
    )?;
    let non_emb = checked(
        "non_embedding_params",
        &|v| v > 0.0 && v <= params,
        "is not a positive count at most `params`",
    )?;
    let flops = checked("flops", &|v| v > 0.0, "is not a positive compute")?;
    let budget = checked("budget", &|v| v > 0.0, "is not a positive token budget")?;
    let mut domain_loss = BTreeMap::new();
    for &(d, i) in domains {
        if let Some(s) = cell(i) {
            let name = format!("loss:{d}");
            let v = parse(&name, s)?;
            if !(v > 0.0 && v < 1e3) {
                return Err(format!(
                    "{at}: column `{name}`: {s} is not a loss in nats per token"
                ));
            }
            domain_loss.insert(d.to_string(), v);
        }
    }
    let task = text("task")?;
    let baseline = baseline.or_else(|| known_baseline(&task, &metric));
    Ok(Obs {
        run: text("run")?,
        size: get("size").map_or_else(|| human_count(params), str::to_string),
        params,
        non_embedding_params: non_emb,
        step: step.map(|s| s as u64),
        tokens,
        flops: flops.unwrap_or(6.0 * params * tokens),
        loss,
        task,
        shots: shots.unwrap_or(0.0) as u32,
        metric,
        value,
        stderr,
        n,
        baseline,
        language: get("language").map(str::to_string),
        budget,
        domain_loss,
        docs: None,
    })
}

/// The random-guess level of a metric of a well-known task (from its name), from any
/// input.
pub fn known_baseline(task: &str, metric: &str) -> Option<f64> {
    lmeval_task_baseline(task).and_then(|b| emergent_metrics::baseline(metric, b))
}

// ---------------------------------------------------------------- lm-eval JSON

/// Tokens per optimiser step of the Pythia suite (1,024 sequences of 2,048 tokens),
/// unless the folder names another batch size (`-0.5MtokBS`: 0.5·2²⁰).
const PYTHIA_TOKENS_PER_STEP: f64 = 2_097_152.0;

/// Random-guess accuracy of lm-eval tasks that the Pythia files hold.
fn lmeval_task_baseline(task: &str) -> Option<f64> {
    let t = task.to_ascii_lowercase();
    if t.starts_with("hendrycks") || t.starts_with("mmlu") {
        return Some(0.25);
    }
    Some(match t.as_str() {
        "arc_easy" | "arc_challenge" | "sciq" | "logiqa" | "hellaswag" | "openbookqa" => 0.25,
        "piqa" | "winogrande" | "wsc" | "wsc273" | "boolq" | "copa" => 0.5,
        "lambada_openai" | "lambada_standard" | "lambada" | "triviaqa" | "gsm8k" => 0.0,
        _ => return None,
    })
}

/// Parameters from a size in a name: `70m`, `1.4b`, `160M`.
fn parse_size(token: &str) -> Option<f64> {
    let t = token.to_ascii_lowercase();
    let (num, mult) = match t.chars().last()? {
        'k' => (&t[..t.len() - 1], 1e3),
        'm' => (&t[..t.len() - 1], 1e6),
        'b' => (&t[..t.len() - 1], 1e9),
        _ => return None,
    };
    num.parse::<f64>()
        .ok()
        .filter(|v| *v > 0.0)
        .map(|v| v * mult)
}

/// Every `*.json` below `path` (or `path` itself), sorted.
fn json_files(path: &Path) -> Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| InputError(format!("{}: cannot read: {e}", dir.display())))?;
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "json") {
                out.push(p);
            }
        }
    }
    out.sort();
    if out.is_empty() {
        return Err(InputError(format!(
            "{}: no .json result files",
            path.display()
        )));
    }
    Ok(out)
}

/// What a result file's path says: run, size, step and tokens per step.
#[derive(Debug)]
struct FileFacts {
    run: String,
    size: String,
    params: f64,
    step: u64,
    tokens_per_step: f64,
}

/// How a results file without `step<N>` in its name is placed: the step (else taken from
/// the model's name, `…/step1000` or `…/checkpoint-1000`) and the tokens per step (else
/// the folder's `-0.5MtokBS`, else Pythia's).
#[derive(Debug, Clone, Copy, Default)]
pub struct LmevalPlacement {
    pub step: Option<u64>,
    pub tokens_per_step: Option<f64>,
}

/// A step in a name: `step1000`, `step-1000`, `global_step1000`, `checkpoint-1000`.
fn step_in(name: &str) -> Option<u64> {
    let digits = |s: &str| s.trim_start_matches(['-', '_']).parse::<u64>().ok();
    name.rsplit_once("step")
        .and_then(|(_, s)| digits(s))
        .or_else(|| name.strip_prefix("checkpoint").and_then(digits))
}

/// The model an lm-eval results file names: `model_name`, else `model_args`' pretrained.
fn model_name_of(json: &serde_json::Value) -> Option<String> {
    if let Some(n) = json.get("model_name").and_then(|v| v.as_str()) {
        return Some(n.to_string());
    }
    match json.pointer("/config/model_args") {
        Some(serde_json::Value::String(s)) => s
            .split(',')
            .find_map(|kv| kv.strip_prefix("pretrained="))
            .map(str::to_string),
        Some(v) => v
            .get("pretrained")
            .and_then(|p| p.as_str())
            .map(str::to_string),
        None => None,
    }
}

/// `…/pythia-70m-deduped/zero-shot/70m-deduped_step3000.json`: the model folder names
/// the size, the file name the step; a `baseline`/`intervention` sub-folder is its own
/// run, a `zero-shot`/`five-shot` one is not. Without a step in the file name, the step
/// comes from `placement` or the model's name in the file, the run from the model's
/// name and the size from it or the file's parameter count.
fn file_facts(
    path: &Path,
    json: &serde_json::Value,
    placement: LmevalPlacement,
) -> std::result::Result<FileFacts, String> {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let in_file_name = stem
        .rsplit_once("step")
        .and_then(|(_, s)| s.parse::<u64>().ok());
    match (in_file_name, placement.step) {
        (Some(step), None) => folder_facts(path, step, placement),
        _ => model_facts(path, json, placement),
    }
}

fn model_facts(
    path: &Path,
    json: &serde_json::Value,
    placement: LmevalPlacement,
) -> std::result::Result<FileFacts, String> {
    let name = model_name_of(json).unwrap_or_default();
    let parts: Vec<&str> = name
        .split(['/', '\\'])
        .filter(|p| !p.is_empty() && *p != "." && *p != "..")
        .collect();
    let at = parts.iter().rposition(|p| step_in(p).is_some());
    let step = placement
        .step
        .or_else(|| at.and_then(|i| step_in(parts[i])))
        .ok_or_else(|| {
            format!(
                "{}: no step: neither the file name (`step<N>`) nor the model `{name}` (`…/step<N>`, `…/checkpoint-<N>`) names one; give it with --step N",
                path.display()
            )
        })?;
    let run_parts = match at {
        Some(i) if i > 0 => &parts[..i],
        _ => &parts[..],
    };
    let run = run_parts
        .last()
        .map_or_else(|| "model".to_string(), |p| p.to_string());
    let from_name = run_parts
        .iter()
        .rev()
        .flat_map(|p| p.split(['-', '_']))
        .find_map(|p| parse_size(p).map(|n| (n, p.to_string())));
    let from_count = json
        .pointer("/config/model_num_parameters")
        .and_then(|v| v.as_f64())
        .filter(|&n| n > 0.0)
        .map(|n| (n, human_count(n)));
    let (params, size) = from_name.or(from_count).ok_or_else(|| {
        format!(
            "{}: the model `{name}` names no size (like 70m) and the file gives no config.model_num_parameters",
            path.display()
        )
    })?;
    let tokens_per_step = placement.tokens_per_step.unwrap_or(PYTHIA_TOKENS_PER_STEP);
    Ok(FileFacts {
        run,
        size,
        params,
        step,
        tokens_per_step,
    })
}

fn folder_facts(
    path: &Path,
    step: u64,
    placement: LmevalPlacement,
) -> std::result::Result<FileFacts, String> {
    let dirs: Vec<&str> = path
        .ancestors()
        .skip(1)
        .filter_map(|p| p.file_name()?.to_str())
        .collect();
    let (model_dir, sub) = match dirs.as_slice() {
        [sub, model, ..]
            if sub.ends_with("-shot")
                || sub.contains("baseline")
                || sub.contains("intervention") =>
        {
            (*model, (!sub.ends_with("-shot")).then_some(*sub))
        }
        [model, ..] => (*model, None),
        [] => return Err(format!("{}: no model folder", path.display())),
    };
    let parts: Vec<&str> = model_dir.split('-').collect();
    let (params, size) = parts
        .iter()
        .find_map(|p| parse_size(p).map(|n| (n, p.to_string())))
        .ok_or_else(|| {
            format!(
                "{}: the folder `{model_dir}` names no model size (like 70m or 1.4b)",
                path.display()
            )
        })?;
    let tokens_per_step = placement.tokens_per_step.unwrap_or_else(|| {
        parts
            .iter()
            .find_map(|p| p.strip_suffix("MtokBS")?.parse::<f64>().ok())
            .map_or(PYTHIA_TOKENS_PER_STEP, |m| m * 1_048_576.0)
    });
    let run = match sub {
        Some(s) => format!("{model_dir}/{s}"),
        None => model_dir.to_string(),
    };
    Ok(FileFacts {
        run,
        size,
        params,
        step,
        tokens_per_step,
    })
}

/// Reads lm-evaluation-harness result files (`results.<task>.<metric>` with
/// `<metric>_stderr`), a file or a folder of them. They hold no loss: analyse them
/// against tokens, compute, size or another task's metric.
pub fn read_lmeval(path: &Path) -> Result<Loaded> {
    read_lmeval_placed(path, LmevalPlacement::default())
}

/// [`read_lmeval`], placing files whose names give no step as `placement` says.
pub fn read_lmeval_placed(path: &Path, placement: LmevalPlacement) -> Result<Loaded> {
    let mut out = Loaded::default();
    for file in json_files(path)? {
        match lmeval_file(&file, placement) {
            Ok(mut obs) => out.obs.append(&mut obs),
            Err(e) => out.rejected.push(e),
        }
    }
    Ok(out)
}

fn lmeval_file(file: &Path, placement: LmevalPlacement) -> std::result::Result<Vec<Obs>, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    let facts = file_facts(file, &json, placement)?;
    let results = json
        .get("results")
        .and_then(|r| r.as_object())
        .ok_or_else(|| format!("{}: no `results` object", file.display()))?;
    let shots = json
        .pointer("/config/num_fewshot")
        .and_then(|v| v.as_u64())
        .unwrap_or(0) as u32;
    let tokens = facts.step as f64 * facts.tokens_per_step;
    let samples = lmeval_samples(file, results.keys())?;
    let mut obs = Vec::new();
    for (task, metrics) in results {
        let Some(metrics) = metrics.as_object() else {
            continue;
        };
        // lm-eval 0.4 gives each task's shots in `n-shot`.
        let shots = json
            .pointer(&format!(
                "/n-shot/{}",
                task.replace('~', "~0").replace('/', "~1")
            ))
            .and_then(|v| v.as_u64())
            .map_or(shots, |s| s as u32);
        for (metric, value) in metrics {
            if matches!(
                metric.as_str(),
                "name" | "alias" | "sample_len" | "sample_count"
            ) {
                continue;
            }
            let Some(value) = value.as_f64() else {
                continue;
            };
            let metric_name = metric.replace(",none", "");
            if metric_name.contains("_stderr") || metric == "alias" || !value.is_finite() {
                continue;
            }
            let stderr = metrics
                .get(&format!("{metric_name}_stderr"))
                .or_else(|| metrics.get(&metric.replace(',', "_stderr,")))
                .and_then(|v| v.as_f64());
            obs.push(Obs {
                run: facts.run.clone(),
                size: facts.size.clone(),
                params: facts.params,
                non_embedding_params: None,
                step: Some(facts.step),
                tokens,
                flops: 6.0 * facts.params * tokens,
                loss: f64::NAN,
                task: task.clone(),
                shots,
                metric: metric_name.clone(),
                value,
                stderr,
                n: None,
                baseline: known_baseline(task, &metric_name),
                language: None,
                budget: None,
                domain_loss: BTreeMap::new(),
                docs: samples.get(&(task.clone(), metric_name.clone())).cloned(),
            });
        }
    }
    Ok(obs)
}

// ---------------------------------------------------------------- per-document records

/// Per-document scores of one evaluation, by metric, from a JSONL file of records:
/// emergent's `samples/<checkpoint>/<task>.jsonl` (`doc_id` and a `metrics` object) or
/// lm-evaluation-harness's `--log_samples` file (`doc_id`, the metrics as top-level
/// numbers, and a `filter` named in the metric as lm-eval names it, `exact_match,flexible`).
pub fn read_samples(path: &Path) -> std::result::Result<BTreeMap<String, Arc<DocScores>>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let mut by_metric: BTreeMap<String, Vec<(u64, f64)>> = BTreeMap::new();
    let mut seen: HashMap<(String, u64), usize> = HashMap::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let at = format!("{}:{}", path.display(), i + 1);
        let rec: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("{at}: invalid JSON: {e}"))?;
        let id = rec
            .get("doc_id")
            .and_then(|v| v.as_u64())
            .ok_or_else(|| format!("{at}: no whole `doc_id`"))?;
        let filter = rec
            .get("filter")
            .and_then(|v| v.as_str())
            .filter(|f| *f != "none");
        let metrics = match rec.get("metrics").and_then(|m| m.as_object()) {
            Some(m) => m.clone(),
            None => rec.as_object().cloned().unwrap_or_default(),
        };
        for (name, v) in &metrics {
            let Some(v) = v.as_f64().filter(|v| v.is_finite()) else {
                continue;
            };
            if name == "doc_id" || name.ends_with("_stderr") {
                continue;
            }
            let name = match filter {
                Some(f) if !name.contains(',') => format!("{name},{f}"),
                _ => name.clone(),
            };
            if let Some(first) = seen.insert((name.clone(), id), i + 1) {
                return Err(format!(
                    "{at}: document {id} already scored on line {first} ({name})"
                ));
            }
            by_metric.entry(name).or_default().push((id, v));
        }
    }
    let source = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    Ok(by_metric
        .into_iter()
        .map(|(m, pairs)| {
            let mut d = DocScores::new(pairs);
            d.source = Some(source.clone());
            (m, Arc::new(d))
        })
        .collect())
}

/// lm-eval's `--log_samples` files beside a results file: `samples_<task>_<time>.jsonl`
/// with the results file's own `<time>` (`results_<time>.json`), or any time when the
/// folder holds one results file.
fn lmeval_samples<'a>(
    file: &Path,
    tasks: impl Iterator<Item = &'a String>,
) -> std::result::Result<HashMap<(String, String), Arc<DocScores>>, String> {
    let dir = file.parent().unwrap_or(Path::new("."));
    let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let time = stem.strip_prefix("results_");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(HashMap::new());
    };
    let names: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .collect();
    let results_files = names.iter().filter(|n| n.ends_with(".json")).count();
    let mut out = HashMap::new();
    for task in tasks {
        let prefix = format!("samples_{task}_");
        let found = names.iter().find(|n| {
            n.ends_with(".jsonl")
                && n.strip_prefix(&prefix).is_some_and(|rest| {
                    let t = rest.trim_end_matches(".jsonl");
                    time.map_or(results_files == 1, |time| t == time) && !t.contains("samples_")
                })
        });
        if let Some(name) = found {
            for (metric, d) in read_samples(&dir.join(name))? {
                out.insert((task.clone(), metric.replace(",none", "")), d);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_follow_rfc4180_quoting() {
        assert_eq!(
            split_csv(r#"a,"b,c","d""e",,f"#).unwrap(),
            vec!["a", "b,c", "d\"e", "", "f"]
        );
        assert!(split_csv(r#"a,"b"#).is_err());
    }

    #[test]
    fn a_csv_carries_per_document_records_and_one_loss_unit() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("docs.jsonl"),
            "{\"doc_id\": 1, \"metrics\": {\"acc\": 1.0}}\n{\"doc_id\": 0, \"metrics\": {\"acc\": 0.0}}\n",
        )
        .unwrap();
        let csv = dir.path().join("points.csv");
        let head = "run,params,tokens,loss,loss_unit,task,metric,value,brier,samples\n";
        let row = |unit: &str, metric: &str, value: &str, samples: &str| {
            format!("r,1e6,1e9,1.5,{unit},t,{metric},{value},,{samples}\n")
        };
        let text = [
            head.to_string(),
            row("bits/byte", "acc", "0.5", "docs.jsonl"),
            row("", "brier_score", "1.5", ""),
            row("bits/byte", "acc_norm", "0.5", "docs.jsonl"),
            row("bits/byte", "prob_correct", "0.4", "gone.jsonl"),
            row("nats/token", "other", "0.5", ""),
            row("bits", "more", "0.5", ""),
            row("", "brier_score", "2.5", ""),
        ]
        .concat();
        std::fs::write(&csv, text).unwrap();
        let loaded = read_csv(&csv).unwrap();
        assert_eq!(loaded.loss_unit.as_deref(), Some("bits/byte"));
        let docs = loaded.obs[0].docs.as_ref().unwrap();
        assert_eq!(
            (docs.ids.clone(), docs.values.clone()),
            (vec![0, 1], vec![0.0, 1.0])
        );
        assert!(docs.source.as_ref().unwrap().ends_with("docs.jsonl"));
        // A Brier score lies in [0, 2]; a missing record keeps the row without them.
        assert_eq!(loaded.obs.len(), 4);
        assert!(loaded.obs[3].docs.is_none());
        let said = loaded.rejected.join("\n");
        for want in [
            "points.csv:4: column `samples`: docs.jsonl has no scores of `acc_norm`",
            "points.csv:5: column `samples`: ",
            "points.csv:6: column `loss_unit`: `nats/token`, but line 2 says `bits/byte`",
            "points.csv:7: column `loss_unit`: `bits` is neither",
            "points.csv:8: column `value`: 2.5 is outside [0, 2]",
        ] {
            assert!(said.contains(want), "{want} not in\n{said}");
        }
    }

    #[test]
    fn sizes_and_baselines() {
        assert_eq!(parse_size("1.4b"), Some(1.4e9));
        assert_eq!(parse_size("70m"), Some(7e7));
        assert_eq!(parse_size("deduped"), None);
        assert_eq!(human_count(1.4e9), "1.4B");
        assert_eq!(human_count(96_000.0), "96K");
    }

    #[test]
    fn pythia_paths_name_run_size_step_and_batch() {
        let none = serde_json::Value::Null;
        let file_facts = |p: &Path| file_facts(p, &none, LmevalPlacement::default());
        let f = file_facts(Path::new(
            "x/pythia-v1/pythia-160m-0.5MtokBS/160m-0.5MtokBS_step3000.json",
        ))
        .unwrap();
        assert_eq!(
            (f.run.as_str(), f.params, f.step),
            ("pythia-160m-0.5MtokBS", 1.6e8, 3000)
        );
        assert_eq!(f.tokens_per_step, 524_288.0);
        let g = file_facts(Path::new(
            "p/pythia-1.4b-deduped/five-shot/1.4b-deduped-5shot_step13000.json",
        ))
        .unwrap();
        assert_eq!(
            (g.run.as_str(), g.size.as_str()),
            ("pythia-1.4b-deduped", "1.4b")
        );
        assert_eq!(g.tokens_per_step, PYTHIA_TOKENS_PER_STEP);
        let h = file_facts(Path::new(
            "p/pythia-410m-deduped/intervention/i-410m_step10.json",
        ))
        .unwrap();
        assert_eq!(h.run, "pythia-410m-deduped/intervention");
    }

    #[test]
    fn lm_eval_output_folders_take_the_step_from_the_model() {
        let p =
            Path::new("out/__runs__llama-d64__step1500/results_2026-12-02T06-08-15.870995.json");
        let json = serde_json::json!({"model_name": "/runs/llama-d64/step1500",
            "config": {"model_num_parameters": 32800}});
        let at = LmevalPlacement::default();
        let f = file_facts(p, &json, at).unwrap();
        assert_eq!(
            (f.run.as_str(), f.step, f.size.as_str()),
            ("llama-d64", 1500, "32.8K")
        );
        let json = serde_json::json!({"model_name": "ckpt/pythia-70m/checkpoint-300"});
        let f = file_facts(p, &json, at).unwrap();
        assert_eq!((f.run.as_str(), f.step, f.params), ("pythia-70m", 300, 7e7));
        let json = serde_json::json!({"config": {"model_args": "pretrained=m/final,dtype=float32", "model_num_parameters": 5e6}});
        let e = file_facts(p, &json, at).unwrap_err();
        assert!(e.contains("--step"), "{e}");
        let placed = LmevalPlacement {
            step: Some(7),
            tokens_per_step: Some(1000.0),
        };
        let f = file_facts(p, &json, placed).unwrap();
        assert_eq!(
            (f.run.as_str(), f.step, f.tokens_per_step),
            ("final", 7, 1000.0)
        );
    }
}
