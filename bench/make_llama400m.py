#!/usr/bin/env python3
"""A 409M-parameter LLaMA made with transformers' own class (LlamaForCausalLM, its own
initialisation, seed 0) and saved as a float32 Hugging Face directory with SmolLM2's
tokenizer, for timing scoring on a model of that size: width 1024, 24 layers, 16 heads
sharing 4 key/value heads, MLP 3328, vocabulary 49152, untied output head. The weights
are untrained, which changes what the model answers but not the work of scoring it.

usage: make_llama400m.py TOKENIZER_DIR OUT_DIR
"""
import sys

import torch
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

tok_dir, out = sys.argv[1], sys.argv[2]
torch.manual_seed(0)
tok = AutoTokenizer.from_pretrained(tok_dir)
config = LlamaConfig(
    vocab_size=49152, hidden_size=1024, intermediate_size=3328, num_hidden_layers=24,
    num_attention_heads=16, num_key_value_heads=4, max_position_embeddings=2048,
    rope_theta=10000.0, rms_norm_eps=1e-5, tie_word_embeddings=False,
    bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
)
model = LlamaForCausalLM(config).to(torch.float32)
print(f"{sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters", file=sys.stderr)
model.save_pretrained(out)
tok.save_pretrained(out)
print(out)
