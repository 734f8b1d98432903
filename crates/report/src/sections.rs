//! The report's sections other than the tasks: banner, contents, summary, tables,
//! loss curves and scaling law.

use std::fmt::Write;

use anyhow::Result;
use emergent_analysis::claims::main_findings;
use emergent_analysis::{human_count, CurvePoint, Findings, Kind, TaskFinding, XAxis};

use crate::figure::{Figure, Key, Line, Stroke};
use crate::html::{esc, fmt, sci, task_link, Page};
use crate::tasks::Group;
use crate::{claims, Input};

/// A warning at the top when the data are too small for the paper's claims.
pub fn banner(page: &mut Page, f: &Findings) {
    if f.limits.is_empty() {
        return;
    }
    let _ = write!(
        page.html,
        "<div class=\"banner\"><b>Too small to support the paper's claims:</b> {}. The verdicts below say what these data show; the claims need more (<code>docs/findings.md</code>, “study limits”).</div>",
        esc(&f.limits.join("; "))
    );
}

/// The table of contents.
pub fn contents(page: &mut Page, input: &Input, groups: &[Group]) {
    let f = input.findings;
    let mut items = vec![("overview", "Overview"), ("summary", "Summary")];
    if f.claims.is_some() {
        items.push(("claims", "The paper's claims"));
    }
    items.push(("thresholds", "Thresholds"));
    if !f.predictions.is_empty() {
        items.push(("predictions", "Runs in progress"));
    }
    if !input.curve.is_empty() {
        items.push(("loss-curves", "Loss curves"));
    }
    if input.axis.is_loss() {
        items.push(("scaling", "Scaling law"));
    }
    items.push(("tasks", "Tasks"));
    let mut nav = String::from("<nav class=\"toc\"><b>Contents</b> ");
    let links: Vec<String> = items
        .iter()
        .map(|(id, name)| format!("<a href=\"#{id}\">{name}</a>"))
        .collect();
    nav.push_str(&links.join(" · "));
    if groups.len() > 1 {
        nav.push_str("<br><b>Task families</b> ");
        let fams: Vec<String> = groups
            .iter()
            .map(|g| {
                format!(
                    "<a href=\"#{}\">{}</a> ({})",
                    g.id,
                    esc(&g.name),
                    g.tasks.len()
                )
            })
            .collect();
        nav.push_str(&fams.join(" · "));
    } else if let Some(g) = groups.first() {
        nav.push_str("<br><b>Tasks</b> ");
        let tasks: Vec<String> = g.tasks.iter().map(|((t, s), _)| task_link(t, *s)).collect();
        nav.push_str(&tasks.join(" · "));
    }
    if !f.rejected.is_empty() {
        nav.push_str(" · <a href=\"#rejected\">Rejected rows</a>");
    }
    nav.push_str("</nav>");
    page.html.push_str(&nav);
}

fn linked(ts: &[&TaskFinding]) -> String {
    let v: Vec<String> = ts.iter().map(|t| task_link(&t.task, t.shots)).collect();
    v.join(", ")
}

