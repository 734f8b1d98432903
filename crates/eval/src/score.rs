//! Scoring a task as lm-evaluation-harness does, but batched: each document's requests
//! share their prompt's key/value cache, documents are batched longest first, and
//! generation decodes many prompts at once.

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};

use emergent_data::Tokenizer;
use emergent_engine::{LanguageModel, ScoreGroup};
use emergent_metrics::{
    ACC, ACC_NORM, ANSWER_LOGPROB, ANSWER_LOGPROB_PER_TOKEN, ANSWER_PROB, BITS_PER_BYTE,
    BRIER_SCORE, BYTE_PERPLEXITY, EXACT_MATCH, LOGLIKELIHOOD, PERPLEXITY, PROB_CORRECT,
    WORD_PERPLEXITY,
};

use crate::chat::{maybe_delimit, ChatTemplate};
use crate::extract::{ExactMatch, Filter};
use crate::metrics::{argmax, mean_stderr, MetricValue, TaskResult};
use crate::py::{is_py_space, py_word_count};
use crate::pyrandom::PyRandom;
use crate::task::{FewshotPool, OutputType, Sampler, Task};
use crate::template::Resolved;

/// A model with its tokenizer: everything a task needs to be scored.
pub struct Scorer<'a> {
    pub model: &'a mut dyn LanguageModel,
    pub tokenizer: &'a Tokenizer,
}

/// How to run a task.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    pub limit: Option<usize>,
    /// Overrides the spec's `num_fewshot`.
    pub num_fewshot: Option<usize>,
    /// lm-evaluation-harness's default few-shot seed is 1234.
    pub fewshot_seed: u64,
    /// Tokens per forward pass when batching log-likelihood requests.
    pub batch_tokens: usize,
    /// Prompts decoded together.
    pub batch_generate: usize,
    /// The context in tokens (lm-eval's `max_length`); the model's own when absent.
    pub max_length: Option<usize>,
    /// A share of each task's documents (lm-eval's `--limit` below 1), rounded up.
    pub limit_fraction: Option<f64>,
    /// lm-eval's `add_bos_token`: true puts BOS before every request, false encodes
    /// without the tokenizer's special tokens, absent lets the tokenizer decide.
    pub add_bos_token: Option<bool>,
    /// Score a continuation longer than the context on its last tokens (the record is
    /// marked) instead of refusing it, as lm-eval refuses it.
    pub score_long_continuations: bool,
    /// Prompts in the model's chat template (lm-eval's `--apply_chat_template`).
    pub chat_template: Option<std::sync::Arc<ChatTemplate>>,
    /// lm-eval's `--system_instruction`: the system turn, before the task's description.
    pub system_instruction: Option<String>,
}

impl EvalOptions {
    /// How many of a task's `total` documents are scored.
    pub fn docs_to_score(&self, total: usize) -> usize {
        let n = match (self.limit, self.limit_fraction) {
            (Some(n), _) => n,
            (None, Some(f)) => (total as f64 * f).ceil() as usize,
            (None, None) => total,
        };
        n.min(total)
    }
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            limit: None,
            num_fewshot: None,
            fewshot_seed: 1234,
            batch_tokens: 4096,
            batch_generate: 16,
            max_length: None,
            limit_fraction: None,
            add_bos_token: None,
            score_long_continuations: false,
            chat_template: None,
            system_instruction: None,
        }
    }
}

/// Everything about one document's scoring, written as one JSONL line.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SampleRecord {
    pub doc_id: usize,
    /// The prompt(s): one, or one per choice for tasks whose choices are contexts.
    pub contexts: Vec<String>,
    /// The continuations scored by log-likelihood.
    pub continuations: Vec<String>,
    pub loglikelihoods: Vec<f64>,
    pub is_greedy: Vec<bool>,
    pub target: Json,
    pub prediction: Json,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub filtered: BTreeMap<String, String>,
    pub metrics: BTreeMap<String, f64>,
    /// The prompt was left-truncated to fit the context window.
    pub truncated: bool,
    /// A continuation longer than the context was scored on its last tokens only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub continuation_truncated: bool,
}

/// Text to tokens as lm-eval tokenises requests; shared by the threads that encode.
struct Encoder<'a> {
    tokenizer: &'a Tokenizer,
    /// The token scored before an empty context.
    prefix: u32,
    max_length: usize,
    add_bos_token: Option<bool>,
    score_long_continuations: bool,
}

/// Each request's log-likelihood and whether it is the greedy continuation.
type RequestScores = Vec<(f64, bool)>;

/// How one document's requests were cut to fit the context.
#[derive(Default, Clone, Copy)]
struct Cuts {
    context: bool,
    continuation: bool,
}

