#!/usr/bin/env python3
"""Small hand-written documents in the exact row schemas of the Hugging Face data sets
that the shipped benchmark specs (tasks/) read, so the specs can be checked against
lm-evaluation-harness's own task definitions offline. The text is written for this
purpose (not copied from the benchmarks); it exercises what each task's templates
handle: HellaSwag's [title]/[header] artefacts, double spaces and lower-case ctx_b;
ARC's numeric and lettered labels; MMLU's subjects; TriviaQA's alias lists.

Writes TASK/SPLIT.jsonl beside this file.
"""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def write(task, split, rows):
    os.makedirs(os.path.join(HERE, task), exist_ok=True)
    with open(os.path.join(HERE, task, split + ".jsonl"), "w") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def hellaswag():
    base = [
        ("Baking cookies", "A woman pours flour into a bowl.", "she",
         ["adds sugar and two eggs, then stirs.", "throws the bowl at the wall  and leaves.",
          "[title] Paints the ceiling blue.", "swims across the river."], "0"),
        ("Personal Care and Style", "[header] How to trim a beard [title] Wash your beard first.",
         "make sure",
         ["it is dry before you start. [step] Wet hair looks longer than it is.",
          "the [substeps] scissors are  sharp.", "you sing loudly.", "to buy a boat."], "1"),
        ("Running a marathon", "Several runners line up at the start.", "THE gun fires and",
         ["they sit down.", "everyone starts running down the road.", "a cat appears.",
          "the runners fly away."], "1"),
        ("Washing dishes", "A man fills the sink with warm water.", "he then",
         ["eats the soap.", "puts the plates in and scrubs them with a sponge.",
          "dances on the table.", "[title] Reads a book."], "1"),
        ("Home and Garden", "[header] How to water a plant [title] Check the soil.",
         "if the top inch is dry,",
         ["water the plant slowly until it drains.", "move to another city.",
          "paint the pot [step] red.", "ignore it forever."], "0"),
    ]
    rows = []
    for i, (label, a, b, endings, gold) in enumerate(base):
        rows.append({"ind": i, "activity_label": label, "ctx_a": a, "ctx_b": b,
                     "ctx": a + " " + b, "endings": endings, "source_id": f"sample~{i}",
                     "split": "val", "split_type": "indomain", "label": gold})
    write("hellaswag", "validation", rows[:4])
    write("hellaswag", "train", rows[1:] + rows[:1])


def arc(name):
    rows = [
        {"id": "S-1", "question": "Which of these is a source of light?",
         "choices": {"text": ["the Sun", "a rock", "a shadow", "a spoon"], "label": ["A", "B", "C", "D"]},
         "answerKey": "A"},
        {"id": "S-2", "question": "What do plants need to make food?",
         "choices": {"text": ["sand", "sunlight", "noise"], "label": ["A", "B", "C"]},
         "answerKey": "B"},
        {"id": "S-3", "question": "Water freezes at which temperature in degrees Celsius?",
         "choices": {"text": ["100", "50", "0", "-40"], "label": ["1", "2", "3", "4"]},
         "answerKey": "3"},
        {"id": "S-4", "question": "Which animal lays eggs?",
         "choices": {"text": ["a dog", "a chicken", "a cow", "a horse", "a cat"],
                     "label": ["A", "B", "C", "D", "E"]},
         "answerKey": "B"},
        {"id": "S-5", "question": "What force pulls objects toward Earth?",
         "choices": {"text": ["magnetism", "friction", "gravity", "wind"], "label": ["A", "B", "C", "D"]},
         "answerKey": "C"},
    ]
    write(name, "test", rows[:4])
    write(name, "train", rows[2:] + rows[:2])
    write(name, "validation", rows[4:])


def piqa():
    rows = [
        {"goal": "To keep bread fresh,", "sol1": "store it in a sealed bag.", "sol2": "leave it in the rain.", "label": 0},
        {"goal": "How do you open a jar with a tight lid?", "sol1": "Freeze the jar overnight.",
         "sol2": "Run the lid under hot water, then twist.", "label": 1},
        {"goal": "To cut paper neatly,", "sol1": "use scissors along a ruler line.", "sol2": "tear it with wet hands.", "label": 0},
        {"goal": "How can you cool soup quickly?", "sol1": "Put the pot in a bath of ice water.",
         "sol2": "Cover it with a blanket.", "label": 0},
    ]
    write("piqa", "validation", rows[:3])
    write("piqa", "train", rows[1:])


