//! What the analysis finds of one series: its verdict and everything behind it
//! (`TaskFinding`), and the curves drawn for it. Filled by `findings.rs`; read by the
//! claims, the report and `findings.json`.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::checkpoints::CheckpointView;
use crate::forecast::Forecast;
use crate::robust::{Extrapolation, NoiseModel, Stability};
use crate::shapes::Shape;
use crate::threshold::{Chance, Kind};

/// One task and metric.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TaskFinding {
    pub task: String,
    pub shots: u32,
    pub metric: String,
    pub kind: Kind,
    /// Why the verdict is what it is, where a rule decided it (uncertain, smooth by
    /// the level above η, insufficient).
    pub reason: Option<String>,
    /// η in the x axis's units (e.g. a loss), emergent only: the onset, with its 95%
    /// resampling interval.
    pub threshold: Option<f64>,
    pub ci: Option<[f64; 2]>,
    /// The onset whatever the verdict (where the evidence-weighted curve leaves the
    /// random-guess band), and its interval.
    pub onset: Option<f64>,
    pub onset_ci: Option<[f64; 2]>,
    /// The share of the range after the warm-up that lies above the onset (the
    /// plateau), and the share from the onset to half the rise (small: abrupt).
    pub plateau_share: Option<f64>,
    pub half_rise_span: Option<f64>,
    /// Checkpoints in the warm-up, set aside by the verdict.
    pub n_warmup: usize,
    /// The rising shape with the most evidence, and every rising shape's Akaike
    /// weight: the shape is reported, not judged.
    pub shape: Option<Shape>,
    pub weights: BTreeMap<String, f64>,
    /// The break-point model's η whatever the verdict, and its interval.
    pub break_eta: Option<f64>,
    pub break_ci: Option<[f64; 2]>,
    pub baseline: Option<f64>,
    /// The smallest and largest x of the series' checkpoints.
    pub x_range: Option<[f64; 2]>,
    /// Mean performance of the furthest fifth of the checkpoints along x minus that of
    /// the earliest fifth, with its standard error: whether the task moved at all.
    pub gain: Option<[f64; 2]>,
    /// R² of performance on x alone (monotone fit) and with log size and log tokens.
    pub r2_loss: Option<f64>,
    pub r2_loss_size: Option<f64>,
    /// Pearson's and Spearman's correlation of performance with x (the paper's Table 2,
    /// against loss: negative where performance rises as loss falls).
    pub pearson: Option<f64>,
    pub spearman: Option<f64>,
    /// R² of performance on training compute (6·N·D) alone, monotone: the paper's
    /// negative control. Sizes that fall on one curve against loss and not against
    /// compute give `r2_loss` well above it.
    pub r2_compute: Option<f64>,
    pub n_points: usize,
    pub n_runs: usize,
    /// Checkpoints and runs on the plateau (above the onset, after the warm-up) and
    /// below the onset.
    pub n_above: usize,
    pub n_below: usize,
    pub runs_above: usize,
    pub runs_below: usize,
    /// Performance change per unit of the fitting coordinate below η.
    pub slope: Option<f64>,
    /// The plateau's mean level, its standard error under the noise model, and whether
    /// it is no better than the baseline plus the margin (`chance`).
    pub level: Option<f64>,
    pub level_se: Option<f64>,
    pub chance: Option<Chance>,
    /// The margin of the baseline the level was judged by: the rules' margin, or a
    /// quarter of how far the series gets past chance when that is smaller.
    pub margin: f64,
    /// Standard deviation between checkpoints beyond their sampling noise.
    pub extra_sd: Option<f64>,
    pub noise_model: NoiseModel,
    /// AIC (χ² + 2k) of every shape fitted, and the best smooth one.
    pub aic: BTreeMap<String, f64>,
    pub best_smooth: Option<Shape>,
    pub stability: Option<Stability>,
    /// The smooth family fitted on the upper part of the range predicting the rest;
    /// `cut` in the x axis's units.
    pub extrapolation: Option<Extrapolation>,
    /// The largest size's checkpoints forecast from the other runs' (`forecast.rs`).
    pub forecast: Option<Forecast>,
    /// The largest size's checkpoints against every other size's final checkpoint
    /// (`checkpoints.rs`).
    pub checkpoint_view: Option<CheckpointView>,
    /// R² of performance on each domain's validation loss alone (monotone fit), where
    /// every checkpoint of the series has that domain's loss: which loss predicts the
    /// ability.
    pub domain_r2: BTreeMap<String, f64>,
    /// Mean, over x bins holding two or more sizes, of the largest minus the smallest
    /// per-size mean; and the mean standard error of those per-size means.
    pub size_spread: Option<f64>,
    pub size_spread_noise: Option<f64>,
    /// The model size and compute (at `tokens_per_param`) whose loss is η, with the
    /// sizes at η's interval ends.
    pub threshold_params: Option<f64>,
    pub threshold_params_ci: Option<[f64; 2]>,
    pub threshold_flops: Option<f64>,
    pub threshold_flops_ci: Option<[f64; 2]>,
    /// The averaged curve, the break model and the best smooth model, for drawing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub curves: Vec<FittedCurve>,
}

/// A fitted model sampled across its series' range, in the axis's units.
#[derive(Debug, Clone, Serialize)]
pub struct FittedCurve {
    /// `break` or the smooth shape's name.
    pub model: String,
    pub role: CurveRole,
    pub points: Vec<[f64; 2]>,
}

/// What a drawn curve is to the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CurveRole {
    /// The rising shapes weighted by their evidence: the onset is read from it.
    Average,
    /// The break-point model.
    Break,
    /// The best smooth shape.
    Smooth,
}

impl TaskFinding {
    /// The domain whose loss explains the most of this task, with its R².
    pub fn best_domain(&self) -> Option<(&str, f64)> {
        self.domain_r2
            .iter()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(d, r)| (d.as_str(), *r))
    }

    pub fn aic_of(&self, shape: Shape) -> Option<f64> {
        self.aic.get(shape.name()).copied()
    }
}
