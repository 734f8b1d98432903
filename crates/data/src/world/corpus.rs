//! The pre-training documents: facts about the world's people, questions answered about
//! them, lettered exam questions, what each job does, code words bound to names and
//! asked back, short passages with questions, who-did-what sentences, worked arithmetic
//! problems, and parallel text in both languages. Each document is in one language (the
//! parallel ones in both).

use super::{
    a_or_an, exam_prompt, is_held_out_fact, is_held_out_problem, qa_prompt, Attribute, Name,
};
use super::{distinct_draws, ExamTopic, World, LETTERS};
use crate::lexicon::{Lang, ANIMALS, JOBS, OBJECTS};
use emergent_rng::Rng;

/// One genre of the built-in corpus: its name (also the domain its validation loss is
/// reported under), its default share of the documents in percent (see
/// `docs/builtin-study.md`), and the writer of one document.
pub struct Genre {
    pub name: &'static str,
    pub share: u32,
    write: fn(&World, &mut Rng, Lang) -> String,
}

/// The built-in corpus's genres.
pub const GENRES: [Genre; 10] = [
    genre("facts", 20, World::facts_doc),
    genre("qa", 8, World::qa_doc),
    genre("job-questions", 4, World::job_questions_doc),
    genre("exams", 10, World::exam_doc),
    genre("jobs", 12, World::jobs_doc),
    genre("binding", 10, World::binding_doc),
    genre("reading", 10, World::reading_doc),
    genre("who-did-what", 8, World::who_doc),
    genre("arithmetic", 18, World::arithmetic_doc),
    genre("parallel", 4, |w, rng, _| w.parallel_doc(rng)),
];

const fn genre(
    name: &'static str,
    share: u32,
    write: fn(&World, &mut Rng, Lang) -> String,
) -> Genre {
    Genre { name, share, write }
}

/// The default genres' shares, as [`genre_mix`] takes them.
pub fn default_shares() -> Vec<(&'static str, f64)> {
    GENRES.iter().map(|g| (g.name, g.share as f64)).collect()
}

/// Shares of named genres as (cumulative share, genre) in [`GENRES`]' order of the
/// names given; an unknown genre, a share that is not a number ≥ 0, or no positive
/// share is an error naming it.
pub fn genre_mix(shares: &[(&str, f64)]) -> Result<Vec<(f64, &'static Genre)>, String> {
    let mut mix = Vec::with_capacity(shares.len());
    let mut total = 0.0;
    for &(name, share) in shares {
        let Some(g) = GENRES.iter().find(|g| g.name == name) else {
            let known: Vec<&str> = GENRES.iter().map(|g| g.name).collect();
            return Err(format!(
                "unknown genre `{name}` (genres: {})",
                known.join(", ")
            ));
        };
        if !(share.is_finite() && share >= 0.0) {
            return Err(format!("genre `{name}`: share {share} is not a number ≥ 0"));
        }
        total += share;
        mix.push((total, g));
    }
    if total <= 0.0 {
        return Err("no genre has a positive share".into());
    }
    Ok(mix)
}

