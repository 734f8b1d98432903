//! The paper's claims checked on one study's findings, each a verdict with the rule it
//! was judged by and the numbers behind it, so that `findings.json`, the report and the
//! README say the same thing. Across seeds, [`across_seeds`] says whether each claim
//! held in every seed and how far the thresholds moved.
//!
//! A task's *main* metric is the one it is scored by (`acc` for multiple choice, exact
//! match for generation); its *continuous* metrics are the correct choice's probability
//! and the Brier score, or the reference answer's log-probability. Claim 4 is judged,
//! as the paper judged it, on the multiple-choice tasks; generation tasks' answer
//! log-probability is reported beside it.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::axis::XAxis;
use crate::finding::TaskFinding;
use crate::input::Obs;
use crate::matched::{matched_effect, Effect};
use crate::series::{run_ids, SeriesKey};
use crate::threshold::{Kind, Rules};
use emergent_metrics::{continuations, is_main, is_multiple_choice, BRIER_SCORE, PROB_CORRECT};

/// How far apart, in the metric's units, the smallest and the largest model may score
/// at the same loss for loss alone to predict performance (claim 1), and two languages'
/// versions of a task (claim 5): an equivalence margin.
pub const MATCHED_MARGIN: f64 = 0.05;
/// Two-sided 95% normal quantile: two onsets are one unless they differ by more.
const Z95: f64 = 1.959_964;
/// An emergent threshold's 95% interval, as a fraction of the loss range the task's
/// checkpoints cover, must be narrower than this (claim 2).
pub const MAX_CI_FRACTION: f64 = 0.1;
/// Tasks a study needs that are emergent (claim 2) and smooth (claim 3).
pub const MIN_TASKS: usize = 2;
/// Standard errors by which a task's main metric must rise from the earliest fifth of
/// its checkpoints to the furthest for it to have signal.
pub const MIN_GAIN_SE: f64 = 2.0;

/// Model sizes a study needs for its claims to be judged: claim 1 compares sizes at
/// a fixed loss, and a threshold seen in two sizes could be either's quirk.
pub const MIN_SIZES: usize = 3;
/// The span of pre-training loss (nats) a study's checkpoints need: a threshold needs
/// checkpoints well above and well below it (the paper's models span about 1.5).
pub const MIN_LOSS_RANGE: f64 = 0.5;

/// Documents a task needs for "at chance" to be decidable: the equivalence test needs
/// 1.645 standard errors of a proportion (at most √(0.25/n)) inside the margin.
pub fn min_documents(margin: f64) -> f64 {
    (0.25 * (1.645 / margin).powi(2)).ceil()
}

/// Why a study is too small to support the paper's claims, one sentence per rule it
/// breaks (none when it is large enough).
pub fn limits(obs: &[Obs], axis: &XAxis, margin: f64) -> Vec<String> {
    let mut out = Vec::new();
    let mut docs: Vec<f64> = obs.iter().filter_map(|o| o.n).collect();
    docs.sort_by(f64::total_cmp);
    let need = min_documents(margin);
    if let Some(&median) = docs.get(docs.len() / 2) {
        if median < need {
            out.push(format!(
                "tasks scored on {median:.0} documents ({need:.0} needed to tell a level within ±{margin} of chance)"
            ));
        }
    }
    let mut sizes: Vec<f64> = obs.iter().map(|o| o.params).collect();
    sizes.sort_by(f64::total_cmp);
    sizes.dedup();
    if sizes.len() < MIN_SIZES {
        out.push(format!(
            "{} model size{} ({MIN_SIZES} needed to tell loss from size)",
            sizes.len(),
            if sizes.len() == 1 { "" } else { "s" }
        ));
    }
    if axis.lower_is_better() {
        let (lo, hi) = axis
            .values(obs)
            .into_iter()
            .flatten()
            .map(|v| axis.to_coord(v))
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                (a.min(v), b.max(v))
            });
        if lo.is_finite() && hi - lo < MIN_LOSS_RANGE {
            out.push(format!(
                "the checkpoints span {:.2} nats of {} ({MIN_LOSS_RANGE} needed for checkpoints on both sides of a threshold)",
                (hi - lo).max(0.0),
                axis.label()
            ));
        }
    }
    out
}

/// One claim: whether it holds, by which rule, and per task the numbers.
#[derive(Debug, Clone, Serialize)]
pub struct Claim<T> {
    pub holds: bool,
    pub rule: String,
    pub tasks: Vec<T>,
}

