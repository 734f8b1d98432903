//! The Hub client against a Hub on 127.0.0.1 serving the committed ladder fixture
//! (`reference/goldens/ladder/`) as repositories with several revisions.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use emergent_hub::{expand_revisions, Cache, Hub, Part, RepoId};
use emergent_testhub::{commit_of, ladder_fixture, Faults, Server};

fn ladder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../reference/goldens/ladder")
}

fn hub(url: &str, cache: &Path) -> Hub {
    Hub {
        endpoint: url.to_string(),
        token: None,
        offline: false,
        cache: Cache {
            root: cache.to_path_buf(),
        },
    }
}

fn quiet(_: &str, _: u64, _: u64) {}

fn same_files(snapshot: &Path, source: &Path) {
    for e in std::fs::read_dir(source).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap();
        assert_eq!(
            std::fs::read(snapshot.join(name)).unwrap(),
            std::fs::read(&p).unwrap(),
            "{}",
            p.display()
        );
    }
}

fn gets(server: &Server) -> Vec<String> {
    server
        .log()
        .into_iter()
        .filter(|l| l.starts_with("GET /lfs/") || l.starts_with("GET /emergent-test"))
        .collect()
}

#[test]
fn revisions_are_fetched_into_the_cache_layout_once() {
    let server = Server::start(&ladder_fixture(None), Faults::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let hub = hub(&server.url, dir.path());
    let small = RepoId::parse("emergent-test/small").unwrap();
    let refs: Vec<String> = hub.refs(&small).unwrap().into_iter().map(|r| r.0).collect();
    assert_eq!(
        expand_revisions(&["step{0..200}".into()], &refs).unwrap(),
        ["step23", "step60", "step156"]
    );
    let progress = std::sync::Mutex::new(Vec::new());
    let record = |f: &str, done: u64, total: u64| {
        progress.lock().unwrap().push((f.to_string(), done, total))
    };
    for rev in ["step23", "step156"] {
        let snap = hub.checkpoint(&small, rev, Part::All, &record).unwrap();
        let commit = commit_of("emergent-test/small", rev);
        assert_eq!(
            snap,
            dir.path()
                .join("models--emergent-test--small/snapshots")
                .join(&commit)
        );
        same_files(&snap, &ladder().join("small").join(rev));
        assert_eq!(
            std::fs::read_to_string(
                dir.path()
                    .join("models--emergent-test--small/refs")
                    .join(rev)
            )
            .unwrap(),
            commit
        );
        let link = std::fs::read_link(snap.join("config.json")).unwrap();
        assert!(link.starts_with("../../blobs"), "{}", link.display());
    }
    assert!(progress
        .lock()
        .unwrap()
        .iter()
        .any(|(f, d, t)| f == "pytorch_model.bin" && d == t));
    // The same tokenizer in two revisions is one blob.
    let blobs = std::fs::read_dir(dir.path().join("models--emergent-test--small/blobs"))
        .unwrap()
        .count();
    let files: HashSet<Vec<u8>> = ["step23", "step156"]
        .iter()
        .flat_map(|r| std::fs::read_dir(ladder().join("small").join(r)).unwrap())
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    assert_eq!(blobs, files.len());
    // Fetched again: nothing but the revision's resolution.
    server.clear_log();
    hub.checkpoint(&small, "step23", Part::All, &quiet).unwrap();
    assert!(gets(&server).is_empty(), "{:?}", server.log());
    // Only the configuration first, then the weights: safetensors shards and index.
    let base = RepoId::parse("emergent-test/base").unwrap();
    let snap = hub
        .checkpoint(&base, "checkpoint-60", Part::Config, &quiet)
        .unwrap();
    assert!(
        snap.join("trainer_state.json").exists()
            && !snap.join("model-00001-of-00003.safetensors").exists()
    );
    hub.checkpoint(&base, "checkpoint-60", Part::All, &quiet)
        .unwrap();
    same_files(&snap, &ladder().join("base/checkpoint-60"));
    // Releasing the weights keeps the small files and frees the bytes.
    let freed = hub.release_weights(&snap).unwrap();
    let weights: u64 = std::fs::read_dir(ladder().join("base/checkpoint-60"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    assert_eq!(freed, weights);
    assert!(
        snap.join("config.json").exists()
            && !snap.join("model-00001-of-00003.safetensors").exists()
    );
}

#[test]
fn a_cut_connection_resumes_and_a_wrong_hash_is_refused() {
    let server = Server::start(
        &ladder_fixture(None),
        Faults {
            cut_after: Some(1000),
            ..Faults::default()
        },
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let hub = hub(&server.url, dir.path());
    let small = RepoId::parse("emergent-test/small").unwrap();
    let snap = hub.checkpoint(&small, "step60", Part::All, &quiet).unwrap();
    same_files(&snap, &ladder().join("small/step60"));
    let log = server.log();
    assert!(
        log.iter()
            .any(|l| l.starts_with("GET /lfs/") && l.ends_with("Range: bytes=1000-")),
        "{log:?}"
    );
    assert!(
        !std::fs::read_dir(dir.path().join("models--emergent-test--small/blobs"))
            .unwrap()
            .any(|e| e.unwrap().path().to_string_lossy().ends_with(".incomplete"))
    );

    let bad = Server::start(
        &ladder_fixture(None),
        Faults {
            corrupt: ["pytorch_model.bin".to_string(), "config.json".to_string()].into(),
            ..Faults::default()
        },
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let hub = self::hub(&bad.url, dir.path());
    let e = format!(
        "{:#}",
        hub.checkpoint(&small, "step60", Part::All, &quiet)
            .unwrap_err()
    );
    assert!(
        e.contains("step60") && e.contains("config.json") && e.contains("hash"),
        "{e}"
    );
    let blobs = dir.path().join("models--emergent-test--small/blobs");
    assert_eq!(
        std::fs::read_dir(&blobs).unwrap().count(),
        0,
        "nothing kept of a wrong file"
    );
}

#[test]
fn missing_revisions_offline_and_gated_repositories_are_named() {
    let server = Server::start(&ladder_fixture(Some("secret")), Faults::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut hub = hub(&server.url, dir.path());
    let small = RepoId::parse("emergent-test/small").unwrap();
    let base = RepoId::parse("emergent-test/base").unwrap();
    let e = format!(
        "{:#}",
        hub.checkpoint(&small, "step99", Part::All, &quiet)
            .unwrap_err()
    );
    assert!(
        e.contains("step99") && e.contains("no such revision"),
        "{e}"
    );
    let e = format!(
        "{:#}",
        hub.checkpoint(
            &RepoId::parse("no/such").unwrap(),
            "main",
            Part::All,
            &quiet
        )
        .unwrap_err()
    );
    assert!(
        e.contains("no/such") && e.contains("no such repository"),
        "{e}"
    );
    // Gated: refused without the token, fetched with it.
    let e = format!(
        "{:#}",
        hub.checkpoint(&base, "checkpoint-23", Part::Config, &quiet)
            .unwrap_err()
    );
    assert!(e.contains("gated") && e.contains("HF_TOKEN"), "{e}");
    hub.token = Some("secret".into());
    hub.checkpoint(&base, "checkpoint-23", Part::Config, &quiet)
        .unwrap();
    hub.checkpoint(&small, "step23", Part::All, &quiet).unwrap();
    // The token goes to the Hub, never to the other host its redirects name.
    let log = server.log();
    assert!(
        log.iter()
            .any(|l| l.starts_with("HEAD /emergent-test") && l.ends_with("(token)")),
        "{log:?}"
    );
    assert!(log.iter().any(|l| l.starts_with("GET /lfs/")), "{log:?}");
    assert!(
        !log.iter()
            .any(|l| l.starts_with("GET /lfs/") && l.ends_with("(token)")),
        "{log:?}"
    );
    // Offline: the cache alone, by revision name or commit; what it lacks is named.
    hub.offline = true;
    server.clear_log();
    let snap = hub.checkpoint(&small, "step23", Part::All, &quiet).unwrap();
    same_files(&snap, &ladder().join("small/step23"));
    hub.checkpoint(
        &small,
        &commit_of("emergent-test/small", "step23"),
        Part::All,
        &quiet,
    )
    .unwrap();
    assert!(server.log().is_empty(), "{:?}", server.log());
    let e = format!(
        "{:#}",
        hub.checkpoint(&small, "step60", Part::All, &quiet)
            .unwrap_err()
    );
    assert!(
        e.contains("step60") && e.contains("HF_HUB_OFFLINE") && e.contains("not in the cache"),
        "{e}"
    );
    let e = format!(
        "{:#}",
        hub.checkpoint(&base, "checkpoint-23", Part::All, &quiet)
            .unwrap_err()
    );
    assert!(
        e.contains("model-00001-of-00003.safetensors") && e.contains("not in the cache"),
        "{e}"
    );
    assert_eq!(hub.refs(&small).unwrap().len(), 1);
    // No network: the same, said so.
    hub.offline = false;
    drop(server);
    hub.endpoint = "http://127.0.0.1:9".into();
    hub.checkpoint(&small, "step23", Part::All, &quiet).unwrap();
    let e = format!(
        "{:#}",
        hub.checkpoint(&small, "step60", Part::All, &quiet)
            .unwrap_err()
    );
    assert!(
        e.contains("step60") && e.contains("cannot be reached"),
        "{e}"
    );
}

#[test]
fn processes_fetching_one_file_at_once_share_one_download() {
    let server = Server::start(&ladder_fixture(None), Faults::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let small = RepoId::parse("emergent-test/small").unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let hub = hub(&server.url, dir.path());
                let snap = hub
                    .checkpoint(&small, "step156", Part::All, &quiet)
                    .unwrap();
                same_files(&snap, &ladder().join("small/step156"));
            });
        }
    });
    let downloads = server
        .log()
        .iter()
        .filter(|l| l.starts_with("GET /lfs/"))
        .count();
    // Two shards, each fetched once.
    assert_eq!(downloads, 2, "{:?}", server.log());
}
