//! `emergent analyze`: a study's results database and/or imported results (CSV or
//! lm-evaluation-harness JSON) → `findings.json`, `report/` (figures and tables) and
//! a summary on the terminal.

use std::path::PathBuf;

use crate::draw::Bars;
use crate::term;
use anyhow::{bail, Result};
use clap::Args;
use emergent_analysis::claims::Claims;
use emergent_analysis::{Findings, Kind, LmevalPlacement, Options, Rules, XAxis};
use emergent_study::finish::{analyze_and_report, gather};

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
    #[arg(long, default_value_t = Rules::default().boot)]
    pub bootstrap: usize,
    /// How far from the random baseline (in the metric's units) the level above a
    /// threshold may lie and still count as at chance.
    #[arg(long, default_value_t = Rules::default().margin)]
    pub chance_margin: f64,
    /// The fraction of refits that must agree with a verdict; one they do not carry is
    /// uncertain.
    #[arg(long, default_value_t = Rules::default().min_stability)]
    pub min_stability: f64,
    /// The share of the range after the warm-up that an emergent task's plateau at
    /// chance must cover.
    #[arg(long, default_value_t = Rules::default().min_plateau)]
    pub min_plateau: f64,
    /// Checkpoints trained on less than this share of their run's tokens are the
    /// warm-up, set aside by the verdicts.
    #[arg(long, default_value_t = Rules::default().warmup_fraction)]
    pub warmup_fraction: f64,
    /// Where the warm-up ends on the x axis, in its units (instead of
    /// --warmup-fraction): checkpoints before it are set aside by the verdicts.
    #[arg(long)]
    pub warmup: Option<f64>,
    /// Tokens per parameter at which a threshold becomes a model size and compute.
    #[arg(long, default_value_t = Options::default().tokens_per_param)]
    pub tokens_per_param: f64,
    #[arg(long, default_value_t = Options::default().seed)]
    pub seed: u64,
    /// Report title.
    #[arg(long)]
    pub title: Option<String>,
}

/// Series beyond which the summary lists each task's main metric only.
const LIST_ALL_UP_TO: usize = 60;

pub(crate) fn print_summary(f: &Findings) {
    let mains = emergent_analysis::claims::main_findings(&f.tasks);
    let rows: Vec<&emergent_analysis::TaskFinding> = if f.tasks.len() <= LIST_ALL_UP_TO {
        f.tasks.iter().collect()
    } else {
        mains.clone()
    };
    println!(
        "{:<20} {:>2} {:<18} {:<10} {:>7} {:>17} {:>6} {:>6} {:>6} {:>12}",
        "task",
        "k",
        "metric",
        "verdict",
        "η",
        "95% interval",
        "stable",
        "R² x",
        "R² +N",
        "forecast"
    );
    let num = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.3}"));
    for t in &rows {
        // An uncertain series' onset and interval, queried.
        let (eta, ci, q) = match t.kind {
            Kind::Uncertain => (t.onset, t.onset_ci, "?"),
            _ => (t.threshold, t.ci, ""),
        };
        let ci = ci.map_or("–".to_string(), |[a, b]| format!("[{a:.3}, {b:.3}]"));
        let eta = eta.map_or("–".to_string(), |v| format!("{v:.3}{q}"));
        let stable = t
            .stability
            .as_ref()
            .map_or("–".to_string(), |s| format!("{:.0}%", 100.0 * s.overall));
        let forecast = t.forecast.as_ref().map_or("–".to_string(), |f| {
            format!("{:.3} {:.0}%", f.mae, 100.0 * f.coverage)
        });
        println!(
            "{:<20} {:>2} {:<18} {:<10} {:>7} {:>17} {:>6} {:>6} {:>6} {:>12}",
            term::fit(&t.task, 20),
            t.shots,
            term::fit(&t.metric, 18),
            t.kind.name(),
            eta,
            ci,
            stable,
            num(t.r2_loss),
            num(t.r2_loss_size),
            forecast,
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
    if let Some(held) = rows.iter().find_map(|t| t.forecast.as_ref()) {
        println!(
            "{}",
            term::wrap(
                "forecast: ",
                &format!(
                    "{} predicted from every other run by each series' model: mean absolute error, and the share of its checkpoints inside the 95% interval",
                    held.held_out.join(", ")
                ),
                4
            )
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
    println!("the paper's claims on this study:");
    for row in c.rows() {
        let verdict = if row.holds { "holds" } else { "does not hold" };
        let tasks: Vec<String> = row
            .lines
            .iter()
            .map(|(task, text)| format!("{task} {text}").trim_end().to_string())
            .collect();
        let text = format!("{verdict} ({})", tasks.join("; "));
        println!("{}", term::wrap(&format!("  {}: ", row.title), &text, 6));
    }
}

/// Runs the analysis and writes findings.json and the report; returns the findings.
pub fn run_analyze(args: &AnalyzeArgs) -> Result<Findings> {
    if !(args.tokens_per_param.is_finite() && args.tokens_per_param > 0.0) {
        bail!(
            "--tokens-per-param must be a positive number, not {}",
            args.tokens_per_param
        );
    }
    if !(args.min_plateau.is_finite() && (0.0..1.0).contains(&args.min_plateau)) {
        bail!(
            "--min-plateau must be a share of the range in [0, 1), not {}",
            args.min_plateau
        );
    }
    if !(args.warmup_fraction.is_finite() && (0.0..1.0).contains(&args.warmup_fraction)) {
        bail!(
            "--warmup-fraction must be a share of a run's tokens in [0, 1), not {}",
            args.warmup_fraction
        );
    }
    if args.warmup.is_some_and(|w| !w.is_finite()) {
        bail!("--warmup must be a number on the x axis");
    }
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
    let study = match (&args.study_dir, &args.results) {
        (Some(d), _) => Some(d.clone()),
        (None, None) => Some(PathBuf::from("emergent-out")),
        (None, Some(_)) => None,
    };
    let placement = LmevalPlacement {
        step: args.step,
        tokens_per_step: args.tokens_per_step,
    };
    let results = args.results.as_deref().map(|p| (p, placement));
    let input = gather(study.as_deref(), results)?;
    let opts = Options {
        x: args.x.clone(),
        rules: Rules {
            boot: args.bootstrap,
            margin: args.chance_margin,
            min_stability: args.min_stability,
            min_plateau: args.min_plateau,
            warmup_fraction: args.warmup_fraction,
            ..Rules::default()
        },
        seed: args.seed,
        tokens_per_param: args.tokens_per_param,
        warmup: args.warmup,
    };
    let out = args
        .out
        .clone()
        .or(study)
        .unwrap_or_else(|| PathBuf::from("emergent-analysis"));
    let title = args
        .title
        .clone()
        .unwrap_or_else(|| "emergent: performance against loss".into());
    let written = analyze_and_report(input, &opts, &out, &title, &Bars::new())?;
    Ok(written.findings)
}
