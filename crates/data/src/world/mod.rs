//! The built-in corpus: a small generated world of people, towns, jobs and numbers,
//! deterministic from a seed and described in two languages with different scripts
//! (English, and a language written in Chinese characters), as the paper's corpus was
//! English and Chinese. The pre-training text and the evaluation tasks come from the
//! same world; task items are held out of the corpus (see `docs/builtin-study.md`).
//!
//! How often the corpus mentions a person, a job or a code word follows a Zipf law, so
//! that items are learned one after another as training goes on, not all at once.

mod corpus;
mod tasks;

use crate::lexicon::{Lang, ANIMALS, COLOURS, JOBS, ONSETS, VOWELS};
use emergent_rng::Rng;

pub use corpus::{default_shares, genre_mix, Genre, GENRES};
pub use tasks::{TaskItem, WorldTask, TASK_NAMES};

/// A name: its syllables, spelled in either script.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Name(Vec<(usize, usize)>);

impl Name {
    fn random(rng: &mut Rng, syllables: usize) -> Name {
        Name(
            (0..syllables)
                .map(|_| (rng.below(ONSETS.len()), rng.below(VOWELS.len())))
                .collect(),
        )
    }

    /// As a common word: lower case in English (the Chinese spelling has no case).
    pub fn render_word(&self, lang: Lang) -> String {
        match lang {
            Lang::En => self.render(lang).to_lowercase(),
            Lang::Zh => self.render(lang),
        }
    }

    pub fn render(&self, lang: Lang) -> String {
        match lang {
            Lang::En => {
                let s: String = self
                    .0
                    .iter()
                    .map(|&(o, v)| format!("{}{}", ONSETS[o], VOWELS[v]))
                    .collect();
                let mut c = s.chars();
                c.next()
                    .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                    .unwrap_or_default()
            }
            Lang::Zh => self
                .0
                .iter()
                .map(|&(o, v)| crate::lexicon::syllable_char(o, v))
                .collect(),
        }
    }
}

/// What the corpus says about a person: one of four attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attribute {
    Town,
    Job,
    Colour,
    Animal,
}

impl Attribute {
    pub const ALL: [Attribute; 4] = [
        Attribute::Town,
        Attribute::Job,
        Attribute::Colour,
        Attribute::Animal,
    ];
}

/// One person of the world.
#[derive(Debug, Clone)]
pub struct Person {
    pub name: Name,
    pub female: bool,
    pub town: usize,
    pub job: usize,
    pub colour: usize,
    pub animal: usize,
}

impl Person {
    pub fn value(&self, attr: Attribute) -> usize {
        match attr {
            Attribute::Town => self.town,
            Attribute::Job => self.job,
            Attribute::Colour => self.colour,
            Attribute::Animal => self.animal,
        }
    }
}

/// `k` draws whose keys differ, drawing again on a repeat.
fn distinct_draws<T, K: PartialEq>(
    k: usize,
    mut draw: impl FnMut() -> T,
    key: impl Fn(&T) -> K,
) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(k);
    while out.len() < k {
        let d = draw();
        if out.iter().all(|o| key(o) != key(&d)) {
            out.push(d);
        }
    }
    out
}

/// Draws ranks 0..n with probability ∝ 1/(rank+1)^exponent.
#[derive(Debug, Clone)]
pub struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    pub fn new(n: usize, exponent: f64) -> Zipf {
        let mut total = 0.0;
        let mut cdf: Vec<f64> = (1..=n.max(1))
            .map(|r| {
                total += (r as f64).powf(-exponent);
                total
            })
            .collect();
        cdf.iter_mut().for_each(|c| *c /= total);
        Zipf { cdf }
    }

    pub fn sample(&self, rng: &mut Rng) -> usize {
        let u = rng.uniform();
        self.cdf
            .partition_point(|&c| c <= u)
            .min(self.cdf.len() - 1)
    }

    /// The probability of `rank`.
    pub fn p(&self, rank: usize) -> f64 {
        self.cdf[rank] - rank.checked_sub(1).map_or(0.0, |r| self.cdf[r])
    }
}

