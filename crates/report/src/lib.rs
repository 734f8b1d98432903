//! The study report: `report/index.html`, readable offline, with the paper's figures
//! (performance against loss per task and metric, one colour per model size, the random
//! baseline dashed, the threshold and its interval shaded, lower loss to the right),
//! performance against tokens and compute, the loss curves, the scaling-law fit, and
//! tables of thresholds, predictions and the law's parameters. Every figure is written
//! as SVG and PNG, every table as CSV.

mod claims;
mod figure;

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
pub use claims::write_seeds_page;
use emergent_analysis::{human_count, series, CurvePoint, Findings, Obs, TaskFinding, XAxis};
pub use figure::{Figure, Line, PALETTE};
use plotters::style::RGBColor;

/// Everything the report shows.
pub struct Input<'a> {
    pub title: &'a str,
    pub obs: &'a [Obs],
    /// Every checkpoint's loss (the loss curves and the scaling law's data).
    pub curve: &'a [CurvePoint],
    pub findings: &'a Findings,
    pub axis: &'a XAxis,
}

fn slug(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A colour per model size, in order of parameter count.
fn size_colours<'a>(
    sizes: impl Iterator<Item = (f64, &'a str)>,
) -> BTreeMap<String, (f64, RGBColor)> {
    let mut v: Vec<(f64, &str)> = sizes.collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(b.1)));
    v.dedup_by(|a, b| a.1 == b.1);
    v.into_iter()
        .enumerate()
        .map(|(i, (n, s))| (s.to_string(), (n, PALETTE[i % PALETTE.len()])))
        .collect()
}

/// One line per run through its points in training order (`order`: tokens), coloured
/// by size; each size labelled once.
fn run_lines<'a>(
    points: impl Iterator<Item = (&'a str, &'a str, f64, f64, f64)>,
    colours: &BTreeMap<String, (f64, RGBColor)>,
) -> Vec<Line> {
    type Run<'b> = (&'b str, Vec<(f64, f64, f64)>);
    let mut runs: BTreeMap<(u64, &str), Run> = BTreeMap::new();
    for (run, size, order, x, y) in points {
        let n = colours.get(size).map_or(0.0, |c| c.0) as u64;
        runs.entry((n, run))
            .or_insert((size, Vec::new()))
            .1
            .push((order, x, y));
    }
    let mut labelled = std::collections::HashSet::new();
    runs.into_values()
        .map(|(size, mut pts)| {
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            let (n, colour) = colours.get(size).copied().unwrap_or((0.0, PALETTE[7]));
            let pts = pts.into_iter().map(|(_, x, y)| (x, y)).collect();
            Line {
                label: labelled
                    .insert(size)
                    .then(|| format!("{size} ({} params)", human_count(n))),
                colour,
                points: pts,
                dashed: false,
                markers: true,
                joined: true,
            }
        })
        .collect()
}

struct Page {
    html: String,
    figures: PathBuf,
}

impl Page {
    fn figure(&mut self, fig: &Figure, stem: &str) -> Result<()> {
        fig.save(&self.figures, stem)?;
        let _ = write!(
            self.html,
            "<figure><img src=\"figures/{stem}.svg\" alt=\"{}\"><figcaption>{} · <a href=\"figures/{stem}.png\">PNG</a> · <a href=\"figures/{stem}.svg\">SVG</a></figcaption></figure>",
            esc(&fig.title),
            esc(&fig.title)
        );
        Ok(())
    }
}

fn fmt(v: Option<f64>, digits: usize) -> String {
    v.map_or("–".into(), |v| format!("{v:.digits$}"))
}

fn sci(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{v:.2e}"))
}

fn loss_curves(
    page: &mut Page,
    curve: &[CurvePoint],
    colours: &BTreeMap<String, (f64, RGBColor)>,
) -> Result<()> {
    let pts = curve
        .iter()
        .filter(|c| c.tokens > 0.0)
        .map(|c| (c.run.as_str(), c.size.as_str(), c.tokens, c.tokens, c.loss));
    let fig = Figure {
        title: "Validation loss during training".into(),
        x_label: "training tokens".into(),
        y_label: "validation loss (nats/token)".into(),
        x_log: true,
        lines: run_lines(pts, colours),
        ..Figure::default()
    };
    page.html.push_str("<h2>Loss curves</h2>");
    page.figure(&fig, "loss_curves")
}

