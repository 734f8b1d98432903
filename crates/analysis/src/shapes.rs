//! The curves performance is fitted with, each by weighted least squares: the
//! break-point model (flat at a level above a loss η, linear below it), flat lines, and
//! a family of smooth shapes that can follow real smooth curves — linear, quadratic
//! (convex or concave), a power law, an exponential (saturating or accelerating) and a
//! sigmoid in the fitting coordinate (the form model ladders use from task loss to
//! accuracy). Every shape is linear in two or three coefficients given at most two
//! nonlinear ones, so the coefficients are solved exactly and the nonlinear parameters
//! searched on a grid, then refined by golden-section steps (variable projection): no
//! start values, no local minima missed between grid points wider than a cell.

use serde::Serialize;

/// A fitted curve's form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// `y = b`, the random-guess baseline (no free parameter).
    Flat,
    /// `y = c`, a free level.
    Level,
    /// `y = c + s·max(0, η − x)`: a free level above η (whether it is at the baseline
    /// is judged apart, as an equivalence), linear below.
    Break,
    Linear,
    Quadratic,
    /// `y = a + c·z^p`, with `z` the coordinate over its largest value (a loss).
    Power,
    /// `y = a + c·exp(r·t)`, `t` the progress along the range (0 first, 1 furthest).
    Exponential,
    /// `y = a + c / (1 + exp(−k (t − t₀)))`.
    Sigmoid,
}

impl Shape {
    /// The alternatives to a break that rise (or fall) smoothly over the whole range.
    pub const SMOOTH: [Shape; 5] = [
        Shape::Linear,
        Shape::Quadratic,
        Shape::Power,
        Shape::Exponential,
        Shape::Sigmoid,
    ];

    /// A shape that rises (or falls): the break and the smooth family, not a flat line.
    pub fn is_trend(self) -> bool {
        !matches!(self, Shape::Flat | Shape::Level)
    }

    pub fn name(self) -> &'static str {
        match self {
            Shape::Flat => "flat",
            Shape::Level => "level",
            Shape::Break => "break",
            Shape::Linear => "linear",
            Shape::Quadratic => "quadratic",
            Shape::Power => "power",
            Shape::Exponential => "exponential",
            Shape::Sigmoid => "sigmoid",
        }
    }
}

/// Where the fitting data lie: the coordinate's range, which maps `x` to progress
/// `t = (hi − x)/(hi − lo)` and to the power law's `z = x/hi` (or `1 + t` when the
/// coordinate is not positive). Kept with a fit so it can predict outside its data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Frame {
    pub lo: f64,
    pub hi: f64,
}

impl Frame {
    pub fn of(x: &[f64]) -> Frame {
        let (lo, hi) = x
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        Frame { lo, hi }
    }

    fn t(&self, x: f64) -> f64 {
        (self.hi - x) / (self.hi - self.lo).max(1e-12)
    }

    fn z(&self, x: f64) -> f64 {
        if self.lo > 0.0 {
            x / self.hi
        } else {
            1.0 + self.t(x)
        }
    }
}

/// A fitted shape: its nonlinear parameters, linear coefficients and χ².
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    pub shape: Shape,
    pub frame: Frame,
    /// η for a break; the exponent for power and exponential; (k, t₀) for a sigmoid.
    pub nonlinear: [f64; 2],
    /// The coefficients of the shape's basis (see [`basis`]).
    pub coef: [f64; 3],
    /// The baseline a flat fit is pinned to.
    pub baseline: Option<f64>,
    pub chi2: f64,
    /// Free parameters, for AIC.
    pub k: usize,
}

impl Fit {
    pub fn predict(&self, x: f64) -> f64 {
        let row = basis(self.shape, &self.frame, self.nonlinear, x);
        let lin: f64 = row.iter().zip(&self.coef).map(|(r, c)| r * c).sum();
        lin + self.offset()
    }

    fn offset(&self) -> f64 {
        match self.shape {
            Shape::Flat => self.baseline.unwrap_or(0.0),
            _ => 0.0,
        }
    }

    pub fn aic(&self) -> f64 {
        self.chi2 + 2.0 * self.k as f64
    }

    /// The break's η, when this is a break.
    pub fn eta(&self) -> Option<f64> {
        (self.shape == Shape::Break).then_some(self.nonlinear[0])
    }

    /// The break's flat level above η.
    pub fn level(&self) -> f64 {
        match self.shape {
            Shape::Break => self.coef[1],
            _ => self.predict(self.frame.hi),
        }
    }

    /// The break's slope per unit of the coordinate below η.
    pub fn slope(&self) -> f64 {
        self.coef[0]
    }
}

