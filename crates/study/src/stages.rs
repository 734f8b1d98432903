//! The stage graph: corpus → tokenizer and shards → each run → each checkpoint's
//! evaluation → analysis → report. Every stage can run alone (a job of a job array runs
//! one run's training and evaluation), skips what its output already holds, and reports
//! through [`Progress`].

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use emergent_analysis::claims::AcrossSeeds;
use emergent_analysis::Findings;

use crate::corpus::{prepare_corpus, Prepared};
use crate::evaluate::{eval_runs, prepare_tasks};
use crate::finish::{analyze_study, Written};
use crate::ladder;
use crate::lock::DirLock;
use crate::progress::{say, Progress};
use crate::runs::train_runs;
use crate::stores::{open_store, run_store};
use crate::write_study_file;
use crate::Study;
use emergent_files::hash_of;
use emergent_store::Store;

/// The corpus, tokenizer and shards, and the study file that the other stages (in this
/// process or another) read.
pub fn prepare(study: &Study, out: &Path, progress: &dyn Progress) -> Result<Option<Prepared>> {
    if !study.checkpoints.is_empty() {
        // No corpus: the checkpoints are found (every path checked) and the file written.
        let found = ladder::discover(study)?;
        say(
            progress,
            format!("checkpoints: {} found, nothing to prepare", found.len()),
        );
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
        write_study_file(study, out)?;
        return Ok(None);
    }
    let data = prepare_corpus(study, out, progress)?;
    write_study_file(study, out)?;
    Ok(Some(data))
}

/// Trains the whole grid into the study's database; the runs that failed, one line each.
pub fn train_all(study: &Study, out: &Path, progress: &dyn Progress) -> Result<Vec<String>> {
    let data = prepare_corpus(study, out, progress)?;
    train_runs(study, out, &data, &open_store(out)?, None, progress)
}

/// Trains run `run` alone into its own database (`runs/R/results.sqlite`); its failure,
/// if it failed.
pub fn train_run(
    study: &Study,
    out: &Path,
    run: &str,
    progress: &dyn Progress,
) -> Result<Option<String>> {
    if !study.checkpoints.is_empty() {
        say(
            progress,
            format!("{run}: nothing to train (a study of existing checkpoints)"),
        );
        return Ok(None);
    }
    let data = prepare_corpus(study, out, progress)?;
    let store = run_store(out, run)?;
    let one = [run.to_string()];
    let failed = train_runs(study, out, &data, &store, Some(&one), progress)?;
    Ok(failed.into_iter().next())
}

/// The study's task specs (the built-in ones written into `out/tasks/`) and the study file.
fn tasks(study: &Study, out: &Path) -> Result<Vec<PathBuf>> {
    let tasks = prepare_tasks(study, out)?;
    write_study_file(study, out)?;
    Ok(tasks)
}

/// Scores every checkpoint of the study on every task it was not scored on.
pub fn eval_all(study: &Study, out: &Path, progress: &dyn Progress) -> Result<()> {
    if !study.checkpoints.is_empty() {
        return checkpoints_failed(&score_checkpoints(study, out, progress)?);
    }
    every_checkpoint(study, out, None, progress)?;
    Ok(())
}

/// An error naming the checkpoints that could not be scored, when any could not.
fn checkpoints_failed(failed: &[String]) -> Result<()> {
    if !failed.is_empty() {
        bail!(
            "{} checkpoint{} could not be scored (the others were): {}",
            failed.len(),
            if failed.len() == 1 { "" } else { "s" },
            failed.join(", ")
        );
    }
    Ok(())
}

