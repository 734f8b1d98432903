//! lm-evaluation-harness task configs (YAML), read as lm-eval reads them: `include:`
//! merged key by key (local keys win), tasks, groups and tags indexed by name across
//! folders, and each task translated into a [`TaskSpec`]. Nothing in a task file runs:
//! `!function` and the fields that name Python code are refused with the file and line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Map, Value as Json};

use crate::task::{
    build_task, FewshotConfig, FilterFunction, FilterSpec, GenerationKwargs, MetricSpec,
    OutputType, Sampler, Task, TaskSpec,
};
use crate::template::Field;

/// A file lm-eval reads as YAML: `.yaml`, `.yml`, or a template named `…_yaml`.
pub fn is_yaml(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    name.ends_with(".yaml") || name.ends_with(".yml") || name.ends_with("_yaml")
}

/// A config with its includes merged, and the file each top-level key came from.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub map: Map<String, Json>,
    origin: BTreeMap<String, PathBuf>,
}

impl Config {
    /// `FILE:LINE` of a top-level key (the file that set it, the line where it is).
    fn at(&self, key: &str) -> String {
        let file = self.origin.get(key).unwrap_or(&self.path);
        let line = std::fs::read_to_string(file)
            .ok()
            .and_then(|t| line_of(&t, key));
        match line {
            Some(l) => format!("{}:{l}", file.display()),
            None => file.display().to_string(),
        }
    }

    fn with_overrides(&self, overrides: &Map<String, Json>) -> Config {
        let mut c = self.clone();
        for (k, v) in overrides {
            c.map.insert(k.clone(), v.clone());
        }
        c
    }
}

/// The first line (from 1) that sets `key:`, as a mapping key or a list item's key.
fn line_of(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            let l = l.trim_start();
            let l = l.strip_prefix("- ").unwrap_or(l).trim_start();
            let l = l.trim_start_matches(['"', '\'']);
            l.strip_prefix(key)
                .map(|rest| {
                    rest.trim_start_matches(['"', '\''])
                        .trim_start()
                        .starts_with(':')
                })
                .unwrap_or(false)
        })
        .map(|i| i + 1)
}

/// The line of the first `!tag` after `key`, for a refusal that points at it.
fn tag_line(text: &str, key: &str, tag: &str) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let start = line_of(text, key).unwrap_or(1) - 1;
    (start..lines.len())
        .find(|&i| lines[i].contains(tag))
        .map(|i| i + 1)
}

/// Reads a YAML config as lm-eval's `load_yaml`: includes (relative to the including
/// file) merged in order, then the file's own keys over them.
pub fn read_config(path: &Path) -> Result<Config> {
    read_config_seen(path, &mut Vec::new())
}

fn read_config_seen(path: &Path, seen: &mut Vec<PathBuf>) -> Result<Config> {
    let canon = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    if seen.contains(&canon) {
        bail!("{}: include cycle", path.display());
    }
    seen.push(canon);
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading task config {}", path.display()))?;
    let value: serde_yaml::Value = serde_yaml::from_str(&text).map_err(|e| match e.location() {
        Some(l) => anyhow!(
            "{}:{}:{}: not valid YAML: {e}",
            path.display(),
            l.line(),
            l.column()
        ),
        None => anyhow!("{}: not valid YAML: {e}", path.display()),
    })?;
    let Json::Object(mut map) = to_json(value, path, &text, "")? else {
        bail!("{}: a task config must be a YAML mapping", path.display());
    };
    let mut merged = Map::new();
    let mut origin = BTreeMap::new();
    if let Some(inc) = map.remove("include") {
        let list = match inc {
            Json::Array(a) => a,
            other => vec![other],
        };
        for i in list {
            let Json::String(i) = i else {
                bail!("{}: `include` must name files", path.display());
            };
            let p = path.parent().unwrap_or(Path::new(".")).join(&i);
            let mut c = read_config_seen(&p, seen)
                .with_context(|| format!("{}: include `{i}`", path.display()))?;
            c.map.remove("task_list");
            for (k, v) in c.map {
                origin.insert(k.clone(), c.origin.remove(&k).unwrap_or(p.clone()));
                merged.insert(k, v);
            }
        }
    }
    for (k, v) in map {
        origin.insert(k.clone(), path.to_path_buf());
        merged.insert(k, v);
    }
    seen.pop();
    Ok(Config {
        path: path.to_path_buf(),
        map: merged,
        origin,
    })
}