/// The built-in world's revision: part of the key of a built-in corpus, so that a study
/// resumed by a build whose world writes other documents prepares its corpus anew
/// instead of training on the old one. Raised whenever the documents change
/// (`tests::the_world_writes_what_its_revision_says` holds a digest of them).
pub const WORLD_REVISION: u32 = 2;

/// The Zipf exponent of how often people, jobs and code words are mentioned.
pub const ZIPF_EXPONENT: f64 = 1.0;

/// Code words the binding documents draw from: many, so that a value cannot be guessed
/// from the weights and has to be copied from the document.
pub const CODE_WORDS: usize = 400;

#[derive(Debug, Clone)]
pub struct World {
    pub seed: u64,
    pub towns: Vec<Name>,
    pub people: Vec<Person>,
    /// Invented words bound to names in the binding documents.
    pub code_words: Vec<Name>,
    people_freq: Zipf,
    job_freq: Zipf,
    word_freq: Zipf,
}

/// A well-mixed hash (SplitMix64's finaliser) for deterministic held-out splits.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// (person, attribute) pairs whose question is asked only by the tasks: the corpus
/// states the fact, but never in question-and-answer or exam form. Half of them, so
/// that 200 people give 400 closed-book questions per language.
pub fn is_held_out_fact(person: usize, attr: Attribute) -> bool {
    mix(person as u64 * 4 + attr as u64).is_multiple_of(2)
}

/// Lettered exam items (a topic and the options in their order) that only the tasks
/// pose: the corpus asks the same things in exam form, never with these options.
pub fn is_held_out_exam(topic: u64, options: &[usize]) -> bool {
    let start = mix(0xe8a0_0000 ^ topic);
    let h = options.iter().fold(start, |h, &o| mix(h ^ o as u64));
    h.is_multiple_of(4)
}

/// Arithmetic problems (start, more, given away) that only the tasks pose.
pub fn is_held_out_problem(a: u32, b: u32, c: u32) -> bool {
    mix(0x5eed_0000 + (a as u64) * 400 + (b as u64) * 20 + c as u64).is_multiple_of(4)
}

/// Towns a world has at least: a reading passage names three and its question offers
/// three more that it does not.
pub const MIN_TOWNS: usize = 8;

impl World {
    pub fn new(seed: u64, n_people: usize, n_towns: usize) -> World {
        let mut rng = Rng::derive(seed, 0x3011d);
        let mut taken = std::collections::HashSet::new();
        let mut unique = |rng: &mut Rng, n: usize, syllables: usize| {
            let mut out = Vec::with_capacity(n);
            while out.len() < n {
                let name = Name::random(rng, syllables);
                if taken.insert(name.clone()) {
                    out.push(name);
                }
            }
            out
        };
        let towns = unique(&mut rng, n_towns.max(MIN_TOWNS), 3);
        let names = unique(&mut rng, n_people.max(4), 2);
        let code_words = unique(&mut rng, CODE_WORDS, 2);
        let people = names
            .into_iter()
            .map(|name| Person {
                name,
                female: rng.below(2) == 1,
                town: rng.below(towns.len()),
                job: rng.below(JOBS.len()),
                colour: rng.below(COLOURS.len()),
                animal: rng.below(ANIMALS.len()),
            })
            .collect::<Vec<Person>>();
        World {
            seed,
            towns,
            people_freq: Zipf::new(people.len(), ZIPF_EXPONENT),
            people,
            job_freq: Zipf::new(JOBS.len(), ZIPF_EXPONENT),
            word_freq: Zipf::new(code_words.len(), ZIPF_EXPONENT),
            code_words,
        }
    }

    /// A person, by how often the corpus mentions them.
    pub fn frequent_person(&self, rng: &mut Rng) -> usize {
        self.people_freq.sample(rng)
    }

    /// A job, by how often the corpus mentions it.
    pub fn frequent_job(&self, rng: &mut Rng) -> usize {
        self.job_freq.sample(rng)
    }

    /// `k` distinct code words, by frequency.
    pub fn code_word_draw(&self, rng: &mut Rng, k: usize) -> Vec<usize> {
        distinct_draws(k, || self.word_freq.sample(rng), |&w| w)
    }

    /// How many values an attribute can take.
    pub fn domain(&self, attr: Attribute) -> usize {
        match attr {
            Attribute::Town => self.towns.len(),
            Attribute::Job => JOBS.len(),
            Attribute::Colour => COLOURS.len(),
            Attribute::Animal => ANIMALS.len(),
        }
    }

