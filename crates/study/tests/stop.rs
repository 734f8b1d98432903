//! A stop asked for mid-run (a signal, a cluster's preemption) keeps the run's state
//! where it stopped; the next start resumes there and ends bit-identical to a run never
//! stopped. Alone in its test binary: a stop request is process-wide.

mod common;

use common::{checkpoint_files, evaluations, tiny, Log, Seen};
use emergent_study::status::{status, RunState};
use emergent_study::{run_study, Event, Lines, Stage};
use emergent_train::stop;

#[test]
fn a_study_stopped_mid_run_resumes_where_it_stopped_bit_identically() {
    let dir = tempfile::tempdir().unwrap();
    let study = tiny();
    let (plain, stopped) = (dir.path().join("plain"), dir.path().join("stopped"));
    run_study(&study, &plain, true, &Lines).unwrap();

    // Stop the second run at step 50 (between its checkpoints).
    let second = emergent_study::grid(&study, 260, None)[1].1.name.clone();
    let ask = |e: Event<'_>| {
        if let Event::RunStep { run, step: 50, .. } = e {
            if run == second {
                stop::request();
            }
        }
    };
    let e = run_study(&study, &stopped, true, &ask).unwrap_err();
    assert!(e.is::<stop::Interrupted>(), "{e:#}");
    let run_dir = stopped.join("runs").join(&second);
    assert_eq!(
        emergent_train::resume_point(&run_dir).map(|(_, s)| s),
        Some(50)
    );
    let st = status(&stopped).unwrap();
    assert_eq!(st.runs[0].state, RunState::Done);
    assert_eq!(st.runs[1].state, RunState::Stopped { step: 50 });

    let log = Log::default();
    run_study(&study, &stopped, true, &log.progress()).unwrap();
    let seen = log.take();
    let begun: Vec<u64> = seen
        .iter()
        .filter_map(|s| match s {
            Seen::RunBegin(r, step, _) if *r == second => Some(*step),
            _ => None,
        })
        .collect();
    assert_eq!(begun, [50]);
    assert!(seen.contains(&Seen::End(Stage::Eval)));
    assert_eq!(checkpoint_files(&plain), checkpoint_files(&stopped));
    assert_eq!(evaluations(&plain), evaluations(&stopped));
}