/// One paragraph: how many tasks got each verdict, and the claims.
pub fn summary(page: &mut Page, input: &Input) {
    let f = input.findings;
    let mains = main_findings(&f.tasks);
    let mut parts = Vec::new();
    for k in Kind::ALL {
        let ts: Vec<&TaskFinding> = mains.iter().copied().filter(|t| t.kind == k).collect();
        if ts.is_empty() {
            continue;
        }
        let names = if ts.len() <= 12 {
            format!(" ({})", linked(&ts))
        } else {
            String::new()
        };
        parts.push(format!("<b>{} {}</b>{names}", ts.len(), k.name()));
    }
    let _ = write!(
        page.html,
        "<h2 id=\"summary\">Summary</h2><p>{} observations from {} checkpoints of {} runs in {} model sizes, against {}. Of {} tasks' main metrics: {}. All {} task–metric series: {} (<a href=\"#thresholds\">table</a>; every point in <a href=\"tables/points.csv\">points.csv</a>, every finding in <a href=\"../findings.json\">findings.json</a>).",
        f.n_observations,
        checkpoints(input),
        runs(input),
        page.styles.n_sizes(),
        esc(&f.x_label),
        mains.len(),
        if parts.is_empty() { "none".into() } else { parts.join(", ") },
        f.tasks.len(),
        f.verdict_counts()
    );
    if input.axis.is_loss() {
        match &f.scaling {
            Some(law) => {
                let _ = write!(
                    page.html,
                    " The <a href=\"#scaling\">scaling law</a> L(N, D) = {:.3} + {:.3}/N^{:.3} + {:.3}/D^{:.3}.",
                    law.e, law.a, law.alpha, law.b, law.beta
                );
            }
            None => {
                let _ = write!(
                    page.html,
                    " The <a href=\"#scaling\">scaling law</a> is {}.",
                    esc(&f.scaling_points)
                );
            }
        }
    }
    if !input.sources.is_empty() {
        let _ = write!(
            page.html,
            " Checkpoints from the Hugging Face Hub: {}.",
            esc(&input.sources.join("; "))
        );
    }
    page.html.push_str("</p>");
    if let Some(c) = &f.claims {
        claims::claims_table(&mut page.html, c, &|task| {
            let t = mains.iter().find(|t| t.task == task);
            t.map_or(esc(task), |t| task_link(task, t.shots))
        });
    }
}

fn checkpoints(input: &Input) -> usize {
    let mut c: Vec<(&str, u64)> = input
        .obs
        .iter()
        .map(|o| (o.run.as_str(), o.tokens.to_bits()))
        .collect();
    c.sort();
    c.dedup();
    c.len()
}

fn runs(input: &Input) -> usize {
    let mut r: Vec<&str> = input.obs.iter().map(|o| o.run.as_str()).collect();
    r.sort();
    r.dedup();
    r.len()
}

pub fn thresholds_table(page: &mut Page, f: &Findings) {
    let r = &f.rules;
    let _ = write!(
        page.html,
        "<h2 id=\"thresholds\">Thresholds</h2><p>Per task and metric, against {}: the verdict (hover it for the rule that decided it), the onset η (where the rising shapes, weighted by their evidence, leave the random-guess band) with its 95% interval over {} resamples (documents resampled jointly across checkpoints where records exist, runs resampled), the plateau's share of the range after the warm-up (emergent needs {:.0}%), the share from η to half the rise (small: abrupt) and the shape with the most evidence, the verdict's stability (the fraction of resamples, leave-one-run-out and highest-loss-{:.0}%-dropped refits that agree; every verdict needs {:.0}%), the plateau's level against the random baseline (no better than chance: within +{} on the better side), the extrapolation error of the smooth family fitted on the upper {:.0}% of the range against the noise, the forecast of the largest size's checkpoints from the other runs (mean absolute error, and the share of them inside its 95% interval), R² of performance on {} alone (monotone fit) and with log size and log tokens added, Pearson's and Spearman's correlation with it (the paper's Table 2), R² on training compute alone (the paper's negative control: sizes that share a curve against loss and not against compute score well below R² x here), the domain whose loss explains it best, and where a scaling law is fitted the model size and compute (at {} tokens per parameter) whose loss is η. <a href=\"tables/thresholds.csv\">CSV</a></p>",
        esc(&f.x_label), r.boot, 100.0 * r.min_plateau, 100.0 * r.drop_fraction, 100.0 * r.min_stability, r.margin,
        100.0 * r.fit_fraction, esc(&f.x_axis), f.tokens_per_param
    );
    page.html.push_str("<table><tr><th>task</th><th>shots</th><th>metric</th><th>verdict</th><th>η</th><th>95% interval</th><th>plateau</th><th>half-rise span</th><th>shape</th><th>stability</th><th>plateau level</th><th>baseline</th><th>extrapolation error / noise</th><th>forecast error / covered</th><th>R² x</th><th>R² x+size</th><th>Pearson / Spearman</th><th>R² compute</th><th>best domain</th><th>points</th><th>size at η</th><th>compute at η</th></tr>");
    for t in &f.tasks {
        let ci =
            t.ci.map_or("–".into(), |[a, b]| format!("[{a:.4}, {b:.4}]"));
        let share = |v: Option<f64>| v.map_or("–".into(), |v| format!("{:.0}%", 100.0 * v));
        let shape = t.shape.map_or("–", |s| s.name());
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
        let fc = t.forecast.as_ref().map_or("–".into(), |f| {
            format!("{:.3} / {:.0}%", f.mae, 100.0 * f.coverage)
        });
        let corr = format!("{} / {}", fmt(t.pearson, 3), fmt(t.spearman, 3));
        let domain = t
            .best_domain()
            .map_or("–".into(), |(d, r2)| format!("{} ({r2:.3})", esc(d)));
        let _ = write!(
            page.html,
            "<tr class=\"{k}\"><td>{}</td><td>{}</td><td>{}</td><td title=\"{}\">{k}</td><td>{}</td><td>{ci}</td><td>{}</td><td>{}</td><td>{shape}</td><td>{stable}</td><td>{level}</td><td>{}</td><td>{ex}</td><td>{fc}</td><td>{}</td><td>{}</td><td>{corr}</td><td>{}</td><td>{domain}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            task_link(&t.task, t.shots), t.shots, esc(&t.metric), esc(t.reason.as_deref().unwrap_or("")),
            fmt(t.threshold, 4), share(t.plateau_share), share(t.half_rise_span), fmt(t.baseline, 3),
            fmt(t.r2_loss, 3), fmt(t.r2_loss_size, 3), fmt(t.r2_compute, 3), t.n_points,
            t.threshold_params.map_or("–".into(), human_count), sci(t.threshold_flops),
            k = t.kind.name(),
        );
    }
    page.html.push_str("</table>");
}

