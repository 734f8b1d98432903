//! The figures of tasks: the overview grids, and each task's section with every
//! metric against the x axis, the main metric's forecast of the largest size, and the
//! main metric against tokens and compute.

use std::collections::BTreeMap;
use std::fmt::Write;

use anyhow::Result;
use emergent_analysis::claims::main_findings;
use emergent_analysis::{
    series, CheckpointView, CurveRole, Findings, Forecast, ForecastPoint, Kind, Obs, TaskFinding,
    XAxis,
};
use plotters::style::RGBColor;

use crate::figure::{Figure, Key, Line, Size, Stroke};
use crate::html::{esc, slug, task_id, task_link, Page};
use crate::style::{Styles, GREY};
use crate::Input;

const BLACK: RGBColor = RGBColor(0, 0, 0);

/// Sections beyond which the task sections are folded by family.
const FOLD_ABOVE: usize = 20;
/// Tasks a family needs to be a group of its own.
const MIN_FAMILY: usize = 3;

/// A number to four significant digits.
pub fn short(v: f64) -> String {
    if v != 0.0 && (v.abs() >= 1e5 || v.abs() < 1e-3) {
        return format!("{v:.3e}");
    }
    let digits = (3 - v.abs().log10().floor().max(0.0) as i32).max(0) as usize;
    format!("{v:.digits$}")
}

/// A task and shot count with the findings of each metric, main metric first.
pub type TaskMetrics<'a> = ((&'a str, u32), Vec<&'a TaskFinding>);

/// One group of task sections: a benchmark family, or the tasks of no family.
pub struct Group<'a> {
    pub name: String,
    pub id: String,
    pub tasks: Vec<TaskMetrics<'a>>,
    pub folded: bool,
}

/// A task's family: its name up to the first `-` or `_`.
fn family_key(task: &str) -> &str {
    task.split(['-', '_']).next().unwrap_or(task)
}

/// The name the members of a family share, up to a separator.
fn common_name(names: &[&str]) -> String {
    let first = names[0];
    let mut n = first.len();
    for s in &names[1..] {
        n = n.min(
            first
                .bytes()
                .zip(s.bytes())
                .take_while(|(a, b)| a == b)
                .count(),
        );
    }
    let stem = &first[..n];
    let cut = stem.rfind(['-', '_']).filter(|_| n < first.len());
    stem[..cut.unwrap_or(stem.len())].to_string()
}

/// Findings by (task, shots), each task's main metric first.
fn by_task(f: &Findings) -> BTreeMap<(&str, u32), Vec<&TaskFinding>> {
    let mains: Vec<&TaskFinding> = main_findings(&f.tasks);
    let mut out: BTreeMap<(&str, u32), Vec<&TaskFinding>> = BTreeMap::new();
    for t in &f.tasks {
        out.entry((t.task.as_str(), t.shots)).or_default().push(t);
    }
    for v in out.values_mut() {
        if let Some(i) = v
            .iter()
            .position(|t| mains.iter().any(|m| std::ptr::eq(*m, *t)))
        {
            v.swap(0, i);
        }
    }
    out
}

/// The task sections' groups: one per family of three or more when there are many
/// sections, else one group of every task.
pub fn groups(f: &Findings) -> Vec<Group<'_>> {
    let all = by_task(f);
    let fold = all.len() > FOLD_ABOVE;
    let mut fams: BTreeMap<&str, Vec<TaskMetrics>> = BTreeMap::new();
    for (k, v) in all {
        fams.entry(if fold { family_key(k.0) } else { "" })
            .or_default()
            .push((k, v));
    }
    let mut groups = Vec::new();
    let mut rest = Vec::new();
    for (_, members) in fams {
        if fold && members.len() < MIN_FAMILY {
            rest.extend(members);
            continue;
        }
        let names: Vec<&str> = members.iter().map(|m| m.0 .0).collect();
        let name = if fold {
            common_name(&names)
        } else {
            "tasks".into()
        };
        groups.push(Group {
            id: format!("family-{}", slug(&name)),
            name,
            tasks: members,
            folded: fold,
        });
    }
    if !rest.is_empty() {
        groups.push(Group {
            name: "other tasks".into(),
            id: "family-other".into(),
            tasks: rest,
            folded: fold,
        });
    }
    groups
}

