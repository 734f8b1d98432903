#!/usr/bin/env python3
"""HellaSwag-shaped documents for timing (bench/eval_compare.sh): N rows in the
Hugging Face `Rowan/hellaswag` schema, cut from tiny Shakespeare, with HellaSwag's
proportions (a context of two or three sentences, four endings of 15-25 words, one of
them the true continuation). Seeded, so both evaluators time the same documents.

usage: make_hellaswag_like.py SHAKESPEARE.txt OUT_DIR [N]
"""
import json
import os
import random
import re
import sys


def main(src, out, n=100):
    text = open(src, encoding="utf-8").read()
    speeches = []
    for block in text.split("\n\n"):
        lines = block.strip().split("\n")
        if len(lines) < 2 or not lines[0].endswith(":"):
            continue
        words = " ".join(lines[1:]).split()
        if len(words) >= 60:
            speeches.append((lines[0][:-1].title(), words))
    rnd = random.Random(1234)
    rows = []
    for i in range(n):
        speaker, words = rnd.choice(speeches)
        ctx_a = " ".join(words[:30])
        ctx_b = " ".join(words[30:36])
        true = " ".join(words[36:36 + rnd.randint(15, 25)])
        endings = [true]
        while len(endings) < 4:
            _, other = rnd.choice(speeches)
            start = rnd.randint(0, len(other) - 40)
            endings.append(" ".join(other[start:start + rnd.randint(15, 25)]))
        gold = rnd.randrange(4)
        endings[0], endings[gold] = endings[gold], endings[0]
        rows.append({"ind": i, "activity_label": speaker, "ctx_a": ctx_a, "ctx_b": ctx_b,
                     "ctx": ctx_a + " " + ctx_b, "endings": endings, "source_id": f"shakespeare~{i}",
                     "split": "val", "split_type": "indomain", "label": str(gold)})
    os.makedirs(out, exist_ok=True)
    for split in ("validation", "train"):
        with open(os.path.join(out, split + ".jsonl"), "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 100)