pub fn predictions_table(page: &mut Page, f: &Findings) {
    if f.predictions.is_empty() {
        return;
    }
    page.html.push_str("<h2 id=\"predictions\">Runs that have not crossed a threshold yet</h2><p>Each run's loss curve L(D) = E + B/D^β fitted to its checkpoints so far; the tokens at which it reaches each emergent task's threshold. <a href=\"tables/predictions.csv\">CSV</a></p><table><tr><th>run</th><th>task</th><th>metric</th><th>η</th><th>tokens so far</th><th>loss now</th><th>tokens at η</th></tr>");
    for p in &f.predictions {
        let _ = write!(
            page.html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.4}</td><td>{:.3e}</td><td>{:.4}</td><td>{}</td></tr>",
            esc(&p.run), task_link(&p.task, p.shots), esc(&p.metric), p.threshold, p.tokens_so_far, p.loss_now,
            p.tokens_at_threshold.map_or(format!("not on its fitted curve (levels off at {:.4})", p.curve.e), |d| format!("{d:.3e}"))
        );
    }
    page.html.push_str("</table>");
}

fn curve_tip(c: &CurvePoint) -> String {
    format!(
        "{} · {} tokens · loss {:.4}",
        c.run,
        human_count(c.tokens),
        c.loss
    )
}

/// One line per run of its loss against tokens.
fn curve_lines<'a>(page: &Page, pts: impl Iterator<Item = &'a CurvePoint>) -> Vec<Line> {
    let mut runs: std::collections::BTreeMap<(usize, &str), Vec<&CurvePoint>> = Default::default();
    for c in pts.filter(|c| c.tokens > 0.0 && c.loss.is_finite()) {
        runs.entry((page.styles.rank(&c.size), c.run.as_str()))
            .or_default()
            .push(c);
    }
    runs.into_values()
        .map(|mut v| {
            v.sort_by(|a, b| a.tokens.total_cmp(&b.tokens));
            Line {
                colour: page.styles.colour(&v[0].size),
                points: v.iter().map(|c| (c.tokens, c.loss)).collect(),
                tips: v.iter().map(|c| curve_tip(c)).collect(),
                marker: Some(page.styles.marker(&v[0].run)),
                ..Line::default()
            }
        })
        .collect()
}

