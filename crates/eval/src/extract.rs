//! Answer extraction and exact match, as lm-evaluation-harness's `regex` filter and
//! `exact_match` metric (Hugging Face evaluate's) define them.

use anyhow::{anyhow, bail, Result};
use regex::Regex;

use crate::py::is_py_space;
use crate::task::{FilterFunction, FilterSpec, MetricSpec};

/// A compiled answer-extraction filter.
pub struct Filter {
    pub name: String,
    function: FilterFunction,
    regex: Option<Regex>,
    group_select: i64,
    fallback: String,
}

impl Filter {
    /// The identity filter lm-eval calls `none`.
    pub fn none() -> Self {
        Filter {
            name: "none".into(),
            function: FilterFunction::Regex,
            regex: None,
            group_select: 0,
            fallback: String::new(),
        }
    }

    pub fn new(spec: &FilterSpec, task: &str) -> Result<Self> {
        let regex = match spec.function {
            FilterFunction::RemoveWhitespace => None,
            FilterFunction::Regex if spec.regex_pattern.is_empty() => {
                bail!(
                    "task `{task}`: filter `{}`: field `regex_pattern` is missing",
                    spec.name
                )
            }
            FilterFunction::Regex => Some(Regex::new(&spec.regex_pattern).map_err(|e| {
                anyhow!(
                    "task `{task}`: filter `{}`: bad regex_pattern: {e}",
                    spec.name
                )
            })?),
        };
        Ok(Filter {
            name: spec.name.clone(),
            function: spec.function,
            regex,
            group_select: spec.group_select,
            fallback: spec.fallback.clone(),
        })
    }

    /// Python's `re.findall` then the selected match (first non-empty group of a tuple).
    pub fn apply(&self, response: &str) -> String {
        if self.function == FilterFunction::RemoveWhitespace {
            return response.trim_matches(is_py_space).to_string();
        }
        let Some(re) = &self.regex else {
            return response.to_string();
        };
        let groups = re.captures_len() - 1;
        let matches: Vec<String> = re
            .captures_iter(response)
            .map(|c| match groups {
                0 => c[0].to_string(),
                1 => c.get(1).map_or("", |m| m.as_str()).to_string(),
                _ => (1..=groups)
                    .filter_map(|g| c.get(g).map(|m| m.as_str()))
                    .find(|s| !s.is_empty())
                    .unwrap_or("")
                    .to_string(),
            })
            .collect();
        let n = matches.len() as i64;
        let at = if self.group_select < 0 {
            n + self.group_select
        } else {
            self.group_select
        };
        if at < 0 || at >= n {
            return self.fallback.clone();
        }
        let m = &matches[at as usize];
        if groups > 1 && m.is_empty() {
            return self.fallback.clone();
        }
        m.trim().to_string()
    }
}

/// `exact_match` with its normalisations, compiled once.
pub struct ExactMatch {
    ignore: Vec<Regex>,
    ignore_case: bool,
    ignore_punctuation: bool,
    ignore_numbers: bool,
}

impl ExactMatch {
    pub fn new(spec: &MetricSpec, task: &str) -> Result<Self> {
        let ignore = spec
            .regexes_to_ignore
            .iter()
            .map(|r| {
                Regex::new(r).map_err(|e| anyhow!("task `{task}`: regexes_to_ignore `{r}`: {e}"))
            })
            .collect::<Result<_>>()?;
        Ok(ExactMatch {
            ignore,
            ignore_case: spec.ignore_case,
            ignore_punctuation: spec.ignore_punctuation,
            ignore_numbers: spec.ignore_numbers,
        })
    }

    fn normalise(&self, s: &str) -> String {
        let mut s = s.to_string();
        for re in &self.ignore {
            s = re.replace_all(&s, "").into_owned();
        }
        if self.ignore_case {
            s = s.to_lowercase();
        }
        if self.ignore_punctuation {
            s.retain(|c| !c.is_ascii_punctuation());
        }
        if self.ignore_numbers {
            s.retain(|c| !c.is_ascii_digit());
        }
        s
    }

    /// 1 when the prediction equals any reference after normalisation.
    pub fn score(&self, prediction: &str, references: &[String]) -> f64 {
        let p = self.normalise(prediction);
        references.iter().any(|r| self.normalise(r) == p) as u8 as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gsm8k_extraction_and_match() {
        let strict = Filter::new(
            &FilterSpec {
                name: "strict-match".into(),
                function: FilterFunction::Regex,
                regex_pattern: r"#### (\-?[0-9\.\,]+)".into(),
                group_select: 0,
                fallback: "[invalid]".into(),
            },
            "t",
        )
        .unwrap();
        assert_eq!(strict.apply("so 3+4 = 7\n#### 1,007"), "1,007");
        assert_eq!(strict.apply("the answer is 7"), "[invalid]");
        let flexible = Filter::new(
            &FilterSpec {
                name: "flexible-extract".into(),
                function: FilterFunction::Regex,
                regex_pattern: r"(-?[$0-9.,]{2,})|(-?[0-9]+)".into(),
                group_select: -1,
                fallback: "[invalid]".into(),
            },
            "t",
        )
        .unwrap();
        assert_eq!(flexible.apply("5 apples and $12.50 then 7"), "7");
        let em = ExactMatch::new(
            &MetricSpec {
                metric: emergent_metrics::EXACT_MATCH.name.into(),
                ignore_case: true,
                regexes_to_ignore: vec![
                    ",".into(),
                    r"\$".into(),
                    "(?s).*#### ".into(),
                    r"\.$".into(),
                ],
                ..Default::default()
            },
            "t",
        )
        .unwrap();
        assert_eq!(em.score("1,007", &["Thus...\n#### 1007".into()]), 1.0);
        assert_eq!(em.score("$12.", &["12".into()]), 1.0);
        assert_eq!(em.score("13", &["12".into()]), 0.0);
        let punct = ExactMatch::new(
            &MetricSpec {
                metric: emergent_metrics::EXACT_MATCH.name.into(),
                ignore_case: true,
                ignore_punctuation: true,
                ..Default::default()
            },
            "t",
        )
        .unwrap();
        assert_eq!(punct.score("Paris!", &["x".into(), "paris".into()]), 1.0);
    }
}
