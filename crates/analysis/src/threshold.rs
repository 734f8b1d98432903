//! Is a task emergent? One fit of performance `y` against the fitting coordinate `x`
//! (lower is further along, like loss): flat lines, the break-point model and a family
//! of smooth shapes ([`crate::shapes`]), compared by AIC with each point weighted by
//! its sampling variance plus the extra between-checkpoint variance estimated from the
//! data. The verdict reads the onset η off the rising shapes' evidence-weighted average
//! ([`crate::onset`]): emergent when the series sits at chance over a plateau (a stated
//! share of the range after the warm-up, with checkpoints from several runs on it) and
//! then rises; smooth when it is above the band where its range starts or leaves it
//! within the first part of it; flat when it never leaves it. Whether the plateau is at
//! chance is a one-sided test: no better than the baseline plus the margin.
//! `robust.rs`, above this module, repeats this fit under resampling to give intervals and
//! stability.

use serde::Serialize;

use crate::isotonic::isotonic;
use crate::onset::{find, Average, Leaves, Onset};
use crate::shapes::{Data, Fit, Frame, Shape};

/// How a point's value scatters around the truth.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Noise {
    /// A proportion over `n` documents (accuracy, exact match).
    Binomial { n: f64 },
    /// A mean with a known standard error.
    StdErr(f64),
    /// Unknown: all of its variance is estimated from the data.
    Unknown,
}

/// One task and metric over every checkpoint.
#[derive(Debug, Clone, Default)]
pub struct Series {
    pub x: Vec<f64>,
    pub y: Vec<f64>,
    pub noise: Vec<Noise>,
    /// The run each point belongs to (any labels; equal labels, same run).
    pub run: Vec<u32>,
    /// Per-document scores of each point, the same documents in the same order at
    /// every point (`docs[i][j]`: point i, document j), when the records exist.
    pub docs: Option<Vec<Vec<f64>>>,
    /// The random-guess level, when known (the flat part of the break-point model).
    pub baseline: Option<f64>,
    /// Lower values are better (a Brier score): the side on which the band is left.
    pub lower_better: bool,
    /// Which points are warm-up checkpoints (empty: none): every task sits at chance
    /// there, so they are no part of a plateau and are set aside by the verdict.
    pub warmup: Vec<bool>,
}

impl Series {
    /// The points at `idx` (repeats allowed), their runs relabelled by `run_of`.
    pub fn subset(&self, idx: &[usize], run_of: impl Fn(usize) -> u32) -> Series {
        Series {
            x: idx.iter().map(|&i| self.x[i]).collect(),
            y: idx.iter().map(|&i| self.y[i]).collect(),
            noise: idx.iter().map(|&i| self.noise[i]).collect(),
            run: idx.iter().map(|&i| run_of(i)).collect(),
            docs: self
                .docs
                .as_ref()
                .map(|d| idx.iter().map(|&i| d[i].clone()).collect()),
            baseline: self.baseline,
            lower_better: self.lower_better,
            warmup: if self.warmup.is_empty() {
                Vec::new()
            } else {
                idx.iter().map(|&i| self.warmup[i]).collect()
            },
        }
    }

    /// +1 where higher is better, −1 where lower is.
    pub fn direction(&self) -> f64 {
        if self.lower_better {
            -1.0
        } else {
            1.0
        }
    }

    pub fn distinct_runs(&self) -> usize {
        runs_among(&self.run, 0..self.run.len())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Emergent,
    Smooth,
    Flat,
    /// The data cannot place the series (the reason says why).
    Uncertain,
    #[default]
    Insufficient,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Emergent,
        Kind::Smooth,
        Kind::Flat,
        Kind::Uncertain,
        Kind::Insufficient,
    ];

    /// The verdict as written in findings.json, tables and figures.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Emergent => "emergent",
            Kind::Smooth => "smooth",
            Kind::Flat => "flat",
            Kind::Uncertain => "uncertain",
            Kind::Insufficient => "insufficient",
        }
    }
}