/// Claim 1 for one task with signal.
#[derive(Debug, Clone, Serialize)]
pub struct LossFit {
    pub task: String,
    pub metric: String,
    /// The difference between the largest and the smallest model at the same loss
    /// (from the residuals of one monotone curve through every checkpoint, regressed on
    /// log size), with its standard error from resampling runs.
    pub size_effect: Option<Effect>,
    pub r2_loss: Option<f64>,
    pub r2_gain_from_size: Option<f64>,
    /// R² on training compute alone, the paper's negative control: reported beside the
    /// claim (sizes that share a curve against loss and not against compute score
    /// well below `r2_loss`), not part of it.
    pub r2_compute: Option<f64>,
    pub holds: bool,
}

/// Claim 2 for one task whose main metric is emergent.
#[derive(Debug, Clone, Serialize)]
pub struct Emergence {
    pub task: String,
    pub metric: String,
    pub threshold: Option<f64>,
    pub ci: Option<[f64; 2]>,
    /// The interval's width over the loss range covered.
    pub ci_fraction: Option<f64>,
    pub holds: bool,
}

/// Claim 4 for one emergent task: each continuous metric's verdict and, for multiple
/// choice, where the Brier score stands on either side of the main metric's η.
#[derive(Debug, Clone, Serialize)]
pub struct Continuous {
    pub task: String,
    pub metrics: BTreeMap<String, String>,
    /// Multiple choice: judged by the claim. Generation tasks are reported beside it.
    pub judged: bool,
    pub brier: Option<BrierSides>,
    pub holds: bool,
}

impl Continuous {
    /// The task's line under claim 4: its continuous metrics' verdicts, the Brier score
    /// on either side of η, and whether the claim judges it.
    pub fn summary(&self) -> String {
        let mut parts: Vec<String> = self
            .metrics
            .iter()
            .map(|(m, k)| format!("{m} {k}"))
            .collect();
        if let Some(b) = &self.brier {
            parts.push(format!(
                "Brier {:.3} above η, {:.3} below (chance {:.3})",
                b.above, b.below, b.chance
            ));
        }
        let mut line = parts.join(", ");
        if !self.judged {
            line.push_str(" (generation: reported, not judged)");
        }
        line
    }
}

/// The Brier score's mean over the checkpoints above the main metric's η and below it,
/// with the standard error of their difference, and its chance level (k−1)/k.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct BrierSides {
    pub above: f64,
    pub below: f64,
    pub diff_se: f64,
    pub chance: f64,
    pub n_above: usize,
    pub n_below: usize,
}

impl BrierSides {
    /// No better than chance above η (≥ (k−1)/k − margin), and lower below it by more
    /// than [`MIN_GAIN_SE`] standard errors.
    pub fn holds(&self, margin: f64) -> bool {
        self.above >= self.chance - margin && self.above - self.below > MIN_GAIN_SE * self.diff_se
    }
}

/// The Brier score of task `t` (its checkpoints' values on the loss axis) split at the
/// main metric's η.
fn brier_sides(t: &TaskFinding, obs: &[Obs]) -> Option<BrierSides> {
    let eta = t.threshold?;
    let pts: Vec<&Obs> = obs
        .iter()
        .filter(|o| o.task == t.task && o.shots == t.shots && o.metric == BRIER_SCORE.name)
        .filter(|o| o.loss.is_finite() && o.value.is_finite())
        .collect();
    let side = |above: bool| -> Vec<f64> {
        pts.iter()
            .filter(|o| (o.loss > eta) == above)
            .map(|o| o.value)
            .collect()
    };
    let (a, b) = (side(true), side(false));
    if a.len() < 2 || b.len() < 2 {
        return None;
    }
    let mean_var = |v: &[f64]| {
        let m = v.iter().sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64;
        (m, var / v.len() as f64)
    };
    let ((above, va), (below, vb)) = (mean_var(&a), mean_var(&b));
    Some(BrierSides {
        above,
        below,
        diff_se: (va + vb).sqrt(),
        chance: pts.iter().find_map(|o| o.baseline)?,
        n_above: a.len(),
        n_below: b.len(),
    })
}

/// Claim 5 for one task in two languages.
#[derive(Debug, Clone, Serialize)]
pub struct LanguagePair {
    pub tasks: [String; 2],
    pub kinds: [String; 2],
    /// Each version's onset and its 95% interval.
    pub onsets: [Option<f64>; 2],
    pub cis: [Option<[f64; 2]>; 2],
    /// The onsets' difference over its standard error (each from its interval).
    pub onset_z: Option<f64>,
    /// The second version minus the first at the same loss, with its standard error.
    pub curve_effect: Option<Effect>,
    pub holds: bool,
}

