use emergent_data::Tokenizer;
use emergent_engine::LanguageModel;

use crate::metrics::{choice_scores, mean_stderr, MetricValue, TaskResult};
use crate::task::{Doc, OutputType, Task};
use emergent_engine::Rng;

/// A model with its tokenizer: everything a task needs to be scored.
pub struct Scorer<'a> {
    pub model: &'a mut dyn LanguageModel,
    pub tokenizer: &'a Tokenizer,
}

impl Scorer<'_> {
    /// The token id scored before an empty context (BOS, else EOS).
    fn prefix_token(&self) -> u32 {
        let c = self.model.config();
        c.bos_token_id
            .or(c.eos_token_id)
            .or(self.tokenizer.eos_id())
            .unwrap_or(0)
    }
}

/// Log-likelihood of `continuation` after `context`, as lm-evaluation-harness computes
/// it: trailing spaces of the context move into the continuation, the continuation's
/// tokens are those of `encode(context + continuation)` past `len(encode(context))`,
/// and the context is left-truncated to fit. Returns (sum of log-probs, greedy?).
pub fn loglikelihood(s: &mut Scorer, context: &str, continuation: &str) -> (f64, bool) {
    let trimmed = context.trim_end_matches(' ');
    let moved = &context[trimmed.len()..];
    let continuation = format!("{moved}{continuation}");
    let context = trimmed;
    let (ctx, cont) = if context.is_empty() {
        (vec![s.prefix_token()], s.tokenizer.encode(&continuation))
    } else {
        let whole = s.tokenizer.encode(&format!("{context}{continuation}"));
        let n_ctx = s.tokenizer.encode(context).len().min(whole.len());
        (whole[..n_ctx].to_vec(), whole[n_ctx..].to_vec())
    };
    if cont.is_empty() {
        return (0.0, true);
    }
    let max_len = s.model.config().max_position_embeddings + 1;
    let mut tokens = ctx;
    tokens.extend_from_slice(&cont);
    let start = tokens.len().saturating_sub(max_len);
    let lps = s.model.next_token_logprobs(&tokens[start..]);
    let tail = &lps[lps.len() - cont.len().min(lps.len())..];
    (tail.iter().map(|x| x.0).sum(), tail.iter().all(|x| x.1))
}

/// Few-shot examples for document `i`: drawn with a seeded sampler, never `i` itself.
fn fewshot_prefix(task: &Task, i: usize, seed: u64) -> String {
    let k = task.spec.num_fewshot.min(task.docs.len().saturating_sub(1));
    if k == 0 {
        return String::new();
    }
    let mut rng = Rng::derive(seed, i as u64);
    let mut picked = Vec::with_capacity(k);
    while picked.len() < k {
        let j = rng.below(task.docs.len());
        if j != i && !picked.contains(&j) {
            picked.push(j);
        }
    }
    let mut out = String::new();
    for j in picked {
        let d = &task.docs[j];
        let target = match task.spec.output_type {
            OutputType::MultipleChoice => d.choices[d.gold.unwrap_or(0)].clone(),
            OutputType::GenerateUntil => d.answer.clone().unwrap_or_default(),
        };
        out.push_str(&d.prompt);
        out.push_str(&task.spec.target_delimiter);
        out.push_str(&target);
        out.push_str(&task.spec.fewshot_delimiter);
    }
    out
}

fn multiple_choice(s: &mut Scorer, doc: &Doc, context: &str, delim: &str, acc: &mut [Vec<f64>; 4]) {
    let lls: Vec<f64> = doc
        .choices
        .iter()
        .map(|c| loglikelihood(s, context, &format!("{delim}{c}")).0)
        .collect();
    let sc = choice_scores(&lls, &doc.choices, doc.gold.unwrap_or(0));
    for (v, x) in acc
        .iter_mut()
        .zip([sc.acc, sc.acc_norm, sc.prob_correct, sc.brier])
    {
        v.push(x);
    }
}

fn generate(s: &mut Scorer, task: &Task, doc: &Doc, context: &str, acc: &mut [Vec<f64>; 4]) {
    let until = &task.spec.until;
    let max_len = s.model.config().max_position_embeddings;
    let mut prompt = s.tokenizer.encode(context);
    let keep = max_len.saturating_sub(task.spec.max_gen_toks).max(1);
    if prompt.len() > keep {
        prompt.drain(..prompt.len() - keep);
    }
    let tokenizer = s.tokenizer;
    let mut stop = |out: &[u32]| {
        let text = tokenizer.decode(out);
        until.iter().any(|u| text.contains(u.as_str()))
    };
    let out = s.model.greedy(&prompt, task.spec.max_gen_toks, &mut stop);
    let mut text = tokenizer.decode(&out);
    if let Some(cut) = until.iter().filter_map(|u| text.find(u.as_str())).min() {
        text.truncate(cut);
    }
    let answer = doc.answer.as_deref().unwrap_or("");
    let exact = (text.trim() == answer.trim()) as u8 as f64;
    let (lp, _) = loglikelihood(
        s,
        context,
        &format!("{}{answer}", task.spec.target_delimiter),
    );
    let n_tok = s.tokenizer.encode(answer).len().max(1) as f64;
    acc[0].push(exact);
    acc[1].push(lp);
    acc[2].push(lp / n_tok);
    acc[3].push(lp.exp());
}

/// Scores every document of `task`; metrics with their standard errors.
pub fn evaluate(s: &mut Scorer, task: &Task, seed: u64, limit: Option<usize>) -> TaskResult {
    let mut acc: [Vec<f64>; 4] = Default::default();
    let n = limit.unwrap_or(task.docs.len()).min(task.docs.len());
    for (i, doc) in task.docs.iter().take(n).enumerate() {
        let context = format!("{}{}", fewshot_prefix(task, i, seed), doc.prompt);
        match task.spec.output_type {
            OutputType::MultipleChoice => {
                multiple_choice(s, doc, &context, &task.spec.target_delimiter, &mut acc)
            }
            OutputType::GenerateUntil => generate(s, task, doc, &context, &mut acc),
        }
    }
    let names: [&str; 4] = match task.spec.output_type {
        OutputType::MultipleChoice => ["acc", "acc_norm", "prob_correct", "brier"],
        OutputType::GenerateUntil => [
            "exact_match",
            "answer_logprob",
            "answer_logprob_per_token",
            "answer_prob",
        ],
    };
    let metrics = names
        .iter()
        .zip(&acc)
        .map(|(name, xs)| {
            let (value, stderr) = mean_stderr(xs);
            MetricValue {
                metric: name.to_string(),
                value,
                stderr,
                n: xs.len(),
            }
        })
        .collect();
    TaskResult {
        task: task.spec.task.clone(),
        shots: task.spec.num_fewshot,
        baseline: task.baseline(),
        metrics,
    }
}
