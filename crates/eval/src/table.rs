//! lm-evaluation-harness's results table (`make_table`), from its results JSON: tasks and
//! groups with their members indented, then the groups alone.

use std::collections::BTreeMap;

use serde_json::{Map, Value as Json};

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
