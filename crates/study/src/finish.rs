//! The last stage: the study's results as observations, the analysis (verdicts,
//! thresholds, the scaling law) into `findings.json`, and the report.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use emergent_analysis::{
    analyze_with_progress, curve_from_obs, read_csv, read_lmeval_placed, read_samples, CurvePoint,
    DocScores, Findings, LmevalPlacement, Obs, Options, XAxis, NATS_PER_TOKEN,
};
use emergent_store::Store;

use crate::progress::{say, Event, Progress, Stage};

/// What an analysis reads: the observations, every checkpoint's loss, and what was
/// left out (with why).
#[derive(Default)]
pub struct Observations {
    pub obs: Vec<Obs>,
    pub curve: Vec<CurvePoint>,
    pub rejected: Vec<String>,
    /// The validation loss's unit where a study records one other than nats per token
    /// (`bits/byte`: checkpoints with different tokenizers).
    pub loss_unit: Option<String>,
    /// Where a study's checkpoints came from when not from its own runs or folders: each
    /// Hub repository with the revisions scored.
    pub sources: Vec<String>,
}

/// Each Hub repository among the checkpoints' locators, with its revisions in step
/// order: `EleutherAI/pythia-160m at 3 revisions: step1000, step2000, step3000`.
fn hub_sources(checkpoints: &[emergent_store::CheckpointRow]) -> Vec<String> {
    let mut by_repo: std::collections::BTreeMap<String, Vec<(u64, String)>> = Default::default();
    for c in checkpoints {
        if let Some(Ok(l)) = emergent_hub::Locator::parse(&c.path) {
            by_repo
                .entry(l.repo.to_string())
                .or_default()
                .push((c.step, l.revision));
        }
    }
    by_repo
        .into_iter()
        .map(|(repo, mut revs)| {
            revs.sort();
            let names: Vec<String> = revs.into_iter().map(|(_, r)| r).collect();
            let shown = if names.len() > 6 {
                format!(
                    "{}, {}, {}, …, {}",
                    names[0],
                    names[1],
                    names[2],
                    names[names.len() - 1]
                )
            } else {
                names.join(", ")
            };
            format!(
                "{repo} at {} revision{}: {shown}",
                names.len(),
                if names.len() == 1 { "" } else { "s" }
            )
        })
        .collect()
}

/// Per-document scores of one checkpoint's task from the study's `samples/` (written by
/// the evaluation), by metric; none when the file is absent or unreadable (the
/// analysis then falls back on aggregates, and says so).
fn study_samples(
    dir: &Path,
    checkpoint: &str,
    task: &str,
    warn: &mut Vec<String>,
) -> BTreeMap<String, Arc<DocScores>> {
    let path = crate::evaluate::samples_folder(&dir.join("samples"), checkpoint)
        .join(format!("{task}.jsonl"));
    if !path.exists() {
        return BTreeMap::new();
    }
    read_samples(&path).unwrap_or_else(|e| {
        warn.push(e);
        BTreeMap::new()
    })
}