    /// A value of an attribute as a word of `lang`.
    pub fn word(&self, lang: Lang, attr: Attribute, value: usize) -> String {
        match attr {
            Attribute::Town => self.towns[value].render(lang),
            Attribute::Job => lang.pick(&JOBS[value].name).into(),
            Attribute::Colour => lang.pick(&COLOURS[value]).into(),
            Attribute::Animal => lang.pick(&ANIMALS[value].0).into(),
        }
    }

    /// The question asking for a person's attribute, without "Question:".
    pub fn question(&self, lang: Lang, person: &Person, attr: Attribute) -> String {
        let n = person.name.render(lang);
        match (lang, attr) {
            (Lang::En, Attribute::Town) => format!("Where does {n} live?"),
            (Lang::En, Attribute::Job) => format!("What is {n}'s job?"),
            (Lang::En, Attribute::Colour) => format!("What is {n}'s favourite colour?"),
            (Lang::En, Attribute::Animal) => format!("What animal does {n} keep?"),
            (Lang::Zh, Attribute::Town) => format!("{n}住在哪里？"),
            (Lang::Zh, Attribute::Job) => format!("{n}的职业是什么？"),
            (Lang::Zh, Attribute::Colour) => format!("{n}最喜欢什么颜色？"),
            (Lang::Zh, Attribute::Animal) => format!("{n}养了什么动物？"),
        }
    }

    /// A statement of a person's attribute in one of three phrasings.
    pub fn fact(&self, lang: Lang, person: &Person, attr: Attribute, phrasing: usize) -> String {
        let n = person.name.render(lang);
        let v = self.word(lang, attr, person.value(attr));
        let pron = lang.pronoun(person.female);
        let measure = ANIMALS[person.animal].1;
        match (lang, attr, phrasing % 3) {
            (Lang::En, Attribute::Town, 0) => format!("{n} lives in {v}."),
            (Lang::En, Attribute::Town, 1) => format!("{n} has a house in {v}."),
            (Lang::En, Attribute::Town, _) => format!("In {v} lives {n}."),
            (Lang::En, Attribute::Job, 0) => format!("{n} is a {v}."),
            (Lang::En, Attribute::Job, 1) => format!("{n} works as a {v}."),
            (Lang::En, Attribute::Job, _) => format!("{n} earns a living as a {v}."),
            (Lang::En, Attribute::Colour, 0) => format!("The favourite colour of {n} is {v}."),
            (Lang::En, Attribute::Colour, 1) => format!("{n} likes the colour {v} best."),
            (Lang::En, Attribute::Colour, _) => format!("{n} loves everything {v}."),
            (Lang::En, Attribute::Animal, 0) => format!("{n} keeps {}.", a_or_an(&v)),
            (Lang::En, Attribute::Animal, 1) => format!("{n} has a pet {v}."),
            (Lang::En, Attribute::Animal, _) => format!("At home {n} looks after {pron} {v}."),
            (Lang::Zh, Attribute::Town, 0) => format!("{n}住在{v}。"),
            (Lang::Zh, Attribute::Town, 1) => format!("{n}的家在{v}。"),
            (Lang::Zh, Attribute::Town, _) => format!("{v}住着{n}。"),
            (Lang::Zh, Attribute::Job, 0) => format!("{n}是一名{v}。"),
            (Lang::Zh, Attribute::Job, 1) => format!("{n}的工作是{v}。"),
            (Lang::Zh, Attribute::Job, _) => format!("{n}以当{v}为生。"),
            (Lang::Zh, Attribute::Colour, 0) => format!("{n}最喜欢的颜色是{v}。"),
            (Lang::Zh, Attribute::Colour, 1) => format!("{n}最爱{v}。"),
            (Lang::Zh, Attribute::Colour, _) => format!("{n}喜欢一切{v}的东西。"),
            (Lang::Zh, Attribute::Animal, 0) => format!("{n}养了一{measure}{v}。"),
            (Lang::Zh, Attribute::Animal, 1) => format!("{n}有一{measure}宠物{v}。"),
            (Lang::Zh, Attribute::Animal, _) => format!("{n}在家里照顾一{measure}{v}。"),
        }
    }

