//! Is a task emergent? Three models of performance `y` against loss `x`, fitted by
//! weighted least squares with each point's sampling noise:
//! - flat: `y = b` (the random-guess baseline, or a free level when there is none);
//! - break-point: `y = b + s·max(0, η − x)`, flat above a loss η and linear below it;
//! - smooth: `y = a₀ + a₁x + a₂x²` over the whole range.
//!
//! The verdict compares them by AIC (χ² + 2k) and checks the points above η̂ against
//! random guessing. η's 95% interval is a parametric bootstrap: each checkpoint's
//! documents are redrawn at the fitted break-point curve (binomially for accuracy-like
//! metrics, normally at the point's standard error otherwise) and η is refitted.

use emergent_engine::Rng;
use serde::Serialize;

/// How a point's value scatters around the truth.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Noise {
    /// A proportion over `n` documents (accuracy, exact match).
    Binomial { n: f64 },
    /// A mean with a known standard error.
    StdErr(f64),
    /// Unknown: estimated from the smooth fit's residuals.
    Unknown,
}

/// One task and metric over every checkpoint.
#[derive(Debug, Clone)]
pub struct Series {
    pub x: Vec<f64>,
    pub y: Vec<f64>,
    pub noise: Vec<Noise>,
    /// The random-guess level, when known (the flat part of the break-point model).
    pub baseline: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Emergent,
    Smooth,
    Flat,
    Insufficient,
}

impl Kind {
    /// The verdict as written in findings.json, tables and figures.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Emergent => "emergent",
            Kind::Smooth => "smooth",
            Kind::Flat => "flat",
            Kind::Insufficient => "insufficient",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ThresholdFit {
    pub kind: Kind,
    /// The break-point η (the loss below which performance rises), when fitted.
    pub threshold: Option<f64>,
    /// 95% bootstrap interval of η.
    pub ci: Option<[f64; 2]>,
    /// Performance change per unit of loss below η (negative when lower is better).
    pub slope: Option<f64>,
    /// The flat level of the break-point model (the baseline when known).
    pub level: Option<f64>,
    pub aic_flat: f64,
    /// A flat line at a free level (no trend, but not at the baseline either).
    pub aic_level: f64,
    pub aic_break: f64,
    pub aic_smooth: f64,
    /// p-value of the points above η̂ against the flat level (χ² test).
    pub p_above: Option<f64>,
    pub n_points: usize,
    pub n_above: usize,
    pub n_below: usize,
}

/// Grid points over the loss range before the local refinement of η.
const GRID: usize = 120;

struct Fitted {
    eta: f64,
    level: f64,
    slope: f64,
    chi2: f64,
}

/// Weighted least squares of `y` on the columns of `design` (rows of length `k ≤ 3`):
/// the coefficients and χ². Small normal equations, solved by Gaussian elimination.
fn wls(design: &[[f64; 3]], k: usize, y: &[f64], w: &[f64]) -> Option<([f64; 3], f64)> {
    let mut a = [[0.0f64; 4]; 3];
    for ((row, &yi), &wi) in design.iter().zip(y).zip(w) {
        for r in 0..k {
            for c in 0..k {
                a[r][c] += wi * row[r] * row[c];
            }
            a[r][3] += wi * row[r] * yi;
        }
    }
    for col in 0..k {
        let piv = (col..k).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        a.swap(col, piv);
        if a[col][col].abs() < 1e-300 {
            return None;
        }
        let pivot = a[col];
        for (r, row) in a.iter_mut().enumerate().take(k) {
            if r != col {
                let f = row[col] / pivot[col];
                for (v, p) in row.iter_mut().zip(&pivot).skip(col) {
                    *v -= f * p;
                }
            }
        }
    }
    let mut beta = [0.0; 3];
    for i in 0..k {
        beta[i] = a[i][3] / a[i][i];
    }
    let chi2 = design
        .iter()
        .zip(y)
        .zip(w)
        .map(|((row, &yi), &wi)| {
            let f: f64 = (0..k).map(|i| beta[i] * row[i]).sum();
            wi * (yi - f) * (yi - f)
        })
        .sum();
    Some((beta, chi2))
}

/// The break-point model at a given η: level, slope and χ².
fn break_at(eta: f64, x: &[f64], y: &[f64], w: &[f64], baseline: Option<f64>) -> Option<Fitted> {
    let design: Vec<[f64; 3]> = x
        .iter()
        .map(|&xi| [(eta - xi).max(0.0), 1.0, 0.0])
        .collect();
    let (level, slope, chi2) = match baseline {
        Some(b) => {
            let shifted: Vec<f64> = y.iter().map(|v| v - b).collect();
            wls(&design, 1, &shifted, w).map(|(c, chi2)| (b, c[0], chi2))?
        }
        None => wls(&design, 2, y, w).map(|(c, chi2)| (c[1], c[0], chi2))?,
    };
    Some(Fitted {
        eta,
        level,
        slope,
        chi2,
    })
}

/// The break-point model's best η over the observed losses: a grid, then a
/// golden-section search between the best grid point's neighbours.
fn fit_break(x: &[f64], y: &[f64], w: &[f64], baseline: Option<f64>) -> Option<Fitted> {
    let (lo, hi) = min_max(x);
    let step = (hi - lo) / GRID as f64;
    let at = |eta: f64| break_at(eta, x, y, w, baseline);
    let better = |a: &Option<Fitted>, b: &Fitted| a.as_ref().is_none_or(|f| b.chi2 < f.chi2);
    let mut best: Option<Fitted> = None;
    for g in 0..=GRID {
        if let Some(f) = at(lo + step * g as f64) {
            if better(&best, &f) {
                best = Some(f);
            }
        }
    }
    let centre = best.as_ref()?.eta;
    let (mut a, mut b) = ((centre - step).max(lo), (centre + step).min(hi));
    let r = (5f64.sqrt() - 1.0) / 2.0;
    for _ in 0..30 {
        let (c, d) = (b - r * (b - a), a + r * (b - a));
        let (fc, fd) = (at(c), at(d));
        let chi = |f: &Option<Fitted>| f.as_ref().map_or(f64::INFINITY, |f| f.chi2);
        if chi(&fc) < chi(&fd) {
            b = d;
        } else {
            a = c;
        }
    }
    if let Some(f) = at((a + b) / 2.0) {
        if better(&best, &f) {
            best = Some(f);
        }
    }
    best
}

fn min_max(x: &[f64]) -> (f64, f64) {
    x.iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        })
}

