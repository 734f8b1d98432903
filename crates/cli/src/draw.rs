//! Progress on the terminal: the study's events ([`emergent_study::Event`]) drawn as
//! indicatif bars (one for the grid, one per run in training, one per later stage),
//! and as a line every half minute where stderr is not a terminal (a log file, a
//! cluster job's output).

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;

use emergent_study::{Event, Progress, Stage};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

/// A progress bar with `template` (of unknown length when `len` is 0). On a terminal
/// it redraws in place; elsewhere (a log file, a cluster job's output) indicatif draws
/// nothing, so a line with the bar's prefix, position, message and time left is
/// printed every [`LOG_EVERY`] instead.
pub fn bar(len: u64, template: &str) -> ProgressBar {
    let pb = if len == 0 {
        ProgressBar::no_length()
    } else {
        ProgressBar::new(len)
    };
    pb.set_style(
        ProgressStyle::with_template(template)
            .unwrap()
            .progress_chars("=> "),
    );
    if !std::io::stderr().is_terminal() {
        log_progress(pb.downgrade());
    }
    pb
}

/// A bar per file fetched from the Hub, in bytes.
#[derive(Default)]
pub struct FetchBar {
    current: Option<(String, ProgressBar)>,
    /// The study's bars, when it is drawn among them.
    multi: Option<MultiProgress>,
}

impl FetchBar {
    pub fn update(&mut self, file: &str, done: u64, total: u64) {
        if self.current.as_ref().is_none_or(|(f, _)| f != file) {
            let mut pb = bar(
                total,
                "fetch {prefix} [{bar:30}] {bytes}/{total_bytes}, {bytes_per_sec}, eta {eta}",
            );
            if let Some(m) = &self.multi {
                pb = m.add(pb);
            }
            pb.set_prefix(file.to_string());
            self.current = Some((file.to_string(), pb));
        }
        let (_, pb) = self.current.as_ref().expect("made above");
        pb.set_position(done);
        if done >= total {
            pb.finish_and_clear();
            self.current = None;
        }
    }
}

/// How often a bar prints its line when stderr is not a terminal.
const LOG_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

fn log_progress(weak: indicatif::WeakProgressBar) {
    std::thread::spawn(move || {
        let mut since = std::time::Instant::now();
        loop {
            std::thread::sleep(std::time::Duration::from_millis(500));
            let Some(pb) = weak.upgrade() else { return };
            if pb.is_finished() {
                return;
            }
            if since.elapsed() < LOG_EVERY {
                continue;
            }
            since = std::time::Instant::now();
            let elapsed = indicatif::HumanDuration(pb.elapsed());
            match pb.length() {
                Some(len) if pb.position() > 0 => {
                    let percent = 100.0 * pb.position() as f64 / len.max(1) as f64;
                    eprintln!(
                        "{} {percent:.0}% {} after {elapsed}, eta {}",
                        pb.prefix(),
                        pb.message(),
                        indicatif::HumanDuration(pb.eta())
                    );
                }
                Some(_) => eprintln!("{} starting: {} after {elapsed}", pb.prefix(), pb.message()),
                None => eprintln!(
                    "{} {} {} after {elapsed}",
                    pb.prefix(),
                    pb.position(),
                    pb.message()
                ),
            }
        }
    });
}

fn template(stage: Stage) -> (&'static str, &'static str) {
    match stage {
        Stage::Train => (
            "train",
            "train [{elapsed_precise}] [{bar:30}] {percent}% of the grid's FLOPs, {msg} eta {eta}",
        ),
        Stage::Eval => (
            "eval",
            "eval  [{elapsed_precise}] [{bar:30}] {percent}% {msg} eta {eta}",
        ),
        Stage::Analyze => (
            "analyze",
            "analyze [{elapsed_precise}] [{bar:30}] {pos}/{len} series eta {eta}",
        ),
        Stage::Report => ("report", "report [{elapsed_precise}] {pos} {msg}"),
    }
}

/// The bars of a study's stages and runs.
pub struct Bars {
    multi: MultiProgress,
    stages: Mutex<HashMap<Stage, ProgressBar>>,
    runs: Mutex<HashMap<String, ProgressBar>>,
    fetch: Mutex<FetchBar>,
}

impl Bars {
    pub fn new() -> Bars {
        let multi = MultiProgress::new();
        Bars {
            fetch: Mutex::new(FetchBar {
                current: None,
                multi: Some(multi.clone()),
            }),
            multi,
            stages: Mutex::new(HashMap::new()),
            runs: Mutex::new(HashMap::new()),
        }
    }

    /// A line above the bars; plainly on stderr where they are hidden (stderr not a
    /// terminal), since hidden bars drop what they are asked to print.
    fn say(&self, line: &str) {
        if self.multi.is_hidden() || self.multi.println(line).is_err() {
            eprintln!("{line}");
        }
    }
}

impl Progress for Bars {
    fn event(&self, event: Event<'_>) {
        let mut stages = self.stages.lock().unwrap_or_else(|e| e.into_inner());
        let mut runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            Event::Say(line) => self.say(line),
            Event::Begin { stage, total } => {
                let (prefix, style) = template(stage);
                let pb = self.multi.add(bar(total, style));
                pb.set_prefix(prefix);
                stages.insert(stage, pb);
            }
            Event::Advance { stage, done, note } => {
                if let Some(pb) = stages.get(&stage) {
                    pb.set_position(done);
                    if !note.is_empty() {
                        pb.set_message(note.to_string());
                    }
                }
            }
            Event::End { stage } => match stages.remove(&stage) {
                // The grid's bar stays, with its time: what training took.
                Some(pb) if stage == Stage::Train => pb.finish(),
                Some(pb) => pb.finish_and_clear(),
                None => {}
            },
            Event::RunBegin {
                run,
                step,
                total_steps,
            } => {
                let pb = self.multi.add(bar(
                    total_steps,
                    "{prefix:>16} [{bar:30}] {pos}/{len} steps {msg} eta {eta}",
                ));
                pb.set_prefix(run.to_string());
                pb.set_position(step);
                runs.insert(run.to_string(), pb);
            }
            Event::RunStep {
                run,
                step,
                loss,
                tokens_per_s,
            } => {
                if let Some(pb) = runs.get(run) {
                    pb.set_position(step);
                    pb.set_message(format!("loss {loss:.3}  {tokens_per_s:.0} tok/s"));
                }
            }
            Event::RunEnd { run } => {
                if let Some(pb) = runs.remove(run) {
                    pb.finish_and_clear();
                }
            }
            Event::Findings(f) => crate::summary::print_summary(f),
            Event::Fetch { file, done, total } => self
                .fetch
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .update(file, done, total),
        }
    }
}
