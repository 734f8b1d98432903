//! One definition of every metric: its name as emergent and lm-evaluation-harness write
//! it, how lm-eval aggregates it, which way is better, what kind of number it is, its
//! random-guess level, and which main metric it continues. Scoring (`eval`), analysis
//! and the report ask here; nothing else spells a metric's name.
//!
//! Results read from other tools carry metrics emergent does not compute (`f1`, `mcc`,
//! `pct_stereotype`, `word_perplexity` under another name); those are classified by
//! their names' conventions (`acc*` a proportion, `*perplexity`/`ppl` a perplexity,
//! `*loss*` lower is better) in [`classify`] alone.

/// What kind of number a metric is: how it scatters and what bounds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A share of documents (accuracy, exact match): binomial over documents, in [0, 1].
    Proportion,
    /// A probability, averaged over documents: in [0, 1].
    Probability,
    /// The multi-class Brier score: in [0, 2].
    Brier,
    /// A log-probability of the reference answer: unbounded below.
    LogProbability,
    /// A perplexity: at least 1, lower is better.
    Perplexity,
    /// A cross-entropy (loss, bits per byte): lower is better.
    Loss,
    /// Anything else read from elsewhere.
    Other,
}

/// How lm-eval aggregates a metric's per-document values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregation {
    Mean,
    Perplexity,
    WeightedPerplexity,
    BitsPerByte,
}

impl Aggregation {
    /// The name lm-eval's task configs and results use.
    pub fn name(self) -> &'static str {
        match self {
            Aggregation::Mean => "mean",
            Aggregation::Perplexity => "perplexity",
            Aggregation::WeightedPerplexity => "weighted_perplexity",
            Aggregation::BitsPerByte => "bits_per_byte",
        }
    }
}

/// A metric's random-guess level, given the task's (the mean of 1/k over documents).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Baseline {
    /// The task's: a guess is right 1/k of the time.
    Chance,
    /// (k−1)/k: the Brier score of a uniform guess.
    OneMinusChance,
    /// None: a log-probability or perplexity has no guessing level.
    None,
}

/// One metric emergent computes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metric {
    pub name: &'static str,
    pub kind: Kind,
    pub higher_is_better: bool,
    /// lm-eval's aggregation; `None` for emergent's own continuous metrics, which lm-eval
    /// does not report and a task's `metric_list` cannot name.
    pub aggregation: Option<Aggregation>,
    pub baseline: Baseline,
    /// The main metric whose threshold this continuous metric is judged against (the
    /// paper's Figure 3 and claim 4).
    pub continues: Option<&'static str>,
}

const fn metric(
    name: &'static str,
    kind: Kind,
    higher_is_better: bool,
    aggregation: Option<Aggregation>,
    baseline: Baseline,
) -> Metric {
    Metric {
        name,
        kind,
        higher_is_better,
        aggregation,
        baseline,
        continues: None,
    }
}

const fn continuing(m: Metric, main: &'static str) -> Metric {
    Metric {
        continues: Some(main),
        ..m
    }
}

use Aggregation as A;

pub const ACC: Metric = metric(
    "acc",
    Kind::Proportion,
    true,
    Some(A::Mean),
    Baseline::Chance,
);
pub const ACC_NORM: Metric = metric(
    "acc_norm",
    Kind::Proportion,
    true,
    Some(A::Mean),
    Baseline::Chance,
);
pub const EXACT_MATCH: Metric = metric(
    "exact_match",
    Kind::Proportion,
    true,
    Some(A::Mean),
    Baseline::Chance,
);
/// The correct choice's probability, normalised over the choices.
pub const PROB_CORRECT: Metric = continuing(
    metric(
        "prob_correct",
        Kind::Probability,
        true,
        None,
        Baseline::Chance,
    ),
    ACC.name,
);
pub const BRIER_SCORE: Metric = continuing(
    metric(
        "brier_score",
        Kind::Brier,
        false,
        Some(A::Mean),
        Baseline::OneMinusChance,
    ),
    ACC.name,
);
/// The reference answer's log-probability, whole.
pub const ANSWER_LOGPROB: Metric = continuing(
    metric(
        "answer_logprob",
        Kind::LogProbability,
        true,
        None,
        Baseline::None,
    ),
    EXACT_MATCH.name,
);
pub const ANSWER_LOGPROB_PER_TOKEN: Metric = metric(
    "answer_logprob_per_token",
    Kind::LogProbability,
    true,
    None,
    Baseline::None,
);
pub const ANSWER_PROB: Metric =
    metric("answer_prob", Kind::Probability, true, None, Baseline::None);