fn scaling_section(
    page: &mut Page,
    input: &Input,
    colours: &BTreeMap<String, (f64, RGBColor)>,
) -> Result<()> {
    let f = input.findings;
    let Some(law) = &f.scaling else {
        let _ = write!(
            page.html,
            "<h2>Scaling law</h2><p>{}.</p>",
            esc(&f.scaling_points)
        );
        return Ok(());
    };
    let (lo, hi) = input
        .curve
        .iter()
        .filter(|c| c.tokens > 0.0)
        .fold((f64::INFINITY, 0.0f64), |(a, b), c| {
            (a.min(c.tokens), b.max(c.tokens))
        });
    let mut fig_lines = Vec::new();
    for (size, (n, colour)) in colours {
        let data: Vec<(f64, f64)> = input
            .curve
            .iter()
            .filter(|c| &c.size == size && c.tokens > 0.0)
            .map(|c| (c.tokens, c.loss))
            .collect();
        if data.is_empty() {
            continue;
        }
        let fitted: Vec<(f64, f64)> = (0..=40)
            .map(|i| {
                let d = lo * (hi / lo).powf(i as f64 / 40.0);
                (d, law.loss(*n, d))
            })
            .collect();
        fig_lines.push(Line {
            label: Some(format!("{size} ({} params)", human_count(*n))),
            colour: *colour,
            points: data,
            dashed: false,
            markers: true,
            joined: false,
        });
        fig_lines.push(Line {
            label: None,
            colour: *colour,
            points: fitted,
            dashed: true,
            markers: false,
            joined: true,
        });
    }
    let fig = Figure {
        title: format!(
            "L(N, D) = {:.3} + {:.4}/N^{:.3} + {:.4}/D^{:.3}",
            law.e, law.a, law.alpha, law.b, law.beta
        ),
        x_label: "training tokens D".into(),
        y_label: "validation loss (nats/token)".into(),
        x_log: true,
        lines: fig_lines,
        hline: Some((law.e, format!("E = {:.3}", law.e))),
        ..Figure::default()
    };
    let _ = write!(
        page.html,
        "<h2>Scaling law</h2><p>Fitted to {} ({} points) by Huber loss (δ = 10⁻³) on log-loss with L-BFGS from a grid of starts; 95% intervals from {} bootstrap refits over checkpoints. Dashed: the law at each size. <a href=\"tables/scaling_law.csv\">CSV</a></p>",
        esc(&f.scaling_points),
        law.n_points,
        law.bootstrap
    );
    page.html
        .push_str("<table><tr><th>parameter</th><th>value</th><th>95% interval</th></tr>");
    for (name, v, ci) in law.parameters() {
        let name = match name {
            "alpha" => "α",
            "beta" => "β",
            other => other,
        };
        let ci = ci.map_or("–".into(), |[a, b]| format!("[{a:.4}, {b:.4}]"));
        let _ = write!(
            page.html,
            "<tr><td>{name}</td><td>{v:.4}</td><td>{ci}</td></tr>"
        );
    }
    page.html.push_str("</table>");
    page.figure(&fig, "scaling_law")
}

