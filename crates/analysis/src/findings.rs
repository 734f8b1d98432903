//! From observations to the paper's findings: per task and metric the threshold
//! verdict, how much loss alone explains and what size adds, the spread between sizes
//! at a fixed loss; the scaling law; each threshold as a model size and compute; and
//! when each unfinished run should cross each threshold.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use serde::Serialize;

use crate::axis::XAxis;
use crate::checkpoints::checkpoint_view;
use crate::claims::{check, Claims};
use crate::correlation::{pearson, spearman};
use crate::finding::{CurveRole, FittedCurve, TaskFinding};
use crate::forecast::ladder_forecast;
use crate::input::Obs;
use crate::isotonic::r2_loss_and_size;
use crate::robust::{bounded_like, judge};
use crate::scaling::{fit_loss_curve, fit_scaling_law, LossCurve, ScalingFit, ScalingPoint};
use crate::series::{run_ids, series, SeriesKey};
use crate::shapes::{Frame, Shape};
use crate::threshold::{gain, Kind, Noise, Rules, Series};
use emergent_metrics::{is_proportion, lower_is_better};

/// Version of `findings.json`'s layout (docs/findings.md).
pub const SCHEMA_VERSION: u32 = 4;

#[derive(Debug, Clone)]
pub struct Options {
    pub x: XAxis,
    /// The verdict's rules; `rules.boot` resamples also give the scaling law's
    /// intervals.
    pub rules: Rules,
    pub seed: u64,
    /// Tokens per parameter at which a threshold becomes a model size (Chinchilla: 20).
    pub tokens_per_param: f64,
    /// The warm-up's end on the x axis, in its units: checkpoints before it (higher
    /// loss) are set aside. `None`: by the share of their run's tokens
    /// (`Rules::warmup_fraction`).
    pub warmup: Option<f64>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            x: XAxis::Loss,
            rules: Rules::default(),
            seed: 0,
            tokens_per_param: 20.0,
            warmup: None,
        }
    }
}

/// A point of a run's loss curve (every checkpoint, evaluated or not).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CurvePoint {
    pub run: String,
    pub size: String,
    pub params: f64,
    pub tokens: f64,
    pub flops: f64,
    pub loss: f64,
    /// The run's planned token budget, when known (a run short of it is in progress).
    pub token_budget: Option<f64>,
}

/// Points at which a fitted curve is sampled: enough that a break's corner is sharp.
const CURVE_POINTS: usize = 64;

/// The curves a figure draws: the evidence-weighted average the onset is read from,
/// the break and the best smooth shape, each kept within the metric's bounds.
fn curves(p: &crate::threshold::Single, ax: &XAxis, y: &[f64]) -> Vec<FittedCurve> {
    let bound = bounded_like(y);
    let mut out = Vec::new();
    let mut draw =
        |model: &str, role: CurveRole, frame: Frame, eta: Option<f64>, f: &dyn Fn(f64) -> f64| {
            let Frame { lo, hi } = frame;
            let mut us: Vec<f64> = (0..CURVE_POINTS)
                .map(|i| lo + (hi - lo) * i as f64 / (CURVE_POINTS - 1) as f64)
                .collect();
            if let Some(eta) = eta.filter(|e| *e > lo && *e < hi) {
                us.push(eta);
                us.sort_by(f64::total_cmp);
            }
            out.push(FittedCurve {
                model: model.to_string(),
                role,
                points: us
                    .into_iter()
                    .map(|u| [ax.from_coord(u), bound(f(u))])
                    .filter(|p| p[0].is_finite() && p[1].is_finite())
                    .collect(),
            });
        };
    if let Some(avg) = &p.average {
        let frame = avg.fits[0].0.frame;
        draw(
            "average",
            CurveRole::Average,
            frame,
            p.onset.map(|o| o.eta),
            &|u| avg.predict(u),
        );
    }
    for (fit, role) in [(&p.brk, CurveRole::Break), (&p.smooth, CurveRole::Smooth)] {
        if let Some(fit) = fit {
            draw(fit.shape.name(), role, fit.frame, fit.eta(), &|u| {
                fit.predict(u)
            });
        }
    }
    out
}

/// Performance spread between sizes in one bin of x.
#[derive(Debug, Clone, Serialize)]
pub struct SpreadBin {
    pub task: String,
    pub shots: u32,
    pub metric: String,
    pub x_low: f64,
    pub x_high: f64,
    pub sizes: usize,
    pub spread: f64,
}