/// YAML to JSON; a tagged value (`!function module.name`) is refused.
fn to_json(v: serde_yaml::Value, path: &Path, text: &str, key: &str) -> Result<Json> {
    use serde_yaml::Value as Y;
    Ok(match v {
        Y::Null => Json::Null,
        Y::Bool(b) => Json::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                json!(i)
            } else if let Some(u) = n.as_u64() {
                json!(u)
            } else {
                serde_json::Number::from_f64(n.as_f64().unwrap_or(f64::NAN))
                    .map_or(Json::Null, Json::Number)
            }
        }
        Y::String(s) => Json::String(s),
        Y::Sequence(items) => Json::Array(
            items
                .into_iter()
                .map(|x| to_json(x, path, text, key))
                .collect::<Result<_>>()?,
        ),
        Y::Mapping(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let k = match k {
                    Y::String(s) => s,
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => if b { "True" } else { "False" }.to_string(),
                    other => bail!(
                        "{}: a mapping key must be a string, not {other:?}",
                        path.display()
                    ),
                };
                let v = to_json(v, path, text, &k)?;
                out.insert(k, v);
            }
            Json::Object(out)
        }
        Y::Tagged(t) => {
            let tag = t.tag.to_string();
            let target = match &t.value {
                Y::String(s) => s.clone(),
                other => format!("{other:?}"),
            };
            let line = tag_line(text, key, &tag).map_or(String::new(), |l| format!(":{l}"));
            bail!(
                "{}{line}: `{key}` is `{tag} {target}`, Python code: emergent runs no code \
                 from a task file. Give the field as a Jinja template or a document field{}",
                path.display(),
                if key == "process_docs" {
                    ", and write the processed documents into the data file"
                } else {
                    ""
                }
            )
        }
    })
}

/// What a name means in an indexed folder.
#[derive(Debug, Clone)]
enum Entry {
    Task(PathBuf),
    Group(PathBuf),
    Tag(Vec<String>),
}

/// Every task, group and tag defined by the YAML files under some folders, by name.
#[derive(Debug, Default, Clone)]
pub struct TaskIndex {
    entries: BTreeMap<String, Entry>,
}

impl TaskIndex {
    /// Indexes every YAML file under `dirs` (recursively); a file that does not read is
    /// left out, as lm-eval leaves it out.
    pub fn scan(dirs: &[PathBuf]) -> TaskIndex {
        let mut index = TaskIndex::default();
        for d in dirs {
            index.scan_dir(d);
        }
        index
    }

    fn scan_dir(&mut self, dir: &Path) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if p.is_dir() {
                if !matches!(name, "__pycache__" | ".ipynb_checkpoints") && !name.starts_with('.') {
                    self.scan_dir(&p);
                }
            } else if name.ends_with(".yaml") || name.ends_with(".yml") {
                if let Ok(c) = read_config(&p) {
                    self.add(&p, &c);
                }
            }
        }
    }

    fn add(&mut self, path: &Path, c: &Config) {
        let str_of = |k: &str| c.map.get(k).and_then(Json::as_str).map(str::to_string);
        if let (Some(g), Some(_)) = (str_of("group"), c.map.get("task")) {
            self.entries
                .entry(g)
                .or_insert_with(|| Entry::Group(path.into()));
            return;
        }
        let Some(task) = str_of("task") else {
            return;
        };
        self.entries
            .entry(task.clone())
            .or_insert_with(|| Entry::Task(path.into()));
        let tags = match c.map.get("tag") {
            Some(Json::String(t)) => vec![t.clone()],
            Some(Json::Array(a)) => a
                .iter()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        };
        for t in tags {
            if let Entry::Tag(members) = self
                .entries
                .entry(t)
                .or_insert_with(|| Entry::Tag(Vec::new()))
            {
                members.push(task.clone());
            }
        }
    }

    pub fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    /// The names of groups and tasks defined directly by files under `dir`, without the
    /// tasks that one of those groups already holds.
    fn top_level_in(&self, dir: &Path) -> Vec<String> {
        let mut members = Vec::new();
        let mut names = Vec::new();
        for (name, e) in &self.entries {
            match e {
                Entry::Group(p) if p.starts_with(dir) => {
                    names.push(name.clone());
                    if let Ok(c) = read_config(p) {
                        members.extend(child_names(&c));
                    }
                }
                Entry::Task(p) if p.starts_with(dir) => names.push(name.clone()),
                _ => {}
            }
        }
        names.retain(|n| !members.contains(n));
        names
    }
}

fn child_names(c: &Config) -> Vec<String> {
    let items = match c.map.get("task") {
        Some(Json::Array(a)) => a.clone(),
        Some(other) => vec![other.clone()],
        None => Vec::new(),
    };
    items
        .iter()
        .filter_map(|i| match i {
            Json::String(s) => Some(s.clone()),
            Json::Object(o) => o
                .get("task")
                .or_else(|| o.get("group"))
                .and_then(Json::as_str)
                .map(str::to_string),
            _ => None,
        })
        .collect()
}

