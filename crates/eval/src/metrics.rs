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
    #[serde(default)]
    pub n_docs: usize,
    /// Documents whose prompt was left-truncated to fit the context.
    #[serde(default)]
    pub truncated: usize,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_stderr_follow_lm_eval() {
        assert_eq!(
            argmax(&[-1.0, -1.0, -3.0]),
            0,
            "a tie goes to the lowest index"
        );
        let (m, se) = mean_stderr(&[1.0, 0.0, 1.0, 0.0]);
        assert_eq!(m, 0.5);
        assert!((se - (1.0f64 / 3.0 / 4.0).sqrt()).abs() < 1e-12);
    }
}