impl Encoder<'_> {
    /// lm-eval's `tok_encode`: the tokenizer's special tokens unless `add_bos_token`
    /// says otherwise, and BOS first when it is true.
    fn encode(&self, text: &str) -> Vec<u32> {
        match self.add_bos_token {
            None => self.tokenizer.encode_with_special(text),
            Some(false) => self.tokenizer.encode(text),
            Some(true) => {
                let mut ids = self.tokenizer.encode_with_special(text);
                if ids.first() != Some(&self.prefix) {
                    ids.insert(0, self.prefix);
                }
                ids
            }
        }
    }

    /// A document's requests as one group sharing their common prefix, and how they
    /// were cut. Each context is encoded once, however many requests share it.
    fn document(&self, p: &Prepared) -> Result<(ScoreGroup, Cuts), String> {
        let mut ctx_lens: Vec<Option<usize>> = vec![None; p.contexts.len()];
        let mut cuts = Cuts::default();
        let mut reqs: Vec<(Vec<u32>, usize)> = Vec::with_capacity(p.requests.len());
        for (ci, cont) in &p.requests {
            let context = &p.contexts[*ci];
            let n_ctx = *ctx_lens[*ci].get_or_insert_with(|| {
                let trimmed = context.trim_end_matches(is_py_space);
                self.encode(trimmed).len()
            });
            let (seq, n, cut, n_cont) = self.request_tokens(context, cont, n_ctx);
            if n_cont > self.max_length {
                if !self.score_long_continuations {
                    return Err(format!(
                        "the continuation {cont:?} is {n_cont} tokens, longer than the \
                         model's context of {} (lm-eval refuses it too; \
                         --score-long-continuations scores its last tokens instead)",
                        self.max_length
                    ));
                }
                cuts.continuation = true;
            }
            cuts.context |= cut;
            reqs.push((seq, n));
        }
        Ok((group_of(&reqs), cuts))
    }

    /// lm-eval's rolling windows over a whole text (`get_rolling_token_windows` with a
    /// context of one token, made disjoint): each window is one sequence of at most
    /// `max_length + 1` tokens whose last `n` are scored, and every token of the text
    /// is scored exactly once.
    fn rolling_windows(&self, text: &str) -> Vec<ScoreGroup> {
        let tokens = self.encode(text);
        let max = self.max_length;
        let mut out = Vec::new();
        if tokens.is_empty() {
            return out;
        }
        let first = max.min(tokens.len());
        let mut seq = vec![self.prefix];
        seq.extend_from_slice(&tokens[..first]);
        out.push(ScoreGroup {
            shared: Vec::new(),
            tails: vec![seq],
            scored: vec![first],
        });
        let mut predicted = first;
        while predicted < tokens.len() {
            let n = (tokens.len() - predicted).min(max);
            let end = predicted + n;
            let start = end.saturating_sub(max + 1);
            out.push(ScoreGroup {
                shared: Vec::new(),
                tails: vec![tokens[start..end].to_vec()],
                scored: vec![n],
            });
            predicted = end;
        }
        out
    }

    /// lm-eval's `_encode_pair` plus its left truncation: the whole sequence (at most
    /// max_length + 1 tokens), how many of its last tokens are scored, whether anything
    /// was cut, and the continuation's own length. `n_ctx` is the length of the encoding of the context
    /// without its trailing whitespace, which lm-eval moves into the continuation (the
    /// joined text is unchanged).
    fn request_tokens(
        &self,
        context: &str,
        continuation: &str,
        n_ctx: usize,
    ) -> (Vec<u32>, usize, bool, usize) {
        let (mut seq, n_cont) = if context.is_empty() {
            let cont = self.encode(continuation);
            let n = cont.len();
            let mut seq = vec![self.prefix];
            seq.extend(cont);
            (seq, n)
        } else {
            let whole = self.encode(&format!("{context}{continuation}"));
            let n = whole.len() - n_ctx.min(whole.len());
            (whole, n)
        };
        let keep = self.max_length + 1;
        let cut = seq.len() > keep;
        if cut {
            seq.drain(..seq.len() - keep);
        }
        let n = n_cont.min(seq.len().saturating_sub(1));
        (seq, n, cut, n_cont)
    }
}

/// One scored document before the model runs.
struct Prepared {
    contexts: Vec<String>,
    /// (context index, continuation)
    requests: Vec<(usize, String)>,
    gold: Vec<usize>,
    references: Vec<String>,
    target: Json,
    choices: Vec<String>,
}

