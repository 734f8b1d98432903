//! The built-in task suite: the paper's six kinds of benchmark (closed-book QA,
//! commonsense, reading comprehension, coreference, exam, multi-step arithmetic), each
//! in both languages; commonsense in three forms (an association across the prompt,
//! scored as PIQA and as WinoGrande are, and a phrase's ending), reading in two
//! variants on the same passages and the exam in two formats on the same items. Items
//! are drawn from the world but held out of the corpus: held-out facts and problems are
//! never asked there, and passages and pairs use fresh names. Why each task needs what
//! it needs: `docs/builtin-study.md`.

use super::corpus::{
    distinct, does, every_morning, job_sentence, numbers, pair_intro, passage, problem, stranger,
    PASSAGE_PEOPLE,
};
use super::LETTERS;
use super::{
    exam_prompt, is_held_out_fact, is_held_out_problem, qa_prompt, Attribute, ExamTopic, World,
};
use crate::lexicon::{Lang, JOBS};
use emergent_rng::Rng;

/// Every built-in task: `<kind>-<language>`.
pub const TASK_NAMES: [&str; 20] = [
    "qa-en",
    "qa-zh",
    "commonsense-en",
    "commonsense-zh",
    "commonsense-partial-en",
    "commonsense-partial-zh",
    "ending-en",
    "ending-zh",
    "reading-en",
    "reading-zh",
    "reading-bind-en",
    "reading-bind-zh",
    "coref-en",
    "coref-zh",
    "exam-cloze-en",
    "exam-cloze-zh",
    "exam-en",
    "exam-zh",
    "math-en",
    "math-zh",
];

/// One task document.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskItem {
    /// A prompt and its choices (continuations), the right one at `gold`.
    Choice {
        prompt: String,
        choices: Vec<String>,
        gold: usize,
    },
    /// Contexts that differ in one word, and the continuation the right one predicts
    /// (WinoGrande's partial scoring).
    Contexts {
        contexts: Vec<String>,
        continuation: String,
        gold: usize,
    },
    /// A prompt and the reference answer for greedy generation.
    Answer { prompt: String, answer: String },
}

/// A generated task: its items, few-shot examples, and how it is scored.
#[derive(Debug, Clone)]
pub struct WorldTask {
    pub name: String,
    pub lang: Lang,
    pub items: Vec<TaskItem>,
    /// Examples for few-shot prompts (items the corpus may contain).
    pub fewshot: Vec<TaskItem>,
    pub num_fewshot: usize,
    /// Text before the few-shot examples.
    pub description: String,
    /// Stop strings and generation length, for generation tasks.
    pub until: Vec<String>,
    pub max_gen_toks: usize,
    /// Whether the answer is the number after "####".
    pub numeric_answer: bool,
}

impl World {
    /// The built-in task `name` with `n` documents (fewer where the world has fewer
    /// held-out items), drawn with `seed`.
    pub fn task(&self, name: &str, n: usize, seed: u64) -> Result<WorldTask, String> {
        let (kind, lang) = match name.rsplit_once('-') {
            Some((k, "en")) => (k, Lang::En),
            Some((k, "zh")) => (k, Lang::Zh),
            _ => return Err(unknown(name)),
        };
        let mut rng = Rng::derive(seed ^ self.seed, 0x7a5c ^ lang as u64);
        let mut task = WorldTask {
            name: name.into(),
            lang,
            items: Vec::new(),
            fewshot: Vec::new(),
            num_fewshot: 0,
            description: String::new(),
            until: vec!["\n".into()],
            max_gen_toks: 8,
            numeric_answer: false,
        };
        match kind {
            "qa" => task.items = self.qa_items(&mut rng, lang, n),
            "commonsense" => task.items = (0..n).map(|_| commonsense(&mut rng, lang)).collect(),
            "commonsense-partial" => {
                task.items = (0..n)
                    .map(|_| commonsense_partial(&mut rng, lang))
                    .collect()
            }
            "reading" | "reading-bind" => {
                let from_passage = kind == "reading-bind";
                task.items = (0..n)
                    .map(|_| self.reading(&mut rng, lang, from_passage))
                    .collect()
            }
            "ending" => task.items = (0..n).map(|_| ending(&mut rng, lang)).collect(),
            "coref" => task.items = (0..n).map(|_| coref(&mut rng, lang)).collect(),
            "exam" | "exam-cloze" => {
                let lettered = kind == "exam";
                let render = |items: Vec<ExamItem>| {
                    items
                        .into_iter()
                        .map(|e| e.render(lang, lettered))
                        .collect::<Vec<_>>()
                };
                task.items = render(self.exam_items(&mut rng, lang, n, true));
                task.fewshot = render(self.exam_items(&mut rng, lang, 50, false));
                task.num_fewshot = 3;
                task.description = match lang {
                    Lang::En => "The following are multiple choice questions about the world.\n\n",
                    Lang::Zh => "以下是关于这个世界的单项选择题。\n\n",
                }
                .into();
            }
            "math" => {
                task.items = math_items(&mut rng, lang, n, true);
                task.fewshot = math_items(&mut rng, lang, 50, false);
                task.num_fewshot = 2;
                task.until = vec!["\n\n".into(), "Question:".into(), "问题：".into()];
                task.max_gen_toks = 40;
                task.numeric_answer = true;
            }
            _ => return Err(unknown(name)),
        }
        Ok(task)
    }

