//! The study report: `report/index.html` with one figure per task and metric
//! (performance against validation loss, one colour per model size, the random
//! baseline dashed, lower loss to the right as in the paper), the loss curves, and
//! every point as CSV.

mod svg;

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use emergent_store::{Point, Store};

pub use svg::{Chart, Series, PALETTE};

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

/// Colour per model size, ordered by parameter count.
fn size_colours(points: &[Point]) -> BTreeMap<String, (u64, &'static str)> {
    let mut sizes: Vec<(u64, String)> = points.iter().map(|p| (p.params, p.size.clone())).collect();
    sizes.sort();
    sizes.dedup();
    sizes
        .into_iter()
        .enumerate()
        .map(|(i, (n, s))| (s, (n, PALETTE[i % PALETTE.len()])))
        .collect()
}

fn human(n: u64) -> String {
    match n {
        n if n >= 1_000_000_000 => format!("{:.1}B", n as f64 / 1e9),
        n if n >= 1_000_000 => format!("{:.1}M", n as f64 / 1e6),
        n if n >= 1_000 => format!("{:.0}K", n as f64 / 1e3),
        n => n.to_string(),
    }
}

/// Series per run (a line through its checkpoints), coloured by size.
fn run_series(
    points: &[&Point],
    colours: &BTreeMap<String, (u64, &'static str)>,
    x: impl Fn(&Point) -> f64,
    y: impl Fn(&Point) -> f64,
) -> Vec<Series> {
    let mut by_run: BTreeMap<(u64, String), Vec<&Point>> = BTreeMap::new();
    for p in points {
        by_run.entry((p.params, p.run.clone())).or_default().push(p);
    }
    let mut labelled = std::collections::HashSet::new();
    by_run
        .into_iter()
        .map(|((_, _run), ps)| {
            let size = &ps[0].size;
            let (n, colour) = colours[size];
            let label = if labelled.insert(size.clone()) {
                format!("{size} ({})", human(n))
            } else {
                String::new()
            };
            let mut pts: Vec<(f64, f64)> = ps.iter().map(|p| (x(p), y(p))).collect();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            Series {
                label,
                colour,
                points: pts,
                line: true,
            }
        })
        .collect()
}

fn write_csv(path: &Path, points: &[Point]) -> Result<()> {
    let mut s = String::from("run,size,params,non_embedding_params,checkpoint,step,tokens,flops,loss,task,shots,metric,value,stderr,n,baseline\n");
    for p in points {
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{:e},{},{},{},{},{},{},{},{}",
            p.run,
            p.size,
            p.params,
            p.non_embedding_params,
            p.checkpoint,
            p.step,
            p.tokens,
            p.flops,
            p.val_loss,
            p.task,
            p.shots,
            p.metric,
            p.value,
            p.stderr,
            p.n,
            p.baseline
        );
    }
    std::fs::write(path, s).with_context(|| format!("writing {}", path.display()))
}

/// Writes `out_dir/report/` from the study's results database; returns index.html.
pub fn write_report(store: &Store, out_dir: &Path, title: &str) -> Result<PathBuf> {
    let dir = out_dir.join("report");
    let figs = dir.join("figures");
    std::fs::create_dir_all(&figs).with_context(|| format!("creating {}", figs.display()))?;
    let points = store.points()?;
    write_csv(&dir.join("points.csv"), &points)?;
    let colours = size_colours(&points);
    let mut html = String::new();
    let _ = write!(html, "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title><style>body{{font-family:sans-serif;max-width:1400px;margin:auto}} img{{max-width:640px}} .row{{display:flex;flex-wrap:wrap;gap:8px}} table{{border-collapse:collapse}} td,th{{border:1px solid #ccc;padding:3px 8px}}</style></head><body>");
    let _ = write!(html, "<h1>{title}</h1><p>Downstream performance against pre-training (validation) loss over every checkpoint of every run. Lower loss is to the right. Dashed: random guessing. Data: <a href=\"points.csv\">points.csv</a>.</p>");

    // Loss curves.
    let ckpts = store.checkpoints()?;
    let loss_points: Vec<Point> = ckpts
        .iter()
        .filter_map(|c| {
            points.iter().find(|p| p.run == c.run).map(|p| Point {
                checkpoint: c.checkpoint.clone(),
                step: c.step,
                tokens: c.tokens,
                flops: c.flops,
                val_loss: c.val_loss,
                ..p.clone()
            })
        })
        .collect();
    let refs: Vec<&Point> = loss_points.iter().collect();
    let chart = Chart {
        title: "Validation loss during training".into(),
        x_label: "tokens seen".into(),
        y_label: "validation loss (nats/token)".into(),
        reverse_x: false,
        log_x: true,
        baseline: None,
        series: run_series(&refs, &colours, |p| p.tokens as f64, |p| p.val_loss),
    };
    std::fs::write(figs.join("loss_curves.svg"), chart.render())?;
    let _ = write!(
        html,
        "<h2>Loss curves</h2><img src=\"figures/loss_curves.svg\" alt=\"loss curves\">"
    );

    let mut tasks: BTreeMap<(String, u32), BTreeMap<String, Vec<&Point>>> = BTreeMap::new();
    for p in &points {
        tasks
            .entry((p.task.clone(), p.shots))
            .or_default()
            .entry(p.metric.clone())
            .or_default()
            .push(p);
    }
    for ((task, shots), metrics) in &tasks {
        let _ = write!(html, "<h2>{task} ({shots}-shot)</h2><div class=\"row\">");
        for (metric, ps) in metrics {
            let is_main = matches!(metric.as_str(), "acc" | "exact_match");
            let chart = Chart {
                title: format!("{task}: {metric}"),
                x_label: "validation loss (nats/token), decreasing →".into(),
                y_label: metric.clone(),
                reverse_x: true,
                log_x: false,
                baseline: is_main.then(|| ps[0].baseline),
                series: run_series(ps, &colours, |p| p.val_loss, |p| p.value),
            };
            let file = format!("{}-{}shot-{}.svg", slug(task), shots, slug(metric));
            std::fs::write(figs.join(&file), chart.render())?;
            let _ = write!(html, "<img src=\"figures/{file}\" alt=\"{task} {metric}\">");
        }
        html.push_str("</div>");
    }

    let _ = write!(html, "<h2>Checkpoints</h2><table><tr><th>checkpoint</th><th>tokens</th><th>FLOPs</th><th>validation loss</th></tr>");
    for c in &ckpts {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{:.2e}</td><td>{:.4}</td></tr>",
            c.checkpoint, c.tokens, c.flops, c.val_loss
        );
    }
    html.push_str("</table></body></html>\n");
    let index = dir.join("index.html");
    std::fs::write(&index, html).with_context(|| format!("writing {}", index.display()))?;
    Ok(index)
}