/// The documented rules of the verdict (docs/findings.md), all overridable.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rules {
    /// How far past the random baseline, on the better side, the plateau above η may
    /// lie and still be at chance, in the metric's units.
    pub margin: f64,
    /// The fraction of refits that must agree with any verdict.
    pub min_stability: f64,
    /// The share of the range after the warm-up that an emergent series' plateau must
    /// cover: an onset within the first part of it is a rise from the start.
    pub min_plateau: f64,
    /// A checkpoint trained on less than this share of its run's tokens is in the
    /// warm-up.
    pub warmup_fraction: f64,
    /// An emergent η's 95% interval may cover at most this fraction of the observed
    /// range of x.
    pub max_ci_fraction: f64,
    /// The highest-loss fraction of checkpoints dropped in the warm-up refit.
    pub drop_fraction: f64,
    /// The extrapolation test fits the upper (highest-loss) fraction of the range.
    pub fit_fraction: f64,
    /// Resamples for intervals and stability.
    pub boot: usize,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            margin: 0.05,
            min_stability: 0.8,
            min_plateau: 0.2,
            warmup_fraction: 0.01,
            max_ci_fraction: 0.5,
            drop_fraction: 0.1,
            fit_fraction: 0.6,
            boot: 200,
        }
    }
}

/// The share of a series' best value past chance within which its level counts as at
/// chance: the margin is `Rules::margin` or this share, whichever is smaller, so a
/// metric whose whole range is a few hundredths is not "at chance" everywhere.
pub const MARGIN_FRACTION: f64 = 0.25;

impl Rules {
    /// These rules with the margin scaled to how far the series gets past chance: the
    /// best value of its monotone fit in x on the better side, less the baseline (or,
    /// without a baseline, that fit's range). The furthest checkpoints set it, so
    /// trimming the warm-up or the high-loss end of the range leaves it where it was
    /// (scaled to the whole rise, it shrank with the range and flipped verdicts). A
    /// proportion keeps the absolute margin: its binomial noise (0.022 at 400 documents
    /// at chance) puts a margin much below 0.04 out of reach of the test, so a smaller
    /// one would only relabel a drift of the size of that noise.
    pub fn for_series(&self, s: &Series) -> Rules {
        if s.noise.iter().all(|n| matches!(n, Noise::Binomial { .. })) {
            return *self;
        }
        // Lower x is further along: a higher-is-better metric falls as x grows.
        let fit = isotonic(&s.x, &s.y, s.lower_better);
        let Frame { lo, hi } = Frame::of(&fit);
        let reach = match s.baseline {
            Some(b) if s.lower_better => b - lo,
            Some(b) => hi - b,
            None => hi - lo,
        };
        let reach = if reach > 0.0 { reach } else { f64::INFINITY };
        Rules {
            margin: self.margin.min(MARGIN_FRACTION * reach),
            ..*self
        }
    }
}

/// Mean performance of the furthest fifth of the points along `u` (the lowest
/// coordinates) minus that of the earliest fifth, and the standard error of that
/// difference from the two fifths' spreads: whether the series moved at all.
pub fn gain(u: &[f64], y: &[f64]) -> Option<[f64; 2]> {
    let k = (u.len() / 5).max(2);
    if u.len() < 2 * k {
        return None;
    }
    let mut order: Vec<usize> = (0..u.len()).collect();
    order.sort_by(|&a, &b| u[a].total_cmp(&u[b]));
    let stats = |idx: &[usize]| {
        let n = idx.len() as f64;
        let mean = idx.iter().map(|&i| y[i]).sum::<f64>() / n;
        let var = idx.iter().map(|&i| (y[i] - mean).powi(2)).sum::<f64>() / (n - 1.0);
        (mean, var / n)
    };
    let (late, late_var) = stats(&order[..k]);
    let (early, early_var) = stats(&order[order.len() - k..]);
    Some([late - early, (late_var + early_var).sqrt()])
}

/// One-sided 95% normal quantile: each side of the equivalence is tested at 5% (TOST).
pub const Z_TOST: f64 = 1.644_853_6;

/// The plateau's level against the baseline plus the margin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Chance {
    /// No better than chance: its one-sided 95% bound lies within the margin on the
    /// better side (a level below chance is no better than chance).
    Within,
    /// Better than chance by more than the margin, at 95%.
    Outside,
    /// Neither: the data cannot tell.
    Undecided,
}

