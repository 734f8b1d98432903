//! Checkpoints named by a Hugging Face Hub repository and revision
//! (`EleutherAI/pythia-160m` at `step1000`), fetched into the cache `huggingface_hub`
//! keeps and found there, so that a revision Python downloaded is not fetched again and
//! Python reads what emergent fetched.
//!
//! The order of the modules: [`repo`] (names: a repository, a revision, a `hf://`
//! locator) ← [`cache`] (the cache's layout: `blobs`, `snapshots`, `refs`, `.locks`) ←
//! [`http`] (the Hub's answers: revision, refs, a file's metadata, its bytes) ←
//! [`fetch`] (a file into the cache: locked, resumed, checked against its hash) ←
//! [`Hub`] here: a checkpoint's files of one revision, online or from the cache alone.
//!
//! A small client over blocking HTTP (`ureq`) rather than the `hf-hub` crate: its 0.4
//! line has no offline mode, no `HF_HUB_CACHE` and no listing of a repository's refs,
//! and its 1.0 line brings an async runtime that nothing else here needs.

pub mod cache;
pub mod fetch;
pub mod http;
pub mod repo;

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};

pub use cache::Cache;
pub use fetch::Progress;
pub use repo::{expand_revisions, is_commit, Locator, RepoId};

/// The Hub as the environment sets it up, as `huggingface_hub` reads it.
#[derive(Debug, Clone)]
pub struct Hub {
    pub endpoint: String,
    pub token: Option<String>,
    pub offline: bool,
    pub cache: Cache,
}

/// Which of a revision's files a caller needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The top-level JSON files: configuration, tokenizer, trainer state, weight index.
    Config,
    /// Those and the weights.
    All,
}

/// A revision as the Hub (or the cache) resolves it.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub commit: String,
    pub files: Vec<String>,
}

/// `HF_HUB_OFFLINE` is set when it says yes, as `huggingface_hub` reads it.
fn is_true(v: Option<String>) -> bool {
    v.is_some_and(|v| matches!(v.to_ascii_uppercase().as_str(), "1" | "ON" | "YES" | "TRUE"))
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl Hub {
    /// `HF_ENDPOINT` (default `https://huggingface.co`), `HF_TOKEN` (else the token file
    /// `huggingface-cli login` wrote), `HF_HUB_OFFLINE`, and the cache ([`Cache::from_env`]).
    pub fn from_env() -> Hub {
        let cache = Cache::from_env();
        let token = env("HF_TOKEN").or_else(|| {
            let path = env("HF_TOKEN_PATH")
                .map(PathBuf::from)
                .unwrap_or_else(|| cache::hf_home().join("token"));
            emergent_files::read_regular_to_string(&path)
                .ok()
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
        });
        Hub {
            endpoint: env("HF_ENDPOINT")
                .unwrap_or_else(|| "https://huggingface.co".into())
                .trim_end_matches('/')
                .to_string(),
            token,
            offline: is_true(env("HF_HUB_OFFLINE")),
            cache,
        }
    }

    fn client(&self) -> http::Client<'_> {
        http::Client::new(&self.endpoint, self.token.as_deref())
    }

    /// The repository's branches and tags with their commits (the revisions a pattern may
    /// name). Offline, or when the Hub cannot be reached, those the cache has refs of.
    pub fn refs(&self, repo: &RepoId) -> Result<Vec<(String, String)>> {
        if !self.offline {
            match self.client().refs(repo) {
                Ok(refs) => return Ok(refs),
                Err(e) if !http::is_unreachable(&e) => return Err(e),
                Err(_) => {}
            }
        }
        let refs = self.cache.refs(repo);
        if refs.is_empty() {
            bail!(
                "{repo}: {} and the cache ({}) holds no revision of it",
                self.why_cache_alone(),
                self.cache.root.display()
            );
        }
        Ok(refs)
    }

    fn why_cache_alone(&self) -> String {
        if self.offline {
            "HF_HUB_OFFLINE is set".into()
        } else {
            format!("{} cannot be reached", self.endpoint)
        }
    }

    /// The commit a revision names and its files: from the Hub, else (offline, or the Hub
    /// unreachable) from the cache's `refs` and the snapshot's files.
    pub fn resolve(&self, repo: &RepoId, revision: &str) -> Result<Resolved> {
        if !self.offline {
            match self.client().revision(repo, revision) {
                Ok(r) => {
                    self.cache.put_ref(repo, revision, &r.commit)?;
                    return Ok(r);
                }
                Err(e) if !http::is_unreachable(&e) => return Err(e),
                Err(e) => {
                    return self
                        .resolve_cached(repo, revision)
                        .with_context(|| format!("{e:#}"))
                }
            }
        }
        self.resolve_cached(repo, revision)
    }

    fn resolve_cached(&self, repo: &RepoId, revision: &str) -> Result<Resolved> {
        let missing = || {
            anyhow!(
                "{repo} revision `{revision}` is not in the cache ({}), and {}",
                self.cache.root.display(),
                self.why_cache_alone()
            )
        };
        let commit = self.cache.commit_of(repo, revision).ok_or_else(missing)?;
        let files = self.cache.snapshot_files(repo, &commit);
        if files.is_empty() {
            return Err(missing());
        }
        Ok(Resolved { commit, files })
    }

    /// The folder (a snapshot in the cache) holding `part` of the checkpoint at `revision`:
    /// each file taken from the cache where it is there, else fetched.
    pub fn checkpoint(
        &self,
        repo: &RepoId,
        revision: &str,
        part: Part,
        progress: &dyn Progress,
    ) -> Result<PathBuf> {
        let resolved = self.resolve(repo, revision)?;
        let snapshot = self.cache.snapshot(repo, &resolved.commit);
        let small = small_files(&resolved.files);
        if !small.iter().any(|f| f == "config.json") {
            bail!("{repo} revision `{revision}`: no config.json");
        }
        self.ensure(repo, revision, &resolved.commit, &small, progress)?;
        if part == Part::All {
            let weights = weight_files(&resolved.files, &snapshot).ok_or_else(|| {
                anyhow!(
                    "{repo} revision `{revision}`: no weights (model.safetensors, pytorch_model.bin, or an index of their shards){}",
                    if self.offline { " in the cache" } else { "" }
                )
            })?;
            self.ensure(repo, revision, &resolved.commit, &weights, progress)?;
        }
        Ok(snapshot)
    }

    /// Each of `files` in the snapshot, fetched where it is not there.
    fn ensure(
        &self,
        repo: &RepoId,
        revision: &str,
        commit: &str,
        files: &[String],
        progress: &dyn Progress,
    ) -> Result<()> {
        let snapshot = self.cache.snapshot(repo, commit);
        for file in files {
            if snapshot.join(file).exists() {
                continue;
            }
            if self.offline {
                bail!(
                    "{repo} revision `{revision}`: {file} is not in the cache ({}), and HF_HUB_OFFLINE is set",
                    self.cache.root.display()
                );
            }
            fetch::file(&self.client(), &self.cache, repo, commit, file, progress)
                .with_context(|| format!("{repo} revision `{revision}`: {file}"))?;
        }
        Ok(())
    }

    /// Removes a snapshot's weights from the cache (the blobs no other snapshot links to),
    /// keeping its small files; the bytes freed.
    pub fn release_weights(&self, snapshot: &Path) -> Result<u64> {
        let files: Vec<String> = cache::list_files(snapshot);
        let weights: Vec<&String> = files.iter().filter(|f| is_weight(f)).collect();
        let mut freed = 0;
        for f in weights {
            freed += self.cache.remove_from_snapshot(&snapshot.join(f))?;
        }
        Ok(freed)
    }
}