pub fn loss_curves(page: &mut Page, curve: &[CurvePoint], axis: &XAxis) -> Result<()> {
    let fig = Figure {
        title: "Validation loss during training".into(),
        x_label: "training tokens (log scale)".into(),
        y_label: format!("validation loss ({}, lower is better)", axis.loss_unit()),
        x_log: true,
        lines: curve_lines(page, curve.iter()),
        legend: page.styles.keys(),
        ..Figure::default()
    };
    page.html
        .push_str("<h2 id=\"loss-curves\">Loss curves</h2>");
    page.figure(
        &fig,
        "loss_curves",
        "Each run's validation loss at its checkpoints against the tokens it had seen.",
    )
}

pub fn scaling_section(page: &mut Page, input: &Input) -> Result<()> {
    let f = input.findings;
    let Some(law) = &f.scaling else {
        let _ = write!(
            page.html,
            "<h2 id=\"scaling\">Scaling law</h2><p class=\"unidentified\">L(N, D) = E + A/N^α + B/D^β: <b>{}</b>. No parameters are shown: any set of them would fit these points as well as another.</p>",
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
    let mut lines = curve_lines(page, input.curve.iter());
    for l in &mut lines {
        l.stroke = Stroke::None;
    }
    let mut sizes: Vec<(&str, f64)> = input
        .curve
        .iter()
        .map(|c| (c.size.as_str(), c.params))
        .collect();
    sizes.sort_by(|a, b| a.1.total_cmp(&b.1));
    sizes.dedup_by(|a, b| a.0 == b.0);
    for (size, n) in sizes {
        lines.push(Line {
            colour: page.styles.colour(size),
            points: (0..=40)
                .map(|i| {
                    let d = lo * (hi / lo).powf(i as f64 / 40.0);
                    (d, law.loss(n, d))
                })
                .collect(),
            stroke: Stroke::Dashed,
            thin: true,
            ..Line::default()
        });
    }
    let mut legend = page.styles.keys();
    legend.push(Key {
        label: "the law at each size".into(),
        colour: crate::style::GREY,
        marker: None,
        stroke: Stroke::Dashed,
    });
    let fig = Figure {
        title: format!(
            "L(N, D) = {:.3} + {:.4}/N^{:.3} + {:.4}/D^{:.3}",
            law.e, law.a, law.alpha, law.b, law.beta
        ),
        x_label: "training tokens D (log scale)".into(),
        y_label: format!(
            "validation loss ({}, lower is better)",
            input.axis.loss_unit()
        ),
        x_log: true,
        lines,
        hline: Some((law.e, format!("E = {:.3}", law.e))),
        legend,
        ..Figure::default()
    };
    let _ = write!(
        page.html,
        "<h2 id=\"scaling\">Scaling law</h2><p>Fitted to {} ({} points) by Huber loss (δ = 10⁻³) on log-loss with L-BFGS from a grid of starts; 95% intervals from {} bootstrap refits over checkpoints. Dashed: the law at each size. <a href=\"tables/scaling_law.csv\">CSV</a></p>",
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
    page.figure(
        &fig,
        "scaling_law",
        "Every checkpoint's loss against its tokens, with the fitted law for each size.",
    )
}

pub fn rejected(page: &mut Page, f: &Findings) {
    if f.rejected.is_empty() {
        return;
    }
    let _ = write!(
        page.html,
        "<h2 id=\"rejected\">Rejected input rows ({})</h2><ul>",
        f.rejected.len()
    );
    for r in f.rejected.iter().take(100) {
        let _ = write!(page.html, "<li>{}</li>", esc(r));
    }
    page.html.push_str("</ul>");
}