/// When an unfinished run should cross an emergent task's threshold.
#[derive(Debug, Clone, Serialize)]
pub struct Prediction {
    pub run: String,
    pub task: String,
    pub shots: u32,
    pub metric: String,
    pub threshold: f64,
    pub tokens_so_far: f64,
    pub loss_now: f64,
    /// Tokens at which the fitted curve reaches η; `None` if its asymptote is above η.
    pub tokens_at_threshold: Option<f64>,
    pub token_budget: Option<f64>,
    pub curve: LossCurve,
}

#[derive(Debug, Clone, Serialize)]
pub struct Findings {
    pub schema_version: u32,
    pub x_axis: String,
    pub x_label: String,
    /// The validation loss's unit (`nats/token`, `bits/byte`) when it is the axis.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loss_unit: Option<&'static str>,
    pub n_observations: usize,
    /// The rules every verdict was judged by (margin, stability, …).
    pub rules: Rules,
    pub tasks: Vec<TaskFinding>,
    /// The paper's claims, judged on `tasks` (on the loss axis only).
    pub claims: Option<Claims>,
    pub spread: Vec<SpreadBin>,
    pub scaling: Option<ScalingFit>,
    /// Which checkpoints the scaling law was fitted to.
    pub scaling_points: String,
    pub tokens_per_param: f64,
    pub predictions: Vec<Prediction>,
    /// Input rows that were not used, each with its file and line.
    pub rejected: Vec<String>,
    /// Why the data are too small to support the paper's claims (empty when they are
    /// not): [`crate::claims::limits`].
    pub limits: Vec<String>,
}

/// How a point's value scatters: binomially over its documents for accuracy-like
/// metrics (the count recovered from the standard error when only that is known),
/// else at its standard error.
fn noise_of(o: &Obs) -> Noise {
    let proportion = is_proportion(&o.metric);
    let n = o.n.or_else(|| {
        let (p, se) = (o.value, o.stderr?);
        (proportion && p > 0.0 && p < 1.0 && se > 0.0).then(|| p * (1.0 - p) / (se * se) + 1.0)
    });
    match (proportion, n, o.stderr) {
        (true, Some(n), _) if n > 0.0 => Noise::Binomial { n },
        (_, _, Some(se)) if se > 0.0 && se.is_finite() => Noise::StdErr(se),
        _ => Noise::Unknown,
    }
}

/// The resampling seed of one series: the analysis seed mixed with the series' name
/// (FNV-1a), so that a series' verdict does not depend on which other series the
/// results hold.
fn series_seed(seed: u64, (task, shots, metric): &SeriesKey) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in task
        .bytes()
        .chain([0])
        .chain(shots.to_le_bytes())
        .chain(metric.bytes())
    {
        h = (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
    }
    seed ^ h
}

/// Per-size means in equal-width bins of the coordinate.
fn spread_bins(key: &SeriesKey, pts: &[(&Obs, f64)], u: &[f64]) -> (Vec<SpreadBin>, Option<f64>) {
    const BINS: usize = 8;
    let Frame { lo, hi } = Frame::of(u);
    if hi <= lo {
        return (Vec::new(), None);
    }
    let width = (hi - lo) / BINS as f64;
    // bin → size → (sum, count, sum of variances)
    let mut cells: BTreeMap<usize, BTreeMap<&str, (f64, f64, f64)>> = BTreeMap::new();
    for ((o, _), &ui) in pts.iter().zip(u) {
        let b = (((ui - lo) / width) as usize).min(BINS - 1);
        let c = cells
            .entry(b)
            .or_default()
            .entry(o.size.as_str())
            .or_default();
        c.0 += o.value;
        c.1 += 1.0;
        c.2 += o.stderr.filter(|s| s.is_finite()).map_or(0.0, |s| s * s);
    }
    let mut bins = Vec::new();
    let mut noise = Vec::new();
    for (b, sizes) in cells.into_iter().filter(|(_, s)| s.len() >= 2) {
        let means: Vec<f64> = sizes.values().map(|c| c.0 / c.1).collect();
        let max = means.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let min = means.iter().cloned().fold(f64::INFINITY, f64::min);
        noise.extend(sizes.values().map(|c| (c.2 / (c.1 * c.1)).sqrt()));
        bins.push(SpreadBin {
            task: key.0.clone(),
            shots: key.1,
            metric: key.2.clone(),
            x_low: lo + width * b as f64,
            x_high: lo + width * (b + 1) as f64,
            sizes: sizes.len(),
            spread: max - min,
        });
    }
    let mean_noise = (!noise.is_empty()).then(|| noise.iter().sum::<f64>() / noise.len() as f64);
    (bins, mean_noise)
}

