//! How much of performance does loss alone explain? A monotone (isotonic) fit of
//! performance on loss, and the same with model size and token count added linearly
//! (fitted by backfitting): the paper's claim is that the second adds almost nothing.

/// The least-squares monotone fit of `y` on `x` (pool-adjacent-violators), in the
/// original order; non-decreasing in `x` when `increasing`, else non-increasing.
/// Points with equal `x` share one value.
pub fn isotonic(x: &[f64], y: &[f64], increasing: bool) -> Vec<f64> {
    let mut order: Vec<usize> = (0..x.len()).collect();
    order.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let sign = if increasing { 1.0 } else { -1.0 };
    // Blocks of (sum, count); equal x start pooled.
    let mut blocks: Vec<(f64, f64, usize)> = Vec::new(); // (sum, weight, points)
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        let (mut sum, mut cnt) = (0.0, 0.0);
        while j < order.len() && x[order[j]] == x[order[i]] {
            sum += sign * y[order[j]];
            cnt += 1.0;
            j += 1;
        }
        blocks.push((sum, cnt, j - i));
        while blocks.len() > 1 {
            let n = blocks.len();
            let (a, b) = (blocks[n - 2], blocks[n - 1]);
            if a.0 / a.1 <= b.0 / b.1 {
                break;
            }
            blocks.truncate(n - 2);
            blocks.push((a.0 + b.0, a.1 + b.1, a.2 + b.2));
        }
        i = j;
    }
    let mut fit = vec![0.0; x.len()];
    let mut k = 0;
    for (sum, cnt, points) in blocks {
        for _ in 0..points {
            fit[order[k]] = sign * sum / cnt;
            k += 1;
        }
    }
    fit
}

fn sse(y: &[f64], f: &[f64]) -> f64 {
    y.iter().zip(f).map(|(a, b)| (a - b) * (a - b)).sum()
}

/// R² of the best monotone fit on loss alone, and of the monotone fit plus a linear
/// term in each covariate (e.g. log parameters, log tokens). `None` without variance.
pub fn r2_loss_and_size(loss: &[f64], y: &[f64], covariates: &[Vec<f64>]) -> Option<(f64, f64)> {
    let n = y.len();
    let mean = y.iter().sum::<f64>() / n as f64;
    let sst: f64 = y.iter().map(|v| (v - mean) * (v - mean)).sum();
    if n < 3 || sst <= 0.0 {
        return None;
    }
    let mut best: Option<(f64, f64)> = None;
    for increasing in [true, false] {
        let f = isotonic(loss, y, increasing);
        let r2 = 1.0 - sse(y, &f) / sst;
        let r2_size = 1.0 - backfit(loss, y, covariates, increasing) / sst;
        if best.is_none_or(|(b, _)| r2 > b) {
            best = Some((r2, r2_size.max(r2)));
        }
    }
    best
}

/// Residual sum of squares of `y ≈ iso(loss) + Σ βⱼ·zⱼ`, alternating the two fits.
fn backfit(loss: &[f64], y: &[f64], z: &[Vec<f64>], increasing: bool) -> f64 {
    let n = y.len();
    let centred: Vec<Vec<f64>> = z
        .iter()
        .map(|c| {
            let m = c.iter().sum::<f64>() / n as f64;
            c.iter().map(|v| v - m).collect()
        })
        .filter(|c: &Vec<f64>| c.iter().any(|v| v.abs() > 1e-12))
        .collect();
    let mut linear = vec![0.0; n];
    let mut f = vec![0.0; n];
    for _ in 0..50 {
        let partial: Vec<f64> = (0..n).map(|i| y[i] - linear[i]).collect();
        f = isotonic(loss, &partial, increasing);
        let rest: Vec<f64> = (0..n).map(|i| y[i] - f[i]).collect();
        linear = ols_fit(&centred, &rest);
    }
    let total: Vec<f64> = (0..n).map(|i| f[i] + linear[i]).collect();
    sse(y, &total)
}

/// Fitted values of the least-squares regression of `r` on centred columns `z`
/// (plus an intercept), by Gram–Schmidt.
fn ols_fit(z: &[Vec<f64>], r: &[f64]) -> Vec<f64> {
    let n = r.len();
    let m = r.iter().sum::<f64>() / n as f64;
    let mut fit = vec![m; n];
    let mut basis: Vec<Vec<f64>> = Vec::new();
    for c in z {
        let mut v = c.clone();
        for b in &basis {
            let dot: f64 = v.iter().zip(b).map(|(a, b)| a * b).sum();
            v.iter_mut().zip(b).for_each(|(a, b)| *a -= dot * b);
        }
        let norm = v.iter().map(|a| a * a).sum::<f64>().sqrt();
        if norm > 1e-9 {
            v.iter_mut().for_each(|a| *a /= norm);
            basis.push(v);
        }
    }
    for b in &basis {
        let dot: f64 = r.iter().zip(b).map(|(a, b)| a * b).sum();
        fit.iter_mut().zip(b).for_each(|(f, b)| *f += dot * b);
    }
    fit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pava_pools_violations() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        let y = [1.0, 3.0, 2.0, 4.0, 3.5];
        assert_eq!(isotonic(&x, &y, true), [1.0, 2.5, 2.5, 3.75, 3.75]);
        let d = isotonic(&x, &y, false);
        assert!(d.windows(2).all(|w| w[0] >= w[1]));
    }

    #[test]
    fn size_adds_nothing_when_loss_explains_all() {
        let loss: Vec<f64> = (0..40).map(|i| 2.0 + i as f64 * 0.05).collect();
        let size: Vec<f64> = (0..40).map(|i| (i % 5) as f64).collect();
        let y: Vec<f64> = loss.iter().map(|l| (4.0 - l).max(0.0).powi(2)).collect();
        let (r2, r2s) = r2_loss_and_size(&loss, &y, std::slice::from_ref(&size)).unwrap();
        assert!(r2 > 0.999 && r2s - r2 < 1e-9, "{r2} {r2s}");
        // When size does matter, adding it explains the rest.
        let y2: Vec<f64> = y.iter().zip(&size).map(|(a, s)| a + 0.3 * s).collect();
        let (r2, r2s) = r2_loss_and_size(&loss, &y2, &[size]).unwrap();
        assert!(r2s > 0.999 && r2s - r2 > 0.01, "{r2} {r2s}");
    }
}