/// Whether `level` (± `se`) is no better than `baseline` + `margin` on the better
/// side (`dir`: +1 where higher is better, −1 where lower is).
pub fn at_chance(level: f64, se: f64, baseline: f64, margin: f64, dir: f64) -> Chance {
    let d = dir * (level - baseline);
    if d + Z_TOST * se <= margin {
        Chance::Within
    } else if d - Z_TOST * se > margin {
        Chance::Outside
    } else {
        Chance::Undecided
    }
}

/// One fit and its verdict.
#[derive(Debug, Clone)]
pub struct Single {
    pub kind: Kind,
    pub reason: Option<String>,
    /// Every shape fitted, for the AIC table.
    pub fits: Vec<Fit>,
    pub brk: Option<Fit>,
    /// The best smooth shape by AIC.
    pub smooth: Option<Fit>,
    /// The rising shapes weighted by their evidence: what the onset is read from.
    pub average: Option<Average>,
    /// Where the averaged curve leaves the band (when it does, below the range's top).
    pub onset: Option<Onset>,
    /// Extra between-checkpoint variance (beyond sampling), estimated from the data.
    pub tau2: f64,
    /// Each point's variance: sampling plus `tau2`.
    pub var: Vec<f64>,
    /// Checkpoints and runs on the plateau (above η, after the warm-up) and below η;
    /// checkpoints in the warm-up.
    pub n_above: usize,
    pub n_below: usize,
    pub runs_above: usize,
    pub runs_below: usize,
    pub n_warmup: usize,
    /// Weighted mean of the plateau's points, and its standard error with the
    /// documents' shared offset (aggregates) included.
    pub level_above: Option<f64>,
    pub level_se: Option<f64>,
    /// The documents' shared offset in the level's variance (zero with records).
    pub shared_var: f64,
    pub chance: Option<Chance>,
    /// The series leaves the band below a plateau that has its share of the range, its
    /// support and a rise after it: the verdict is emergent unless the plateau is
    /// better than chance.
    pub onset_holds: bool,
}

impl Single {
    fn empty(m: usize, reason: &str) -> Single {
        Single {
            kind: Kind::Insufficient,
            reason: Some(reason.into()),
            fits: Vec::new(),
            brk: None,
            smooth: None,
            average: None,
            onset: None,
            tau2: 0.0,
            var: vec![f64::NAN; m],
            n_above: 0,
            n_below: 0,
            runs_above: 0,
            runs_below: 0,
            n_warmup: 0,
            level_above: None,
            level_se: None,
            shared_var: 0.0,
            chance: None,
            onset_holds: false,
        }
    }

    pub fn aic(&self, shape: Shape) -> Option<f64> {
        self.fits.iter().find(|f| f.shape == shape).map(Fit::aic)
    }
}

/// How many distinct runs the points `idx` come from.
fn runs_among(run: &[u32], idx: impl Iterator<Item = usize>) -> usize {
    let mut r: Vec<u32> = idx.map(|i| run[i]).collect();
    r.sort_unstable();
    r.dedup();
    r.len()
}

/// The sampling variance of a point observed with `noise` whose true value is about
/// `p`: binomial for a proportion (with `p` kept half a document inside [0, 1], so a
/// point at 0 or 1 is not given infinite weight), else its standard error squared.
pub(crate) fn noise_var(noise: Noise, p: f64) -> f64 {
    match noise {
        Noise::Binomial { n } if n > 0.0 => {
            let p = p.clamp(0.5 / n, 1.0 - 0.5 / n);
            p * (1.0 - p) / n
        }
        Noise::StdErr(se) if se > 0.0 && se.is_finite() => se * se,
        _ => 0.0,
    }
}

/// Each point's sampling variance. A proportion's is taken at an unweighted quadratic
/// fit of the data, so a point observed at 0 or 1 is not given infinite weight.
fn sampling_var(s: &Series) -> Vec<f64> {
    let ones = vec![1.0; s.x.len()];
    let d = Data {
        x: &s.x,
        y: &s.y,
        w: &ones,
        baseline: None,
    };
    let smooth = d.fit(Shape::Quadratic);
    s.noise
        .iter()
        .enumerate()
        .map(|(i, &noise)| {
            let p = smooth.as_ref().map_or(s.y[i], |f| f.predict(s.x[i]));
            noise_var(noise, p)
        })
        .collect()
}