/// The series a verdict is fitted to: each point's run, and the per-document scores
/// when every point has them for the same documents.
fn series_of(pts: &[(&Obs, f64)], ax: &XAxis) -> Series {
    let run = run_ids(pts);
    let first = pts[0].0.docs.as_ref();
    let aligned = first.is_some_and(|f| {
        f.ids.len() >= 2
            && pts
                .iter()
                .all(|(o, _)| o.docs.as_ref().is_some_and(|d| d.ids == f.ids))
    });
    let docs = aligned.then(|| {
        pts.iter()
            .map(|(o, _)| o.docs.as_ref().map_or_else(Vec::new, |d| d.values.clone()))
            .collect()
    });
    Series {
        x: pts.iter().map(|(_, x)| ax.to_coord(*x)).collect(),
        y: pts.iter().map(|(o, _)| o.value).collect(),
        noise: pts.iter().map(|(o, _)| noise_of(o)).collect(),
        run,
        docs,
        baseline: pts[0].0.baseline,
        lower_better: lower_is_better(&pts[0].0.metric),
        warmup: Vec::new(),
    }
}

/// R² of `y` on each domain's loss, for the domains every point has.
fn domain_r2(pts: &[(&Obs, f64)], y: &[f64]) -> BTreeMap<String, f64> {
    let domains = pts[0].0.domain_loss.keys();
    domains
        .filter_map(|d| {
            let x: Option<Vec<f64>> = pts
                .iter()
                .map(|(o, _)| o.domain_loss.get(d).copied())
                .collect();
            let r2 = r2_loss_and_size(&x?, y, &[])?.0;
            Some((d.clone(), r2))
        })
        .collect()
}

/// A coordinate interval back in the axis's units, lower end first.
fn raw_interval(ax: &XAxis, ci: Option<[f64; 2]>) -> Option<[f64; 2]> {
    ci.map(|[a, b]| {
        let (p, q) = (ax.from_coord(a), ax.from_coord(b));
        [p.min(q), p.max(q)]
    })
}

