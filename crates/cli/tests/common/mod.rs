//! What the binary's test files share: a study database's rows, the Slurm cluster.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

/// Every row of a table, as text, sorted, the study directory's own path as `OUT`: what
/// two study directories must share.
pub fn rows(out: &Path, sql: &str) -> Vec<String> {
    let db = out.join("results.sqlite");
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn.prepare(sql).unwrap();
    let n = stmt.column_count();
    let mut out: Vec<String> = stmt
        .query_map([], |r| {
            let cells: Vec<String> = (0..n)
                .map(|i| match r.get_ref(i).unwrap() {
                    rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                    other => format!("{other:?}"),
                })
                .collect();
            Ok(cells.join("|").replace(out.to_str().unwrap(), "OUT"))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    out.sort();
    out
}

/// The Slurm cluster the tests may use: `SLURM_CONF` set (scripts/slurm-local.sh start
/// prints it) and `sinfo` answering; else the Slurm tests skip, saying so.
pub fn slurm_cluster() -> bool {
    let up = std::env::var_os("SLURM_CONF").is_some()
        && Command::new("sinfo")
            .arg("-h")
            .output()
            .is_ok_and(|o| o.status.success());
    if !up {
        eprintln!(
            "skipping: no Slurm cluster (start one with scripts/slurm-local.sh start, then export SLURM_CONF)"
        );
    }
    up
}

/// Waits for a Slurm job to end; its final state.
pub fn slurm_wait(job: &str) -> String {
    let t0 = std::time::Instant::now();
    loop {
        let o = Command::new("scontrol")
            .args(["show", "job", job])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&o.stdout).to_string();
        let state = text
            .split_whitespace()
            .find_map(|w| w.strip_prefix("JobState="))
            .unwrap_or("UNKNOWN")
            .to_string();
        if ![
            "PENDING",
            "RUNNING",
            "CONFIGURING",
            "COMPLETING",
            "REQUEUED",
        ]
        .contains(&state.as_str())
            || t0.elapsed().as_secs() > 900
        {
            return state;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// The bits per byte `eval --text --out DIR` wrote into `DIR/results.json`.
pub fn bits_per_byte(dir: &Path) -> f64 {
    let text = std::fs::read_to_string(dir.join("results.json")).unwrap();
    let results: serde_json::Value = serde_json::from_str(&text).unwrap();
    results[0]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["metric"] == "bits_per_byte")
        .unwrap()["value"]
        .as_f64()
        .unwrap()
}
