//! One training run: a model of one size on one token budget, AdamW with warm-up
//! and cosine decay, checkpoints on a schedule with validation loss at each, and an
//! exact resume from the last complete checkpoint or from where a signal stopped it.

pub mod bench;
mod checkpoint;
mod data;
mod run;
pub mod stop;

pub use checkpoint::{
    latest_checkpoint, list_checkpoints, read_meta, resume_point, step_dir_name, CheckpointMeta,
    TrainerState, RESUME_DIR,
};
pub use data::{validation_loss, WindowSampler};
pub use run::{train, Execution, RunSpec, StopAfter, TrainEvent, Validation};

/// log-spaced checkpoint steps from `first` to `total` (both included), `count` of them
/// at most; duplicates after rounding are merged.
pub fn log_spaced_steps(first: u64, total: u64, count: usize) -> Vec<u64> {
    let first = first.clamp(1, total.max(1));
    if count <= 1 || first >= total {
        return vec![total];
    }
    let ratio = total as f64 / first as f64;
    let mut steps: Vec<u64> = (0..count)
        .map(|i| (first as f64 * ratio.powf(i as f64 / (count - 1) as f64)).round() as u64)
        .collect();
    *steps.last_mut().unwrap() = total;
    steps.dedup();
    steps
}

#[cfg(test)]
mod tests {
    #[test]
    fn checkpoints_are_log_spaced_and_end_at_the_last_step() {
        assert_eq!(super::log_spaced_steps(10, 1000, 3), vec![10, 100, 1000]);
        assert_eq!(super::log_spaced_steps(1, 4, 8), vec![1, 2, 3, 4]);
        assert_eq!(super::log_spaced_steps(50, 20, 4), vec![20]);
    }
}