/// The variance beyond sampling noise, from pseudo-residuals of the points ordered by
/// x (Gasser, Sroka & Jennen-Steinmetz 1986: each point against the line through its
/// neighbours), so a trend of any shape does not inflate it and no model is assumed.
pub fn extra_variance(x: &[f64], y: &[f64], sampling: &[f64]) -> f64 {
    let mut order: Vec<usize> = (0..x.len()).collect();
    order.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut sum = 0.0;
    let mut count = 0usize;
    for win in order.windows(3) {
        let (i, j, k) = (win[0], win[1], win[2]);
        let span = x[k] - x[i];
        let (a, b) = if span > 0.0 {
            ((x[k] - x[j]) / span, (x[j] - x[i]) / span)
        } else {
            (0.5, 0.5)
        };
        let e = a * y[i] + b * y[k] - y[j];
        let c = a * a + b * b + 1.0;
        sum += (e * e - (a * a * sampling[i] + b * b * sampling[k] + sampling[j])) / c;
        count += 1;
    }
    if count == 0 {
        return 0.0;
    }
    (sum / count as f64).max(0.0)
}

/// Each point's sampling variance, the extra variance between checkpoints, and each
/// point's total (the weights are their inverses), floored so a noiseless point does
/// not get infinite weight.
pub(crate) fn variances(s: &Series) -> (Vec<f64>, f64, Vec<f64>) {
    let sampling = sampling_var(s);
    let tau2 = extra_variance(&s.x, &s.y, &sampling);
    let Frame { lo, hi } = Frame::of(&s.y);
    let floor = 1e-12 * (1.0 + (hi - lo) * (hi - lo));
    let var = sampling.iter().map(|v| (v + tau2).max(floor)).collect();
    (sampling, tau2, var)
}

/// Fits every shape and gives the verdict of this one data set.
pub fn fit_once(s: &Series, rules: &Rules) -> Single {
    let m = s.x.len();
    let mut xs = s.x.clone();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    if m < 5 || xs.len() < 3 {
        return Single::empty(m, "fewer than five checkpoints or three distinct x");
    }
    let (sampling, tau2, var) = variances(s);
    let w: Vec<f64> = var.iter().map(|v| 1.0 / v).collect();
    let data = Data {
        x: &s.x,
        y: &s.y,
        w: &w,
        baseline: s.baseline,
    };
    let mut shapes = vec![Shape::Level, Shape::Break];
    if s.baseline.is_some() {
        shapes.insert(0, Shape::Flat);
    }
    shapes.extend(Shape::SMOOTH);
    let mut fits: Vec<Fit> = shapes.iter().filter_map(|&sh| data.fit(sh)).collect();
    quasi_aic(&mut fits, m);
    let best_of = |pred: &dyn Fn(Shape) -> bool| {
        fits.iter()
            .filter(|f| pred(f.shape))
            .min_by(|a, b| a.aic().total_cmp(&b.aic()))
            .cloned()
    };
    let no_trend = best_of(&|sh| !sh.is_trend()).map_or(f64::INFINITY, |f| f.aic());
    let trend = best_of(&|sh| sh.is_trend()).map_or(f64::INFINITY, |f| f.aic());
    let mut out = Single {
        tau2,
        var,
        brk: best_of(&|sh| sh == Shape::Break),
        smooth: best_of(&|sh| Shape::SMOOTH.contains(&sh)),
        average: Average::of(&fits),
        ..Single::empty(m, "")
    };
    out.fits = fits;
    let (kind, reason) = if no_trend <= trend {
        (Kind::Flat, None)
    } else if s.baseline.is_none() {
        (
            Kind::Smooth,
            Some("no random-guess level to sit at: a trend is smooth".into()),
        )
    } else {
        onset_verdict(&mut out, s, &sampling, rules)
    };
    out.kind = kind;
    out.reason = reason;
    out
}

