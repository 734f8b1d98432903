"""Pilot N: the phase change of in-context copying (docs/builtin-study.md).

    python3 phase_change.py make DIR      corpora, character tokenizers and study files:
                                          DIR/n1-{1,2}layer.toml (copy at a fixed offset,
                                          0.2M and 1.5M tokens) and DIR/n2-{1,2}layer.toml
                                          (a varying offset: induction, 16M tokens);
                                          run each with `emergent run F --out F.out --no-report`
    python3 phase_change.py plot OUT.svg LABEL=RUNDIR ...
                                          validation loss against tokens, one line per
                                          run folder (RUNDIR/step-*/meta.json), as SVG
"""

import glob
import json
import math
import os
import random
import sys

LETTERS = "abcdefghijklmnopqrstuvwxyz"
SYMBOLS = [chr(0x4E00 + i) for i in range(100)]


def tokenizer(path, chars):
    vocab = {"<|endoftext|>": 0}
    for c in chars:
        vocab[c] = len(vocab)
    special = {"id": 0, "content": "<|endoftext|>", "single_word": False, "lstrip": False,
               "rstrip": False, "normalized": False, "special": True}
    model = {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
             "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
             "vocab": vocab, "merges": []}
    tok = {"version": "1.0", "added_tokens": [special], "normalizer": None,
           "pre_tokenizer": None, "post_processor": None, "decoder": None, "model": model}
    with open(path, "w") as f:
        json.dump(tok, f, ensure_ascii=False)


def copy_docs(n, rng):
    for _ in range(n):
        s = "".join(rng.choice(LETTERS) for _ in range(31))
        yield s + "|" + s


def induction_docs(n, rng):
    for _ in range(n):
        length = rng.randint(20, 31)
        s = "".join(rng.sample(SYMBOLS, length))
        yield "." * (62 - 2 * length) + s + "|" + s


STUDY = """name = "pilot N: {name}"
seed = 1
threads = 2
[corpus]
source = "{corpus}"
validation_fraction = {val}
[tokenizer]
path = "{tok}"
[[models]]
layers = {layers}
hidden = 64
heads = 4
[training]
budgets = [{budget}]
batch_size = 8
seq_len = 64
lr = 3e-3
warmup_steps = 100
checkpoints = {checkpoints}
first_checkpoint_tokens = {first}
[eval]
tasks = []
"""


def make(d):
    os.makedirs(d, exist_ok=True)
    d = os.path.abspath(d)
    for name, docs, n, chars, seed in [
        ("copy", copy_docs, 20000, LETTERS + "|", 0),
        ("induction", induction_docs, 260000, SYMBOLS + [".", "|"], 1),
    ]:
        rng = random.Random(seed)
        with open(f"{d}/{name}.jsonl", "w") as f:
            for text in docs(n, rng):
                f.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")
        tokenizer(f"{d}/{name}-chars.json", chars)
    for pilot, corpus, val, runs in [
        ("n1", "copy", 0.02, [(1, 200000, 12, 8000), (2, 1500000, 30, 10000)]),
        ("n2", "induction", 0.005, [(1, 16000000, 24, 8000), (2, 16000000, 24, 8000)]),
    ]:
        for layers, budget, checkpoints, first in runs:
            with open(f"{d}/{pilot}-{layers}layer.toml", "w") as f:
                f.write(STUDY.format(name=f"{corpus}, {layers} layer(s)", val=val,
                                     corpus=f"{d}/{corpus}.jsonl", tok=f"{d}/{corpus}-chars.json",
                                     layers=layers, budget=budget, checkpoints=checkpoints,
                                     first=first))


def points(run_dir):
    pts = []
    for meta in glob.glob(os.path.join(run_dir, "step-*", "meta.json")):
        with open(meta) as f:
            m = json.load(f)
        pts.append((m["tokens"], m["val_loss"]))
    return sorted(pts)


def plot(out, runs):
    w, h, left, right, top, bottom = 640, 400, 60, 150, 20, 50
    series = [(label, points(d)) for label, d in runs]
    xs = [t for _, p in series for t, _ in p]
    ys = [l for _, p in series for _, l in p]
    x0, x1 = math.log10(min(xs)), math.log10(max(xs))
    y0, y1 = 1.0, math.ceil(max(ys) * 2) / 2
    px = lambda t: left + (math.log10(t) - x0) / (x1 - x0) * (w - left - right)
    py = lambda l: top + (y1 - l) / (y1 - y0) * (h - top - bottom)
    colours = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd"]
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
           f'<rect width="{w}" height="{h}" fill="white"/>']
    for e in range(math.ceil(x0), math.floor(x1) + 1):
        x = px(10 ** e)
        svg.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{h - bottom}" stroke="#ddd"/>')
        svg.append(f'<text x="{x:.1f}" y="{h - bottom + 16}" text-anchor="middle">10^{e}</text>')
    y = y0
    while y <= y1 + 1e-9:
        svg.append(f'<line x1="{left}" y1="{py(y):.1f}" x2="{w - right}" y2="{py(y):.1f}" stroke="#ddd"/>')
        svg.append(f'<text x="{left - 6}" y="{py(y) + 4:.1f}" text-anchor="end">{y:.1f}</text>')
        y += 0.5
    svg.append(f'<text x="{(left + w - right) / 2}" y="{h - 10}" text-anchor="middle">tokens</text>')
    svg.append(f'<text x="14" y="{(top + h - bottom) / 2}" transform="rotate(-90 14 {(top + h - bottom) / 2})" text-anchor="middle">validation loss (nats/token)</text>')
    for i, (label, pts) in enumerate(series):
        c = colours[i % len(colours)]
        path = " ".join(f"{px(t):.1f},{py(l):.1f}" for t, l in pts)
        svg.append(f'<polyline points="{path}" fill="none" stroke="{c}" stroke-width="2"/>')
        for t, l in pts:
            svg.append(f'<circle cx="{px(t):.1f}" cy="{py(l):.1f}" r="2.5" fill="{c}"/>')
        svg.append(f'<text x="{w - right + 8}" y="{top + 16 + 18 * i}" fill="{c}">{label}</text>')
    svg.append("</svg>")
    with open(out, "w") as f:
        f.write("\n".join(svg) + "\n")


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2])
    else:
        plot(sys.argv[2], [a.split("=", 1) for a in sys.argv[3:]])
