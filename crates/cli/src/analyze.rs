//! `emergent analyze`: a study's results database and/or imported results (CSV or
//! lm-evaluation-harness JSON) → `findings.json`, `report/` (figures and tables) and
//! a summary on the terminal.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::term;
use anyhow::{bail, Context, Result};
use clap::Args;
use emergent_analysis::claims::Claims;
use emergent_analysis::{
    analyze_with_progress, curve_from_obs, metric_baseline, read_csv, read_lmeval_placed,
    read_samples, CurvePoint, DocScores, Findings, Kind, LmevalPlacement, Obs, Options, Rules,
    XAxis,
};
use emergent_store::Store;

#[derive(Args, Debug, Clone)]
pub struct AnalyzeArgs {
    /// A study's output directory (its results.sqlite); default emergent-out when no
    /// --results is given.
    pub study_dir: Option<PathBuf>,
    /// Imported results: a CSV file, an lm-evaluation-harness results JSON, or a
    /// directory of such JSON files (e.g. ../shared/data/pythia-evals/pythia-v1).
    #[arg(long)]
    pub results: Option<PathBuf>,
    /// The step of lm-eval results files whose names and models name none.
    #[arg(long)]
    pub step: Option<u64>,
    /// Tokens per step of imported lm-eval results (default: the folder's `-0.5MtokBS`,
    /// else Pythia's 2,097,152).
    #[arg(long)]
    pub tokens_per_step: Option<f64>,
    /// The x axis: loss, tokens, flops, params, or TASK:METRIC (another task's metric
    /// at the same checkpoint; a perplexity is taken as its log, a cross-entropy).
    #[arg(long, default_value = "loss")]
    pub x: XAxis,
    /// Where findings.json and report/ go (default: the study directory, else
    /// emergent-analysis).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Resamples for the thresholds' intervals, the verdicts' stability and the scaling
    /// law's intervals.
    #[arg(long, default_value_t = 200)]
    pub bootstrap: usize,
    /// How far from the random baseline (in the metric's units) the level above a
    /// threshold may lie and still count as at chance.
    #[arg(long, default_value_t = 0.05)]
    pub chance_margin: f64,
    /// The fraction of refits that must agree before a task is called emergent.
    #[arg(long, default_value_t = 0.8)]
    pub min_stability: f64,
    /// Tokens per parameter at which a threshold becomes a model size and compute.
    #[arg(long, default_value_t = 20.0)]
    pub tokens_per_param: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Report title.
    #[arg(long)]
    pub title: Option<String>,
}