/// Each run's points joined in training order, coloured by size, marked by budget,
/// with standard-error bars and hover texts; smallest size first.
fn run_lines(pts: &[(&Obs, f64)], axis: &XAxis, styles: &Styles) -> Vec<Line> {
    let mut runs: BTreeMap<(usize, &str), Vec<(&Obs, f64)>> = BTreeMap::new();
    for &(o, x) in pts {
        runs.entry((styles.rank(&o.size), o.run.as_str()))
            .or_default()
            .push((o, x));
    }
    runs.into_values()
        .map(|mut v| {
            v.sort_by(|a, b| a.0.tokens.total_cmp(&b.0.tokens));
            let o = v[0].0;
            Line {
                colour: styles.colour(&o.size),
                points: v.iter().map(|(o, x)| (*x, o.value)).collect(),
                err: v
                    .iter()
                    .map(|(o, _)| stderr_of(o).unwrap_or(f64::NAN))
                    .collect(),
                tips: v.iter().map(|(o, x)| point_tip(o, axis, *x)).collect(),
                marker: Some(styles.marker(&o.run)),
                ..Line::default()
            }
        })
        .collect()
}

fn shots_name(shots: u32) -> String {
    if shots == 0 {
        "zero-shot".into()
    } else {
        format!("{shots}-shot")
    }
}

fn y_label(metric: &str) -> String {
    if emergent_metrics::lower_is_better(metric) {
        format!("{metric} (lower is better)")
    } else {
        metric.to_string()
    }
}

fn x_label(axis: &XAxis) -> String {
    if axis.lower_is_better() {
        format!("{} — lower is better →", axis.label())
    } else {
        format!("{} (log scale)", axis.label())
    }
}

/// How a fitted curve is drawn: the evidence-weighted average (what the onset is read
/// from) solid black, the break dotted and the best smooth shape dashed.
fn curve_look(role: CurveRole) -> (RGBColor, Stroke) {
    match role {
        CurveRole::Average => (BLACK, Stroke::Solid),
        CurveRole::Break => (GREY, Stroke::Dotted),
        CurveRole::Smooth => (GREY, Stroke::Dashed),
    }
}

fn fitted_lines(t: &TaskFinding) -> Vec<Line> {
    t.curves
        .iter()
        .map(|c| {
            let (colour, stroke) = curve_look(c.role);
            Line {
                colour,
                points: c.points.iter().map(|p| (p[0], p[1])).collect(),
                stroke,
                thin: true,
                ..Line::default()
            }
        })
        .collect()
}

/// The threshold to mark: an emergent task's onset η, or an uncertain one's, queried.
fn eta_mark(t: &TaskFinding) -> Option<(f64, String, Option<[f64; 2]>)> {
    match t.kind {
        Kind::Emergent => t.threshold.map(|e| (e, format!("η = {}", short(e)), t.ci)),
        Kind::Uncertain => t
            .onset
            .map(|e| (e, format!("η ≈ {}?", short(e)), t.onset_ci)),
        _ => None,
    }
}

/// The sizes' and budgets' keys, and the random-guess level's where the metric has one.
fn data_keys(t: &TaskFinding, styles: &Styles) -> Vec<Key> {
    let mut keys = styles.keys();
    if let Some(b) = t.baseline {
        keys.push(Key {
            label: format!("random guess {b:.3}"),
            colour: GREY,
            marker: None,
            stroke: Stroke::Dashed,
        });
    }
    keys
}

fn legend(t: &TaskFinding, styles: &Styles) -> Vec<Key> {
    let mut keys = data_keys(t, styles);
    for c in &t.curves {
        let aic = t
            .aic
            .get(&c.model)
            .map_or(String::new(), |a| format!(", AIC {a:.1}"));
        let (colour, stroke) = curve_look(c.role);
        keys.push(Key {
            label: match c.role {
                CurveRole::Average => "shapes weighted by evidence".to_string(),
                CurveRole::Break => format!("break model{aic}"),
                CurveRole::Smooth => format!("best smooth: {}{aic}", c.model),
            },
            colour,
            marker: None,
            stroke,
        });
    }
    keys
}