    /// Closed-book questions on held-out facts, answered by generation.
    fn qa_items(&self, rng: &mut Rng, lang: Lang, n: usize) -> Vec<TaskItem> {
        self.fact_pairs(rng, n, true)
            .into_iter()
            .map(|(i, attr)| {
                let p = &self.people[i];
                TaskItem::Answer {
                    prompt: qa_prompt(lang, &self.question(lang, p, attr)),
                    answer: self.word(lang, attr, p.value(attr)),
                }
            })
            .collect()
    }

    /// Up to `n` (person, attribute) pairs, held out or not, in random order.
    fn fact_pairs(&self, rng: &mut Rng, n: usize, held_out: bool) -> Vec<(usize, Attribute)> {
        let mut pairs: Vec<(usize, Attribute)> = (0..self.people.len())
            .flat_map(|i| Attribute::ALL.map(|a| (i, a)))
            .filter(|&(i, a)| is_held_out_fact(i, a) == held_out)
            .collect();
        rng.shuffle(&mut pairs);
        pairs.truncate(n);
        pairs
    }

    /// Exam questions on what jobs do, which the corpus also asks in lettered form.
    /// `held_out` items (the test split) have an option set and order the corpus never
    /// shows; the others are few-shot examples, on jobs and on people's facts as in the
    /// corpus. The jobs asked about are uniform, while the corpus mentions them by a Zipf
    /// law.
    fn exam_items(&self, rng: &mut Rng, lang: Lang, n: usize, held_out: bool) -> Vec<ExamItem> {
        let askable = self.fact_pairs(rng, n, false);
        (0..n)
            .map(|k| {
                let topic = match askable.get(k) {
                    Some(&(i, attr)) if !held_out && k % 2 == 0 => ExamTopic::Person(i, attr),
                    _ => {
                        let job = rng.below(JOBS.len());
                        ExamTopic::common(rng, job)
                    }
                };
                let (question, options, gold) = self.exam_question(rng, lang, topic, held_out);
                ExamItem {
                    question,
                    options,
                    gold,
                }
            })
            .collect()
    }

    /// A new passage and a question about one of its people. The options are that
    /// person's value and either three values the passage does not mention (reading any
    /// value back from the passage is enough) or the passage's other people's values
    /// (`from_passage`: only the binding of name to value tells them apart).
    fn reading(&self, rng: &mut Rng, lang: Lang, from_passage: bool) -> TaskItem {
        let (text, questions, values, attr) = passage(self, rng, lang);
        let (q, asked) = &questions[rng.below(PASSAGE_PEOPLE)];
        let right = values[*asked];
        let mut options = vec![right];
        if from_passage {
            options.extend(values.iter().filter(|&&v| v != right).take(3));
        }
        while options.len() < 4 {
            let v = rng.below(self.domain(attr));
            if !options.contains(&v) && !values.contains(&v) {
                options.push(v);
            }
        }
        rng.shuffle(&mut options);
        TaskItem::Choice {
            prompt: format!("{text}\n{}", qa_prompt(lang, q)),
            gold: options.iter().position(|&v| v == right).unwrap_or(0),
            choices: options.iter().map(|&v| self.word(lang, attr, v)).collect(),
        }
    }
}

/// One exam question, asked either with lettered options (answered by the letter) or as
/// cloze (the option texts scored as continuations of the question).
struct ExamItem {
    question: String,
    options: Vec<String>,
    gold: usize,
}

impl ExamItem {
    fn render(self, lang: Lang, lettered: bool) -> TaskItem {
        if lettered {
            TaskItem::Choice {
                prompt: exam_prompt(lang, &self.question, &self.options),
                choices: LETTERS.iter().map(|l| l.to_string()).collect(),
                gold: self.gold,
            }
        } else {
            TaskItem::Choice {
                prompt: qa_prompt(lang, &self.question),
                choices: self.options,
                gold: self.gold,
            }
        }
    }
}

fn unknown(name: &str) -> String {
    format!(
        "unknown built-in task `{name}` (built-in tasks: {})",
        TASK_NAMES.join(", ")
    )
}

/// A stranger and four distinct jobs, the first theirs: one commonsense item, which
/// [`commonsense`] and [`commonsense_partial`] score in two ways.
struct Association {
    name: String,
    female: bool,
    jobs: Vec<usize>,
    /// The order the four are offered in.
    order: [usize; 4],
}

