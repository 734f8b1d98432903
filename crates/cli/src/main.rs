//! `emergent`: at what pre-training loss does an ability appear?

mod analyze;
mod bench;
mod bench_train;
mod builtin_tasks;
mod interrupt;
mod pipeline;
use emergent_study as study;
mod term;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use emergent_analysis::Findings;
use emergent_eval::{evaluate, load_model, load_task_with_data, EvalOptions, Scorer};
use emergent_store::Store;
use std::io::Write;

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
    },
    /// Score checkpoints on tasks: a study's checkpoints, or one model with --model.
    Eval {
        /// The study file (TOML); the built-in default study when absent.
        study: Option<PathBuf>,
        /// The output directory: the study's (default emergent-out), or with --model
        /// the one that receives results.json (aggregates) and samples.jsonl
        /// (per-document records).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Use the built-in quick study when no file is given.
        #[arg(long)]
        quick: bool,
        /// A Hugging Face LLaMA checkpoint directory or a GGUF file, scored outside a study.
        #[arg(long)]
        model: Option<PathBuf>,
        /// Tasks, comma-separated: spec files (.toml) or names of shipped specs; with --model.
        #[arg(long, value_delimiter = ',')]
        tasks: Vec<PathBuf>,
        /// Score at most this many documents per task.
        #[arg(long)]
        limit: Option<usize>,
        /// Override the tasks' few-shot count.
        #[arg(long)]
        num_fewshot: Option<usize>,
        /// Where the JSONL of shipped benchmark specs lives: DIR/TASK/FILE or DIR/FILE
        /// (a spec's own folder is looked in first).
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Verdicts, thresholds and the scaling law: findings.json and report/index.html.
    ///
    /// Reads a study's results or imported ones (CSV, lm-evaluation-harness JSON) and
    /// writes findings.json and the report (figures as SVG and PNG, tables as CSV).
    /// `emergent report` is the same command.
    #[command(visible_alias = "report")]
    Analyze(analyze::AnalyzeArgs),
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
    let s = study::load_study(args.study.as_deref(), args.quick)?;
    interrupt::say_how_to_resume();
    if s.threads > 0 {
        // Ignored if a pool already exists (only in tests that call twice).
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(s.threads)
            .build_global();
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    Ok(s)
}

fn open_store(out: &Path) -> Result<Store> {
    Store::open(&out.join("results.sqlite"))
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
    match cli.command {
        Command::Run {
            study,
            no_report,
            seeds,
        } => {
            let started = std::time::Instant::now();
            let s = setup(&study)?;
            let seeds = seeds.unwrap_or(s.seeds);
            if seeds == 0 {
                anyhow::bail!("--seeds: at least 1");
            }
            if seeds == 1 {
                run_study(&s, &study.out, no_report)?;
            } else {
                run_seeds(&s, &study.out, seeds, no_report)?;
            }
            eprintln!("done in {:.1} s", started.elapsed().as_secs_f64());
        }
        Command::Corpus { study } => {
            let s = setup(&study)?;
            pipeline::prepare_corpus(&s, &study.out)?;
            pipeline::write_study_file(&s, &study.out)?;
        }
        Command::Train { study } => {
            let s = setup(&study)?;
            let data = pipeline::prepare_corpus(&s, &study.out)?;
            let failed = pipeline::train_all(&s, &study.out, &data, &open_store(&study.out)?)?;
            runs_failed(&failed)?;
        }
        Command::Eval {
            study,
            model: Some(path),
            tasks,
            limit,
            num_fewshot,
            out,
            data,
            ..
        } => {
            let opts = EvalOptions {
                limit,
                num_fewshot,
                ..EvalOptions::default()
            };
            eval_one(
                &path,
                &tasks,
                &opts,
                out.as_deref(),
                data.as_deref(),
                study.is_some(),
            )?;
        }
        Command::Eval {
            study, out, quick, ..
        } => {
            let study = StudyArgs {
                study,
                out: out.unwrap_or_else(|| PathBuf::from("emergent-out")),
                quick,
            };
            let s = setup(&study)?;
            let tasks = pipeline::prepare_tasks(&s, &study.out)?;
            pipeline::write_study_file(&s, &study.out)?;
            pipeline::eval_all(&s, &mut open_store(&study.out)?, &tasks, &study.out)?;
        }
        Command::Bench(BenchCommand::Eval(args)) => bench::bench_eval(&args)?,
        Command::Bench(BenchCommand::Train(args)) => bench_train::bench_model(&args, true)?,
        Command::Bench(BenchCommand::Forward(args)) => bench_train::bench_model(&args, false)?,
        Command::Analyze(args) => {
            analyze::run_analyze(&args)?;
        }
    }
    Ok(())
}

/// The whole study in `out`: corpus, training, evaluation and (unless `no_report`) the
/// analysis and report, whose findings it returns.
fn run_study(s: &study::Study, out: &Path, no_report: bool) -> Result<Option<Findings>> {
    let data = pipeline::prepare_corpus(s, out)?;
    let mut store = open_store(out)?;
    let failed = pipeline::train_all(s, out, &data, &store)?;
    let tasks = pipeline::prepare_tasks(s, out)?;
    pipeline::eval_all(s, &mut store, &tasks, out)?;
    // What the runs that failed left is evaluated and reported; the study still fails.
    let findings = if no_report {
        Ok(None)
    } else {
        let args = analyze::AnalyzeArgs::for_study(out, &s.name);
        analyze::run_analyze(&args).map(Some)
    };
    if let (Err(e), false) = (&findings, failed.is_empty()) {
        eprintln!("error: {e:#}");
    }
    runs_failed(&failed)?;
    findings
}

/// An error listing the runs that failed, when any did.
fn runs_failed(failed: &[String]) -> Result<()> {
    if failed.is_empty() {
        return Ok(());
    }
    anyhow::bail!(
        "{} run{} failed (their checkpoints before the failure are kept and evaluated):\n  {}",
        failed.len(),
        if failed.len() == 1 { "" } else { "s" },
        failed.join("\n  ")
    )
}

/// The study once per seed in `out/seed-N/`, then the claims across seeds in
/// `out/seeds.json` and `out/seeds.html`.
fn run_seeds(s: &study::Study, out: &Path, seeds: usize, no_report: bool) -> Result<()> {
    let mut per_seed = Vec::new();
    let mut links = Vec::new();
    let seed_list: Vec<u64> = (0..seeds as u64).map(|k| s.seed + k).collect();
    for (k, &seed) in seed_list.iter().enumerate() {
        let one = study::Study {
            seed,
            seeds: 1,
            ..s.clone()
        };
        let dir = out.join(format!("seed-{seed}"));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let file = dir.join("study.toml");
        std::fs::write(&file, toml::to_string(&one)?)
            .with_context(|| format!("writing {}", file.display()))?;
        eprintln!("seed {seed} ({} of {seeds}): {}", k + 1, dir.display());
        let started = std::time::Instant::now();
        let findings = run_study(&one, &dir, no_report)?;
        eprintln!(
            "seed {seed} done in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        if let Some(f) = findings {
            per_seed.push((f.claims.clone(), f.tasks));
            links.push(format!("seed-{seed}/report/index.html"));
        }
    }
    if no_report {
        return Ok(());
    }
    let per_seed: Vec<_> = per_seed
        .into_iter()
        .filter_map(|(c, t)| c.map(|c| (c, t)))
        .collect();
    let summary = emergent_analysis::claims::across_seeds(&seed_list, &per_seed);
    let json = out.join("seeds.json");
    std::fs::write(&json, serde_json::to_string_pretty(&summary)?)
        .with_context(|| format!("writing {}", json.display()))?;
    println!("the paper's claims over seeds {seed_list:?}:");
    for c in &summary.claims {
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
    let page = emergent_report::write_seeds_page(out, &s.name, &summary, &links)?;
    eprintln!(
        "seeds: {}\nacross seeds: {}",
        json.display(),
        page.display()
    );
    Ok(())
}

/// Where `--tasks NAME` looks for NAME.toml: $EMERGENT_TASKS, else the specs shipped
/// in the repository's `tasks/`.
pub(crate) fn task_path(name: &Path) -> PathBuf {
    if name.exists() || name.extension().is_some() {
        return name.to_path_buf();
    }
    let dir = std::env::var_os("EMERGENT_TASKS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tasks")));
    let dir = dir.canonicalize().unwrap_or(dir);
    let direct = dir.join(name).with_extension("toml");
    if direct.exists() {
        return direct;
    }
    // Shipped specs sit in one folder per benchmark.
    let nested = dir.join(name).join(name).with_extension("toml");
    if nested.exists() {
        return nested;
    }
    direct
}

