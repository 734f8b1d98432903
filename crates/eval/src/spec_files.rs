//! A task spec written to disk: its TOML, its lm-eval YAML twin and its documents, one
//! JSONL file per split. Above both `task.rs` (the spec) and `lmeval_config.rs` (the
//! twin's YAML).

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};

use crate::task::{Doc, TaskSpec};

/// A spec's lm-eval YAML twin, headed by a comment that says what it is.
pub fn twin_text(spec: &TaskSpec) -> Result<String> {
    Ok(format!(
        "# {}.toml in lm-evaluation-harness's task format (emergent reads either, with the\n\
         # same result; lm-eval resolves data_files from its working directory).\n{}",
        spec.task,
        crate::lmeval_config::to_lmeval_yaml(spec)?
    ))
}

/// Writes a spec and its documents into `dir`: `NAME.toml` (and its lm-eval twin
/// `NAME.yaml`) and one JSONL file per split,
/// `splits` naming each split's documents (the spec's `data_files` names its file).
pub fn write_task(dir: &Path, spec: &TaskSpec, splits: &[(&str, &[Doc])]) -> Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    for (split, docs) in splits {
        let file = spec
            .data_files
            .get(*split)
            .ok_or_else(|| anyhow!("task `{}`: no file for the `{split}` split", spec.task))?;
        let data = dir.join(file);
        let mut lines = String::new();
        for d in docs.iter() {
            lines.push_str(&serde_json::to_string(d)?);
            lines.push('\n');
        }
        emergent_files::write_atomic(&data, lines.as_bytes())
            .with_context(|| format!("writing {}", data.display()))?;
    }
    let path = dir.join(format!("{}.toml", spec.task));
    emergent_files::write_atomic(&path, toml::to_string(spec)?.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    let twin = dir.join(format!("{}.yaml", spec.task));
    emergent_files::write_atomic(&twin, twin_text(spec)?.as_bytes())
        .with_context(|| format!("writing {}", twin.display()))?;
    Ok(path)
}
