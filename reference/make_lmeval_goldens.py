#!/usr/bin/env python3
"""lm-evaluation-harness goldens: runs lm-eval 0.4.x (hf backend, float32, batch 1,
offline) on an emergent checkpoint and the tasks in reference/lmeval-tasks/, whose
TOML specs are translated field for field into lm-eval YAML, and writes every
sample's log-likelihoods, generations, filtered answers and metrics, and the
aggregates, to reference/goldens/lmeval/TASK.json (or OUT/TASK.json: make_lmeval_goldens.py MODEL OUT).

Run through reference/make_lmeval_goldens.sh, which makes the virtual environment.
"""
import json
import os
import sys
import tempfile
import tomllib

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import lm_eval  # noqa: E402
import yaml  # noqa: E402
from lm_eval.tasks import TaskManager  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TASKS = os.path.join(HERE, "lmeval-tasks")
OUT = os.path.join(HERE, "goldens", "lmeval")


def to_yaml(spec):
    y = {
        "task": spec["task"],
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {k: os.path.join(TASKS, v) for k, v in spec["data_files"].items()}},
        "test_split": spec.get("test_split", "test"),
        "output_type": spec["output_type"],
        "doc_to_text": spec["doc_to_text"],
        "doc_to_target": spec["doc_to_target"],
        "target_delimiter": spec.get("target_delimiter", " "),
        "fewshot_delimiter": spec.get("fewshot_delimiter", "\n\n"),
        "num_fewshot": spec.get("num_fewshot", 0),
    }
    if "fewshot_split" in spec:
        y["fewshot_split"] = spec["fewshot_split"]
    if "doc_to_choice" in spec:
        y["doc_to_choice"] = spec["doc_to_choice"]
    if spec["output_type"] == "multiple_choice":
        y["metric_list"] = [{"metric": m} for m in ("acc", "acc_norm", "brier_score")]
    elif spec["output_type"] == "loglikelihood":
        y["metric_list"] = [{"metric": "perplexity"}, {"metric": "acc"}]
    else:
        gk = spec.get("generation_kwargs", {})
        y["generation_kwargs"] = {"until": gk.get("until", []), "max_gen_toks": gk.get("max_gen_toks", 256), "do_sample": False}
        y["metric_list"] = [dict(m, aggregation="mean", higher_is_better=True) for m in spec.get("metric_list", [{"metric": "exact_match"}])]
        if "filter_list" in spec:
            y["filter_list"] = [
                {"name": f["name"], "filter": [
                    {"function": "regex", "regex_pattern": f["regex_pattern"],
                     "group_select": f.get("group_select", 0), "fallback": f.get("fallback", "[invalid]")},
                    {"function": "take_first"}]}
                for f in spec["filter_list"]
            ]
    return y


def logged_samples(res, task):
    """lm-eval's logged samples of one task, in document (then filter) order, as JSON."""
    out = []
    for s in sorted(res["samples"][task], key=lambda s: (s["doc_id"], str(s.get("filter")))):
        out.append({
            "doc_id": s["doc_id"],
            "arguments": [list(a) if isinstance(a, (list, tuple)) else a for a in s["arguments"]],
            "resps": s["resps"],
            "filtered_resps": s["filtered_resps"],
            "filter": s.get("filter"),
            "metrics": {m: s[m] for m in s.get("metrics", []) if m in s and isinstance(s[m], (int, float))},
        })
    return out


def main(model_dir, out=OUT):
    specs = {}
    tmp = tempfile.mkdtemp()
    for f in sorted(os.listdir(TASKS)):
        if f.endswith(".toml"):
            with open(os.path.join(TASKS, f), "rb") as fh:
                spec = tomllib.load(fh)
            specs[spec["task"]] = spec
            with open(os.path.join(tmp, spec["task"] + ".yaml"), "w") as fh:
                yaml.safe_dump(to_yaml(spec), fh, allow_unicode=True)
    res = lm_eval.simple_evaluate(
        model="hf",
        model_args=f"pretrained={model_dir},dtype=float32",
        tasks=list(specs),
        batch_size=1,
        device="cpu",
        log_samples=True,
        task_manager=TaskManager(include_path=tmp),
    )
    os.makedirs(out, exist_ok=True)
    for name in specs:
        samples = logged_samples(res, name)
        with open(os.path.join(out, name + ".json"), "w") as fh:
            json.dump({"task": name, "results": res["results"][name], "samples": samples,
                       "lm_eval_version": lm_eval.__version__}, fh, indent=1, default=str, ensure_ascii=False)


if __name__ == "__main__":
    model = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "goldens", "checkpoint", "model")
    main(model, *sys.argv[2:3])
