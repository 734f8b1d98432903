//! How every figure of one report tells runs apart: a colour per model size, from a
//! sequential colour map in order of parameter count (so neighbouring sizes look
//! related and every size is distinct, however many there are), and a marker per
//! token budget, the same marker for the same budget in every size.

use std::collections::BTreeMap;
use std::fmt::Write;

use emergent_analysis::{human_count, CurvePoint, Obs};
use plotters::style::RGBColor;

use crate::figure::{Key, Marker, Stroke};
use crate::text::esc;

/// Viridis (matplotlib's default sequential map) at nine stops; its light yellow end
/// is left out so every colour reads on white.
const VIRIDIS: [(u8, u8, u8); 9] = [
    (0x44, 0x01, 0x54),
    (0x48, 0x28, 0x78),
    (0x3e, 0x49, 0x89),
    (0x31, 0x68, 0x8e),
    (0x26, 0x82, 0x8e),
    (0x1f, 0x9e, 0x89),
    (0x35, 0xb7, 0x79),
    (0x6e, 0xce, 0x58),
    (0xb5, 0xde, 0x2b),
];

/// The colour map at `t` in [0, 1].
pub fn sequential(t: f64) -> RGBColor {
    let t = t.clamp(0.0, 1.0) * (VIRIDIS.len() - 1) as f64;
    let i = (t.floor() as usize).min(VIRIDIS.len() - 2);
    let f = t - i as f64;
    let (a, b) = (VIRIDIS[i], VIRIDIS[i + 1]);
    let mix = |p: u8, q: u8| (p as f64 + f * (q as f64 - p as f64)).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

pub const GREY: RGBColor = RGBColor(0x70, 0x70, 0x70);

pub struct Styles {
    /// Sizes in order of parameter count: label, parameters, colour.
    sizes: Vec<(String, f64, RGBColor)>,
    /// Distinct token budgets, smallest first.
    budgets: Vec<f64>,
    run_budget: BTreeMap<String, f64>,
}

impl Styles {
    pub fn new(obs: &[Obs], curve: &[CurvePoint]) -> Styles {
        let mut sizes: Vec<(String, f64)> = obs
            .iter()
            .map(|o| (o.size.clone(), o.params))
            .chain(curve.iter().map(|c| (c.size.clone(), c.params)))
            .collect();
        sizes.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        sizes.dedup_by(|a, b| a.0 == b.0);
        let n = sizes.len();
        let sizes = sizes
            .into_iter()
            .enumerate()
            .map(|(i, (s, p))| {
                let t = if n > 1 {
                    i as f64 / (n - 1) as f64
                } else {
                    0.0
                };
                (s, p, sequential(t))
            })
            .collect();
        // A run's budget is the one it was planned with, else the furthest it got.
        let mut run_budget: BTreeMap<String, f64> = BTreeMap::new();
        let planned = obs
            .iter()
            .map(|o| (&o.run, o.budget, o.tokens))
            .chain(curve.iter().map(|c| (&c.run, c.token_budget, c.tokens)));
        for (run, budget, tokens) in planned {
            let b = run_budget.entry(run.clone()).or_insert(0.0);
            *b = b.max(budget.unwrap_or(tokens));
        }
        let mut budgets: Vec<f64> = run_budget.values().copied().collect();
        budgets.sort_by(f64::total_cmp);
        budgets.dedup_by(|a, b| (*a - *b).abs() <= 1e-9 * b.abs());
        Styles {
            sizes,
            budgets,
            run_budget,
        }
    }

    pub fn colour(&self, size: &str) -> RGBColor {
        self.sizes
            .iter()
            .find(|s| s.0 == size)
            .map_or(GREY, |s| s.2)
    }

    /// Position of a size in parameter order (runs are drawn small to large).
    pub fn rank(&self, size: &str) -> usize {
        self.sizes.iter().position(|s| s.0 == size).unwrap_or(0)
    }

    /// Whether budgets need telling apart: some size has runs of several budgets.
    fn several_budgets(&self) -> bool {
        (2..=Marker::ALL.len()).contains(&self.budgets.len())
    }

    pub fn marker(&self, run: &str) -> Marker {
        if !self.several_budgets() {
            return Marker::Circle;
        }
        let b = self.run_budget.get(run).copied().unwrap_or(0.0);
        let i = self
            .budgets
            .iter()
            .position(|x| (x - b).abs() <= 1e-9 * b.abs())
            .unwrap_or(0);
        Marker::ALL[i % Marker::ALL.len()]
    }

    fn size_label(&self, i: usize) -> String {
        let (s, p, _) = &self.sizes[i];
        let n = human_count(*p);
        if s.eq_ignore_ascii_case(&n) || s.to_lowercase().contains(&n.to_lowercase()) {
            s.clone()
        } else {
            format!("{s} ({n})")
        }
    }

    /// Legend entries: each size, then each budget's marker when there are several.
    pub fn keys(&self) -> Vec<Key> {
        let mut keys: Vec<Key> = (0..self.sizes.len())
            .map(|i| Key {
                label: self.size_label(i),
                colour: self.sizes[i].2,
                marker: None,
                stroke: Stroke::Solid,
            })
            .collect();
        if self.several_budgets() {
            for (b, m) in self.budgets.iter().zip(Marker::ALL) {
                keys.push(Key {
                    label: format!("{} tokens", human_count(*b)),
                    colour: GREY,
                    marker: Some(m),
                    stroke: Stroke::None,
                });
            }
        }
        keys
    }

    /// The same legend in HTML, for the overview grids.
    pub fn html_legend(&self) -> String {
        let mut h = String::from("<p class=\"legend\">");
        for (i, (_, _, c)) in self.sizes.iter().enumerate() {
            let _ = write!(
                h,
                "<span><b style=\"background:rgb({},{},{})\"></b>{}</span>",
                c.0,
                c.1,
                c.2,
                esc(&self.size_label(i))
            );
        }
        if self.several_budgets() {
            for (b, m) in self.budgets.iter().zip(Marker::ALL) {
                let _ = write!(h, "<span>{} {} tokens</span>", m.glyph(), human_count(*b));
            }
        }
        h.push_str("<span><i></i>random guess</span><span><u></u>fitted model; grey band: η's 95% interval</span></p>");
        h
    }

    pub fn n_sizes(&self) -> usize {
        self.sizes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_ordered_by_parameters_and_coloured_distinctly() {
        let obs: Vec<Obs> = [
            ("1.4B", 1.4e9),
            ("70M", 7e7),
            ("12B", 1.2e10),
            ("160M", 1.6e8),
        ]
        .iter()
        .map(|(s, p)| Obs {
            run: s.to_string(),
            size: s.to_string(),
            params: *p,
            ..Obs::default()
        })
        .collect();
        let st = Styles::new(&obs, &[]);
        let labels: Vec<String> = st.keys().into_iter().map(|k| k.label).collect();
        assert_eq!(labels, ["70M", "160M", "1.4B", "12B"]);
        let c: Vec<RGBColor> = ["70M", "160M", "1.4B", "12B"]
            .iter()
            .map(|s| st.colour(s))
            .collect();
        for i in 0..c.len() {
            for j in i + 1..c.len() {
                let d = (c[i].0 as i32 - c[j].0 as i32).abs()
                    + (c[i].1 as i32 - c[j].1 as i32).abs()
                    + (c[i].2 as i32 - c[j].2 as i32).abs();
                assert!(d > 60, "{i} and {j} look alike: {:?} {:?}", c[i], c[j]);
            }
        }
    }

    #[test]
    fn budgets_get_markers() {
        let obs: Vec<Obs> = [("a-1", "a", 1e6), ("a-2", "a", 2e6), ("b-1", "b", 1e6)]
            .iter()
            .map(|(r, s, b)| Obs {
                run: r.to_string(),
                size: s.to_string(),
                params: if *s == "a" { 1e3 } else { 2e3 },
                budget: Some(*b),
                ..Obs::default()
            })
            .collect();
        let st = Styles::new(&obs, &[]);
        assert_eq!(st.marker("a-1"), Marker::Circle);
        assert_eq!(st.marker("a-2"), Marker::Triangle);
        assert_eq!(st.marker("b-1"), Marker::Circle);
    }
}
