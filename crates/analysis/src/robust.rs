//! A verdict a reviewer can trust: the single fit of [`crate::threshold`] repeated
//! under the noise model that matches how the data were made, and under the changes a
//! sceptic would try.
//!
//! - **Resamples** (`Rules::boot`): where per-document records exist, one resampled set
//!   of documents applied to every checkpoint (the same documents score them all);
//!   with three runs or more, runs resampled whole; with neither, a wild bootstrap of
//!   the residuals of the winning fit. The onset's interval (the shapes re-weighted in
//!   each resample), the break's, the plateau's level and the extrapolation error's
//!   interval come from these.
//! - **Refits** that must agree: every resample, each run left out (three runs or
//!   more), and the highest-loss `Rules::drop_fraction` of the checkpoints dropped
//!   (initialisation and warm-up). The fraction that give the same verdict is the
//!   verdict's stability; any verdict below `Rules::min_stability`, and an emergent
//!   one whose onset's interval covers more than `Rules::max_ci_fraction` of the
//!   range, is uncertain.
//! - **Extrapolation**: the smooth family (and a flat line) fitted to the checkpoints
//!   in the upper `Rules::fit_fraction` of the range, predicting the rest.

use emergent_rng::Rng;
use serde::Serialize;

use crate::shapes::{Data, Fit, Frame, Shape};
use crate::threshold::{
    at_chance, chance_verdict, fit_once, noise_var, Kind, Noise, Rules, Series, Single,
};

/// Resamples behind the extrapolation error's interval (at most).
const EXTRAPOLATION_RESAMPLES: usize = 50;

/// How intervals and tests were resampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoiseModel {
    /// Per-document records: one document resample applied to every checkpoint, and
    /// runs resampled too when there are three or more.
    Documents,
    /// Aggregates only, three runs or more: runs resampled whole; the extra
    /// between-checkpoint variance estimated from the data, the documents' shared
    /// offset added to the chance-level test.
    Runs,
    /// Aggregates only, fewer than three runs: a wild bootstrap of the residuals.
    #[default]
    Residuals,
}

impl NoiseModel {
    pub fn name(self) -> &'static str {
        match self {
            NoiseModel::Documents => "documents",
            NoiseModel::Runs => "runs",
            NoiseModel::Residuals => "residuals",
        }
    }
}

/// The fraction of refits that agreed with the verdict, by kind of refit.
#[derive(Debug, Clone, Serialize)]
pub struct Stability {
    /// Over every refit.
    pub overall: f64,
    pub resamples: Option<f64>,
    pub leave_run_out: Option<f64>,
    /// The verdict with the highest-loss checkpoints dropped.
    pub drop_high_loss: Option<Kind>,
    /// Verdicts of all refits, counted by kind.
    pub counts: Vec<(Kind, usize)>,
}

/// Fitting the upper part of the range and predicting the rest.
#[derive(Debug, Clone, Serialize)]
pub struct Extrapolation {
    /// The coordinate below which points are predicted (not fitted).
    pub cut: f64,
    pub model: Shape,
    pub n_fit: usize,
    pub n_predicted: usize,
    /// Root-mean-square prediction error over the predicted points, in the metric's
    /// units, with its 95% resampling interval.
    pub error: f64,
    pub error_ci: Option<[f64; 2]>,
    /// Root-mean-square noise (sampling plus extra variance) of the predicted points.
    pub noise: f64,
    /// The error is within twice the noise.
    pub predictable: bool,
}

/// Everything the robust verdict found, in the fitting coordinate.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub kind: Kind,
    pub reason: Option<String>,
    pub point: Single,
    /// The onset η's 95% resampling interval.
    pub ci: Option<[f64; 2]>,
    /// The break-point model's η's 95% resampling interval.
    pub break_ci: Option<[f64; 2]>,
    /// The level above η with its standard error from the resamples (plus the shared
    /// document offset for aggregates).
    pub level_above: Option<f64>,
    pub level_se: Option<f64>,
    pub stability: Option<Stability>,
    pub noise_model: NoiseModel,
    pub extrapolation: Option<Extrapolation>,
    /// The margin the level was judged by: `Rules::margin`, or a share of how far the
    /// series gets past chance when that is smaller ([`Rules::for_series`]).
    pub margin: f64,
}