/// The basis row of `x` for a shape (unused columns zero); a break has its slope in
/// the first and its level in the second.
fn basis(shape: Shape, f: &Frame, nl: [f64; 2], x: f64) -> [f64; 3] {
    let t = f.t(x);
    match shape {
        Shape::Flat => [0.0; 3],
        Shape::Level => [1.0, 0.0, 0.0],
        Shape::Break => [(nl[0] - x).max(0.0), 1.0, 0.0],
        Shape::Linear => [1.0, t, 0.0],
        Shape::Quadratic => [1.0, t, t * t],
        Shape::Power => [1.0, f.z(x).max(1e-12).powf(nl[0]), 0.0],
        Shape::Exponential => [1.0, (nl[0] * t).exp(), 0.0],
        Shape::Sigmoid => [1.0, 1.0 / (1.0 + (-nl[0] * (t - nl[1])).exp()), 0.0],
    }
}

/// Weighted least squares of `y` on `k ≤ 3` basis columns: coefficients and χ².
/// Small normal equations, Gaussian elimination with partial pivoting.
pub fn wls(rows: &[[f64; 3]], k: usize, y: &[f64], w: &[f64]) -> Option<([f64; 3], f64)> {
    let mut a = [[0.0f64; 4]; 3];
    for ((row, &yi), &wi) in rows.iter().zip(y).zip(w) {
        for r in 0..k {
            for c in 0..k {
                a[r][c] += wi * row[r] * row[c];
            }
            a[r][3] += wi * row[r] * yi;
        }
    }
    let beta = solve(&mut a, k)?;
    let chi2: f64 = rows
        .iter()
        .zip(y)
        .zip(w)
        .map(|((row, &yi), &wi)| {
            let f: f64 = (0..k).map(|i| beta[i] * row[i]).sum();
            wi * (yi - f) * (yi - f)
        })
        .sum();
    chi2.is_finite().then_some((beta, chi2))
}

/// The data one shape is fitted to.
pub struct Data<'a> {
    pub x: &'a [f64],
    pub y: &'a [f64],
    pub w: &'a [f64],
    pub baseline: Option<f64>,
}