/// `emergent eval --model DIR_OR_GGUF --tasks NAME_OR_PATH,...`: scores one model, prints
/// a table and, with `--out DIR`, writes DIR/results.json (aggregates) and
/// DIR/samples.jsonl (per-document records).
fn eval_one(
    model_path: &Path,
    tasks: &[PathBuf],
    opts: &EvalOptions,
    out: Option<&Path>,
    data: Option<&Path>,
    study_given: bool,
) -> Result<()> {
    if study_given {
        anyhow::bail!("give either a study or --model, not both");
    }
    if tasks.is_empty() {
        anyhow::bail!("--model needs --tasks (task names or spec files)");
    }
    if let Some(dir) = out {
        if dir.is_file() {
            anyhow::bail!(
                "--out {}: a file; --out names the directory that receives results.json and samples.jsonl",
                dir.display()
            );
        }
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let (mut model, tokenizer) = load_model(model_path)?;
    let mut samples = match out.map(|d| d.join("samples.jsonl")) {
        Some(p) => Some(std::io::BufWriter::new(
            std::fs::File::create(&p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => None,
    };
    let mut results = Vec::new();
    let mut failed = 0;
    for name in tasks {
        // A bad task is reported and the others still run.
        let mut run = || -> Result<_> {
            let task = load_task_with_data(&task_path(name), data)?;
            let n = opts.limit.unwrap_or(task.docs.len()).min(task.docs.len());
            let pb = progress_bar(n as u64, &task.spec.task);
            let mut scorer = Scorer {
                model: model.as_mut(),
                tokenizer: &tokenizer,
            };
            let r = evaluate(&mut scorer, &task, opts, &mut |k| pb.inc(k as u64))?;
            pb.finish_and_clear();
            Ok(r)
        };
        match run() {
            Ok((r, records)) => {
                if let Some(w) = samples.as_mut() {
                    for rec in &records {
                        let line = serde_json::json!({"task": r.task, "record": rec});
                        writeln!(w, "{line}")?;
                    }
                }
                results.push(r);
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                failed += 1;
            }
        }
    }
    print_table(&results);
    if let Some(w) = samples.as_mut() {
        w.flush()?;
    }
    if let Some(dir) = out {
        let p = dir.join("results.json");
        std::fs::write(&p, serde_json::to_string_pretty(&results)?)
            .with_context(|| format!("writing {}", p.display()))?;
        eprintln!(
            "results: {}\nsamples: {}",
            p.display(),
            dir.join("samples.jsonl").display()
        );
    }
    if failed > 0 {
        anyhow::bail!(
            "{failed} of {} tasks failed (the others were scored)",
            tasks.len()
        );
    }
    Ok(())
}

fn progress_bar(n: u64, task: &str) -> indicatif::ProgressBar {
    let pb = indicatif::ProgressBar::new(n);
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg:<20} [{elapsed_precise}] [{bar:30}] {pos}/{len} eta {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    pb.set_message(task.to_string());
    pb
}

fn print_table(results: &[emergent_eval::TaskResult]) {
    println!(
        "{:<24} {:>5} {:<30} {:>10} {:>9} {:>6} {:>9}",
        "task", "shots", "metric", "value", "stderr", "n", "baseline"
    );
    for r in results {
        for m in &r.metrics {
            println!(
                "{:<24} {:>5} {:<30} {:>10.4} {:>9.4} {:>6} {:>9.4}",
                r.task, r.shots, m.metric, m.value, m.stderr, m.n, r.baseline
            );
        }
        if r.truncated > 0 {
            println!(
                "{:<24} {} of {} prompts left-truncated to fit the context",
                r.task, r.truncated, r.n_docs
            );
        }
    }
}
