//! Where an ability appears: the onset η, the highest x at which performance leaves
//! the random-guess band, read from the evidence-weighted average of every rising
//! shape the data support. The paper defines an emergent ability by where it starts
//! (at chance above a loss threshold, rising below it), not by the shape of its rise:
//! a hinge, a steep sigmoid and an accelerating exponential that sit at chance above
//! the same loss describe the same ability, and the data often cannot tell them
//! apart. Averaging them by their Akaike weights (Burnham and Anderson 2002) reads η
//! off what the data say, not off whichever shape wins the AIC by a hair.

use crate::shapes::{Fit, Shape};

/// Points of the grid the averaged curve is scanned on between the range's ends.
const GRID: usize = 256;

/// The rising shapes (the break and the smooth family), each with its Akaike weight
/// among them.
#[derive(Debug, Clone)]
pub struct Average {
    pub fits: Vec<(Fit, f64)>,
}

impl Average {
    /// The trend shapes among `fits`, weighted by exp(−ΔAIC/2); `None` without one.
    pub fn of(fits: &[Fit]) -> Option<Average> {
        let trend: Vec<&Fit> = fits.iter().filter(|f| f.shape.is_trend()).collect();
        let w = akaike_weights(&trend)?;
        Some(Average {
            fits: trend.into_iter().cloned().zip(w).collect(),
        })
    }

    pub fn predict(&self, x: f64) -> f64 {
        self.fits.iter().map(|(f, w)| w * f.predict(x)).sum()
    }

    /// The shape with the most weight.
    pub fn best(&self) -> Option<Shape> {
        self.fits
            .iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(f, _)| f.shape)
    }

    pub fn weights(&self) -> Vec<(Shape, f64)> {
        self.fits.iter().map(|(f, w)| (f.shape, *w)).collect()
    }
}

/// exp(−ΔAIC/2) of each fit, normalised to sum to one; `None` when no fit has a finite
/// AIC.
pub(crate) fn akaike_weights(fits: &[&Fit]) -> Option<Vec<f64>> {
    let best = fits.iter().map(|f| f.aic()).fold(f64::INFINITY, f64::min);
    if !best.is_finite() {
        return None;
    }
    let w: Vec<f64> = fits
        .iter()
        .map(|f| (-(f.aic() - best) / 2.0).exp())
        .collect();
    let total: f64 = w.iter().sum();
    Some(w.iter().map(|v| v / total).collect())
}

/// Where the band is left, in the fitting coordinate (lower is further along).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Onset {
    /// η: the highest x at which the averaged curve is better than chance by more
    /// than the margin.
    pub eta: f64,
    /// The range judged: from the lowest x to `top`, the highest x after the warm-up.
    pub lo: f64,
    pub top: f64,
    /// The share of that range above η: the plateau's extent.
    pub share: f64,
    /// Abruptness: the share of the range from η to where the curve has made half of
    /// its rise (from its value at η's margin to its value at the lowest x); small is
    /// abrupt.
    pub half_rise_span: Option<f64>,
}

/// Whether and where a curve leaves the band `baseline ± margin` on the better side.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Leaves {
    /// Never, over the range judged.
    Never,
    /// Already at the top of the range judged: no plateau.
    AtStart,
    At(Onset),
}

/// Scans `curve` from `top` down to `lo` for where it first leaves the band on the
/// better side (`higher`: higher is better), refined by bisection.
pub fn find(
    curve: &dyn Fn(f64) -> f64,
    lo: f64,
    top: f64,
    baseline: f64,
    margin: f64,
    higher: bool,
) -> Leaves {
    let dir = if higher { 1.0 } else { -1.0 };
    let better = |x: f64| dir * (curve(x) - baseline) > margin;
    if top.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
        return Leaves::Never;
    }
    if better(top) {
        return Leaves::AtStart;
    }
    let at = |i: usize| top - (top - lo) * i as f64 / GRID as f64;
    let Some(i) = (1..=GRID).find(|&i| better(at(i))) else {
        return Leaves::Never;
    };
    // better(b) holds, better(a) does not: η between them.
    let (mut a, mut b) = (at(i - 1), at(i));
    for _ in 0..40 {
        let mid = 0.5 * (a + b);
        if better(mid) {
            b = mid;
        } else {
            a = mid;
        }
    }
    let eta = b;
    let start = curve(eta);
    let end = curve(lo);
    let target = start + 0.5 * (end - start);
    let half = (0..=GRID)
        .map(|j| eta - (eta - lo) * j as f64 / GRID as f64)
        .find(|&x| dir * (curve(x) - target) >= 0.0);
    Leaves::At(Onset {
        eta,
        lo,
        top,
        share: (top - eta) / (top - lo),
        half_rise_span: half.map(|h| (eta - h) / (top - lo)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hinge_leaves_the_band_where_it_rises_by_the_margin() {
        // 0.25 until 2.4, then 0.5 per unit: leaves 0.25 + 0.05 at 2.3.
        let hinge = |x: f64| 0.25 + 0.5 * (2.4 - x).max(0.0);
        let Leaves::At(o) = find(&hinge, 1.8, 3.3, 0.25, 0.05, true) else {
            panic!("never left")
        };
        assert!((o.eta - 2.3).abs() < 1e-9, "{o:?}");
        assert!((o.share - 1.0 / 1.5).abs() < 1e-9, "{o:?}");
        // From 0.30 at 2.3 to 0.55 at 1.8: half the rise at 2.05.
        let span = o.half_rise_span.unwrap();
        assert!((span - 0.25 / 1.5).abs() < 0.01, "{span}");
        // A falling metric (a Brier score) leaves on the lower side.
        let brier = |x: f64| 0.75 - 0.5 * (2.4 - x).max(0.0);
        assert!(matches!(
            find(&brier, 1.8, 3.3, 0.75, 0.05, false),
            Leaves::At(_)
        ));
        assert_eq!(find(&brier, 1.8, 3.3, 0.75, 0.05, true), Leaves::Never);
        // Above the band where the range starts, or never out of it.
        assert_eq!(find(&|_| 0.4, 1.8, 3.3, 0.25, 0.05, true), Leaves::AtStart);
        assert_eq!(find(&|_| 0.2, 1.8, 3.3, 0.25, 0.05, true), Leaves::Never);
    }
}
