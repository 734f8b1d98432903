//! The paper's per-checkpoint view: one run's intermediate checkpoints against the
//! other sizes' final checkpoints. If performance is a function of loss, a small model's
//! final checkpoint scores what the large run scored when it passed the same loss.

use serde::Serialize;

use crate::input::Obs;

/// Another size's final checkpoint beside the chosen run's curve.
#[derive(Debug, Clone, Serialize)]
pub struct FinalPoint {
    pub run: String,
    pub size: String,
    /// Its value on the x axis (e.g. its loss) and its score.
    pub x: f64,
    pub observed: f64,
    /// The chosen run's score at the same x, interpolated linearly between the two of
    /// its checkpoints either side; `None` outside the run's range.
    pub along_run: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckpointView {
    /// The run whose checkpoints form the curve: the largest size's run with the most
    /// checkpoints.
    pub run: String,
    pub finals: Vec<FinalPoint>,
    /// Mean absolute difference between the finals and the run's curve, over the finals
    /// inside its range, and the mean standard error of those finals for scale.
    pub mae: Option<f64>,
    pub noise: Option<f64>,
}

/// The run's value at `x` by linear interpolation between its checkpoints sorted by x.
fn interpolate(curve: &[(f64, f64)], x: f64) -> Option<f64> {
    let i = curve.windows(2).position(|w| w[0].0 <= x && x <= w[1].0)?;
    let ((x0, y0), (x1, y1)) = (curve[i], curve[i + 1]);
    Some(if x1 > x0 {
        y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    } else {
        0.5 * (y0 + y1)
    })
}

/// The view of one series; `None` with one size or a run of fewer than three
/// checkpoints.
pub fn checkpoint_view(pts: &[(&Obs, f64)]) -> Option<CheckpointView> {
    let largest = pts.iter().map(|(o, _)| o.params).fold(f64::NAN, f64::max);
    let mut runs: Vec<&str> = pts
        .iter()
        .filter(|(o, _)| o.params == largest)
        .map(|(o, _)| o.run.as_str())
        .collect();
    runs.sort_unstable();
    runs.dedup();
    let count = |r: &str| pts.iter().filter(|(o, _)| o.run == r).count();
    let run = runs.into_iter().max_by_key(|r| count(r))?;
    let mut curve: Vec<(f64, f64)> = pts
        .iter()
        .filter(|(o, _)| o.run == run)
        .map(|(o, x)| (*x, o.value))
        .collect();
    if curve.len() < 3 {
        return None;
    }
    curve.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut others: Vec<&str> = pts
        .iter()
        .filter(|(o, _)| o.params != largest)
        .map(|(o, _)| o.run.as_str())
        .collect();
    others.sort_unstable();
    others.dedup();
    if others.is_empty() {
        return None;
    }
    let mut se = Vec::new();
    let finals: Vec<FinalPoint> = others
        .iter()
        .filter_map(|r| {
            let (o, x) = pts
                .iter()
                .filter(|(o, _)| o.run == *r)
                .max_by(|a, b| a.0.tokens.total_cmp(&b.0.tokens))?;
            let along_run = interpolate(&curve, *x);
            if along_run.is_some() {
                se.extend(o.stderr.filter(|s| s.is_finite()));
            }
            Some(FinalPoint {
                run: o.run.clone(),
                size: o.size.clone(),
                x: *x,
                observed: o.value,
                along_run,
            })
        })
        .collect();
    let diffs: Vec<f64> = finals
        .iter()
        .filter_map(|f| f.along_run.map(|a| (f.observed - a).abs()))
        .collect();
    let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    Some(CheckpointView {
        run: run.to_string(),
        mae: mean(&diffs),
        noise: mean(&se),
        finals,
    })
}

#[cfg(test)]
mod tests {
    use super::interpolate;

    #[test]
    fn interpolation_is_linear_between_neighbours_and_none_outside() {
        let c = [(1.0, 0.9), (2.0, 0.5), (4.0, 0.3)];
        assert_eq!(interpolate(&c, 1.5), Some(0.7));
        assert!((interpolate(&c, 3.0).unwrap() - 0.4).abs() < 1e-12);
        assert_eq!(interpolate(&c, 0.5), None);
        assert_eq!(interpolate(&c, 4.5), None);
    }
}