/// How a group combines a metric over its tasks (lm-eval's `aggregate_metric_list`).
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateMetric {
    pub metric: String,
    /// The filters aggregated; all the tasks' filters when absent.
    pub filter_list: Option<Vec<String>>,
    pub weight_by_size: bool,
}

/// A group of tasks, aggregated as lm-eval aggregates it.
#[derive(Debug, Clone)]
pub struct Group {
    pub name: String,
    pub alias: Option<String>,
    pub version: Json,
    pub aggregate: Vec<AggregateMetric>,
    pub children: Vec<Node>,
}

/// What a `--tasks` entry selects: tasks and groups of tasks.
#[derive(Debug, Clone)]
pub enum Node {
    Task(Box<Task>),
    Group(Group),
}

impl Node {
    pub fn name(&self) -> &str {
        match self {
            Node::Task(t) => &t.spec.task,
            Node::Group(g) => &g.name,
        }
    }

    /// Every task under this node, depth first.
    pub fn tasks(&self) -> Vec<&Task> {
        match self {
            Node::Task(t) => vec![t],
            Node::Group(g) => g.children.iter().flat_map(Node::tasks).collect(),
        }
    }
}

/// Resolves `--tasks` entries: a YAML file, a folder of them, or a name in `index`.
pub struct Selector<'a> {
    pub index: &'a TaskIndex,
    pub data_dir: Option<&'a Path>,
}

impl Selector<'_> {
    /// A YAML file: its task or group (its own folder indexed for the group's members).
    pub fn file(&self, path: &Path) -> Result<Vec<Node>> {
        let c = read_config(path)?;
        let mut index = self.index.clone();
        if let Some(dir) = path.parent() {
            index.scan_dir(dir);
        }
        let s = Selector {
            index: &index,
            data_dir: self.data_dir,
        };
        s.config(&c, &Map::new())
    }

    /// Every top-level task and group in a folder.
    pub fn folder(&self, dir: &Path) -> Result<Vec<Node>> {
        let mut index = self.index.clone();
        index.scan_dir(dir);
        let names = index.top_level_in(dir);
        if names.is_empty() {
            bail!(
                "{}: no lm-eval task or group configs (*.yaml) here",
                dir.display()
            );
        }
        let s = Selector {
            index: &index,
            data_dir: self.data_dir,
        };
        let mut out = Vec::new();
        for n in names {
            out.extend(s.name(&n, &Map::new())?);
        }
        Ok(out)
    }

    /// A name: a task, a group, or a tag (all its tasks).
    pub fn name(&self, name: &str, overrides: &Map<String, Json>) -> Result<Vec<Node>> {
        match self.index.entries.get(name) {
            Some(Entry::Task(p)) | Some(Entry::Group(p)) => {
                let c = read_config(p)?;
                self.config(&c, overrides)
            }
            Some(Entry::Tag(tasks)) => {
                let mut out = Vec::new();
                for t in tasks {
                    out.extend(self.name(t, overrides)?);
                }
                Ok(out)
            }
            None => bail!("no task, group or tag named `{name}`"),
        }
    }

    fn config(&self, c: &Config, overrides: &Map<String, Json>) -> Result<Vec<Node>> {
        if let Some(Json::String(g)) = c.map.get("group") {
            if c.map.contains_key("task") {
                return Ok(vec![Node::Group(self.group(g, c, overrides)?)]);
            }
        }
        let c = c.with_overrides(overrides);
        let task = lmeval_task(&c, self.data_dir)?;
        Ok(vec![Node::Task(Box::new(task))])
    }

    fn group(&self, name: &str, c: &Config, overrides: &Map<String, Json>) -> Result<Group> {
        const GROUP_FIELDS: [&str; 5] = [
            "group",
            "group_alias",
            "task",
            "aggregate_metric_list",
            "metadata",
        ];
        // Keys of a group that are not its own override its tasks' (the caller's win).
        let mut task_overrides: Map<String, Json> = c
            .map
            .iter()
            .filter(|(k, _)| !GROUP_FIELDS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (k, v) in overrides {
            task_overrides.insert(k.clone(), v.clone());
        }
        let items = match c.map.get("task") {
            Some(Json::Array(a)) => a.clone(),
            Some(other) => vec![other.clone()],
            None => Vec::new(),
        };
        let mut children = Vec::new();
        for item in items {
            let named = |e: anyhow::Error| anyhow!("{}: group `{name}`: {e:#}", c.at("task"));
            match item {
                Json::String(child) => {
                    children.extend(self.name(&child, &task_overrides).map_err(named)?)
                }
                Json::Object(o) => {
                    let mut item_overrides = task_overrides.clone();
                    for (k, v) in &o {
                        if k != "task" && k != "group" {
                            item_overrides.insert(k.clone(), v.clone());
                        }
                    }
                    if let Some(g) = o.get("group").and_then(Json::as_str) {
                        if self.index.contains(g) {
                            children.extend(self.name(g, &item_overrides).map_err(named)?);
                        } else {
                            let inline = Config {
                                path: c.path.clone(),
                                map: o.clone(),
                                origin: BTreeMap::new(),
                            };
                            let sub = format!("{name}::{g}");
                            children.push(Node::Group(self.group(
                                &sub,
                                &inline,
                                &task_overrides,
                            )?));
                        }
                        continue;
                    }
                    let Some(t) = o.get("task").and_then(Json::as_str) else {
                        bail!(
                            "{}: group `{name}`: an entry of `task` needs `task` or `group`",
                            c.at("task")
                        );
                    };
                    if self.index.contains(t) {
                        children.extend(self.name(t, &item_overrides).map_err(named)?);
                    } else {
                        // An inline task, named within its group as lm-eval names it.
                        let mut map = item_overrides;
                        map.insert("task".into(), json!(format!("{name}::{t}")));
                        let inline = Config {
                            path: c.path.clone(),
                            map,
                            origin: BTreeMap::new(),
                        };
                        children.push(Node::Task(Box::new(lmeval_task(&inline, self.data_dir)?)));
                    }
                }
                other => bail!(
                    "{}: group `{name}`: `{other}` is not a task name",
                    c.at("task")
                ),
            }
        }
        Ok(Group {
            name: name.to_string(),
            alias: c
                .map
                .get("group_alias")
                .and_then(Json::as_str)
                .map(str::to_string),
            version: c
                .map
                .get("metadata")
                .and_then(|m| m.get("version"))
                .map_or(json!("N/A"), |v| json!(crate::py::py_str(v))),
            aggregate: aggregate_list(c)?,
            children,
        })
    }
}

