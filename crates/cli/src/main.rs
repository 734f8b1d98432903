//! `emergent`: at what pre-training loss does an ability appear?

mod analyze;
mod bench;
mod bench_train;
mod draw;
mod eval_cmd;
mod interrupt;
mod slurm;
mod status;
mod summary;
use emergent_study as study;
mod term;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use draw::Bars;

#[derive(Parser)]
#[command(
    name = "emergent",
    version,
    about = "At what pre-training loss does an ability appear? Corpus → tokenizer → a grid of LLaMA models → checkpoints with validation loss → tasks → report."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct StudyArgs {
    /// The study file (TOML); the built-in default study when absent.
    study: Option<PathBuf>,
    /// Output directory of the study.
    #[arg(long, default_value = "emergent-out")]
    out: PathBuf,
    /// Use the built-in quick study (a few minutes on a laptop) when no file is given.
    #[arg(long)]
    quick: bool,
    /// Where models train and score (`cpu`, the only device of this build); overrides
    /// the study's `device`.
    #[arg(long)]
    device: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run a whole study: whatever is missing of corpus, training, evaluation and report.
    Run {
        #[command(flatten)]
        study: StudyArgs,
        /// Stop after evaluation, without writing the report.
        #[arg(long)]
        no_report: bool,
        /// Repeat the whole study with seeds seed, seed+1, …, each in OUT/seed-N/, and
        /// compare them in OUT/seeds.html (overrides the study's `seeds`).
        #[arg(long)]
        seeds: Option<usize>,
    },
    /// Prepare the corpus: documents, validation split, tokenizer, token shards.
    Corpus {
        #[command(flatten)]
        study: StudyArgs,
    },
    /// Train the study's grid of models (resuming interrupted runs).
    Train {
        #[command(flatten)]
        study: StudyArgs,
        /// Only these runs (names, or indices in the grid as a job array counts them).
        #[arg(long = "run")]
        runs: Vec<String>,
    },
    /// Score checkpoints on tasks: a study's checkpoints, or one model with --model
    /// (lm-evaluation-harness's flags, task YAML and output files).
    Eval(Box<eval_cmd::EvalArgs>),
    /// Verdicts, thresholds and the scaling law: findings.json and report/index.html.
    ///
    /// Reads a study's results or imported ones (CSV, lm-evaluation-harness JSON) and
    /// writes findings.json and the report (figures as SVG and PNG, tables as CSV).
    /// `emergent report` is the same command.
    #[command(visible_alias = "report")]
    Analyze(analyze::AnalyzeArgs),
    /// Run a study on a Slurm cluster: a corpus job, a job array training and evaluating
    /// one run per task, and a job that merges, analyses and reports.
    Slurm(slurm::SlurmArgs),
    /// Where a study stands: each run done, training (at which step), stopped, failed
    /// (with its last error) or pending, and the evaluations done.
    Status {
        /// The study's output directory.
        #[arg(default_value = "emergent-out")]
        dir: PathBuf,
    },
    /// Speed measurements, one JSON line each (bench/ has the scripts that compare).
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Scoring speed: documents per second, GFLOP/s and peak memory on one model.
    Eval(bench::BenchEvalArgs),
    /// Training speed: tokens/s of forward, backward, clipping and AdamW on random tokens.
    Train(bench_train::BenchModelArgs),
    /// Forward speed: tokens/s of a forward pass with the loss.
    Forward(bench_train::BenchModelArgs),
}

fn setup(args: &StudyArgs) -> Result<study::Study> {
    let mut s = study::load_study(args.study.as_deref(), args.quick)?;
    if let Some(d) = &args.device {
        s.device = d.parse().with_context(|| format!("--device {d}"))?;
    }
    interrupt::say_how_to_resume();
    bench::set_threads(s.threads);
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    Ok(s)
}

/// Keeps freed activation buffers in the heap for the next forward pass. glibc returns
/// blocks above 128 KiB to the kernel at once, so every pass over a batch paid a page
/// fault per 4 KiB of activations again (11% of scoring time in the profile).
/// Untrimmed heaps are kept per arena, and glibc gives new threads new arenas (up to 8
/// per core): scoring's worker threads then kept their own copies beside training's
/// freed buffers (the quick study peaked at 118 MB instead of 65). One arena per core
/// keeps that bounded without making threads wait for each other's allocations.
fn keep_freed_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        // SAFETY: mallopt only sets allocator parameters; called before any thread starts.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
            libc::mallopt(libc::M_TRIM_THRESHOLD, 512 << 20);
            libc::mallopt(libc::M_ARENA_MAX, cores as i32);
        }
    }
}

