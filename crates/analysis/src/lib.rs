//! Statistics of the paper's findings, independent of where the numbers come from:
//! break-point (threshold) fits with bootstrap intervals and the emergent/smooth/flat
//! verdict, how much of performance loss alone explains, and the scaling law that
//! turns a loss threshold into a model size and compute; and the paper's claims judged
//! on those (`claims`).

mod axis;
mod checkpoints;
pub mod claims;
mod correlation;
mod finding;
mod findings;
mod forecast;
mod input;
mod isotonic;
mod matched;
mod onset;
mod robust;
mod scaling;
mod series;
mod shapes;
mod threshold;

pub use axis::{XAxis, BITS_PER_BYTE, NATS_PER_TOKEN};
pub use checkpoints::{checkpoint_view, CheckpointView, FinalPoint};
pub use correlation::{pearson, spearman};
pub use finding::{CurveRole, FittedCurve, TaskFinding};
pub use findings::{
    analyze, analyze_with_progress, csv_field, curve_from_obs, CurvePoint, Findings, Options,
    Prediction, SpreadBin, SCHEMA_VERSION,
};
pub use forecast::{forecast, Forecast, ForecastPoint, Predicted, SeriesForecast};
pub use input::{
    human_count, known_baseline, read_csv, read_lmeval, read_lmeval_placed, read_samples,
    DocScores, InputError, LmevalPlacement, Loaded, Obs,
};
pub use isotonic::{isotonic, r2_loss_and_size};
pub use matched::{matched_effect, Effect};
pub use onset::{find as find_onset, Average, Leaves, Onset};
pub use robust::{judge, Extrapolation, NoiseModel, Stability, Verdict};
pub use scaling::{fit_loss_curve, fit_scaling_law, LossCurve, ScalingFit, ScalingPoint};
pub use series::{series, SeriesKey};
pub use shapes::{Data, Fit, Frame, Shape};
pub use threshold::{fit_once, gain, Chance, Kind, Noise, Rules, Series, Single, MARGIN_FRACTION};
