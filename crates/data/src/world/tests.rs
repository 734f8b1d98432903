use super::*;

#[test]
fn the_world_is_deterministic_and_bilingual() {
    let w = World::new(3, 40, 8);
    assert_eq!(w.documents(20, 1), World::new(3, 40, 8).documents(20, 1));
    assert_ne!(w.documents(20, 1), World::new(4, 40, 8).documents(20, 1));
    let docs = w.documents(400, 1);
    let zh = docs.iter().filter(|d| d.contains('。')).count();
    let en = docs
        .iter()
        .filter(|d| d.contains(". ") || d.ends_with('.'))
        .count();
    assert!(zh > 100 && en > 100, "{zh} Chinese, {en} English documents");
    let p = &w.people[0];
    assert_eq!(p.name.render(Lang::Zh).chars().count(), 2);
    assert!(p
        .name
        .render(Lang::En)
        .chars()
        .next()
        .unwrap()
        .is_uppercase());
}

#[test]
fn task_items_are_held_out_of_the_corpus() {
    let w = World::new(5, 120, 8);
    let corpus = w.documents(6000, 1).join("\n");
    for name in TASK_NAMES {
        let task = w.task(name, 60, 9).unwrap();
        assert!(!task.items.is_empty(), "{name}");
        for item in &task.items {
            match item {
                TaskItem::Choice {
                    prompt,
                    choices,
                    gold,
                } => {
                    assert!(*gold < choices.len(), "{name}");
                    assert!(!corpus.contains(prompt.as_str()), "{name}: {prompt}");
                }
                TaskItem::Contexts { contexts, gold, .. } => {
                    assert!(*gold < contexts.len());
                    assert!(!corpus.contains(contexts[*gold].as_str()), "{name}");
                }
                TaskItem::Answer { prompt, .. } => {
                    assert!(!corpus.contains(prompt.as_str()), "{name}: {prompt}")
                }
            }
        }
    }
    // Questions on held-out facts: never asked, though the facts are stated.
    for lang in Lang::BOTH {
        for (i, p) in w.people.iter().enumerate() {
            for attr in Attribute::ALL {
                let q = qa_prompt(lang, &w.question(lang, p, attr));
                if is_held_out_fact(i, attr) {
                    assert!(!corpus.contains(&q), "{q}");
                }
            }
        }
    }
}

#[test]
fn math_answers_follow_from_the_question() {
    let w = World::new(1, 40, 8);
    let task = w.task("math-en", 30, 2).unwrap();
    for item in task.items.iter().chain(&task.fewshot) {
        let TaskItem::Answer { prompt, answer } = item else {
            panic!("generation task")
        };
        let nums: Vec<u32> = prompt
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|s| s.parse().ok())
            .collect();
        let result: u32 = answer.rsplit("#### ").next().unwrap().parse().unwrap();
        assert_eq!(result, nums[0] + nums[1] - nums[2], "{prompt} {answer}");
    }
    assert!(w.task("math-fr", 3, 1).is_err());
    assert!(w.task("nothing", 3, 1).is_err());
}

#[test]
fn reading_offers_one_value_from_the_passage_and_three_from_outside_it() {
    let w = World::new(2, 40, 16);
    for lang in Lang::BOTH {
        let task = w.task(&format!("reading-{}", lang.code()), 50, 4).unwrap();
        for item in &task.items {
            let (prompt, choices, gold) = choice(item);
            let passage = prompt.split('\n').next().unwrap();
            for (i, c) in choices.iter().enumerate() {
                assert_eq!(mentions(passage, c), i == *gold, "{passage} / {c}");
            }
        }
    }
}

fn choice(item: &TaskItem) -> (&String, &Vec<String>, &usize) {
    match item {
        TaskItem::Choice {
            prompt,
            choices,
            gold,
        } => (prompt, choices, gold),
        _ => panic!("multiple choice"),
    }
}

/// Whether `passage` names `word` itself, not just a longer word containing it
/// (Chinese 猫 "cat" is inside 猫头鹰 "owl").
fn mentions(passage: &str, word: &str) -> bool {
    use crate::lexicon::{ANIMALS, COLOURS, JOBS};
    let words = JOBS
        .iter()
        .map(|j| j.name)
        .chain(COLOURS.iter().copied())
        .chain(ANIMALS.iter().map(|a| a.0))
        .flat_map(|(en, zh)| [en, zh]);
    let mut rest = passage.to_string();
    for longer in words.filter(|w| w.len() > word.len() && w.contains(word)) {
        rest = rest.replace(longer, "|");
    }
    rest.contains(word)
}

