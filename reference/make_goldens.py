#!/usr/bin/env python3
"""Golden files for emergent's engine, written by PyTorch + Hugging Face transformers.

For each tiny config it builds LlamaForCausalLM in float32, saves the initial weights
as a Hugging Face checkpoint (emergent loads them with its own reader), and dumps the
logits, the loss, the gradient of every parameter and the parameters after three AdamW
steps with warm-up/cosine schedule and global gradient-norm clipping.

With --checkpoint DIR (a checkpoint written by emergent) it also checks that
transformers loads DIR as LlamaForCausalLM unchanged and dumps its logits and the
tokenizer's encodings, so emergent's tests can compare against them.

Run through reference/make_goldens.sh, which makes the virtual environment.
"""
import argparse
import json
import math
import os
import sys

import torch
import transformers
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "goldens")

CONFIGS = {
    # untied head, grouped-query attention
    "tiny-gqa": dict(vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False,
                     rope_theta=10000.0, rms_norm_eps=1e-5, batch=2, seq=16),
    # tied head, plain multi-head attention, a longer context and another theta
    "tiny-tied": dict(vocab_size=80, hidden_size=48, intermediate_size=64, num_hidden_layers=3,
                      num_attention_heads=3, num_key_value_heads=3, tie_word_embeddings=True,
                      rope_theta=500.0, rms_norm_eps=1e-6, batch=3, seq=24),
}

# Optimiser settings the Rust test repeats (also written to meta.json).
OPT = dict(max_lr=3e-3, min_lr=3e-4, warmup_steps=2, total_steps=3, beta1=0.9, beta2=0.95,
           eps=1e-8, weight_decay=0.1, max_grad_norm=0.5, steps=3)


def lr_at(step):
    o = OPT
    if step < o["warmup_steps"]:
        return o["max_lr"] * (step + 1) / o["warmup_steps"]
    span = max(1, o["total_steps"] - o["warmup_steps"])
    progress = min(1.0, (step - o["warmup_steps"]) / span)
    return o["min_lr"] + 0.5 * (o["max_lr"] - o["min_lr"]) * (1 + math.cos(math.pi * progress))


def build(name, spec):
    cfg = LlamaConfig(
        vocab_size=spec["vocab_size"], hidden_size=spec["hidden_size"],
        intermediate_size=spec["intermediate_size"], num_hidden_layers=spec["num_hidden_layers"],
        num_attention_heads=spec["num_attention_heads"], num_key_value_heads=spec["num_key_value_heads"],
        tie_word_embeddings=spec["tie_word_embeddings"], rope_theta=spec["rope_theta"],
        rms_norm_eps=spec["rms_norm_eps"], max_position_embeddings=64, bos_token_id=1, eos_token_id=2,
        attention_bias=False, mlp_bias=False, hidden_act="silu")
    cfg._attn_implementation = "eager"
    torch.manual_seed(1234 + len(name))
    model = LlamaForCausalLM(cfg).float()
    # Non-trivial norm gains, so their gradients and the norm kernels are exercised.
    with torch.no_grad():
        for n, p in model.named_parameters():
            if n.endswith("norm.weight"):
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
    return model


def engine_goldens(name, spec):
    out = os.path.join(GOLDEN, name)
    init = os.path.join(out, "init")
    os.makedirs(init, exist_ok=True)
    model = build(name, spec)
    model.save_pretrained(init, safe_serialization=True)
    b, t, v = spec["batch"], spec["seq"], spec["vocab_size"]
    g = torch.Generator().manual_seed(99)
    batches = torch.randint(0, v, (OPT["steps"], b, t + 1), generator=g)
    tensors = {"batches": batches.float()}

    inputs, targets = batches[0, :, :-1], batches[0, :, 1:]
    logits = model(input_ids=inputs).logits
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, v), targets.reshape(-1))
    loss.backward()
    tensors["logits"] = logits.detach().reshape(b * t, v).contiguous()
    tensors["loss"] = loss.detach().reshape(1)
    for n, p in model.named_parameters():
        tensors["grad." + n] = p.grad.detach().clone()
    model.zero_grad(set_to_none=True)

    decay, no_decay = [], []
    for n, p in model.named_parameters():
        (no_decay if (n.endswith("norm.weight") or "embed_tokens" in n or "lm_head" in n) else decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": OPT["weight_decay"]},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=OPT["max_lr"], betas=(OPT["beta1"], OPT["beta2"]), eps=OPT["eps"],
                            foreach=False)
    losses, norms = [], []
    for step in range(OPT["steps"]):
        inputs, targets = batches[step, :, :-1], batches[step, :, 1:]
        opt.zero_grad(set_to_none=True)
        logits = model(input_ids=inputs).logits
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, v), targets.reshape(-1))
        loss.backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(model.parameters(), OPT["max_grad_norm"])))
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        opt.step()
        losses.append(float(loss))
    tensors["step_losses"] = torch.tensor(losses)
    tensors["grad_norms"] = torch.tensor(norms)
    for n, p in model.named_parameters():
        tensors["final." + n] = p.detach().clone()
    save_file({k: x.contiguous() for k, x in tensors.items()}, os.path.join(out, "golden.safetensors"))
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump({"config": spec, "optimizer": OPT, "torch": torch.__version__,
                   "transformers": transformers.__version__}, f, indent=2)
    print(f"{name}: loss {float(tensors['loss'][0]):.6f}, step losses {losses}")


def checkpoint_goldens(ckpt):
    """transformers loads emergent's checkpoint unchanged; dump its logits and tokenizer."""
    out = os.path.join(GOLDEN, "checkpoint")
    os.makedirs(out, exist_ok=True)
    model = AutoModelForCausalLM.from_pretrained(ckpt, dtype=torch.float32)
    assert type(model).__name__ == "LlamaForCausalLM", type(model)
    model.eval()
    tok = AutoTokenizer.from_pretrained(ckpt)
    texts = ["The red fox lives in Amber Hollow.", "Q: What is 7 plus 5?\nA: 12",
             "  leading spaces, unicode é ü 数字 and numbers 1234567"]
    enc = [tok(text, add_special_tokens=False)["input_ids"] for text in texts]
    ids = torch.tensor([(enc[0] + enc[1])[: model.config.max_position_embeddings]])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0]
    save_file({"input_ids": ids[0].float().contiguous(), "logits": logits.contiguous()},
              os.path.join(out, "logits.safetensors"))
    with open(os.path.join(out, "tokenizer.json"), "w") as f:
        json.dump({"texts": texts, "ids": enc, "decoded": [tok.decode(e) for e in enc],
                   "model_class": type(model).__name__, "transformers": transformers.__version__}, f,
                  indent=2, ensure_ascii=False)
    print(f"checkpoint {ckpt}: {type(model).__name__}, {ids.shape[1]} tokens")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", help="an emergent checkpoint directory to load with transformers")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.checkpoint:
        checkpoint_goldens(args.checkpoint)
    else:
        for name, spec in CONFIGS.items():
            engine_goldens(name, spec)


if __name__ == "__main__":
    sys.exit(main())
