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

/// The claims table of one study; `link` writes a task's name (as a link to its
/// section).
pub fn claims_table(html: &mut String, c: &Claims, link: &dyn Fn(&str) -> String) {
    html.push_str("<h2 id=\"claims\">The paper's claims</h2><table><tr><th>claim</th><th>verdict</th><th>rule</th><th>the numbers</th></tr>");
    for row in c.rows() {
        let detail: Vec<String> = row
            .lines
            .iter()
            .map(|(task, text)| {
                if text.is_empty() {
                    link(task)
                } else {
                    format!("{}: {}", link(task), esc(text))
                }
            })
            .collect();
        let _ = write!(
            html,
            "<tr><td>{}</td>{}<td>{}</td><td>{}</td></tr>",
            esc(row.title),
            verdict(row.holds),
            esc(row.rule),
            detail.join("<br>")
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
