//! One figure description, drawn by `plotters` to SVG and to PNG alike. The x axis is
//! drawn in a plotting coordinate (log₁₀ for a log axis, negated for a reversed one)
//! with tick labels in the data's own units, so a loss axis can run from high to low.

use std::path::Path;
use std::sync::Once;

use anyhow::{anyhow, Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;

/// Colours per model size (matplotlib's tab10, as in most papers' figures).
pub const PALETTE: [RGBColor; 10] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x7f, 0x7f, 0x7f),
    RGBColor(0xbc, 0xbd, 0x22),
    RGBColor(0x17, 0xbe, 0xcf),
];

const WIDTH: u32 = 640;
const HEIGHT: u32 = 440;

/// A subset of DejaVu Sans (assets/make_font.sh), so text renders the same everywhere.
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans-subset.ttf");

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The embedded font is known to parse; a failure would show as missing text.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

pub struct Line {
    /// Legend entry; `None` for a line whose colour is already in the legend.
    pub label: Option<String>,
    pub colour: RGBColor,
    pub points: Vec<(f64, f64)>,
    pub dashed: bool,
    pub markers: bool,
    /// Whether the points are joined (markers alone otherwise).
    pub joined: bool,
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
    /// A vertical marker (the threshold) and a shaded interval around it.
    pub vline: Option<f64>,
    pub vband: Option<(f64, f64)>,
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
            for &(x, y) in &l.points {
                let (p, q) = (self.px(x), self.py(y));
                if p.is_finite() && q.is_finite() {
                    xs.push(p);
                    ys.push(q);
                }
            }
        }
        if let Some((b, _)) = &self.hline {
            ys.push(self.py(*b));
        }
        let span = |v: &[f64]| {
            let lo = v.iter().cloned().fold(f64::INFINITY, f64::min);
            let hi = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let pad = ((hi - lo) * 0.05).max(1e-3 * hi.abs().max(1e-9));
            (lo - pad, hi + pad)
        };
        (!xs.is_empty()).then(|| (span(&xs), span(&ys)))
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, width: u32) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let err =
            |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("drawing `{}`: {e:?}", self.title);
        root.fill(&WHITE).map_err(err)?;
        let ((x0, x1), (y0, y1)) = self.ranges().unwrap_or(((0.0, 1.0), (0.0, 1.0)));
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, ("sans-serif", 17))
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(62)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(err)?;
        let (xlog, ylog) = (self.x_log, self.y_log);
        chart
            .configure_mesh()
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .x_label_formatter(&|p| tick(self.x_of(*p), xlog))
            .y_label_formatter(&|q| tick(if ylog { 10f64.powf(*q) } else { *q }, ylog))
            .label_style(("sans-serif", 12))
            .axis_desc_style(("sans-serif", 13))
            .light_line_style(WHITE.mix(0.0))
            .bold_line_style(BLACK.mix(0.08))
            .draw()
            .map_err(err)?;
        if let Some((a, b)) = self.vband {
            let (p, q) = (self.px(a), self.px(b));
            let band = Rectangle::new([(p.min(q), y0), (p.max(q), y1)], BLACK.mix(0.08).filled());
            chart.draw_series(std::iter::once(band)).map_err(err)?;
        }
        if let Some(v) = self.vline {
            let p = self.px(v);
            let style = BLACK.mix(0.6).stroke_width(1);
            chart
                .draw_series(LineSeries::new([(p, y0), (p, y1)], style))
                .map_err(err)?;
        }
        if let Some((b, label)) = &self.hline {
            let q = self.py(*b);
            let series =
                DashedLineSeries::new([(x0, q), (x1, q)], 6, 4, BLACK.mix(0.55).stroke_width(1));
            chart
                .draw_series(series)
                .map_err(err)?
                .label(label.clone())
                .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLACK.mix(0.55)));
        }
        for l in &self.lines {
            let pts: Vec<(f64, f64)> = l
                .points
                .iter()
                .map(|&(x, y)| (self.px(x), self.py(y)))
                .filter(|(p, q)| p.is_finite() && q.is_finite())
                .collect();
            let style = l.colour.stroke_width(if l.dashed { 1 } else { width });
            let anno = if !l.joined {
                let c = l.colour;
                chart
                    .draw_series(pts.iter().map(|&p| Circle::new(p, 3, c.filled())))
                    .map_err(err)?
            } else if l.dashed {
                chart
                    .draw_series(DashedLineSeries::new(pts.clone(), 5, 3, style))
                    .map_err(err)?
            } else {
                chart
                    .draw_series(LineSeries::new(pts.clone(), style))
                    .map_err(err)?
            };
            if let Some(label) = &l.label {
                let c = l.colour;
                anno.label(label.clone()).legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 16, y)], c.stroke_width(width))
                });
            }
            if l.markers {
                let c = l.colour;
                chart
                    .draw_series(pts.iter().map(|&p| Circle::new(p, 2, c.filled())))
                    .map_err(err)?;
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.2))
            .label_font(("sans-serif", 11))
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
        Ok(())
    }

    /// Writes `stem.svg` and `stem.png` into `dir`.
    pub fn save(&self, dir: &Path, stem: &str) -> Result<()> {
        register_font();
        let svg_path = dir.join(format!("{stem}.svg"));
        {
            let root = SVGBackend::new(&svg_path, (WIDTH, HEIGHT)).into_drawing_area();
            self.draw(&root, 2)?;
        }
        let mut buf = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
        {
            let root = BitMapBackend::with_buffer(&mut buf, (WIDTH, HEIGHT)).into_drawing_area();
            // plotters' bitmap backend draws steep lines wider than one pixel with
            // spikes; one-pixel lines are exact.
            self.draw(&root, 1)?;
        }
        write_png(&dir.join(format!("{stem}.png")), &buf, WIDTH, HEIGHT)
    }
}

fn write_png(path: &Path, rgb: &[u8], w: u32, h: u32) -> Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
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

/// A tick label: plain for ordinary numbers, scientific for large or log-scaled ones.
fn tick(v: f64, log: bool) -> String {
    if v == 0.0 {
        return "0".into();
    }
    if log || v.abs() >= 1e5 || v.abs() < 1e-3 {
        let s = format!("{v:.1e}");
        return s.replace(".0e", "e");
    }
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_read_naturally() {
        assert_eq!(tick(2.5, false), "2.5");
        assert_eq!(tick(3.0, false), "3");
        assert_eq!(tick(1e9, true), "1e9");
        assert_eq!(tick(3.2e7, true), "3.2e7");
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