impl AnalyzeArgs {
    /// The analysis of a study directory with default settings (`emergent run`).
    pub fn for_study(dir: &Path, title: &str) -> Self {
        AnalyzeArgs {
            study_dir: Some(dir.to_path_buf()),
            results: None,
            step: None,
            tokens_per_step: None,
            x: XAxis::Loss,
            out: None,
            bootstrap: 200,
            chance_margin: 0.05,
            min_stability: 0.8,
            tokens_per_param: 20.0,
            seed: 0,
            title: Some(title.to_string()),
        }
    }
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
    let path = dir
        .join("samples")
        .join(checkpoint.replace(['/', '\\'], "_"))
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
fn from_study(dir: &Path) -> Result<(Vec<Obs>, Vec<CurvePoint>, Vec<String>)> {
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
            baseline: metric_baseline(&p.metric, p.baseline),
            size: p.size,
            params: p.params as f64,
            non_embedding_params: Some(p.non_embedding_params as f64),
            step: Some(p.step),
            tokens: p.tokens as f64,
            flops: p.flops,
            loss: p.val_loss,
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
    let curve = store
        .checkpoints()?
        .into_iter()
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
    Ok((obs, curve, warn))
}

fn from_results(path: &Path, placement: LmevalPlacement) -> Result<(Vec<Obs>, Vec<String>)> {
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
    Ok((loaded.obs, loaded.rejected))
}

/// Series beyond which the summary lists each task's main metric only.
const LIST_ALL_UP_TO: usize = 60;

fn print_summary(f: &Findings) {
    let mains = emergent_analysis::claims::main_findings(&f.tasks);
    let rows: Vec<&emergent_analysis::TaskFinding> = if f.tasks.len() <= LIST_ALL_UP_TO {
        f.tasks.iter().collect()
    } else {
        mains.clone()
    };
    println!(
        "{:<20} {:>2} {:<18} {:<10} {:>7} {:>17} {:>6} {:>6} {:>6}",
        "task", "k", "metric", "verdict", "η", "95% interval", "stable", "R² x", "R² +N"
    );
    let num = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.3}"));
    for t in &rows {
        // An uncertain break's η and interval, queried.
        let (eta, ci, q) = match t.kind {
            Kind::Uncertain => (t.break_eta, t.break_ci, "?"),
            _ => (t.threshold, t.ci, ""),
        };
        let ci = ci.map_or("–".to_string(), |[a, b]| format!("[{a:.3}, {b:.3}]"));
        let eta = eta.map_or("–".to_string(), |v| format!("{v:.3}{q}"));
        let stable = t
            .stability
            .as_ref()
            .map_or("–".to_string(), |s| format!("{:.0}%", 100.0 * s.overall));
        println!(
            "{:<20} {:>2} {:<18} {:<10} {:>7} {:>17} {:>6} {:>6} {:>6}",
            term::fit(&t.task, 20),
            t.shots,
            term::fit(&t.metric, 18),
            t.kind.name(),
            eta,
            ci,
            stable,
            num(t.r2_loss),
            num(t.r2_loss_size),
        );
        if t.kind == Kind::Uncertain {
            if let Some(why) = &t.reason {
                println!("{}", term::wrap("    uncertain: ", why, 6));
            }
        }
    }
    if rows.len() < f.tasks.len() {
        println!(
            "(each task's main metric; all {} series in report/tables/thresholds.csv)",
            f.tasks.len()
        );
    }
    println!("{}", term::wrap("verdicts: ", &f.verdict_counts(), 4));
    let law = match &f.scaling {
        Some(s) => format!(
            "L(N, D) = {:.4} + {:.4e}/N^{:.4} + {:.4e}/D^{:.4} ({})",
            s.e, s.a, s.alpha, s.b, s.beta, f.scaling_points
        ),
        None => f.scaling_points.clone(),
    };
    println!("{}", term::wrap("scaling law: ", &law, 4));
    for l in &f.limits {
        println!("{}", term::wrap("too small for the claims: ", l, 4));
    }
    if let Some(c) = &f.claims {
        print_claims(c);
    }
    for p in &f.predictions {
        let when = match p.tokens_at_threshold {
            Some(d) => format!("at about {d:.3e} tokens"),
            None => format!(
                "not on its fitted loss curve (it levels off at {:.4})",
                p.curve.e
            ),
        };
        let line = format!(
            "(at {:.3e} of {} tokens, loss {:.4}) reaches {}'s threshold {:.4} {when}",
            p.tokens_so_far,
            p.token_budget.map_or("?".into(), |b| format!("{b:.3e}")),
            p.loss_now,
            p.task,
            p.threshold,
        );
        println!("{}", term::wrap(&format!("{} ", p.run), &line, 4));
    }
}