/// The paper's claims on one study.
#[derive(Debug, Clone, Serialize)]
pub struct Claims {
    /// 1. Loss predicts performance whatever the size.
    pub loss_predicts_performance: Claim<LossFit>,
    /// 2. Some tasks stay at chance above a loss threshold and rise below it.
    pub emergent_tasks: Claim<Emergence>,
    /// 3. Other tasks improve smoothly from the start.
    pub smooth_tasks: Claim<String>,
    /// 4. The threshold stays under continuous metrics.
    pub continuous_metrics: Claim<Continuous>,
    /// 5. A task's versions in two languages share their threshold.
    pub languages_agree: Claim<LanguagePair>,
}

/// `qa-en` → (`qa`, `en`): a name ending in a two-letter language code.
fn language_of(task: &str) -> Option<(&str, &str)> {
    let (stem, code) = task.rsplit_once('-')?;
    (code.len() == 2 && code.chars().all(|c| c.is_ascii_lowercase())).then_some((stem, code))
}

/// The main finding of each (task, shots): exact match on its first filter when there
/// are several.
pub fn main_findings(tasks: &[TaskFinding]) -> Vec<&TaskFinding> {
    let mut seen = BTreeMap::new();
    for t in tasks.iter().filter(|t| is_main(&t.metric)) {
        seen.entry((t.task.as_str(), t.shots)).or_insert(t);
    }
    seen.into_values().collect()
}

/// Whether the main metric rose by more than [`MIN_GAIN_SE`] standard errors: a
/// verdict of emergent or smooth on a task that never leaves chance is a trend in the
/// noise (the same documents score every checkpoint, so their errors are correlated).
fn improves(t: &TaskFinding) -> bool {
    t.gain
        .is_some_and(|[g, se]| g > 0.0 && g > MIN_GAIN_SE * se)
}

fn overlap(a: Option<[f64; 2]>, b: Option<[f64; 2]>) -> bool {
    matches!((a, b), (Some(a), Some(b)) if a[0] <= b[1] && b[0] <= a[1])
}

/// A study's series on the x axis, by (task, shots, metric): what the claims' tests
/// at matched loss resample.
pub type Groups<'a> = BTreeMap<SeriesKey, Vec<(&'a Obs, f64)>>;

/// The main series of a task finding, on the x axis.
fn points<'a, 'b>(groups: &'b Groups<'a>, t: &TaskFinding) -> Option<&'b Vec<(&'a Obs, f64)>> {
    groups.get(&(t.task.clone(), t.shots, t.metric.clone()))
}

/// Claim 1's test for one task: the size effect at matched loss.
fn size_effect(groups: &Groups, t: &TaskFinding, rules: &Rules, seed: u64) -> Option<Effect> {
    let pts = points(groups, t)?;
    let x: Vec<f64> = pts.iter().map(|p| p.1).collect();
    let y: Vec<f64> = pts.iter().map(|p| p.0.value).collect();
    let cov: Vec<f64> = pts.iter().map(|p| p.0.params.ln()).collect();
    matched_effect(&x, &y, &cov, &run_ids(pts), true, rules.boot, seed)
}

