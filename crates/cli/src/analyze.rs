//! A first analysis: for each task and metric, how closely performance follows the
//! validation loss (Spearman's rank correlation over all checkpoints) and where it
//! stands relative to random guessing at the lowest and highest loss.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use anyhow::{Context, Result};
use emergent_store::{Point, Store};

fn ranks(xs: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..xs.len()).collect();
    idx.sort_by(|&a, &b| xs[a].total_cmp(&xs[b]));
    let mut r = vec![0.0; xs.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && xs[idx[j + 1]] == xs[idx[i]] {
            j += 1;
        }
        for k in i..=j {
            r[idx[k]] = (i + j) as f64 / 2.0 + 1.0;
        }
        i = j + 1;
    }
    r
}

/// Spearman's ρ: Pearson correlation of the ranks (ties get mean ranks).
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    let (rx, ry) = (ranks(x), ranks(y));
    let n = rx.len() as f64;
    let (mx, my) = (rx.iter().sum::<f64>() / n, ry.iter().sum::<f64>() / n);
    let cov: f64 = rx.iter().zip(&ry).map(|(a, b)| (a - mx) * (b - my)).sum();
    let vx: f64 = rx.iter().map(|a| (a - mx) * (a - mx)).sum();
    let vy: f64 = ry.iter().map(|b| (b - my) * (b - my)).sum();
    cov / (vx * vy).sqrt()
}

pub fn analyze(store: &Store, out: &Path) -> Result<()> {
    let points = store.points()?;
    let mut groups: BTreeMap<(String, u32, String), Vec<&Point>> = BTreeMap::new();
    for p in &points {
        groups
            .entry((p.task.clone(), p.shots, p.metric.clone()))
            .or_default()
            .push(p);
    }
    let dir = out.join("analysis");
    std::fs::create_dir_all(&dir)?;
    let mut csv = String::from("task,shots,metric,n_points,spearman_loss,baseline,value_at_highest_loss,value_at_lowest_loss\n");
    println!(
        "{:<14} {:>5} {:<26} {:>7} {:>10} {:>9} {:>12} {:>12}",
        "task", "shots", "metric", "points", "ρ(loss)", "random", "@max loss", "@min loss"
    );
    for ((task, shots, metric), ps) in &groups {
        let ok: Vec<&&Point> = ps.iter().filter(|p| p.value.is_finite()).collect();
        let loss: Vec<f64> = ok.iter().map(|p| p.val_loss).collect();
        let val: Vec<f64> = ok.iter().map(|p| p.value).collect();
        let rho = if ok.len() >= 3 {
            spearman(&loss, &val)
        } else {
            f64::NAN
        };
        let hi = ok
            .iter()
            .max_by(|a, b| a.val_loss.total_cmp(&b.val_loss))
            .map_or(f64::NAN, |p| p.value);
        let lo = ok
            .iter()
            .min_by(|a, b| a.val_loss.total_cmp(&b.val_loss))
            .map_or(f64::NAN, |p| p.value);
        let base = ps[0].baseline;
        println!("{task:<14} {shots:>5} {metric:<26} {:>7} {rho:>10.3} {base:>9.3} {hi:>12.4} {lo:>12.4}", ok.len());
        let _ = writeln!(
            csv,
            "{task},{shots},{metric},{},{rho},{base},{hi},{lo}",
            ok.len()
        );
    }
    let path = dir.join("summary.csv");
    std::fs::write(&path, csv).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn spearman_handles_ties_and_direction() {
        assert!((super::spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
        assert!(
            (super::spearman(&[1.0, 2.0, 3.0, 4.0], &[1.0, 1.0, 2.0, 3.0]) - 0.9486832980505138)
                .abs()
                < 1e-12
        );
    }
}