fn finding(
    key: &SeriesKey,
    pts: &[(&Obs, f64)],
    opts: &Options,
    seed: u64,
) -> (TaskFinding, Vec<SpreadBin>) {
    let ax = &opts.x;
    let mut series = series_of(pts, ax);
    series.warmup = warmup_mask(pts, opts);
    let (u, y) = (&series.x, &series.y);
    let v = judge(&series, &opts.rules, seed);
    let covariates = vec![
        pts.iter().map(|(o, _)| o.params.ln()).collect(),
        pts.iter().map(|(o, _)| o.tokens.max(1.0).ln()).collect(),
    ];
    let r2 = r2_loss_and_size(u, y, &covariates);
    let raw: Vec<f64> = pts.iter().map(|(_, x)| *x).collect();
    let compute: Vec<f64> = pts.iter().map(|(o, _)| o.flops.max(1.0).ln()).collect();
    let (mut bins, noise) = spread_bins(key, pts, u);
    for b in &mut bins {
        let (p, q) = (ax.from_coord(b.x_low), ax.from_coord(b.x_high));
        (b.x_low, b.x_high) = (p.min(q), p.max(q));
    }
    let size_spread =
        (!bins.is_empty()).then(|| bins.iter().map(|b| b.spread).sum::<f64>() / bins.len() as f64);
    let xs = pts.iter().map(|(_, x)| *x);
    let x_range = xs
        .clone()
        .reduce(f64::min)
        .zip(xs.reduce(f64::max))
        .map(|(a, b)| [a, b]);
    let p = &v.point;
    let emergent = v.kind == Kind::Emergent;
    let break_eta = p.brk.as_ref().and_then(|b| b.eta());
    let onset = p.onset.map(|o| ax.from_coord(o.eta));
    let ci = raw_interval(ax, v.ci);
    let extrapolation = v.extrapolation.clone().map(|mut e| {
        e.cut = ax.from_coord(e.cut);
        e
    });
    let f = TaskFinding {
        task: key.0.clone(),
        shots: key.1,
        metric: key.2.clone(),
        kind: v.kind,
        reason: v.reason.clone(),
        threshold: onset.filter(|_| emergent),
        ci: ci.filter(|_| emergent),
        onset,
        onset_ci: ci,
        plateau_share: p.onset.map(|o| o.share),
        half_rise_span: p.onset.and_then(|o| o.half_rise_span),
        n_warmup: p.n_warmup,
        shape: p.average.as_ref().and_then(|a| a.best()),
        weights: p.average.as_ref().map_or_else(BTreeMap::new, |a| {
            a.weights()
                .into_iter()
                .map(|(sh, w)| (sh.name().to_string(), w))
                .collect()
        }),
        break_eta: break_eta.map(|t| ax.from_coord(t)),
        break_ci: raw_interval(ax, v.break_ci),
        baseline: series.baseline,
        x_range,
        gain: gain(u, y),
        r2_loss: r2.map(|r| r.0),
        r2_loss_size: r2.map(|r| r.1),
        pearson: pearson(&raw, y),
        spearman: spearman(&raw, y),
        r2_compute: r2_loss_and_size(&compute, y, &[]).map(|r| r.0),
        n_points: pts.len(),
        n_runs: series.distinct_runs(),
        n_above: p.n_above,
        n_below: p.n_below,
        runs_above: p.runs_above,
        runs_below: p.runs_below,
        slope: p.brk.as_ref().map(|b| b.slope()),
        level: v.level_above,
        level_se: v.level_se,
        chance: p.chance,
        margin: v.margin,
        extra_sd: (!p.fits.is_empty()).then(|| p.tau2.sqrt()),
        noise_model: v.noise_model,
        aic: p
            .fits
            .iter()
            .map(|f| (f.shape.name().to_string(), f.aic()))
            .collect(),
        best_smooth: p.smooth.as_ref().map(|f| f.shape),
        stability: v.stability.clone(),
        extrapolation,
        forecast: ladder_forecast(pts, &series, v.kind, &opts.rules, seed.rotate_left(17)),
        checkpoint_view: checkpoint_view(pts),
        domain_r2: domain_r2(pts, y),
        size_spread,
        size_spread_noise: noise.filter(|n| *n > 0.0),
        threshold_params: None,
        threshold_params_ci: None,
        threshold_flops: None,
        threshold_flops_ci: None,
        curves: curves(p, ax, y),
    };
    (f, bins)
}

/// Which of a series' checkpoints are warm-up: before `warmup` on the axis when it is
/// given (in its units), else trained on less than `rules.warmup_fraction` of their
/// run's tokens (its planned budget when known, else its last checkpoint's). Suites
/// publish different numbers of early checkpoints (Pythia eleven before step 1,000,
/// spanning about 60% of its log-perplexity range), every task sits at chance in them,
/// and pre-training warms its learning rate up over about 1% of its steps (Pythia 1%,
/// LLaMA 2,000 of 250,000).
fn warmup_mask(pts: &[(&Obs, f64)], opts: &Options) -> Vec<bool> {
    if let Some(w) = opts.warmup {
        let end = opts.x.to_coord(w);
        return pts.iter().map(|(_, x)| opts.x.to_coord(*x) > end).collect();
    }
    let mut last: BTreeMap<&str, f64> = BTreeMap::new();
    for (o, _) in pts {
        let e = last.entry(o.run.as_str()).or_insert(0.0);
        *e = e.max(o.tokens).max(o.budget.unwrap_or(0.0));
    }
    pts.iter()
        .map(|(o, _)| o.tokens < opts.rules.warmup_fraction * last[o.run.as_str()])
        .collect()
}

/// One curve point per checkpoint of the observations (for data without a separate
/// list of checkpoints).
pub fn curve_from_obs(obs: &[Obs]) -> Vec<CurvePoint> {
    let mut seen = BTreeMap::new();
    for o in obs.iter().filter(|o| o.loss.is_finite()) {
        seen.entry(o.checkpoint_key())
            .or_insert_with(|| CurvePoint {
                run: o.run.clone(),
                size: o.size.clone(),
                params: o.params,
                tokens: o.tokens,
                flops: o.flops,
                loss: o.loss,
                token_budget: o.budget,
            });
    }
    seen.into_values().collect()
}