fn thresholds_table(page: &mut Page, f: &Findings) {
    let r = &f.rules;
    let _ = write!(
        page.html,
        "<h2>Thresholds</h2><p>Per task and metric, against {}: the verdict (hover it for the rule that decided it), the break-point η with its 95% interval over {} resamples (documents resampled jointly across checkpoints where records exist, runs resampled), the verdict's stability (the fraction of resamples, leave-one-run-out and highest-loss-{:.0}%-dropped refits that agree; emergent needs {:.0}%), the level above η against the random baseline (at chance within ±{}), the extrapolation error of the smooth family fitted on the upper {:.0}% of the range against the noise, R² of performance on {} alone (monotone fit) and with log size and log tokens added, the domain whose loss explains it best, and where a scaling law is fitted the model size and compute (at {} tokens per parameter) whose loss is η. <a href=\"tables/thresholds.csv\">CSV</a></p>",
        esc(&f.x_label), r.boot, 100.0 * r.drop_fraction, 100.0 * r.min_stability, r.margin,
        100.0 * r.fit_fraction, esc(&f.x_axis), f.tokens_per_param
    );
    page.html.push_str("<table><tr><th>task</th><th>shots</th><th>metric</th><th>verdict</th><th>η</th><th>95% interval</th><th>stability</th><th>level above η</th><th>baseline</th><th>extrapolation error / noise</th><th>R² x</th><th>R² x+size</th><th>best domain</th><th>points</th><th>size at η</th><th>compute at η</th></tr>");
    for t in &f.tasks {
        let ci =
            t.ci.map_or("–".into(), |[a, b]| format!("[{a:.4}, {b:.4}]"));
        let stable = t
            .stability
            .as_ref()
            .map_or("–".into(), |s| format!("{:.0}%", 100.0 * s.overall));
        let level = match (t.level, t.level_se) {
            (Some(l), Some(se)) => format!("{l:.3} ± {se:.3}"),
            _ => "–".into(),
        };
        let ex = t
            .extrapolation
            .as_ref()
            .map_or("–".into(), |e| format!("{:.3} / {:.3}", e.error, e.noise));
        let domain = t
            .best_domain()
            .map_or("–".into(), |(d, r2)| format!("{} ({r2:.3})", esc(d)));
        let _ = write!(
            page.html,
            "<tr class=\"{k}\"><td>{}</td><td>{}</td><td>{}</td><td title=\"{}\">{k}</td><td>{}</td><td>{ci}</td><td>{stable}</td><td>{level}</td><td>{}</td><td>{ex}</td><td>{}</td><td>{}</td><td>{domain}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&t.task), t.shots, esc(&t.metric), esc(t.reason.as_deref().unwrap_or("")),
            fmt(t.threshold, 4), fmt(t.baseline, 3),
            fmt(t.r2_loss, 3), fmt(t.r2_loss_size, 3), t.n_points,
            t.threshold_params.map_or("–".into(), human_count), sci(t.threshold_flops),
            k = t.kind.name(),
        );
    }
    page.html.push_str("</table>");
}

fn predictions_table(page: &mut Page, f: &Findings) {
    if f.predictions.is_empty() {
        return;
    }
    page.html.push_str("<h2>Runs that have not crossed a threshold yet</h2><p>Each run's loss curve L(D) = E + B/D^β fitted to its checkpoints so far; the tokens at which it reaches each emergent task's threshold. <a href=\"tables/predictions.csv\">CSV</a></p><table><tr><th>run</th><th>task</th><th>metric</th><th>η</th><th>tokens so far</th><th>loss now</th><th>tokens at η</th></tr>");
    for p in &f.predictions {
        let _ = write!(
            page.html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.4}</td><td>{:.3e}</td><td>{:.4}</td><td>{}</td></tr>",
            esc(&p.run), esc(&p.task), esc(&p.metric), p.threshold, p.tokens_so_far, p.loss_now,
            p.tokens_at_threshold.map_or(format!("not on its fitted curve (levels off at {:.4})", p.curve.e), |d| format!("{d:.3e}"))
        );
    }
    page.html.push_str("</table>");
}

/// Figure of one task and metric against an axis.
fn task_figure(
    t: &TaskFinding,
    pts: &[(&Obs, f64)],
    axis: &XAxis,
    colours: &BTreeMap<String, (f64, RGBColor)>,
    mark_threshold: bool,
) -> Figure {
    let lines = run_lines(
        pts.iter()
            .map(|(o, x)| (o.run.as_str(), o.size.as_str(), o.tokens, *x, o.value)),
        colours,
    );
    let shots = if t.shots == 0 {
        "zero-shot".to_string()
    } else {
        format!("{}-shot", t.shots)
    };
    Figure {
        title: format!("{} ({shots}): {} — {}", t.task, t.metric, t.kind.name()),
        x_label: if axis.lower_is_better() {
            format!("{} (lower →)", axis.label())
        } else {
            axis.label()
        },
        y_label: t.metric.clone(),
        x_log: axis.log_scale(),
        x_reversed: axis.lower_is_better(),
        y_log: false,
        lines,
        hline: t.baseline.map(|b| (b, format!("random guess {b:.3}"))),
        vline: t.threshold.filter(|_| mark_threshold),
        vband: t.ci.filter(|_| mark_threshold).map(|[a, b]| (a, b)),
    }
}

fn main_metric(metrics: &[&TaskFinding]) -> usize {
    metrics
        .iter()
        .position(|t| t.metric == "acc")
        .or_else(|| {
            metrics
                .iter()
                .position(|t| t.metric.starts_with("exact_match"))
        })
        .unwrap_or(0)
}