impl Association {
    fn draw(rng: &mut Rng, lang: Lang) -> Association {
        let (name, female) = stranger(rng);
        let jobs = distinct(rng, JOBS.len(), 4);
        let mut order = [0, 1, 2, 3];
        rng.shuffle(&mut order);
        Association {
            name: name.render(lang),
            female,
            jobs,
            order,
        }
    }

    /// The job documents' first phrasing for job `k` of the four, cut before its
    /// activity: the prompt, what stands between it and the activity, and what ends it.
    fn split(&self, lang: Lang, k: usize) -> (String, String, String) {
        let job = self.jobs[k];
        let sentence = job_sentence(lang, &self.name, self.female, job, 0);
        let act = lang.pick(&JOBS[job].activity);
        let at = sentence.rfind(act).unwrap_or(sentence.len());
        let prompt = sentence[..at].trim_end();
        (
            prompt.to_string(),
            sentence[prompt.len()..at].to_string(),
            sentence[(at + act.len()).min(sentence.len())..].to_string(),
        )
    }

    fn gold(&self) -> usize {
        self.order.iter().position(|&k| k == 0).unwrap_or(0)
    }
}

/// A stranger's job, and which of four activities they do every day, in the first
/// phrasing of the job documents (`X is a baker and` → ` kneads dough every day.`): the
/// association job → activity for a new person, asked alike in both languages.
fn commonsense(rng: &mut Rng, lang: Lang) -> TaskItem {
    let a = Association::draw(rng, lang);
    let (prompt, gap, end) = a.split(lang, 0);
    TaskItem::Choice {
        prompt,
        choices: a
            .order
            .iter()
            .map(|&k| format!("{gap}{}{end}", lang.pick(&JOBS[a.jobs[k]].activity)))
            .collect(),
        gold: a.gold(),
    }
}

/// The same items as [`commonsense`] (the same draws), scored the other way round, as
/// WinoGrande is: four contexts naming the four jobs, one continuation (the stranger's
/// activity). Every option then shares the continuation, so how likely an activity is
/// on its own (its length, how often the corpus says it) cancels, and what is left is
/// how much the job named raises it: the association without the options' priors.
fn commonsense_partial(rng: &mut Rng, lang: Lang) -> TaskItem {
    let a = Association::draw(rng, lang);
    let (_, gap, end) = a.split(lang, 0);
    TaskItem::Contexts {
        contexts: a.order.iter().map(|&k| a.split(lang, k).0).collect(),
        continuation: format!("{gap}{}{end}", lang.pick(&JOBS[a.jobs[0]].activity)),
        gold: a.gold(),
    }
}

/// How a stranger's morning activity ends, given its first word (HellaSwag's form): the
/// verb and its object stand side by side in every job document, so this needs no
/// look-up across the prompt, only the phrase. The other endings belong to jobs with
/// another verb, so exactly one ending fits.
fn ending(rng: &mut Rng, lang: Lang) -> TaskItem {
    let (name, _) = stranger(rng);
    let gold_job = rng.below(JOBS.len());
    let verb = lang.pick(&JOBS[gold_job].verb);
    let mut jobs = vec![gold_job];
    while jobs.len() < 4 {
        let j = rng.below(JOBS.len());
        if !jobs.contains(&j) && lang.pick(&JOBS[j].verb) != verb {
            jobs.push(j);
        }
    }
    rng.shuffle(&mut jobs);
    let n = name.render(lang);
    let (prompt, stop) = match lang {
        Lang::En => (
            format!("{} {verb}", every_morning(lang, &n).trim_start()),
            ".",
        ),
        Lang::Zh => (format!("{}都会{verb}", every_morning(lang, &n)), "。"),
    };
    let rest = |j: usize| {
        let act = lang.pick(&JOBS[j].activity);
        let v = lang.pick(&JOBS[j].verb);
        format!("{}{stop}", &act[v.len()..])
    };
    TaskItem::Choice {
        prompt,
        choices: jobs.iter().map(|&j| rest(j)).collect(),
        gold: jobs.iter().position(|&j| j == gold_job).unwrap_or(0),
    }
}

/// Two strangers with different jobs; which of them does the one job's work.
fn coref(rng: &mut Rng, lang: Lang) -> TaskItem {
    let (intro, names, jobs) = pair_intro(rng, lang);
    let gold = rng.below(2);
    TaskItem::Contexts {
        contexts: names
            .iter()
            .map(|n| format!("{intro}{}", every_morning(lang, n)))
            .collect(),
        continuation: does(lang, jobs[gold]),
        gold,
    }
}

/// Two-step word problems, held out of the corpus or not.
fn math_items(rng: &mut Rng, lang: Lang, n: usize, held_out: bool) -> Vec<TaskItem> {
    (0..n)
        .map(|_| {
            let (a, b, c) = loop {
                let t = numbers(rng);
                if is_held_out_problem(t.0, t.1, t.2) == held_out {
                    break t;
                }
            };
            let (q, solution) = problem(rng, lang, a, b, c);
            TaskItem::Answer {
                prompt: qa_prompt(lang, &q),
                answer: solution,
            }
        })
        .collect()
}
