#!/usr/bin/env python3
"""Writes the small JSONL data of the lm-eval agreement tasks (deterministic)."""
import json
import random

r = random.Random(7)
names = ["Ada", "Bo", "Cy", "Di", "Ed", "Fay", "Gus", "Hal"]
cities = ["Amber Hollow", "Red Mill", "Stonebridge", "Lake End"]
colours = ["red", "blue", "green", "gold"]


def write(name, rows):
    with open(f"{name}.jsonl", "w") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


mc = []
for i in range(24):
    n = r.choice(names)
    opts = r.sample(cities, 4)
    mc.append({"question": f"Where does {n} live?", "options": opts, "answer": r.randrange(4)})
write("lm-mc", mc)

wino = []
for i in range(16):
    a, b = r.sample(names, 2)
    wino.append({"sentence": f"{a} gave {b} a {r.choice(colours)} hat because _ was kind.",
                 "option1": a, "option2": b, "answer": r.choice(["1", "2"])})
write("lm-wino", wino)

gen = []
for i in range(12):
    x, y = r.randrange(10), r.randrange(10)
    gen.append({"question": f"{x} plus {y} is", "answer": f"We add them.\n#### {x + y}"})
write("lm-gen", gen)

ll = []
for i in range(12):
    n, c = r.choice(names), r.choice(cities)
    ll.append({"context": f"{n} lives in", "word": c.split()[0]})
write("lm-ll", ll)
