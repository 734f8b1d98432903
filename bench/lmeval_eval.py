#!/usr/bin/env python3
"""Times lm-evaluation-harness 0.4 (hf backend, CPU, float32) on one model and task, as
`emergent bench eval` times emergent: model loading and task building are outside the
timed part; tokenisation, scoring and metrics inside. Prints one JSON line.

usage: lmeval_eval.py --model HF_DIR --task hellaswag --data DIR [--limit N]
                      [--batch-size 8] [--threads 2]
"""
import argparse
import json
import os
import resource
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--task", default="hellaswag")
    ap.add_argument("--data", required=True, help="folder with the task's SPLIT.jsonl files")
    ap.add_argument("--limit", type=int)
    ap.add_argument("--num-fewshot", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()

    import torch
    torch.set_num_threads(a.threads)
    import lm_eval
    from lm_eval.api.task import ConfigurableTask
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    started = time.perf_counter()
    lm = HFLM(pretrained=a.model, dtype="float32", batch_size=a.batch_size, device="cpu")
    load_s = time.perf_counter() - started
    tm = TaskManager()
    splits = [f[:-6] for f in os.listdir(a.data) if f.endswith(".jsonl")]
    cfg = tm._factory._load_full_config(tm._index[a.task], {
        "dataset_path": "json", "dataset_name": None,
        "dataset_kwargs": {"data_files": {s: os.path.join(a.data, s + ".jsonl") for s in splits}},
    })
    for key in ("tag", "group", "task_list"):
        cfg.pop(key, None)
    task = ConfigurableTask(config=cfg)
    t = time.perf_counter()
    res = lm_eval.simple_evaluate(model=lm, tasks=[task], num_fewshot=a.num_fewshot,
                                  limit=a.limit, task_manager=tm, bootstrap_iters=0)
    score_s = time.perf_counter() - t
    docs = res["results"][a.task]["sample_len"] if "sample_len" in res["results"][a.task] else a.limit
    print(json.dumps({
        "bench": "eval", "evaluator": "lm-eval " + lm_eval.__version__, "model": a.model,
        "tasks": [a.task], "threads": torch.get_num_threads(), "batch_size": a.batch_size,
        "docs": docs, "load_s": load_s, "score_s": score_s, "docs_per_s": docs / score_s,
        "acc": res["results"][a.task].get("acc,none"),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == "__main__":
    main()
