use serde::{Deserialize, Serialize};

/// One aggregate metric with its standard error over `n` documents.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MetricValue {
    pub metric: String,
    pub value: f64,
    pub stderr: f64,
    pub n: usize,
}

/// A task's results on one model.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TaskResult {
    pub task: String,
    pub shots: usize,
    pub baseline: f64,
    pub metrics: Vec<MetricValue>,
}

/// Mean and standard error of the mean (sample variance, as lm-evaluation-harness).
pub fn mean_stderr(xs: &[f64]) -> (f64, f64) {
    let n = xs.len();
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let mean = xs.iter().sum::<f64>() / n as f64;
    if n == 1 {
        return (mean, f64::NAN);
    }
    let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1) as f64;
    (mean, (var / n as f64).sqrt())
}

/// Per-document multiple-choice metrics from the choices' log-likelihoods.
pub struct ChoiceScores {
    pub acc: f64,
    pub acc_norm: f64,
    pub prob_correct: f64,
    pub brier: f64,
}

/// Index of the largest value; ties go to the lowest index.
pub fn argmax(xs: &[f64]) -> usize {
    let mut best = 0;
    for (i, &x) in xs.iter().enumerate() {
        if x > xs[best] {
            best = i;
        }
    }
    best
}

pub fn choice_scores(lls: &[f64], choices: &[String], gold: usize) -> ChoiceScores {
    let norm: Vec<f64> = lls
        .iter()
        .zip(choices)
        .map(|(ll, c)| ll / c.chars().count().max(1) as f64)
        .collect();
    let max = lls.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let z: f64 = lls.iter().map(|l| (l - max).exp()).sum();
    let probs: Vec<f64> = lls.iter().map(|l| (l - max).exp() / z).collect();
    let brier = probs
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let y = if i == gold { 1.0 } else { 0.0 };
            (p - y) * (p - y)
        })
        .sum();
    ChoiceScores {
        acc: (argmax(lls) == gold) as u8 as f64,
        acc_norm: (argmax(&norm) == gold) as u8 as f64,
        prob_correct: probs[gold],
        brier,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_follow_definitions() {
        let s = choice_scores(
            &[-1.0, -1.0, -3.0],
            &["a".into(), "bb".into(), "c".into()],
            1,
        );
        assert_eq!(s.acc, 0.0, "a tie goes to the lowest index");
        assert_eq!(s.acc_norm, 1.0);
        let z = 2.0 + (-2.0f64).exp();
        assert!((s.prob_correct - 1.0 / z).abs() < 1e-12);
        let p = [1.0 / z, 1.0 / z, (-2.0f64).exp() / z];
        assert!((s.brier - (p[0] * p[0] + (1.0 - p[1]).powi(2) + p[2] * p[2])).abs() < 1e-12);
        let (m, se) = mean_stderr(&[1.0, 0.0, 1.0, 0.0]);
        assert_eq!(m, 0.5);
        assert!((se - (1.0f64 / 3.0 / 4.0).sqrt()).abs() < 1e-12);
    }
}