/// A task's metric against the axis, with its fits and threshold.
fn task_figure(
    t: &TaskFinding,
    pts: &[(&Obs, f64)],
    axis: &XAxis,
    styles: &Styles,
    size: Size,
) -> Figure {
    let mut lines = run_lines(pts, axis, styles);
    lines.extend(fitted_lines(t));
    let mark = eta_mark(t);
    let title = match size {
        Size::Full => format!(
            "{} ({}): {} — {}",
            t.task,
            shots_name(t.shots),
            t.metric,
            t.kind.name()
        ),
        Size::Panel => format!("{} · {}", t.task, t.kind.name()),
    };
    Figure {
        title,
        x_label: match size {
            Size::Full => x_label(axis),
            Size::Panel => axis.label().split(" (").next().unwrap_or("").to_string(),
        },
        y_label: y_label(&t.metric),
        x_log: axis.log_scale(),
        x_reversed: axis.lower_is_better(),
        lines,
        hline: t.baseline.map(|b| (b, format!("random guess {b:.3}"))),
        vline: mark.as_ref().map(|m| (m.0, m.1.clone())),
        vband: mark.and_then(|m| m.2).map(|[a, b]| (a, b)),
        legend: if size == Size::Full {
            legend(t, styles)
        } else {
            Vec::new()
        },
        size,
        ..Figure::default()
    }
}

/// The held-out runs' checkpoints with their forecast from the other runs: the
/// forecast dashed, its 95% interval dotted.
fn forecast_figure(
    t: &TaskFinding,
    fc: &Forecast,
    pts: &[(&Obs, f64)],
    axis: &XAxis,
    styles: &Styles,
) -> Figure {
    let mut lines = run_lines(pts, axis, styles);
    let mut order: Vec<&ForecastPoint> = fc.points.iter().collect();
    order.sort_by(|a, b| a.x.total_cmp(&b.x));
    let along = |v: &dyn Fn(&ForecastPoint) -> f64| order.iter().map(|p| (p.x, v(p))).collect();
    for (points, stroke) in [
        (along(&|p| p.predicted), Stroke::Dashed),
        (along(&|p| p.lo), Stroke::Dotted),
        (along(&|p| p.hi), Stroke::Dotted),
    ] {
        lines.push(Line {
            colour: BLACK,
            points,
            stroke,
            thin: true,
            ..Line::default()
        });
    }
    let mut legend = data_keys(t, styles);
    legend.push(Key {
        label: format!("forecast ({}) from the other runs", fc.model.name()),
        colour: BLACK,
        marker: None,
        stroke: Stroke::Dashed,
    });
    legend.push(Key {
        label: "its 95% interval".into(),
        colour: BLACK,
        marker: None,
        stroke: Stroke::Dotted,
    });
    let title = format!("{}: the largest size forecast from the others", t.task);
    metric_figure(title, t, axis, lines, legend)
}

/// A full-size figure of a task's metric against the axis, the baseline dashed.
fn metric_figure(
    title: String,
    t: &TaskFinding,
    axis: &XAxis,
    lines: Vec<Line>,
    legend: Vec<Key>,
) -> Figure {
    Figure {
        title,
        x_label: x_label(axis),
        y_label: y_label(&t.metric),
        x_log: axis.log_scale(),
        x_reversed: axis.lower_is_better(),
        lines,
        hline: t.baseline.map(|b| (b, String::new())),
        legend,
        ..Figure::default()
    }
}

fn forecast_caption(t: &TaskFinding, fc: &Forecast) -> String {
    let mut c = format!(
        "{} of {} forecast from every other run by the {} the verdict rests on: mean absolute error {:.4}, {:.0}% of its {} checkpoints inside the 95% interval",
        esc(&t.metric),
        esc(&fc.held_out.join(", ")),
        fc.model.name(),
        fc.mae,
        100.0 * fc.coverage,
        fc.points.len()
    );
    if let Some(m) = fc.sigmoid_mae {
        let _ = write!(c, " (a plain sigmoid fit: {m:.4})");
    }
    c.push('.');
    c
}

