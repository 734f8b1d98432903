//! One figure description, drawn by `plotters` to SVG and to PNG (at twice the size,
//! for print) alike. The x axis is drawn in a plotting coordinate (log₁₀ for a log
//! axis, negated for a reversed one) with tick labels in the data's own units, so a
//! loss axis can run from high to low. The legend sits in a column right of the data.

use std::path::Path;
use std::sync::Once;

use anyhow::{anyhow, Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// How a run's points are marked: one marker per token budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    Circle,
    Triangle,
    Square,
    Diamond,
    Cross,
}

impl Marker {
    pub const ALL: [Marker; 5] = [
        Marker::Circle,
        Marker::Triangle,
        Marker::Square,
        Marker::Diamond,
        Marker::Cross,
    ];

    /// The same marker as text, for legends written in HTML.
    pub fn glyph(self) -> &'static str {
        match self {
            Marker::Circle => "●",
            Marker::Triangle => "▲",
            Marker::Square => "■",
            Marker::Diamond => "◆",
            Marker::Cross => "✕",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Stroke {
    #[default]
    Solid,
    Dashed,
    Dotted,
    /// Markers alone.
    None,
}

#[derive(Default)]
pub struct Line {
    /// Legend entry; `None` for a line whose look is already in the legend.
    pub label: Option<String>,
    pub colour: RGBColor,
    pub points: Vec<(f64, f64)>,
    /// Each point's standard error, drawn as a bar of ±1 se; empty for none.
    pub err: Vec<f64>,
    /// What hovering each point says; empty for nothing.
    pub tips: Vec<String>,
    pub marker: Option<Marker>,
    pub stroke: Stroke,
    /// A fitted model rather than data: drawn thin.
    pub thin: bool,
}

/// One legend entry.
#[derive(Debug, Clone)]
pub struct Key {
    pub label: String,
    pub colour: RGBColor,
    pub marker: Option<Marker>,
    pub stroke: Stroke,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Size {
    /// A figure of its own, with its legend.
    #[default]
    Full,
    /// A small panel of an overview grid, without legend.
    Panel,
}

#[derive(Default)]
pub struct Figure {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub x_log: bool,
    /// Higher values on the left (the paper's loss axis).
    pub x_reversed: bool,
    pub y_log: bool,
    pub lines: Vec<Line>,
    /// A dashed horizontal reference (the random-guess baseline) and its label.
    pub hline: Option<(f64, String)>,
    /// A vertical marker (the threshold) with its label, and a shaded interval.
    pub vline: Option<(f64, String)>,
    pub vband: Option<(f64, f64)>,
    pub legend: Vec<Key>,
    pub size: Size,
}

/// A point's place in the SVG's pixels and what hovering it says.
#[derive(Debug, Clone)]
pub struct Hotspot {
    pub x: i32,
    pub y: i32,
    pub tip: String,
}

/// A saved figure's size in pixels (the SVG's; the PNG is twice it) and its points.
pub struct Saved {
    pub width: u32,
    pub height: u32,
    pub hotspots: Vec<Hotspot>,
}

/// A figure of the given size, or a panel, with room for the legend column.
fn dimensions(size: Size, legend: &[Key]) -> (u32, u32, u32) {
    match size {
        Size::Full => (560, 420, legend_width(legend)),
        Size::Panel => (330, 250, 0),
    }
}

/// The legend column's width: at least 210 pixels, and wide enough for its longest
/// label (DejaVu Sans at 12 pixels averages under 7.5 pixels a character) after the
/// line sample.
fn legend_width(keys: &[Key]) -> u32 {
    if keys.is_empty() {
        return 0;
    }
    let chars = keys
        .iter()
        .map(|k| k.label.chars().count())
        .max()
        .unwrap_or(0);
    210.max(4 + 24 + 6 + (chars as f64 * 7.5).ceil() as u32 + 8)
}

/// A subset of DejaVu Sans (assets/make_font.sh), so text renders the same everywhere.
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans-subset.ttf");

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The embedded font is known to parse; a failure would show as missing text.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// Pixel sizes of one drawing, scaled for the PNG.
#[derive(Clone, Copy)]
struct Scale {
    s: u32,
    panel: bool,
    /// A data line's width: the bitmap backend draws wide steep lines with spikes, so
    /// it gets the narrowest that reads.
    run_width: u32,
}

impl Scale {
    fn px(&self, v: u32) -> u32 {
        v * self.s
    }

    fn font(&self, full: u32, panel: u32) -> u32 {
        self.s * if self.panel { panel } else { full }
    }
}

fn span(v: &[f64]) -> (f64, f64) {
    let lo = v.iter().cloned().fold(f64::INFINITY, f64::min);
    let hi = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let width = hi - lo;
    // A constant series gets a readable window around its value, not a sliver of
    // rounding error.
    if width <= 1e-9 * hi.abs().max(1.0) {
        let pad = (0.05 * hi.abs()).max(0.05);
        return (lo - pad, hi + pad);
    }
    (lo - 0.05 * width, hi + 0.05 * width)
}

impl Figure {
    fn px(&self, x: f64) -> f64 {
        let v = if self.x_log { x.log10() } else { x };
        if self.x_reversed {
            -v
        } else {
            v
        }
    }

    fn x_of(&self, p: f64) -> f64 {
        let v = if self.x_reversed { -p } else { p };
        if self.x_log {
            10f64.powf(v)
        } else {
            v
        }
    }

    fn py(&self, y: f64) -> f64 {
        if self.y_log {
            y.log10()
        } else {
            y
        }
    }

    fn ranges(&self) -> Option<((f64, f64), (f64, f64))> {
        let mut xs: Vec<f64> = Vec::new();
        let mut ys: Vec<f64> = Vec::new();
        for l in &self.lines {
            for (i, &(x, y)) in l.points.iter().enumerate() {
                let (p, q) = (self.px(x), self.py(y));
                if !(p.is_finite() && q.is_finite()) {
                    continue;
                }
                xs.push(p);
                ys.push(q);
                if let Some(e) = l.err.get(i).filter(|e| e.is_finite() && !self.y_log) {
                    ys.extend([q - e, q + e]);
                }
            }
        }
        if let Some((b, _)) = &self.hline {
            ys.push(self.py(*b));
        }
        (!xs.is_empty()).then(|| (span(&xs), span(&ys)))
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        sc: Scale,
        mut hot: Option<&mut Vec<Hotspot>>,
    ) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let err =
            |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("drawing `{}`: {e:?}", self.title);
        root.fill(&WHITE).map_err(err)?;
        let (plot_w, _, legend_w) = dimensions(self.size, &self.legend);
        let (plot, legend) = if legend_w > 0 {
            let (a, b) = root.split_horizontally(sc.px(plot_w));
            (a, Some(b))
        } else {
            (root.clone(), None)
        };
        let ((x0, x1), (y0, y1)) = self.ranges().unwrap_or(((0.0, 1.0), (0.0, 1.0)));
        let mut chart = ChartBuilder::on(&plot)
            .caption(&self.title, ("sans-serif", sc.font(16, 17)))
            .margin(sc.px(if sc.panel { 6 } else { 10 }))
            .x_label_area_size(sc.px(if sc.panel { 34 } else { 44 }))
            .y_label_area_size(sc.px(if sc.panel { 46 } else { 62 }))
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(err)?;
        let (xlog, ylog) = (self.x_log, self.y_log);
        let y_eps = (y1 - y0) * 1e-6;
        let ticks = if sc.panel { 5 } else { 8 };
        chart
            .configure_mesh()
            .x_labels(ticks)
            .y_labels(ticks)
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .x_label_formatter(&|p| {
                // Over two decades or more a log axis is labelled at powers of ten only.
                if xlog && (x1 - x0) >= 2.0 && (p - p.round()).abs() > 1e-6 {
                    return String::new();
                }
                tick(self.x_of(*p), xlog, 0.0)
            })
            .y_label_formatter(&|q| tick(if ylog { 10f64.powf(*q) } else { *q }, ylog, y_eps))
            .label_style(("sans-serif", sc.font(13, 14)))
            .axis_desc_style(("sans-serif", sc.font(14, 14)))
            .light_line_style(WHITE.mix(0.0))
            .bold_line_style(BLACK.mix(0.08))
            .draw()
            .map_err(err)?;
        if let Some((a, b)) = self.vband {
            let (p, q) = (self.px(a), self.px(b));
            let band = Rectangle::new([(p.min(q), y0), (p.max(q), y1)], BLACK.mix(0.08).filled());
            chart.draw_series(std::iter::once(band)).map_err(err)?;
        }
        if let Some((b, _)) = &self.hline {
            let q = self.py(*b);
            let style = BLACK.mix(0.55).stroke_width(sc.s);
            let dashes = DashedLineSeries::new([(x0, q), (x1, q)], sc.px(6), sc.px(4), style);
            chart.draw_series(dashes).map_err(err)?;
        }
        for l in &self.lines {
            let pts: Vec<(usize, (f64, f64))> = l
                .points
                .iter()
                .enumerate()
                .map(|(i, &(x, y))| (i, (self.px(x), self.py(y))))
                .filter(|(_, (p, q))| p.is_finite() && q.is_finite())
                .collect();
            let xy: Vec<(f64, f64)> = pts.iter().map(|p| p.1).collect();
            let bar = l.colour.mix(0.45).stroke_width(sc.s);
            let bars = pts.iter().filter_map(|&(i, (p, q))| {
                let e = *l.err.get(i)?;
                (e.is_finite() && e > 0.0 && !self.y_log)
                    .then(|| PathElement::new([(p, q - e), (p, q + e)], bar))
            });
            chart.draw_series(bars).map_err(err)?;
            let width = if l.thin { sc.s } else { sc.run_width };
            let style = l.colour.stroke_width(width);
            match l.stroke {
                Stroke::Solid => chart.draw_series(LineSeries::new(xy.clone(), style)),
                Stroke::Dashed => {
                    chart.draw_series(DashedLineSeries::new(xy.clone(), sc.px(6), sc.px(3), style))
                }
                Stroke::Dotted => {
                    chart.draw_series(DashedLineSeries::new(xy.clone(), sc.px(2), sc.px(3), style))
                }
                Stroke::None => chart.draw_series(std::iter::empty::<Circle<(f64, f64), u32>>()),
            }
            .map_err(err)?;
            if let Some(m) = l.marker {
                let r = if sc.panel { 2 } else { 3 };
                draw_markers(&mut chart, m, &xy, sc.px(r), l.colour).map_err(err)?;
            }
            if let Some(h) = hot.as_deref_mut() {
                for &(i, p) in &pts {
                    if let Some(tip) = l.tips.get(i) {
                        let (x, y) = chart.backend_coord(&p);
                        h.push(Hotspot {
                            x,
                            y,
                            tip: tip.clone(),
                        });
                    }
                }
            }
        }
        if let Some((v, label)) = &self.vline {
            let p = self.px(*v);
            let style = BLACK.mix(0.7).stroke_width(sc.s);
            chart
                .draw_series(LineSeries::new([(p, y0), (p, y1)], style))
                .map_err(err)?;
            // Beside the line, on the side with room for it.
            let right_half = (p - x0) > 0.6 * (x1 - x0);
            let anchor = if right_half { HPos::Right } else { HPos::Left };
            let font = ("sans-serif", sc.font(14, 14))
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(anchor, VPos::Top));
            let (x, y) = chart.backend_coord(&(p, y1));
            let dx = sc.px(4) as i32 * if right_half { -1 } else { 1 };
            plot.draw(&Text::new(
                label.clone(),
                (x + dx, y + sc.px(3) as i32),
                font,
            ))
            .map_err(err)?;
        }
        if let Some(area) = legend {
            draw_legend(&area, &self.legend, sc).map_err(err)?;
        }
        root.present().map_err(err)?;
        Ok(())
    }

    /// Writes `stem.svg` and `stem.png` (twice the SVG's size) into `dir`.
    pub fn save(&self, dir: &Path, stem: &str) -> Result<Saved> {
        register_font();
        let (plot_w, h, legend_w) = dimensions(self.size, &self.legend);
        let w = plot_w + legend_w;
        let panel = self.size == Size::Panel;
        let svg_path = dir.join(format!("{stem}.svg"));
        let mut hotspots = Vec::new();
        {
            let root = SVGBackend::new(&svg_path, (w, h)).into_drawing_area();
            let sc = Scale {
                s: 1,
                panel,
                run_width: 2,
            };
            self.draw(&root, sc, Some(&mut hotspots))?;
        }
        let (w2, h2) = (2 * w, 2 * h);
        let mut buf = vec![0u8; (w2 * h2 * 3) as usize];
        {
            let root = BitMapBackend::with_buffer(&mut buf, (w2, h2)).into_drawing_area();
            let sc = Scale {
                s: 2,
                panel,
                run_width: 3,
            };
            self.draw(&root, sc, None)?;
        }
        write_png(&dir.join(format!("{stem}.png")), &buf, w2, h2)?;
        Ok(Saved {
            width: w,
            height: h,
            hotspots,
        })
    }
}

fn draw_markers<DB: DrawingBackend, CT: plotters::coord::CoordTranslate<From = (f64, f64)>>(
    chart: &mut ChartContext<DB, CT>,
    m: Marker,
    pts: &[(f64, f64)],
    r: u32,
    colour: RGBColor,
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let fill = colour.filled();
    let ri = r as i32;
    match m {
        Marker::Circle => chart.draw_series(pts.iter().map(|&p| Circle::new(p, r, fill))),
        Marker::Triangle => {
            chart.draw_series(pts.iter().map(|&p| TriangleMarker::new(p, r + 1, fill)))
        }
        Marker::Square => chart.draw_series(
            pts.iter()
                .map(|&p| EmptyElement::at(p) + Rectangle::new([(-ri, -ri), (ri, ri)], fill)),
        ),
        Marker::Diamond => chart.draw_series(pts.iter().map(|&p| {
            let d = ri + 1;
            EmptyElement::at(p) + Polygon::new(vec![(0, -d), (d, 0), (0, d), (-d, 0)], fill)
        })),
        Marker::Cross => chart.draw_series(
            pts.iter()
                .map(|&p| Cross::new(p, r, colour.stroke_width(1 + r / 3))),
        ),
    }
    .map(|_| ())
}

fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    keys: &[Key],
    sc: Scale,
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let row = sc.px(18) as i32;
    let x = sc.px(4) as i32;
    let sample = sc.px(24) as i32;
    let font = ("sans-serif", sc.font(12, 10))
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    for (i, k) in keys.iter().enumerate() {
        let y = sc.px(40) as i32 + i as i32 * row;
        let style = k.colour.stroke_width(sc.s + 1);
        match k.stroke {
            Stroke::Solid => area.draw(&PathElement::new([(x, y), (x + sample, y)], style))?,
            Stroke::Dashed | Stroke::Dotted => {
                let (on, off) = if k.stroke == Stroke::Dashed {
                    (6, 3)
                } else {
                    (2, 3)
                };
                let (on, off) = (sc.px(on) as i32, sc.px(off) as i32);
                let mut a = x;
                while a < x + sample {
                    let b = (a + on).min(x + sample);
                    area.draw(&PathElement::new([(a, y), (b, y)], style))?;
                    a = b + off;
                }
            }
            Stroke::None => {}
        }
        if let Some(m) = k.marker {
            let c = (x + sample / 2, y);
            let r = sc.px(4) as i32;
            let fill = k.colour.filled();
            match m {
                Marker::Circle => area.draw(&Circle::new(c, r as u32, fill))?,
                Marker::Triangle => area.draw(&TriangleMarker::new(c, r as u32 + 1, fill))?,
                Marker::Square => area.draw(&Rectangle::new(
                    [(c.0 - r + 1, c.1 - r + 1), (c.0 + r - 1, c.1 + r - 1)],
                    fill,
                ))?,
                Marker::Diamond => area.draw(&Polygon::new(
                    vec![
                        (c.0, c.1 - r),
                        (c.0 + r, c.1),
                        (c.0, c.1 + r),
                        (c.0 - r, c.1),
                    ],
                    fill,
                ))?,
                Marker::Cross => {
                    area.draw(&Cross::new(c, r as u32, k.colour.stroke_width(sc.s)))?
                }
            }
        }
        area.draw(&Text::new(
            k.label.clone(),
            (x + sample + sc.px(6) as i32, y),
            font.clone(),
        ))?;
    }
    Ok(())
}