impl Data<'_> {
    /// The shape at fixed nonlinear parameters.
    fn at(&self, shape: Shape, frame: Frame, nl: [f64; 2]) -> Option<Fit> {
        let pinned = shape == Shape::Flat && self.baseline.is_some();
        let base = if pinned { self.baseline } else { None };
        let k = match shape {
            Shape::Flat => 0,
            Shape::Level => 1,
            Shape::Quadratic => 3,
            _ => 2,
        };
        let rows: Vec<[f64; 3]> = self
            .x
            .iter()
            .map(|&x| basis(shape, &frame, nl, x))
            .collect();
        let shifted: Vec<f64>;
        let y = match base {
            Some(b) => {
                shifted = self.y.iter().map(|v| v - b).collect();
                &shifted
            }
            None => self.y,
        };
        let (coef, chi2) = if k == 0 {
            ([0.0; 3], y.iter().zip(self.w).map(|(v, w)| w * v * v).sum())
        } else {
            wls(&rows, k, y, self.w)?
        };
        let extra = match shape {
            Shape::Break | Shape::Power | Shape::Exponential => 1,
            Shape::Sigmoid => 2,
            _ => 0,
        };
        Some(Fit {
            shape,
            frame,
            nonlinear: nl,
            coef,
            baseline: base,
            chi2,
            k: k + extra,
        })
    }

    /// χ² of a shape with a constant column at fixed nonlinear parameters, in one
    /// pass without allocating: the normal equations of the centred values, and
    /// χ² = Σw(y − ȳ)² − βᵀXᵀw(y − ȳ). The search's inner loop; [`Data::at`] refits the
    /// winner exactly.
    fn quick(&self, shape: Shape, frame: &Frame, nl: [f64; 2], ybar: f64, ss: f64) -> f64 {
        let k = if shape == Shape::Quadratic { 3 } else { 2 };
        let mut a = [[0.0f64; 4]; 3];
        for ((&x, &y), &w) in self.x.iter().zip(self.y).zip(self.w) {
            let row = basis(shape, frame, nl, x);
            let yc = y - ybar;
            for r in 0..k {
                let wr = w * row[r];
                for c in r..k {
                    a[r][c] += wr * row[c];
                }
                a[r][3] += wr * yc;
            }
        }
        for (r, c) in [(1, 0), (2, 0), (2, 1)] {
            a[r][c] = a[c][r];
        }
        let rhs = [a[0][3], a[1][3], a[2][3]];
        match solve(&mut a, k) {
            Some(beta) => (ss - (0..k).map(|i| beta[i] * rhs[i]).sum::<f64>()).max(0.0),
            None => f64::INFINITY,
        }
    }

    /// The weighted mean of y and the weighted sum of squares about it.
    fn centre(&self) -> (f64, f64) {
        let sw: f64 = self.w.iter().sum();
        let ybar = self.y.iter().zip(self.w).map(|(y, w)| w * y).sum::<f64>() / sw;
        let ss = self
            .y
            .iter()
            .zip(self.w)
            .map(|(y, w)| w * (y - ybar) * (y - ybar))
            .sum();
        (ybar, ss)
    }

    /// The best fit of `shape` over its nonlinear parameters.
    pub fn fit(&self, shape: Shape) -> Option<Fit> {
        let frame = Frame::of(self.x);
        if frame.hi.partial_cmp(&frame.lo) != Some(std::cmp::Ordering::Greater) {
            return None;
        }
        match shape {
            Shape::Flat | Shape::Level | Shape::Linear | Shape::Quadratic => {
                self.at(shape, frame, [0.0; 2])
            }
            // η anywhere in the observed range.
            Shape::Break => self.search1(shape, frame, frame.lo, frame.hi, 120),
            // Exponents either side of 1 (convex or concave), |p| up to 12.
            Shape::Power => self.search1(shape, frame, -12.0, 12.0, 48),
            Shape::Exponential => self.search1(shape, frame, -12.0, 12.0, 48),
            Shape::Sigmoid => self.sigmoid(frame),
        }
    }

    /// One nonlinear parameter: a grid over `[a, b]`, then golden-section steps
    /// between the best grid point's neighbours.
    fn search1(&self, shape: Shape, frame: Frame, a: f64, b: f64, grid: usize) -> Option<Fit> {
        let (ybar, ss) = self.centre();
        let chi = |p: f64| self.quick(shape, &frame, [p, 0.0], ybar, ss);
        let step = (b - a) / grid as f64;
        let (c, best) = (0..=grid)
            .map(|g| a + step * g as f64)
            .map(|p| (p, chi(p)))
            .min_by(|p, q| p.1.total_cmp(&q.1))?;
        let refined = golden(chi, (c - step).max(a), (c + step).min(b));
        let p = if chi(refined) < best { refined } else { c };
        self.at(shape, frame, [p, 0.0])
    }

    /// Two nonlinear parameters: steepness k on a log grid (0.5 to 80 per unit of
    /// progress) × midpoint t₀ (a half range beyond either end), then golden-section
    /// steps along each in turn.
    fn sigmoid(&self, frame: Frame) -> Option<Fit> {
        let (ybar, ss) = self.centre();
        let chi = |k: f64, t0: f64| self.quick(Shape::Sigmoid, &frame, [k, t0], ybar, ss);
        let mut best = (f64::INFINITY, [1.0, 0.5]);
        for i in 0..14 {
            let k = 0.5 * 1.48f64.powi(i);
            for j in 0..17 {
                let t0 = -0.5 + j as f64 / 8.0;
                let c = chi(k, t0);
                if c < best.0 {
                    best = (c, [k, t0]);
                }
            }
        }
        if !best.0.is_finite() {
            return None;
        }
        // ln k and t₀ are correlated: a Nelder–Mead simplex from the best grid cell
        // follows the valley where steps along one at a time would crawl.
        let [k, t0] = best.1;
        let p = nelder_mead(
            |p: [f64; 2]| chi(p[0].exp(), p[1]),
            [k.ln(), t0],
            [1.48f64.ln() / 2.0, 1.0 / 16.0],
        );
        if chi(p[0].exp(), p[1]) < best.0 {
            best = (chi(p[0].exp(), p[1]), [p[0].exp(), p[1]]);
        }
        self.at(Shape::Sigmoid, frame, best.1)
    }
}