/// Scores run `run`'s checkpoints into the run's own database.
pub fn eval_run(study: &Study, out: &Path, run: &str, progress: &dyn Progress) -> Result<()> {
    let tasks = tasks(study, out)?;
    let mut store = run_store(out, run)?;
    if !study.checkpoints.is_empty() {
        // One series of existing checkpoints: found, its validation loss, its evaluations,
        // all in the run's own database.
        let found = ladder::discover(study)?;
        let unit = ladder::loss_unit(&found);
        let mine: Vec<_> = found.into_iter().filter(|f| f.run == run).collect();
        ladder::register(&store, &mine)?;
        let pass = ladder::validation_pass(study, &store, unit)?;
        let one = [run.to_string()];
        let failed = eval_runs(
            study,
            &mut store,
            &tasks,
            out,
            Some(&one),
            Some(&pass),
            progress,
        )?;
        return checkpoints_failed(&failed);
    }
    // A run trained without its own database has its checkpoints in the study's.
    let main = out.join("results.sqlite");
    if main.exists() {
        store.merge_from(&main)?;
    }
    let one = [run.to_string()];
    eval_runs(study, &mut store, &tasks, out, Some(&one), None, progress)?;
    Ok(())
}

/// Merges the runs' databases into the study's, analyses and writes the report.
pub fn finish(study: &Study, out: &Path, progress: &dyn Progress) -> Result<Written> {
    drop(open_store(out)?);
    analyze_study(out, &study.name, progress)
}

/// [`finish`] by one process at a time. A process that had to wait for another's report
/// writes none when that report was made from the same results (`None`): several
/// processes sharing a study analyse it once, not once each.
fn finish_once(study: &Study, out: &Path, progress: &dyn Progress) -> Result<Option<Findings>> {
    let path = out.join(".finish.lock");
    let (_lock, waited) = match DirLock::try_take(&path)? {
        Some(l) => (l, false),
        None => {
            say(
                progress,
                "report: another process is writing it; waiting for it",
            );
            (DirLock::wait(&path)?, true)
        }
    };
    let store = open_store(out)?;
    let stamp = results_stamp(&store)?;
    let written = out.join("findings.json").exists() && out.join("report/index.html").exists();
    if waited && written && store.meta("reported")?.as_deref() == Some(stamp.as_str()) {
        say(
            progress,
            format!(
                "report: {} is up to date (another process wrote it from these results)",
                out.join("report/index.html").display()
            ),
        );
        return Ok(None);
    }
    drop(store);
    let w = finish(study, out, progress)?;
    open_store(out)?.put_meta("reported", &stamp)?;
    Ok(Some(w.findings))
}

/// What the analysis reads from the database, as a hash: every checkpoint's loss and
/// every evaluation's value.
fn results_stamp(store: &Store) -> Result<String> {
    let points: Vec<(String, String, String, f64, f64)> = store
        .points()?
        .into_iter()
        .map(|p| (p.checkpoint, p.task, p.metric, p.val_loss, p.value))
        .collect();
    Ok(hash_of(&points))
}

/// The whole study in `out`: whatever is missing of corpus, training and evaluation,
/// then (unless `no_report`) the analysis and report, whose findings it returns. What
/// the runs that failed left is evaluated and reported; the study still fails.
pub fn run_study(
    study: &Study,
    out: &Path,
    no_report: bool,
    progress: &dyn Progress,
) -> Result<Option<Findings>> {
    if !study.checkpoints.is_empty() {
        return run_checkpoints(study, out, no_report, progress);
    }
    let data = prepare_corpus(study, out, progress)?;
    write_study_file(study, out)?;
    let failed = train_runs(study, out, &data, &open_store(out)?, None, progress)?;
    eval_all(study, out, progress)?;
    let findings = if no_report {
        Ok(None)
    } else {
        finish_once(study, out, progress)
    };
    if let (Err(e), false) = (&findings, failed.is_empty()) {
        say(progress, format!("error: {e:#}"));
    }
    runs_failed(&failed)?;
    findings
}

/// A study of existing checkpoints: found and registered (every path checked before any
/// scoring), their validation loss, their evaluations, then the analysis and report as for
/// a trained grid. A checkpoint that fails to score is named and the others go on.
fn run_checkpoints(
    study: &Study,
    out: &Path,
    no_report: bool,
    progress: &dyn Progress,
) -> Result<Option<Findings>> {
    let failed = score_checkpoints(study, out, progress)?;
    let findings = if no_report {
        Ok(None)
    } else {
        finish_once(study, out, progress)
    };
    checkpoints_failed(&failed)?;
    findings
}