/// Checks claims 1–5 on one study's findings; `obs` are the observations behind them
/// and `groups` their series on the loss axis; `rules` give the margin of chance and
/// the resamples of the tests at matched loss.
pub fn check(
    tasks: &[TaskFinding],
    obs: &[Obs],
    groups: &Groups,
    rules: &Rules,
    seed: u64,
) -> Claims {
    let margin = rules.margin;
    let main = main_findings(tasks);
    let with_signal: Vec<&&TaskFinding> = main
        .iter()
        .filter(|t| matches!(t.kind, Kind::Emergent | Kind::Smooth) && improves(t))
        .collect();
    let fits: Vec<LossFit> = with_signal
        .iter()
        .map(|t| {
            let gain = t.r2_loss.zip(t.r2_loss_size).map(|(a, b)| b - a);
            let effect = size_effect(groups, t, rules, seed);
            LossFit {
                task: t.task.clone(),
                metric: t.metric.clone(),
                size_effect: effect,
                r2_loss: t.r2_loss,
                r2_gain_from_size: gain,
                r2_compute: t.r2_compute,
                holds: effect.is_some_and(|e| e.within(MATCHED_MARGIN)),
            }
        })
        .collect();
    let emergent: Vec<&&TaskFinding> = main.iter().filter(|t| t.kind == Kind::Emergent).collect();
    let emergences: Vec<Emergence> = emergent
        .iter()
        .map(|t| {
            let range = t.x_range.map(|[lo, hi]| hi - lo).filter(|r| *r > 0.0);
            let fraction = t.ci.zip(range).map(|([a, b], r)| (b - a) / r);
            Emergence {
                task: t.task.clone(),
                metric: t.metric.clone(),
                threshold: t.threshold,
                ci: t.ci,
                ci_fraction: fraction,
                holds: improves(t) && fraction.is_some_and(|f| f < MAX_CI_FRACTION),
            }
        })
        .collect();
    let smooth: Vec<String> = main
        .iter()
        .filter(|t| t.kind == Kind::Smooth && improves(t))
        .map(|t| t.task.clone())
        .collect();
    let continuous: Vec<Continuous> = emergent
        .iter()
        .map(|t| continuous_of(t, tasks, obs, margin))
        .collect();
    let judged: Vec<&Continuous> = continuous.iter().filter(|c| c.judged).collect();
    let pairs = language_pairs(&main, groups, rules, seed);
    Claims {
        loss_predicts_performance: Claim {
            holds: !fits.is_empty() && fits.iter().all(|f| f.holds),
            rule: format!(
                "every task whose main metric is emergent or smooth and rises (furthest fifth \
                 of the checkpoints above the earliest by > {MIN_GAIN_SE} standard errors): \
                 the largest and the smallest model score alike at the same loss, within \
                 ±{MATCHED_MARGIN} (equivalence at 5%: |difference| + 1.645 standard errors, \
                 runs resampled); R² on loss alone and what size adds to it are reported"
            ),
            tasks: fits,
        },
        emergent_tasks: Claim {
            holds: emergences.iter().filter(|e| e.holds).count() >= MIN_TASKS,
            rule: format!(
                "≥ {MIN_TASKS} tasks whose main metric is emergent (at chance on a plateau \
                 above its onset, rising below it), rises (as in claim 1) and has an onset \
                 whose 95% interval is narrower than {}% of the loss range covered",
                MAX_CI_FRACTION * 100.0
            ),
            tasks: emergences,
        },
        smooth_tasks: Claim {
            holds: smooth.len() >= MIN_TASKS,
            rule: format!(
                "≥ {MIN_TASKS} tasks whose main metric is smooth and rises (as in claim 1)"
            ),
            tasks: smooth,
        },
        continuous_metrics: Claim {
            holds: !judged.is_empty() && judged.iter().all(|c| c.holds),
            rule: format!(
                "every multiple-choice task whose main metric is emergent (at least one): \
                 the correct choice's probability is emergent, and the Brier score is no \
                 better than chance above the onset (mean ≥ (k−1)/k − {margin}) and lower \
                 below it by > {MIN_GAIN_SE} standard errors; generation tasks' answer \
                 log-probability is reported, not judged"
            ),
            tasks: continuous,
        },
        languages_agree: Claim {
            holds: !pairs.is_empty() && pairs.iter().all(|p| p.holds),
            rule: format!(
                "for every task emergent in one language: both versions leave chance, their \
                 onsets' 95% intervals overlap and their difference is within 1.96 standard \
                 errors (a shared onset not rejected), and they score alike at the same \
                 loss within ±{MATCHED_MARGIN} (equivalence at 5%)"
            ),
            tasks: pairs,
        },
    }
}

/// Claim 4 for one emergent task.
fn continuous_of(t: &TaskFinding, tasks: &[TaskFinding], obs: &[Obs], margin: f64) -> Continuous {
    let metrics: BTreeMap<String, String> = continuations(&t.metric)
        .iter()
        .filter_map(|m| {
            tasks
                .iter()
                .find(|o| o.task == t.task && o.shots == t.shots && o.metric == *m)
                .map(|o| (m.to_string(), o.kind.name().to_string()))
        })
        .collect();
    let judged = is_multiple_choice(&t.metric);
    let brier = judged.then(|| brier_sides(t, obs)).flatten();
    let holds = if judged {
        metrics
            .get(PROB_CORRECT.name)
            .is_some_and(|k| k == "emergent")
            && brier.is_some_and(|b| b.holds(margin))
    } else {
        metrics.values().all(|k| k == "emergent")
    };
    Continuous {
        task: t.task.clone(),
        metrics,
        judged,
        brier,
        holds,
    }
}

/// A 95% interval's standard error, as a normal one's.
fn se_of(ci: [f64; 2]) -> f64 {
    (ci[1] - ci[0]).abs() / (2.0 * Z95)
}

