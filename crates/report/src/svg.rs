//! A small SVG line/scatter chart: enough for performance-against-loss figures.

use std::fmt::Write;

pub const PALETTE: &[&str] = &[
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

/// One series: a label, a colour and its points in data coordinates.
pub struct Series {
    pub label: String,
    pub colour: &'static str,
    pub points: Vec<(f64, f64)>,
    pub line: bool,
}

pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub reverse_x: bool,
    pub log_x: bool,
    /// A dashed horizontal reference line (the random-guess baseline).
    pub baseline: Option<f64>,
    pub series: Vec<Series>,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn nice_ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let span = (hi - lo).max(1e-12);
    let raw = span / n as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| span / s <= n as f64)
        .unwrap_or(10.0 * mag);
    let mut t = (lo / step).ceil() * step;
    let mut out = Vec::new();
    while t <= hi + 1e-9 * span {
        out.push(t);
        t += step;
    }
    out
}

fn fmt_tick(v: f64) -> String {
    if v != 0.0 && (v.abs() >= 1e5 || v.abs() < 1e-3) {
        format!("{v:.0e}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

impl Chart {
    pub fn render(&self) -> String {
        let (w, h) = (640.0, 420.0);
        let (l, r, t, b) = (70.0, 150.0, 40.0, 55.0);
        let tx = |x: f64| if self.log_x { x.max(1e-300).log10() } else { x };
        let pts = self
            .series
            .iter()
            .flat_map(|s| s.points.iter())
            .filter(|p| p.0.is_finite() && p.1.is_finite());
        let (mut x0, mut x1, mut y0, mut y1) = (
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
        );
        for &(x, y) in pts {
            x0 = x0.min(tx(x));
            x1 = x1.max(tx(x));
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
        if let Some(bl) = self.baseline {
            y0 = y0.min(bl);
            y1 = y1.max(bl);
        }
        if !x0.is_finite() {
            (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
        }
        let pad = |a: f64, b: f64| {
            let d = ((b - a) * 0.05).max(1e-6);
            (a - d, b + d)
        };
        (x0, x1) = pad(x0, x1);
        (y0, y1) = pad(y0, y1);
        let px = |x: f64| {
            let f = (tx(x) - x0) / (x1 - x0);
            l + (if self.reverse_x { 1.0 - f } else { f }) * (w - l - r)
        };
        let py = |y: f64| t + (1.0 - (y - y0) / (y1 - y0)) * (h - t - b);
        let mut s = String::new();
        let _ = write!(
            s,
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"##
        );
        let _ = write!(
            s,
            r##"<rect width="{w}" height="{h}" fill="white"/><text x="{}" y="22" font-size="14" text-anchor="middle">{}</text>"##,
            (l + w - r) / 2.0,
            esc(&self.title)
        );
        let _ = write!(
            s,
            r##"<rect x="{l}" y="{t}" width="{}" height="{}" fill="none" stroke="#333"/>"##,
            w - l - r,
            h - t - b
        );
        for v in nice_ticks(x0, x1, 6) {
            let xv = if self.log_x { 10f64.powf(v) } else { v };
            let x = px(xv);
            let _ = write!(
                s,
                r##"<line x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="#333"/><text x="{x}" y="{}" text-anchor="middle">{}</text>"##,
                h - b,
                h - b + 5.0,
                h - b + 18.0,
                fmt_tick(xv)
            );
        }
        for v in nice_ticks(y0, y1, 6) {
            let y = py(v);
            let _ = write!(
                s,
                r##"<line x1="{}" y1="{y}" x2="{l}" y2="{y}" stroke="#333"/><line x1="{l}" y1="{y}" x2="{}" y2="{y}" stroke="#eee"/><text x="{}" y="{}" text-anchor="end">{}</text>"##,
                l - 5.0,
                w - r,
                l - 8.0,
                y + 4.0,
                fmt_tick(v)
            );
        }
        let _ = write!(
            s,
            r##"<text x="{}" y="{}" text-anchor="middle">{}</text>"##,
            (l + w - r) / 2.0,
            h - 15.0,
            esc(&self.x_label)
        );
        let _ = write!(
            s,
            r##"<text transform="translate(18,{}) rotate(-90)" text-anchor="middle">{}</text>"##,
            (t + h - b) / 2.0,
            esc(&self.y_label)
        );
        if let Some(bl) = self.baseline {
            let y = py(bl);
            let _ = write!(
                s,
                r##"<line x1="{l}" y1="{y}" x2="{}" y2="{y}" stroke="#555" stroke-dasharray="6,4"/><text x="{}" y="{}" fill="#555">random</text>"##,
                w - r,
                w - r - 48.0,
                y - 4.0
            );
        }
        for (i, se) in self.series.iter().enumerate() {
            let finite: Vec<(f64, f64)> = se
                .points
                .iter()
                .cloned()
                .filter(|p| p.0.is_finite() && p.1.is_finite())
                .collect();
            if se.line && finite.len() > 1 {
                let d: Vec<String> = finite
                    .iter()
                    .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
                    .collect();
                let _ = write!(
                    s,
                    r##"<polyline fill="none" stroke="{}" stroke-width="1.5" stroke-opacity="0.6" points="{}"/>"##,
                    se.colour,
                    d.join(" ")
                );
            }
            for &(x, y) in &finite {
                let _ = write!(
                    s,
                    r##"<circle cx="{:.1}" cy="{:.1}" r="3.5" fill="{}"/>"##,
                    px(x),
                    py(y),
                    se.colour
                );
            }
            let ly = t + 10.0 + 18.0 * i as f64;
            let _ = write!(
                s,
                r##"<circle cx="{}" cy="{}" r="4" fill="{}"/><text x="{}" y="{}">{}</text>"##,
                w - r + 12.0,
                ly,
                se.colour,
                w - r + 22.0,
                ly + 4.0,
                esc(&se.label)
            );
        }
        s.push_str("</svg>\n");
        s
    }
}