pub const PERPLEXITY: Metric = metric(
    "perplexity",
    Kind::Perplexity,
    false,
    Some(A::Perplexity),
    Baseline::None,
);
pub const WORD_PERPLEXITY: Metric = metric(
    "word_perplexity",
    Kind::Perplexity,
    false,
    Some(A::WeightedPerplexity),
    Baseline::None,
);
pub const BYTE_PERPLEXITY: Metric = metric(
    "byte_perplexity",
    Kind::Perplexity,
    false,
    Some(A::WeightedPerplexity),
    Baseline::None,
);
pub const BITS_PER_BYTE: Metric = metric(
    "bits_per_byte",
    Kind::Loss,
    false,
    Some(A::BitsPerByte),
    Baseline::None,
);

/// The per-document log-likelihood a loglikelihood task records; lm-eval aggregates it
/// into [`PERPLEXITY`].
pub const LOGLIKELIHOOD: &str = "loglikelihood";

/// Every metric emergent computes.
pub const ALL: [Metric; 12] = [
    ACC,
    ACC_NORM,
    EXACT_MATCH,
    PROB_CORRECT,
    BRIER_SCORE,
    ANSWER_LOGPROB,
    ANSWER_LOGPROB_PER_TOKEN,
    ANSWER_PROB,
    PERPLEXITY,
    WORD_PERPLEXITY,
    BYTE_PERPLEXITY,
    BITS_PER_BYTE,
];

/// lm-eval's key of a metric under a filter: `exact_match,strict-match`.
pub fn key(name: &str, filter: &str) -> String {
    format!("{name},{filter}")
}

/// The metric's name in a key: `exact_match,strict-match` → `exact_match`.
pub fn name_of(key: &str) -> &str {
    split_key(key).0
}

/// A key's metric and filter: `exact_match,strict-match` → (`exact_match`,
/// `strict-match`); a key without a filter has an empty one.
pub fn split_key(key: &str) -> (&str, &str) {
    key.split_once(',').unwrap_or((key, ""))
}

/// The metric a key names, when emergent computes it.
pub fn get(key: &str) -> Option<&'static Metric> {
    let name = name_of(key);
    ALL.iter().find(|m| m.name == name)
}

/// The kind of any metric key: a defined metric's own, else by the name's conventions.
pub fn classify(key: &str) -> Kind {
    if let Some(m) = get(key) {
        return m.kind;
    }
    let n = name_of(key);
    if n.starts_with(ACC.name) || n.starts_with(EXACT_MATCH.name) {
        Kind::Proportion
    } else if n.contains("ppl") || n.contains("perplexity") {
        Kind::Perplexity
    } else if n.contains("loss") || n.contains("bpb") || n.contains("bits_per_byte") {
        Kind::Loss
    } else if n.contains("brier") {
        Kind::Brier
    } else {
        Kind::Other
    }
}

/// Whether a metric is a share of documents, and so scatters binomially.
pub fn is_proportion(key: &str) -> bool {
    classify(key) == Kind::Proportion
}

/// Whether a metric is a perplexity (an x axis takes its log: a cross-entropy).
pub fn is_perplexity(key: &str) -> bool {
    classify(key) == Kind::Perplexity
}

/// Whether smaller values are better: losses, perplexities, bits per byte and the Brier
/// score. Such metrics can stand in for pre-training loss.
pub fn lower_is_better(key: &str) -> bool {
    match get(key) {
        Some(m) => !m.higher_is_better,
        None => matches!(classify(key), Kind::Perplexity | Kind::Loss | Kind::Brier),
    }
}

