//! The largest size forecast from the smaller ones: the model the verdict chose, fitted
//! to every checkpoint except the held-out runs', predicts theirs, with a 95%
//! interval for the value a checkpoint would show. The interval joins the curve's
//! uncertainty (the fit repeated on resamples drawn as the verdict's are: documents,
//! runs, residuals) with the scatter of one checkpoint about the curve (its sampling
//! variance at the predicted value, plus the extra variance between checkpoints the
//! fitted points show).

use emergent_rng::Rng;
use serde::Serialize;

use crate::input::Obs;
use crate::onset::akaike_weights;
use crate::robust::{bounded_like, interval95, noise_model, resample};
use crate::shapes::{Data, Fit, Shape};
use crate::threshold::{fit_once, noise_var, quasi_aic, variances, Kind, Rules, Series};

/// Two-sided 95% normal quantile.
const Z95: f64 = 1.959_964;

/// Shapes within this much of the chosen model's AIC are supported about as well
/// (Burnham & Anderson 2002, §2.6): their forecasts bound the interval too.
const RIVAL_AIC: f64 = 2.0;

/// One held-out checkpoint: its index in the series, the forecast and its interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Predicted {
    pub index: usize,
    pub predicted: f64,
    pub lo: f64,
    pub hi: f64,
}

/// The forecast of every held-out checkpoint of one series, in the fitting coordinate.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesForecast {
    pub model: Shape,
    pub points: Vec<Predicted>,
    /// Mean absolute error over the held-out checkpoints, in the metric's units.
    pub mae: f64,
    /// The fraction of held-out checkpoints whose observed value lies in the interval.
    pub coverage: f64,
    /// The mean absolute error of a plain (unweighted) sigmoid in the coordinate fitted
    /// to the same checkpoints: the usual ladder forecast, for comparison.
    pub sigmoid_mae: Option<f64>,
}

/// The shapes a verdict forecasts with: every rising shape for an emergent task (how
/// the rise goes on past the data is unknown: a straight break is one shape that fits
/// it, an accelerating exponential or a sigmoid another), the smooth family (the
/// sigmoid among them) for a smooth one, and every shape where the data show no rise
/// (flat: an ability may begin past the observed range) or cannot place one.
fn family(kind: Kind) -> Vec<Shape> {
    match kind {
        Kind::Emergent => std::iter::once(Shape::Break).chain(Shape::SMOOTH).collect(),
        Kind::Smooth => Shape::SMOOTH.to_vec(),
        Kind::Flat | Kind::Uncertain | Kind::Insufficient => {
            [Shape::Flat, Shape::Level, Shape::Break]
                .into_iter()
                .chain(Shape::SMOOTH)
                .collect()
        }
    }
}

/// Whether the verdict found how the series rises: then its shapes are weighed by
/// their evidence in the data; else the fitted range says nothing of how a rise beyond
/// it goes, and they are weighed by how well each forecast the furthest training run.
fn weighed_by_evidence(kind: Kind) -> bool {
    matches!(kind, Kind::Emergent | Kind::Smooth)
}

fn mean_abs(errors: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = errors.fold((0.0, 0usize), |(s, n), e| (s + e.abs(), n + 1));
    sum / n.max(1) as f64
}

