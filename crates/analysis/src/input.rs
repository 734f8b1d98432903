//! Where the numbers come from: one observation per (checkpoint, task, metric), read
//! from a CSV file or from lm-evaluation-harness result files (the study's own SQLite
//! database is converted by the CLI). A bad row is rejected with its file and line and
//! the rest is kept; a file that cannot be read at all is an error naming it.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// One evaluation of one checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize)]
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

/// The random-guess level of a metric given the task's (the mean of 1/k over its
/// documents): accuracy-like metrics and the correct choice's probability guess at
/// 1/k, the Brier score of a uniform guess is (k−1)/k, and continuous log-probability
/// or perplexity metrics have none.
pub fn metric_baseline(metric: &str, task_baseline: f64) -> Option<f64> {
    match metric.split(',').next().unwrap_or(metric) {
        "brier_score" => Some(1.0 - task_baseline),
        "prob_correct" => Some(task_baseline),
        _ if is_proportion(metric) => Some(task_baseline),
        _ => None,
    }
}

/// Whether a metric is a proportion of documents (accuracy, exact match, under any of
/// lm-eval's `,filter` suffixes), and so scatters binomially.
pub fn is_proportion(metric: &str) -> bool {
    let m = metric.split(',').next().unwrap_or(metric);
    m.starts_with("acc") || m.starts_with("exact_match")
}

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
/// `step,non_embedding_params,flops,n,stderr,shots,language,baseline` (and `size`).
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
    let mut out = Loaded::default();
    for (i, line) in lines {
        let at = format!("{}:{}", path.display(), i + 1);
        match split_csv(line)
            .map_err(|e| format!("{at}: {e}"))
            .and_then(|f| csv_row(&f, &col, &at))
        {
            Ok(o) => out.obs.push(o),
            Err(e) => out.rejected.push(e),
        }
    }
    Ok(out)
}

fn csv_row(f: &[String], col: &HashMap<&str, usize>, at: &str) -> std::result::Result<Obs, String> {
    let get = |name: &str| {
        col.get(name)
            .and_then(|&i| f.get(i))
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
    };
    let text = |name: &str| {
        get(name)
            .map(str::to_string)
            .ok_or_else(|| format!("{at}: column `{name}` is empty"))
    };
    let num = |name: &str| -> std::result::Result<Option<f64>, String> {
        get(name)
            .map(|s| {
                s.parse::<f64>()
                    .map_err(|_| format!("{at}: column `{name}`: `{s}` is not a number"))
            })
            .transpose()
    };
    let need = |name: &str| num(name)?.ok_or_else(|| format!("{at}: column `{name}` is empty"));
    let params = need("params")?;
    let tokens = need("tokens")?;
    let loss = need("loss")?;
    if !(loss.is_finite() && loss > 0.0) {
        return Err(format!(
            "{at}: column `loss`: {loss} is not a positive finite loss"
        ));
    }
    if !(params > 0.0 && params.is_finite() && tokens >= 0.0 && tokens.is_finite()) {
        return Err(format!(
            "{at}: `params` must be positive and `tokens` non-negative"
        ));
    }
    let value = need("value")?;
    if !value.is_finite() {
        return Err(format!("{at}: column `value`: {value} is not finite"));
    }
    let step = num("step")?.map(|s| s as u64);
    let shots = num("shots")?.unwrap_or(0.0);
    Ok(Obs {
        run: text("run")?,
        size: get("size").map_or_else(|| human_count(params), str::to_string),
        params,
        non_embedding_params: num("non_embedding_params")?,
        step,
        tokens,
        flops: num("flops")?.unwrap_or(6.0 * params * tokens),
        loss,
        task: text("task")?,
        shots: shots as u32,
        metric: text("metric")?,
        value,
        stderr: num("stderr")?,
        n: num("n")?,
        baseline: num("baseline")?,
        language: get("language").map(str::to_string),
    })
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
struct FileFacts {
    run: String,
    size: String,
    params: f64,
    step: u64,
    tokens_per_step: f64,
}

/// `…/pythia-70m-deduped/zero-shot/70m-deduped_step3000.json`: the model folder names
/// the size, the file name the step; a `baseline`/`intervention` sub-folder is its own
/// run, a `zero-shot`/`five-shot` one is not.
fn file_facts(path: &Path) -> std::result::Result<FileFacts, String> {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let step = stem
        .rsplit_once("step")
        .and_then(|(_, s)| s.parse::<u64>().ok())
        .ok_or_else(|| format!("{}: no `step<N>` in the file name", path.display()))?;
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
    let tokens_per_step = parts
        .iter()
        .find_map(|p| p.strip_suffix("MtokBS")?.parse::<f64>().ok())
        .map_or(PYTHIA_TOKENS_PER_STEP, |m| m * 1_048_576.0);
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
    let mut out = Loaded::default();
    for file in json_files(path)? {
        match lmeval_file(&file) {
            Ok(mut obs) => out.obs.append(&mut obs),
            Err(e) => out.rejected.push(e),
        }
    }
    Ok(out)
}

fn lmeval_file(file: &Path) -> std::result::Result<Vec<Obs>, String> {
    let facts = file_facts(file)?;
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    let results = json
        .get("results")
        .and_then(|r| r.as_object())
        .ok_or_else(|| format!("{}: no `results` object", file.display()))?;
    let shots = json
        .pointer("/config/num_fewshot")
        .and_then(|v| v.as_u64())
        .unwrap_or(0) as u32;
    let tokens = facts.step as f64 * facts.tokens_per_step;
    let mut obs = Vec::new();
    for (task, metrics) in results {
        let Some(metrics) = metrics.as_object() else {
            continue;
        };
        for (metric, value) in metrics {
            let Some(value) = value.as_f64() else {
                continue;
            };
            if metric.ends_with("_stderr") || metric == "alias" || !value.is_finite() {
                continue;
            }
            let metric_name = metric.replace(",none", "");
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
                baseline: lmeval_task_baseline(task).and_then(|b| metric_baseline(&metric_name, b)),
                language: None,
            });
        }
    }
    Ok(obs)
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
    fn sizes_and_baselines() {
        assert_eq!(parse_size("1.4b"), Some(1.4e9));
        assert_eq!(parse_size("70m"), Some(7e7));
        assert_eq!(parse_size("deduped"), None);
        assert_eq!(human_count(1.4e9), "1.4B");
        assert_eq!(human_count(96_000.0), "96K");
        assert_eq!(metric_baseline("brier_score", 0.25), Some(0.75));
        assert_eq!(metric_baseline("acc_norm", 0.25), Some(0.25));
        assert_eq!(metric_baseline("exact_match,strict-match", 0.0), Some(0.0));
        assert_eq!(metric_baseline("answer_logprob", 0.0), None);
    }

    #[test]
    fn pythia_paths_name_run_size_step_and_batch() {
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
}
