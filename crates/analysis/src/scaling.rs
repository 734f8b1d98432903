//! The scaling law L(N, D) = E + A/N^α + B/D^β, fitted as Hoffmann et al. (2022) and
//! Besiroglu et al. (2024) do: with A = eᵃ, B = eᵇ, E = eᵉ the model's log is
//! LSE(a − α ln N, b − β ln D, e), and the Huber loss (δ = 10⁻³) of its difference
//! from ln L, summed over points, is minimised by L-BFGS from every start of a grid.
//! Parameter intervals come from refitting resamples of the points (a nonparametric
//! bootstrap over checkpoints). A single run's loss curve L(D) = E + B/D^β is the same
//! fit without the N term.

use argmin::core::{CostFunction, Error, Executor, Gradient, State};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use emergent_rng::Rng;
use serde::Serialize;

use crate::robust::interval95;

pub const HUBER_DELTA: f64 = 1e-3;

/// One observed (parameters, tokens, loss).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ScalingPoint {
    pub params: f64,
    pub tokens: f64,
    pub loss: f64,
}

/// The fitted law with 95% bootstrap intervals (`[low, high]`) per parameter.
#[derive(Debug, Clone, Serialize)]
pub struct ScalingFit {
    pub e: f64,
    pub a: f64,
    pub b: f64,
    pub alpha: f64,
    pub beta: f64,
    pub e_ci: Option<[f64; 2]>,
    pub a_ci: Option<[f64; 2]>,
    pub b_ci: Option<[f64; 2]>,
    pub alpha_ci: Option<[f64; 2]>,
    pub beta_ci: Option<[f64; 2]>,
    /// The minimised objective (sum of Huber losses).
    pub objective: f64,
    pub n_points: usize,
    pub bootstrap: usize,
}

/// A run's loss against tokens, L(D) = E + B/D^β.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct LossCurve {
    pub e: f64,
    pub b: f64,
    pub beta: f64,
}

impl LossCurve {
    pub fn loss(&self, tokens: f64) -> f64 {
        self.e + self.b / tokens.powf(self.beta)
    }

    /// Tokens at which the curve reaches `loss`; `None` when its asymptote is above.
    pub fn tokens_at(&self, loss: f64) -> Option<f64> {
        (loss > self.e).then(|| (self.b / (loss - self.e)).powf(1.0 / self.beta))
    }
}

impl ScalingFit {
    /// (name, value, 95% interval) of E, A, B, alpha, beta, in that order.
    pub fn parameters(&self) -> [(&'static str, f64, Option<[f64; 2]>); 5] {
        [
            ("E", self.e, self.e_ci),
            ("A", self.a, self.a_ci),
            ("B", self.b, self.b_ci),
            ("alpha", self.alpha, self.alpha_ci),
            ("beta", self.beta, self.beta_ci),
        ]
    }

    pub fn loss(&self, params: f64, tokens: f64) -> f64 {
        self.e + self.a / params.powf(self.alpha) + self.b / tokens.powf(self.beta)
    }

    /// The model size whose loss at `tokens_per_param` tokens per parameter is `loss`
    /// (L falls monotonically in N there); `None` when `loss` is below E.
    pub fn params_at(&self, loss: f64, tokens_per_param: f64) -> Option<f64> {
        if loss <= self.e {
            return None;
        }
        let at = |ln_n: f64| self.loss(ln_n.exp(), tokens_per_param * ln_n.exp());
        let (mut lo, mut hi) = (0.0f64, 60.0f64);
        if at(hi) > loss {
            return None;
        }
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if at(mid) > loss {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Some((0.5 * (lo + hi)).exp())
    }
}

/// Huber loss and its derivative.
fn huber(r: f64) -> (f64, f64) {
    if r.abs() <= HUBER_DELTA {
        (0.5 * r * r, r)
    } else {
        (
            HUBER_DELTA * (r.abs() - 0.5 * HUBER_DELTA),
            HUBER_DELTA * r.signum(),
        )
    }
}

/// The objective over points given as (ln N or None, ln D, ln L). The parameter vector
/// is `[a, b, e, α, β]` with an N term, `[b, e, β]` without.
struct Objective<'a> {
    points: &'a [(Option<f64>, f64, f64)],
}

impl Objective<'_> {
    fn eval(&self, p: &[f64]) -> (f64, Vec<f64>) {
        let full = p.len() == 5;
        let mut cost = 0.0;
        let mut grad = vec![0.0; p.len()];
        for &(ln_n, ln_d, ln_l) in self.points {
            // Terms: (value, index of its coefficient, index of its exponent, log-variable).
            let (tn, td, te) = if full {
                (
                    Some(p[0] - p[3] * ln_n.unwrap_or(0.0)),
                    p[1] - p[4] * ln_d,
                    p[2],
                )
            } else {
                (None, p[0] - p[2] * ln_d, p[1])
            };
            let m = tn.unwrap_or(f64::NEG_INFINITY).max(td).max(te);
            let (wn, wd, we) = (
                tn.map_or(0.0, |t| (t - m).exp()),
                (td - m).exp(),
                (te - m).exp(),
            );
            let z = wn + wd + we;
            let (h, dh) = huber(m + z.ln() - ln_l);
            cost += h;
            let (wn, wd, we) = (dh * wn / z, dh * wd / z, dh * we / z);
            if full {
                grad[0] += wn;
                grad[3] -= wn * ln_n.unwrap_or(0.0);
                grad[1] += wd;
                grad[4] -= wd * ln_d;
                grad[2] += we;
            } else {
                grad[0] += wd;
                grad[2] -= wd * ln_d;
                grad[1] += we;
            }
        }
        (cost, grad)
    }
}