fn aggregate_list(c: &Config) -> Result<Vec<AggregateMetric>> {
    let items = match c.map.get("aggregate_metric_list") {
        None | Some(Json::Null) => return Ok(Vec::new()),
        Some(Json::Array(a)) => a.clone(),
        Some(other) => vec![other.clone()],
    };
    let at = c.at("aggregate_metric_list");
    items
        .iter()
        .map(|i| {
            let metric = i
                .get("metric")
                .and_then(Json::as_str)
                .ok_or_else(|| anyhow!("{at}: an aggregate metric needs `metric`"))?;
            let mean = emergent_metrics::Aggregation::Mean.name();
            if let Some(a) = i.get("aggregation").filter(|a| a.as_str() != Some(mean)) {
                bail!(
                    "{at}: aggregation {a} of `{metric}`: lm-eval aggregates groups only by `mean`"
                );
            }
            let filter_list = match i.get("filter_list") {
                None | Some(Json::Null) => None,
                Some(Json::String(s)) => Some(vec![s.clone()]),
                Some(Json::Array(a)) => Some(
                    a.iter()
                        .filter_map(|f| f.as_str().map(str::to_string))
                        .collect(),
                ),
                Some(other) => bail!("{at}: filter_list {other} is not a list of filter names"),
            };
            Ok(AggregateMetric {
                metric: metric.to_string(),
                filter_list,
                weight_by_size: i
                    .get("weight_by_size")
                    .and_then(Json::as_bool)
                    .unwrap_or(true),
            })
        })
        .collect()
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

/// Keys of a task config that name Python code or data emergent cannot read.
const REFUSED: [(&str, &str); 8] = [
    ("process_docs", "a Python function over the documents"),
    ("process_results", "a Python function that scores"),
    ("class", "a Python task class"),
    ("use_prompt", "a promptsource prompt"),
    ("doc_to_image", "images"),
    ("doc_to_audio", "audio"),
    ("custom_dataset", "a Python data set loader"),
    ("task_list", "several tasks in one file"),
];

/// Translates an lm-eval task config into a [`TaskSpec`] and loads its documents.
fn lmeval_task(c: &Config, data_dir: Option<&Path>) -> Result<Task> {
    let m = &c.map;
    let task = m
        .get("task")
        .and_then(Json::as_str)
        .ok_or_else(|| anyhow!("{}: no `task` name", c.path.display()))?
        .to_string();
    let fail = |key: &str, why: String| anyhow!("{}: task `{task}`: `{key}` {why}", c.at(key));
    for (key, what) in REFUSED {
        if m.get(key).is_some_and(|v| !v.is_null()) {
            return Err(fail(key, format!("is {what}, which emergent does not run")));
        }
    }
    if m.get("unsafe_code") == Some(&json!(true)) {
        return Err(fail(
            "unsafe_code",
            "is true: emergent runs no task code".into(),
        ));
    }
    if m.get("repeats").is_some_and(|r| r != &json!(1)) {
        return Err(fail(
            "repeats",
            "must be 1: greedy decoding repeats itself".into(),
        ));
    }
    if m.get("gen_prefix")
        .and_then(Json::as_str)
        .is_some_and(|p| !p.is_empty())
    {
        return Err(fail("gen_prefix", "is not supported".into()));
    }
    const KNOWN: [&str; 30] = [
        "task",
        "task_alias",
        "tag",
        "group",
        "dataset_path",
        "dataset_name",
        "dataset_kwargs",
        "training_split",
        "validation_split",
        "test_split",
        "fewshot_split",
        "doc_to_text",
        "doc_to_target",
        "doc_to_choice",
        "description",
        "target_delimiter",
        "fewshot_delimiter",
        "fewshot_config",
        "num_fewshot",
        "metric_list",
        "output_type",
        "generation_kwargs",
        "repeats",
        "filter_list",
        "should_decontaminate",
        "doc_to_decontamination_query",
        "gen_prefix",
        "metadata",
        "unsafe_code",
        "baseline",
    ];
    if let Some(k) = m
        .keys()
        .find(|k| !KNOWN.contains(&k.as_str()) && !REFUSED.iter().any(|(r, _)| r == k))
    {
        return Err(fail(k, "is not a field of lm-eval's task config".into()));
    }
    let text = |key: &str| -> Result<Option<String>> {
        match m.get(key) {
            None | Some(Json::Null) => Ok(None),
            Some(Json::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(fail(key, format!("is {other}, not a string"))),
        }
    };
    let field = |key: &str| -> Result<Option<Field>> {
        match m.get(key) {
            None | Some(Json::Null) => Ok(None),
            Some(v) => serde_json::from_value(v.clone()).map(Some).map_err(|_| {
                fail(
                    key,
                    format!("is {v}: a template, a field name, a number or a list"),
                )
            }),
        }
    };
    let output_type: OutputType = match m.get("output_type") {
        None => OutputType::GenerateUntil,
        Some(v) => serde_json::from_value(v.clone()).map_err(|_| {
            fail(
                "output_type",
                format!("is {v}: one of multiple_choice, generate_until, loglikelihood, loglikelihood_rolling"),
            )
        })?,
    };
    let fewshot_delimiter = text("fewshot_delimiter")?.unwrap_or_else(|| "\n\n".into());
    let mut spec = TaskSpec::for_docs(&task, output_type);
    spec.data_files = data_files(c, &fail)?;
    spec.dataset_path = text("dataset_path")?;
    spec.dataset_name = text("dataset_name")?;
    if matches!(
        spec.dataset_path.as_deref(),
        Some("json" | "csv" | "parquet")
    ) && spec.data_files.is_empty()
    {
        return Err(fail(
            "dataset_kwargs",
            "needs `data_files` for a local `json`, `csv` or `parquet` data set".into(),
        ));
    }
    if !spec.data_files.is_empty() {
        spec.dataset_path = None;
        spec.dataset_name = None;
    } else if spec.dataset_path.is_none() {
        return Err(fail(
            "dataset_path",
            "is missing: name the data set or give `dataset_kwargs.data_files`".into(),
        ));
    }
    spec.alias = text("task_alias")?;
    spec.version = m.get("metadata").and_then(|md| md.get("version")).cloned();
    spec.test_split = text("test_split")?;
    spec.validation_split = text("validation_split")?;
    spec.training_split = text("training_split")?;
    spec.fewshot_split = text("fewshot_split")?;
    spec.doc_to_text =
        field("doc_to_text")?.ok_or_else(|| fail("doc_to_text", "is missing".into()))?;
    spec.doc_to_target =
        field("doc_to_target")?.ok_or_else(|| fail("doc_to_target", "is missing".into()))?;
    spec.doc_to_choice = field("doc_to_choice")?;
    spec.description = text("description")?.unwrap_or_default();
    spec.target_delimiter = text("target_delimiter")?.unwrap_or_else(|| " ".into());
    spec.fewshot_delimiter = fewshot_delimiter.clone();
    spec.num_fewshot = match m.get("num_fewshot") {
        None | Some(Json::Null) => 0,
        Some(v) => v
            .as_u64()
            .ok_or_else(|| fail("num_fewshot", format!("is {v}, not a count")))?
            as usize,
    };
    spec.fewshot_config = fewshot_config(m.get("fewshot_config"), &fail)?;
    spec.metric_list = metric_list(m.get("metric_list"), output_type, &fail)?;
    spec.filter_list = filter_list(m.get("filter_list"), &fail)?;
    let mut gen = m.get("generation_kwargs").cloned().filter(|g| !g.is_null());
    if output_type == OutputType::GenerateUntil {
        // lm-eval's defaults: stop at the few-shot delimiter, decode greedily.
        let g = gen.get_or_insert_with(|| json!({"until": [fewshot_delimiter.clone()], "do_sample": false, "temperature": 0.0, "max_gen_toks": 256}));
        if let Json::Object(o) = g {
            if !o.contains_key("until") {
                o.insert("until".into(), json!([fewshot_delimiter]));
            }
            if let Some(Json::String(s)) = o.get("until").cloned() {
                o.insert("until".into(), json!([s]));
            }
            if let Some(t) = o.get("temperature").and_then(Json::as_f64) {
                o.insert("temperature".into(), json!(t));
            }
        }
    }
    if let Some(g) = &gen {
        spec.generation_kwargs = generation_kwargs(g, &fail)?;
    }
    if let Some(b) = m.get("baseline") {
        spec.baseline = Some(
            b.as_f64()
                .ok_or_else(|| fail("baseline", format!("is {b}, not a number")))?,
        );
    }
    let mut dump = m.clone();
    for k in ["tag", "group", "task_list"] {
        dump.remove(k);
    }
    if let Some(g) = gen {
        dump.insert("generation_kwargs".into(), g);
    }
    let mut bases = Vec::new();
    if let Some(dir) = c.origin.get("dataset_kwargs").unwrap_or(&c.path).parent() {
        bases.push(dir.to_path_buf());
    }
    bases.push(PathBuf::from("."));
    build_task(spec, &c.path, &bases, data_dir, Some(Json::Object(dump)))
}

type Fail<'a> = &'a dyn Fn(&str, String) -> anyhow::Error;

fn data_files(c: &Config, fail: Fail) -> Result<BTreeMap<String, String>> {
    let Some(kw) = c.map.get("dataset_kwargs").filter(|k| !k.is_null()) else {
        return Ok(BTreeMap::new());
    };
    let Json::Object(kw) = kw else {
        return Err(fail("dataset_kwargs", format!("is {kw}, not a mapping")));
    };
    let mut out = BTreeMap::new();
    match kw.get("data_files") {
        None | Some(Json::Null) => {}
        // `datasets` puts files given without a split in `train`.
        Some(Json::String(f)) => {
            out.insert("train".to_string(), f.clone());
        }
        Some(Json::Object(splits)) => {
            for (split, f) in splits {
                let file = match f {
                    Json::String(s) => s.clone(),
                    Json::Array(a) if a.len() == 1 && a[0].is_string() => {
                        a[0].as_str().unwrap_or_default().to_string()
                    }
                    other => {
                        return Err(fail(
                            "dataset_kwargs",
                            format!("data_files.{split} is {other}: one file per split"),
                        ))
                    }
                };
                out.insert(split.clone(), file);
            }
        }
        Some(other) => {
            return Err(fail(
                "dataset_kwargs",
                format!("data_files is {other}: a file or split → file"),
            ))
        }
    }
    Ok(out)
}

fn fewshot_config(v: Option<&Json>, fail: Fail) -> Result<FewshotConfig> {
    let Some(Json::Object(o)) = v else {
        return Ok(FewshotConfig::default());
    };
    let mut cfg = FewshotConfig::default();
    for (k, v) in o {
        match (k.as_str(), v) {
            (_, Json::Null) => {}
            ("sampler", Json::String(s)) if s == "default" => cfg.sampler = Sampler::Default,
            ("sampler", Json::String(s)) if s == "first_n" => cfg.sampler = Sampler::FirstN,
            ("match_field", Json::String(s)) => cfg.match_field = Some(s.clone()),
            ("split", _) => {}
            _ => {
                return Err(fail(
                    "fewshot_config",
                    format!("{k} = {v} is not supported (sampler `default` or `first_n`)"),
                ))
            }
        }
    }
    Ok(cfg)
}

fn metric_list(v: Option<&Json>, output_type: OutputType, fail: Fail) -> Result<Vec<MetricSpec>> {
    let items = match v {
        None | Some(Json::Null) => return Ok(Vec::new()),
        Some(Json::Array(a)) => a,
        Some(other) => return Err(fail("metric_list", format!("is {other}, not a list"))),
    };
    let mut out = Vec::new();
    for item in items {
        let spec: MetricSpec = serde_json::from_value(item.clone())
            .map_err(|e| fail("metric_list", format!("entry {item}: {e}")))?;
        let own = emergent_metrics::get(&spec.metric)
            .filter(|m| m.name == spec.metric)
            .and_then(|m| m.aggregation)
            .map(|a| a.name());
        let Some(own) = own else {
            let known: Vec<&str> = emergent_metrics::listable().map(|m| m.name).collect();
            return Err(fail(
                "metric_list",
                format!(
                    "metric `{}` is not one emergent computes ({})",
                    spec.metric,
                    known.join(", ")
                ),
            ));
        };
        let applies = output_type
            .default_metrics()
            .contains(&spec.metric.as_str())
            || (output_type == OutputType::MultipleChoice
                && spec.metric == emergent_metrics::BRIER_SCORE.name);
        if !applies {
            return Err(fail(
                "metric_list",
                format!(
                    "metric `{}` does not apply to {} tasks",
                    spec.metric,
                    output_type.name()
                ),
            ));
        }
        if let Some(a) = spec.aggregation.as_deref().filter(|&a| a != own) {
            return Err(fail(
                "metric_list",
                format!(
                    "`{}` aggregated by `{a}`: emergent aggregates it by `{own}`, as lm-eval does",
                    spec.metric
                ),
            ));
        }
        out.push(spec);
    }
    Ok(out)
}

fn filter_list(v: Option<&Json>, fail: Fail) -> Result<Vec<FilterSpec>> {
    let items = match v {
        None | Some(Json::Null) => return Ok(Vec::new()),
        Some(Json::Array(a)) => a,
        Some(other) => return Err(fail("filter_list", format!("is {other}, not a list"))),
    };
    let mut out = Vec::new();
    for item in items {
        let name = item
            .get("name")
            .and_then(Json::as_str)
            .unwrap_or("none")
            .to_string();
        let steps = item
            .get("filter")
            .and_then(Json::as_array)
            .cloned()
            .unwrap_or_default();
        let bad = || {
            fail("filter_list", format!("filter `{name}`: emergent runs one `regex` or `remove_whitespace` step, then `take_first`"))
        };
        let (first, rest) = steps.split_first().ok_or_else(bad)?;
        if rest.len() != 1 || rest[0].get("function").and_then(Json::as_str) != Some("take_first") {
            return Err(bad());
        }
        let function = match first.get("function").and_then(Json::as_str) {
            Some("regex") => FilterFunction::Regex,
            Some("remove_whitespace") => FilterFunction::RemoveWhitespace,
            _ => return Err(bad()),
        };
        let s = |k: &str| first.get(k).and_then(Json::as_str).map(str::to_string);
        out.push(FilterSpec {
            name,
            function,
            regex_pattern: s("regex_pattern").unwrap_or_default(),
            group_select: first
                .get("group_select")
                .and_then(Json::as_i64)
                .unwrap_or(0),
            fallback: s("fallback").unwrap_or_else(|| "[invalid]".into()),
        });
    }
    Ok(out)
}

fn generation_kwargs(g: &Json, fail: Fail) -> Result<GenerationKwargs> {
    let Json::Object(o) = g else {
        return Err(fail("generation_kwargs", format!("is {g}, not a mapping")));
    };
    const KEYS: [&str; 9] = [
        "until",
        "max_gen_toks",
        "do_sample",
        "temperature",
        "top_p",
        "top_k",
        "min_p",
        "num_beams",
        "repetition_penalty",
    ];
    if let Some(k) = o.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(fail(
            "generation_kwargs",
            format!(
                "has `{k}`, which emergent does not take (it takes {})",
                KEYS.join(", ")
            ),
        ));
    }
    let kw: GenerationKwargs =
        serde_json::from_value(g.clone()).map_err(|e| fail("generation_kwargs", e.to_string()))?;
    kw.check_greedy()
        .map_err(|e| fail("generation_kwargs", format!("{e:#}")))?;
    Ok(kw)
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
                let sel = |index| Selector { index, data_dir };
                if p.is_dir() {
                    return sel(&user).folder(p);
                }
                if p.is_file() || p.extension().is_some() {
                    if is_yaml(p) {
                        return sel(&user).file(p);
                    }
                    let t = crate::task::load_task_with_data(p, data_dir)?;
                    return Ok(vec![Node::Task(Box::new(t))]);
                }
                if user.contains(e) {
                    return sel(&user).name(e, &Map::new());
                }
                if let Some(spec) = shipped_spec(shipped, e) {
                    let t = crate::task::load_task_with_data(&spec, data_dir)?;
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

/// A spec as an lm-eval YAML task config, read back by emergent as the same spec.
/// emergent's own options go where lm-eval keeps free-form data (`metadata.baseline`)
/// or, for `fewshot_config.match_field`, stay where lm-eval refuses them rather than
/// scoring other prompts.
pub fn to_lmeval_yaml(spec: &TaskSpec) -> Result<String> {
    let mut m = Map::new();
    let put = |m: &mut Map<String, Json>, k: &str, v: Json| {
        m.insert(k.to_string(), v);
    };
    put(&mut m, "task", json!(spec.task));
    if let Some(a) = &spec.alias {
        put(&mut m, "task_alias", json!(a));
    }
    match &spec.dataset_path {
        Some(p) if spec.data_files.is_empty() => {
            put(&mut m, "dataset_path", json!(p));
            if let Some(n) = &spec.dataset_name {
                put(&mut m, "dataset_name", json!(n));
            }
        }
        _ => {
            let format = spec
                .data_files
                .values()
                .next()
                .and_then(|f| Path::new(f).extension())
                .and_then(|e| e.to_str())
                .map_or("json", |e| match e {
                    "csv" => "csv",
                    "parquet" => "parquet",
                    _ => "json",
                });
            put(&mut m, "dataset_path", json!(format));
            put(
                &mut m,
                "dataset_kwargs",
                json!({ "data_files": spec.data_files }),
            );
        }
    }
    put(&mut m, "output_type", json!(spec.output_type.name()));
    for (k, v) in [
        ("training_split", &spec.training_split),
        ("validation_split", &spec.validation_split),
        ("test_split", &spec.test_split),
        ("fewshot_split", &spec.fewshot_split),
    ] {
        if let Some(v) = v {
            put(&mut m, k, json!(v));
        }
    }
    if !spec.description.is_empty() {
        put(&mut m, "description", json!(spec.description));
    }
    put(
        &mut m,
        "doc_to_text",
        serde_json::to_value(&spec.doc_to_text)?,
    );
    if let Some(c) = &spec.doc_to_choice {
        put(&mut m, "doc_to_choice", serde_json::to_value(c)?);
    }
    put(
        &mut m,
        "doc_to_target",
        serde_json::to_value(&spec.doc_to_target)?,
    );
    if spec.target_delimiter != " " {
        put(&mut m, "target_delimiter", json!(spec.target_delimiter));
    }
    if spec.fewshot_delimiter != "\n\n" {
        put(&mut m, "fewshot_delimiter", json!(spec.fewshot_delimiter));
    }
    put(&mut m, "num_fewshot", json!(spec.num_fewshot));
    if spec.fewshot_config != FewshotConfig::default() {
        let mut f = Map::new();
        let sampler = match spec.fewshot_config.sampler {
            Sampler::Default => "default",
            Sampler::FirstN => "first_n",
        };
        f.insert("sampler".into(), json!(sampler));
        if let Some(mf) = &spec.fewshot_config.match_field {
            f.insert("match_field".into(), json!(mf));
        }
        put(&mut m, "fewshot_config", Json::Object(f));
    }
    if spec.output_type == OutputType::GenerateUntil {
        put(
            &mut m,
            "generation_kwargs",
            serde_json::to_value(&spec.generation_kwargs)?,
        );
    }
    if !spec.filter_list.is_empty() {
        let filters: Vec<Json> = spec
            .filter_list
            .iter()
            .map(|f| {
                let first = match f.function {
                    FilterFunction::Regex => json!({
                        "function": "regex",
                        "regex_pattern": f.regex_pattern,
                        "group_select": f.group_select,
                        "fallback": f.fallback,
                    }),
                    FilterFunction::RemoveWhitespace => json!({"function": "remove_whitespace"}),
                };
                json!({"name": f.name, "filter": [first, {"function": "take_first"}]})
            })
            .collect();
        put(&mut m, "filter_list", json!(filters));
    }
    if !spec.metric_list.is_empty() {
        put(
            &mut m,
            "metric_list",
            serde_json::to_value(&spec.metric_list)?,
        );
    }
    let mut meta = Map::new();
    meta.insert("version".into(), spec.version.clone().unwrap_or(json!(1.0)));
    if let Some(b) = spec.baseline {
        meta.insert("baseline".into(), json!(b));
    }
    put(&mut m, "metadata", Json::Object(meta));
    Ok(serde_yaml::to_string(&m)?)
}