fn smooth_design(x: &[f64]) -> Vec<[f64; 3]> {
    // Centred and scaled, so the normal equations stay well conditioned.
    let (lo, hi) = min_max(x);
    let (mid, half) = ((lo + hi) / 2.0, ((hi - lo) / 2.0).max(1e-12));
    x.iter()
        .map(|&v| {
            let u = (v - mid) / half;
            [1.0, u, u * u]
        })
        .collect()
}

/// Each point's weight (1/variance). Binomial variances are taken at an unweighted
/// smooth fit of the data, so that a point observed at 0 or 1 is not given infinite
/// weight; unknown noise is the smooth fit's residual variance.
fn weights(s: &Series) -> Vec<f64> {
    let m = s.x.len();
    let design = smooth_design(&s.x);
    let ones = vec![1.0; m];
    let k = if m > 3 { 3 } else { 1 };
    let (beta, sse) = wls(&design, k, &s.y, &ones).unwrap_or(([mean(&s.y), 0.0, 0.0], 0.0));
    let resid_var = (sse / (m.saturating_sub(k).max(1)) as f64).max(1e-12);
    s.noise
        .iter()
        .zip(&design)
        .map(|(noise, row)| match *noise {
            Noise::Binomial { n } if n > 0.0 => {
                let p: f64 = (0..3).map(|i| beta[i] * row[i]).sum();
                let p = p.clamp(0.5 / n, 1.0 - 0.5 / n);
                n / (p * (1.0 - p))
            }
            Noise::StdErr(se) if se > 0.0 => 1.0 / (se * se),
            _ => 1.0 / resid_var,
        })
        .collect()
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// Upper tail of the χ² distribution with `k` degrees of freedom (Wilson–Hilferty).
fn chi2_sf(x: f64, k: usize) -> f64 {
    if k == 0 {
        return 1.0;
    }
    let k = k as f64;
    let z = ((x / k).cbrt() - (1.0 - 2.0 / (9.0 * k))) / (2.0 / (9.0 * k)).sqrt();
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// Complementary error function (Numerical Recipes' erfcc, relative error < 1.2e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// Fits the three models, gives the verdict, and bootstraps η (`boot` resamples).
pub fn classify(s: &Series, boot: usize, seed: u64) -> ThresholdFit {
    let m = s.x.len();
    let distinct = {
        let mut v = s.x.clone();
        v.sort_by(f64::total_cmp);
        v.dedup();
        v.len()
    };
    let mut out = ThresholdFit {
        kind: Kind::Insufficient,
        threshold: None,
        ci: None,
        slope: None,
        level: None,
        aic_flat: f64::NAN,
        aic_level: f64::NAN,
        aic_break: f64::NAN,
        aic_smooth: f64::NAN,
        p_above: None,
        n_points: m,
        n_above: 0,
        n_below: 0,
    };
    if m < 5 || distinct < 3 {
        return out;
    }
    let w = weights(s);
    let known = s.baseline.is_some() as usize;
    let flat_design = vec![[1.0, 0.0, 0.0]; m];
    let chi2_level = wls(&flat_design, 1, &s.y, &w).map_or(f64::NAN, |f| f.1);
    let chi2_flat = match s.baseline {
        Some(b) => s.y.iter().zip(&w).map(|(y, w)| w * (y - b) * (y - b)).sum(),
        None => chi2_level,
    };
    let Some(brk) = fit_break(&s.x, &s.y, &w, s.baseline) else {
        return out;
    };
    let chi2_smooth = wls(&smooth_design(&s.x), 3, &s.y, &w).map_or(f64::NAN, |f| f.1);
    out.aic_flat = chi2_flat + 2.0 * (1 - known) as f64;
    out.aic_level = chi2_level + 2.0;
    out.aic_break = brk.chi2 + 2.0 * (3 - known) as f64;
    out.aic_smooth = chi2_smooth + 6.0;
    out.threshold = Some(brk.eta);
    out.slope = Some(brk.slope);
    out.level = Some(brk.level);
    let above: Vec<usize> = (0..m).filter(|&i| s.x[i] > brk.eta).collect();
    out.n_above = above.len();
    out.n_below = m - above.len();
    let chi2_above: f64 = above
        .iter()
        .map(|&i| w[i] * (s.y[i] - brk.level).powi(2))
        .sum();
    let p_above = chi2_sf(chi2_above, above.len().saturating_sub(1 - known));
    out.p_above = Some(p_above);
    // No trend at all (at the baseline or at another level) beats both trends: flat.
    let no_trend = out.aic_flat.min(out.aic_level);
    out.kind = if no_trend <= out.aic_break.min(out.aic_smooth) {
        Kind::Flat
    } else if out.aic_break < out.aic_smooth {
        if out.n_above < 2 || out.n_below < 2 {
            Kind::Insufficient
        } else if p_above >= 0.05 {
            Kind::Emergent
        } else {
            Kind::Smooth
        }
    } else {
        Kind::Smooth
    };
    if out.kind == Kind::Emergent && boot > 0 {
        out.ci = bootstrap_eta(s, &w, &brk, boot, seed);
    }
    out
}

/// Percentile interval of η over parametric bootstrap resamples at the fitted curve.
fn bootstrap_eta(s: &Series, w: &[f64], brk: &Fitted, boot: usize, seed: u64) -> Option<[f64; 2]> {
    let mut rng = Rng::new(seed);
    let fitted: Vec<f64> =
        s.x.iter()
            .map(|&x| brk.level + brk.slope * (brk.eta - x).max(0.0))
            .collect();
    let mut etas = Vec::with_capacity(boot);
    let mut y = vec![0.0; s.x.len()];
    for _ in 0..boot {
        for (i, yi) in y.iter_mut().enumerate() {
            *yi = match s.noise[i] {
                Noise::Binomial { n } if n > 0.0 => {
                    binomial(&mut rng, n, fitted[i].clamp(0.0, 1.0))
                }
                _ => fitted[i] + rng.normal() / w[i].sqrt(),
            };
        }
        if let Some(f) = fit_break(&s.x, &y, w, s.baseline) {
            etas.push(f.eta);
        }
    }
    interval95(etas, boot)
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

/// A proportion of `n` Bernoulli(p) draws (normal approximation above 1,000 draws).
fn binomial(rng: &mut Rng, n: f64, p: f64) -> f64 {
    if n > 1000.0 {
        let sd = (p * (1.0 - p) / n).sqrt();
        return (p + sd * rng.normal()).clamp(0.0, 1.0);
    }
    let k = (0..n as usize).filter(|_| rng.uniform() < p).count();
    k as f64 / n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chi2_tail_matches_known_quantiles() {
        // scipy.stats.chi2.sf(x, k) at the 5% critical values.
        for (x, k) in [
            (3.841, 1),
            (5.991, 2),
            (11.070, 5),
            (18.307, 10),
            (43.773, 30),
        ] {
            let p = chi2_sf(x, k);
            assert!((p - 0.05).abs() < 0.006, "k={k}: {p}");
        }
    }

    #[test]
    fn wls_recovers_a_quadratic() {
        let x: Vec<f64> = (0..20).map(|i| i as f64 / 10.0).collect();
        let y: Vec<f64> = x.iter().map(|&v| 1.0 - 2.0 * v + 0.5 * v * v).collect();
        let d: Vec<[f64; 3]> = x.iter().map(|&v| [1.0, v, v * v]).collect();
        let (b, chi2) = wls(&d, 3, &y, &[1.0; 20]).unwrap();
        assert!(
            (b[0] - 1.0).abs() < 1e-9 && (b[1] + 2.0).abs() < 1e-9 && (b[2] - 0.5).abs() < 1e-9
        );
        assert!(chi2 < 1e-18);
    }
}