/// The weights transformers would load from a revision with these files:
/// `model.safetensors`, else the shards `model.safetensors.index.json` names, else
/// `pytorch_model.bin`, else the shards its index names (read from the snapshot, where
/// the small files are already). `None` when there are none.
fn weight_files(files: &[String], snapshot: &Path) -> Option<Vec<String>> {
    let has = |name: &str| files.iter().any(|f| f == name);
    for (single, index) in [
        ("model.safetensors", "model.safetensors.index.json"),
        ("pytorch_model.bin", "pytorch_model.bin.index.json"),
    ] {
        if has(single) {
            return Some(vec![single.to_string()]);
        }
        if has(index) {
            let shards = shards_in_index(&snapshot.join(index));
            if !shards.is_empty() {
                return Some(shards);
            }
        }
    }
    None
}

/// The shards an index names (`weight_map`'s values), each once, in order.
fn shards_in_index(path: &Path) -> Vec<String> {
    let text = emergent_files::read_regular_to_string(path).unwrap_or_default();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let mut out: Vec<String> = doc
        .get("weight_map")
        .and_then(|m| m.as_object())
        .into_iter()
        .flat_map(|m| m.values())
        .filter_map(|v| v.as_str())
        .filter(|s| is_weight(s) && http::safe_file_name(s))
        .map(str::to_string)
        .collect();
    out.sort();
    out.dedup();
    out
}

fn is_weight(name: &str) -> bool {
    !name.contains('/') && (name.ends_with(".safetensors") || name.ends_with(".bin"))
}

/// The small files of a checkpoint among a revision's: its top-level JSON files
/// (configuration, tokenizer, generation and trainer state, weight indexes).
pub fn small_files(files: &[String]) -> Vec<String> {
    let mut out: Vec<String> = files
        .iter()
        .filter(|f| !f.contains('/') && f.ends_with(".json"))
        .cloned()
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_checkpoint_takes_the_weights_transformers_would_load() {
        let dir = tempfile::tempdir().unwrap();
        let snapshot = dir.path();
        let both = names(&[
            "config.json",
            "model.safetensors",
            "optimizer.safetensors",
            "pytorch_model.bin",
            "tokenizer.json",
            "README.md",
            "sub/config.json",
        ]);
        assert_eq!(
            small_files(&both),
            names(&["config.json", "tokenizer.json"])
        );
        assert_eq!(
            weight_files(&both, snapshot),
            Some(names(&["model.safetensors"]))
        );
        let sharded = names(&[
            "config.json",
            "pytorch_model-00001-of-00002.bin",
            "pytorch_model-00002-of-00002.bin",
            "pytorch_model.bin.index.json",
            "training_args.bin",
        ]);
        std::fs::write(
            snapshot.join("pytorch_model.bin.index.json"),
            r#"{"weight_map": {"a": "pytorch_model-00002-of-00002.bin", "b": "pytorch_model-00001-of-00002.bin", "c": "pytorch_model-00001-of-00002.bin", "d": "../x.bin"}}"#,
        )
        .unwrap();
        assert_eq!(
            weight_files(&sharded, snapshot),
            Some(names(&[
                "pytorch_model-00001-of-00002.bin",
                "pytorch_model-00002-of-00002.bin"
            ]))
        );
        assert_eq!(
            weight_files(&names(&["config.json", "training_args.bin"]), snapshot),
            None
        );
    }

    #[test]
    fn offline_is_read_as_huggingface_hub_reads_it() {
        for yes in ["1", "ON", "yes", "True"] {
            assert!(is_true(Some(yes.into())), "{yes}");
        }
        for no in ["0", "", "no", "off"] {
            assert!(!is_true(Some(no.into())), "{no}");
        }
        assert!(!is_true(None));
    }
}