/// Claim 5 for two versions of a task: a shared onset, and one curve at matched loss.
fn language_pair(
    a: &TaskFinding,
    b: &TaskFinding,
    groups: &Groups,
    rules: &Rules,
    seed: u64,
) -> LanguagePair {
    let onset_z = match (a.onset, b.onset, a.onset_ci, b.onset_ci) {
        (Some(p), Some(q), Some(u), Some(v)) => {
            let se = (se_of(u).powi(2) + se_of(v).powi(2)).sqrt();
            Some(if se > 0.0 {
                (p - q) / se
            } else {
                f64::INFINITY
            })
        }
        _ => None,
    };
    let curve_effect = points(groups, a)
        .zip(points(groups, b))
        .and_then(|(pa, pb)| {
            let both: Vec<(&Obs, f64)> = pa.iter().chain(pb).copied().collect();
            let x: Vec<f64> = both.iter().map(|p| p.1).collect();
            let y: Vec<f64> = both.iter().map(|p| p.0.value).collect();
            let cov: Vec<f64> = (0..both.len())
                .map(|i| (i >= pa.len()) as u8 as f64)
                .collect();
            matched_effect(&x, &y, &cov, &run_ids(&both), true, rules.boot, seed)
        });
    let holds = onset_z.is_some_and(|z| z.abs() <= Z95)
        && overlap(a.onset_ci, b.onset_ci)
        && curve_effect.is_some_and(|e| e.within(MATCHED_MARGIN));
    LanguagePair {
        tasks: [a.task.clone(), b.task.clone()],
        kinds: [a.kind.name().into(), b.kind.name().into()],
        onsets: [a.onset, b.onset],
        cis: [a.onset_ci, b.onset_ci],
        onset_z,
        curve_effect,
        holds,
    }
}

/// Tasks that differ only in their language code, at least one of them emergent.
fn language_pairs(
    main: &[&TaskFinding],
    groups: &Groups,
    rules: &Rules,
    seed: u64,
) -> Vec<LanguagePair> {
    let mut by_stem: BTreeMap<(&str, u32), Vec<&TaskFinding>> = BTreeMap::new();
    for t in main {
        if let Some((stem, _)) = language_of(&t.task) {
            by_stem.entry((stem, t.shots)).or_default().push(t);
        }
    }
    let mut out = Vec::new();
    for versions in by_stem.values() {
        for (i, a) in versions.iter().enumerate() {
            for b in &versions[i + 1..] {
                if a.kind == Kind::Emergent || b.kind == Kind::Emergent {
                    out.push(language_pair(a, b, groups, rules, seed));
                }
            }
        }
    }
    out
}

/// One claim as every reader shows it: its key in `findings.json`, its title, whether
/// it holds, its rule and a line per task (the task's name, then its numbers).
#[derive(Debug, Clone)]
pub struct Row<'a> {
    pub key: &'static str,
    pub title: &'static str,
    pub holds: bool,
    pub rule: &'a str,
    pub lines: Vec<(String, String)>,
}

fn num(v: Option<f64>, digits: usize) -> String {
    v.map_or("–".into(), |v| format!("{v:.digits$}"))
}

fn ci_text(ci: Option<[f64; 2]>) -> String {
    ci.map_or("–".into(), |[a, b]| format!("[{a:.3}, {b:.3}]"))
}

fn effect_text(e: Option<Effect>) -> String {
    e.map_or("–".into(), |e| format!("{:+.3} ± {:.3}", e.effect, e.se))
}

impl Claims {
    /// The five claims in order: the one definition the report, the terminal summary
    /// and the comparison of seeds read.
    pub fn rows(&self) -> [Row<'_>; 5] {
        let lp = &self.loss_predicts_performance;
        let em = &self.emergent_tasks;
        let sm = &self.smooth_tasks;
        let co = &self.continuous_metrics;
        let la = &self.languages_agree;
        [
            Row {
                key: "loss_predicts_performance",
                title: "1. loss predicts performance, whatever the size",
                holds: lp.holds,
                rule: &lp.rule,
                lines: lp
                    .tasks
                    .iter()
                    .map(|t| {
                        let text = format!(
                            "largest − smallest size at the same loss {}{} (R² {}, +{} with size, {} on compute alone)",
                            effect_text(t.size_effect),
                            if t.holds { "" } else { ", not within the margin" },
                            num(t.r2_loss, 3),
                            num(t.r2_gain_from_size, 3),
                            num(t.r2_compute, 3)
                        );
                        (t.task.clone(), text)
                    })
                    .collect(),
            },
            Row {
                key: "emergent_tasks",
                title: "2. some tasks are emergent",
                holds: em.holds,
                rule: &em.rule,
                lines: em
                    .tasks
                    .iter()
                    .map(|e| {
                        let text = format!(
                            "({}) η {} {}, {}% of the range",
                            e.metric,
                            num(e.threshold, 3),
                            ci_text(e.ci),
                            num(e.ci_fraction.map(|f| 100.0 * f), 0)
                        );
                        (e.task.clone(), text)
                    })
                    .collect(),
            },
            Row {
                key: "smooth_tasks",
                title: "3. others improve smoothly",
                holds: sm.holds,
                rule: &sm.rule,
                lines: sm.tasks.iter().map(|t| (t.clone(), String::new())).collect(),
            },
            Row {
                key: "continuous_metrics",
                title: "4. the threshold stays under continuous metrics",
                holds: co.holds,
                rule: &co.rule,
                lines: co
                    .tasks
                    .iter()
                    .map(|t| (t.task.clone(), t.summary()))
                    .collect(),
            },
            Row {
                key: "languages_agree",
                title: "5. both languages share the threshold",
                holds: la.holds,
                rule: &la.rule,
                lines: la
                    .tasks
                    .iter()
                    .map(|p| {
                        let text = format!(
                            "{} η {} {} / {} {} η {} {}; onsets apart by {} standard errors; second − first at the same loss {}",
                            p.kinds[0],
                            num(p.onsets[0], 3),
                            ci_text(p.cis[0]),
                            p.tasks[1],
                            p.kinds[1],
                            num(p.onsets[1], 3),
                            ci_text(p.cis[1]),
                            num(p.onset_z.map(f64::abs), 2),
                            effect_text(p.curve_effect)
                        );
                        (p.tasks[0].clone(), text)
                    })
                    .collect(),
            },
        ]
    }
}

