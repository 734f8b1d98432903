//! The built-in corpus: a small generated world of people, places and numbers,
//! deterministic from a seed. The pre-training text and the evaluation tasks come
//! from the same world, as the paper's corpus and benchmarks share one language.
//!
//! Facts are stated in the corpus in several phrasings; tasks ask about them in a
//! phrasing the corpus never uses, and arithmetic items held out for tasks never
//! appear in the corpus.

use emergent_engine::Rng;

const JOBS: &[&str] = &[
    "baker", "farmer", "painter", "doctor", "teacher", "sailor", "miner", "weaver", "singer",
    "guard",
];
const COLOURS: &[&str] = &[
    "red", "blue", "green", "yellow", "white", "black", "orange", "purple",
];
const ANIMALS: &[&str] = &["cat", "dog", "horse", "goat", "owl", "fox", "crow", "bear"];
const ONSETS: &[&str] = &[
    "b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "st", "tr", "kl",
];
const VOWELS: &[&str] = &["a", "e", "i", "o", "u", "ai", "ea", "ou"];

/// One person of the world and what the corpus says about them.
#[derive(Debug, Clone)]
pub struct Person {
    pub name: String,
    pub city: usize,
    pub job: usize,
    pub colour: usize,
    pub animal: usize,
}

#[derive(Debug, Clone)]
pub struct World {
    pub seed: u64,
    pub cities: Vec<String>,
    pub people: Vec<Person>,
}

/// A multiple-choice item: a prompt, its choices and the index of the right one.
#[derive(Debug, Clone, PartialEq)]
pub struct ChoiceItem {
    pub prompt: String,
    pub choices: Vec<String>,
    pub gold: usize,
}

/// A generation item: a prompt and the reference answer.
#[derive(Debug, Clone, PartialEq)]
pub struct AnswerItem {
    pub prompt: String,
    pub answer: String,
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

fn word(rng: &mut Rng, syllables: usize) -> String {
    let mut w = String::new();
    for _ in 0..syllables {
        w.push_str(ONSETS[rng.below(ONSETS.len())]);
        w.push_str(VOWELS[rng.below(VOWELS.len())]);
    }
    capitalised(&w)
}

fn unique_words(
    rng: &mut Rng,
    n: usize,
    syllables: usize,
    taken: &mut std::collections::HashSet<String>,
) -> Vec<String> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let w = word(rng, syllables);
        if taken.insert(w.clone()) {
            out.push(w);
        }
    }
    out
}

/// Arithmetic pairs reserved for evaluation: never stated in the corpus.
pub fn is_held_out(a: u32, b: u32) -> bool {
    (a * 53 + b * 17).is_multiple_of(5)
}

impl World {
    pub fn new(seed: u64, n_people: usize, n_cities: usize) -> World {
        let mut rng = Rng::derive(seed, 0x3011d);
        let mut taken = std::collections::HashSet::new();
        let cities = unique_words(&mut rng, n_cities.max(4), 3, &mut taken);
        let names = unique_words(&mut rng, n_people.max(4), 2, &mut taken);
        let people = names
            .into_iter()
            .map(|name| Person {
                name,
                city: rng.below(cities.len()),
                job: rng.below(JOBS.len()),
                colour: rng.below(COLOURS.len()),
                animal: rng.below(ANIMALS.len()),
            })
            .collect();
        World {
            seed,
            cities,
            people,
        }
    }

    fn fact(&self, rng: &mut Rng, p: &Person) -> String {
        let city = &self.cities[p.city];
        match rng.below(6) {
            0 => format!("{} lives in {}.", p.name, city),
            1 => format!("{} is a {} from {}.", p.name, JOBS[p.job], city),
            2 => format!(
                "The favourite colour of {} is {}.",
                p.name, COLOURS[p.colour]
            ),
            3 => format!(
                "{} keeps a {} at home in {}.",
                p.name, ANIMALS[p.animal], city
            ),
            4 => format!(
                "In {} there lives a {} called {}.",
                city, JOBS[p.job], p.name
            ),
            _ => format!(
                "{} works as a {} and likes the colour {}.",
                p.name, JOBS[p.job], COLOURS[p.colour]
            ),
        }
    }