#[test]
fn exam_tests_ask_what_jobs_do_with_option_orders_the_corpus_never_shows() {
    let w = World::new(3, 60, 8);
    let task = w.task("exam-en", 40, 5).unwrap();
    assert_eq!(task.num_fewshot, 3);
    for item in &task.items {
        let (prompt, choices, gold) = choice(item);
        assert_eq!(choices, &["A", "B", "C", "D"]);
        let q = prompt.lines().next().unwrap();
        assert!(
            q.starts_with("Question: What does a") || q.starts_with("Question: Who "),
            "{q}"
        );
        // The right option is the job's activity (or the activity's job).
        let right = prompt.lines().nth(1 + gold).unwrap();
        let job = crate::lexicon::JOBS
            .iter()
            .find(|j| q.contains(&format!(" {} ", j.name.0)) || q.contains(j.activity.0))
            .unwrap();
        assert!(
            right.ends_with(job.activity.0) || right.ends_with(job.name.0),
            "{prompt}"
        );
    }
}

#[test]
fn reading_bind_offers_only_values_from_the_passage() {
    let w = World::new(2, 40, 16);
    for lang in Lang::BOTH {
        let task = w
            .task(&format!("reading-bind-{}", lang.code()), 50, 4)
            .unwrap();
        for item in &task.items {
            let (prompt, choices, _) = choice(item);
            let passage = prompt.split('\n').next().unwrap();
            for c in choices {
                assert!(mentions(passage, c), "{passage} / {c}");
            }
        }
    }
}

#[test]
fn the_exam_asks_the_same_items_lettered_and_as_cloze() {
    let w = World::new(3, 60, 8);
    for lang in Lang::BOTH {
        let lettered = w.task(&format!("exam-{}", lang.code()), 40, 5).unwrap();
        let cloze = w
            .task(&format!("exam-cloze-{}", lang.code()), 40, 5)
            .unwrap();
        assert_eq!(cloze.num_fewshot, lettered.num_fewshot);
        for (l, c) in lettered.items.iter().zip(&cloze.items) {
            let (lp, _, lg) = choice(l);
            let (cp, cc, cg) = choice(c);
            assert_eq!(lg, cg);
            // The same question, and the cloze choices are the lettered options' texts.
            assert_eq!(lp.lines().next(), cp.lines().next());
            for (letter, text) in LETTERS.iter().zip(cc) {
                assert!(
                    lp.contains(&format!("\n{letter}. {text}\n")),
                    "{lp} / {text}"
                );
            }
        }
    }
}

#[test]
fn zipf_frequencies_fall_with_rank() {
    let z = Zipf::new(20, 1.0);
    let total: f64 = (0..20).map(|r| z.p(r)).sum();
    assert!((total - 1.0).abs() < 1e-12);
    assert!((z.p(0) / z.p(9) - 10.0).abs() < 1e-9);
    let mut rng = Rng::new(7);
    let mut counts = [0usize; 20];
    for _ in 0..40_000 {
        counts[z.sample(&mut rng)] += 1;
    }
    let expected = 40_000.0 * z.p(0);
    assert!((counts[0] as f64 - expected).abs() < 4.0 * expected.sqrt());
    assert!(counts[0] > counts[4] && counts[4] > counts[19]);
}

#[test]
fn binding_documents_ask_back_what_they_bound() {
    let w = World::new(4, 40, 8);
    let docs = w
        .documents_with_shares(200, 1, &[("binding", 1.0)])
        .unwrap();
    assert!(docs.iter().all(|(_, g)| *g == "binding"));
    for (d, _) in docs.iter().filter(|(d, _)| d.contains("Answer: ")) {
        for answer in d.lines().filter_map(|l| l.strip_prefix("Answer: ")) {
            assert!(d.contains(&format!(" is {answer}.")), "{d}");
        }
    }
    let err = w
        .documents_with_shares(1, 1, &[("poems", 1.0)])
        .unwrap_err();
    assert!(err.contains("poems") && err.contains("binding"), "{err}");
    assert!(w.documents_with_shares(1, 1, &[("facts", 0.0)]).is_err());
}