/// The largest size's run, every checkpoint joined, against every other size's final
/// checkpoint (the paper's per-checkpoint view).
fn checkpoint_figure(
    t: &TaskFinding,
    view: &CheckpointView,
    pts: &[(&Obs, f64)],
    axis: &XAxis,
    styles: &Styles,
) -> Figure {
    let own: Vec<(&Obs, f64)> = pts
        .iter()
        .filter(|(o, _)| o.run == view.run)
        .copied()
        .collect();
    let mut lines = run_lines(&own, axis, styles);
    for f in &view.finals {
        let tip = pts
            .iter()
            .find(|(o, x)| o.run == f.run && *x == f.x)
            .map(|(o, x)| point_tip(o, axis, *x));
        lines.push(Line {
            colour: styles.colour(&f.size),
            points: vec![(f.x, f.observed)],
            tips: tip.into_iter().collect(),
            marker: Some(styles.marker(&f.run)),
            stroke: Stroke::None,
            ..Line::default()
        });
    }
    let mut legend = data_keys(t, styles);
    legend.push(Key {
        label: format!("{}: every checkpoint", view.run),
        colour: GREY,
        marker: None,
        stroke: Stroke::Solid,
    });
    legend.push(Key {
        label: "other runs: final checkpoint".into(),
        colour: GREY,
        marker: Some(crate::figure::Marker::Circle),
        stroke: Stroke::None,
    });
    let title = format!("{}: checkpoints of one run, finals of the others", t.task);
    metric_figure(title, t, axis, lines, legend)
}

fn checkpoint_caption(t: &TaskFinding, view: &CheckpointView, axis: &XAxis) -> String {
    let inside = view.finals.iter().filter(|f| f.along_run.is_some()).count();
    let mut c = format!(
        "{} of {} at every checkpoint (joined) and of every other run at its last checkpoint: if performance is a function of {}, each final lies on the run's curve",
        esc(&t.metric),
        esc(&view.run),
        esc(&axis.label())
    );
    if let Some(m) = view.mae {
        let _ = write!(
            c,
            "; the {inside} finals inside its range differ from it by {m:.3} on average"
        );
        if let Some(n) = view.noise {
            let _ = write!(c, " (their standard error: {n:.3})");
        }
    }
    c.push('.');
    c
}

/// The main metric against tokens or compute, without fits.
fn budget_figure(t: &TaskFinding, pts: &[(&Obs, f64)], extra: &XAxis, styles: &Styles) -> Figure {
    let raw: Vec<(&Obs, f64)> = pts
        .iter()
        .filter_map(|(o, _)| {
            let v = if *extra == XAxis::Tokens {
                o.tokens
            } else {
                o.flops
            };
            (v > 0.0).then_some((*o, v))
        })
        .collect();
    let keys = data_keys(t, styles);
    Figure {
        title: format!(
            "{} ({}): {} against {}",
            t.task,
            shots_name(t.shots),
            t.metric,
            extra
        ),
        x_label: x_label(extra),
        y_label: y_label(&t.metric),
        x_log: true,
        lines: run_lines(&raw, extra, styles),
        hline: t.baseline.map(|b| (b, String::new())),
        legend: keys,
        ..Figure::default()
    }
}

fn panel_caption(t: &TaskFinding) -> String {
    let mut c = format!(
        "{} {} · {}",
        task_link(&t.task, t.shots),
        shots_name(t.shots),
        esc(&t.metric)
    );
    if let Some((_, label, ci)) = eta_mark(t) {
        let _ = write!(c, " · {label}");
        if let Some([a, b]) = ci {
            let _ = write!(c, " [{}, {}]", short(a), short(b));
        }
    }
    c
}