/// Overdispersion: where even the best-fitting shape leaves more scatter than the
/// variances allow (answers that persist between checkpoints, offsets between runs),
/// every χ² is divided by that excess, φ = min χ²/(m − k) when above 1 (quasi-AIC), so
/// extra parameters are not rewarded for fitting correlated noise.
pub(crate) fn quasi_aic(fits: &mut [Fit], m: usize) {
    let phi = fits
        .iter()
        .filter(|f| f.k < m)
        .map(|f| f.chi2 / (m - f.k) as f64)
        .fold(f64::INFINITY, f64::min);
    if phi.is_finite() && phi > 1.0 {
        for f in fits {
            f.chi2 /= phi;
        }
    }
}

/// The verdict from where the averaged curve leaves the band: its plateau's share of
/// the range, its support on both sides, the rise after it, then whether the plateau
/// is at chance.
fn onset_verdict(
    out: &mut Single,
    s: &Series,
    sampling: &[f64],
    rules: &Rules,
) -> (Kind, Option<String>) {
    let (Some(b), Some(avg)) = (s.baseline, out.average.as_ref()) else {
        return (Kind::Smooth, None);
    };
    let Frame { lo, hi: top } = Frame::of(&s.x);
    // Where the curve ends is all the rise test needs of it below.
    let end = avg.predict(lo);
    let band = format!("the band {b} ± {:.4}", rules.margin);
    let leaves = find(
        &|x| avg.predict(x),
        lo,
        top,
        b,
        rules.margin,
        !s.lower_better,
    );
    // A curve that sits on the band's edge leaves it at the start in one resample and
    // never in the next: one that ends within a margin of the edge and gains less than
    // a margin over the range has shown no ability, whichever side of the edge it is.
    let change = s.direction() * (end - avg.predict(top));
    let at_edge = s.direction() * (end - b) <= 2.0 * rules.margin;
    let onset = match leaves {
        Leaves::Never => return (Kind::Flat, Some(format!("never leaves {band}"))),
        _ if at_edge && change <= rules.margin => {
            return (
                Kind::Flat,
                Some(format!(
                    "ends within a margin of {band} and gains only {change:.4} over its range"
                )),
            );
        }
        Leaves::AtStart => {
            return (
                Kind::Smooth,
                Some(format!("above {band} where its range starts")),
            );
        }
        Leaves::At(o) => o,
    };
    out.onset = Some(onset);
    let eta = onset.eta;
    let above: Vec<usize> = (0..s.x.len())
        .filter(|&i| s.x[i] > eta && s.x[i] <= top)
        .collect();
    let below: Vec<usize> = (0..s.x.len()).filter(|&i| s.x[i] <= eta).collect();
    let runs = |idx: &[usize]| runs_among(&s.run, idx.iter().copied());
    (out.n_above, out.n_below) = (above.len(), below.len());
    (out.runs_above, out.runs_below) = (runs(&above), runs(&below));
    // The level is judged on the plateau's far half: next to η the curve sits at the
    // band's edge by construction (η is where it reaches it), so points there would
    // pull any plateau that rises within the band towards the margin.
    let mid = eta + 0.5 * (top - eta);
    let far: Vec<usize> = above.iter().copied().filter(|&i| s.x[i] >= mid).collect();
    plateau_level(out, s, if far.len() >= 2 { &far } else { &above }, sampling);
    if onset.share < rules.min_plateau {
        return (
            Kind::Smooth,
            Some(format!(
                "rises from the start: it leaves {band} {:.0}% into its range (a plateau needs {:.0}%)",
                100.0 * onset.share,
                100.0 * rules.min_plateau
            )),
        );
    }
    if let Some(why) = support(out, s) {
        return (Kind::Uncertain, Some(why));
    }
    let (Some(level), Some(se)) = (out.level_above, out.level_se) else {
        return (Kind::Uncertain, Some("no level on the plateau".into()));
    };
    let rise = s.direction() * (end - level);
    // The rise is a difference on the same documents: their shared offset, part of the
    // level's error against a fixed baseline, cancels in it.
    let rise_se = (se * se - out.shared_var).max(0.0).sqrt();
    let need = rules.margin.max(2.0 * rise_se);
    if rise <= need {
        return (
            Kind::Uncertain,
            Some(format!(
                "below η it rises only {rise:.4} from its plateau (more than {need:.4} needed: the margin and twice the plateau's standard error within its documents)"
            )),
        );
    }
    out.onset_holds = true;
    let chance = at_chance(level, se, b, rules.margin, s.direction());
    out.chance = Some(chance);
    chance_verdict(chance, level, se, b, rules.margin)
}