/// Runs below which the last checkpoints alone leave the law's five parameters
/// poorly determined.
const MIN_RUNS_FOR_FINAL: usize = 12;

/// The scaling law's points: each run's last checkpoint when there are enough runs
/// (a checkpoint before the end of a cosine schedule lies above the law); else every
/// checkpoint past the first fifth of its run (warm-up losses are far off the law).
fn scaling_points(curve: &[CurvePoint]) -> (Vec<ScalingPoint>, String) {
    let mut last: BTreeMap<&str, &CurvePoint> = BTreeMap::new();
    for c in curve.iter().filter(|c| c.tokens > 0.0) {
        let e = last.entry(c.run.as_str()).or_insert(c);
        if c.tokens > e.tokens {
            *e = c;
        }
    }
    let to = |c: &CurvePoint| ScalingPoint {
        params: c.params,
        tokens: c.tokens,
        loss: c.loss,
    };
    if last.len() >= MIN_RUNS_FOR_FINAL {
        return (
            last.values().map(|c| to(c)).collect(),
            "the last checkpoint of each run".into(),
        );
    }
    let pts = curve
        .iter()
        .filter(|c| {
            c.tokens > 0.0
                && last
                    .get(c.run.as_str())
                    .is_some_and(|l| c.tokens >= 0.2 * l.tokens)
        })
        .map(to)
        .collect();
    (
        pts,
        format!("every checkpoint past 20% of its run (fewer than {MIN_RUNS_FOR_FINAL} runs)"),
    )
}

fn predictions(curve: &[CurvePoint], tasks: &[TaskFinding]) -> Vec<Prediction> {
    let mut runs: BTreeMap<&str, Vec<&CurvePoint>> = BTreeMap::new();
    for c in curve {
        runs.entry(c.run.as_str()).or_default().push(c);
    }
    let mut out = Vec::new();
    for (run, mut pts) in runs {
        pts.sort_by(|a, b| a.tokens.total_cmp(&b.tokens));
        let now = pts[pts.len() - 1];
        // Only a run short of a known budget has a future to predict.
        if !now.token_budget.is_some_and(|b| now.tokens < b) {
            continue;
        }
        let emergent: Vec<&TaskFinding> = tasks
            .iter()
            .filter(|t| t.kind == Kind::Emergent && t.threshold.is_some_and(|eta| now.loss > eta))
            .collect();
        if emergent.is_empty() {
            continue;
        }
        let xy: Vec<(f64, f64)> = pts.iter().map(|c| (c.tokens, c.loss)).collect();
        let Some(curve) = fit_loss_curve(&xy) else {
            continue;
        };
        for t in emergent {
            let eta = t.threshold.unwrap_or(f64::NAN);
            let at = curve.tokens_at(eta);
            // The run is above η now: a fitted crossing before now is a poor fit.
            if at.is_some_and(|d| d <= now.tokens) {
                continue;
            }
            out.push(Prediction {
                run: run.to_string(),
                task: t.task.clone(),
                shots: t.shots,
                metric: t.metric.clone(),
                threshold: eta,
                tokens_so_far: now.tokens,
                loss_now: now.loss,
                tokens_at_threshold: at,
                token_budget: now.token_budget,
                curve,
            });
        }
    }
    out
}

fn size_at_threshold(t: &mut TaskFinding, law: &ScalingFit, r: f64) {
    let Some(eta) = t.threshold else { return };
    let n = law.params_at(eta, r);
    let flops = |n: f64| 6.0 * n * r * n;
    t.threshold_params = n;
    t.threshold_flops = n.map(flops);
    if let Some([lo, hi]) = t.ci {
        // A higher loss threshold is reached by a smaller model.
        if let (Some(small), Some(large)) = (law.params_at(hi, r), law.params_at(lo, r)) {
            t.threshold_params_ci = Some([small, large]);
            t.threshold_flops_ci = Some([flops(small), flops(large)]);
        }
    }
}

/// Every finding. `curve` is every checkpoint's loss (from the study's database, or
/// [`curve_from_obs`]); `rejected` carries the input rows that were not read.
pub fn analyze(
    obs: &[Obs],
    curve: &[CurvePoint],
    rejected: Vec<String>,
    opts: &Options,
) -> Findings {
    analyze_with_progress(obs, curve, rejected, opts, &|| {})
}