/// The paper's claims, one line each.
fn print_claims(c: &Claims) {
    let verdict = |h: bool| if h { "holds" } else { "does not hold" };
    let names = |v: &mut dyn Iterator<Item = String>| v.collect::<Vec<_>>().join(", ");
    let say = |head: &str, holds: bool, detail: String| {
        let text = format!("{} ({detail})", verdict(holds));
        println!("{}", term::wrap(head, &text, 6));
    };
    println!("the paper's claims on this study:");
    let lp = &c.loss_predicts_performance;
    let failing = names(&mut lp.tasks.iter().filter(|t| !t.holds).map(|t| t.task.clone()));
    let not = if failing.is_empty() {
        String::new()
    } else {
        format!("; not: {failing}")
    };
    say(
        "  1. loss predicts performance: ",
        lp.holds,
        format!("{} tasks with signal{not}", lp.tasks.len()),
    );
    let em = &c.emergent_tasks;
    say(
        "  2. emergent tasks: ",
        em.holds,
        names(&mut em.tasks.iter().map(|e| {
            format!(
                "{} η {} ± {}",
                e.task,
                e.threshold.map_or("–".into(), |v| format!("{v:.3}")),
                e.ci_fraction
                    .map_or("–".into(), |f| format!("{:.0}% of the range", 100.0 * f))
            )
        })),
    );
    let sm = &c.smooth_tasks;
    say("  3. smooth tasks: ", sm.holds, sm.tasks.join(", "));
    let co = &c.continuous_metrics;
    say(
        "  4. thresholds under continuous metrics: ",
        co.holds,
        names(&mut co.tasks.iter().map(|t| {
            let m = names(&mut t.metrics.iter().map(|(m, k)| format!("{m} {k}")));
            format!("{}: {m}", t.task)
        })),
    );
    let la = &c.languages_agree;
    say(
        "  5. languages agree: ",
        la.holds,
        names(&mut la.tasks.iter().map(|p| {
            format!(
                "{} {} / {} {}",
                p.tasks[0], p.kinds[0], p.tasks[1], p.kinds[1]
            )
        })),
    );
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

/// Runs the analysis and writes findings.json and the report; returns the findings.
pub fn run_analyze(args: &AnalyzeArgs) -> Result<Findings> {
    if !(args.tokens_per_param.is_finite() && args.tokens_per_param > 0.0) {
        bail!(
            "--tokens-per-param must be a positive number, not {}",
            args.tokens_per_param
        );
    }
    let study = match (&args.study_dir, &args.results) {
        (Some(d), _) => Some(d.clone()),
        (None, None) => Some(PathBuf::from("emergent-out")),
        (None, Some(_)) => None,
    };
    let (mut obs, mut curve, mut rejected) = match &study {
        Some(d) => from_study(d)?,
        None => (Vec::new(), Vec::new(), Vec::new()),
    };
    if let Some(path) = &args.results {
        let placement = LmevalPlacement {
            step: args.step,
            tokens_per_step: args.tokens_per_step,
        };
        let (mut more, mut bad) = from_results(path, placement)?;
        obs.append(&mut more);
        rejected.append(&mut bad);
    }
    if curve.is_empty() {
        curve = curve_from_obs(&obs);
    }
    for r in rejected.iter().take(20) {
        eprintln!("rejected: {r}");
    }
    if rejected.len() > 20 {
        eprintln!(
            "rejected: … {} more (findings.json lists them all)",
            rejected.len() - 20
        );
    }
    if obs.is_empty() {
        bail!("no usable results to analyse");
    }
    if args.x == XAxis::Loss && obs.iter().all(|o| !o.loss.is_finite()) {
        bail!("these results hold no pre-training loss: choose another axis, e.g. --x tokens or --x lambada_openai:ppl");
    }
    check_axis(&args.x, &obs)?;
    if !(args.chance_margin.is_finite() && args.chance_margin >= 0.0) {
        bail!(
            "--chance-margin must be a non-negative number, not {}",
            args.chance_margin
        );
    }
    if !(0.0..=1.0).contains(&args.min_stability) {
        bail!(
            "--min-stability must lie in [0, 1], not {}",
            args.min_stability
        );
    }
    let opts = Options {
        x: args.x.clone(),
        rules: Rules {
            boot: args.bootstrap,
            margin: args.chance_margin,
            min_stability: args.min_stability,
            ..Rules::default()
        },
        seed: args.seed,
        tokens_per_param: args.tokens_per_param,
    };
    let n_series = emergent_analysis::series(&obs, &opts.x).len();
    eprintln!(
        "analyze: {} observations, {n_series} task–metric series against {}",
        obs.len(),
        opts.x.label()
    );
    let pb = crate::pipeline::bar(
        n_series as u64,
        "analyze [{elapsed_precise}] [{bar:30}] {pos}/{len} series eta {eta}",
    );
    pb.set_prefix("analyze");
    let findings = analyze_with_progress(&obs, &curve, rejected, &opts, &|| pb.inc(1));
    pb.finish_and_clear();
    let out = args
        .out
        .clone()
        .or(study)
        .unwrap_or_else(|| PathBuf::from("emergent-analysis"));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let json = out.join("findings.json");
    std::fs::write(&json, serde_json::to_string_pretty(&findings)?)
        .with_context(|| format!("writing {}", json.display()))?;
    print_summary(&findings);
    let title = args
        .title
        .clone()
        .unwrap_or_else(|| "emergent: performance against loss".into());
    eprintln!("report: writing {}", out.join("report").display());
    let pb = crate::pipeline::bar(0, "report [{elapsed_precise}] {pos} {msg}");
    pb.set_prefix("report");
    pb.set_message("figures written");
    let input = emergent_report::Input {
        title: &title,
        obs: &obs,
        curve: &curve,
        findings: &findings,
        axis: &args.x,
        on_figure: &|| pb.inc(1),
    };
    let index = emergent_report::write_report(&out.join("report"), &input)?;
    pb.finish_and_clear();
    eprintln!("findings: {}\nreport: {}", json.display(), index.display());
    Ok(findings)
}