impl CostFunction for Objective<'_> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, p: &Vec<f64>) -> Result<f64, Error> {
        Ok(self.eval(p).0)
    }
}

impl Gradient for Objective<'_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, p: &Vec<f64>) -> Result<Vec<f64>, Error> {
        Ok(self.eval(p).1)
    }
}

/// L-BFGS from one start; the best parameters and objective it reached.
fn lbfgs(points: &[(Option<f64>, f64, f64)], start: Vec<f64>) -> Option<(Vec<f64>, f64)> {
    let problem = Objective { points };
    let solver = LBFGS::new(MoreThuenteLineSearch::new(), 10)
        .with_tolerance_grad(1e-12)
        .ok()?
        .with_tolerance_cost(1e-15)
        .ok()?;
    let res = Executor::new(problem, solver)
        .configure(|s| s.param(start).max_iters(1000))
        .run()
        .ok()?;
    let state = res.state();
    let best = state.get_best_param()?.clone();
    let cost = state.get_best_cost();
    (cost.is_finite() && best.iter().all(|v| v.is_finite())).then_some((best, cost))
}

/// Hoffmann et al.'s grid of starts: a, b ∈ {0, 5, …, 25}, e ∈ {−1, −0.5, …, 1},
/// α, β ∈ {0, 0.5, …, 2}.
fn grid(full: bool) -> Vec<Vec<f64>> {
    let ab: Vec<f64> = (0..6).map(|i| 5.0 * i as f64).collect();
    let e: Vec<f64> = (0..5).map(|i| -1.0 + 0.5 * i as f64).collect();
    let ex: Vec<f64> = (0..5).map(|i| 0.5 * i as f64).collect();
    let mut out = Vec::new();
    for &b in &ab {
        for &ee in &e {
            for &beta in &ex {
                if full {
                    for &a in &ab {
                        for &alpha in &ex {
                            out.push(vec![a, b, ee, alpha, beta]);
                        }
                    }
                } else {
                    out.push(vec![b, ee, beta]);
                }
            }
        }
    }
    out
}

fn best_of(points: &[(Option<f64>, f64, f64)], starts: Vec<Vec<f64>>) -> Option<(Vec<f64>, f64)> {
    use rayon::prelude::*;
    starts
        .into_par_iter()
        .filter_map(|s| lbfgs(points, s))
        .min_by(|a, b| a.1.total_cmp(&b.1))
}

fn log_points(points: &[ScalingPoint]) -> Vec<(Option<f64>, f64, f64)> {
    points
        .iter()
        .map(|p| (Some(p.params.ln()), p.tokens.ln(), p.loss.ln()))
        .collect()
}