/// Joins sentences: with a space in English, directly in Chinese.
fn join(lang: Lang, parts: &[String]) -> String {
    parts.join(match lang {
        Lang::En => " ",
        Lang::Zh => "",
    })
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

/// A made-up person who is not one of the world's people: names in passages and stories.
pub(super) fn stranger(rng: &mut Rng) -> (Name, bool) {
    (Name::random(rng, 2), rng.below(2) == 1)
}

/// `k` distinct values below `n`.
pub(super) fn distinct(rng: &mut Rng, n: usize, k: usize) -> Vec<usize> {
    distinct_draws(k, || rng.below(n), |&v| v)
}

/// What a person of job `job` does, as a sentence (three phrasings, plus a generic one).
pub(super) fn job_sentence(
    lang: Lang,
    name: &str,
    female: bool,
    job: usize,
    form: usize,
) -> String {
    let j = lang.pick(&JOBS[job].name);
    let act = lang.pick(&JOBS[job].activity);
    let pron = lang.pronoun(female);
    match (lang, form % 4) {
        (Lang::En, 0) => format!("{name} is a {j} and {act} every day."),
        (Lang::En, 1) => format!("As a {j}, {name} {act}."),
        (Lang::En, 2) => format!("Every day {name} {act}, because {pron} is a {j}."),
        (Lang::En, _) => format!("A {j} {act}."),
        (Lang::Zh, 0) => format!("{name}是{j}，每天都{act}。"),
        (Lang::Zh, 1) => format!("作为一名{j}，{name}每天{act}。"),
        (Lang::Zh, 2) => format!("{name}每天都{act}，因为{pron}是{j}。"),
        (Lang::Zh, _) => format!("{j}的工作是{act}。"),
    }
}

/// People in a reading passage: as many as a reading question has options, so that
/// options taken from the passage leave nothing to guess but which name has which.
pub(super) const PASSAGE_PEOPLE: usize = 4;

/// `k` strangers with different names.
pub(super) fn strangers(rng: &mut Rng, k: usize) -> Vec<(Name, bool)> {
    distinct_draws(k, || stranger(rng), |s| s.0.clone())
}

/// A passage about [`PASSAGE_PEOPLE`] strangers who differ in one thing, and the question
/// about each of them: (passage, one question per stranger, their values, what differs:
/// a bag's colour, the animal brought to the fair, or the town travelled to).
pub(super) fn passage(
    world: &World,
    rng: &mut Rng,
    lang: Lang,
) -> (String, Vec<(String, usize)>, Vec<usize>, Attribute) {
    let attr = [Attribute::Colour, Attribute::Animal, Attribute::Town][rng.below(3)];
    let names: Vec<String> = strangers(rng, PASSAGE_PEOPLE)
        .iter()
        .map(|(n, _)| n.render(lang))
        .collect();
    let values = distinct(rng, world.domain(attr), PASSAGE_PEOPLE);
    let clauses: Vec<String> = names
        .iter()
        .zip(&values)
        .enumerate()
        .map(|(i, (n, &v))| passage_clause(world, lang, attr, i, n, v))
        .collect();
    let last = clauses.len() - 1;
    let text = match lang {
        Lang::En => format!(
            "{} {}, and {}.",
            clauses[0],
            clauses[1..last].join(", "),
            clauses[last]
        ),
        Lang::Zh => format!(
            "{}{}，{}。",
            clauses[0],
            clauses[1..last].join("，"),
            clauses[last]
        ),
    };
    let questions = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let q = match (lang, attr) {
                (Lang::En, Attribute::Colour) => format!("What colour was {n}'s bag?"),
                (Lang::En, Attribute::Animal) => format!("What did {n} bring to the fair?"),
                (Lang::En, _) => format!("Where did {n} travel to?"),
                (Lang::Zh, Attribute::Colour) => format!("{n}的包是什么颜色的？"),
                (Lang::Zh, Attribute::Animal) => format!("{n}带了什么去集市？"),
                (Lang::Zh, _) => format!("{n}去了哪里？"),
            };
            (q, i)
        })
        .collect();
    (text, questions, values, attr)
}

/// One person's part of a passage: the first a whole sentence, the others clauses.
fn passage_clause(
    world: &World,
    lang: Lang,
    attr: Attribute,
    i: usize,
    n: &str,
    v: usize,
) -> String {
    let w = world.word(lang, attr, v);
    let m = ANIMALS[v % ANIMALS.len()].1;
    match (lang, attr, i) {
        (Lang::En, Attribute::Colour, 0) => format!("{n} came to the market with a {w} bag."),
        (Lang::En, Attribute::Colour, _) => format!("{n} carried a {w} bag"),
        (Lang::En, Attribute::Animal, 0) => format!("{n} brought {} to the fair.", a_or_an(&w)),
        (Lang::En, Attribute::Animal, _) => format!("{n} brought {}", a_or_an(&w)),
        (Lang::En, _, 0) => format!("Last week {n} travelled to {w}."),
        (Lang::En, _, _) => format!("{n} travelled to {w}"),
        (Lang::Zh, Attribute::Colour, 0) => format!("{n}提着一个{w}的包去了市场。"),
        (Lang::Zh, Attribute::Colour, _) => format!("{n}提着一个{w}的包"),
        (Lang::Zh, Attribute::Animal, 0) => format!("{n}带了一{m}{w}去集市。"),
        (Lang::Zh, Attribute::Animal, _) => format!("{n}带了一{m}{w}"),
        (Lang::Zh, _, 0) => format!("上个星期，{n}去了{w}。"),
        (Lang::Zh, _, _) => format!("{n}去了{w}"),
    }
}

/// "X's code word is V." / "X的暗号是V。"
fn binding_sentence(lang: Lang, name: &str, word: &str) -> String {
    match lang {
        Lang::En => format!("{name}'s code word is {word}."),
        Lang::Zh => format!("{name}的暗号是{word}。"),
    }
}

