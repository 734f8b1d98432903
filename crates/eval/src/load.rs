//! From names and paths to tasks: a spec (emergent's TOML or lm-eval's YAML) loaded with
//! its documents, found where lm-eval finds them (beside the spec, under `--data`, or a
//! local copy of a `dataset_path`), and what a `--tasks` entry selects (a file, a folder,
//! a task, group or tag indexed under `--include_path`, a shipped spec).

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{Map, Value as Json};

use crate::lmeval_config::{KeyError, LmevalTaskConfig};
use crate::task::{check, resolve, FewshotPool, Task, TaskSpec};
use crate::template::Templates;
use crate::yaml::{is_yaml, read_config, Config, Node, Selector, TaskIndex};

/// Every document of the data files, each with where it came from (`FILE:LINE`).
fn read_docs(paths: &[PathBuf]) -> Result<Vec<(String, Json)>> {
    let mut docs = Vec::new();
    for path in paths {
        let line_based = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("jsonl" | "ndjson" | "csv")
        );
        for r in emergent_data::read_records(path)? {
            let at = if line_based {
                format!("{}:{}", path.display(), r.at)
            } else {
                format!("{} (document {})", path.display(), r.at)
            };
            docs.push((at, r.doc));
        }
    }
    Ok(docs)
}

/// Where a split of a data set named by `dataset_path` (and `dataset_name`) may lie under
/// `--data DIR`, in the order looked at: `DIR/PATH/NAME/`, `DIR/PATH/`, then the same
/// with only the last part of PATH (`openai/gsm8k` → `gsm8k`), each also with a `data/`
/// folder; in each, `SPLIT.EXT` or the shards `SPLIT-*.EXT` (a Hub snapshot's Parquet
/// files), EXT one of jsonl, ndjson, json, csv, parquet.
pub fn dataset_candidates(dir: &Path, path: &str, name: Option<&str>) -> Vec<PathBuf> {
    let short = path.rsplit('/').next().unwrap_or(path);
    let mut bases = Vec::new();
    for p in [path, short] {
        if let Some(n) = name {
            bases.push(dir.join(p).join(n));
        }
        bases.push(dir.join(p));
        bases.push(dir.join(p).join("data"));
    }
    bases.dedup();
    bases
}

/// The files of `split` in `base`: `SPLIT.EXT`, else the sorted shards `SPLIT-*.EXT`.
fn split_in(base: &Path, split: &str) -> Vec<PathBuf> {
    for ext in emergent_data::RECORD_EXTENSIONS {
        let p = base.join(format!("{split}.{ext}"));
        if p.is_file() {
            return vec![p];
        }
    }
    let Ok(entries) = std::fs::read_dir(base) else {
        return Vec::new();
    };
    let mut shards: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            let ext = p.extension().and_then(|e| e.to_str()).unwrap_or_default();
            name.starts_with(&format!("{split}-"))
                && emergent_data::RECORD_EXTENSIONS.contains(&ext)
        })
        .collect();
    shards.sort();
    shards
}

/// Reads a task spec and its documents, resolving and checking every document.
pub fn load_task(spec_path: &Path) -> Result<Task> {
    load_task_with_data(spec_path, None)
}

/// As [`load_task`], looking for data files the spec's folder lacks in `data_dir/TASK/`
/// and `data_dir/` (shipped benchmark specs read the JSONL a user brings), and for a
/// `dataset_path` under `data_dir`. A `.yaml` spec is read as lm-eval's task config.
pub fn load_task_with_data(spec_path: &Path, data_dir: Option<&Path>) -> Result<Task> {
    if crate::yaml::is_yaml(spec_path) {
        return load_yaml_task(spec_path, data_dir);
    }
    let text = std::fs::read_to_string(spec_path)
        .with_context(|| format!("reading task spec {}", spec_path.display()))?;
    let spec: TaskSpec = toml::from_str(&text)
        .map_err(|e| anyhow!("{}: {}", spec_path.display(), e.message().trim()))?;
    let base = spec_path.parent().unwrap_or(Path::new("."));
    build_task(spec, spec_path, &[base.to_path_buf()], data_dir, None)
}