fn task_sections(
    page: &mut Page,
    input: &Input,
    colours: &BTreeMap<String, (f64, RGBColor)>,
) -> Result<()> {
    let by_key = series(input.obs, input.axis);
    let mut by_task: BTreeMap<(&str, u32), Vec<&TaskFinding>> = BTreeMap::new();
    for t in &input.findings.tasks {
        by_task
            .entry((t.task.as_str(), t.shots))
            .or_default()
            .push(t);
    }
    for ((task, shots), metrics) in by_task {
        let _ = write!(
            page.html,
            "<h2 id=\"{}\">{} ({shots}-shot)</h2><div class=\"row\">",
            slug(&format!("{task}-{shots}")),
            esc(task)
        );
        for t in &metrics {
            let Some(pts) = by_key.get(&(task.to_string(), shots, t.metric.clone())) else {
                continue;
            };
            let fig = task_figure(t, pts, input.axis, colours, true);
            page.figure(
                &fig,
                &format!("{}-{shots}shot-{}", slug(task), slug(&t.metric)),
            )?;
        }
        let main = metrics[main_metric(&metrics)];
        for (extra, name) in [(XAxis::Tokens, "tokens"), (XAxis::Flops, "flops")] {
            if *input.axis == extra {
                continue;
            }
            let Some(pts) = by_key.get(&(task.to_string(), shots, main.metric.clone())) else {
                continue;
            };
            let raw: Vec<(&Obs, f64)> = pts
                .iter()
                .filter_map(|(o, _)| {
                    let v = if name == "tokens" { o.tokens } else { o.flops };
                    (v > 0.0).then_some((*o, v))
                })
                .collect();
            let fig = task_figure(main, &raw, &extra, colours, false);
            page.figure(
                &fig,
                &format!("{}-{shots}shot-{}-{name}", slug(task), slug(&main.metric)),
            )?;
        }
        page.html.push_str("</div>");
    }
    Ok(())
}

const STYLE: &str = "body{font-family:sans-serif;max-width:1400px;margin:auto;padding:0 1em}figure{display:inline-block;margin:4px}figure img{width:640px}figcaption{font-size:12px;color:#555}.row{display:flex;flex-wrap:wrap}table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 8px}tr.emergent td{background:#fff3d6}tr.uncertain td{background:#eef1f6}td.holds{background:#dff3df}td.fails{background:#f8dcdc}";

/// Writes `dir/index.html`, `dir/figures/` and `dir/tables/`; returns index.html.
pub fn write_report(dir: &Path, input: &Input) -> Result<PathBuf> {
    let figures = dir.join("figures");
    let tables = dir.join("tables");
    for d in [&figures, &tables] {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    for (name, csv) in input.findings.tables(input.obs) {
        let p = tables.join(name);
        std::fs::write(&p, csv).with_context(|| format!("writing {}", p.display()))?;
    }
    let colours = size_colours(
        input
            .obs
            .iter()
            .map(|o| (o.params, o.size.as_str()))
            .chain(input.curve.iter().map(|c| (c.params, c.size.as_str()))),
    );
    let title = esc(input.title);
    let f = input.findings;
    let mut page = Page {
        html: format!("<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title><style>{STYLE}</style></head><body><h1>{title}</h1>"),
        figures,
    };
    let _ = write!(
        page.html,
        "<p>{} observations, {} task–metric series against {}: {}. Every point: <a href=\"tables/points.csv\">points.csv</a>; findings: <a href=\"../findings.json\">findings.json</a>.</p>",
        f.n_observations, f.tasks.len(), esc(&f.x_label), f.verdict_counts()
    );
    if let Some(c) = &f.claims {
        claims::claims_table(&mut page.html, c);
    }
    thresholds_table(&mut page, f);
    predictions_table(&mut page, f);
    if !input.curve.is_empty() {
        loss_curves(&mut page, input.curve, &colours)?;
    }
    if *input.axis == XAxis::Loss {
        scaling_section(&mut page, input, &colours)?;
    }
    task_sections(&mut page, input, &colours)?;
    if !f.rejected.is_empty() {
        let _ = write!(
            page.html,
            "<h2>Rejected input rows ({})</h2><ul>",
            f.rejected.len()
        );
        for r in f.rejected.iter().take(100) {
            let _ = write!(page.html, "<li>{}</li>", esc(r));
        }
        page.html.push_str("</ul>");
    }
    page.html.push_str("</body></html>\n");
    let index = dir.join("index.html");
    std::fs::write(&index, page.html).with_context(|| format!("writing {}", index.display()))?;
    Ok(index)
}