/// [`analyze`], calling `done` as each of the [`series`] is judged.
pub fn analyze_with_progress(
    obs: &[Obs],
    curve: &[CurvePoint],
    rejected: Vec<String>,
    opts: &Options,
    done: &(dyn Fn() + Sync),
) -> Findings {
    use rayon::prelude::*;
    let by_key = series(obs, &opts.x);
    let groups: Vec<(&SeriesKey, &Vec<(&Obs, f64)>)> = by_key.iter().collect();
    let done: Vec<(TaskFinding, Vec<SpreadBin>)> = groups
        .par_iter()
        .map(|(key, pts)| {
            let f = finding(key, pts, opts, series_seed(opts.seed, key));
            done();
            f
        })
        .collect();
    let mut tasks = Vec::new();
    let mut spread = Vec::new();
    for (f, mut bins) in done {
        tasks.push(f);
        spread.append(&mut bins);
    }
    let on_loss = opts.x.is_loss();
    let (scaling, scaling_points) = if on_loss {
        let (points, which) = scaling_points(curve);
        match fit_scaling_law(&points, opts.rules.boot, opts.seed) {
            Ok(law) => (Some(law), which),
            Err(why) => (None, format!("{why} ({which})")),
        }
    } else {
        (None, "not fitted: the x axis is not loss".into())
    };
    if let Some(law) = &scaling {
        for t in &mut tasks {
            size_at_threshold(t, law, opts.tokens_per_param);
        }
    }
    let predictions = if on_loss {
        predictions(curve, &tasks)
    } else {
        Vec::new()
    };
    Findings {
        schema_version: SCHEMA_VERSION,
        x_axis: opts.x.to_string(),
        x_label: opts.x.label(),
        loss_unit: opts.x.is_loss().then(|| opts.x.loss_unit()),
        n_observations: groups.iter().map(|(_, p)| p.len()).sum(),
        rules: opts.rules,
        claims: on_loss.then(|| check(&tasks, obs, &by_key, &opts.rules, opts.seed)),
        tasks,
        spread,
        scaling,
        scaling_points,
        tokens_per_param: opts.tokens_per_param,
        predictions,
        rejected,
        limits: crate::claims::limits(obs, &opts.x, opts.rules.margin),
    }
}

fn opt(v: Option<f64>) -> String {
    v.map_or(String::new(), num)
}

fn pair(v: Option<[f64; 2]>, i: usize) -> String {
    opt(v.map(|p| p[i]))
}

/// A CSV field, quoted when it needs to be.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// A CSV table built row by row, each value beside its column's name.
#[derive(Default)]
struct Table {
    header: Vec<&'static str>,
    body: String,
}