/// Fits the verdict's `kind` of model to the points not `held` and forecasts the held
/// ones. `None` when either side is too small to fit or to judge.
pub fn forecast(
    s: &Series,
    held: &[bool],
    kind: Kind,
    rules: &Rules,
    seed: u64,
) -> Option<SeriesForecast> {
    let keep: Vec<usize> = (0..s.x.len()).filter(|&i| !held[i]).collect();
    let out: Vec<usize> = (0..s.x.len()).filter(|&i| held[i]).collect();
    if out.is_empty() {
        return None;
    }
    let train = s.subset(&keep, |i| s.run[i]);
    let single = fit_once(&train, rules);
    let shapes = family(kind);
    let candidates: Vec<Fit> = single
        .fits
        .iter()
        .filter(|f| shapes.contains(&f.shape))
        .cloned()
        .collect();
    let model = candidates
        .iter()
        .min_by(|a, b| a.aic().total_cmp(&b.aic()))?
        .clone();
    let bound = bounded_like(&s.y);
    // The forecast is the family's shapes averaged, each kept within the metric's
    // bounds: no one shape's extrapolation stands for all that fit about as well.
    let by_evidence = || akaike_weights(&candidates.iter().collect::<Vec<_>>());
    let weights = if weighed_by_evidence(kind) {
        by_evidence()?
    } else {
        match validation_weights(&train, &candidates, rules) {
            Some(w) => w,
            None => by_evidence()?,
        }
    };
    let average = |x: f64| -> f64 {
        candidates
            .iter()
            .zip(&weights)
            .map(|(f, w)| w * bound(f.predict(x)))
            .sum()
    };
    let fitted: Vec<f64> = train.x.iter().map(|&x| model.predict(x)).collect();
    let curves = resampled_curves(&train, &shapes, &fitted, rules, seed);
    let per_point: Vec<Vec<f64>> = out
        .iter()
        .map(|&i| {
            let x = s.x[i];
            curves.iter().map(|f| bound(f.predict(x))).collect()
        })
        .collect();
    // The shapes of the family the data cannot tell from the chosen one (within 2 of
    // its AIC) predict differently outside the fitted range: the interval spans them.
    let rivals: Vec<&Fit> = single
        .fits
        .iter()
        .filter(|f| shapes.contains(&f.shape) && f.aic() <= model.aic() + RIVAL_AIC)
        .collect();
    let points: Vec<Predicted> = out
        .iter()
        .zip(per_point)
        .map(|(&i, draws)| {
            let p = average(s.x[i]);
            let [a, b] = interval95(draws, rules.boot).unwrap_or([p, p]);
            // One checkpoint's scatter about the curve: sampling plus the extra variance.
            let spread = Z95 * Z95 * (noise_var(s.noise[i], p) + single.tau2);
            let (low, high) = rivals
                .iter()
                .map(|f| bound(f.predict(s.x[i])))
                .fold((a.min(p), b.max(p)), |(l, h), q| (l.min(q), h.max(q)));
            let lo = p - ((p - low).powi(2) + spread).sqrt();
            let hi = p + ((high - p).powi(2) + spread).sqrt();
            Predicted {
                index: i,
                predicted: p,
                lo: bound(lo),
                hi: bound(hi),
            }
        })
        .collect();
    let mae = mean_abs(points.iter().map(|p| p.predicted - s.y[p.index]));
    let covered = points
        .iter()
        .filter(|p| (p.lo..=p.hi).contains(&s.y[p.index]))
        .count();
    let ones = vec![1.0; train.x.len()];
    let plain = Data {
        x: &train.x,
        y: &train.y,
        w: &ones,
        baseline: None,
    }
    .fit(Shape::Sigmoid);
    let sigmoid_mae = plain.map(|f| {
        mean_abs(
            points
                .iter()
                .map(|p| bound(f.predict(s.x[p.index])) - s.y[p.index]),
        )
    });
    Some(SeriesForecast {
        model: model.shape,
        coverage: covered as f64 / points.len() as f64,
        points,
        mae,
        sigmoid_mae,
    })
}

/// Weights inversely proportional to each shape's mean squared error forecasting the
/// training run that reaches furthest along the axis from the other training runs
/// (Bates & Granger 1969; rolling-origin evaluation, Tashman 2000). Real series are no
/// one shape, and hundreds of checkpoints make the in-sample evidence pick whichever
/// follows the noise of the fitted range best, not the one that extrapolates.
/// `None` with fewer than three runs, or when a shape cannot be fitted without the run.
fn validation_weights(train: &Series, candidates: &[Fit], rules: &Rules) -> Option<Vec<f64>> {
    if train.distinct_runs() < 3 {
        return None;
    }
    // The run of the point furthest along the axis (the lowest x).
    let last = train.run[(0..train.x.len()).min_by(|&a, &b| train.x[a].total_cmp(&train.x[b]))?];
    let (out, keep): (Vec<usize>, Vec<usize>) =
        (0..train.x.len()).partition(|&i| train.run[i] == last);
    let inner = fit_once(&train.subset(&keep, |i| train.run[i]), rules);
    let bound = bounded_like(&train.y);
    let inverse_mse = |c: &Fit| -> Option<f64> {
        let f = inner.fits.iter().find(|f| f.shape == c.shape)?;
        let sq = out
            .iter()
            .map(|&i| (bound(f.predict(train.x[i])) - train.y[i]).powi(2));
        Some(out.len() as f64 / sq.sum::<f64>().max(f64::MIN_POSITIVE))
    };
    let w: Vec<f64> = candidates.iter().map(inverse_mse).collect::<Option<_>>()?;
    let total: f64 = w.iter().sum();
    Some(w.iter().map(|v| v / total).collect())
}

