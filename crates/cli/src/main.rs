//! `emergent`: at what pre-training loss does an ability appear?

mod analyze;
mod pipeline;
mod study;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use emergent_data::Tokenizer;
use emergent_engine::load_checkpoint;
use emergent_eval::{evaluate, load_task, Scorer};
use emergent_store::Store;

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
    },
    /// Score checkpoints on tasks: a study's checkpoints, or one model with --model.
    Eval {
        #[command(flatten)]
        study: StudyArgs,
        /// A Hugging Face LLaMA checkpoint directory to score outside a study.
        #[arg(long)]
        model: Option<PathBuf>,
        /// Task spec files (.toml), comma-separated; with --model.
        #[arg(long, value_delimiter = ',')]
        tasks: Vec<PathBuf>,
        /// Score at most this many documents per task.
        #[arg(long)]
        limit: Option<usize>,
        /// Override the tasks' few-shot count.
        #[arg(long)]
        num_fewshot: Option<usize>,
        /// Write the results as JSON here (with --model).
        #[arg(long = "json")]
        json_out: Option<PathBuf>,
    },
    /// Summarise performance against loss per task and metric (writes analysis/).
    Analyze {
        /// The study's output directory.
        #[arg(long, default_value = "emergent-out")]
        out: PathBuf,
    },
    /// Write report/index.html with figures and CSV from a study's results.
    Report {
        /// The study's output directory.
        #[arg(long, default_value = "emergent-out")]
        out: PathBuf,
    },
}

fn setup(args: &StudyArgs) -> Result<study::Study> {
    let s = study::load_study(args.study.as_deref(), args.quick)?;
    if s.threads > 0 {
        // Ignored if a pool already exists (only in tests that call twice).
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(s.threads)
            .build_global();
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    std::fs::write(args.out.join("study.toml"), toml::to_string(&s)?)?;
    Ok(s)
}

fn open_store(out: &Path) -> Result<Store> {
    Store::open(&out.join("results.sqlite"))
}

fn main() {
    if let Err(e) = run(Cli::parse()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Run { study, no_report } => {
            let started = std::time::Instant::now();
            let s = setup(&study)?;
            let data = pipeline::prepare_corpus(&s, &study.out)?;
            let mut store = open_store(&study.out)?;
            pipeline::train_all(&s, &study.out, &data, &store)?;
            let tasks = pipeline::prepare_tasks(&s, &study.out)?;
            pipeline::eval_all(&s, &mut store, &tasks)?;
            analyze::analyze(&store, &study.out)?;
            if !no_report {
                let index = emergent_report::write_report(&store, &study.out, &s.name)?;
                eprintln!("report: {}", index.display());
            }
            eprintln!("done in {:.1} s", started.elapsed().as_secs_f64());
        }
        Command::Corpus { study } => {
            let s = setup(&study)?;
            pipeline::prepare_corpus(&s, &study.out)?;
        }
        Command::Train { study } => {
            let s = setup(&study)?;
            let data = pipeline::prepare_corpus(&s, &study.out)?;
            pipeline::train_all(&s, &study.out, &data, &open_store(&study.out)?)?;
        }
        Command::Eval {
            study,
            model: Some(dir),
            tasks,
            limit,
            num_fewshot,
            json_out,
        } => {
            eval_one(
                &dir,
                &tasks,
                limit,
                num_fewshot,
                json_out.as_deref(),
                study.study.is_some(),
            )?;
        }
        Command::Eval { study, .. } => {
            let s = setup(&study)?;
            let tasks = pipeline::prepare_tasks(&s, &study.out)?;
            pipeline::eval_all(&s, &mut open_store(&study.out)?, &tasks)?;
        }
        Command::Analyze { out } => {
            analyze::analyze(&open_store(&out)?, &out)?;
        }
        Command::Report { out } => {
            let index = emergent_report::write_report(&open_store(&out)?, &out, "emergent study")?;
            eprintln!("report: {}", index.display());
        }
    }
    Ok(())
}

/// `emergent eval --model DIR --tasks a.toml,b.toml`: scores one model, prints a table.
fn eval_one(
    dir: &Path,
    tasks: &[PathBuf],
    limit: Option<usize>,
    shots: Option<usize>,
    json_out: Option<&Path>,
    study_given: bool,
) -> Result<()> {
    if study_given {
        anyhow::bail!("give either a study or --model, not both");
    }
    if tasks.is_empty() {
        anyhow::bail!("--model needs --tasks (task spec files)");
    }
    let mut model = load_checkpoint(dir)?;
    let tokenizer = Tokenizer::load(&dir.join("tokenizer.json"))?;
    if tokenizer.vocab_size() > model.config.vocab_size {
        anyhow::bail!(
            "{}: the tokenizer has {} tokens but config.json's vocab_size is {}",
            dir.join("tokenizer.json").display(),
            tokenizer.vocab_size(),
            model.config.vocab_size
        );
    }
    let mut results = Vec::new();
    println!(
        "{:<24} {:>5} {:<26} {:>10} {:>9} {:>6}",
        "task", "shots", "metric", "value", "stderr", "n"
    );
    for path in tasks {
        // A bad task is reported and the others still run.
        let mut task = match load_task(path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: {e:#}");
                continue;
            }
        };
        if let Some(k) = shots {
            task.spec.num_fewshot = k;
        }
        let r = evaluate(
            &mut Scorer {
                model: &mut model,
                tokenizer: &tokenizer,
            },
            &task,
            0,
            limit,
        );
        for m in &r.metrics {
            println!(
                "{:<24} {:>5} {:<26} {:>10.4} {:>9.4} {:>6}",
                r.task, r.shots, m.metric, m.value, m.stderr, m.n
            );
        }
        results.push(r);
    }
    if let Some(p) = json_out {
        std::fs::write(p, serde_json::to_string_pretty(&results)?)
            .with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}