def winogrande():
    rows = [
        {"sentence": "The trophy did not fit in the suitcase because the _ was too big.",
         "option1": "trophy", "option2": "suitcase", "answer": "1"},
        {"sentence": "Maria lent Anna her umbrella because _ was going out in the rain.",
         "option1": "Maria", "option2": "Anna", "answer": "2"},
        {"sentence": "The cup fell off the shelf, but the _ did not break because it was plastic.",
         "option1": "cup", "option2": "shelf", "answer": "1"},
        {"sentence": "Tom asked Ben for help with the homework since _ was good at math.",
         "option1": "Tom", "option2": "Ben", "answer": "2"},
    ]
    write("winogrande", "validation", rows[:3])
    write("winogrande", "train", rows[1:])


def lambada():
    rows = [{"text": t} for t in [
        "She opened the old box and found a letter from her grandmother. She read the letter twice",
        "The dog waited by the door all afternoon. When the car finally pulled in, he ran to greet his owner",
        "He had practised the song for weeks, so when the lights came up he played the piano",
        "They counted the coins on the table: one, two, three, four, five",
    ]]
    write("lambada_openai", "test", rows)


def mmlu():
    alg = [
        ("Find the order of the element 2 in the group Z_5 under addition.", ["1", "2", "5", "10"], 2),
        ("Which of the following is a field?", ["Z_4", "Z_6", "Z_7", "Z_8"], 2),
        ("How many elements does the symmetric group S_3 have?", ["3", "6", "9", "12"], 1),
        ("The identity element of a group under multiplication of nonzero reals is", ["0", "1", "-1", "2"], 1),
        ("Is every cyclic group abelian?", ["Yes", "No", "Only finite ones", "Only infinite ones"], 0),
        ("What is the characteristic of the ring Z_3?", ["0", "1", "3", "9"], 2),
    ]
    geo = [
        ("Which continent is the largest by area?", ["Africa", "Asia", "Europe", "Oceania"], 1),
        ("The imaginary line at 0 degrees latitude is the", ["Prime Meridian", "Equator", "Tropic of Cancer", "Date Line"], 1),
        ("Which river flows through Cairo?", ["Amazon", "Danube", "Nile", "Volga"], 2),
        ("A map that shows elevation with lines is called", ["a political map", "a topographic map", "a road map", "a climate map"], 1),
        ("Which of these is a landlocked country?", ["Chile", "Japan", "Mongolia", "Portugal"], 2),
        ("The Sahara is an example of a", ["tundra", "rainforest", "desert", "wetland"], 2),
    ]

    def rows(items, subject):
        return [{"question": q, "subject": subject, "choices": c, "answer": a} for q, c, a in items]

    a, g = rows(alg, "abstract_algebra"), rows(geo, "high_school_geography")
    write("mmlu", "dev", a[:3] + g[:3])
    write("mmlu", "test", a[3:] + g[3:])
    for subject, r in (("abstract_algebra", a), ("high_school_geography", g)):
        write("mmlu/" + subject, "dev", r[:3])
        write("mmlu/" + subject, "test", r[3:])


def triviaqa():
    def row(i, q, value, aliases):
        return {"question": q, "question_id": f"s_{i}", "question_source": "sample",
                "entity_pages": {"doc_source": [], "filename": [], "title": [], "wiki_context": []},
                "search_results": {"description": [], "filename": [], "rank": [], "search_context": [],
                                   "title": [], "url": []},
                "answer": {"aliases": aliases, "normalized_aliases": [a.lower() for a in aliases],
                           "matched_wiki_entity_name": "", "normalized_matched_wiki_entity_name": "",
                           "normalized_value": value.lower(), "type": "WikipediaEntity", "value": value}}
    rows = [
        row(1, "Which planet is known as the Red Planet", "Mars", ["Mars", "Planet Mars", "The Red Planet"]),
        row(2, "What is the capital city of Australia", "Canberra", ["Canberra", "Canberra, ACT"]),
        row(3, "How many sides does a hexagon have", "Six", ["Six", "6"]),
        row(4, "Which metal has the chemical symbol Fe", "Iron", ["Iron", "Fe", "Iron (metal)"]),
    ]
    write("triviaqa", "validation", rows[:3])
    write("triviaqa", "train", rows[1:])


if __name__ == "__main__":
    hellaswag()
    arc("arc_easy")
    arc("arc_challenge")
    piqa()
    winogrande()
    lambada()
    mmlu()
    triviaqa()