/// What surrounds a document's own text in its prompt.
struct Prompt {
    system: String,
    /// Few-shot (question, answer) pairs.
    examples: Vec<(String, String)>,
    chat: Option<std::sync::Arc<ChatTemplate>>,
    target_delimiter: String,
    fewshot_delimiter: String,
}

impl Prompt {
    /// The context for `text`: plain text as lm-eval joins it, or with a chat template
    /// the system turn, each example as a user and an assistant turn (lm-eval's default
    /// `fewshot_as_multiturn`), `text` as the last user turn and the assistant's opened.
    fn context(&self, text: &str) -> Result<String> {
        let Some(chat) = &self.chat else {
            let mut out = self.system.clone();
            for (q, a) in &self.examples {
                out.push_str(q);
                if !a.is_empty() {
                    out.push_str(&self.target_delimiter);
                    out.push_str(a);
                    out.push_str(&self.fewshot_delimiter);
                }
            }
            out.push_str(text);
            return Ok(out);
        };
        let mut messages = Vec::new();
        if !self.system.is_empty() {
            messages.push(("system".to_string(), self.system.clone()));
        }
        for (q, a) in &self.examples {
            messages.push(("user".to_string(), q.clone()));
            if !a.is_empty() {
                messages.push(("assistant".to_string(), a.clone()));
            }
        }
        messages.push(("user".to_string(), text.to_string()));
        chat.render(&messages, true)
    }
}

fn answer_text(fields_choices: &Option<Vec<String>>, target: &Resolved) -> String {
    match target {
        Resolved::Index(i) => fields_choices
            .as_ref()
            .and_then(|c| c.get(*i).cloned())
            .unwrap_or_else(|| i.to_string()),
        Resolved::List(l) => l.first().cloned().unwrap_or_default(),
        Resolved::Text(s) => s.clone(),
    }
}

impl Task {
    /// Document `i`'s prompt around its own text: the system turn (a system instruction
    /// and the task's description) and the few-shot examples, drawn from `rnd` as
    /// lm-eval's sampler draws them.
    fn prompt(
        &self,
        i: usize,
        shots: usize,
        rnd: &mut PyRandom,
        opts: &EvalOptions,
    ) -> Result<Prompt> {
        let doc = &self.docs[i];
        let description = self.templates.render(&self.spec.description, doc)?;
        let system = maybe_delimit(
            opts.system_instruction.as_deref().unwrap_or_default(),
            &description,
            &self.spec.fewshot_delimiter,
        );
        let mut prompt = Prompt {
            system,
            examples: Vec::new(),
            chat: opts.chat_template.clone(),
            target_delimiter: self.spec.target_delimiter.clone(),
            fewshot_delimiter: self.spec.fewshot_delimiter.clone(),
        };
        if shots == 0 {
            return Ok(prompt);
        }
        let pool = match &self.fewshot_docs {
            FewshotPool::Scored => &self.docs,
            FewshotPool::Docs(d) => d,
            FewshotPool::Missing(e) => bail!("task `{}`: few-shot examples: {e}", self.spec.task),
        };
        let picked = match self.spec.fewshot_config.sampler {
            Sampler::Default => self.sample_shots(pool, doc, shots, rnd)?,
            Sampler::FirstN => self.first_shots(pool, doc, shots)?,
        };
        for j in picked {
            let f = self.resolve(&pool[j])?;
            let q = match &f.text {
                Resolved::Index(k) => f
                    .choices
                    .as_ref()
                    .and_then(|c| c.get(*k))
                    .cloned()
                    .unwrap_or_default(),
                other => answer_text(&None, other),
            };
            let a = if matches!(f.text, Resolved::Index(_)) {
                answer_text(&None, &f.target)
            } else {
                answer_text(&f.choices, &f.target)
            };
            prompt.examples.push((q, a));
        }
        Ok(prompt)
    }

    /// lm-eval's default sampler: `random.sample` of the pool, without the document itself
    /// when the pool is the evaluated split.
    fn sample_shots(
        &self,
        pool: &[Json],
        doc: &Json,
        shots: usize,
        rnd: &mut PyRandom,
    ) -> Result<Vec<usize>> {
        if !self.spec.fewshot_excludes_doc() {
            if shots > pool.len() {
                bail!(
                    "task `{}`: {shots} few-shot examples asked, the few-shot split has {}",
                    self.spec.task,
                    pool.len()
                );
            }
            return Ok(rnd.sample(pool.len(), shots));
        }
        if shots + 1 > pool.len() {
            bail!(
                "task `{}`: {shots} few-shot examples need at least {} documents",
                self.spec.task,
                shots + 1
            );
        }
        let p: Vec<usize> = rnd
            .sample(pool.len(), shots + 1)
            .into_iter()
            .filter(|&j| pool[j] != *doc)
            .take(shots)
            .collect();
        if p.len() == shots {
            return Ok(p);
        }
        let rest: Vec<usize> = (0..pool.len()).filter(|&j| pool[j] != *doc).collect();
        if rest.len() < shots {
            bail!(
                "task `{}`: not enough distinct few-shot documents",
                self.spec.task
            );
        }
        Ok(rnd
            .sample(rest.len(), shots)
            .into_iter()
            .map(|k| rest[k])
            .collect())
    }

