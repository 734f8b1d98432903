//! `emergent slurm`: a study as Slurm jobs (`emergent_study::slurm`), written and
//! submitted.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use emergent_study::slurm::{submit_all, write_scripts, SlurmOptions};
use emergent_study::{grid, write_study_file};

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
    write_study_file(&s, &args.out)?;
    let study_file = args.out.join("study.toml");
    let runs = if s.checkpoints.is_empty() {
        grid(&s, s.tokenizer.vocab_size, None).len()
    } else {
        emergent_study::ladder::runs(&s)?.len()
    };
    let cpus = args
        .cpus
        .unwrap_or(if s.threads > 0 { s.threads } else { 1 });
    let opts = SlurmOptions {
        partition: args.partition.clone(),
        time: args.time.clone(),
        gpus: args.gpus,
        array_limit: args.array_limit,
    };
    let exe = std::env::current_exe().context("finding the emergent binary")?;
    let scripts = write_scripts(&opts, &exe, &args.out, &study_file, runs, cpus)?;
    let (corpus, train, finish) = (&scripts.corpus, &scripts.train, &scripts.finish);
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
    let ids = submit_all(&scripts)?;
    let (c, t, f) = (&ids.corpus, &ids.train, ids.finish.clone());
    println!("submitted: corpus job {c}, training array {t} ({runs} tasks), finish job {f}");
    eprintln!("follow it with `emergent status {}`", args.out.display());
    Ok(Some(f))
}
