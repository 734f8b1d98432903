#!/usr/bin/env python3
"""Dequantises a LLaMA GGUF file with transformers' GGUF loader and saves it as a
Hugging Face directory (float32 safetensors, config, tokenizer), so lm-eval's hf
backend and emergent time the same weights.

usage: gguf_to_hf.py FILE.gguf OUT_DIR
"""
import os
import sys

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

src, out = sys.argv[1], sys.argv[2]
d, f = os.path.split(os.path.abspath(src))
tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, torch_dtype=torch.float32)
# transformers refuses to save a model it loaded from GGUF; the dequantised weights
# go into a plain model of the same configuration.
config = model.config
if hasattr(config, "quantization_config"):
    del config.quantization_config
plain = LlamaForCausalLM(config).to(torch.float32)
plain.load_state_dict(model.state_dict())
plain.save_pretrained(out)
tok.save_pretrained(out)
print(out)
