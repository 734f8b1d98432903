#!/usr/bin/env python3
"""Rolling-window scoring of a text in PyTorch, as `emergent bench eval --text` times it:
the text tokenised once, cut into lm-evaluation-harness's disjoint rolling windows
(`get_rolling_token_windows` with a context of one token, the first window led by the
prefix token), each window one forward pass of the Hugging Face model with the scored
tokens' log-probabilities read from a log-softmax. `--compile` runs the model through
torch.compile (inductor); each window shape's first pass, which holds the compilation,
runs once before the timed pass. Prints one JSON line: scored tokens per second and the
text's total log-likelihood.

usage: rolling_reference.py --model HF_DIR --text FILE [--max-length 2048] [--compile]
                            [--threads 2]
"""
import argparse
import json
import os
import resource
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def windows(tokens, prefix, max_len):
    """lm-eval's rolling windows, made disjoint: (input, scored targets) pairs."""
    out = []
    first = min(max_len, len(tokens))
    out.append(([prefix] + tokens[: first - 1], tokens[:first]))
    predicted = first
    while predicted < len(tokens):
        n = min(len(tokens) - predicted, max_len)
        end = predicted + n
        start = max(0, end - max_len - 1)
        seq = tokens[start:end]
        out.append((seq[:-1], seq[-n:]))
        predicted = end
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--text", required=True)
    ap.add_argument("--max-length", type=int, default=2048)
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(a.threads)
    tok = AutoTokenizer.from_pretrained(a.model)
    model = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32).eval()
    run = torch.compile(model) if a.compile else model
    text = open(a.text, encoding="utf-8").read()
    tokens = tok(text, add_special_tokens=False)["input_ids"]
    prefix = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
    wins = windows(tokens, prefix, a.max_length)

    def score(inp, tgt):
        logits = run(torch.tensor([inp])).logits[0, -len(tgt):]
        lp = torch.log_softmax(logits.float(), dim=-1)
        return lp.gather(1, torch.tensor(tgt)[:, None]).sum().item()

    with torch.inference_mode():
        t = time.perf_counter()
        seen = set()
        for inp, tgt in wins:
            if (len(inp), len(tgt)) not in seen:
                seen.add((len(inp), len(tgt)))
                score(inp, tgt)
        warmup_s = time.perf_counter() - t
        t = time.perf_counter()
        total = sum(score(inp, tgt) for inp, tgt in wins)
        score_s = time.perf_counter() - t
    scored = sum(len(tgt) for _, tgt in wins)
    print(json.dumps({
        "bench": "rolling", "framework": "pytorch " + torch.__version__
        + (" compile" if a.compile else " eager"), "model": a.model, "text": a.text,
        "threads": torch.get_num_threads(), "max_length": a.max_length,
        "windows": len(wins), "scored_tokens": scored, "warmup_s": warmup_s,
        "score_s": score_s, "scored_tokens_per_s": scored / score_s,
        "loglikelihood": total,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == "__main__":
    main()
