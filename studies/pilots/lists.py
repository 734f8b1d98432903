#!/usr/bin/env python3
"""Pilot: can a two-layer model learn to copy a value bound to a name from its context?

Writes, into DIR, a text corpus of lists ("List: Za gu, Pou kli, Vu re. Again: Pou kli,
Za gu.") whose second half can only be predicted by finding each name in the first half
and copying the word after it (an induction head's job), a multiple-choice probe asking
for one name's word among the list's four words, and one study per setting. Run each
with `emergent run DIR/STUDY.toml --out OUT`; the probe's accuracy and the loss per
checkpoint are in OUT/report/tables/points.csv. Results: docs/builtin-study.md.

    python3 studies/pilots/lists.py DIR [ITEM_SYLLABLES]
"""
import json
import random
import sys
from pathlib import Path

ONSETS = "b d f g k l m n p r s t v z br st tr kl".split()
VOWELS = "a e i o u ai ea ou".split()


def word(rng, syllables):
    return "".join(rng.choice(ONSETS) + rng.choice(VOWELS) for _ in range(syllables))


def distinct(rng, k, make):
    out = []
    while len(out) < k:
        w = make()
        if w not in out:
            out.append(w)
    return out


def document(rng, syllables, probe=False):
    k = 4 if probe else rng.randint(3, 6)
    names = distinct(rng, k, lambda: word(rng, syllables).capitalize())
    words = distinct(rng, k, lambda: word(rng, syllables))
    text = "List: " + ", ".join(f"{n} {w}" for n, w in zip(names, words)) + ". Again:"
    if probe:
        j = rng.randrange(k)
        return {"prompt": f"{text} {names[j]}", "choices": words, "gold": j}
    asked = rng.sample(range(k), min(k, rng.randint(2, 4)))
    return text + ",".join(f" {names[i]} {words[i]}" for i in asked) + "."


def main():
    out = Path(sys.argv[1]).resolve()
    syllables = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    (out / "lists.txt").write_text("\n\n".join(document(rng, syllables) for _ in range(110000)))
    rng = random.Random(99)
    with open(out / "probe.jsonl", "w") as f:
        for _ in range(300):
            f.write(json.dumps(document(rng, syllables, probe=True)) + "\n")
    (out / "probe.toml").write_text(
        'task = "lists-probe"\noutput_type = "multiple_choice"\ndoc_to_text = "prompt"\n'
        'doc_to_choice = "choices"\ndoc_to_target = "gold"\ntarget_delimiter = " "\n'
        f'[data_files]\ntest = "{out}/probe.jsonl"\n'
    )
    for lr in ["1e-3", "3e-3", "1e-2"]:
        for budget in [3_000_000, 12_000_000, 48_000_000]:
            (out / f"lr{lr}-tok{budget // 1_000_000}M.toml").write_text(
                f'name = "pilot: lists, lr {lr}"\nseed = 0\n[corpus]\nsource = "{out}/lists.txt"\n'
                "[[models]]\nlayers = 2\nhidden = 48\nheads = 2\n"
                f"[training]\nbudgets = [{budget}]\nbatch_size = 8\nlr = {lr}\n"
                "checkpoints = 10\nfirst_checkpoint_tokens = 200000\n"
                f'[eval]\ntasks = ["{out}/probe.toml"]\n'
            )


if __name__ == "__main__":
    main()
