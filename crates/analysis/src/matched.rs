//! Differences at a matched loss: how far a group of checkpoints (the larger models, or
//! one language's version of a task) lies from the others at the same pre-training
//! loss, with its standard error from resampling whole runs. The paper's first claim
//! is that models of different sizes at the same loss perform the same; its test is an
//! equivalence: the difference lies within a stated margin, not merely "not shown".

use emergent_rng::Rng;
use serde::Serialize;

use crate::isotonic::isotonic;
use crate::threshold::Z_TOST;

/// A difference at matched loss with its resampling standard error.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Effect {
    /// The difference in performance, in the metric's units, between the ends of the
    /// covariate's range at the same x.
    pub effect: f64,
    pub se: f64,
}

impl Effect {
    /// Equivalence within ±`margin` (two one-sided tests at 5%).
    pub fn within(&self, margin: f64) -> bool {
        self.effect.abs() + Z_TOST * self.se <= margin
    }
}

/// The difference at matched `x` that the covariate `cov` makes: one monotone curve of
/// `y` in `x` through every point (falling as x grows when `higher` is better, since
/// lower x is further along) plus a linear term in `cov`, whose slope times the
/// covariate's range is the difference. Its standard error comes from `boot` resamples of whole
/// runs (`run`), the curve refitted in each. `None` with fewer than two distinct
/// covariate values or three runs.
pub fn matched_effect(
    x: &[f64],
    y: &[f64],
    cov: &[f64],
    run: &[u32],
    higher: bool,
    boot: usize,
    seed: u64,
) -> Option<Effect> {
    let effect = slope_effect(x, y, cov, higher)?;
    let mut runs: Vec<u32> = run.to_vec();
    runs.sort_unstable();
    runs.dedup();
    if runs.len() < 3 {
        return None;
    }
    let mut rng = Rng::new(seed);
    let mut draws = Vec::with_capacity(boot);
    for _ in 0..boot {
        let mut idx = Vec::new();
        for _ in 0..runs.len() {
            let r = runs[rng.below(runs.len())];
            idx.extend((0..x.len()).filter(|&i| run[i] == r));
        }
        let pick = |v: &[f64]| idx.iter().map(|&i| v[i]).collect::<Vec<f64>>();
        if let Some(e) = slope_effect(&pick(x), &pick(y), &pick(cov), higher) {
            draws.push(e);
        }
    }
    if draws.len() < 2 {
        return None;
    }
    let mean = draws.iter().sum::<f64>() / draws.len() as f64;
    let var = draws.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (draws.len() - 1) as f64;
    Some(Effect {
        effect,
        se: var.sqrt(),
    })
}

/// Backfitting rounds of the monotone curve and the covariate's slope.
const ROUNDS: usize = 20;

/// The covariate's slope in y ≈ iso(x) + β·cov, times its range: the monotone curve and
/// the slope fitted in turn (backfitting), so that a group that reaches further along
/// x (larger models reach lower losses) does not have its difference absorbed by the
/// curve.
fn slope_effect(x: &[f64], y: &[f64], cov: &[f64], higher: bool) -> Option<f64> {
    let (lo, hi) = cov
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &c| {
            (a.min(c), b.max(c))
        });
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
        return None;
    }
    let n = cov.len() as f64;
    let cm = cov.iter().sum::<f64>() / n;
    let sxx: f64 = cov.iter().map(|c| (c - cm).powi(2)).sum();
    let mut beta = 0.0;
    for _ in 0..ROUNDS {
        let partial: Vec<f64> = y.iter().zip(cov).map(|(v, c)| v - beta * c).collect();
        let fit = isotonic(x, &partial, !higher);
        let sxy: f64 = cov
            .iter()
            .zip(y.iter().zip(&fit))
            .map(|(c, (v, f))| (c - cm) * (v - f))
            .sum();
        beta = sxy / sxx;
    }
    Some(beta * (hi - lo))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Five sizes × three runs; performance a function of x, plus `per_size` for each
    /// step up in size and noise of sd 0.01.
    fn ladder(per_size: f64, seed: u64) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<u32>) {
        let mut rng = Rng::new(seed);
        let (mut x, mut y, mut c, mut r) = (vec![], vec![], vec![], vec![]);
        for s in 0..5 {
            for b in 0..3 {
                for k in 0..10 {
                    let l = 3.5 - (1.2 + 0.1 * s as f64 + 0.1 * b as f64) * k as f64 / 9.0;
                    x.push(l);
                    y.push(0.9 - 0.2 * l + per_size * s as f64 + 0.01 * rng.normal());
                    c.push(s as f64);
                    r.push((3 * s + b) as u32);
                }
            }
        }
        (x, y, c, r)
    }

    #[test]
    fn a_size_effect_is_measured_and_no_effect_is_equivalent_to_none() {
        let (x, y, c, r) = ladder(0.0, 1);
        let e = matched_effect(&x, &y, &c, &r, true, 100, 1).unwrap();
        assert!(e.effect.abs() < 0.01 && e.within(0.05), "{e:?}");
        // 0.02 per size step: 0.08 between the smallest and the largest.
        let (x, y, c, r) = ladder(0.02, 2);
        let e = matched_effect(&x, &y, &c, &r, true, 100, 2).unwrap();
        assert!((e.effect - 0.08).abs() < 0.02 && !e.within(0.05), "{e:?}");
        assert!(matched_effect(&x, &y, &vec![1.0; x.len()], &r, true, 10, 3).is_none());
    }
}
