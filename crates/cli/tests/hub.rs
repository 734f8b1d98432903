//! Checkpoints named by a Hub repository and revision, through the binary users run,
//! against a Hub on 127.0.0.1 serving the committed ladder fixture
//! (`reference/goldens/ladder/`): `eval --model ORG/NAME --revision`, lm-eval's
//! `revision=`, offline, and a study streaming a repository's revisions through the cache.

use std::path::{Path, PathBuf};
use std::process::Command;

use emergent_testhub::{ladder_fixture, Faults, Server};

mod common;
use common::{bits_per_byte, rows, slurm_cluster, slurm_wait};

fn ladder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../reference/goldens/ladder")
}

/// The binary with the Hub's variables pointing at the local server and cache.
fn emergent(env: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_emergent"));
    for v in [
        "HF_TOKEN",
        "HF_HUB_OFFLINE",
        "HF_ENDPOINT",
        "HF_HOME",
        "HF_HUB_CACHE",
    ] {
        cmd.env_remove(v);
    }
    cmd.envs(env.iter().copied()).args(args).output().unwrap()
}

#[test]
fn a_model_named_by_repository_and_revision_scores_as_its_folder() {
    let server = Server::start(&ladder_fixture(Some("secret")), Faults::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let val = dir.path().join("val.txt");
    std::fs::write(&val, "Meda is a cook and cooks the meals every day.\n").unwrap();
    let (d, v, c) = (dir.path().display(), val.display(), cache.display());
    let env = |extra: &str| format!("HF_ENDPOINT={} HF_HUB_CACHE={c} {extra}", server.url);
    // `eval --text VAL` with the arguments and variables given, each as `A B C`.
    let eval = |vars: &str, args: &str| {
        let vars: Vec<(&str, &str)> = vars
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .collect();
        let text = format!("eval {args} --text {v}");
        emergent(&vars, &text.split_whitespace().collect::<Vec<_>>())
    };
    let ok = |o: std::process::Output| {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr))
    };
    let refused = |o: std::process::Output| {
        assert!(!o.status.success());
        String::from_utf8_lossy(&o.stderr).to_string()
    };
    let local = ladder().join("small/step60");
    let local = local.display();
    ok(eval(&env(""), &format!("--model {local} --out {d}/local")));
    ok(eval(
        &env(""),
        &format!("--model emergent-test/small --revision step60 --out {d}/hub"),
    ));
    assert_eq!(
        bits_per_byte(&dir.path().join("hub")),
        bits_per_byte(&dir.path().join("local"))
    );
    assert!(cache
        .join("models--emergent-test--small/refs/step60")
        .exists());
    // lm-eval's form: the revision in --model_args, the results named as lm-eval names them.
    ok(eval(
        &env(""),
        &format!("--model hf --model_args pretrained=emergent-test/small,revision=step60 --output_path {d}/lmeval"),
    ));
    let folder = dir.path().join("lmeval/emergent-test__small");
    let file = std::fs::read_dir(&folder)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let args = doc["config"]["model_args"].to_string();
    assert!(
        args.contains("revision=step60") || args.contains("\"revision\":\"step60\""),
        "{args}"
    );
    // Refusals: two revisions at once, a revision of a local folder, no such revision.
    let e = refused(eval(
        &env(""),
        "--model hf --model_args pretrained=emergent-test/small,revision=step60 --revision step23",
    ));
    assert!(e.contains("different revisions"), "{e}");
    let e = refused(eval(
        &env(""),
        &format!("--model {local} --revision step23"),
    ));
    assert!(e.contains("local checkpoint"), "{e}");
    let e = refused(eval(
        &env(""),
        "--model emergent-test/small --revision step7",
    ));
    assert!(e.contains("step7") && e.contains("no such revision"), "{e}");
    // A gated repository needs its token.
    let gated = "--model emergent-test/base --revision checkpoint-23";
    let e = refused(eval(&env(""), gated));
    assert!(e.contains("HF_TOKEN"), "{e}");
    ok(eval(&env("HF_TOKEN=secret"), gated));
    // Offline: the cache alone; what it lacks is named, and the Hub is not asked.
    server.clear_log();
    ok(eval(
        &env("HF_HUB_OFFLINE=1"),
        &format!("--model emergent-test/small --revision step60 --out {d}/offline"),
    ));
    assert_eq!(
        bits_per_byte(&dir.path().join("offline")),
        bits_per_byte(&dir.path().join("local"))
    );
    let e = refused(eval(
        &env("HF_HUB_OFFLINE=1"),
        "--model emergent-test/small --revision step23",
    ));
    assert!(e.contains("step23") && e.contains("HF_HUB_OFFLINE"), "{e}");
    assert!(
        server.log().is_empty(),
        "offline asked the Hub: {:?}",
        server.log()
    );
}

fn files_under(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten() {
            let p = e.unwrap().path();
            if p.is_dir() && !p.is_symlink() {
                stack.push(p);
            } else if let Ok(m) = std::fs::symlink_metadata(&p) {
                out.push((p, m.len()));
            }
        }
    }
    out
}

