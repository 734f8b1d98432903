//! `emergent analyze`: a study's results database and/or imported results (CSV or
//! lm-evaluation-harness JSON) → `findings.json`, `report/` (figures and tables) and
//! a summary on the terminal.

use std::path::PathBuf;

use crate::draw::Bars;
use anyhow::{bail, Result};
use clap::Args;
use emergent_analysis::{Findings, LmevalPlacement, Options, Rules, XAxis};
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