/// A sentence said again later in a document, on a line of its own: "So …" / "所以…".
fn restated(lang: Lang, sentence: &str) -> String {
    match lang {
        Lang::En => format!("\nSo {sentence}"),
        Lang::Zh => format!("\n所以{sentence}"),
    }
}

/// "What is X's code word?" / "X的暗号是什么？"
fn binding_question(lang: Lang, name: &str) -> String {
    match lang {
        Lang::En => format!("What is {name}'s code word?"),
        Lang::Zh => format!("{name}的暗号是什么？"),
    }
}

/// Two strangers with different jobs, introduced: (intro, names, jobs).
pub(super) fn pair_intro(rng: &mut Rng, lang: Lang) -> (String, [String; 2], [usize; 2]) {
    let people = strangers(rng, 2);
    let jobs = distinct(rng, JOBS.len(), 2);
    let a = people[0].0.render(lang);
    let b = people[1].0.render(lang);
    let (ja, jb) = (
        lang.pick(&JOBS[jobs[0]].name),
        lang.pick(&JOBS[jobs[1]].name),
    );
    let intro = match lang {
        Lang::En => format!("{a} is a {ja} and {b} is a {jb}."),
        Lang::Zh => format!("{a}是{ja}，{b}是{jb}。"),
    };
    (intro, [a, b], [jobs[0], jobs[1]])
}

/// "Every morning X" / "每天早上，X", the context before a who-does-what continuation.
pub(super) fn every_morning(lang: Lang, name: &str) -> String {
    match lang {
        Lang::En => format!(" Every morning {name}"),
        Lang::Zh => format!("每天早上，{name}"),
    }
}

/// The continuation saying what someone of `job` does.
pub(super) fn does(lang: Lang, job: usize) -> String {
    match lang {
        Lang::En => format!(" {}.", JOBS[job].activity.0),
        Lang::Zh => format!("都会{}。", JOBS[job].activity.1),
    }
}

/// A two-step word problem: (question, worked answer ending "#### result").
pub(super) fn problem(rng: &mut Rng, lang: Lang, a: u32, b: u32, c: u32) -> (String, String) {
    let (n, female) = stranger(rng);
    let (m, _) = stranger(rng);
    let (n, m) = (n.render(lang), m.render(lang));
    let ((obj_en, obj_zh), mw) = OBJECTS[rng.below(OBJECTS.len())];
    let (s, r) = (a + b, a + b - c);
    match lang {
        Lang::En => {
            let p = capitalised(lang.pronoun(female));
            (
                format!("{n} has {a} {obj_en}. {p} gets {b} more and then gives {c} to {m}. How many {obj_en} does {n} have now?"),
                format!("{a} + {b} = {s}. {s} - {c} = {r}. #### {r}"),
            )
        }
        Lang::Zh => {
            let p = lang.pronoun(female);
            (
                format!("{n}有{a}{mw}{obj_zh}。{p}又得到了{b}{mw}，然后给了{m}{c}{mw}。{n}现在有几{mw}{obj_zh}？"),
                format!("{a} + {b} = {s}。{s} - {c} = {r}。#### {r}"),
            )
        }
    }
}

/// A random problem (start 2–9, then 1–9 more, then 1–9 given away, never below 0): the
/// sums and differences of single digits, a table a small model can learn.
pub(super) fn numbers(rng: &mut Rng) -> (u32, u32, u32) {
    loop {
        let a = 2 + rng.below(8) as u32;
        let b = 1 + rng.below(9) as u32;
        let c = 1 + rng.below(9) as u32;
        if c <= a + b {
            return (a, b, c);
        }
    }
}

impl World {
    /// `n` documents, mixing every genre in both languages.
    pub fn documents(&self, n: usize, seed: u64) -> Vec<String> {
        self.documents_by_genre(n, seed)
            .into_iter()
            .map(|(d, _)| d)
            .collect()
    }

    /// The same documents as [`World::documents`], each with its genre (the domain its
    /// validation loss is reported under).
    pub fn documents_by_genre(&self, n: usize, seed: u64) -> Vec<(String, &'static str)> {
        self.documents_with_shares(n, seed, &default_shares())
            .expect("the default genres are known")
    }