    /// An exam question on `topic` as (question, four option words, the right one's
    /// index), its option set and order held out of the corpus or not.
    pub fn exam_question(
        &self,
        rng: &mut Rng,
        lang: Lang,
        topic: ExamTopic,
        held_out: bool,
    ) -> (String, Vec<String>, usize) {
        let (domain, right) = match topic {
            ExamTopic::Person(i, attr) => (self.domain(attr), self.people[i].value(attr)),
            ExamTopic::JobActivity(j) | ExamTopic::ActivityJob(j) => (JOBS.len(), j),
        };
        let options = loop {
            let mut options = vec![right];
            while options.len() < 4 {
                let v = rng.below(domain);
                if !options.contains(&v) {
                    options.push(v);
                }
            }
            rng.shuffle(&mut options);
            if is_held_out_exam(topic.key(), &options) == held_out {
                break options;
            }
        };
        let gold = options.iter().position(|&v| v == right).unwrap_or(0);
        let (question, words) = match topic {
            ExamTopic::Person(i, attr) => (
                self.question(lang, &self.people[i], attr),
                options.iter().map(|&v| self.word(lang, attr, v)).collect(),
            ),
            ExamTopic::JobActivity(j) => {
                let job = lang.pick(&JOBS[j].name);
                let q = match lang {
                    Lang::En => format!("What does {} do?", a_or_an(job)),
                    Lang::Zh => format!("{job}是做什么的？"),
                };
                (
                    q,
                    options
                        .iter()
                        .map(|&v| lang.pick(&JOBS[v].activity).to_string())
                        .collect(),
                )
            }
            ExamTopic::ActivityJob(j) => {
                let act = lang.pick(&JOBS[j].activity);
                let q = match lang {
                    Lang::En => format!("Who {act}?"),
                    Lang::Zh => format!("谁的工作是{act}？"),
                };
                (
                    q,
                    options
                        .iter()
                        .map(|&v| lang.pick(&JOBS[v].name).to_string())
                        .collect(),
                )
            }
        };
        (question, words, gold)
    }
}

/// What a lettered exam question asks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ExamTopic {
    /// A person's attribute (a fact that has to be memorised).
    Person(usize, Attribute),
    /// What a job does, or which job does an activity: the world's common knowledge.
    JobActivity(usize),
    ActivityJob(usize),
}

impl ExamTopic {
    /// A number that tells topics apart, for [`is_held_out_exam`].
    fn key(self) -> u64 {
        match self {
            ExamTopic::Person(i, attr) => i as u64 * 4 + attr as u64,
            ExamTopic::JobActivity(j) => 1 << 40 | j as u64,
            ExamTopic::ActivityJob(j) => 2 << 40 | j as u64,
        }
    }

    /// A common-knowledge topic on job `j`, either way round.
    pub fn common(rng: &mut Rng, j: usize) -> ExamTopic {
        if rng.below(2) == 0 {
            ExamTopic::JobActivity(j)
        } else {
            ExamTopic::ActivityJob(j)
        }
    }
}

/// "Question: …\nAnswer:" or "问题：…\n答案：".
pub fn qa_prompt(lang: Lang, question: &str) -> String {
    match lang {
        Lang::En => format!("Question: {question}\nAnswer:"),
        Lang::Zh => format!("问题：{question}\n答案："),
    }
}

/// A lettered exam question: the question, its options as A–D, then "Answer:".
pub fn exam_prompt(lang: Lang, question: &str, options: &[String]) -> String {
    let mut s = match lang {
        Lang::En => format!("Question: {question}\n"),
        Lang::Zh => format!("问题：{question}\n"),
    };
    for (letter, o) in LETTERS.iter().zip(options) {
        s.push_str(&format!("{letter}. {o}\n"));
    }
    s.push_str(match lang {
        Lang::En => "Answer:",
        Lang::Zh => "答案：",
    });
    s
}

/// "a owl" → "an owl".
pub fn a_or_an(word: &str) -> String {
    match word.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => format!("an {word}"),
        _ => format!("a {word}"),
    }
}

pub const LETTERS: [&str; 4] = ["A", "B", "C", "D"];

#[cfg(test)]
mod tests;