    /// lm-eval's `first_n` sampler, within the documents that share `match_field`.
    fn first_shots(&self, pool: &[Json], doc: &Json, shots: usize) -> Result<Vec<usize>> {
        let field = self.spec.fewshot_config.match_field.as_deref();
        if let Some(f) = field.filter(|f| doc.get(f).is_none()) {
            bail!(
                "task `{}`: fewshot_config.match_field `{f}` is not a field of the document",
                self.spec.task
            );
        }
        let same = |d: &Json| field.is_none_or(|f| d.get(f) == doc.get(f));
        // As lm-eval, the document itself is left out only when the pool is its own split.
        let own_split = self.spec.fewshot_excludes_doc();
        let picked: Vec<usize> = (0..pool.len())
            .filter(|&j| !(own_split && pool[j] == *doc) && same(&pool[j]))
            .take(shots)
            .collect();
        if picked.len() < shots {
            bail!(
                "task `{}`: {shots} few-shot examples asked, {} found{}",
                self.spec.task,
                picked.len(),
                field.map_or(String::new(), |f| format!(" with this document's `{f}`"))
            );
        }
        Ok(picked)
    }

    fn prepare(&self, i: usize, prompt: &Prompt) -> Result<Prepared> {
        let f = &self.fields[i];
        // With a chat template the answer follows the assistant's turn directly (lm-eval).
        let delim = if prompt.chat.is_some() {
            ""
        } else {
            &self.spec.target_delimiter
        };
        let choices = f.choices.as_deref().unwrap_or_default();
        let target_json = match &f.target {
            Resolved::Index(k) => json!(k),
            Resolved::List(l) => json!(l),
            Resolved::Text(s) => json!(s),
        };
        let mut p = Prepared {
            contexts: Vec::new(),
            requests: Vec::new(),
            gold: Vec::new(),
            references: Vec::new(),
            target: target_json,
            choices: choices.to_vec(),
        };
        if let (OutputType::MultipleChoice, Resolved::Index(g)) = (self.spec.output_type, &f.text) {
            // Choices are contexts; the target is the one continuation.
            let cont = format!("{delim}{}", answer_text(&None, &f.target));
            for (k, c) in choices.iter().enumerate() {
                p.contexts.push(prompt.context(c)?);
                p.requests.push((k, cont.clone()));
            }
            p.gold = vec![*g];
            p.target = json!(g);
            return Ok(p);
        }
        if self.spec.output_type == OutputType::LoglikelihoodRolling {
            // lm-eval scores the target alone: no description, no examples.
            p.contexts.push(answer_text(&f.choices, &f.target));
            return Ok(p);
        }
        let text = answer_text(&None, &f.text);
        p.contexts.push(prompt.context(&text)?);
        match self.spec.output_type {
            OutputType::MultipleChoice => {
                for c in choices {
                    p.requests.push((0, format!("{delim}{c}")));
                }
                p.gold = match &f.target {
                    Resolved::Index(g) => vec![*g],
                    Resolved::Text(s) => choices.iter().position(|c| c == s).into_iter().collect(),
                    Resolved::List(l) => l.iter().filter_map(|s| s.parse().ok()).collect(),
                };
            }
            OutputType::Loglikelihood => {
                p.requests.push((0, answer_text(&f.choices, &f.target)));
            }
            OutputType::LoglikelihoodRolling => {}
            OutputType::GenerateUntil => {
                p.references = match &f.target {
                    Resolved::List(l) => l.clone(),
                    other => vec![answer_text(&f.choices, other)],
                };
                let first = p.references.first().cloned().unwrap_or_default();
                p.requests.push((0, format!("{delim}{first}")));
            }
        }
        Ok(p)
    }
}

impl<'a> Scorer<'a> {
    /// The token scored before an empty context: BOS, else EOS.
    fn prefix_token(&self) -> u32 {
        let c = self.model.config();
        self.tokenizer
            .bos_id()
            .or(c.bos_token_id)
            .or(c.eos_token_id)
            .or(self.tokenizer.eos_id())
            .unwrap_or(0)
    }

    fn max_length(&self, opts: &EvalOptions) -> usize {
        opts.max_length
            .unwrap_or(self.model.config().max_position_embeddings)
    }