/// A task from its spec: `bases` are where relative data files are looked for first.
pub(crate) fn build_task(
    spec: TaskSpec,
    spec_path: &Path,
    bases: &[PathBuf],
    data_dir: Option<&Path>,
    lmeval_config: Option<Json>,
) -> Result<Task> {
    let named = |e: anyhow::Error| anyhow!("{}: {e:#}", spec_path.display());
    for f in &spec.filter_list {
        crate::extract::Filter::new(f, &spec.task).map_err(named)?;
    }
    spec.generation_kwargs.check_greedy().map_err(named)?;
    let split_files = |split: &str| -> Result<Vec<PathBuf>> {
        if let Some(f) = spec.data_files.get(split) {
            let mut places: Vec<PathBuf> = bases.iter().map(|b| b.join(f)).collect();
            if let Some(d) = data_dir {
                places.push(d.join(&spec.task).join(f));
                places.push(d.join(f));
            }
            if let Some(p) = places.iter().find(|p| p.exists()) {
                return Ok(vec![p.clone()]);
            }
            let tried: Vec<String> = places.iter().map(|p| p.display().to_string()).collect();
            bail!(
                "{}: the `{split}` split's file `{f}` is not at {}{}",
                spec_path.display(),
                tried.join(" or "),
                if data_dir.is_none() {
                    " (give the folder that holds it with --data DIR)"
                } else {
                    ""
                }
            )
        }
        let Some(dataset) = &spec.dataset_path else {
            bail!(
                "{}: split `{split}` is not in `data_files`",
                spec_path.display()
            );
        };
        let Some(dir) = data_dir else {
            bail!(
                "{}: the data set `{dataset}` is read from a local copy: give the folder \
                 that holds it with --data DIR (DIR/{dataset}/{}{split}.jsonl, .json, .csv \
                 or .parquet, or a snapshot's {split}-*.parquet shards)",
                spec_path.display(),
                spec.dataset_name
                    .as_ref()
                    .map_or(String::new(), |n| format!("{n}/")),
            );
        };
        let bases = dataset_candidates(dir, dataset, spec.dataset_name.as_deref());
        if let Some(files) = bases
            .iter()
            .map(|b| split_in(b, split))
            .find(|f| !f.is_empty())
        {
            return Ok(files);
        }
        let tried: Vec<String> = bases.iter().map(|p| p.display().to_string()).collect();
        bail!(
            "{}: no `{split}` split of `{dataset}` ({split}.jsonl, .json, .csv, .parquet or \
             {split}-*.parquet) in {}",
            spec_path.display(),
            tried.join(", ")
        )
    };
    let test_paths = split_files(spec.eval_split())?;
    let templates = std::sync::Arc::new(Templates::default());
    let mut docs = Vec::new();
    let mut fields = Vec::new();
    for (at, doc) in read_docs(&test_paths)? {
        let f = resolve(&spec, &templates, &doc).map_err(|e| anyhow!("{at}: {e:#}"))?;
        check(&spec, &f).map_err(|e| anyhow!("{at}: {e:#}"))?;
        docs.push(doc);
        fields.push(f);
    }
    let mut data_paths = test_paths;
    // A missing few-shot file matters only when examples are asked for: zero-shot
    // evaluation needs just the scored split.
    let pool = spec.fewshot_pool_split();
    let fewshot_docs = if pool == spec.eval_split() {
        FewshotPool::Scored
    } else {
        match split_files(pool).and_then(|p| {
            let docs = read_docs(&p)?;
            data_paths.extend(p);
            Ok(docs)
        }) {
            Ok(docs) => FewshotPool::Docs(docs.into_iter().map(|(_, d)| d).collect()),
            Err(e) => FewshotPool::Missing(format!("{e:#}")),
        }
    };
    Ok(Task {
        spec,
        path: spec_path.into(),
        docs,
        fields,
        fewshot_docs,
        templates,
        data_paths,
        lmeval_config,
    })
}

