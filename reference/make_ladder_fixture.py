#!/usr/bin/env python3
"""goldens/ladder/: a ladder of checkpoints in the layouts users keep theirs in.

From three runs emergent trained (RUNS, made by make_ladder_fixture.sh), each checkpoint
is loaded by transformers and re-saved:

- `base/checkpoint-N/`: as the Hugging Face Trainer leaves it: bfloat16, split into
  safetensors shards by `save_pretrained(max_shard_size=...)`, with `trainer_state.json`
  (`global_step`, `num_input_tokens_seen`) and the tokenizer transformers re-saves;
- `small/stepN/`: float16 `pytorch_model.bin` as transformers 4 wrote it
  (`safe_serialization=False`), the last checkpoint in two shards with an index; the step
  is only in the name (the study gives tokens_per_step);
- `tiny/step-N.gguf`: float16 GGUF files written by llama.cpp's gguf-py as its
  convert_hf_to_gguf.py does (q/k rows permuted, the byte-level BPE in the metadata).

No emergent file (meta.json) is kept. `sources.json` records which emergent checkpoint
each came from. `val.jsonl` is the runs' validation split as documents with their genre
(`domain`), decoded from emergent's token shards.
"""
import glob
import json
import os
import shutil
import sys

import numpy as np
import torch
from tokenizers import Tokenizer
from transformers import AutoTokenizer, LlamaForCausalLM

from make_gguf_goldens import gguf_name, llama_writer, permute
from make_torch_goldens import save_bin

LAYOUT = {"d48": "base", "d32": "small", "d24": "tiny"}


def checkpoints(run):
    return sorted(os.path.join(run, c) for c in os.listdir(run) if c.startswith("step-"))


def trainer_layout(src, dest, meta):
    model = LlamaForCausalLM.from_pretrained(src, dtype=torch.bfloat16)
    model.save_pretrained(dest, max_shard_size="60KB")
    AutoTokenizer.from_pretrained(src).save_pretrained(dest)
    state = {"global_step": meta["step"], "num_input_tokens_seen": meta["tokens"],
             "epoch": 0.0, "log_history": [{"step": meta["step"], "loss": meta["train_loss"]}]}
    json.dump(state, open(os.path.join(dest, "trainer_state.json"), "w"), indent=2)


def torch_layout(src, dest, shards):
    model = LlamaForCausalLM.from_pretrained(src, dtype=torch.float16)
    os.makedirs(dest, exist_ok=True)
    model.config.save_pretrained(dest)
    AutoTokenizer.from_pretrained(src).save_pretrained(dest)
    sd = dict(model.state_dict())
    # transformers 4 kept the tied head as a second name for the embedding's storage.
    sd["lm_head.weight"] = sd["model.embed_tokens.weight"]
    save_bin(sd, dest, shards)


def gguf_layout(src, file):
    model = LlamaForCausalLM.from_pretrained(src, dtype=torch.float32)
    cfg = model.config
    spec = json.load(open(os.path.join(src, "tokenizer.json")))
    vocab = spec["model"]["vocab"]
    tokens = sorted(vocab, key=vocab.get)
    special = {t["content"] for t in spec["added_tokens"] if t["special"]}
    merges = [m if isinstance(m, str) else " ".join(m) for m in spec["model"]["merges"]]
    w = llama_writer(file, cfg)
    w.add_tokenizer_model("gpt2")
    w.add_token_list(tokens)
    w.add_token_merges(merges)
    w.add_token_types([3 if t in special else 1 for t in tokens])
    w.add_bos_token_id(cfg.bos_token_id)
    w.add_eos_token_id(cfg.eos_token_id)
    for hf, t in model.state_dict().items():
        if "rotary" in hf or hf == "lm_head.weight":
            continue  # llama.cpp writes no output.weight for a tied head
        x = t.numpy()
        if hf.endswith("q_proj.weight"):
            x = permute(x, cfg.num_attention_heads)
        elif hf.endswith("k_proj.weight"):
            x = permute(x, cfg.num_key_value_heads)
        # As llama.cpp's converter does for F16: norms stay F32.
        raw = x.astype(np.float32) if x.ndim == 1 else x.astype(np.float16)
        w.add_tensor(gguf_name(hf), raw)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def validation(data, out):
    """The validation shards (a 32-byte header, then u16 ids; documents end with id 0)."""
    tok = Tokenizer.from_file(os.path.join(data, "tokenizer.json"))
    with open(os.path.join(out, "val.jsonl"), "w") as f:
        for shard in sorted(glob.glob(os.path.join(data, "val-*.bin"))):
            domain = open(shard[:-4] + ".domain").read().strip()
            ids = np.frombuffer(open(shard, "rb").read()[32:], dtype="<u2").tolist()
            doc = []
            for t in ids + [0]:
                if t == 0:
                    if doc:
                        f.write(json.dumps({"text": tok.decode(doc), "domain": domain}, ensure_ascii=False) + "\n")
                    doc = []
                else:
                    doc.append(t)


def main(runs, out):
    shutil.rmtree(out, ignore_errors=True)
    sources = {}
    for run in sorted(os.listdir(runs)):
        name = LAYOUT[run.split("-")[0]]
        ckpts = checkpoints(os.path.join(runs, run))
        for k, src in enumerate(ckpts):
            meta = json.load(open(os.path.join(src, "meta.json")))
            step = meta["step"]
            if name == "base":
                dest = os.path.join(out, name, f"checkpoint-{step}")
                trainer_layout(src, dest, meta)
            elif name == "small":
                dest = os.path.join(out, name, f"step{step}")
                torch_layout(src, dest, 2 if k == len(ckpts) - 1 else 1)
            else:
                os.makedirs(os.path.join(out, name), exist_ok=True)
                dest = os.path.join(out, name, f"step-{step}.gguf")
                gguf_layout(src, dest)
            sources[os.path.relpath(dest, out)] = {"run": run, "step": step, "tokens": meta["tokens"]}
    json.dump(sources, open(os.path.join(out, "sources.json"), "w"), indent=1)
    data = glob.glob(os.path.join(runs, "..", "data", "*"))
    validation(data[0], out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