    fn encoder(&self, opts: &EvalOptions) -> Encoder<'a> {
        Encoder {
            tokenizer: self.tokenizer,
            prefix: self.prefix_token(),
            max_length: self.max_length(opts),
            add_bos_token: opts.add_bos_token,
            score_long_continuations: opts.score_long_continuations,
        }
    }

    /// Scores every request of every document, in batches of whole documents; a
    /// document that cannot be scored is named in the error.
    fn run_loglikelihoods(
        &mut self,
        task: &str,
        docs: &[Prepared],
        opts: &EvalOptions,
        progress: &mut dyn FnMut(usize),
    ) -> Result<(Vec<RequestScores>, Vec<Cuts>)> {
        let enc = self.encoder(opts);
        let encoded: Vec<Result<(ScoreGroup, Cuts), String>> =
            docs.par_iter().map(|p| enc.document(p)).collect();
        let mut groups = Vec::with_capacity(docs.len());
        let mut cuts = Vec::with_capacity(docs.len());
        for (i, e) in encoded.into_iter().enumerate() {
            match e {
                Ok((g, c)) => {
                    groups.push(g);
                    cuts.push(c);
                }
                Err(why) => bail!("task `{task}`: document {i}: {why}"),
            }
        }
        let owners: Vec<usize> = (0..groups.len()).collect();
        let scores = self.score_in_batches(groups, &owners, opts.batch_tokens, progress);
        let results = scores
            .into_iter()
            .map(|per_tail| {
                per_tail
                    .into_iter()
                    .map(|lp| (lp.iter().map(|x| x.0).sum(), lp.iter().all(|x| x.1)))
                    .collect()
            })
            .collect();
        Ok((results, cuts))
    }

    /// Each text's total log-likelihood over lm-eval's rolling windows.
    fn run_rolling(
        &mut self,
        texts: &[String],
        opts: &EvalOptions,
        progress: &mut dyn FnMut(usize),
    ) -> Vec<f64> {
        let enc = self.encoder(opts);
        let windows: Vec<Vec<ScoreGroup>> =
            texts.par_iter().map(|t| enc.rolling_windows(t)).collect();
        let owners: Vec<usize> = windows
            .iter()
            .enumerate()
            .flat_map(|(i, w)| std::iter::repeat_n(i, w.len()))
            .collect();
        let groups: Vec<ScoreGroup> = windows.into_iter().flatten().collect();
        let scores = self.score_in_batches(groups, &owners, opts.batch_tokens, progress);
        let mut totals = vec![0.0; texts.len()];
        for (owner, per_tail) in owners.iter().zip(scores) {
            // Summed in window order, as lm-eval sums a document's windows.
            totals[*owner] += per_tail
                .iter()
                .map(|lp| lp.iter().map(|x| x.0).sum::<f64>())
                .sum::<f64>();
        }
        totals
    }

    /// Scores groups in batches of at most `batch_tokens` tokens, longest first;
    /// `owners[g]` is the document of group `g`, and `progress` counts documents whose
    /// every group is scored.
    fn score_in_batches(
        &mut self,
        mut groups: Vec<ScoreGroup>,
        owners: &[usize],
        batch_tokens: usize,
        progress: &mut dyn FnMut(usize),
    ) -> Vec<Vec<Vec<(f64, bool)>>> {
        let mut left = vec![0usize; owners.iter().max().map_or(0, |m| m + 1)];
        for &o in owners {
            left[o] += 1;
        }
        let mut order: Vec<usize> = (0..groups.len()).collect();
        let size = |g: &ScoreGroup| g.shared.len() + g.tails.iter().map(Vec::len).sum::<usize>();
        order.sort_by_key(|&i| std::cmp::Reverse(size(&groups[i])));
        let mut results: Vec<Vec<Vec<(f64, bool)>>> = vec![Vec::new(); groups.len()];
        let mut start = 0;
        while start < order.len() {
            let mut end = start;
            let mut tokens = 0;
            while end < order.len()
                && (end == start || tokens + size(&groups[order[end]]) <= batch_tokens)
            {
                tokens += size(&groups[order[end]]);
                end += 1;
            }
            let batch: Vec<ScoreGroup> = order[start..end]
                .iter()
                .map(|&i| std::mem::take(&mut groups[i]))
                .collect();
            let scores = self.model.score_groups(&batch);
            let mut done = 0;
            for (&i, per_tail) in order[start..end].iter().zip(scores) {
                results[i] = per_tail;
                left[owners[i]] -= 1;
                done += (left[owners[i]] == 0) as usize;
            }
            progress(done);
            start = end;
        }
        results
    }

    /// Greedy generation for every context, lm-eval's way: the context left-truncated to
    /// leave room for `max_gen_toks`, stopping at EOS or any `until` string (cut out).
    fn run_generation(
        &mut self,
        contexts: &[String],
        until: &[String],
        max_gen_toks: usize,
        opts: &EvalOptions,
        progress: &mut dyn FnMut(usize),
    ) -> Result<(Vec<String>, Vec<bool>)> {
        let batch = opts.batch_generate;
        let max_length = self.max_length(opts);
        let max_ctx = max_length.checked_sub(max_gen_toks).filter(|&m| m > 0);
        let Some(max_ctx) = max_ctx else {
            bail!(
                "max_gen_toks {max_gen_toks} leaves no room for a prompt in a context of {max_length}"
            );
        };
        let mut stops: Vec<String> = until.to_vec();
        let eos = self.model.config().eos_token_id.or(self.tokenizer.eos_id());
        if let Some(e) = eos {
            let text = self.tokenizer.decode_with_special(&[e]);
            if !text.is_empty() && !stops.contains(&text) {
                stops.push(text);
            }
        }
        let mut prompts = Vec::with_capacity(contexts.len());
        let mut truncated = Vec::with_capacity(contexts.len());
        let enc = self.encoder(opts);
        for c in contexts {
            let mut p = enc.encode(c);
            truncated.push(p.len() > max_ctx);
            if p.len() > max_ctx {
                p.drain(..p.len() - max_ctx);
            }
            if p.is_empty() {
                p.push(self.prefix_token());
            }
            prompts.push(p);
        }
        let mut order: Vec<usize> = (0..prompts.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(prompts[i].len()));
        let mut outputs = vec![String::new(); prompts.len()];
        let tokenizer = self.tokenizer;
        for chunk in order.chunks(batch.max(1)) {
            let batch_prompts: Vec<Vec<u32>> = chunk.iter().map(|&i| prompts[i].clone()).collect();
            let mut stop = |_: usize, out: &[u32]| {
                if eos.is_some_and(|e| out.last() == Some(&e)) {
                    return true;
                }
                let text = tokenizer.decode_with_special(&out[out.len().saturating_sub(24)..]);
                stops.iter().any(|s| text.contains(s.as_str()))
            };
            let outs = self
                .model
                .greedy_batch(&batch_prompts, max_gen_toks, &mut stop);
            for (&i, out) in chunk.iter().zip(outs) {
                let mut text = tokenizer.decode(&out);
                if let Some(cut) = stops.iter().filter_map(|s| text.find(s.as_str())).min() {
                    text.truncate(cut);
                }
                outputs[i] = text;
            }
            progress(chunk.len());
        }
        Ok((outputs, truncated))
    }
}

