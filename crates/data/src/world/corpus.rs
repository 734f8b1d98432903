//! The pre-training documents: facts about the world's people, questions answered about
//! them, lettered exam questions, what each job does, short passages with questions,
//! who-did-what sentences, worked arithmetic problems, and parallel text in both
//! languages. Each document is in one language (the parallel ones in both).

use super::{
    a_or_an, exam_prompt, is_held_out_fact, is_held_out_problem, qa_prompt, Attribute, Name,
};
use super::{ExamTopic, World, LETTERS};
use crate::lexicon::{Lang, ANIMALS, JOBS, OBJECTS};
use emergent_engine::Rng;

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

/// Three different strangers.
pub(super) fn three_strangers(rng: &mut Rng) -> Vec<(Name, bool)> {
    let mut out: Vec<(Name, bool)> = Vec::with_capacity(3);
    while out.len() < 3 {
        let s = stranger(rng);
        if out.iter().all(|(n, _)| *n != s.0) {
            out.push(s);
        }
    }
    out
}

/// `k` distinct values below `n`.
pub(super) fn distinct(rng: &mut Rng, n: usize, k: usize) -> Vec<usize> {
    let mut out = Vec::with_capacity(k);
    while out.len() < k {
        let v = rng.below(n);
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
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

/// A passage about three strangers who differ in one thing, and the question about one
/// of them: (passage, one question per stranger, the three values, what differs: a bag's
/// colour, the animal brought to the fair, or the town travelled to).
pub(super) fn passage(
    world: &World,
    rng: &mut Rng,
    lang: Lang,
) -> (String, Vec<(String, usize)>, Vec<usize>, Attribute) {
    let attr = [Attribute::Colour, Attribute::Animal, Attribute::Town][rng.below(3)];
    let people = three_strangers(rng);
    let names: Vec<String> = people.iter().map(|(n, _)| n.render(lang)).collect();
    let values = distinct(rng, world.domain(attr), 3);
    let w: Vec<String> = values.iter().map(|&v| world.word(lang, attr, v)).collect();
    let m: Vec<&str> = values
        .iter()
        .map(|&v| ANIMALS[v % ANIMALS.len()].1)
        .collect();
    let (a, b, c) = (&names[0], &names[1], &names[2]);
    let text = match (lang, attr) {
        (Lang::En, Attribute::Colour) => format!(
            "{a} came to the market with a {} bag. {b} came with a {} bag, and {c} carried a {} bag.",
            w[0], w[1], w[2]
        ),
        (Lang::En, Attribute::Animal) => format!(
            "{a} brought {} to the fair. {b} brought {}, and {c} brought {}.",
            a_or_an(&w[0]),
            a_or_an(&w[1]),
            a_or_an(&w[2])
        ),
        (Lang::En, _) => format!(
            "Last week {a} travelled to {}, {b} travelled to {} and {c} travelled to {}.",
            w[0], w[1], w[2]
        ),
        (Lang::Zh, Attribute::Colour) => format!(
            "{a}提着一个{}的包去了市场。{b}提着一个{}的包，{c}提着一个{}的包。",
            w[0], w[1], w[2]
        ),
        (Lang::Zh, Attribute::Animal) => format!(
            "{a}带了一{}{}去集市。{b}带了一{}{}，{c}带了一{}{}。",
            m[0], w[0], m[1], w[1], m[2], w[2]
        ),
        (Lang::Zh, _) => format!(
            "上个星期，{a}去了{}，{b}去了{}，{c}去了{}。",
            w[0], w[1], w[2]
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

/// Two strangers with different jobs, introduced: (intro, names, jobs).
pub(super) fn pair_intro(rng: &mut Rng, lang: Lang) -> (String, [String; 2], [usize; 2]) {
    let people = three_strangers(rng);
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
        let mut rng = Rng::derive(seed ^ self.seed, 0xd0c5);
        (0..n)
            .map(|_| {
                let lang = Lang::BOTH[rng.below(2)];
                // Shares in percent: see docs/builtin-study.md.
                match rng.below(100) {
                    0..=21 => (self.facts_doc(&mut rng, lang), "facts"),
                    22..=29 => (self.qa_doc(&mut rng, lang), "qa"),
                    30..=41 => (self.exam_doc(&mut rng, lang), "exams"),
                    42..=51 => (self.jobs_doc(&mut rng, lang), "jobs"),
                    52..=63 => (self.reading_doc(&mut rng, lang), "reading"),
                    64..=77 => (self.who_doc(&mut rng, lang), "who-did-what"),
                    78..=94 => (self.arithmetic_doc(&mut rng, lang), "arithmetic"),
                    _ => (self.parallel_doc(&mut rng), "parallel"),
                }
            })
            .collect()
    }

    /// Several facts about one to three people.
    fn facts_doc(&self, rng: &mut Rng, lang: Lang) -> String {
        let mut parts = Vec::new();
        for _ in 0..1 + rng.below(3) {
            let p = rng.choose(&self.people);
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
            let i = rng.below(self.people.len());
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
                ExamTopic::common(rng)
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
                let (name, female) = if rng.below(2) == 0 {
                    let p = rng.choose(&self.people);
                    (p.name.clone(), p.female)
                } else {
                    stranger(rng)
                };
                let job = rng.below(JOBS.len());
                job_sentence(lang, &name.render(lang), female, job, rng.below(4))
            })
            .collect();
        join(lang, &parts)
    }

    /// A passage with one or two questions about it, answered.
    fn reading_doc(&self, rng: &mut Rng, lang: Lang) -> String {
        let (text, questions, values, attr) = passage(self, rng, lang);
        let mut out = text;
        let asked = 1 + rng.below(2);
        for k in distinct(rng, 3, asked) {
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
        let p = rng.choose(&self.people);
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
