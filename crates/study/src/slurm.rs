//! A study as Slurm jobs. One job prepares the corpus; a job array trains and evaluates
//! one run per task (`--run $SLURM_ARRAY_TASK_ID`, each writing its run's own
//! database); one job merges the databases, analyses and writes the report. Each waits
//! for the one before (`--dependency=afterok`).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{anyhow, bail, Context, Result};

/// What the jobs ask Slurm for.
#[derive(Debug, Clone, Default)]
pub struct SlurmOptions {
    pub partition: Option<String>,
    /// Time limit of each training task, in Slurm's format.
    pub time: Option<String>,
    pub gpus: Option<usize>,
    /// Training tasks running at once.
    pub array_limit: Option<usize>,
}

/// The batch scripts of a study.
pub struct Scripts {
    pub corpus: PathBuf,
    pub train: PathBuf,
    pub finish: PathBuf,
}

/// The `#SBATCH` lines every job shares.
fn header(opts: &SlurmOptions, name: &str, logs: &Path, array: bool, cpus: usize) -> String {
    let id = if array { "%A_%a" } else { "%j" };
    let mut h = format!(
        "#!/bin/bash\n#SBATCH --job-name=emergent-{name}\n#SBATCH --output={logs}/{name}-{id}.out\n\
         #SBATCH --error={logs}/{name}-{id}.err\n#SBATCH --cpus-per-task={cpus}\n",
        logs = logs.display()
    );
    if let Some(p) = &opts.partition {
        h.push_str(&format!("#SBATCH --partition={p}\n"));
    }
    h
}

/// Single-quoted for bash.
fn quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', "'\\''"))
}

/// The three batch scripts, written into `out/slurm/`.
pub fn write_scripts(
    opts: &SlurmOptions,
    exe: &Path,
    out: &Path,
    study_file: &Path,
    runs: usize,
    cpus: usize,
) -> Result<Scripts> {
    let dir = out.join("slurm");
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    let (exe, study, out) = (quote(exe), quote(study_file), quote(out));
    let mut train = header(opts, "train", &logs, true, cpus);
    let limit = opts.array_limit.map_or(String::new(), |k| format!("%{k}"));
    train.push_str(&format!(
        "#SBATCH --array=0-{}{limit}\n#SBATCH --requeue\n",
        runs - 1
    ));
    // Asked for before the time limit: the run stops at a step boundary and the requeued
    // task resumes where it stopped, bit-identically.
    train.push_str("#SBATCH --signal=B:TERM@120\n");
    if let Some(t) = &opts.time {
        train.push_str(&format!("#SBATCH --time={t}\n"));
    }
    if let Some(g) = opts.gpus {
        train.push_str(&format!("#SBATCH --gpus={g}\n"));
    }
    // The signal goes to this shell: it passes it on, lets the stage finish its step,
    // and requeues the task when the stage stopped for it (exit 130).
    train.push_str(&format!(
        r#"set -uo pipefail
stage() {{
  "$@" &
  local pid=$!
  trap 'kill -TERM "$pid" 2>/dev/null' TERM
  wait "$pid"
  local s=$?
  if [ "$s" -gt 128 ] && kill -0 "$pid" 2>/dev/null; then wait "$pid"; s=$?; fi
  trap - TERM
  if [ "$s" -eq 130 ]; then
    scontrol requeue "${{SLURM_ARRAY_JOB_ID}}_${{SLURM_ARRAY_TASK_ID}}"
  fi
  return "$s"
}}
stage {exe} train {study} --out {out} --run "$SLURM_ARRAY_TASK_ID" || exit $?
stage {exe} eval {study} --out {out} --run "$SLURM_ARRAY_TASK_ID" || exit $?
"#
    ));
    let corpus = format!(
        "{}set -euo pipefail\nexec {exe} corpus {study} --out {out}\n",
        header(opts, "corpus", &logs, false, cpus)
    );
    let finish = format!(
        "{}set -euo pipefail\nexec {exe} run {study} --out {out}\n",
        header(opts, "finish", &logs, false, cpus)
    );
    let scripts = Scripts {
        corpus: dir.join("corpus.sbatch"),
        train: dir.join("train.sbatch"),
        finish: dir.join("finish.sbatch"),
    };
    for (p, text) in [
        (&scripts.corpus, corpus),
        (&scripts.train, train),
        (&scripts.finish, finish),
    ] {
        std::fs::write(p, text).with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(scripts)
}

/// Submits one script with `sbatch --parsable`, after `after` when given; its job id.
pub fn submit(script: &Path, after: Option<&str>) -> Result<String> {
    let mut c = Command::new("sbatch");
    c.arg("--parsable");
    if let Some(id) = after {
        c.arg(format!("--dependency=afterok:{id}"));
    }
    let o = c.arg(script).output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            anyhow!("sbatch not found: `emergent slurm` submits with Slurm's sbatch (Debian: apt-get install slurm-client); --dry-run writes the scripts without it")
        } else {
            anyhow!("running sbatch: {e}")
        }
    })?;
    if !o.status.success() {
        bail!(
            "sbatch refused {}: {}",
            script.display(),
            String::from_utf8_lossy(&o.stderr).trim()
        );
    }
    let id = String::from_utf8_lossy(&o.stdout);
    let id = id.trim().split(';').next().unwrap_or("").to_string();
    if id.is_empty() {
        bail!("sbatch gave no job id for {}", script.display());
    }
    Ok(id)
}

/// The job ids of a submitted study.
pub struct Submitted {
    pub corpus: String,
    pub train: String,
    pub finish: String,
}

/// Submits the scripts, each after the one before.
pub fn submit_all(scripts: &Scripts) -> Result<Submitted> {
    let corpus = submit(&scripts.corpus, None)?;
    let train = submit(&scripts.train, Some(&corpus))?;
    let finish = submit(&scripts.finish, Some(&train))?;
    Ok(Submitted {
        corpus,
        train,
        finish,
    })
}
