//! The cache shared with Python: `reference/goldens/hub-cache/` was written by
//! `huggingface_hub` 2.5.0 from emergent's local Hub (`reference/make_hub_cache.sh`);
//! emergent reads it offline, and lays out what it fetches as Python laid out that.

use std::path::{Path, PathBuf};

use emergent_hub::{Cache, Hub, Part, RepoId};
use emergent_testhub::{commit_of, Faults, Repo, Server};

fn reference() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../reference")
}

/// A copy of a folder with its links kept as links.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        let meta = std::fs::symlink_metadata(&p).unwrap();
        if meta.file_type().is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&p).unwrap(), &dest).unwrap();
        } else if meta.is_dir() {
            copy_tree(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

/// Every path under `dir` with what it is: a link's target, a file's bytes' length.
fn layout(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.file_type().is_symlink() {
                out.push((
                    rel,
                    format!("-> {}", std::fs::read_link(&p).unwrap().display()),
                ));
            } else if meta.is_dir() {
                stack.push(p);
            } else {
                out.push((rel, format!("{} bytes", meta.len())));
            }
        }
    }
    out.sort();
    out
}

fn offline(cache: &Path) -> Hub {
    Hub {
        endpoint: "http://127.0.0.1:9".into(),
        token: None,
        offline: true,
        cache: Cache {
            root: cache.to_path_buf(),
        },
    }
}

fn quiet(_: &str, _: u64, _: u64) {}

#[test]
fn a_cache_python_wrote_is_read_offline() {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&reference().join("goldens/hub-cache"), dir.path());
    let hub = offline(dir.path());
    let small = RepoId::parse("emergent-test/small").unwrap();
    let snap = hub.checkpoint(&small, "step23", Part::All, &quiet).unwrap();
    for name in [
        "config.json",
        "pytorch_model.bin",
        "tokenizer.json",
        "tokenizer_config.json",
    ] {
        assert_eq!(
            std::fs::read(snap.join(name)).unwrap(),
            std::fs::read(reference().join("goldens/ladder/small/step23").join(name)).unwrap(),
            "{name}"
        );
    }
    // Python fetched only step60's config.json: its weights are missing, and said so.
    let snap60 = hub
        .checkpoint(&small, "step60", Part::Config, &quiet)
        .unwrap();
    assert!(snap60.join("config.json").exists());
    let e = format!(
        "{:#}",
        hub.checkpoint(&small, "step60", Part::All, &quiet)
            .unwrap_err()
    );
    assert!(
        e.contains("step60") && e.contains("no weights") && e.contains("in the cache"),
        "{e}"
    );
    let refs: Vec<String> = hub.refs(&small).unwrap().into_iter().map(|r| r.0).collect();
    assert_eq!(refs, ["step23", "step60"]);
}

#[test]
fn emergent_lays_out_a_revision_as_python_does() {
    let ladder = reference().join("goldens/ladder/small");
    let server = Server::start(
        &[Repo {
            id: "emergent-test/small".into(),
            revisions: ["step23", "step60", "step156"]
                .iter()
                .map(|r| (r.to_string(), ladder.join(r)))
                .collect(),
            token: None,
        }],
        Faults::default(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut hub = offline(dir.path());
    hub.offline = false;
    hub.endpoint = server.url.clone();
    let small = RepoId::parse("emergent-test/small").unwrap();
    hub.checkpoint(&small, "step23", Part::All, &quiet).unwrap();
    // What Python wrote of step23: its ref, its snapshot's links, its blobs, their locks
    // (Python also keeps the tree listing it asked for, and a tag on the cache's root).
    let commit = commit_of("emergent-test/small", "step23");
    let python = layout(&reference().join("goldens/hub-cache"));
    let step23: Vec<(String, String)> = python
        .into_iter()
        .filter(|(p, _)| {
            !p.contains("/trees/") && p != "CACHEDIR.TAG" && !p.ends_with("refs/step60")
        })
        .filter(|(p, _)| !p.contains("/snapshots/") || p.contains(&commit))
        .collect();
    assert_eq!(layout(dir.path()), step23);
}
