//! Bad rows in imported results: each is rejected with its file, line and column (or
//! dropped as a duplicate naming both lines), the rest is read; and per-document records
//! beside lm-evaluation-harness results are found and aligned.

use std::path::PathBuf;

use emergent_analysis::{read_csv, read_lmeval, read_samples};

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("emergent-input-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const HEADER: &str = "run,params,tokens,loss,task,metric,value,step,n,stderr,baseline";

fn csv(name: &str, rows: &[&str]) -> PathBuf {
    let path = temp(name).join("results.csv");
    std::fs::write(&path, format!("{HEADER}\n{}\n", rows.join("\n"))).unwrap();
    path
}

#[test]
fn each_bad_row_names_its_line_and_column_and_the_rest_is_read() {
    let path = csv(
        "bad",
        &[
            "r,1e6,1e8,3.1,t,acc,0.3,10,100,0.04,0.25",
            "r,1e6,1e8,3.1,t,acc,1e300,11,100,0.04,0.25",
            "r,1e6,1e8,3.1,t,acc,0.3,12,-5,0.04,0.25",
            "r,1e6,1e8,3.1,t,acc,0.3,13,100,-0.1,0.25",
            "r,1e6,1e8,3.1,t,acc,0.3,14,100,0.04,7",
            "r,1e6,1e8,3.1,t,acc,0.3,1.5,100,0.04,0.25",
            "r,1e6,1e8,nan,t,acc,0.3,16,100,0.04,0.25",
            "r,1e6,1e8,3.1,t,acc,0.3,10,100,0.04,0.25",
        ],
    );
    let loaded = read_csv(&path).unwrap();
    assert_eq!(loaded.obs.len(), 1, "{:?}", loaded.rejected);
    let at = |line: usize, what: &str| {
        let want = format!("{}:{line}: ", path.display());
        assert!(
            loaded
                .rejected
                .iter()
                .any(|r| r.starts_with(&want) && r.contains(what)),
            "line {line} `{what}` not in {:#?}",
            loaded.rejected
        );
    };
    at(3, "column `value`: 1e300 is outside [0, 1]");
    at(4, "column `n`");
    at(5, "column `stderr`");
    at(6, "column `baseline`: 7 is outside [0, 1]");
    at(7, "column `step`: 1.5");
    at(8, "column `loss`");
    at(9, "duplicate of line 2");
    assert_eq!(loaded.rejected.len(), 7);
}

#[test]
fn a_header_without_rows_names_the_file() {
    let path = temp("header").join("only.csv");
    std::fs::write(&path, format!("{HEADER}\n")).unwrap();
    let err = read_csv(&path).unwrap_err().to_string();
    assert!(err.contains("only.csv") && err.contains("no rows"), "{err}");
}

#[test]
fn known_tasks_get_their_baseline_and_domain_losses_are_read() {
    let path = temp("known").join("r.csv");
    std::fs::write(
        &path,
        "run,params,tokens,loss,task,metric,value,loss:code,loss:web,budget\n\
         r,1e6,1e8,3.1,arc_easy,acc,0.3,2.5,3.3,2e8\n\
         r,1e6,1e8,3.1,piqa,brier_score,0.4,2.5,,2e8\n",
    )
    .unwrap();
    let loaded = read_csv(&path).unwrap();
    assert!(loaded.rejected.is_empty(), "{:?}", loaded.rejected);
    assert_eq!(loaded.obs[0].baseline, Some(0.25));
    assert_eq!(loaded.obs[1].baseline, Some(0.5));
    assert_eq!(loaded.obs[0].domain_loss["web"], 3.3);
    assert_eq!(loaded.obs[1].domain_loss.len(), 1);
    assert_eq!(loaded.obs[0].budget, Some(2e8));
}

#[test]
fn lm_eval_log_samples_beside_a_results_file_are_attached() {
    let dir = temp("samples").join("pythia-70m");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("results_step1000.json"),
        r#"{"results": {"piqa": {"acc,none": 0.5, "acc_stderr,none": 0.3}}, "config": {"num_fewshot": 0}}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("samples_piqa_step1000.jsonl"),
        "{\"doc_id\": 1, \"acc\": 0.0, \"filter\": \"none\"}\n{\"doc_id\": 0, \"acc\": 1.0, \"filter\": \"none\"}\n",
    )
    .unwrap();
    let loaded = read_lmeval(&dir).unwrap();
    assert!(loaded.rejected.is_empty(), "{:?}", loaded.rejected);
    let o = &loaded.obs[0];
    let docs = o.docs.as_ref().expect("records attached");
    assert_eq!(docs.ids, vec![0, 1]);
    assert_eq!(docs.values, vec![1.0, 0.0]);
    // A document scored twice is an error naming both lines.
    let twice = dir.join("twice.jsonl");
    std::fs::write(
        &twice,
        "{\"doc_id\": 3, \"metrics\": {\"acc\": 1}}\n{\"doc_id\": 3, \"metrics\": {\"acc\": 0}}\n",
    )
    .unwrap();
    let err = read_samples(&twice).unwrap_err();
    assert!(
        err.contains("twice.jsonl:2") && err.contains("line 1"),
        "{err}"
    );
}
