#!/usr/bin/env python3
"""Goldens for the shipped benchmark specs (tasks/): lm-evaluation-harness 0.4 runs its
OWN registered tasks (hellaswag, arc_easy, arc_challenge, piqa, winogrande,
lambada_openai, mmlu_<subject>, gsm8k, triviaqa), with only the data source replaced
by local JSONL (reference/benchmark-samples/, and GSM8K's real files from
../shared/data/gsm8k), on the tiny emergent checkpoint with its context widened to 2048
positions (RoPE has no learned positions, so the weights are unchanged). Every
sample's prompt, continuations, log-likelihoods, generation and filtered answers, and
the aggregates, go to reference/goldens/benchmarks/TASK.json.

Run through reference/make_lmeval_goldens.sh, which makes the virtual environment.
"""
import json
import os
import shutil
import sys
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import lm_eval  # noqa: E402
from lm_eval.api.task import ConfigurableTask  # noqa: E402
from lm_eval.tasks import TaskManager  # noqa: E402
from make_lmeval_goldens import logged_samples  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLES = os.path.join(HERE, "benchmark-samples")
GSM8K = os.path.join(HERE, "..", "..", "shared", "data", "gsm8k")
OUT = os.path.join(HERE, "goldens", "benchmarks")
CONTEXT = 2048

# name → (lm-eval task, data folder, splits, num_fewshot, limit)
RUNS = {
    "hellaswag": ("hellaswag", "hellaswag", ["train", "validation"], 2, None),
    "arc_easy": ("arc_easy", "arc_easy", ["train", "validation", "test"], 2, None),
    "arc_challenge": ("arc_challenge", "arc_challenge", ["train", "validation", "test"], 0, None),
    "piqa": ("piqa", "piqa", ["train", "validation"], 1, None),
    "winogrande": ("winogrande", "winogrande", ["train", "validation"], 2, None),
    "lambada_openai": ("lambada_openai", "lambada_openai", ["test"], 0, None),
    "mmlu_abstract_algebra": ("mmlu_abstract_algebra", "mmlu/abstract_algebra", ["dev", "test"], 2, None),
    "mmlu_high_school_geography": ("mmlu_high_school_geography", "mmlu/high_school_geography", ["dev", "test"], 2, None),
    "triviaqa": ("triviaqa", "triviaqa", ["train", "validation"], 1, None),
    "gsm8k": ("gsm8k", None, ["train", "test"], 5, 4),
}


def widened_checkpoint(src):
    dst = tempfile.mkdtemp()
    for f in os.listdir(src):
        shutil.copy(os.path.join(src, f), dst)
    with open(os.path.join(dst, "config.json")) as f:
        cfg = json.load(f)
    cfg["max_position_embeddings"] = CONTEXT
    with open(os.path.join(dst, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    return dst


def main(model_dir):
    model_dir = widened_checkpoint(model_dir)
    os.makedirs(OUT, exist_ok=True)
    for name, (task, folder, splits, shots, limit) in RUNS.items():
        base = os.path.join(SAMPLES, folder) if folder else GSM8K
        override = {
            "dataset_path": "json",
            "dataset_name": None,
            "dataset_kwargs": {"data_files": {s: os.path.join(base, s + ".jsonl") for s in splits}},
        }
        # lm-eval's own registered config (YAML, includes, process_docs), data source replaced.
        tm = TaskManager()
        cfg = tm._factory._load_full_config(tm._index[task], override)
        for key in ("tag", "group", "task_list"):
            cfg.pop(key, None)
        res = lm_eval.simple_evaluate(
            model="hf",
            model_args=f"pretrained={model_dir},dtype=float32",
            tasks=[ConfigurableTask(config=cfg)],
            num_fewshot=shots,
            limit=limit,
            batch_size=1,
            device="cpu",
            log_samples=True,
            task_manager=tm,
        )
        samples = logged_samples(res, task)
        with open(os.path.join(OUT, name + ".json"), "w") as fh:
            json.dump({"task": task, "num_fewshot": shots, "limit": limit,
                       "results": res["results"][task], "samples": samples,
                       "lm_eval_version": lm_eval.__version__}, fh, indent=1, default=str, ensure_ascii=False)
        print(name, {k: v for k, v in res["results"][task].items() if isinstance(v, float)})


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "goldens", "checkpoint", "model"))
