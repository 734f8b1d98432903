//! Statistics of the paper's findings, independent of where the numbers come from:
//! break-point (threshold) fits with bootstrap intervals and the emergent/smooth/flat
//! verdict, and how much of performance loss alone explains.

mod isotonic;
mod threshold;

pub use isotonic::{isotonic, r2_loss_and_size};
pub use threshold::{classify, Kind, Noise, Series, ThresholdFit};
