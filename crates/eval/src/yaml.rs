//! lm-evaluation-harness task configs (YAML), read as lm-eval reads them: `include:`
//! merged key by key (local keys win, each key's file and line kept), and tasks, groups
//! and tags indexed by name across folders. A task's config becomes a spec in
//! `lmeval_config`. Nothing in a task file runs: `!function` is refused with the file
//! and line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Map, Value as Json};

use crate::task::Task;

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
    pub(crate) origin: BTreeMap<String, PathBuf>,
}

impl Config {
    /// `FILE:LINE` of a top-level key (the file that set it, the line where it is).
    pub(crate) fn at(&self, key: &str) -> String {
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

    pub(crate) fn scan_dir(&mut self, dir: &Path) {
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

/// Resolves `--tasks` entries: a YAML file, a folder of them, or a name in `index`;
/// `build` makes a task of one config (`load.rs` gives it, with where the data is).
pub struct Selector<'a> {
    pub index: &'a TaskIndex,
    pub build: &'a dyn Fn(&Config) -> Result<Task>,
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
            build: self.build,
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
            build: self.build,
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
        let task = (self.build)(&c)?;
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
                        children.push(Node::Task(Box::new((self.build)(&inline)?)));
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