/// Reads one lm-eval YAML task (a group is refused here: `--tasks` takes groups).
pub fn load_yaml_task(path: &Path, data_dir: Option<&Path>) -> Result<Task> {
    let c = read_config(path)?;
    if c.map.contains_key("group") && c.map.contains_key("task") {
        bail!(
            "{}: a group of tasks; score it with `emergent eval --tasks`",
            path.display()
        );
    }
    lmeval_task(&c, data_dir)
}

/// Translates an lm-eval task config into a [`TaskSpec`] and loads its documents; a
/// key that cannot be taken is named at the file and line that set it.
pub(crate) fn lmeval_task(c: &Config, data_dir: Option<&Path>) -> Result<Task> {
    let task = c
        .map
        .get("task")
        .and_then(Json::as_str)
        .ok_or_else(|| anyhow!("{}: no `task` name", c.path.display()))?;
    let located = |k: KeyError| anyhow!("{}: task `{task}`: {k}", c.at(&k.key));
    let config = LmevalTaskConfig::try_from(&c.map).map_err(located)?;
    let spec = TaskSpec::try_from(&config).map_err(located)?;
    // What lm-eval reports as the task's config: the keys as given, generation's
    // defaults filled in.
    let mut dump = c.map.clone();
    for k in ["tag", "group", "task_list"] {
        dump.remove(k);
    }
    if let Some(g) = config.generation_kwargs() {
        dump.insert("generation_kwargs".into(), g);
    }
    let mut bases = Vec::new();
    if let Some(dir) = c.origin.get("dataset_kwargs").unwrap_or(&c.path).parent() {
        bases.push(dir.to_path_buf());
    }
    bases.push(PathBuf::from("."));
    build_task(spec, &c.path, &bases, data_dir, Some(Json::Object(dump)))
}

/// Where a name of a shipped TOML spec points: `DIR/NAME.toml`, else `DIR/NAME/NAME.toml`.
pub fn shipped_spec(dir: &Path, name: &str) -> Option<PathBuf> {
    let direct = dir.join(format!("{name}.toml"));
    let nested = dir.join(name).join(format!("{name}.toml"));
    [direct, nested].into_iter().find(|p| p.is_file())
}

/// Resolves each `--tasks` entry on its own (one bad entry leaves the others): a YAML
/// file, a folder of YAML configs, a TOML spec, or a name — of a task, group or tag in
/// the `include` folders, else of a spec shipped in `shipped`, else of a YAML config
/// there.
pub fn select_tasks(
    entries: &[String],
    include: &[PathBuf],
    shipped: &Path,
    data_dir: Option<&Path>,
) -> Vec<(String, Result<Vec<Node>>)> {
    let user = TaskIndex::scan(include);
    let mut all = user.clone();
    all.scan_dir(shipped);
    entries
        .iter()
        .map(|e| {
            let select = || -> Result<Vec<Node>> {
                let p = Path::new(e);
                let build = |c: &Config| lmeval_task(c, data_dir);
                let sel = |index| Selector {
                    index,
                    build: &build,
                };
                if p.is_dir() {
                    return sel(&user).folder(p);
                }
                if p.is_file() || p.extension().is_some() {
                    if is_yaml(p) {
                        return sel(&user).file(p);
                    }
                    let t = load_task_with_data(p, data_dir)?;
                    return Ok(vec![Node::Task(Box::new(t))]);
                }
                if user.contains(e) {
                    return sel(&user).name(e, &Map::new());
                }
                if let Some(spec) = shipped_spec(shipped, e) {
                    let t = load_task_with_data(&spec, data_dir)?;
                    return Ok(vec![Node::Task(Box::new(t))]);
                }
                if all.contains(e) {
                    return sel(&all).name(e, &Map::new());
                }
                let mut places: Vec<String> = include.iter().map(|d| d.display().to_string()).collect();
                places.push(shipped.display().to_string());
                bail!(
                    "no task, group or tag named `{e}` (looked in {}; give a path, or a folder with --include_path)",
                    places.join(", ")
                )
            };
            (e.clone(), select())
        })
        .collect()
}
