//! The analysis fits against independent NumPy/SciPy fits of the same models on
//! synthetic data (reference/make_analysis_goldens.py → reference/goldens/analysis.json):
//! every fitted number agrees to at least three significant digits.

use emergent_analysis::{
    classify, fit_loss_curve, fit_scaling_law, Kind, Noise, ScalingPoint, Series,
};
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

#[test]
fn break_point_fit_matches_scipy() {
    let g = &golden()["threshold"];
    let s = Series {
        x: floats(&g["x"]),
        y: floats(&g["y"]),
        noise: floats(&g["stderr"])
            .into_iter()
            .map(Noise::StdErr)
            .collect(),
        baseline: Some(f(&g["truth"]["baseline"])),
    };
    let fit = classify(&s, 0, 1);
    let want = &g["fit"];
    close("eta", fit.threshold.unwrap(), f(&want["eta"]));
    close("slope", fit.slope.unwrap(), f(&want["slope"]));
    close("AIC flat", fit.aic_flat, f(&want["aic_flat"]));
    close("AIC break", fit.aic_break, f(&want["aic_break"]));
    close("AIC smooth", fit.aic_smooth, f(&want["aic_smooth"]));
    assert_eq!(fit.kind, Kind::Emergent);
}