/// The study's evaluations (with their per-document records) and every checkpoint's
/// loss.
pub fn observations(dir: &Path) -> Result<Observations> {
    let db = dir.join("results.sqlite");
    if !db.exists() {
        bail!(
            "{}: no results database here (run `emergent run` first, or pass --results FILE)",
            db.display()
        );
    }
    let store = Store::open(&db)?;
    let budgets: HashMap<String, u64> = store
        .runs()?
        .into_iter()
        .map(|r| (r.run, r.token_budget))
        .collect();
    let domains = store.domain_losses()?;
    let mut samples: HashMap<(String, String), BTreeMap<String, Arc<DocScores>>> = HashMap::new();
    let mut warn = Vec::new();
    let obs = store
        .points()?
        .into_iter()
        .filter(|p| p.value.is_finite())
        .map(|p| {
            let docs = samples
                .entry((p.checkpoint.clone(), p.task.clone()))
                .or_insert_with(|| study_samples(dir, &p.checkpoint, &p.task, &mut warn))
                .get(&p.metric)
                .cloned();
            (p, docs)
        })
        .map(|(p, docs)| Obs {
            baseline: emergent_metrics::baseline(&p.metric, p.baseline),
            size: p.size,
            params: p.params as f64,
            non_embedding_params: Some(p.non_embedding_params as f64),
            step: Some(p.step),
            tokens: p.tokens as f64,
            flops: p.flops,
            // A checkpoint whose validation text is not scored yet has no loss.
            loss: emergent_store::scored_loss(p.val_loss).unwrap_or(f64::NAN),
            task: p.task,
            shots: p.shots,
            metric: p.metric,
            value: p.value,
            stderr: p.stderr.is_finite().then_some(p.stderr),
            n: Some(p.n as f64),
            language: None,
            budget: budgets.get(&p.run).map(|&b| b as f64),
            domain_loss: domains.get(&p.checkpoint).cloned().unwrap_or_default(),
            docs,
            run: p.run,
        })
        .collect();
    let runs = store.runs()?;
    let checkpoints = store.checkpoints()?;
    let sources = hub_sources(&checkpoints);
    let curve = checkpoints
        .into_iter()
        .filter(|c| emergent_store::scored_loss(c.val_loss).is_some())
        .filter_map(|c| {
            let r = runs.iter().find(|r| r.run == c.run)?;
            Some(CurvePoint {
                run: c.run,
                size: r.size.clone(),
                params: r.params as f64,
                tokens: c.tokens as f64,
                flops: c.flops,
                loss: c.val_loss,
                token_budget: Some(r.token_budget as f64),
            })
        })
        .collect();
    let loss_unit = store.meta("loss_unit")?;
    Ok(Observations {
        loss_unit,
        obs,
        curve,
        rejected: warn,
        sources,
    })
}

/// Results a user brings: a CSV file, or lm-evaluation-harness JSON (a file or a folder
/// of them) placed on the run's steps by `placement`.
pub fn imported(path: &Path, placement: LmevalPlacement) -> Result<Observations> {
    if !path.exists() {
        bail!("--results {}: no such file or directory", path.display());
    }
    let loaded = if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
    {
        read_csv(path)
    } else if path.is_dir() || path.extension().is_some_and(|e| e == "json") {
        read_lmeval_placed(path, placement)
    } else {
        bail!(
            "{}: --results takes a .csv file, a .json file or a directory of them",
            path.display()
        );
    }?;
    Ok(Observations {
        obs: loaded.obs,
        curve: Vec::new(),
        rejected: loaded.rejected,
        loss_unit: loaded.loss_unit,
        sources: Vec::new(),
    })
}

/// What one analysis reads: a study's results, imported ones, or both on one loss axis
/// (which must be in one unit); every checkpoint's loss from the study, else from the
/// observations.
pub fn gather(
    study: Option<&Path>,
    results: Option<(&Path, LmevalPlacement)>,
) -> Result<Observations> {
    let mut input = match study {
        Some(d) => observations(d)?,
        None => Observations::default(),
    };
    if let Some((path, placement)) = results {
        let mut more = imported(path, placement)?;
        let unit = |u: &Option<String>| u.clone().unwrap_or_else(|| NATS_PER_TOKEN.into());
        if study.is_some()
            && more.loss_unit.is_some()
            && unit(&more.loss_unit) != unit(&input.loss_unit)
        {
            bail!(
                "{}: its loss is in {}, the study's in {}; one analysis takes one unit",
                path.display(),
                unit(&more.loss_unit),
                unit(&input.loss_unit)
            );
        }
        input.obs.append(&mut more.obs);
        input.rejected.append(&mut more.rejected);
        input.loss_unit = input.loss_unit.or(more.loss_unit);
    }
    if input.curve.is_empty() {
        input.curve = curve_from_obs(&input.obs);
    }
    Ok(input)
}

/// Where an analysis wrote its findings and its report.
pub struct Written {
    pub findings: Findings,
    pub json: PathBuf,
    pub report: PathBuf,
}

