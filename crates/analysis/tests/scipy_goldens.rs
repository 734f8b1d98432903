//! The analysis fits against independent NumPy/SciPy fits of the same models on
//! synthetic data (reference/make_analysis_goldens.py → reference/goldens/analysis.json):
//! every fitted number agrees to at least three significant digits.

use emergent_analysis::{fit_loss_curve, fit_scaling_law, Data, Fit, ScalingPoint, Shape};
use serde_json::Value;

fn golden() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../reference/goldens/analysis.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(f).collect()
}

fn close(name: &str, ours: f64, scipy: f64) {
    let rel = (ours - scipy).abs() / scipy.abs();
    assert!(
        rel < 5e-4,
        "{name}: emergent {ours} vs SciPy {scipy} (relative {rel:.1e})"
    );
}

#[test]
fn scaling_law_matches_scipy() {
    let g = &golden()["scaling"];
    let points: Vec<ScalingPoint> = g["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| ScalingPoint {
            params: f(&p["params"]),
            tokens: f(&p["tokens"]),
            loss: f(&p["loss"]),
        })
        .collect();
    let fit = fit_scaling_law(&points, 20, 7).unwrap();
    let want = &g["fit"];
    close("E", fit.e, f(&want["e"]));
    close("A", fit.a, f(&want["a"]));
    close("B", fit.b, f(&want["b"]));
    close("alpha", fit.alpha, f(&want["alpha"]));
    close("beta", fit.beta, f(&want["beta"]));
    assert!(fit.objective <= f(&want["objective"]) * (1.0 + 1e-6));
    let (lo, hi) = (fit.alpha_ci.unwrap()[0], fit.alpha_ci.unwrap()[1]);
    assert!(
        lo <= fit.alpha && fit.alpha <= hi,
        "{lo} {} {hi}",
        fit.alpha
    );
}

#[test]
fn loss_curve_matches_scipy() {
    let g = &golden()["loss_curve"];
    let pts: Vec<(f64, f64)> = floats(&g["tokens"])
        .into_iter()
        .zip(floats(&g["loss"]))
        .collect();
    let c = fit_loss_curve(&pts).unwrap();
    let want = &g["fit"];
    close("E", c.e, f(&want["e"]));
    close("B", c.b, f(&want["b"]));
    close("beta", c.beta, f(&want["beta"]));
}

fn fit(x: &[f64], y: &[f64], se: &[f64], baseline: Option<f64>, shape: Shape) -> Fit {
    let w: Vec<f64> = se.iter().map(|s| 1.0 / (s * s)).collect();
    Data {
        x,
        y,
        w: &w,
        baseline,
    }
    .fit(shape)
    .unwrap()
}

#[test]
fn flat_and_quadratic_fits_match_numpy() {
    let g = &golden()["threshold"];
    let (x, y, se) = (floats(&g["x"]), floats(&g["y"]), floats(&g["stderr"]));
    let want = &g["fit"];
    let base = f(&g["truth"]["baseline"]);
    close(
        "χ² flat",
        fit(&x, &y, &se, Some(base), Shape::Flat).chi2,
        f(&want["aic_flat"]),
    );
    close(
        "χ² quadratic",
        fit(&x, &y, &se, None, Shape::Quadratic).chi2,
        f(&want["aic_smooth"]) - 6.0,
    );
}

#[test]
fn every_nonlinear_shape_reaches_scipys_minimum() {
    let g = &golden()["shapes"];
    let (x, se) = (floats(&g["x"]), floats(&g["stderr"]));
    for (set, data) in g["sets"].as_object().unwrap() {
        let y = floats(&data["y"]);
        for (name, shape) in [
            ("break", Shape::Break),
            ("power", Shape::Power),
            ("exponential", Shape::Exponential),
            ("sigmoid", Shape::Sigmoid),
        ] {
            let ours = fit(&x, &y, &se, None, shape);
            let scipy = f(&data["fit"][name]["chi2"]);
            // The grid and golden-section search must find least_squares' minimum
            // from its many starts (a few parts in 10⁴: its tolerance and ours).
            assert!(
                ours.chi2 <= scipy * (1.0 + 1e-4) + 1e-9,
                "{set} {name}: χ² {} vs SciPy {scipy}",
                ours.chi2
            );
            eprintln!("{set} {name}: χ² {} vs SciPy {scipy}", ours.chi2);
        }
    }
    let brk = fit(
        &x,
        &floats(&g["sets"]["break_data"]["y"]),
        &se,
        None,
        Shape::Break,
    );
    let p = floats(&g["sets"]["break_data"]["fit"]["break"]["params"]);
    close("η", brk.eta().unwrap(), p[2]);
    close("slope", brk.slope(), p[1]);
    close("level", brk.level(), p[0]);
}

/// Pearson's and Spearman's correlation against scipy.stats
/// (reference/make_correlation_goldens.py → reference/goldens/correlation.json).
#[test]
fn correlations_match_scipy() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../reference/goldens/correlation.json"
    );
    let g: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for case in ["ties", "noisy", "hinge"] {
        let c = &g[case];
        let (x, y) = (floats(&c["x"]), floats(&c["y"]));
        for (name, ours, theirs) in [
            ("pearson", emergent_analysis::pearson(&x, &y), &c["pearson"]),
            (
                "spearman",
                emergent_analysis::spearman(&x, &y),
                &c["spearman"],
            ),
        ] {
            let (ours, theirs) = (ours.unwrap(), f(theirs));
            assert!(
                (ours - theirs).abs() < 1e-12,
                "{case} {name}: emergent {ours} vs SciPy {theirs}"
            );
        }
    }
}
