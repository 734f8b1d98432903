//! lm-evaluation-harness's task config (`TaskConfig` in `lm_eval/api/task.py`) as a
//! struct with lm-eval's defaults, the keys emergent refuses beside it, and its
//! translation into emergent's [`TaskSpec`]. Reading the YAML (includes, `!function`,
//! file and line of each key) is `yaml`'s; this module sees one merged mapping.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use serde::Deserialize;
use serde_json::{json, Map, Value as Json};

use crate::task::{
    blank_line, invalid, max_gen_toks, space, FewshotConfig, FilterFunction, FilterSpec,
    GenerationKwargs, MetricSpec, OutputType, Sampler, TaskSpec,
};
use crate::template::Field;

/// Keys of a task config that name Python code or data emergent cannot read.
pub(crate) const REFUSED: [(&str, &str); 8] = [
    ("process_docs", "a Python function over the documents"),
    ("process_results", "a Python function that scores"),
    ("class", "a Python task class"),
    ("use_prompt", "a promptsource prompt"),
    ("doc_to_image", "images"),
    ("doc_to_audio", "audio"),
    ("custom_dataset", "a Python data set loader"),
    ("task_list", "several tasks in one file"),
];

/// The task config's keys that emergent reads; `null` is the same as absent, as in
/// lm-eval. Keys outside it are in `other`: refused (see [`REFUSED`]) or unknown.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct LmevalTaskConfig {
    pub task: Option<String>,
    pub task_alias: Option<String>,
    // Taken and not used by the task: the index reads tags and groups, and emergent
    // does not decontaminate.
    #[serde(rename = "tag")]
    _tag: Option<Json>,
    #[serde(rename = "group")]
    _group: Option<Json>,
    pub dataset_path: Option<String>,
    pub dataset_name: Option<String>,
    pub dataset_kwargs: Option<Json>,
    pub training_split: Option<String>,
    pub validation_split: Option<String>,
    pub test_split: Option<String>,
    pub fewshot_split: Option<String>,
    pub doc_to_text: Option<Json>,
    pub doc_to_target: Option<Json>,
    pub doc_to_choice: Option<Json>,
    pub description: Option<String>,
    pub target_delimiter: Option<String>,
    pub fewshot_delimiter: Option<String>,
    pub fewshot_config: Option<Json>,
    pub num_fewshot: Option<u64>,
    pub metric_list: Option<Json>,
    pub output_type: Option<OutputType>,
    pub generation_kwargs: Option<Json>,
    pub repeats: Option<Json>,
    pub filter_list: Option<Json>,
    #[serde(rename = "should_decontaminate")]
    _should_decontaminate: Option<Json>,
    #[serde(rename = "doc_to_decontamination_query")]
    _doc_to_decontamination_query: Option<Json>,
    pub gen_prefix: Option<String>,
    pub metadata: Option<Json>,
    pub unsafe_code: Option<Json>,
    pub baseline: Option<f64>,
    #[serde(flatten)]
    pub other: BTreeMap<String, Json>,
}