fn main() {
    keep_freed_buffers();
    if let Err(e) = run(Cli::parse()) {
        if e.chain().any(|c| c.is::<interrupt::Interrupted>()) {
            interrupt::resume_line_and_exit();
        }
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    let bars = Bars::new();
    match cli.command {
        Command::Run {
            study,
            no_report,
            seeds,
        } => {
            let started = std::time::Instant::now();
            let s = setup(&study)?;
            match seeds.unwrap_or(s.seeds) {
                1 => {
                    study::run_study(&s, &study.out, no_report, &bars)?;
                }
                n => {
                    if let Some(w) = study::run_seeds(&s, &study.out, n, no_report, &bars)? {
                        print_seeds(&w);
                    }
                }
            }
            eprintln!("done in {:.1} s", started.elapsed().as_secs_f64());
        }
        Command::Corpus { study } => {
            let s = setup(&study)?;
            study::prepare(&s, &study.out, &bars)?;
        }
        Command::Train { study, runs } => {
            let s = setup(&study)?;
            let failed = match study::select_runs(&s, &runs)? {
                None => study::train_all(&s, &study.out, &bars)?,
                Some(names) => {
                    let mut failed = Vec::new();
                    for name in names {
                        failed.extend(study::train_run(&s, &study.out, &name, &bars)?);
                    }
                    failed
                }
            };
            study::runs_failed(&failed)?;
        }
        Command::Eval(args) => match args.model.is_empty() {
            false => eval_cmd::eval_models(&args)?,
            true => {
                if args.model_flags_given() {
                    anyhow::bail!("--tasks, --text, --output_path and --model_args score one model: give --model");
                }
                let study = StudyArgs {
                    study: args.study.clone(),
                    out: args
                        .out
                        .clone()
                        .unwrap_or_else(|| PathBuf::from("emergent-out")),
                    quick: args.quick,
                    device: args.device.clone(),
                };
                let s = setup(&study)?;
                match study::select_runs(&s, &args.runs)? {
                    None => study::eval_all(&s, &study.out, &bars)?,
                    Some(names) => {
                        for name in names {
                            study::eval_run(&s, &study.out, &name, &bars)?;
                        }
                    }
                }
            }
        },
        Command::Bench(BenchCommand::Eval(args)) => bench::bench_eval(&args)?,
        Command::Bench(BenchCommand::Train(args)) => bench_train::bench_model(&args, true)?,
        Command::Bench(BenchCommand::Forward(args)) => bench_train::bench_model(&args, false)?,
        Command::Slurm(args) => {
            slurm::slurm(&args)?;
        }
        Command::Status { dir } => {
            status::status(&dir)?;
        }
        Command::Analyze(args) => {
            analyze::run_analyze(&args)?;
        }
    }
    Ok(())
}

/// The paper's claims across seeds, one line each.
fn print_seeds(w: &study::SeedsWritten) {
    println!("the paper's claims over seeds {:?}:", w.summary.seeds);
    for c in &w.summary.claims {
        println!(
            "  {:<28} {:?}{}",
            c.claim,
            c.holds_per_seed,
            if c.holds_in_every_seed {
                "  holds in every seed"
            } else {
                ""
            }
        );
    }
    eprintln!(
        "seeds: {}\nacross seeds: {}",
        w.json.display(),
        w.page.display()
    );
}

/// The folder of shipped task specs: $EMERGENT_TASKS, else the repository's `tasks/`.
pub(crate) fn shipped_tasks_dir() -> PathBuf {
    let dir = std::env::var_os("EMERGENT_TASKS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tasks")));
    dir.canonicalize().unwrap_or(dir)
}

/// Where a task named on the command line is: a path as given, else a shipped spec.
pub(crate) fn task_path(name: &Path) -> PathBuf {
    if name.exists() || name.extension().is_some() {
        return name.to_path_buf();
    }
    let dir = shipped_tasks_dir();
    let text = name.to_string_lossy();
    emergent_eval::shipped_spec(&dir, &text)
        .unwrap_or_else(|| dir.join(name).with_extension("toml"))
}

pub(crate) fn progress_bar(n: u64, task: &str) -> indicatif::ProgressBar {
    let pb = indicatif::ProgressBar::new(n);
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg:<20} [{elapsed_precise}] [{bar:30}] {pos}/{len} docs, {per_sec}, eta {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    pb.set_message(task.to_string());
    pb
}
