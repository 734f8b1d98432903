//! `emergent status DIR`: where a study stands (`emergent_study::status`), printed.

use std::path::Path;

use anyhow::Result;
use emergent_study::status::{status as study_status, RunState};

/// Prints the study's state and returns whether everything is done.
pub fn status(dir: &Path) -> Result<bool> {
    let st = study_status(dir)?;
    println!("study: {} ({})", st.study.name, dir.display());
    let tasks = st.study.eval.tasks.len();
    if !st.study.checkpoints.is_empty() {
        let scored = st.existing.iter().filter(|c| c.loss.is_some()).count();
        println!(
            "checkpoints: {} ({scored} with a validation loss)",
            st.existing.len()
        );
        for c in &st.existing {
            let loss = c
                .loss
                .map_or("loss not scored".into(), |l| format!("loss {l:.4}"));
            println!(
                "  {:<32} {loss:<16} tasks {} of {tasks}  {}",
                c.checkpoint, c.tasks_done, c.path
            );
        }
    } else {
        print_runs(&st);
    }
    println!(
        "evaluations: {} of {} ({} checkpoints × {tasks} tasks)",
        st.evaluated,
        st.checkpoints * tasks,
        st.checkpoints
    );
    match &st.report {
        Some(report) => println!("report: {}", report.display()),
        None => println!("report: not written yet"),
    }
    Ok(st.done())
}

/// Each run of a trained grid, with the counts of each state.
fn print_runs(st: &emergent_study::status::StudyStatus) {
    let mut counts = [0usize; 5];
    let mut lines = Vec::new();
    for r in &st.runs {
        let n = r.total_steps;
        let (k, text) = match &r.state {
            RunState::Done => (0, format!("done        {n} steps")),
            RunState::Training { step } => (1, format!("training    step {step} of {n}")),
            RunState::Stopped { step } => (
                2,
                format!("stopped     step {step} of {n} (the next run resumes it)"),
            ),
            RunState::Failed { step, error } => {
                (3, format!("failed      step {step} of {n}: {error}"))
            }
            RunState::Pending => (4, "pending".to_string()),
        };
        counts[k] += 1;
        lines.push(format!("  {:<24} {text}", r.run));
    }
    println!(
        "runs: {} ({} done, {} training, {} stopped, {} failed, {} pending)",
        st.runs.len(),
        counts[0],
        counts[1],
        counts[2],
        counts[3],
        counts[4]
    );
    for l in lines {
        println!("{l}");
    }
}