/// A config key that cannot be taken, and why: the reader adds the file and line.
#[derive(Debug)]
pub(crate) struct KeyError {
    pub key: String,
    pub why: String,
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}` {}", self.key, self.why)
    }
}

impl std::error::Error for KeyError {}

type Fail<'a> = &'a dyn Fn(&str, String) -> anyhow::Error;

fn fail(key: &str, why: String) -> anyhow::Error {
    anyhow::Error::new(KeyError {
        key: key.into(),
        why,
    })
}

impl TryFrom<&Map<String, Json>> for LmevalTaskConfig {
    type Error = KeyError;

    /// The typed config; a key of the wrong type is named (the first, in key order).
    fn try_from(m: &Map<String, Json>) -> Result<Self, KeyError> {
        serde_json::from_value(Json::Object(m.clone())).map_err(|whole| {
            let bad = m.iter().find_map(|(k, v)| {
                let one = Json::Object(Map::from_iter([(k.clone(), v.clone())]));
                let e = serde_json::from_value::<LmevalTaskConfig>(one).err()?;
                Some(KeyError {
                    key: k.clone(),
                    why: format!("is {v}: {e}"),
                })
            });
            bad.unwrap_or(KeyError {
                key: "task".into(),
                why: whole.to_string(),
            })
        })
    }
}

impl LmevalTaskConfig {
    /// The keys lm-eval has and emergent does not run, or lm-eval does not have.
    fn refusal(&self) -> Option<KeyError> {
        for (key, what) in REFUSED {
            if self.other.get(key).is_some_and(|v| !v.is_null()) {
                return Some(KeyError {
                    key: key.into(),
                    why: format!("is {what}, which emergent does not run"),
                });
            }
        }
        if self.unsafe_code == Some(json!(true)) {
            return Some(KeyError {
                key: "unsafe_code".into(),
                why: "is true: emergent runs no task code".into(),
            });
        }
        if self.repeats.as_ref().is_some_and(|r| r != &json!(1)) {
            return Some(KeyError {
                key: "repeats".into(),
                why: "must be 1: greedy decoding repeats itself".into(),
            });
        }
        if self.gen_prefix.as_deref().is_some_and(|p| !p.is_empty()) {
            return Some(KeyError {
                key: "gen_prefix".into(),
                why: "is not supported".into(),
            });
        }
        let unknown = self
            .other
            .keys()
            .find(|k| !REFUSED.iter().any(|(r, _)| r == k))?;
        Some(KeyError {
            key: unknown.clone(),
            why: "is not a field of lm-eval's task config".into(),
        })
    }

    pub fn output_type(&self) -> OutputType {
        self.output_type.unwrap_or(OutputType::GenerateUntil)
    }

    fn fewshot_delimiter(&self) -> String {
        self.fewshot_delimiter.clone().unwrap_or_else(blank_line)
    }

    /// `generation_kwargs` as lm-eval completes them for a generation task: stop at the
    /// few-shot delimiter, decode greedily; `until` always a list.
    pub fn generation_kwargs(&self) -> Option<Json> {
        let mut gen = self.generation_kwargs.clone();
        if self.output_type() != OutputType::GenerateUntil {
            return gen;
        }
        let delimiter = self.fewshot_delimiter();
        let g = gen.get_or_insert_with(|| json!({"until": [delimiter], "do_sample": false, "temperature": 0.0, "max_gen_toks": max_gen_toks()}));
        if let Json::Object(o) = g {
            if !o.contains_key("until") {
                o.insert("until".into(), json!([delimiter]));
            }
            if let Some(Json::String(s)) = o.get("until").cloned() {
                o.insert("until".into(), json!([s]));
            }
            if let Some(t) = o.get("temperature").and_then(Json::as_f64) {
                o.insert("temperature".into(), json!(t));
            }
        }
        gen
    }
}

fn template_field(key: &str, v: Option<&Json>) -> Result<Option<Field>> {
    let Some(v) = v else { return Ok(None) };
    serde_json::from_value(v.clone()).map(Some).map_err(|_| {
        fail(
            key,
            format!("is {v}: a template, a field name, a number or a list"),
        )
    })
}

impl TryFrom<&LmevalTaskConfig> for TaskSpec {
    type Error = KeyError;

    fn try_from(c: &LmevalTaskConfig) -> Result<TaskSpec, KeyError> {
        spec_of(c).map_err(|e| match e.downcast::<KeyError>() {
            Ok(k) => k,
            Err(e) => KeyError {
                key: "task".into(),
                why: format!("{e:#}"),
            },
        })
    }
}

fn spec_of(c: &LmevalTaskConfig) -> Result<TaskSpec> {
    if let Some(refused) = c.refusal() {
        return Err(anyhow::Error::new(refused));
    }
    let task = c
        .task
        .clone()
        .ok_or_else(|| fail("task", "is missing".into()))?;
    let output_type = c.output_type();
    let mut spec = TaskSpec::for_docs(&task, output_type);
    spec.data_files = data_files(c.dataset_kwargs.as_ref(), &fail)?;
    spec.dataset_path = c.dataset_path.clone();
    spec.dataset_name = c.dataset_name.clone();
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
    spec.alias = c.task_alias.clone();
    spec.version = c
        .metadata
        .as_ref()
        .and_then(|md| md.get("version"))
        .cloned();
    spec.test_split = c.test_split.clone();
    spec.validation_split = c.validation_split.clone();
    spec.training_split = c.training_split.clone();
    spec.fewshot_split = c.fewshot_split.clone();
    let missing = |key: &str| fail(key, "is missing".into());
    spec.doc_to_text = template_field("doc_to_text", c.doc_to_text.as_ref())?
        .ok_or_else(|| missing("doc_to_text"))?;
    spec.doc_to_target = template_field("doc_to_target", c.doc_to_target.as_ref())?
        .ok_or_else(|| missing("doc_to_target"))?;
    spec.doc_to_choice = template_field("doc_to_choice", c.doc_to_choice.as_ref())?;
    spec.description = c.description.clone().unwrap_or_default();
    spec.target_delimiter = c.target_delimiter.clone().unwrap_or_else(space);
    spec.fewshot_delimiter = c.fewshot_delimiter();
    spec.num_fewshot = c.num_fewshot.unwrap_or(0) as usize;
    spec.fewshot_config = fewshot_config(c.fewshot_config.as_ref(), &fail)?;
    spec.metric_list = metric_list(c.metric_list.as_ref(), output_type, &fail)?;
    spec.filter_list = filter_list(c.filter_list.as_ref(), &fail)?;
    if let Some(g) = &c.generation_kwargs() {
        spec.generation_kwargs = generation_kwargs(g, &fail)?;
    }
    // `metadata.baseline` is where emergent's own YAML twins keep it.
    let in_metadata = c.metadata.as_ref().and_then(|md| md.get("baseline"));
    spec.baseline = c.baseline.or(in_metadata.and_then(Json::as_f64));
    Ok(spec)
}

fn data_files(kw: Option<&Json>, fail: Fail) -> Result<BTreeMap<String, String>> {
    let Some(kw) = kw.filter(|k| !k.is_null()) else {
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
            fallback: s("fallback").unwrap_or_else(invalid),
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
    if spec.target_delimiter != space() {
        put(&mut m, "target_delimiter", json!(spec.target_delimiter));
    }
    if spec.fewshot_delimiter != blank_line() {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn config(yaml: &str) -> Map<String, Json> {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn a_spec_written_as_lm_eval_yaml_reads_back_the_same() {
        let mut spec = TaskSpec::for_docs("t", OutputType::MultipleChoice);
        spec.baseline = Some(0.5);
        spec.num_fewshot = 3;
        spec.description = "Answer.\n\n".into();
        spec.fewshot_config.sampler = Sampler::FirstN;
        let m = config(&to_lmeval_yaml(&spec).unwrap());
        let back = TaskSpec::try_from(&LmevalTaskConfig::try_from(&m).unwrap()).unwrap();
        assert_eq!(
            back,
            TaskSpec {
                version: Some(json!(1.0)),
                ..spec
            }
        );
    }

    #[test]
    fn the_key_that_cannot_be_taken_is_named() {
        let base = "task: t\ndataset_path: d\ndoc_to_text: q\ndoc_to_target: a\n";
        let err = |extra: &str| {
            let m = config(&format!("{base}{extra}"));
            match LmevalTaskConfig::try_from(&m) {
                Err(e) => e,
                Ok(c) => TaskSpec::try_from(&c).unwrap_err(),
            }
        };
        for (extra, key, why) in [
            (
                "num_fewshot: three\n",
                "num_fewshot",
                "is \"three\": invalid type",
            ),
            (
                "output_type: choose\n",
                "output_type",
                "unknown variant `choose`",
            ),
            (
                "shots: 3\n",
                "shots",
                "is not a field of lm-eval's task config",
            ),
            ("class: !!str x\n", "class", "is a Python task class"),
            (
                "doc_to_text: {a: 1}\n",
                "doc_to_text",
                "a template, a field name",
            ),
            ("repeats: 2\n", "repeats", "must be 1"),
        ] {
            let e = err(extra);
            assert_eq!(e.key, key, "{e}");
            assert!(e.why.contains(why), "{e}");
        }
        let m = config(base);
        let c = LmevalTaskConfig::try_from(&m).unwrap();
        assert_eq!(c.generation_kwargs().unwrap()["until"], json!(["\n\n"]));
    }
}
