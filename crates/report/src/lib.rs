//! The study report: `report/index.html`, readable offline, one folder. It opens with
//! an overview grid like the paper's Figures 1–3 (every task's main metric, then its
//! continuous metric, against loss), a summary of the verdicts and the paper's claims,
//! then the tables (thresholds, runs in progress), the loss curves and scaling law,
//! and one section per task, grouped by benchmark family. Every point has its
//! standard-error bar and says on hover which checkpoint it is; every figure is
//! written as SVG and as PNG at twice the size, every table as CSV.

mod claims;
mod figure;
mod html;
mod sections;
mod style;
mod tasks;
mod text;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
pub use claims::write_seeds_page;
use emergent_analysis::{CurvePoint, Findings, Obs, XAxis};
pub use figure::{Figure, Hotspot, Key, Line, Marker, Saved, Size, Stroke};
use html::{esc, Page, SCRIPT, STYLE};
pub use style::Styles;

/// Everything the report shows.
pub struct Input<'a> {
    pub title: &'a str,
    pub obs: &'a [Obs],
    /// Every checkpoint's loss (the loss curves and the scaling law's data).
    pub curve: &'a [CurvePoint],
    pub findings: &'a Findings,
    pub axis: &'a XAxis,
    /// Where the checkpoints came from, when from the Hugging Face Hub: a repository and
    /// its revisions each.
    pub sources: &'a [String],
    /// Called as each figure is written (a progress bar's tick).
    pub on_figure: &'a dyn Fn(),
}

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
    let title = esc(input.title);
    let mut page = Page {
        html: format!("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{title}</title><style>{STYLE}</style><script>{SCRIPT}</script></head><body><div id=\"tip\"></div><h1>{title}</h1>"),
        figures,
        styles: Styles::new(input.obs, input.curve),
        on_figure: input.on_figure,
    };
    let groups = tasks::groups(input.findings);
    sections::banner(&mut page, input.findings);
    sections::contents(&mut page, input, &groups);
    tasks::overview(&mut page, input)?;
    sections::summary(&mut page, input);
    sections::thresholds_table(&mut page, input.findings);
    sections::predictions_table(&mut page, input.findings);
    if !input.curve.is_empty() {
        sections::loss_curves(&mut page, input.curve, input.axis)?;
    }
    if input.axis.is_loss() {
        sections::scaling_section(&mut page, input)?;
    }
    tasks::task_sections(&mut page, input, &groups)?;
    sections::rejected(&mut page, input.findings);
    page.html.push_str("</body></html>\n");
    let index = dir.join("index.html");
    std::fs::write(&index, page.html).with_context(|| format!("writing {}", index.display()))?;
    Ok(index)
}