    /// `n` documents whose genres are drawn in proportion to `shares` (see
    /// [`genre_mix`] for what is an error).
    pub fn documents_with_shares(
        &self,
        n: usize,
        seed: u64,
        shares: &[(&str, f64)],
    ) -> Result<Vec<(String, &'static str)>, String> {
        let mix = genre_mix(shares)?;
        let total = mix[mix.len() - 1].0;
        let mut rng = Rng::derive(seed ^ self.seed, 0xd0c5);
        Ok((0..n)
            .map(|_| {
                let lang = Lang::BOTH[rng.below(2)];
                let u = rng.uniform() * total;
                let g = mix
                    .iter()
                    .find(|(c, _)| u < *c)
                    .unwrap_or(&mix[mix.len() - 1])
                    .1;
                ((g.write)(self, &mut rng, lang), g.name)
            })
            .collect())
    }

    /// Code words bound to three to six new names, then two to four of them asked back:
    /// the answers can only come from the document, so copying from context pays.
    fn binding_doc(&self, rng: &mut Rng, lang: Lang) -> String {
        let k = 3 + rng.below(4);
        let names: Vec<String> = strangers(rng, k)
            .iter()
            .map(|(n, _)| n.render(lang))
            .collect();
        let words: Vec<String> = self
            .code_word_draw(rng, k)
            .iter()
            .map(|&w| self.code_words[w].render_word(lang))
            .collect();
        let bound: Vec<String> = names
            .iter()
            .zip(&words)
            .map(|(n, w)| binding_sentence(lang, n, w))
            .collect();
        // A heading, so that every name follows a space and tokenises alike everywhere.
        let mut out = match lang {
            Lang::En => format!("Code words: {}", join(lang, &bound)),
            Lang::Zh => format!("暗号：{}", join(lang, &bound)),
        };
        let asked = 2 + rng.below(3).min(k - 2);
        for i in distinct(rng, k, asked) {
            if rng.below(2) == 0 {
                let q = qa_prompt(lang, &binding_question(lang, &names[i]));
                out.push_str(&format!("\n{q}{}{}", lang.answer_gap(), words[i]));
            } else {
                out.push_str(&restated(
                    lang,
                    &binding_sentence(lang, &names[i], &words[i]),
                ));
            }
        }
        out
    }

    /// Several facts about one to three people.
    fn facts_doc(&self, rng: &mut Rng, lang: Lang) -> String {
        let mut parts = Vec::new();
        for _ in 0..1 + rng.below(3) {
            let p = &self.people[self.frequent_person(rng)];
            for _ in 0..2 + rng.below(3) {
                let attr = Attribute::ALL[rng.below(4)];
                parts.push(self.fact(lang, p, attr, rng.below(3)));
            }
        }
        join(lang, &parts)
    }

    /// A random (person, attribute) whose question may appear in the corpus.
    fn askable(&self, rng: &mut Rng) -> (usize, Attribute) {
        loop {
            let i = self.frequent_person(rng);
            let attr = Attribute::ALL[rng.below(4)];
            if !is_held_out_fact(i, attr) {
                return (i, attr);
            }
        }
    }

    /// Questions about people, answered.
    fn qa_doc(&self, rng: &mut Rng, lang: Lang) -> String {
        let items: Vec<String> = (0..2 + rng.below(3))
            .map(|_| {
                let (i, attr) = self.askable(rng);
                let p = &self.people[i];
                let q = qa_prompt(lang, &self.question(lang, p, attr));
                format!(
                    "{q}{}{}",
                    lang.answer_gap(),
                    self.word(lang, attr, p.value(attr))
                )
            })
            .collect();
        items.join("\n\n")
    }

    /// Questions on what jobs do, answered in words, in other wordings than the exams'
    /// (`What does a baker do every day?`, not `What does a baker do?`), jobs drawn by
    /// their frequency.
    fn job_questions_doc(&self, rng: &mut Rng, lang: Lang) -> String {
        let items: Vec<String> = (0..2 + rng.below(3))
            .map(|_| {
                let j = self.frequent_job(rng);
                let (job, act) = (lang.pick(&JOBS[j].name), lang.pick(&JOBS[j].activity));
                let (q, answer) = match (lang, rng.below(2)) {
                    (Lang::En, 0) => (format!("What does {} do every day?", a_or_an(job)), act),
                    (Lang::En, _) => (format!("Who is it that {act}?"), job),
                    (Lang::Zh, 0) => (format!("{job}每天做什么？"), act),
                    (Lang::Zh, _) => (format!("谁每天都{act}？"), job),
                };
                format!("{}{}{answer}", qa_prompt(lang, &q), lang.answer_gap())
            })
            .collect();
        items.join("\n\n")
    }

