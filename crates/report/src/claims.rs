//! The paper's claims in the report: one table on a study's page, and the page that
//! sets several seeds' studies side by side.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use emergent_analysis::claims::{AcrossSeeds, Claims};

use crate::html::{esc, fmt, STYLE};

fn verdict(holds: bool) -> &'static str {
    if holds {
        "<td class=\"holds\">holds</td>"
    } else {
        "<td class=\"fails\">does not hold</td>"
    }
}

fn interval(ci: Option<[f64; 2]>) -> String {
    ci.map_or("–".into(), |[a, b]| format!("[{a:.3}, {b:.3}]"))
}

/// Each item's line, one line per item.
fn lines<T>(items: &[T], line: impl Fn(&T) -> String, sep: &str) -> String {
    items.iter().map(line).collect::<Vec<_>>().join(sep)
}

/// The claims table of one study; `link` writes a task's name (as a link to its
/// section).
pub fn claims_table(html: &mut String, c: &Claims, link: &dyn Fn(&str) -> String) {
    let lp = &c.loss_predicts_performance;
    let em = &c.emergent_tasks;
    let sm = &c.smooth_tasks;
    let co = &c.continuous_metrics;
    let la = &c.languages_agree;
    let rows = [
        (
            "1. loss predicts performance, whatever the size",
            lp.holds,
            &lp.rule,
            lines(
                &lp.tasks,
                |t| {
                    format!(
                        "{}: R² {}, +{} with size (on compute alone {})",
                        link(&t.task),
                        fmt(t.r2_loss, 3),
                        fmt(t.r2_gain_from_size, 3),
                        fmt(t.r2_compute, 3)
                    )
                },
                "<br>",
            ),
        ),
        (
            "2. some tasks are emergent",
            em.holds,
            &em.rule,
            lines(
                &em.tasks,
                |e| {
                    format!(
                        "{} ({}): η {} {}, {}% of the range",
                        link(&e.task),
                        esc(&e.metric),
                        fmt(e.threshold, 3),
                        interval(e.ci),
                        fmt(e.ci_fraction.map(|f| 100.0 * f), 0)
                    )
                },
                "<br>",
            ),
        ),
        (
            "3. others improve smoothly",
            sm.holds,
            &sm.rule,
            lines(&sm.tasks, |t| link(t), ", "),
        ),
        (
            "4. the threshold stays under continuous metrics",
            co.holds,
            &co.rule,
            lines(
                &co.tasks,
                |t| format!("{}: {}", link(&t.task), esc(&t.summary())),
                "<br>",
            ),
        ),
        (
            "5. both languages share the threshold",
            la.holds,
            &la.rule,
            lines(
                &la.tasks,
                |p| {
                    format!(
                        "{} {} {} / {} {} {}",
                        link(&p.tasks[0]),
                        p.kinds[0],
                        interval(p.cis[0]),
                        link(&p.tasks[1]),
                        p.kinds[1],
                        interval(p.cis[1])
                    )
                },
                "<br>",
            ),
        ),
    ];
    html.push_str("<h2 id=\"claims\">The paper's claims</h2><table><tr><th>claim</th><th>verdict</th><th>rule</th><th>the numbers</th></tr>");
    for (name, holds, rule, detail) in rows {
        let _ = write!(
            html,
            "<tr><td>{name}</td>{}<td>{}</td><td>{detail}</td></tr>",
            verdict(holds),
            esc(rule)
        );
    }
    html.push_str("</table>");
}

/// `dir/seeds.html`: each claim and each task's main metric over the seeds, linking
/// every seed's own report (`links`, relative to `dir`).
pub fn write_seeds_page(
    dir: &Path,
    title: &str,
    s: &AcrossSeeds,
    links: &[String],
) -> Result<PathBuf> {
    let title = esc(title);
    let mut html = format!("<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}: seeds</title><style>{STYLE}</style></head><body><h1>{title}: {} seeds</h1><p>Each seed is the whole study again with another corpus, split, initialisation and data order. Reports: ", s.seeds.len());
    let reports: Vec<String> = s
        .seeds
        .iter()
        .zip(links)
        .map(|(seed, link)| format!("<a href=\"{}\">seed {seed}</a>", esc(link)))
        .collect();
    html.push_str(&reports.join(", "));
    html.push_str("; the numbers: <a href=\"seeds.json\">seeds.json</a>.</p><h2>The paper's claims in every seed</h2><table><tr><th>claim</th>");
    for seed in &s.seeds {
        let _ = write!(html, "<th>seed {seed}</th>");
    }
    html.push_str("<th>every seed</th></tr>");
    for c in &s.claims {
        let _ = write!(html, "<tr><td>{}</td>", esc(&c.claim.replace('_', " ")));
        for &h in &c.holds_per_seed {
            html.push_str(verdict(h));
        }
        let _ = write!(html, "{}</tr>", verdict(c.holds_in_every_seed));
    }
    html.push_str(
        "</table><h2>Each task's main metric</h2><table><tr><th>task</th><th>metric</th>",
    );
    for seed in &s.seeds {
        let _ = write!(html, "<th>seed {seed}: verdict, η, R²</th>");
    }
    html.push_str("<th>η spread (max − min)</th></tr>");
    for t in &s.tasks {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td>",
            esc(&t.task),
            esc(&t.metric)
        );
        for ((k, eta), r2) in t.kinds.iter().zip(&t.thresholds).zip(&t.r2_loss) {
            let _ = write!(html, "<td>{k}, {}, {}</td>", fmt(*eta, 3), fmt(*r2, 3));
        }
        let _ = write!(html, "<td>{}</td></tr>", fmt(t.threshold_spread, 3));
    }
    html.push_str("</table></body></html>\n");
    let path = dir.join("seeds.html");
    std::fs::write(&path, html).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}