/// Solves the `k × k` normal equations held in `a` (right-hand side in column 3) by
/// Gaussian elimination with partial pivoting.
fn solve(a: &mut [[f64; 4]; 3], k: usize) -> Option<[f64; 3]> {
    let scale = (0..k).map(|i| a[i][i].abs()).fold(0.0, f64::max);
    for col in 0..k {
        let piv = (col..k).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        a.swap(col, piv);
        if a[col][col].abs().partial_cmp(&(1e-13 * scale)) != Some(std::cmp::Ordering::Greater) {
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
    Some(beta)
}

/// A minimiser of `f` in two dimensions by Nelder–Mead (standard coefficients) from
/// `start` with initial steps `step`; stops when the simplex's values agree to 1e-13
/// relative, or after 300 evaluations.
fn nelder_mead(f: impl Fn([f64; 2]) -> f64, start: [f64; 2], step: [f64; 2]) -> [f64; 2] {
    let mut pts = [
        start,
        [start[0] + step[0], start[1]],
        [start[0], start[1] + step[1]],
    ];
    let mut val = pts.map(&f);
    let mut evals = 3;
    let lerp =
        |a: [f64; 2], b: [f64; 2], t: f64| [a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])];
    while evals < 300 {
        let mut order = [0, 1, 2];
        order.sort_by(|&i, &j| val[i].total_cmp(&val[j]));
        let (best, mid, worst) = (order[0], order[1], order[2]);
        if (val[worst] - val[best]).abs() <= 1e-13 * val[best].abs().max(1e-300) {
            break;
        }
        let centre = lerp(pts[best], pts[mid], 0.5);
        let reflect = lerp(pts[worst], centre, 2.0);
        let fr = f(reflect);
        evals += 1;
        if fr < val[best] {
            let expand = lerp(pts[worst], centre, 3.0);
            let fe = f(expand);
            evals += 1;
            (pts[worst], val[worst]) = if fe < fr { (expand, fe) } else { (reflect, fr) };
        } else if fr < val[mid] {
            (pts[worst], val[worst]) = (reflect, fr);
        } else {
            let contract = lerp(pts[worst], centre, if fr < val[worst] { 1.5 } else { 0.5 });
            let fc = f(contract);
            evals += 1;
            if fc < val[worst].min(fr) {
                (pts[worst], val[worst]) = (contract, fc);
            } else {
                for i in [mid, worst] {
                    pts[i] = lerp(pts[best], pts[i], 0.5);
                    val[i] = f(pts[i]);
                }
                evals += 2;
            }
        }
    }
    let i = (0..3)
        .min_by(|&i, &j| val[i].total_cmp(&val[j]))
        .unwrap_or(0);
    pts[i]
}

/// The minimiser of `f` on `[a, b]` by golden-section search: 30 steps, one new
/// evaluation each.
fn golden(f: impl Fn(f64) -> f64, mut a: f64, mut b: f64) -> f64 {
    let r = (5f64.sqrt() - 1.0) / 2.0;
    let (mut c, mut d) = (b - r * (b - a), a + r * (b - a));
    let (mut fc, mut fd) = (f(c), f(d));
    for _ in 0..30 {
        if fc < fd {
            (b, d, fd) = (d, c, fc);
            c = b - r * (b - a);
            fc = f(c);
        } else {
            (a, c, fc) = (c, d, fd);
            d = a + r * (b - a);
            fd = f(d);
        }
    }
    (a + b) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data<'a>(x: &'a [f64], y: &'a [f64], w: &'a [f64]) -> Data<'a> {
        Data {
            x,
            y,
            w,
            baseline: None,
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

    #[test]
    fn every_smooth_shape_recovers_a_curve_of_its_own_form() {
        let x: Vec<f64> = (0..40).map(|i| 2.0 + i as f64 / 20.0).collect();
        let w = vec![1.0; x.len()];
        let frame = Frame::of(&x);
        let truths = [
            (Shape::Power, [-3.0, 0.0], [0.1, 0.5, 0.0]),
            (Shape::Exponential, [2.5, 0.0], [0.2, 0.05, 0.0]),
            (Shape::Sigmoid, [9.0, 0.6], [0.25, 0.5, 0.0]),
        ];
        for (shape, nl, coef) in truths {
            let truth = Fit {
                shape,
                frame,
                nonlinear: nl,
                coef,
                baseline: None,
                chi2: 0.0,
                k: 0,
            };
            let y: Vec<f64> = x.iter().map(|&v| truth.predict(v)).collect();
            let fit = data(&x, &y, &w).fit(shape).unwrap();
            assert!(fit.chi2 < 1e-8, "{shape:?}: {fit:?}");
            for &v in &x {
                assert!(
                    (fit.predict(v) - truth.predict(v)).abs() < 1e-4,
                    "{shape:?}"
                );
            }
        }
    }

    #[test]
    fn a_break_is_found_where_it_is() {
        let x: Vec<f64> = (0..50).map(|i| 1.8 + i as f64 * 0.03).collect();
        let y: Vec<f64> = x.iter().map(|&v| 0.25 + 0.4 * (2.4 - v).max(0.0)).collect();
        let w = vec![1.0; x.len()];
        let d = Data {
            baseline: Some(0.25),
            ..data(&x, &y, &w)
        };
        let f = d.fit(Shape::Break).unwrap();
        assert!((f.eta().unwrap() - 2.4).abs() < 1e-6, "{f:?}");
        assert!((f.slope() - 0.4).abs() < 1e-6);
        assert!((f.level() - 0.25).abs() < 1e-9);
        assert_eq!(f.k, 3);
    }
}
