//! `emergent slurm`: a study as Slurm jobs. One job prepares the corpus; a job array
//! trains and evaluates one run per task (`--run $SLURM_ARRAY_TASK_ID`, each writing its
//! run's own database); one job merges the databases, analyses and writes the report.
//! Each waits for the one before (`--dependency=afterok`).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;

use crate::pipeline::grid;

#[derive(Args, Clone)]
pub struct SlurmArgs {
    /// The study file (TOML); the built-in default study when absent.
    pub study: Option<PathBuf>,
    /// The study's output directory, on a file system every node sees.
    #[arg(long, default_value = "emergent-out")]
    pub out: PathBuf,
    /// Use the built-in quick study when no file is given.
    #[arg(long)]
    pub quick: bool,
    /// Slurm partition of every job.
    #[arg(long)]
    pub partition: Option<String>,
    /// Time limit of each training task (Slurm's format, e.g. 4:00:00).
    #[arg(long)]
    pub time: Option<String>,
    /// CPUs per task (default: the study's threads, else 1).
    #[arg(long)]
    pub cpus: Option<usize>,
    /// GPUs per training task.
    #[arg(long)]
    pub gpus: Option<usize>,
    /// Training tasks running at once (`--array=…%K`).
    #[arg(long)]
    pub array_limit: Option<usize>,
    /// Write the batch scripts and print the sbatch commands without submitting.
    #[arg(long)]
    pub dry_run: bool,
}

/// The `#SBATCH` lines every job shares.
fn header(args: &SlurmArgs, name: &str, logs: &Path, array: bool, cpus: usize) -> String {
    let id = if array { "%A_%a" } else { "%j" };
    let mut h = format!(
        "#!/bin/bash\n#SBATCH --job-name=emergent-{name}\n#SBATCH --output={logs}/{name}-{id}.out\n\
         #SBATCH --error={logs}/{name}-{id}.err\n#SBATCH --cpus-per-task={cpus}\n",
        logs = logs.display()
    );
    if let Some(p) = &args.partition {
        h.push_str(&format!("#SBATCH --partition={p}\n"));
    }
    h
}

/// Single-quoted for bash.
fn quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', "'\\''"))
}

/// The three batch scripts, written into `out/slurm/`.
fn write_scripts(
    args: &SlurmArgs,
    study_file: &Path,
    runs: usize,
    cpus: usize,
) -> Result<[PathBuf; 3]> {
    let dir = args.out.join("slurm");
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    let exe = std::env::current_exe().context("finding the emergent binary")?;
    let (exe, study, out) = (quote(&exe), quote(study_file), quote(&args.out));
    let mut train = header(args, "train", &logs, true, cpus);
    let limit = args.array_limit.map_or(String::new(), |k| format!("%{k}"));
    train.push_str(&format!(
        "#SBATCH --array=0-{}{limit}\n#SBATCH --requeue\n",
        runs - 1
    ));
    // Asked for before the time limit: the run stops at a step boundary and the requeued
    // task resumes from its last checkpoint, bit-identically.
    train.push_str("#SBATCH --signal=B:TERM@120\n");
    if let Some(t) = &args.time {
        train.push_str(&format!("#SBATCH --time={t}\n"));
    }
    if let Some(g) = args.gpus {
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
        header(args, "corpus", &logs, false, cpus)
    );
    let finish = format!(
        "{}set -euo pipefail\nexec {exe} run {study} --out {out}\n",
        header(args, "finish", &logs, false, cpus)
    );
    let paths = [
        dir.join("corpus.sbatch"),
        dir.join("train.sbatch"),
        dir.join("finish.sbatch"),
    ];
    for (p, text) in paths.iter().zip([corpus, train, finish]) {
        std::fs::write(p, text).with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(paths)
}

/// Submits one script with `sbatch --parsable`, after `after` when given; its job id.
fn submit(script: &Path, after: Option<&str>) -> Result<String> {
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

/// Writes the scripts and submits them (or, with --dry-run, prints the commands).
/// Returns the finishing job's id when submitted.
pub fn slurm(args: &SlurmArgs) -> Result<Option<String>> {
    if args.gpus.is_some_and(|g| g > 0) {
        bail!("--gpus: this build trains on the CPU only; there is no GPU backend to give them to");
    }
    let s = emergent_study::load_study(args.study.as_deref(), args.quick)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let out = args.out.canonicalize().unwrap_or(args.out.clone());
    let args = SlurmArgs {
        out,
        ..args.clone()
    };
    crate::pipeline::write_study_file(&s, &args.out)?;
    let study_file = args.out.join("study.toml");
    let runs = grid(&s, s.tokenizer.vocab_size, None).len();
    let cpus = args
        .cpus
        .unwrap_or(if s.threads > 0 { s.threads } else { 1 });
    let [corpus, train, finish] = write_scripts(&args, &study_file, runs, cpus)?;
    eprintln!(
        "slurm: {runs} training tasks, scripts in {}",
        args.out.join("slurm").display()
    );
    if args.dry_run {
        println!("corpus=$(sbatch --parsable {})", corpus.display());
        println!(
            "train=$(sbatch --parsable --dependency=afterok:$corpus {})",
            train.display()
        );
        println!(
            "sbatch --parsable --dependency=afterok:$train {}",
            finish.display()
        );
        return Ok(None);
    }
    let c = submit(&corpus, None)?;
    let t = submit(&train, Some(&c))?;
    let f = submit(&finish, Some(&t))?;
    println!("submitted: corpus job {c}, training array {t} ({runs} tasks), finish job {f}");
    eprintln!("follow it with `emergent status {}`", args.out.display());
    Ok(Some(f))
}
