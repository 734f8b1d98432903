#!/usr/bin/env python3
"""Writes the data of the lm-eval YAML agreement tasks (deterministic): JSON lines,
a CSV file and a JSON array, as a user's local copies of a data set would be."""
import csv
import json
import os
import random

r = random.Random(11)
names = ["Ada", "Bo", "Cy", "Di", "Ed", "Fay", "Gus", "Hal"]
cities = ["Amber Hollow", "Red Mill", "Stonebridge", "Lake End"]
os.makedirs("data", exist_ok=True)

with open("data/where_a.jsonl", "w") as f:
    for _ in range(14):
        n = r.choice(names)
        f.write(json.dumps({"question": f"Where does {n} live?", "options": r.sample(cities, 4),
                            "answer": r.randrange(4)}) + "\n")

with open("data/where_b.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["question", "opt0", "opt1", "opt2", "answer"])
    for _ in range(10):
        n = r.choice(names)
        w.writerow([f"Where does {n} live?", *r.sample(cities, 3), r.randrange(3)])

sums = []
for _ in range(12):
    x, y = r.randrange(10), r.randrange(10)
    sums.append({"question": f"{x} plus {y} is", "answer": f"We add them.\n#### {x + y}"})
with open("data/sums.json", "w") as f:
    json.dump(sums, f, indent=1)

with open("data/stories.jsonl", "w") as f:
    for k in range(8):
        said = []
        for _ in range(1 + 3 * k):
            said.append(f"{r.choice(names)} lives in {r.choice(cities)}.")
        f.write(json.dumps({"text": " ".join(said) + ("\n\nThe end." if k % 3 == 0 else "")}) + "\n")

# A user's own text file (`emergent eval --text data/story.txt`) and the same text as
# one JSON document, for lm-eval's rolling task `story_text`.
lines = []
for _ in range(40):
    lines.append(f"{r.choice(names)} went to {r.choice(cities)}, and {r.choice(names)} stayed home.")
story = "\n".join(lines) + "\n"
with open("data/story.txt", "w") as f:
    f.write(story)
with open("data/story.jsonl", "w") as f:
    f.write(json.dumps({"text": story}) + "\n")