/// Requests of one document as a [`ScoreGroup`]: their longest common prefix (short of
/// every continuation) is computed once.
fn group_of(reqs: &[(Vec<u32>, usize)]) -> ScoreGroup {
    let first = &reqs[0].0;
    let mut c = reqs.iter().map(|(s, n)| s.len() - n).min().unwrap_or(0);
    for (s, _) in &reqs[1..] {
        c = c.min(first.iter().zip(s).take_while(|(a, b)| a == b).count());
    }
    ScoreGroup {
        shared: first[..c].to_vec(),
        tails: reqs.iter().map(|(s, _)| s[c..].to_vec()).collect(),
        scored: reqs.iter().map(|(_, n)| *n).collect(),
    }
}

/// Per-document multiple-choice metrics from the choices' log-likelihoods.
fn choice_metrics(lls: &[f64], choices: &[String], gold: &[usize], m: &mut BTreeMap<String, f64>) {
    let norm: Vec<f64> = lls
        .iter()
        .zip(choices)
        .map(|(ll, c)| ll / c.chars().count() as f64)
        .collect();
    let max = lls.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let z: f64 = lls.iter().map(|l| (l - max).exp()).sum();
    let probs: Vec<f64> = lls.iter().map(|l| (l - max).exp() / z).collect();
    let g = gold.first().copied().unwrap_or(0);
    let brier = probs
        .iter()
        .enumerate()
        .map(|(i, p)| (p - (i == g) as u8 as f64).powi(2))
        .sum();
    m.insert(ACC.name.into(), gold.contains(&argmax(lls)) as u8 as f64);
    m.insert(
        ACC_NORM.name.into(),
        gold.contains(&argmax(&norm)) as u8 as f64,
    );
    m.insert(PROB_CORRECT.name.into(), probs[g]);
    m.insert(BRIER_SCORE.name.into(), brier);
}

