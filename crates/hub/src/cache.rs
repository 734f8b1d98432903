//! The cache `huggingface_hub` keeps, laid out as it lays it out:
//!
//! ```text
//! $HF_HUB_CACHE/models--ORG--NAME/refs/REVISION        the commit a branch or tag named
//!                                 blobs/ETAG           a file's bytes, named by its hash
//!                                 blobs/ETAG.incomplete a download under way
//!                                 snapshots/COMMIT/FILE a relative link to ../../blobs/ETAG
//! $HF_HUB_CACHE/.locks/models--ORG--NAME/ETAG.lock     held while one process fetches it
//! ```

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::repo::{is_commit, RepoId};

/// The cache's root folder.
#[derive(Debug, Clone, PartialEq)]
pub struct Cache {
    pub root: PathBuf,
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// `HF_HOME`, else `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`.
pub fn hf_home() -> PathBuf {
    env_path("HF_HOME").unwrap_or_else(|| {
        env_path("XDG_CACHE_HOME")
            .or_else(|| env_path("HOME").map(|h| h.join(".cache")))
            .unwrap_or_else(|| PathBuf::from(".cache"))
            .join("huggingface")
    })
}

impl Cache {
    /// `HF_HUB_CACHE`, else the older `HUGGINGFACE_HUB_CACHE`, else `HF_HOME/hub`.
    pub fn from_env() -> Cache {
        Cache {
            root: env_path("HF_HUB_CACHE")
                .or_else(|| env_path("HUGGINGFACE_HUB_CACHE"))
                .unwrap_or_else(|| hf_home().join("hub")),
        }
    }

    pub fn repo_dir(&self, repo: &RepoId) -> PathBuf {
        self.root.join(repo.folder())
    }

    pub fn snapshot(&self, repo: &RepoId, commit: &str) -> PathBuf {
        self.repo_dir(repo).join("snapshots").join(commit)
    }

    pub fn blob(&self, repo: &RepoId, etag: &str) -> PathBuf {
        self.repo_dir(repo).join("blobs").join(etag)
    }

    pub fn lock(&self, repo: &RepoId, etag: &str) -> PathBuf {
        self.root
            .join(".locks")
            .join(repo.folder())
            .join(format!("{etag}.lock"))
    }

    /// Records the commit a branch or tag named (a commit names itself: no ref).
    pub fn put_ref(&self, repo: &RepoId, revision: &str, commit: &str) -> Result<()> {
        if revision == commit {
            return Ok(());
        }
        let path = self.repo_dir(repo).join("refs").join(revision);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        emergent_files::write_atomic(&path, commit.as_bytes())
            .with_context(|| format!("writing {}", path.display()))
    }

    /// The commit a revision names in the cache: a commit whose snapshot is there, or the
    /// one its `refs` file holds.
    pub fn commit_of(&self, repo: &RepoId, revision: &str) -> Option<String> {
        if is_commit(revision) {
            return self
                .snapshot(repo, revision)
                .is_dir()
                .then(|| revision.to_string());
        }
        let path = self.repo_dir(repo).join("refs").join(revision);
        let text = emergent_files::read_regular_to_string(&path).ok()?;
        let commit = text.trim();
        is_commit(commit).then(|| commit.to_string())
    }

    /// Every branch and tag the cache has a ref of, with its commit.
    pub fn refs(&self, repo: &RepoId) -> Vec<(String, String)> {
        let root = self.repo_dir(repo).join("refs");
        let mut out: Vec<(String, String)> = list_files(&root)
            .into_iter()
            .filter_map(|name| {
                let commit = self.commit_of(repo, &name)?;
                Some((name, commit))
            })
            .collect();
        out.sort();
        out
    }

    /// The files a snapshot holds (links whose blob is there), relative to it.
    pub fn snapshot_files(&self, repo: &RepoId, commit: &str) -> Vec<String> {
        list_files(&self.snapshot(repo, commit))
    }