    /// Lettered exam questions, answered with the letter: half on people's facts, half on
    /// what jobs do.
    fn exam_doc(&self, rng: &mut Rng, lang: Lang) -> String {
        let mut items = vec![match lang {
            Lang::En => "The following are multiple choice questions about the world.".to_string(),
            Lang::Zh => "以下是关于这个世界的单项选择题。".to_string(),
        }];
        for _ in 0..1 + rng.below(3) {
            let topic = if rng.below(2) == 0 {
                let (i, attr) = self.askable(rng);
                ExamTopic::Person(i, attr)
            } else {
                let job = self.frequent_job(rng);
                ExamTopic::common(rng, job)
            };
            let (question, words, gold) = self.exam_question(rng, lang, topic, false);
            let prompt = exam_prompt(lang, &question, &words);
            items.push(format!("{prompt}{}{}", lang.answer_gap(), LETTERS[gold]));
        }
        items.join("\n\n")
    }

    /// What people of each job do: the world's common sense.
    fn jobs_doc(&self, rng: &mut Rng, lang: Lang) -> String {
        let parts: Vec<String> = (0..2 + rng.below(4))
            .map(|_| {
                // One of the world's people with the job the facts give them, or a
                // stranger with a job drawn by its frequency.
                let (name, female, job) = if rng.below(2) == 0 {
                    let p = &self.people[self.frequent_person(rng)];
                    (p.name.clone(), p.female, p.job)
                } else {
                    let (name, female) = stranger(rng);
                    (name, female, self.frequent_job(rng))
                };
                job_sentence(lang, &name.render(lang), female, job, rng.below(4))
            })
            .collect();
        join(lang, &parts)
    }

    /// A passage with one or two questions about it, answered.
    fn reading_doc(&self, rng: &mut Rng, lang: Lang) -> String {
        let (text, questions, values, attr) = passage(self, rng, lang);
        let mut out = text;
        let asked = 1 + rng.below(3);
        for k in distinct(rng, PASSAGE_PEOPLE, asked) {
            let (q, i) = &questions[k];
            let answer = self.word(lang, attr, values[*i]);
            out.push_str(&format!(
                "\n{}{}{answer}",
                qa_prompt(lang, q),
                lang.answer_gap()
            ));
        }
        out
    }

    /// Two people with different jobs, and who did what.
    fn who_doc(&self, rng: &mut Rng, lang: Lang) -> String {
        let (intro, names, jobs) = pair_intro(rng, lang);
        let first = rng.below(2);
        let mut out = intro;
        out.push_str(&every_morning(lang, &names[first]));
        out.push_str(&does(lang, jobs[first]));
        if rng.below(2) == 0 {
            let other = 1 - first;
            out.push_str(&match lang {
                Lang::En => format!(" Then {}", names[other]),
                Lang::Zh => format!("然后，{}", names[other]),
            });
            out.push_str(&does(lang, jobs[other]));
        }
        out
    }

    /// Worked word problems and sums stated in words.
    fn arithmetic_doc(&self, rng: &mut Rng, lang: Lang) -> String {
        let mut parts = Vec::new();
        for _ in 0..1 + rng.below(2) {
            let (a, b, c) = loop {
                let t = numbers(rng);
                if !is_held_out_problem(t.0, t.1, t.2) {
                    break t;
                }
            };
            let (q, solution) = problem(rng, lang, a, b, c);
            parts.push(format!(
                "{}{}{solution}",
                qa_prompt(lang, &q),
                lang.answer_gap()
            ));
        }
        let (a, b, c) = numbers(rng);
        let facts = match lang {
            Lang::En => format!(
                "{a} plus {b} is {}. {} minus {c} is {}.",
                a + b,
                a + b,
                a + b - c
            ),
            Lang::Zh => format!("{a}加{b}等于{}。{}减{c}等于{}。", a + b, a + b, a + b - c),
        };
        parts.push(facts);
        parts.join("\n\n")
    }

    /// The same facts in both languages, sentence by sentence.
    fn parallel_doc(&self, rng: &mut Rng) -> String {
        let p = &self.people[self.frequent_person(rng)];
        let mut parts = vec![format!(
            "{} ({})",
            p.name.render(Lang::En),
            p.name.render(Lang::Zh)
        )];
        for _ in 0..2 + rng.below(2) {
            let attr = Attribute::ALL[rng.below(4)];
            let phrasing = rng.below(3);
            parts.push(self.fact(Lang::En, p, attr, phrasing));
            parts.push(self.fact(Lang::Zh, p, attr, phrasing));
        }
        parts.join("\n")
    }
}