/// The plateau's weighted mean and its standard error. The same documents score every
/// checkpoint: their offset from the truth is shared, so averaging checkpoints does
/// not shrink it (aggregates only; with records the document resampling measures it).
fn plateau_level(out: &mut Single, s: &Series, above: &[usize], sampling: &[f64]) {
    if above.is_empty() {
        return;
    }
    let w = |i: usize| 1.0 / out.var[i];
    let sw: f64 = above.iter().map(|&i| w(i)).sum();
    let level = above.iter().map(|&i| w(i) * s.y[i]).sum::<f64>() / sw;
    let shared = if s.docs.is_some() {
        0.0
    } else {
        above.iter().map(|&i| sampling[i]).sum::<f64>() / above.len() as f64
    };
    out.level_above = Some(level);
    out.level_se = Some((1.0 / sw + shared).sqrt());
    out.shared_var = shared;
}

/// Why the plateau or the rise lacks support: two checkpoints and two runs on each
/// side of η (so η is inside the observed range, and a series of one run is never
/// emergent).
fn support(out: &Single, s: &Series) -> Option<String> {
    if out.n_above < 2 || out.n_below < 2 {
        return Some(format!(
            "the plateau has {} checkpoints and the rise {} (two each needed)",
            out.n_above, out.n_below
        ));
    }
    if s.distinct_runs() < 2 || out.runs_above < 2 || out.runs_below < 2 {
        return Some(format!(
            "checkpoints from {} runs on the plateau and {} below η (two each needed)",
            out.runs_above, out.runs_below
        ));
    }
    None
}

/// The verdict of a plateau by where its level lies.
pub fn chance_verdict(
    chance: Chance,
    level: f64,
    se: f64,
    baseline: f64,
    margin: f64,
) -> (Kind, Option<String>) {
    let why = |what: &str| {
        Some(format!(
            "the plateau above η is at {level:.4} ± {se:.4} (baseline {baseline}): {what} the margin {margin:.4}"
        ))
    };
    match chance {
        Chance::Within => (Kind::Emergent, None),
        Chance::Outside => (Kind::Smooth, why("better than chance, past")),
        Chance::Undecided => (Kind::Uncertain, why("cannot tell whether within")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_variance_ignores_a_trend_and_finds_extra_scatter() {
        let x: Vec<f64> = (0..400).map(|i| 2.0 + i as f64 / 200.0).collect();
        let mut rng = emergent_rng::Rng::new(3);
        // A steep curved trend with noise of sd 0.02, of which sampling explains 0.01.
        let y: Vec<f64> = x
            .iter()
            .map(|&v| (3.0 - v).powi(3) + 0.02 * rng.normal())
            .collect();
        let tau2 = extra_variance(&x, &y, &vec![1e-4; x.len()]);
        assert!((tau2 - 3e-4).abs() < 1e-4, "{tau2}");
        assert_eq!(extra_variance(&x[..2], &y[..2], &[0.0; 2]), 0.0);
    }

    #[test]
    fn equivalence_needs_the_whole_interval_inside_the_margin() {
        assert_eq!(at_chance(0.254, 0.01, 0.25, 0.05, 1.0), Chance::Within);
        assert_eq!(at_chance(0.40, 0.01, 0.25, 0.05, 1.0), Chance::Outside);
        assert_eq!(at_chance(0.28, 0.03, 0.25, 0.05, 1.0), Chance::Undecided);
        // Below chance is no better than chance, however far below.
        assert_eq!(at_chance(0.229, 0.02, 0.25, 0.05, 1.0), Chance::Within);
        assert_eq!(at_chance(0.10, 0.01, 0.25, 0.05, 1.0), Chance::Within);
        // A Brier score is better when lower.
        assert_eq!(at_chance(0.80, 0.01, 0.75, 0.05, -1.0), Chance::Within);
        assert_eq!(at_chance(0.60, 0.01, 0.75, 0.05, -1.0), Chance::Outside);
    }
}