    fn arithmetic(&self, rng: &mut Rng) -> String {
        let (a, b) = loop {
            let (a, b) = (rng.below(50) as u32, rng.below(50) as u32);
            if !is_held_out(a, b) {
                break (a, b);
            }
        };
        match rng.below(3) {
            0 => format!("{a} plus {b} is {}.", a + b),
            1 => format!(
                "If you have {a} apples and get {b} more, you have {} apples.",
                a + b
            ),
            _ => format!("Adding {b} to {a} gives {}.", a + b),
        }
    }

    fn narrative(&self, rng: &mut Rng) -> String {
        let p = rng.choose(&self.people);
        let q = rng.choose(&self.people);
        let there = &self.cities[rng.below(self.cities.len())];
        format!(
            "One morning {} walked from {} to {}. On the way {} met {}, the {}, and they talked about {}s until evening.",
            p.name,
            self.cities[p.city],
            there,
            p.name,
            q.name,
            JOBS[q.job],
            ANIMALS[p.animal]
        )
    }

    /// `n` documents of a few sentences each, mixing facts, arithmetic and stories.
    pub fn documents(&self, n: usize, seed: u64) -> Vec<String> {
        let mut rng = Rng::derive(seed ^ self.seed, 0xd0c5);
        (0..n)
            .map(|_| {
                let sentences = 3 + rng.below(5);
                let mut doc = Vec::with_capacity(sentences);
                for _ in 0..sentences {
                    doc.push(match rng.below(10) {
                        0..=4 => {
                            let p = rng.choose(&self.people).clone();
                            self.fact(&mut rng, &p)
                        }
                        5..=7 => self.arithmetic(&mut rng),
                        _ => self.narrative(&mut rng),
                    });
                }
                doc.join(" ")
            })
            .collect()
    }

    /// "Where does X live?" with four city choices.
    pub fn city_questions(&self, n: usize, seed: u64) -> Vec<ChoiceItem> {
        let mut rng = Rng::derive(seed ^ self.seed, 0xc17e);
        (0..n)
            .map(|i| {
                let p = &self.people[i % self.people.len()];
                let mut choices = vec![p.city];
                while choices.len() < 4 {
                    let c = rng.below(self.cities.len());
                    if !choices.contains(&c) {
                        choices.push(c);
                    }
                }
                rng.shuffle(&mut choices);
                ChoiceItem {
                    prompt: format!("Question: In which town does {} live?\nAnswer:", p.name),
                    gold: choices.iter().position(|&c| c == p.city).unwrap(),
                    choices: choices.iter().map(|&c| self.cities[c].clone()).collect(),
                }
            })
            .collect()
    }

    /// "What is a plus b?" over held-out pairs, answered with the number.
    pub fn sum_questions(&self, n: usize, seed: u64) -> Vec<AnswerItem> {
        let mut rng = Rng::derive(seed ^ self.seed, 0x5a3);
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let (a, b) = (rng.below(50) as u32, rng.below(50) as u32);
            if is_held_out(a, b) {
                out.push(AnswerItem {
                    prompt: format!("Question: What is {a} plus {b}?\nAnswer:"),
                    answer: format!("{}", a + b),
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_world_is_deterministic_and_tasks_are_held_out() {
        let w = World::new(3, 40, 8);
        let w2 = World::new(3, 40, 8);
        assert_eq!(w.documents(5, 1), w2.documents(5, 1));
        assert_ne!(w.documents(5, 1), World::new(4, 40, 8).documents(5, 1));
        let corpus = w.documents(500, 1).join("\n");
        for item in w.sum_questions(50, 2) {
            let q = item
                .prompt
                .replace("Question: What is ", "")
                .replace("?\nAnswer:", "");
            assert!(
                !corpus.contains(&format!("{q} is ")),
                "held-out pair {q} leaked"
            );
        }
        for item in w.city_questions(20, 2) {
            assert!(!corpus.contains(&item.prompt));
            assert_eq!(item.choices.len(), 4);
            assert!(item.gold < 4);
        }
    }
}
