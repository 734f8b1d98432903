//! Simulated studies with known truth: a task that is flat at chance above a loss η
//! and rises below it, and one that rises smoothly from the start. 200 data sets each:
//! the 95% interval must cover the true η in at least 90%, and fewer than 5% of the
//! smooth ones may be called emergent.

use emergent_analysis::{classify, Kind, Noise, Series};
use emergent_engine::Rng;

const SETS: usize = 200;
const DOCS: f64 = 400.0;
const BASELINE: f64 = 0.25;

/// 36 checkpoints (6 runs × 6) at losses spread over [1.8, 3.3], each scored on 400
/// documents: a proportion drawn binomially at `p(loss)`.
fn simulate(rng: &mut Rng, p: impl Fn(f64) -> f64) -> Series {
    let x: Vec<f64> = (0..36).map(|_| 1.8 + 1.5 * rng.uniform()).collect();
    let y = x
        .iter()
        .map(|&l| {
            let p = p(l);
            (0..DOCS as usize).filter(|_| rng.uniform() < p).count() as f64 / DOCS
        })
        .collect();
    Series {
        noise: vec![Noise::Binomial { n: DOCS }; x.len()],
        x,
        y,
        baseline: Some(BASELINE),
    }
}

#[test]
fn threshold_interval_covers_the_true_threshold() {
    let eta = 2.4;
    let mut rng = Rng::new(7);
    let (mut covered, mut emergent) = (0, 0);
    for k in 0..SETS {
        let s = simulate(&mut rng, |l| BASELINE + 0.5 * (eta - l).max(0.0));
        let fit = classify(&s, 200, k as u64);
        emergent += (fit.kind == Kind::Emergent) as usize;
        if let Some([lo, hi]) = fit.ci {
            covered += (lo <= eta && eta <= hi) as usize;
        }
    }
    eprintln!("emergent {emergent}/{SETS}, interval covers η in {covered}/{SETS}");
    assert!(covered * 10 >= SETS * 9, "covered {covered} of {SETS}");
}

#[test]
fn smooth_tasks_are_rarely_called_emergent() {
    let mut rng = Rng::new(11);
    let mut counts = [0usize; 4];
    for k in 0..SETS {
        let s = simulate(&mut rng, |l| 0.3 + 0.25 * (3.3 - l));
        let fit = classify(&s, 0, k as u64);
        counts[fit.kind as usize] += 1;
    }
    eprintln!("emergent, smooth, flat, insufficient: {counts:?}");
    assert!(counts[Kind::Emergent as usize] * 20 < SETS, "{counts:?}");
    assert!(counts[Kind::Smooth as usize] * 10 >= SETS * 9, "{counts:?}");
}

#[test]
fn chance_level_tasks_are_flat() {
    let mut rng = Rng::new(13);
    let mut flat = 0;
    for k in 0..SETS {
        let s = simulate(&mut rng, |_| BASELINE);
        flat += (classify(&s, 0, k as u64).kind == Kind::Flat) as usize;
    }
    assert!(flat * 10 >= SETS * 8, "flat {flat} of {SETS}");
}