pub(crate) fn noise_model(s: &Series) -> NoiseModel {
    if s.docs.is_some() {
        NoiseModel::Documents
    } else if s.distinct_runs() >= 3 {
        NoiseModel::Runs
    } else {
        NoiseModel::Residuals
    }
}

/// The run labels in order of first appearance, and each point's run index.
fn run_index(s: &Series) -> (Vec<u32>, Vec<usize>) {
    let mut labels: Vec<u32> = Vec::new();
    let idx = s
        .run
        .iter()
        .map(|r| match labels.iter().position(|l| l == r) {
            Some(p) => p,
            None => {
                labels.push(*r);
                labels.len() - 1
            }
        })
        .collect();
    (labels, idx)
}

/// One resample of the series by its noise model (`fitted`: the winning fit at each
/// point, for the residual bootstrap).
pub(crate) fn resample(s: &Series, model: NoiseModel, fitted: &[f64], rng: &mut Rng) -> Series {
    let (labels, of) = run_index(s);
    let (idx, runs): (Vec<usize>, Vec<u32>) = if labels.len() >= 3 {
        // Runs drawn with replacement; a run drawn twice counts as two runs.
        let mut pairs = Vec::new();
        for draw in 0..labels.len() {
            let r = rng.below(labels.len());
            pairs.extend(
                (0..s.x.len())
                    .filter(|&i| of[i] == r)
                    .map(|i| (i, draw as u32)),
            );
        }
        pairs.into_iter().unzip()
    } else {
        ((0..s.x.len()).collect(), s.run.clone())
    };
    let mut out = s.subset(&idx, |_| 0);
    out.run = runs;
    match model {
        NoiseModel::Documents => redraw_documents(&mut out, rng),
        // A few runs do not redraw the noise within a run: the residuals are redrawn
        // too (wild bootstrap, one sign per point). The same documents score every
        // checkpoint, so their offset from the truth is shared: one offset is drawn
        // per resample, with the points' mean sampling variance, as a resample of the
        // documents would move every point together.
        NoiseModel::Runs | NoiseModel::Residuals => {
            let shared = shared_offset_sd(s, fitted) * rng.normal();
            for (k, &i) in idx.iter().enumerate() {
                let sign = if rng.uniform() < 0.5 { -1.0 } else { 1.0 };
                out.y[k] = fitted[i] + sign * (s.y[i] - fitted[i]) + shared;
            }
        }
    }
    out
}

/// The standard deviation of the documents' offset shared by every point: the root of
/// the points' mean sampling variance (at the fitted values).
fn shared_offset_sd(s: &Series, fitted: &[f64]) -> f64 {
    let m = s.x.len().max(1) as f64;
    (s.noise
        .iter()
        .zip(fitted)
        .map(|(&n, &p)| noise_var(n, p))
        .sum::<f64>()
        / m)
        .sqrt()
}

/// One set of documents drawn with replacement, applied to every checkpoint.
fn redraw_documents(out: &mut Series, rng: &mut Rng) {
    let Some(docs) = out.docs.take() else { return };
    let j = docs.first().map_or(0, Vec::len);
    let pick: Vec<usize> = (0..j).map(|_| rng.below(j)).collect();
    for (i, row) in docs.iter().enumerate() {
        let vals: Vec<f64> = pick.iter().map(|&p| row[p]).collect();
        let mean = vals.iter().sum::<f64>() / j.max(1) as f64;
        out.y[i] = mean;
        if let Noise::StdErr(_) | Noise::Unknown = out.noise[i] {
            let var = vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (j.max(2) - 1) as f64;
            out.noise[i] = Noise::StdErr((var / j.max(1) as f64).sqrt());
        }
    }
    out.docs = Some(docs);
}

/// The 2.5% and 97.5% percentiles of bootstrap estimates; `None` when fewer than half
/// of the `draws` resamples gave one (or none did).
pub(crate) fn interval95(mut estimates: Vec<f64>, draws: usize) -> Option<[f64; 2]> {
    if estimates.is_empty() || estimates.len() < draws / 2 {
        return None;
    }
    estimates.sort_by(f64::total_cmp);
    let q = |p: f64| estimates[((estimates.len() - 1) as f64 * p).round() as usize];
    Some([q(0.025), q(0.975)])
}