    /// Links `snapshots/COMMIT/FILE` to its blob by a relative path, as `huggingface_hub`
    /// does; made beside and renamed into place, so a reader never sees it half made.
    pub fn link(&self, repo: &RepoId, commit: &str, file: &str, etag: &str) -> Result<PathBuf> {
        let at = self.snapshot(repo, commit).join(file);
        let dir = at.parent().expect("a file in a snapshot");
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let depth = file.matches('/').count() + 2;
        let target = PathBuf::from("../".repeat(depth)).join("blobs").join(etag);
        static MADE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let tmp = dir.join(format!(
            ".{}.{}.{}.link",
            at.file_name().unwrap_or_default().to_string_lossy(),
            std::process::id(),
            MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let _ = std::fs::remove_file(&tmp);
        symlink(&target, &tmp).with_context(|| format!("linking {}", at.display()))?;
        std::fs::rename(&tmp, &at).with_context(|| format!("linking {}", at.display()))?;
        Ok(at)
    }

    /// Removes a snapshot's file, and its blob unless another snapshot links to it; the
    /// bytes freed.
    pub fn remove_from_snapshot(&self, path: &Path) -> Result<u64> {
        let blob = std::fs::canonicalize(path).ok();
        std::fs::remove_file(path).with_context(|| format!("removing {}", path.display()))?;
        let Some(blob) = blob else {
            return Ok(0);
        };
        // blobs/ETAG → the repository's folder → its snapshots.
        let Some(repo_dir) = blob.parent().and_then(Path::parent) else {
            return Ok(0);
        };
        if blob.parent().and_then(Path::file_name) != Some("blobs".as_ref()) {
            return Ok(0);
        }
        let snapshots = repo_dir.join("snapshots");
        let shared = list_files(&snapshots)
            .iter()
            .any(|f| std::fs::canonicalize(snapshots.join(f)).is_ok_and(|b| b == blob));
        if shared {
            return Ok(0);
        }
        let size = std::fs::metadata(&blob).map_or(0, |m| m.len());
        std::fs::remove_file(&blob).with_context(|| format!("removing {}", blob.display()))?;
        Ok(size)
    }
}

/// The files under `dir`, relative to it, links followed where they resolve.
pub fn list_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.exists() {
                if let Ok(rel) = p.strip_prefix(dir) {
                    out.push(rel.to_string_lossy().into_owned());
                }
            }
        }
    }
    out.sort();
    out
}

#[cfg(unix)]
fn symlink(target: &Path, at: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, at)
}

#[cfg(not(unix))]
fn symlink(target: &Path, at: &Path) -> std::io::Result<()> {
    // Where links cannot be made, huggingface_hub copies the blob into the snapshot.
    let blob = at.parent().unwrap_or(Path::new(".")).join(target);
    std::fs::copy(blob, at).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_links_and_removal_follow_the_layout() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache {
            root: dir.path().to_path_buf(),
        };
        let repo = RepoId::parse("org/model").unwrap();
        let c1 = "1".repeat(40);
        let c2 = "2".repeat(40);
        cache.put_ref(&repo, "step10", &c1).unwrap();
        cache.put_ref(&repo, "refs/pr/1", &c2).unwrap();
        assert_eq!(cache.commit_of(&repo, "step10"), Some(c1.clone()));
        assert_eq!(
            cache.refs(&repo),
            [
                ("refs/pr/1".to_string(), c2.clone()),
                ("step10".to_string(), c1.clone())
            ]
        );
        std::fs::create_dir_all(cache.blob(&repo, "x").parent().unwrap()).unwrap();
        std::fs::write(cache.blob(&repo, "aa"), b"weights").unwrap();
        std::fs::write(cache.blob(&repo, "bb"), b"shared").unwrap();
        cache.link(&repo, &c1, "model.bin", "aa").unwrap();
        cache.link(&repo, &c1, "sub/x.json", "bb").unwrap();
        cache.link(&repo, &c2, "x.json", "bb").unwrap();
        let target = std::fs::read_link(cache.snapshot(&repo, &c1).join("model.bin")).unwrap();
        assert_eq!(target, Path::new("../../blobs/aa"));
        let nested = std::fs::read_link(cache.snapshot(&repo, &c1).join("sub/x.json")).unwrap();
        assert_eq!(nested, Path::new("../../../blobs/bb"));
        assert_eq!(
            cache.snapshot_files(&repo, &c1),
            ["model.bin", "sub/x.json"]
        );
        assert_eq!(cache.commit_of(&repo, &c1), Some(c1.clone()));
        // A blob another snapshot links to stays; one no other does goes.
        let freed = cache
            .remove_from_snapshot(&cache.snapshot(&repo, &c1).join("sub/x.json"))
            .unwrap();
        assert_eq!(freed, 0);
        assert!(cache.blob(&repo, "bb").exists());
        let freed = cache
            .remove_from_snapshot(&cache.snapshot(&repo, &c1).join("model.bin"))
            .unwrap();
        assert_eq!(freed, 7);
        assert!(!cache.blob(&repo, "aa").exists());
    }
}