#[test]
fn ending_items_complete_the_gold_jobs_activity() {
    for job in JOBS {
        for lang in Lang::BOTH {
            assert!(lang.pick(&job.activity).starts_with(lang.pick(&job.verb)));
        }
    }
    for lang in Lang::BOTH {
        for (prompt, choices, gold) in choice_items("ending", lang, 80) {
            let full = |c: &str| format!("{prompt}{}", c.trim_end_matches(['.', '。']));
            let fits: Vec<_> = choices
                .iter()
                .filter(|c| {
                    JOBS.iter()
                        .any(|j| full(c).ends_with(lang.pick(&j.activity)))
                })
                .collect();
            assert_eq!(fits, [&choices[gold]], "{prompt} {choices:?}");
        }
    }
}

#[test]
fn commonsense_asks_the_job_documents_first_phrasing_in_both_languages() {
    for lang in Lang::BOTH {
        for (prompt, choices, gold) in choice_items("commonsense", lang, 50) {
            let job = JOBS
                .iter()
                .find(|j| match lang {
                    Lang::En => prompt.ends_with(&format!(" is a {} and", j.name.0)),
                    Lang::Zh => prompt.ends_with(&format!("是{}，每天都", j.name.1)),
                })
                .unwrap_or_else(|| panic!("{prompt}"));
            let want = match lang {
                Lang::En => format!(" {} every day.", job.activity.0),
                Lang::Zh => format!("{}。", job.activity.1),
            };
            assert_eq!(choices[gold], want, "{prompt}");
            assert_eq!(choices.len(), 4);
        }
    }
}

/// The items of the built-in task `KIND-LANG`, from one small world.
fn task_items(kind: &str, lang: Lang, n: usize) -> Vec<TaskItem> {
    let w = World::new(2, 40, 8);
    w.task(&format!("{kind}-{}", lang.code()), n, 3)
        .unwrap()
        .items
}

/// The items of a multiple-choice built-in task `KIND-LANG`: prompt, choices, gold.
fn choice_items(kind: &str, lang: Lang, n: usize) -> Vec<(String, Vec<String>, usize)> {
    task_items(kind, lang, n)
        .into_iter()
        .map(|item| {
            let (prompt, choices, gold) = choice(&item);
            (prompt.clone(), choices.clone(), *gold)
        })
        .collect()
}

#[test]
fn no_activity_echoes_its_job_in_either_language() {
    for job in crate::lexicon::JOBS {
        let (name, act) = (job.name.0, job.activity.0);
        assert!(
            act.split(' ').all(|w| w.get(..3) != name.get(..3)),
            "{name}: {act}"
        );
        assert!(
            !job.name.1.chars().any(|c| job.activity.1.contains(c)),
            "{}: {}",
            job.name.1,
            job.activity.1
        );
    }
}

#[test]
fn commonsense_partial_scores_the_same_items_the_other_way_round() {
    for lang in Lang::BOTH {
        let cloze = choice_items("commonsense", lang, 40);
        let partial = task_items("commonsense-partial", lang, 40);
        for ((prompt, choices, gold), p) in cloze.iter().zip(&partial) {
            let TaskItem::Contexts {
                contexts,
                continuation,
                gold: g,
            } = p
            else {
                panic!("partial scoring gives contexts")
            };
            // The same stranger, jobs, order and answer: the right context and the
            // continuation are the cloze prompt and its right choice.
            assert_eq!((&contexts[*g], continuation), (prompt, &choices[*gold]));
            assert_eq!(g, gold);
            // Each context names the job whose activity stands at its place in the cloze.
            for (ctx, choice) in contexts.iter().zip(choices) {
                let job = JOBS
                    .iter()
                    .find(|j| choice.contains(lang.pick(&j.activity)))
                    .unwrap();
                assert!(ctx.contains(lang.pick(&job.name)), "{ctx} / {choice}");
            }
        }
    }
}

#[test]
fn the_world_writes_what_its_revision_says() {
    // A change to the documents must raise WORLD_REVISION (then update this digest):
    // a corpus cached under the old key would otherwise train studies of the new world.
    let w = World::new(7, 60, 8);
    let docs = w.documents_with_shares(400, 3, &default_shares()).unwrap();
    let digest = emergent_files::hash_of(&docs);
    assert_eq!(
        (WORLD_REVISION, digest.as_str()),
        (2, "6a300acc089c"),
        "the built-in world's documents changed"
    );
}