/// The random-guess level of a metric given the task's.
pub fn baseline(key: &str, task_chance: f64) -> Option<f64> {
    let rule = match get(key) {
        Some(m) => m.baseline,
        None if is_proportion(key) => Baseline::Chance,
        None => Baseline::None,
    };
    match rule {
        Baseline::Chance => Some(task_chance),
        Baseline::OneMinusChance => Some(1.0 - task_chance),
        Baseline::None => None,
    }
}

/// The largest value a bounded metric takes (its smallest is 0): 1 for proportions and
/// probabilities, 2 for the multi-class Brier score (all mass on one wrong choice).
pub fn upper_bound(key: &str) -> Option<f64> {
    match get(key).map_or_else(|| classify(key), |m| m.kind) {
        Kind::Proportion | Kind::Probability => Some(1.0),
        Kind::Brier => Some(2.0),
        _ => None,
    }
}

/// Whether a metric is the one its task is judged by: accuracy for multiple choice,
/// exact match (under any filter) for generation.
pub fn is_main(key: &str) -> bool {
    key == ACC.name || name_of(key) == EXACT_MATCH.name
}

/// Whether a main metric is that of a multiple-choice task.
pub fn is_multiple_choice(main: &str) -> bool {
    main == ACC.name
}

/// The continuous metrics that continue a main metric (claim 4's).
pub fn continuations(main: &str) -> Vec<&'static str> {
    ALL.iter()
        .filter(|m| m.continues == Some(name_of(main)))
        .map(|m| m.name)
        .collect()
}

/// emergent's own continuous metrics, which lm-eval does not report.
pub fn own_continuous() -> impl Iterator<Item = &'static Metric> {
    ALL.iter()
        .filter(|m| m.aggregation.is_none() || m.continues.is_some())
}

/// The metrics a task's `metric_list` may name (those lm-eval aggregates).
pub fn listable() -> impl Iterator<Item = &'static Metric> {
    ALL.iter().filter(|m| m.aggregation.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_under_filters_name_their_metric() {
        assert_eq!(
            key("exact_match", "strict-match"),
            "exact_match,strict-match"
        );
        assert_eq!(name_of("exact_match,strict-match"), "exact_match");
        assert_eq!(get("exact_match,flexible-extract"), Some(&EXACT_MATCH));
        assert!(is_main("exact_match,strict-match") && is_main("acc") && !is_main("acc_norm"));
    }

    #[test]
    fn baselines_directions_and_bounds() {
        assert_eq!(baseline("brier_score", 0.25), Some(0.75));
        assert_eq!(baseline("acc_norm", 0.25), Some(0.25));
        assert_eq!(baseline("prob_correct", 0.25), Some(0.25));
        assert_eq!(baseline("answer_logprob", 0.0), None);
        assert_eq!(baseline("acc_mutual_info", 0.5), Some(0.5));
        assert!(lower_is_better("brier_score") && lower_is_better("word_perplexity"));
        assert!(lower_is_better("ppl") && lower_is_better("val_loss") && lower_is_better("bpb"));
        assert!(!lower_is_better("acc") && !lower_is_better("f1"));
        assert!(is_perplexity("ppl") && is_perplexity("perplexity") && !is_perplexity("acc"));
        assert_eq!(upper_bound("brier_score"), Some(2.0));
        assert_eq!(upper_bound("exact_match,strict-match"), Some(1.0));
        assert_eq!(upper_bound("answer_logprob"), None);
    }

    #[test]
    fn continuous_metrics_continue_their_main_metric() {
        assert_eq!(continuations("acc"), ["prob_correct", "brier_score"]);
        assert_eq!(
            continuations("exact_match,strict-match"),
            ["answer_logprob"]
        );
        let own: Vec<&str> = own_continuous().map(|m| m.name).collect();
        assert_eq!(
            own,
            [
                "prob_correct",
                "brier_score",
                "answer_logprob",
                "answer_logprob_per_token",
                "answer_prob"
            ]
        );
        assert!(listable().all(|m| m.aggregation.is_some()));
    }
}
