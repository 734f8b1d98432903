//! What performance is plotted and fitted against. The threshold models work on a
//! coordinate where *lower is further along* (like loss): tokens, compute and size
//! become −log₁₀, a perplexity becomes its log (a cross-entropy), and a
//! higher-is-better metric is negated. Thresholds are reported back in the axis's
//! own units.

use std::collections::HashMap;
use std::fmt;

use crate::input::Obs;
use emergent_metrics::{is_perplexity, lower_is_better};

pub use crate::input::{BITS_PER_BYTE, NATS_PER_TOKEN};

#[derive(Debug, Clone, PartialEq)]
pub enum XAxis {
    Loss,
    /// The validation loss in bits per byte: the axis of checkpoints whose tokenizers
    /// differ (named `loss` like the other; a study chooses it, not `--x`).
    LossBits,
    /// The validation loss of one domain of the corpus (`loss:facts`).
    DomainLoss(String),
    Tokens,
    Flops,
    Params,
    /// Another task's metric at the same checkpoint (e.g. `lambada_openai:ppl`).
    Metric {
        task: String,
        metric: String,
    },
}

/// How a raw axis value maps to the fitting coordinate.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Transform {
    Identity,
    NegLog10,
    Ln,
    Negate,
}

impl std::str::FromStr for XAxis {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "loss" => XAxis::Loss,
            "tokens" => XAxis::Tokens,
            "flops" | "compute" => XAxis::Flops,
            "params" | "size" => XAxis::Params,
            _ if s.starts_with("loss:") && s.len() > 5 => XAxis::DomainLoss(s[5..].into()),
            _ => match s.split_once(':') {
                Some((t, m)) if !t.is_empty() && !m.is_empty() => XAxis::Metric {
                    task: t.into(),
                    metric: m.into(),
                },
                _ => {
                    return Err(format!(
                        "unknown x axis `{s}`: use loss, loss:DOMAIN, tokens, flops, params or TASK:METRIC"
                    ))
                }
            },
        })
    }
}

impl fmt::Display for XAxis {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            XAxis::Loss | XAxis::LossBits => f.write_str("loss"),
            XAxis::DomainLoss(d) => write!(f, "loss:{d}"),
            XAxis::Tokens => f.write_str("tokens"),
            XAxis::Flops => f.write_str("flops"),
            XAxis::Params => f.write_str("params"),
            XAxis::Metric { task, metric } => write!(f, "{task}:{metric}"),
        }
    }
}

impl XAxis {
    fn transform(&self) -> Transform {
        match self {
            XAxis::Loss | XAxis::LossBits | XAxis::DomainLoss(_) => Transform::Identity,
            XAxis::Tokens | XAxis::Flops | XAxis::Params => Transform::NegLog10,
            XAxis::Metric { metric, .. } if is_perplexity(metric) => Transform::Ln,
            XAxis::Metric { metric, .. } if lower_is_better(metric) => Transform::Identity,
            XAxis::Metric { .. } => Transform::Negate,
        }
    }

    /// Raw value → fitting coordinate (lower is further along).
    pub fn to_coord(&self, raw: f64) -> f64 {
        match self.transform() {
            Transform::Identity => raw,
            Transform::NegLog10 => -raw.log10(),
            Transform::Ln => raw.ln(),
            Transform::Negate => -raw,
        }
    }

    /// Fitting coordinate → raw value.
    pub fn from_coord(&self, u: f64) -> f64 {
        match self.transform() {
            Transform::Identity => u,
            Transform::NegLog10 => 10f64.powf(-u),
            Transform::Ln => u.exp(),
            Transform::Negate => -u,
        }
    }

    /// Whether lower raw values are further along (the figure's axis is reversed).
    pub fn lower_is_better(&self) -> bool {
        matches!(self.transform(), Transform::Identity | Transform::Ln)
    }

    /// Whether the raw axis is best drawn on a log scale.
    pub fn log_scale(&self) -> bool {
        matches!(self.transform(), Transform::NegLog10 | Transform::Ln)
    }

    /// Whether this is the validation loss (in either unit).
    pub fn is_loss(&self) -> bool {
        matches!(self, XAxis::Loss | XAxis::LossBits)
    }

    /// The validation loss's unit on this axis, for the loss curves.
    pub fn loss_unit(&self) -> &'static str {
        match self {
            XAxis::LossBits => BITS_PER_BYTE,
            _ => NATS_PER_TOKEN,
        }
    }

    /// Axis label with units.
    pub fn label(&self) -> String {
        match self {
            XAxis::Loss => "pre-training loss (nats/token)".into(),
            XAxis::LossBits => "validation loss (bits/byte)".into(),
            XAxis::DomainLoss(d) => format!("validation loss on {d} (nats/token)"),
            XAxis::Tokens => "training tokens".into(),
            XAxis::Flops => "training compute (FLOPs, 6ND)".into(),
            XAxis::Params => "parameters".into(),
            XAxis::Metric { task, metric } => format!("{task} {metric}"),
        }
    }

    /// The raw x of every observation (`None` where it has none, e.g. no loss or no
    /// value of the named metric at that checkpoint). A metric axis takes the value at
    /// the same checkpoint, preferring the same shot count, then zero-shot.
    pub fn values(&self, obs: &[Obs]) -> Vec<Option<f64>> {
        let ok = |v: f64| (v.is_finite() && (!self.log_scale() || v > 0.0)).then_some(v);
        match self {
            XAxis::Loss | XAxis::LossBits => obs.iter().map(|o| ok(o.loss)).collect(),
            XAxis::DomainLoss(d) => obs
                .iter()
                .map(|o| o.domain_loss.get(d).copied().and_then(ok))
                .collect(),
            XAxis::Tokens => obs.iter().map(|o| ok(o.tokens)).collect(),
            XAxis::Flops => obs.iter().map(|o| ok(o.flops)).collect(),
            XAxis::Params => obs.iter().map(|o| ok(o.params)).collect(),
            XAxis::Metric { task, metric } => {
                let mut at: HashMap<((String, u64), u32), f64> = HashMap::new();
                for o in obs
                    .iter()
                    .filter(|o| &o.task == task && &o.metric == metric)
                {
                    at.insert((o.checkpoint_key(), o.shots), o.value);
                }
                obs.iter()
                    .map(|o| {
                        let key = o.checkpoint_key();
                        at.get(&(key.clone(), o.shots))
                            .or_else(|| at.get(&(key, 0)))
                            .copied()
                            .and_then(ok)
                    })
                    .collect()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_round_trip_and_put_progress_low() {
        for (axis, raw) in [
            ("loss", 2.2),
            ("tokens", 3e9),
            ("lambada_openai:ppl", 40.0),
            ("piqa:acc", 0.6),
        ] {
            let a: XAxis = axis.parse().unwrap();
            assert!((a.from_coord(a.to_coord(raw)) - raw).abs() < 1e-9 * raw.abs());
        }
        let t: XAxis = "tokens".parse().unwrap();
        assert!(
            t.to_coord(1e10) < t.to_coord(1e9),
            "more tokens is further along"
        );
        let acc: XAxis = "piqa:acc".parse().unwrap();
        assert!(acc.to_coord(0.8) < acc.to_coord(0.6));
        assert!("nonsense".parse::<XAxis>().is_err());
    }
}