/// The overview: one panel per task's main metric, then per task its first continuous
/// metric (correct-choice probability, or the answer's log-probability).
pub fn overview(page: &mut Page, input: &Input) -> Result<()> {
    let f = input.findings;
    let by_key = series(input.obs, input.axis);
    let groups = by_task(f);
    let x = esc(&input.axis.label());
    let _ = write!(
        page.html,
        "<h2 id=\"overview\">Overview</h2><p>Each task's main metric (accuracy for multiple choice, exact match for generation) against {x}: every checkpoint of every run, one colour per model size, ±1 standard error, the random-guess level dashed, the model the verdict rests on drawn through the points and the threshold η with its 95% interval shaded. Hover a point for its checkpoint; a task's name leads to its section.</p>{}<div class=\"grid\">",
        page.styles.html_legend()
    );
    let mut continuous = Vec::new();
    for ((task, shots), metrics) in &groups {
        let main = metrics[0];
        if let Some(pts) = by_key.get(&(task.to_string(), *shots, main.metric.clone())) {
            let fig = task_figure(main, pts, input.axis, &page.styles, Size::Panel);
            let stem = format!("overview-{}-{shots}shot", slug(task));
            page.figure(&fig, &stem, &panel_caption(main))?;
        }
        let wanted = emergent_metrics::continuations(&main.metric);
        let first = wanted
            .iter()
            .find_map(|w| metrics.iter().find(|t| t.metric == *w));
        continuous.extend(first.copied());
    }
    page.html.push_str("</div>");
    if continuous.is_empty() {
        return Ok(());
    }
    let _ = write!(
        page.html,
        "<h3 id=\"overview-continuous\">Continuous metrics</h3><p>The same tasks scored by a continuous metric (the correct choice's probability, the reference answer's log-probability), as in the paper's Figure 3: a threshold that is real stays under them.</p><div class=\"grid\">"
    );
    for t in continuous {
        if let Some(pts) = by_key.get(&(t.task.clone(), t.shots, t.metric.clone())) {
            let fig = task_figure(t, pts, input.axis, &page.styles, Size::Panel);
            let stem = format!(
                "overview-{}-{}shot-{}",
                slug(&t.task),
                t.shots,
                slug(&t.metric)
            );
            page.figure(&fig, &stem, &panel_caption(t))?;
        }
    }
    page.html.push_str("</div>");
    Ok(())
}

/// One line on a task's verdict: the rule that decided it, η, stability.
fn verdict_line(t: &TaskFinding) -> String {
    let mut s = format!("<b>{}</b> ({})", t.kind.name(), esc(&t.metric));
    if let Some((_, label, ci)) = eta_mark(t) {
        let _ = write!(s, ", {label}");
        if let Some([a, b]) = ci {
            let _ = write!(s, " [{}, {}]", short(a), short(b));
        }
    }
    if let Some(st) = &t.stability {
        let _ = write!(s, ", stability {:.0}%", 100.0 * st.overall);
    }
    if let Some(r) = &t.reason {
        let _ = write!(s, ": {}", esc(r));
    }
    s
}

fn family_summary(g: &Group) -> String {
    let counts: Vec<String> = Kind::ALL
        .iter()
        .filter_map(|&k| {
            let n = g.tasks.iter().filter(|(_, m)| m[0].kind == k).count();
            (n > 0).then(|| format!("{n} {}", k.name()))
        })
        .collect();
    format!(
        "{} ({} tasks: {})",
        esc(&g.name),
        g.tasks.len(),
        counts.join(", ")
    )
}

const TOKENS_CAPTION: &str = "against the training tokens each checkpoint had seen (log scale): runs of one size differ here by their budget, and the sizes separate where loss alone would merge them.";
const FLOPS_CAPTION: &str =
    "against training compute C = 6·N·D (log scale): which size is ahead at equal compute.";