/// Analyses `input` and writes `out/findings.json` and `out/report/` under `title`.
pub fn analyze_and_report(
    input: Observations,
    opts: &Options,
    out: &Path,
    title: &str,
    progress: &dyn Progress,
) -> Result<Written> {
    let Observations {
        obs,
        curve,
        rejected,
        loss_unit,
        sources,
    } = input;
    let bits = opts.x == XAxis::Loss && loss_unit.as_deref() == Some(crate::ladder::BITS_PER_BYTE);
    let opts = &Options {
        x: if bits {
            XAxis::LossBits
        } else {
            opts.x.clone()
        },
        ..opts.clone()
    };
    for r in rejected.iter().take(20) {
        say(progress, format!("rejected: {r}"));
    }
    if rejected.len() > 20 {
        say(
            progress,
            format!(
                "rejected: … {} more (findings.json lists them all)",
                rejected.len() - 20
            ),
        );
    }
    if obs.is_empty() {
        bail!("no usable results to analyse");
    }
    if opts.x.is_loss() && obs.iter().all(|o| !o.loss.is_finite()) {
        bail!("these results hold no pre-training loss: choose another axis, e.g. --x tokens or --x lambada_openai:ppl");
    }
    check_axis(&opts.x, &obs)?;
    let n_series = emergent_analysis::series(&obs, &opts.x).len();
    say(
        progress,
        format!(
            "analyze: {} observations, {n_series} task–metric series against {}",
            obs.len(),
            opts.x.label()
        ),
    );
    progress.event(Event::Begin {
        stage: Stage::Analyze,
        total: n_series as u64,
    });
    let done = AtomicU64::new(0);
    let tick = || {
        let done = done.fetch_add(1, Ordering::Relaxed) + 1;
        progress.event(Event::Advance {
            stage: Stage::Analyze,
            done,
            note: "",
        });
    };
    let findings = analyze_with_progress(&obs, &curve, rejected, opts, &tick);
    progress.event(Event::End {
        stage: Stage::Analyze,
    });
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let json = out.join("findings.json");
    std::fs::write(&json, serde_json::to_string_pretty(&findings)?)
        .with_context(|| format!("writing {}", json.display()))?;
    progress.event(Event::Findings(&findings));
    say(
        progress,
        format!("report: writing {}", out.join("report").display()),
    );
    progress.event(Event::Begin {
        stage: Stage::Report,
        total: 0,
    });
    let figures = std::cell::Cell::new(0);
    let on_figure = || {
        figures.set(figures.get() + 1);
        progress.event(Event::Advance {
            stage: Stage::Report,
            done: figures.get(),
            note: "figures written",
        });
    };
    let input = emergent_report::Input {
        title,
        obs: &obs,
        curve: &curve,
        findings: &findings,
        axis: &opts.x,
        sources: &sources,
        on_figure: &on_figure,
    };
    let report = emergent_report::write_report(&out.join("report"), &input)?;
    progress.event(Event::End {
        stage: Stage::Report,
    });
    say(
        progress,
        format!("findings: {}\nreport: {}", json.display(), report.display()),
    );
    Ok(Written {
        findings,
        json,
        report,
    })
}

/// The analysis of a study directory with the default settings, its report titled
/// with the study's name: what `emergent run` ends with.
pub fn analyze_study(out: &Path, title: &str, progress: &dyn Progress) -> Result<Written> {
    let input = observations(out)?;
    analyze_and_report(input, &Options::default(), out, title, progress)
}

/// An axis that names a task, metric or domain the results do not hold is an error
/// that lists what they do hold.
fn check_axis(axis: &XAxis, obs: &[Obs]) -> Result<()> {
    let have = |v: Vec<String>| {
        let mut v = v;
        v.sort();
        v.dedup();
        v.join(", ")
    };
    match axis {
        XAxis::Metric { task, metric }
            if !obs.iter().any(|o| &o.task == task && &o.metric == metric) =>
        {
            let metrics = have(
                obs.iter()
                    .filter(|o| &o.task == task)
                    .map(|o| o.metric.clone())
                    .collect(),
            );
            if metrics.is_empty() {
                bail!(
                    "--x {axis}: no task `{task}` in the results (tasks: {})",
                    have(obs.iter().map(|o| o.task.clone()).collect())
                );
            }
            bail!("--x {axis}: task `{task}` has no metric `{metric}` (it has {metrics})");
        }
        XAxis::DomainLoss(d) if !obs.iter().any(|o| o.domain_loss.contains_key(d)) => {
            let domains = have(
                obs.iter()
                    .flat_map(|o| o.domain_loss.keys().cloned())
                    .collect(),
            );
            bail!(
                "--x {axis}: no validation loss for domain `{d}` in the results ({})",
                if domains.is_empty() {
                    "they hold none per domain".to_string()
                } else {
                    format!("domains: {domains}")
                }
            );
        }
        _ => {}
    }
    Ok(())
}