fn median_of(v: &[f64]) -> Option<f64> {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied()
}

fn sd(v: &[f64]) -> Option<f64> {
    (v.len() >= 2).then(|| {
        let m = v.iter().sum::<f64>() / v.len() as f64;
        (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt()
    })
}

/// The winning fit's prediction at every point (for the residual bootstrap).
fn fitted(point: &Single, s: &Series) -> Vec<f64> {
    let best = point.fits.iter().min_by(|a, b| a.aic().total_cmp(&b.aic()));
    match best {
        Some(f) => s.x.iter().map(|&x| f.predict(x)).collect(),
        None => s.y.clone(),
    }
}

/// The refits that do not resample: each run left out, and the highest-loss fraction
/// of checkpoints dropped.
fn leave_out(s: &Series, rules: &Rules) -> (Vec<Series>, Option<Series>) {
    let (labels, of) = run_index(s);
    let loo = if labels.len() >= 3 {
        (0..labels.len())
            .map(|r| {
                let idx: Vec<usize> = (0..s.x.len()).filter(|&i| of[i] != r).collect();
                s.subset(&idx, |i| s.run[i])
            })
            .collect()
    } else {
        Vec::new()
    };
    let mut order: Vec<usize> = (0..s.x.len()).collect();
    order.sort_by(|&a, &b| s.x[a].total_cmp(&s.x[b]));
    let drop = ((s.x.len() as f64 * rules.drop_fraction).ceil() as usize).max(1);
    let keep = &order[..s.x.len().saturating_sub(drop)];
    let dropped = (!keep.is_empty()).then(|| {
        let mut k = keep.to_vec();
        k.sort_unstable();
        s.subset(&k, |i| s.run[i])
    });
    (loo, dropped)
}

fn agree(kinds: &[Kind], k: Kind) -> Option<f64> {
    (!kinds.is_empty())
        .then(|| kinds.iter().filter(|&&x| x == k).count() as f64 / kinds.len() as f64)
}

/// The verdict with its interval, stability and extrapolation test. Warm-up
/// checkpoints (`s.warmup`) are set aside: every task sits at chance there, so they say
/// nothing of where an ability appears, and a suite that publishes more of them must
/// not get another verdict.
pub fn judge(s: &Series, rules: &Rules, seed: u64) -> Verdict {
    let (trimmed, n_warmup) = after_warmup(s);
    let s = trimmed.as_ref().unwrap_or(s);
    let mut v = judge_all(s, rules, seed);
    v.point.n_warmup = n_warmup;
    v
}

/// The series without its warm-up checkpoints (when it has any), and how many there
/// were.
fn after_warmup(s: &Series) -> (Option<Series>, usize) {
    let n = s.warmup.iter().filter(|&&w| w).count();
    if n == 0 {
        return (None, 0);
    }
    let keep: Vec<usize> = (0..s.x.len()).filter(|&i| !s.warmup[i]).collect();
    let mut out = s.subset(&keep, |i| s.run[i]);
    out.warmup = Vec::new();
    (Some(out), n)
}

fn judge_all(s: &Series, rules: &Rules, seed: u64) -> Verdict {
    let rules = &rules.for_series(s);
    let point = fit_once(s, rules);
    let model = noise_model(s);
    let mut v = Verdict {
        kind: point.kind,
        reason: point.reason.clone(),
        ci: None,
        break_ci: None,
        level_above: point.level_above,
        level_se: point.level_se,
        stability: None,
        noise_model: model,
        extrapolation: None,
        margin: rules.margin,
        point,
    };
    if v.kind == Kind::Insufficient {
        return v;
    }
    let fit = fitted(&v.point, s);
    let mut rng = Rng::new(seed);
    let samples: Vec<Series> = (0..rules.boot)
        .map(|_| resample(s, model, &fit, &mut rng))
        .collect();
    let refits: Vec<Single> = samples.iter().map(|r| fit_once(r, rules)).collect();
    let breaks: Vec<f64> = refits
        .iter()
        .filter_map(|r| r.brk.as_ref().and_then(Fit::eta))
        .collect();
    v.break_ci = widened(
        interval95(breaks, rules.boot),
        v.point.brk.as_ref().and_then(Fit::eta),
    );
    let onsets: Vec<f64> = refits
        .iter()
        .filter_map(|r| r.onset.map(|o| o.eta))
        .collect();
    v.ci = widened(interval95(onsets, rules.boot), v.point.onset.map(|o| o.eta));
    v.extrapolation = extrapolate(s, &v.point.var, rules).map(|mut e| {
        // Its interval needs less precision than η's: the first resamples suffice. Each
        // resample's curve is judged on the observed points (on its own resampled
        // points its error carried their noise twice over). A curve fitted to noisier
        // data still predicts worse than the estimate's, so the resamples' spread is
        // scaled onto the estimate: [e·lo/m, e·hi/m], m their median.
        let n = EXTRAPOLATION_RESAMPLES.min(samples.len());
        let errs: Vec<f64> = samples[..n]
            .iter()
            .zip(&refits)
            .filter_map(|(r, f)| {
                extrapolate_from(r, &f.var, s, &v.point.var, rules).map(|e| e.error)
            })
            .collect();
        let median = median_of(&errs);
        e.error_ci = interval95(errs, n).map(|[lo, hi]| match median {
            Some(m) if m > 0.0 => [e.error * lo / m, e.error * hi / m],
            _ => [lo.min(e.error), hi.max(e.error)],
        });
        e
    });
    rechance(&mut v, s, &refits, rules);
    // An emergent verdict's refits are asked whether the onset still holds (a plateau
    // with its share, support and a rise after it); whether the plateau is at chance
    // was judged once, above, with the resamples' standard error. Judging that again in
    // every refit would count the level's noise twice: a level a little inside the
    // margin fails the test in a third of refits and the verdict's stability with it.
    let emergent = v.kind == Kind::Emergent;
    let kind_of = |r: &Single| {
        if emergent && r.onset_holds {
            Kind::Emergent
        } else {
            r.kind
        }
    };
    let (loo, dropped) = leave_out(s, rules);
    let loo_kinds: Vec<Kind> = loo.iter().map(|r| kind_of(&fit_once(r, rules))).collect();
    let drop_kind = dropped.map(|d| kind_of(&fit_once(&d, rules)));
    let boot_kinds: Vec<Kind> = refits.iter().map(kind_of).collect();
    let mut all: Vec<Kind> = boot_kinds.clone();
    all.extend(&loo_kinds);
    all.extend(drop_kind);
    let counts = Kind::ALL
        .iter()
        .map(|&k| (k, all.iter().filter(|&&x| x == k).count()))
        .filter(|(_, c)| *c > 0)
        .collect();
    let stability = Stability {
        overall: agree(&all, v.kind).unwrap_or(1.0),
        resamples: agree(&boot_kinds, v.kind),
        leave_run_out: agree(&loo_kinds, v.kind),
        drop_high_loss: drop_kind,
        counts,
    };
    demote(&mut v, s, &stability, rules);
    v.stability = Some(stability);
    v
}

/// A percentile interval can miss the estimate when the resamples are skewed: widened
/// to include it.
fn widened(ci: Option<[f64; 2]>, estimate: Option<f64>) -> Option<[f64; 2]> {
    ci.map(|[lo, hi]| match estimate {
        Some(e) => [lo.min(e), hi.max(e)],
        None => [lo, hi],
    })
}

/// The chance-level test again, with the level's standard error from the resamples.
fn rechance(v: &mut Verdict, s: &Series, refits: &[Single], rules: &Rules) {
    let (Some(b), Some(level)) = (s.baseline, v.point.level_above) else {
        return;
    };
    // The resamples redraw the documents (records) or their shared offset
    // (aggregates), so the level's spread over them carries it.
    let levels: Vec<f64> = refits.iter().filter_map(|r| r.level_above).collect();
    let Some(se) = sd(&levels) else { return };
    v.level_above = Some(level);
    v.level_se = Some(se);
    // Only an onset that holds is judged on its plateau's level.
    if v.point.onset_holds {
        let chance = at_chance(level, se, b, rules.margin, s.direction());
        v.point.chance = Some(chance);
        (v.kind, v.reason) = chance_verdict(chance, level, se, b, rules.margin);
    }
}

/// A verdict the refits do not carry, or an emergent one whose onset's interval is
/// too wide, becomes uncertain.
fn demote(v: &mut Verdict, s: &Series, st: &Stability, rules: &Rules) {
    let Frame { lo, hi } = Frame::of(&s.x);
    let why = if matches!(v.kind, Kind::Uncertain | Kind::Insufficient) {
        None
    } else if st.overall < rules.min_stability {
        let counts: Vec<String> = st
            .counts
            .iter()
            .map(|(k, c)| format!("{c} {}", k.name()))
            .collect();
        Some(format!(
            "{} in only {:.0}% of refits ({}; at least {:.0}% needed)",
            v.kind.name(),
            100.0 * st.overall,
            counts.join(", "),
            100.0 * rules.min_stability
        ))
    } else if v.kind != Kind::Emergent {
        None
    } else {
        match v.ci {
            None => Some("η's interval could not be estimated".into()),
            Some([a, b]) if b - a > rules.max_ci_fraction * (hi - lo) => Some(format!(
                "η's 95% interval covers {:.0}% of the observed range (at most {:.0}%)",
                100.0 * (b - a) / (hi - lo),
                100.0 * rules.max_ci_fraction
            )),
            _ => None,
        }
    };
    if why.is_some() {
        v.kind = Kind::Uncertain;
        v.reason = why;
    }
}

/// A prediction kept where the metric's values are: a metric whose every value lies in
/// [0, 1] is taken as bounded there, so a shape that runs away outside its data
/// predicts the bound, not a number past it.
pub(crate) fn bounded_like(y: &[f64]) -> impl Fn(f64) -> f64 {
    let bounded = y.iter().all(|v| (0.0..=1.0).contains(v));
    move |p| if bounded { p.clamp(0.0, 1.0) } else { p }
}

/// Fits the smooth family and a flat line to the points in the upper `fit_fraction`
/// of the range and predicts the others.
pub fn extrapolate(s: &Series, var: &[f64], rules: &Rules) -> Option<Extrapolation> {
    extrapolate_from(s, var, s, var, rules)
}

/// As [`extrapolate`], the curve fitted to `fit` (a resample) and judged on the points
/// of `s` below the cut `s` sets: a resample's error is then the same quantity as the
/// estimate's, varied by the fit alone, not by its own added noise as well.
fn extrapolate_from(
    fit: &Series,
    fit_var: &[f64],
    s: &Series,
    var: &[f64],
    rules: &Rules,
) -> Option<Extrapolation> {
    let Frame { lo, hi } = Frame::of(&s.x);
    let cut = hi - rules.fit_fraction * (hi - lo);
    let fit_idx: Vec<usize> = (0..fit.x.len()).filter(|&i| fit.x[i] >= cut).collect();
    let held: Vec<usize> = (0..s.x.len()).filter(|&i| s.x[i] < cut).collect();
    let mut distinct: Vec<f64> = fit_idx.iter().map(|&i| fit.x[i]).collect();
    distinct.sort_by(f64::total_cmp);
    distinct.dedup();
    if fit_idx.len() < 5 || distinct.len() < 3 || held.len() < 2 {
        return None;
    }
    let pick = |v: &[f64], idx: &[usize]| idx.iter().map(|&i| v[i]).collect::<Vec<f64>>();
    let (x, y) = (pick(&fit.x, &fit_idx), pick(&fit.y, &fit_idx));
    let w: Vec<f64> = fit_idx.iter().map(|&i| 1.0 / fit_var[i]).collect();
    let data = Data {
        x: &x,
        y: &y,
        w: &w,
        baseline: None,
    };
    let best = std::iter::once(Shape::Level)
        .chain(Shape::SMOOTH)
        .filter_map(|sh| data.fit(sh))
        .min_by(|a, b| a.aic().total_cmp(&b.aic()))?;
    let bound = bounded_like(&s.y);
    let predict = |x: f64| bound(best.predict(x));
    let mse = held
        .iter()
        .map(|&i| (predict(s.x[i]) - s.y[i]).powi(2))
        .sum::<f64>()
        / held.len() as f64;
    let noise = (held.iter().map(|&i| var[i]).sum::<f64>() / held.len() as f64).sqrt();
    let error = mse.sqrt();
    Some(Extrapolation {
        cut,
        model: best.shape,
        n_fit: fit_idx.len(),
        n_predicted: held.len(),
        error,
        error_ci: None,
        noise,
        predictable: error <= 2.0 * noise,
    })
}