/// Every checkpoint of a study of checkpoints found, registered, and scored on the
/// validation text and the tasks; those that could not be scored are returned.
fn score_checkpoints(study: &Study, out: &Path, progress: &dyn Progress) -> Result<Vec<String>> {
    let found = ladder::discover(study)?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    write_study_file(study, out)?;
    let store = open_store(out)?;
    ladder::register(&store, &found)?;
    let unit = ladder::loss_unit(&found);
    say(
        progress,
        format!(
            "checkpoints: {} in {} runs; the loss axis is {unit}{}",
            found.len(),
            found
                .iter()
                .map(|f| &f.run)
                .collect::<std::collections::BTreeSet<_>>()
                .len(),
            if unit == ladder::BITS_PER_BYTE {
                " (their tokenizers differ, or one has no tokenizer.json)"
            } else {
                " (one tokenizer)"
            }
        ),
    );
    let pass = ladder::validation_pass(study, &store, unit)?;
    drop(store);
    every_checkpoint(study, out, Some(&pass), progress)
}

/// Every checkpoint in the study's database scored on the study's tasks (and the
/// validation text where one is given); those that could not be scored.
fn every_checkpoint(
    study: &Study,
    out: &Path,
    validation: Option<&ladder::ValidationPass>,
    progress: &dyn Progress,
) -> Result<Vec<String>> {
    let tasks = tasks(study, out)?;
    let mut store = open_store(out)?;
    eval_runs(study, &mut store, &tasks, out, None, validation, progress)
}

/// An error listing the runs that failed, when any did.
pub fn runs_failed(failed: &[String]) -> Result<()> {
    if failed.is_empty() {
        return Ok(());
    }
    bail!(
        "{} run{} failed (their checkpoints before the failure are kept and evaluated):\n  {}",
        failed.len(),
        if failed.len() == 1 { "" } else { "s" },
        failed.join("\n  ")
    )
}

/// The claims across seeds, and where they were written.
pub struct SeedsWritten {
    pub summary: AcrossSeeds,
    pub json: PathBuf,
    pub page: PathBuf,
}

/// The study once per seed (`seed`, `seed + 1`, …) in `out/seed-N/`, then the claims
/// across seeds in `out/seeds.json` and `out/seeds.html` (none with `no_report`).
pub fn run_seeds(
    study: &Study,
    out: &Path,
    seeds: usize,
    no_report: bool,
    progress: &dyn Progress,
) -> Result<Option<SeedsWritten>> {
    if seeds == 0 {
        bail!("--seeds: at least 1");
    }
    let mut per_seed = Vec::new();
    let mut links = Vec::new();
    let seed_list: Vec<u64> = (0..seeds as u64).map(|k| study.seed + k).collect();
    for (k, &seed) in seed_list.iter().enumerate() {
        let one = Study {
            seed,
            seeds: 1,
            ..study.clone()
        };
        let dir = out.join(format!("seed-{seed}"));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        write_study_file(&one, &dir)?;
        say(
            progress,
            format!("seed {seed} ({} of {seeds}): {}", k + 1, dir.display()),
        );
        let started = std::time::Instant::now();
        let findings = run_study(&one, &dir, no_report, progress)?;
        say(
            progress,
            format!(
                "seed {seed} done in {:.1} s",
                started.elapsed().as_secs_f64()
            ),
        );
        if let Some(f) = findings {
            if let Some(claims) = f.claims {
                per_seed.push((claims, f.tasks));
            }
            links.push(format!("seed-{seed}/report/index.html"));
        }
    }
    if no_report {
        return Ok(None);
    }
    let summary = emergent_analysis::claims::across_seeds(&seed_list, &per_seed);
    let json = out.join("seeds.json");
    std::fs::write(&json, serde_json::to_string_pretty(&summary)?)
        .with_context(|| format!("writing {}", json.display()))?;
    let page = emergent_report::write_seeds_page(out, &study.name, &summary, &links)?;
    Ok(Some(SeedsWritten {
        summary,
        json,
        page,
    }))
}