/// Fits the scaling law; `boot` bootstrap refits give the intervals. An error says why
/// there is no law, beginning `not fitted:` (fewer than six usable points, every start
/// failed) or `not identifiable:` (N or D do not vary enough; the best fit or an
/// interval runs outside the region where the law is determined, e.g. an exponent ≤ 0;
/// an interval of zero width).
pub fn fit_scaling_law(
    points: &[ScalingPoint],
    boot: usize,
    seed: u64,
) -> Result<ScalingFit, String> {
    let pts: Vec<ScalingPoint> = points
        .iter()
        .copied()
        .filter(|p| p.params > 0.0 && p.tokens > 0.0 && p.loss > 0.0 && p.loss.is_finite())
        .collect();
    if pts.len() < 6 {
        return Err(format!(
            "not fitted: {} usable points, six needed",
            pts.len()
        ));
    }
    spread("N (parameters)", pts.iter().map(|p| p.params))?;
    spread("D (tokens)", pts.iter().map(|p| p.tokens))?;
    let logs = log_points(&pts);
    let (p, objective) = best_of(&logs, grid(true)).ok_or("not fitted: no start converged")?;
    if !(p[3] > 0.0 && p[4] > 0.0) {
        return Err(format!(
            "not identifiable: the best fit has a non-positive exponent (alpha {:.3}, beta {:.3}): these points do not determine the law",
            p[3], p[4]
        ));
    }
    let min_loss = pts.iter().map(|p| p.loss).fold(f64::INFINITY, f64::min);
    inside(
        &[p[2].exp(), p[0].exp(), p[1].exp(), p[3], p[4]],
        min_loss,
        "the best fit",
    )?;
    let mut rng = Rng::new(seed);
    let mut samples: Vec<Vec<f64>> = Vec::with_capacity(boot);
    for _ in 0..boot {
        let resample: Vec<_> = (0..logs.len())
            .map(|_| logs[(rng.uniform() * logs.len() as f64) as usize % logs.len()])
            .collect();
        if let Some((q, _)) = lbfgs(&resample, p.clone()) {
            // A refit whose coefficient overflows has run off along a flat direction
            // of the Huber objective: a failed refit, not an estimate.
            let v = vec![q[2].exp(), q[0].exp(), q[1].exp(), q[3], q[4]];
            if v.iter().all(|x| x.is_finite()) {
                samples.push(v);
            }
        }
    }
    let ci = |k: usize| interval95(samples.iter().map(|s| s[k]).collect(), boot);
    if boot >= 10 && samples.len() < boot / 2 {
        return Err(format!(
            "not identifiable: {} of {boot} resampled refits failed",
            boot - samples.len()
        ));
    }
    for (k, name) in NAMES.iter().enumerate() {
        if let Some([lo, hi]) = ci(k) {
            inside_one(k, lo, min_loss, &format!("{name}'s 95% interval"))?;
            inside_one(k, hi, min_loss, &format!("{name}'s 95% interval"))?;
            if boot >= 10 && hi <= lo {
                return Err(format!(
                    "not identifiable: {name}'s interval has zero width (the resamples never move it: undetermined)"
                ));
            }
        }
    }
    Ok(ScalingFit {
        e: p[2].exp(),
        a: p[0].exp(),
        b: p[1].exp(),
        alpha: p[3],
        beta: p[4],
        e_ci: ci(0),
        a_ci: ci(1),
        b_ci: ci(2),
        alpha_ci: ci(3),
        beta_ci: ci(4),
        objective,
        n_points: pts.len(),
        bootstrap: samples.len(),
    })
}

/// The law's parameters in the order E, A, B, alpha, beta.
const NAMES: [&str; 5] = ["E", "A", "B", "alpha", "beta"];
/// The region where the law is determined: exponents in (0, MAX_EXPONENT], A and B
/// below e^MAX_LOG_COEF, E positive and below the lowest observed loss. A fit that runs
/// past it has drifted along a ridge the points do not pin down.
const MAX_EXPONENT: f64 = 2.5;
const MAX_LOG_COEF: f64 = 30.0;

fn inside_one(k: usize, v: f64, min_loss: f64, what: &str) -> Result<(), String> {
    let ok = match k {
        0 => v > 0.0 && v < min_loss,
        1 | 2 => v > 0.0 && v.ln() <= MAX_LOG_COEF,
        _ => v > 0.0 && v <= MAX_EXPONENT,
    };
    if ok {
        Ok(())
    } else {
        let bound = match k {
            0 => format!("(0, {min_loss:.4}), below the lowest loss"),
            1 | 2 => format!("(0, e^{MAX_LOG_COEF}]"),
            _ => format!("(0, {MAX_EXPONENT}]"),
        };
        Err(format!(
            "not identifiable: {what} puts {} at {v:.4e}, outside {bound}",
            NAMES[k]
        ))
    }
}

