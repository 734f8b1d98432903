//! The stages run one at a time, as a job array runs them (prepare, then each run's
//! training and evaluation into its own database, then finish), end with what the
//! whole study in one call ends with; what they report adds up; a rerun redoes nothing.

mod common;

use common::{checkpoint_files, evaluations, said, tiny, Log, Seen};
use emergent_study::status::{status, RunState};
use emergent_study::{
    eval_run, finish, grid, prepare, run_study, select_runs, train_run, Lines, Stage,
};

#[test]
fn stages_one_at_a_time_equal_the_whole_study_and_a_rerun_redoes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let study = tiny();
    let (whole, staged) = (dir.path().join("whole"), dir.path().join("staged"));

    let log = Log::default();
    let findings = run_study(&study, &whole, false, &log.progress())
        .unwrap()
        .expect("findings");
    let seen = log.take();

    // The grid's count ends at its total; each stage begins and ends once.
    let runs = grid(&study, 260, None);
    assert_eq!(runs.len(), 2);
    let total = seen.iter().find_map(|s| match s {
        Seen::Begin(Stage::Train, t) => Some(*t),
        _ => None,
    });
    let last = seen.iter().rev().find_map(|s| match s {
        Seen::Advance(Stage::Train, d) => Some(*d),
        _ => None,
    });
    assert!(total.is_some() && total == last, "{total:?} {last:?}");
    for stage in [Stage::Train, Stage::Eval, Stage::Analyze, Stage::Report] {
        let begins = seen.iter().filter(|s| **s == Seen::End(stage)).count();
        assert_eq!(begins, 1, "{stage:?} ended {begins} times");
    }
    for (_, spec) in &runs {
        assert!(seen.contains(&Seen::RunBegin(spec.name.clone(), 0, spec.total_steps)));
        assert!(seen.contains(&Seen::RunStep(spec.name.clone(), spec.total_steps)));
    }
    assert_eq!(seen.iter().filter(|s| **s == Seen::Findings).count(), 1);
    let text = said(&seen);
    assert!(
        text.contains("train: 2 runs (1 sizes × 2 budgets), 0/2 runs done"),
        "{text}"
    );
    assert!(whole.join("report/index.html").exists());
    assert!(status(&whole).unwrap().done());

    // The stages alone, as the jobs of a job array run them.
    prepare(&study, &staged, &Lines).unwrap();
    let st = status(&staged).unwrap();
    assert!(st.runs.iter().all(|r| r.state == RunState::Pending));
    for run in select_runs(&study, &["1".into(), "0".into()])
        .unwrap()
        .unwrap()
    {
        assert_eq!(train_run(&study, &staged, &run, &Lines).unwrap(), None);
        eval_run(&study, &staged, &run, &Lines).unwrap();
        assert!(staged
            .join("runs")
            .join(&run)
            .join("results.sqlite")
            .exists());
    }
    assert!(
        !staged.join("results.sqlite").exists(),
        "a run's job wrote the study's database"
    );
    let written = finish(&study, &staged, &Lines).unwrap();
    assert_eq!(checkpoint_files(&whole), checkpoint_files(&staged));
    assert_eq!(evaluations(&whole), evaluations(&staged));
    assert_eq!(
        serde_json::to_value(&findings).unwrap(),
        serde_json::to_value(&written.findings).unwrap()
    );
    assert!(status(&staged).unwrap().done());

    // Everything is there: a rerun trains no step and scores nothing.
    run_study(&study, &whole, true, &log.progress()).unwrap();
    let seen = log.take();
    assert!(
        !seen.iter().any(|s| matches!(s, Seen::RunStep(..))),
        "{seen:?}"
    );
    let text = said(&seen);
    assert!(
        text.contains("2/2 runs done") && text.contains(" to score"),
        "{text}"
    );
    assert!(text.contains("cached, 0 to score"), "{text}");
}

#[test]
fn a_run_that_is_not_in_the_grid_is_named_with_the_grid() {
    let study = tiny();
    let e = select_runs(&study, &["5".into()]).unwrap_err().to_string();
    assert_eq!(e, "--run 5: the study has 2 runs (0 to 1)");
    let e = select_runs(&study, &["x".into()]).unwrap_err().to_string();
    assert!(
        e.contains("the study's runs: d32-l1-tok8K, d32-l1-tok16K"),
        "{e}"
    );
    assert_eq!(select_runs(&study, &[]).unwrap(), None);
}