/// The family refitted to `rules.boot` resamples of the fitted points, the shape chosen
/// again on each (Buckland, Burnham & Augustin 1997): which shape the data pick is part
/// of the forecast's uncertainty.
fn resampled_curves(
    train: &Series,
    shapes: &[Shape],
    fitted: &[f64],
    rules: &Rules,
    seed: u64,
) -> Vec<Fit> {
    let how = noise_model(train);
    let mut rng = Rng::new(seed);
    (0..rules.boot)
        .filter_map(|_| {
            let r = resample(train, how, fitted, &mut rng);
            let (_, _, var) = variances(&r);
            let w: Vec<f64> = var.iter().map(|v| 1.0 / v).collect();
            let data = Data {
                x: &r.x,
                y: &r.y,
                w: &w,
                baseline: r.baseline,
            };
            let mut fits: Vec<Fit> = shapes.iter().filter_map(|&sh| data.fit(sh)).collect();
            quasi_aic(&mut fits, r.x.len());
            fits.into_iter().min_by(|a, b| a.aic().total_cmp(&b.aic()))
        })
        .collect()
}

/// A series' forecast as `findings.json` gives it: which runs were held out, the model,
/// and every held-out checkpoint in the axis's units.
#[derive(Debug, Clone, Serialize)]
pub struct Forecast {
    pub held_out: Vec<String>,
    pub model: Shape,
    pub points: Vec<ForecastPoint>,
    pub mae: f64,
    pub coverage: f64,
    pub sigmoid_mae: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ForecastPoint {
    pub run: String,
    pub step: Option<u64>,
    pub x: f64,
    pub observed: f64,
    pub predicted: f64,
    pub lo: f64,
    pub hi: f64,
}

/// The runs a ladder's forecast holds out: every run of the largest size, and the run
/// that reaches furthest along the axis (the lowest loss) when a smaller size's longer
/// training takes it there. Nothing when the points come from one size.
pub fn held_out_runs(pts: &[(&Obs, f64)], u: &[f64]) -> Vec<String> {
    let largest = pts.iter().map(|(o, _)| o.params).fold(f64::NAN, f64::max);
    if pts.iter().all(|(o, _)| o.params == largest) {
        return Vec::new();
    }
    let mut runs: Vec<String> = pts
        .iter()
        .filter(|(o, _)| o.params == largest)
        .map(|(o, _)| o.run.clone())
        .collect();
    let furthest = (0..u.len()).min_by(|&a, &b| u[a].total_cmp(&u[b]));
    runs.extend(furthest.map(|i| pts[i].0.run.clone()));
    runs.sort();
    runs.dedup();
    runs
}

/// The forecast of a series' held-out runs, in the axis's units.
pub fn ladder_forecast(
    pts: &[(&Obs, f64)],
    s: &Series,
    kind: Kind,
    rules: &Rules,
    seed: u64,
) -> Option<Forecast> {
    let held_out = held_out_runs(pts, &s.x);
    let held: Vec<bool> = pts.iter().map(|(o, _)| held_out.contains(&o.run)).collect();
    let f = forecast(s, &held, kind, rules, seed)?;
    let points = f
        .points
        .iter()
        .map(|p| {
            let (o, x) = pts[p.index];
            ForecastPoint {
                run: o.run.clone(),
                step: o.step,
                x,
                observed: o.value,
                predicted: p.predicted,
                lo: p.lo,
                hi: p.hi,
            }
        })
        .collect();
    Some(Forecast {
        held_out,
        model: f.model,
        points,
        mae: f.mae,
        coverage: f.coverage,
        sigmoid_mae: f.sigmoid_mae,
    })
}