fn inside(p: &[f64; 5], min_loss: f64, what: &str) -> Result<(), String> {
    (0..5).try_for_each(|k| inside_one(k, p[k], min_loss, what))
}

/// N or D must take three values at least and span a factor of two.
fn spread(name: &str, v: impl Iterator<Item = f64>) -> Result<(), String> {
    let mut v: Vec<f64> = v.collect();
    v.sort_by(f64::total_cmp);
    v.dedup();
    let ratio = v.last().copied().unwrap_or(1.0) / v.first().copied().unwrap_or(1.0);
    if v.len() < 3 || ratio < 2.0 {
        return Err(format!(
            "not identifiable: {name} takes {} distinct values spanning a factor of {ratio:.2} (three values and a factor of two needed)",
            v.len()
        ));
    }
    Ok(())
}

/// Fits one run's loss curve from (tokens, loss) points; needs four with tokens > 0.
pub fn fit_loss_curve(points: &[(f64, f64)]) -> Option<LossCurve> {
    let logs: Vec<(Option<f64>, f64, f64)> = points
        .iter()
        .filter(|(d, l)| *d > 0.0 && *l > 0.0 && l.is_finite())
        .map(|&(d, l)| (None, d.ln(), l.ln()))
        .collect();
    if logs.len() < 4 {
        return None;
    }
    let (p, _) = best_of(&logs, grid(false))?;
    Some(LossCurve {
        b: p[0].exp(),
        e: p[1].exp(),
        beta: p[2],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradient_matches_finite_differences() {
        let pts = vec![
            (Some(17.0), 20.0, 1.2f64.ln()),
            (Some(19.0), 21.0, 1.0f64.ln()),
            (Some(18.0), 23.0, 0.9f64.ln()),
        ];
        let obj = Objective { points: &pts };
        let p = vec![6.0, 6.5, 0.5, 0.3, 0.3];
        let (_, g) = obj.eval(&p);
        for i in 0..5 {
            let h = 1e-6;
            let (mut a, mut b) = (p.clone(), p.clone());
            a[i] += h;
            b[i] -= h;
            let fd = (obj.eval(&a).0 - obj.eval(&b).0) / (2.0 * h);
            assert!(
                (fd - g[i]).abs() < 1e-6 * (1.0 + fd.abs()),
                "{i}: {fd} vs {}",
                g[i]
            );
        }
    }

    #[test]
    fn loss_rising_with_size_is_no_law() {
        // Bigger models doing worse: the best fit needs a negative exponent.
        let pts: Vec<ScalingPoint> = [1e6, 3e6, 1e7]
            .iter()
            .flat_map(|&n| {
                [1e8, 1e9].map(|d| ScalingPoint {
                    params: n,
                    tokens: d,
                    loss: 1.5 + n / 1e7 + 40.0 / d.powf(0.2),
                })
            })
            .collect();
        let err = fit_scaling_law(&pts, 0, 0).unwrap_err();
        assert!(
            err.contains("non-positive exponent") || err.contains("not identifiable"),
            "{err}"
        );
        assert!(fit_scaling_law(&pts[..5], 0, 0)
            .unwrap_err()
            .contains("six needed"));
    }

    #[test]
    fn threshold_size_inverts_the_law() {
        let f = ScalingFit {
            e: 1.69,
            a: 406.4,
            b: 410.7,
            alpha: 0.34,
            beta: 0.28,
            e_ci: None,
            a_ci: None,
            b_ci: None,
            alpha_ci: None,
            beta_ci: None,
            objective: 0.0,
            n_points: 0,
            bootstrap: 0,
        };
        let n = f.params_at(2.2, 20.0).unwrap();
        assert!((f.loss(n, 20.0 * n) - 2.2).abs() < 1e-9);
        assert!(f.params_at(1.6, 20.0).is_none());
        let c = LossCurve {
            e: 2.0,
            b: 50.0,
            beta: 0.3,
        };
        let d = c.tokens_at(2.5).unwrap();
        assert!((c.loss(d) - 2.5).abs() < 1e-9);
        assert!(c.tokens_at(1.9).is_none());
    }
}