/// Scores the task; per-document records and aggregates with standard errors.
pub fn evaluate(
    s: &mut Scorer,
    task: &Task,
    opts: &EvalOptions,
    progress: &mut dyn FnMut(usize),
) -> Result<(TaskResult, Vec<SampleRecord>)> {
    let n = opts.docs_to_score(task.docs.len());
    let shots = opts.num_fewshot.unwrap_or(task.spec.num_fewshot);
    let model_max = s.model.config().max_position_embeddings;
    if let Some(m) = opts.max_length.filter(|&m| m == 0 || m > model_max) {
        bail!("max_length {m}: the model's context is 1 to {model_max} tokens (max_position_embeddings)");
    }
    let mut rnd = PyRandom::new(opts.fewshot_seed);
    // Few-shot draws follow one random stream, in document order; rendering is parallel.
    let prompts = (0..n)
        .map(|i| task.prompt(i, shots, &mut rnd, opts))
        .collect::<Result<Vec<Prompt>>>()?;
    let prepared: Vec<Prepared> = prompts
        .par_iter()
        .enumerate()
        .map(|(i, prompt)| task.prepare(i, prompt))
        .collect::<Result<_>>()?;
    if task.spec.output_type == OutputType::LoglikelihoodRolling {
        let records = rolling_records(s, &prepared, opts, progress);
        return Ok((aggregate(task, shots, &records), records));
    }
    let (lls, cuts) = s.run_loglikelihoods(&task.spec.task, &prepared, opts, progress)?;
    let mut truncated: Vec<bool> = cuts.iter().map(|c| c.context).collect();
    let mut records: Vec<SampleRecord> = prepared
        .iter()
        .enumerate()
        .map(|(i, p)| SampleRecord {
            doc_id: i,
            contexts: p.contexts.clone(),
            continuations: p.requests.iter().map(|r| r.1.clone()).collect(),
            loglikelihoods: lls[i].iter().map(|x| x.0).collect(),
            is_greedy: lls[i].iter().map(|x| x.1).collect(),
            target: p.target.clone(),
            prediction: Json::Null,
            filtered: BTreeMap::new(),
            metrics: BTreeMap::new(),
            truncated: truncated[i],
            continuation_truncated: cuts[i].continuation,
        })
        .collect();
    match task.spec.output_type {
        OutputType::MultipleChoice => {
            for (r, p) in records.iter_mut().zip(&prepared) {
                // lm-eval normalises by the choices' lengths, contexts or not.
                choice_metrics(&r.loglikelihoods, &p.choices, &p.gold, &mut r.metrics);
                r.prediction = json!(argmax(&r.loglikelihoods));
            }
        }
        OutputType::LoglikelihoodRolling => {}
        OutputType::Loglikelihood => {
            for r in &mut records {
                r.metrics.insert(LOGLIKELIHOOD.into(), r.loglikelihoods[0]);
                r.metrics
                    .insert(ACC.name.into(), r.is_greedy[0] as u8 as f64);
                r.prediction = json!(r.is_greedy[0]);
            }
        }
        OutputType::GenerateUntil => {
            let g = &task.spec.generation_kwargs;
            let contexts: Vec<String> = prepared.iter().map(|p| p.contexts[0].clone()).collect();
            let (outs, cut) =
                s.run_generation(&contexts, &g.until, g.max_gen_toks, opts, progress)?;
            let filters: Vec<Filter> = if task.spec.filter_list.is_empty() {
                vec![Filter::none()]
            } else {
                task.spec
                    .filter_list
                    .iter()
                    .map(|f| Filter::new(f, &task.spec.task))
                    .collect::<Result<_>>()?
            };
            let default_metric = [crate::task::MetricSpec {
                metric: EXACT_MATCH.name.into(),
                ..Default::default()
            }];
            let specs = if task.spec.metric_list.is_empty() {
                &default_metric[..]
            } else {
                &task.spec.metric_list[..]
            };
            let ems: Vec<ExactMatch> = specs
                .iter()
                .filter(|m| m.metric == EXACT_MATCH.name)
                .map(|m| ExactMatch::new(m, &task.spec.task))
                .collect::<Result<_>>()?;
            let enc = s.encoder(opts);
            for (i, (r, p)) in records.iter_mut().zip(&prepared).enumerate() {
                r.truncated |= cut[i];
                truncated[i] |= cut[i];
                r.prediction = json!(outs[i]);
                for f in &filters {
                    let extracted = f.apply(&outs[i]);
                    for em in &ems {
                        let name = if filters.len() == 1 {
                            EXACT_MATCH.name.to_string()
                        } else {
                            emergent_metrics::key(EXACT_MATCH.name, &f.name)
                        };
                        r.metrics.insert(name, em.score(&extracted, &p.references));
                    }
                    if f.name != "none" {
                        r.filtered.insert(f.name.clone(), extracted);
                    }
                }
                let lp = r.loglikelihoods[0];
                let n_tok = enc
                    .encode(p.references.first().map_or("", |x| x.as_str()))
                    .len()
                    .max(1);
                r.metrics.insert(ANSWER_LOGPROB.name.into(), lp);
                r.metrics
                    .insert(ANSWER_LOGPROB_PER_TOKEN.name.into(), lp / n_tok as f64);
                r.metrics.insert(ANSWER_PROB.name.into(), lp.exp());
            }
        }
    }
    let result = aggregate(task, shots, &records);
    Ok((result, records))
}