/// One claim over several seeds.
#[derive(Debug, Clone, Serialize)]
pub struct ClaimAcrossSeeds {
    pub claim: String,
    pub holds_per_seed: Vec<bool>,
    pub holds_in_every_seed: bool,
}

/// One task's main metric over several seeds.
#[derive(Debug, Clone, Serialize)]
pub struct TaskAcrossSeeds {
    pub task: String,
    pub metric: String,
    pub kinds: Vec<String>,
    pub thresholds: Vec<Option<f64>>,
    /// Largest minus smallest threshold, over the seeds where the task is emergent.
    pub threshold_spread: Option<f64>,
    pub r2_loss: Vec<Option<f64>>,
}

/// Claim 6: whether claims 1–5 hold over every seed, and each task's spread.
#[derive(Debug, Clone, Serialize)]
pub struct AcrossSeeds {
    pub seeds: Vec<u64>,
    pub claims: Vec<ClaimAcrossSeeds>,
    pub tasks: Vec<TaskAcrossSeeds>,
}

/// Claims and main findings of one study per seed, side by side.
pub fn across_seeds(seeds: &[u64], per_seed: &[(Claims, Vec<TaskFinding>)]) -> AcrossSeeds {
    let claims = match per_seed.first() {
        None => Vec::new(),
        Some((first, _)) => first
            .rows()
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let holds: Vec<bool> = per_seed.iter().map(|(c, _)| c.rows()[i].holds).collect();
                ClaimAcrossSeeds {
                    claim: row.key.to_string(),
                    holds_in_every_seed: holds.iter().all(|h| *h),
                    holds_per_seed: holds,
                }
            })
            .collect(),
    };
    let mut keys: Vec<(String, String)> = Vec::new();
    for (_, tasks) in per_seed {
        for t in main_findings(tasks) {
            let key = (t.task.clone(), t.metric.clone());
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    let tasks = keys
        .into_iter()
        .map(|(task, metric)| {
            let found: Vec<Option<&TaskFinding>> = per_seed
                .iter()
                .map(|(_, ts)| ts.iter().find(|t| t.task == task && t.metric == metric))
                .collect();
            let thresholds: Vec<Option<f64>> =
                found.iter().map(|f| f.and_then(|t| t.threshold)).collect();
            let known: Vec<f64> = thresholds.iter().flatten().copied().collect();
            let spread = (known.len() >= 2).then(|| {
                let max = known.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                max - known.iter().cloned().fold(f64::INFINITY, f64::min)
            });
            TaskAcrossSeeds {
                kinds: found
                    .iter()
                    .map(|f| f.map_or("missing", |t| t.kind.name()).to_string())
                    .collect(),
                r2_loss: found.iter().map(|f| f.and_then(|t| t.r2_loss)).collect(),
                thresholds,
                threshold_spread: spread,
                task,
                metric,
            }
        })
        .collect();
    AcrossSeeds {
        seeds: seeds.to_vec(),
        claims,
        tasks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(task: &str, metric: &str, kind: Kind) -> TaskFinding {
        TaskFinding {
            task: task.into(),
            shots: 0,
            metric: metric.into(),
            kind,
            threshold: (kind == Kind::Emergent).then_some(2.0),
            ci: (kind == Kind::Emergent).then_some([1.9, 2.1]),
            onset: (kind == Kind::Emergent).then_some(2.0),
            onset_ci: (kind == Kind::Emergent).then_some([1.9, 2.1]),
            baseline: Some(0.25),
            x_range: Some([1.0, 6.0]),
            gain: Some([0.3, 0.02]),
            r2_loss: Some(0.95),
            r2_loss_size: Some(0.955),
            pearson: None,
            spearman: None,
            r2_compute: None,
            n_points: 60,
            ..TaskFinding::default()
        }
    }

    /// Brier scores of `task` at losses 1.0, 1.25, …, 5.75: `high` above loss 2 (its η
    /// in these tests), `low` below.
    fn brier(task: &str, high: f64, low: f64) -> Vec<Obs> {
        (0..20)
            .map(|i| {
                let loss = 1.0 + 0.25 * i as f64;
                let wiggle = if i % 2 == 0 { 0.005 } else { -0.005 };
                Obs {
                    task: task.into(),
                    metric: BRIER_SCORE.name.into(),
                    loss,
                    value: if loss > 2.0 { high } else { low } + wiggle,
                    baseline: Some(0.75),
                    ..Obs::default()
                }
            })
            .collect()
    }

    /// Accuracy of `task` at losses 5.75 down to 1.0 in four sizes × one run each: a
    /// hinge at loss 2, plus `per_size` for each step up in size, and a wiggle of
    /// ±0.005.
    fn acc(task: &str, per_size: f64) -> Vec<Obs> {
        let mut out = Vec::new();
        for size in 0..4 {
            for i in 0..20 {
                let loss = 1.0 + 0.25 * i as f64 + 0.05 * size as f64;
                let wiggle = if (i + size) % 2 == 0 { 0.005 } else { -0.005 };
                out.push(Obs {
                    run: format!("run-{size}"),
                    params: 1e6 * 4f64.powi(size),
                    task: task.into(),
                    metric: "acc".into(),
                    loss,
                    value: 0.25 + 0.4 * (2.0 - loss).max(0.0) + per_size * size as f64 + wiggle,
                    baseline: Some(0.25),
                    ..Obs::default()
                });
            }
        }
        out
    }

    fn obs() -> Vec<Obs> {
        let mut o = [brier("exam-en", 0.76, 0.5), brier("exam-zh", 0.75, 0.55)].concat();
        for task in ["exam-en", "exam-zh", "reading-en", "reading-zh", "coref-en"] {
            o.extend(acc(task, 0.0));
        }
        o
    }

    fn check_with(tasks: &[TaskFinding], obs: &[Obs]) -> Claims {
        let groups = crate::series::series(obs, &XAxis::Loss);
        let rules = Rules {
            boot: 40,
            ..Rules::default()
        };
        super::check(tasks, obs, &groups, &rules, 0)
    }

    fn check(tasks: &[TaskFinding]) -> Claims {
        check_with(tasks, &obs())
    }

    fn study() -> Vec<TaskFinding> {
        let e = Kind::Emergent;
        vec![
            finding("exam-en", "acc", e),
            finding("exam-en", "prob_correct", e),
            finding("exam-en", "brier_score", e),
            finding("exam-zh", "acc", e),
            finding("exam-zh", "prob_correct", e),
            finding("exam-zh", "brier_score", e),
            finding("reading-en", "acc", Kind::Smooth),
            finding("reading-zh", "acc", Kind::Smooth),
            finding("coref-en", "acc", Kind::Flat),
        ]
    }

    #[test]
    fn a_study_like_the_papers_passes_every_claim() {
        let c = check(&study());
        assert!(c.loss_predicts_performance.holds);
        // Flat tasks have no signal: only the four others are judged.
        assert_eq!(c.loss_predicts_performance.tasks.len(), 4);
        assert!(c.emergent_tasks.holds);
        assert!((c.emergent_tasks.tasks[0].ci_fraction.unwrap() - 0.04).abs() < 1e-9);
        assert!(c.smooth_tasks.holds);
        assert!(c.continuous_metrics.holds);
        assert!(c.languages_agree.holds);
        assert_eq!(c.languages_agree.tasks.len(), 1);
    }

    #[test]
    fn each_claim_fails_on_its_own_counterexample() {
        // The larger models score 0.03 higher per size at the same loss.
        let mut o: Vec<Obs> = obs()
            .into_iter()
            .filter(|o| o.task != "reading-en")
            .collect();
        o.extend(acc("reading-en", 0.03));
        let c = check_with(&study(), &o);
        assert!(!c.loss_predicts_performance.holds);
        let reading = &c.loss_predicts_performance.tasks[2];
        assert_eq!(reading.task, "reading-en");
        let e = reading.size_effect.unwrap();
        assert!(!reading.holds && (e.effect - 0.09).abs() < 0.01, "{e:?}");

        let mut s = study();
        s[3].ci = Some([1.0, 3.0]); // 40% of the range
        let c = check(&s);
        assert!(!c.emergent_tasks.holds, "one narrow interval is not two");
        assert!(!c.languages_agree.holds || c.languages_agree.tasks[0].holds);

        let mut s = study();
        s[1].kind = Kind::Smooth; // the correct choice's probability rises from the start
        assert!(!check(&s).continuous_metrics.holds);

        // The paper's reading of the Brier score: at chance above η, whatever its own
        // verdict; better than chance above η, or not falling below it, breaks the claim.
        let mut s = study();
        s[2].kind = Kind::Smooth;
        assert!(check(&s).continuous_metrics.holds);
        let with_brier = |a: Vec<Obs>| -> Vec<Obs> {
            let mut o: Vec<Obs> = obs()
                .into_iter()
                .filter(|o| o.metric != BRIER_SCORE.name)
                .collect();
            o.extend(a);
            o.extend(brier("exam-zh", 0.75, 0.55));
            o
        };
        let better = with_brier(brier("exam-en", 0.65, 0.5));
        assert!(!check_with(&study(), &better).continuous_metrics.holds);
        let flat = with_brier(brier("exam-en", 0.76, 0.76));
        let c = check_with(&study(), &flat);
        assert!(!c.continuous_metrics.holds);
        let b = c.continuous_metrics.tasks[0].brier.unwrap();
        assert_eq!((b.n_above, b.n_below), (15, 5));

        // Generation tasks are reported beside the claim, not judged by it.
        let mut s = study();
        s.push(finding("math-en", "exact_match", Kind::Emergent));
        s.push(finding("math-en", "answer_logprob", Kind::Smooth));
        let c = check(&s);
        assert!(c.continuous_metrics.holds);
        let math = c
            .continuous_metrics
            .tasks
            .iter()
            .find(|t| t.task == "math-en");
        assert!(math.is_some_and(|m| !m.judged && !m.holds));
        let only_generation = vec![
            finding("math-en", "exact_match", Kind::Emergent),
            finding("math-en", "answer_logprob", Kind::Emergent),
        ];
        assert!(!check(&only_generation).continuous_metrics.holds);

        let mut s = study();
        s[3].onset_ci = Some([2.5, 2.6]); // both narrow, but apart
        s[3].onset = Some(2.55);
        let c = check(&s);
        assert!(!c.languages_agree.holds);
        assert!(c.languages_agree.tasks[0].onset_z.unwrap().abs() > 1.96);

        // One onset and one curve: the labels may differ (a verdict at the edge of a
        // rule), the claim is on where the ability appears.
        let mut s = study();
        s[3].kind = Kind::Smooth;
        let c = check(&s);
        assert!(c.languages_agree.holds);
        assert_eq!(c.languages_agree.tasks[0].kinds[1], "smooth");
        // A version that never leaves chance, or sits above the other at the same loss,
        // does not share it.
        s[3].onset = None;
        assert!(!check(&s).languages_agree.holds);
        let mut o: Vec<Obs> = obs()
            .into_iter()
            .filter(|o| o.task != "exam-zh" || o.metric != "acc")
            .collect();
        o.extend(acc("exam-zh", 0.0).into_iter().map(|mut x| {
            x.value += 0.1;
            x
        }));
        let c = check_with(&study(), &o);
        assert!(!c.languages_agree.holds);
        let e = c.languages_agree.tasks[0].curve_effect.unwrap();
        assert!((e.effect - 0.1).abs() < 0.01, "{e:?}");

        let s: Vec<TaskFinding> = study()
            .into_iter()
            .filter(|t| !t.task.starts_with("reading"))
            .collect();
        assert!(!check(&s).smooth_tasks.holds);

        // A trend that never rises out of the noise is no signal: not smooth, not judged.
        let mut s = study();
        s[7].gain = Some([0.03, 0.02]);
        let c = check(&s);
        assert!(!c.smooth_tasks.holds);
        assert_eq!(c.loss_predicts_performance.tasks.len(), 3);
        let mut s = study();
        s[0].gain = Some([-0.05, 0.01]);
        assert!(!check(&s).emergent_tasks.holds);
    }

    #[test]
    fn seeds_are_compared_claim_by_claim_and_task_by_task() {
        let good = study();
        let mut bad = study();
        bad[6].kind = Kind::Flat;
        bad[0].threshold = Some(2.3);
        let per_seed = vec![(check(&good), good), (check(&bad), bad)];
        let s = across_seeds(&[0, 1], &per_seed);
        let smooth = s.claims.iter().find(|c| c.claim == "smooth_tasks").unwrap();
        assert_eq!(smooth.holds_per_seed, vec![true, false]);
        assert!(!smooth.holds_in_every_seed);
        let exam = s.tasks.iter().find(|t| t.task == "exam-en").unwrap();
        assert!((exam.threshold_spread.unwrap() - 0.3).abs() < 1e-9);
        assert_eq!(exam.kinds, vec!["emergent", "emergent"]);
    }
}