/// A study naming two repositories' revisions by pattern scores what a study of the
/// same folders scores; with `keep = false` each revision's weights leave the cache once
/// it is scored, and a re-run fetches nothing.
#[test]
fn a_study_streams_a_repositorys_revisions_through_the_cache() {
    let server = Server::start(&ladder_fixture(Some("secret")), Faults::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let env = [
        ("HF_ENDPOINT", server.url.as_str()),
        ("HF_HUB_CACHE", cache.to_str().unwrap()),
        ("HF_TOKEN", "secret"),
    ];
    let val = dir.path().join("val.txt");
    std::fs::write(
        &val,
        "Meda is a cook and cooks the meals every day. Fanou is a shepherd.\n\
         Question: Where does Meda live?\nAnswer: Hollow\n",
    )
    .unwrap();
    let tail = format!(
        "[validation]\ntext = \"{}\"\n[eval]\ntasks = [\"commonsense-en\"]\ndocuments = 10\n",
        val.display()
    );
    let local = format!(
        "name = \"ladder\"\n[[checkpoints]]\npath = \"{0}/base/checkpoint-*\"\n[[checkpoints]]\npath = \"{0}/small/step*\"\ntokens_per_step = 256\n{tail}",
        ladder().display()
    );
    let hub = format!(
        "name = \"ladder\"\n[[checkpoints]]\nrepo = \"emergent-test/base\"\nrevisions = [\"checkpoint-*\"]\nkeep = false\n\
         [[checkpoints]]\nrepo = \"emergent-test/small\"\nrevisions = [\"step{{0..200}}\"]\ntokens_per_step = 256\nkeep = false\n{tail}"
    );
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let (local_study, hub_study) = (write("local.toml", &local), write("hub.toml", &hub));
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    // `run STUDY --out DIR --no-report`: its stderr, and whether it succeeded.
    let run = |study: &str, out: &Path| {
        let o = emergent(
            &env,
            &["run", study, "--out", out.to_str().unwrap(), "--no-report"],
        );
        (
            String::from_utf8_lossy(&o.stderr).to_string(),
            o.status.success(),
        )
    };
    let (err, ok) = run(&local_study, &a);
    assert!(ok, "{err}");
    let (err, ok) = run(&hub_study, &b);
    assert!(ok, "{err}");
    assert!(
        err.contains("6 in 2 runs; the loss axis is nats/token"),
        "{err}"
    );
    assert!(err.contains("leave the cache (keep = false)"), "{err}");
    let same = |x: &Path, y: &Path| {
        for sql in [
            "SELECT checkpoint, run, step, tokens, val_loss FROM checkpoints",
            "SELECT checkpoint, task, metric, value FROM evaluations",
        ] {
            assert_eq!(rows(x, sql), rows(y, sql), "{sql}");
        }
    };
    same(&a, &b);
    let paths = rows(&b, "SELECT path FROM checkpoints");
    assert!(
        paths.contains(&"hf://emergent-test/small@step23".to_string()),
        "{paths:?}"
    );
    // No weights are left in the cache: only the small files, each under 64 KB.
    let left = files_under(&cache);
    assert!(
        !left
            .iter()
            .any(|(p, n)| p.to_string_lossy().ends_with(".bin")
                || p.to_string_lossy().ends_with(".safetensors")
                || *n >= 64 << 10),
        "{left:?}"
    );
    let status = emergent(&env, &["status", b.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&status.stdout);
    assert!(
        said.contains("hf://emergent-test/base@checkpoint-60"),
        "{said}"
    );
    // A re-run scores nothing and fetches no weights.
    server.clear_log();
    let (err, ok) = run(&hub_study, &b);
    assert!(ok && err.contains(", 0 to score"), "{err}");
    assert!(
        !server.log().iter().any(|l| l.contains("/lfs/")),
        "{:?}",
        server.log()
    );
    // The report names the repositories and revisions.
    let o = emergent(&env, &["analyze", b.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let page = std::fs::read_to_string(b.join("report/index.html")).unwrap();
    assert!(
        page.contains("emergent-test/small at 3 revisions: step23, step60, step156"),
        "the report names no revision"
    );
    // Through Slurm: each array task fetches the revisions of its series.
    if slurm_cluster() {
        let c = dir.path().join("slurm");
        let o = emergent(&env, &["slurm", &hub_study, "--out", c.to_str().unwrap()]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let said = String::from_utf8_lossy(&o.stdout).to_string();
        let job = said.split_whitespace().last().unwrap();
        assert_eq!(slurm_wait(job), "COMPLETED");
        same(&a, &c);
    }
    // A pattern naming no revision, and a repository and a path at once, are refused.
    let none = write("none.toml", &hub.replace("step{0..200}", "step{300..400}"));
    let (e, ok) = run(&none, &dir.path().join("c"));
    assert!(!ok && e.contains("step{300..400}"), "{e}");
    let both = hub.replace(
        "repo = \"emergent-test/base\"\n",
        "repo = \"emergent-test/base\"\npath = \"x\"\n",
    );
    let (e, ok) = run(&write("both.toml", &both), &dir.path().join("d"));
    assert!(!ok && e.contains("not both"), "{e}");
}