/// Records of a rolling-log-likelihood task: each text's total log-likelihood with its
/// words and UTF-8 bytes, lm-eval's perplexity denominators.
fn rolling_records(
    s: &mut Scorer,
    prepared: &[Prepared],
    opts: &EvalOptions,
    progress: &mut dyn FnMut(usize),
) -> Vec<SampleRecord> {
    let texts: Vec<String> = prepared.iter().map(|p| p.contexts[0].clone()).collect();
    let totals = s.run_rolling(&texts, opts, progress);
    texts
        .iter()
        .zip(totals)
        .zip(prepared)
        .enumerate()
        .map(|(i, ((text, ll), p))| SampleRecord {
            doc_id: i,
            contexts: vec![text.clone()],
            continuations: Vec::new(),
            loglikelihoods: vec![ll],
            is_greedy: Vec::new(),
            target: p.target.clone(),
            prediction: Json::Null,
            filtered: BTreeMap::new(),
            metrics: BTreeMap::from([
                (LOGLIKELIHOOD.to_string(), ll),
                (WORDS.to_string(), py_word_count(text) as f64),
                (BYTES.to_string(), text.len() as f64),
            ]),
            truncated: false,
            continuation_truncated: false,
        })
        .collect()
}

/// A rolling document's word and byte counts, kept in its record's metrics.
pub const WORDS: &str = "words";
pub const BYTES: &str = "bytes";

/// lm-eval's corpus-level perplexities of a rolling task: the log-likelihood summed over
/// documents, divided by their words or bytes (`weighted_perplexity`, `bits_per_byte`).
fn rolling_metrics(records: &[SampleRecord]) -> Vec<MetricValue> {
    let sum = |k: &str| records.iter().filter_map(|r| r.metrics.get(k)).sum::<f64>();
    let (ll, words, bytes) = (sum(LOGLIKELIHOOD), sum(WORDS), sum(BYTES));
    let n = records.len();
    let value = |metric: &str, value: f64| MetricValue {
        metric: metric.into(),
        value,
        // lm-eval gives these no standard error ("N/A").
        stderr: f64::NAN,
        n,
    };
    vec![
        value(WORD_PERPLEXITY.name, (-ll / words).exp()),
        value(BYTE_PERPLEXITY.name, (-ll / bytes).exp()),
        value(BITS_PER_BYTE.name, -ll / bytes / std::f64::consts::LN_2),
    ]
}

fn aggregate(task: &Task, shots: usize, records: &[SampleRecord]) -> TaskResult {
    if task.spec.output_type == OutputType::LoglikelihoodRolling {
        return TaskResult {
            task: task.spec.task.clone(),
            shots,
            baseline: task.baseline(),
            metrics: rolling_metrics(records),
            n_docs: records.len(),
            truncated: 0,
        };
    }
    let mut names: Vec<String> = Vec::new();
    for r in records {
        for k in r.metrics.keys() {
            if !names.contains(k) {
                names.push(k.clone());
            }
        }
    }
    let mut metrics = Vec::new();
    for name in names {
        let xs: Vec<f64> = records
            .iter()
            .filter_map(|r| r.metrics.get(&name).copied())
            .collect();
        let (value, stderr) = mean_stderr(&xs);
        metrics.push(MetricValue {
            metric: name.clone(),
            value,
            stderr,
            n: xs.len(),
        });
        if name == LOGLIKELIHOOD {
            // lm-eval's perplexity: exp(−mean log-likelihood); stderr by the delta method.
            let ppl = (-value).exp();
            metrics.push(MetricValue {
                metric: PERPLEXITY.name.into(),
                value: ppl,
                stderr: ppl * stderr,
                n: xs.len(),
            });
        }
    }
    TaskResult {
        task: task.spec.task.clone(),
        shots,
        baseline: task.baseline(),
        metrics,
        n_docs: records.len(),
        truncated: records.iter().filter(|r| r.truncated).count(),
    }
}
