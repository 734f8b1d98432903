//! Observations grouped into series, one per (task, shots, metric), and each point's run
//! as a number: what every per-series analysis starts from.

use std::collections::BTreeMap;

use crate::axis::XAxis;
use crate::input::Obs;

/// A series: (task, shots, metric).
pub type SeriesKey = (String, u32, String);

/// Every observation with an x value on `axis`, with that value, per series.
pub fn series<'a>(obs: &'a [Obs], axis: &XAxis) -> BTreeMap<SeriesKey, Vec<(&'a Obs, f64)>> {
    let mut g: BTreeMap<SeriesKey, Vec<(&Obs, f64)>> = BTreeMap::new();
    for (o, x) in obs.iter().zip(axis.values(obs)) {
        if let Some(x) = x {
            g.entry((o.task.clone(), o.shots, o.metric.clone()))
                .or_default()
                .push((o, x));
        }
    }
    g
}

/// Each point's run as a number, in order of first appearance.
pub(crate) fn run_ids(pts: &[(&Obs, f64)]) -> Vec<u32> {
    let mut names: Vec<&str> = Vec::new();
    pts.iter()
        .map(|(o, _)| match names.iter().position(|n| *n == o.run) {
            Some(i) => i as u32,
            None => {
                names.push(&o.run);
                (names.len() - 1) as u32
            }
        })
        .collect()
}