/// One section per task and shot count, in groups.
pub fn task_sections(page: &mut Page, input: &Input, groups: &[Group]) -> Result<()> {
    let by_key = series(input.obs, input.axis);
    page.html.push_str("<h2 id=\"tasks\">Tasks</h2>");
    for g in groups {
        if g.folded {
            let _ = write!(
                page.html,
                "<details id=\"{}\"><summary>{}</summary>",
                g.id,
                family_summary(g)
            );
        } else {
            let _ = write!(page.html, "<div id=\"{}\">", g.id);
        }
        for ((task, shots), metrics) in &g.tasks {
            let _ = write!(
                page.html,
                "<section id=\"{}\"><h3>{} ({})</h3><p>{}</p><div class=\"row\">",
                task_id(task, *shots),
                esc(task),
                shots_name(*shots),
                verdict_line(metrics[0])
            );
            for t in metrics {
                let Some(pts) = by_key.get(&(task.to_string(), *shots, t.metric.clone())) else {
                    continue;
                };
                let fig = task_figure(t, pts, input.axis, &page.styles, Size::Full);
                let stem = format!("{}-{shots}shot-{}", slug(task), slug(&t.metric));
                let caption = format!(
                    "{} against {}: {}.",
                    esc(&t.metric),
                    esc(&input.axis.label()),
                    verdict_line(t)
                );
                page.figure(&fig, &stem, &caption)?;
            }
            let main = metrics[0];
            if let Some(pts) = by_key.get(&(task.to_string(), *shots, main.metric.clone())) {
                if let Some(view) = &main.checkpoint_view {
                    let fig = checkpoint_figure(main, view, pts, input.axis, &page.styles);
                    let stem = format!(
                        "{}-{shots}shot-{}-checkpoints",
                        slug(task),
                        slug(&main.metric)
                    );
                    page.figure(&fig, &stem, &checkpoint_caption(main, view, input.axis))?;
                }
                if let Some(fc) = &main.forecast {
                    let fig = forecast_figure(main, fc, pts, input.axis, &page.styles);
                    let stem =
                        format!("{}-{shots}shot-{}-forecast", slug(task), slug(&main.metric));
                    page.figure(&fig, &stem, &forecast_caption(main, fc))?;
                }
                for (extra, caption) in [
                    (XAxis::Tokens, TOKENS_CAPTION),
                    (XAxis::Flops, FLOPS_CAPTION),
                ] {
                    if *input.axis == extra {
                        continue;
                    }
                    let fig = budget_figure(main, pts, &extra, &page.styles);
                    if fig.lines.is_empty() {
                        continue;
                    }
                    let stem = format!("{}-{shots}shot-{}-{extra}", slug(task), slug(&main.metric));
                    page.figure(&fig, &stem, &format!("{} {caption}", esc(&main.metric)))?;
                }
            }
            page.html.push_str("</div></section>");
        }
        page.html
            .push_str(if g.folded { "</details>" } else { "</div>" });
    }
    Ok(())
}

/// A point's standard error: as given, else binomial over its documents.
fn stderr_of(o: &Obs) -> Option<f64> {
    o.stderr.filter(|s| s.is_finite()).or_else(|| {
        let n = o.n.filter(|n| *n > 0.0)?;
        emergent_metrics::is_proportion(&o.metric)
            .then(|| (o.value * (1.0 - o.value) / n).max(0.0).sqrt())
    })
}

/// What hovering a point says (plain text): which checkpoint it is and its value.
fn point_tip(o: &Obs, axis: &XAxis, x: f64) -> String {
    let mut t = o.run.clone();
    if let Some(s) = o.step {
        let _ = write!(t, " · step {s}");
    }
    if o.tokens > 0.0 {
        let _ = write!(t, " · {} tokens", emergent_analysis::human_count(o.tokens));
    }
    if o.loss.is_finite() {
        let _ = write!(t, " · loss {:.4}", o.loss);
    }
    if !(axis.is_loss() || *axis == XAxis::Tokens) {
        let _ = write!(t, " · {} {}", axis.label(), short(x));
    }
    let _ = write!(t, " · {} {:.4}", o.metric, o.value);
    if let Some(se) = stderr_of(o) {
        let _ = write!(t, " ± {se:.4}");
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_named_by_what_their_members_share() {
        assert_eq!(
            common_name(&[
                "crows_pairs_english_age",
                "crows_pairs_french",
                "crows_pairs_english"
            ]),
            "crows_pairs"
        );
        assert_eq!(
            common_name(&["hendrycksTest-anatomy", "hendrycksTest-virology"]),
            "hendrycksTest"
        );
        assert_eq!(common_name(&["arc_easy", "arc_challenge"]), "arc");
        assert_eq!(family_key("hendrycksTest-anatomy"), "hendrycksTest");
    }
}