impl Table {
    fn row(&mut self, cells: Vec<(&'static str, String)>) {
        if self.header.is_empty() {
            self.header = cells.iter().map(|(h, _)| *h).collect();
        }
        let line: Vec<String> = cells.into_iter().map(|(_, v)| v).collect();
        let _ = writeln!(self.body, "{}", line.join(","));
    }

    fn text(&self) -> String {
        let header = if self.header.is_empty() {
            threshold_row(&TaskFinding::default())
                .iter()
                .map(|(h, _)| *h)
                .collect::<Vec<_>>()
                .join(",")
        } else {
            self.header.join(",")
        };
        format!("{header}\n{}", self.body)
    }
}

/// A number for a table: shortest round-trip digits, in exponent form when very large
/// or very small (never a 300-digit field).
fn num(v: f64) -> String {
    if !v.is_finite() {
        String::new()
    } else if v != 0.0 && !(1e-5..1e15).contains(&v.abs()) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

/// One line of thresholds.csv.
fn threshold_row(t: &TaskFinding) -> Vec<(&'static str, String)> {
    let stab = t.stability.as_ref();
    let ex = t.extrapolation.as_ref();
    let fc = t.forecast.as_ref();
    vec![
        ("task", csv_field(&t.task)),
        ("shots", t.shots.to_string()),
        ("metric", csv_field(&t.metric)),
        ("kind", t.kind.name().into()),
        ("reason", csv_field(t.reason.as_deref().unwrap_or(""))),
        ("threshold", opt(t.threshold)),
        ("ci_low", pair(t.ci, 0)),
        ("ci_high", pair(t.ci, 1)),
        ("onset", opt(t.onset)),
        ("onset_ci_low", pair(t.onset_ci, 0)),
        ("onset_ci_high", pair(t.onset_ci, 1)),
        ("plateau_share", opt(t.plateau_share)),
        ("half_rise_span", opt(t.half_rise_span)),
        ("n_warmup", t.n_warmup.to_string()),
        ("shape", t.shape.map_or(String::new(), |s| s.name().into())),
        ("break_eta", opt(t.break_eta)),
        ("break_ci_low", pair(t.break_ci, 0)),
        ("break_ci_high", pair(t.break_ci, 1)),
        ("baseline", opt(t.baseline)),
        ("level", opt(t.level)),
        ("level_se", opt(t.level_se)),
        ("margin", opt(Some(t.margin))),
        ("stability", opt(stab.map(|s| s.overall))),
        ("noise_model", t.noise_model.name().into()),
        (
            "best_smooth",
            t.best_smooth.map_or(String::new(), |s| s.name().into()),
        ),
        ("aic_break", opt(t.aic_of(Shape::Break))),
        ("aic_smooth", opt(t.best_smooth.and_then(|s| t.aic_of(s)))),
        ("extrapolation_error", opt(ex.map(|e| e.error))),
        (
            "extrapolation_error_low",
            pair(ex.and_then(|e| e.error_ci), 0),
        ),
        (
            "extrapolation_error_high",
            pair(ex.and_then(|e| e.error_ci), 1),
        ),
        ("extrapolation_noise", opt(ex.map(|e| e.noise))),
        (
            "forecast_model",
            fc.map_or(String::new(), |f| f.model.name().into()),
        ),
        (
            "forecast_held_out",
            csv_field(&fc.map_or(String::new(), |f| f.held_out.join(" "))),
        ),
        ("forecast_mae", opt(fc.map(|f| f.mae))),
        ("forecast_coverage", opt(fc.map(|f| f.coverage))),
        ("forecast_sigmoid_mae", opt(fc.and_then(|f| f.sigmoid_mae))),
        (
            "checkpoint_view_mae",
            opt(t.checkpoint_view.as_ref().and_then(|c| c.mae)),
        ),
        ("r2_loss", opt(t.r2_loss)),
        (
            "best_domain",
            csv_field(t.best_domain().map_or("", |d| d.0)),
        ),
        ("best_domain_r2", opt(t.best_domain().map(|d| d.1))),
        ("r2_loss_size", opt(t.r2_loss_size)),
        ("pearson", opt(t.pearson)),
        ("spearman", opt(t.spearman)),
        ("r2_compute", opt(t.r2_compute)),
        ("n_points", t.n_points.to_string()),
        ("n_runs", t.n_runs.to_string()),
        ("slope", opt(t.slope)),
        ("size_spread", opt(t.size_spread)),
        ("size_spread_noise", opt(t.size_spread_noise)),
        ("threshold_params", opt(t.threshold_params)),
        ("threshold_params_low", pair(t.threshold_params_ci, 0)),
        ("threshold_params_high", pair(t.threshold_params_ci, 1)),
        ("threshold_flops", opt(t.threshold_flops)),
        ("threshold_flops_low", pair(t.threshold_flops_ci, 0)),
        ("threshold_flops_high", pair(t.threshold_flops_ci, 1)),
    ]
}

/// Every observation in the CSV form `emergent analyze --results` reads back: the same
/// observations, per-document records (`samples`) and per-domain losses included.
fn points_csv(obs: &[Obs], loss_unit: Option<&str>) -> String {
    let domains: BTreeSet<&String> = obs.iter().flat_map(|o| o.domain_loss.keys()).collect();
    let mut pts = String::from(
        "run,size,params,non_embedding_params,step,tokens,flops,budget,loss,loss_unit,task,shots,language,metric,value,stderr,n,baseline,samples",
    );
    for d in &domains {
        let _ = write!(pts, ",{}", csv_field(&format!("loss:{d}")));
    }
    pts.push('\n');
    for o in obs {
        let samples = o.docs.as_ref().and_then(|d| d.source.as_ref());
        let _ = write!(
            pts,
            "{},{},{},{},{},{},{:e},{},{},{},{},{},{},{},{},{},{},{},{}",
            csv_field(&o.run),
            csv_field(&o.size),
            o.params,
            opt(o.non_embedding_params),
            o.step.map_or(String::new(), |s| s.to_string()),
            o.tokens,
            o.flops,
            opt(o.budget),
            num(o.loss),
            loss_unit.unwrap_or_default(),
            csv_field(&o.task),
            o.shots,
            o.language.as_deref().map_or(String::new(), csv_field),
            csv_field(&o.metric),
            o.value,
            opt(o.stderr),
            opt(o.n),
            opt(o.baseline),
            samples.map_or(String::new(), |p| csv_field(&p.to_string_lossy())),
        );
        for d in &domains {
            let _ = write!(
                pts,
                ",{}",
                o.domain_loss.get(*d).map_or(String::new(), |&v| num(v))
            );
        }
        pts.push('\n');
    }
    pts
}

impl Findings {
    /// How many series got each verdict: `6 emergent, 21 smooth, …`.
    pub fn verdict_counts(&self) -> String {
        let counts: Vec<String> = Kind::ALL
            .iter()
            .map(|&k| {
                let n = self.tasks.iter().filter(|t| t.kind == k).count();
                format!("{n} {}", k.name())
            })
            .collect();
        counts.join(", ")
    }

    /// The tables, as (file name, CSV text).
    pub fn tables(&self, obs: &[Obs]) -> Vec<(&'static str, String)> {
        let mut th = Table::default();
        for t in &self.tasks {
            th.row(threshold_row(t));
        }
        let pts = points_csv(obs, self.loss_unit);
        let mut sc = String::from("parameter,value,ci_low,ci_high\n");
        if let Some(s) = &self.scaling {
            for (name, v, ci) in s.parameters() {
                let _ = writeln!(sc, "{name},{v},{},{}", pair(ci, 0), pair(ci, 1));
            }
        }
        let mut pr = String::from("run,task,shots,metric,threshold,tokens_so_far,loss_now,tokens_at_threshold,token_budget,curve_e,curve_b,curve_beta\n");
        for p in &self.predictions {
            let _ = writeln!(
                pr,
                "{},{},{},{},{},{},{},{},{},{},{},{}",
                csv_field(&p.run),
                csv_field(&p.task),
                p.shots,
                csv_field(&p.metric),
                p.threshold,
                p.tokens_so_far,
                p.loss_now,
                opt(p.tokens_at_threshold),
                opt(p.token_budget),
                p.curve.e,
                p.curve.b,
                p.curve.beta,
            );
        }
        let mut sp = String::from("task,shots,metric,x_low,x_high,sizes,spread\n");
        for b in &self.spread {
            let _ = writeln!(
                sp,
                "{},{},{},{},{},{},{}",
                csv_field(&b.task),
                b.shots,
                csv_field(&b.metric),
                b.x_low,
                b.x_high,
                b.sizes,
                b.spread
            );
        }
        vec![
            ("thresholds.csv", th.text()),
            ("points.csv", pts),
            ("scaling_law.csv", sc),
            ("predictions.csv", pr),
            ("size_spread.csv", sp),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::{gain, num};

    #[test]
    fn table_numbers_stay_short() {
        assert_eq!(num(1e300), "1e300");
        assert_eq!(num(2.5e-7), "2.5e-7");
        assert_eq!(num(0.25), "0.25");
        assert_eq!(num(f64::NAN), "");
    }

    #[test]
    fn gain_is_the_furthest_fifth_over_the_earliest_with_its_standard_error() {
        // Coordinates fall as training goes on: the last five points are furthest along.
        let u: Vec<f64> = (0..25).map(|i| 25.0 - i as f64).collect();
        let mut y = vec![0.25; 25];
        y[20..].copy_from_slice(&[0.5, 0.6, 0.5, 0.6, 0.55]);
        y[..5].copy_from_slice(&[0.2, 0.3, 0.2, 0.3, 0.25]);
        let [g, se] = gain(&u, &y).unwrap();
        assert!((g - 0.3).abs() < 1e-12, "{g}");
        // Each fifth: sample variance 0.0025, so se = sqrt(2 * 0.0025 / 5).
        assert!((se - (2.0f64 * 0.0025 / 5.0).sqrt()).abs() < 1e-12, "{se}");
        assert!(gain(&u[..3], &y[..3]).is_none());
    }
}