fn write_png(path: &Path, rgb: &[u8], w: u32, h: u32) -> Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    // Print resolution: twice the 96 dpi of the SVG.
    enc.set_pixel_dims(Some(png::PixelDimensions {
        xppu: 7559,
        yppu: 7559,
        unit: png::Unit::Meter,
    }));
    let mut writer = enc
        .write_header()
        .with_context(|| format!("writing {}", path.display()))?;
    writer
        .write_image_data(rgb)
        .with_context(|| format!("writing {}", path.display()))?;
    writer
        .finish()
        .with_context(|| format!("writing {}", path.display()))
}

/// A tick label: plain for ordinary numbers, scientific for large or log-scaled ones;
/// within `zero` of zero it is "0" (a tick at rounding error, not −2e-28).
fn tick(v: f64, log: bool, zero: f64) -> String {
    if v == 0.0 || (!log && v.abs() <= zero) {
        return "0".into();
    }
    if v.abs() >= 1e5 || v.abs() < 1e-3 {
        let s = format!("{v:.1e}");
        return s.replace(".0e", "e");
    }
    // Three significant digits: a log axis's 10^1.5 reads 31.6, not 3.2e1.
    let digits = if log {
        (2 - v.abs().log10().floor() as i32).max(0) as usize
    } else {
        3
    };
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_read_naturally() {
        assert_eq!(tick(2.5, false, 0.0), "2.5");
        assert_eq!(tick(3.0, false, 0.0), "3");
        assert_eq!(tick(1e9, true, 0.0), "1e9");
        assert_eq!(tick(3.2e7, true, 0.0), "3.2e7");
        assert_eq!(tick(31.62, true, 0.0), "31.6");
        assert_eq!(tick(100.0, true, 0.0), "100");
        assert_eq!(tick(-2e-28, false, 1e-7), "0");
    }

    #[test]
    fn a_constant_series_gets_a_readable_window() {
        let (lo, hi) = span(&[0.0, 0.0, 0.0]);
        assert!(lo <= -0.05 && hi >= 0.05, "{lo} {hi}");
        let (lo, hi) = span(&[0.25; 4]);
        assert!(lo < 0.25 && hi > 0.25 && hi - lo > 0.02, "{lo} {hi}");
    }

    #[test]
    fn reversed_log_axis_round_trips() {
        let f = Figure {
            x_log: true,
            x_reversed: true,
            ..Figure::default()
        };
        assert!((f.x_of(f.px(40.0)) - 40.0).abs() < 1e-9);
        assert!(f.px(10.0) > f.px(100.0), "lower values to the right");
    }
}
