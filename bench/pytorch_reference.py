"""The model and step of `emergent bench train|forward` in PyTorch, nanoGPT-style, eager
or (--compile) through torch.compile as nanoGPT runs it by default:
the same LLaMA architecture (RMSNorm, rotary attention through
scaled_dot_product_attention with is_causal, SwiGLU, untied head), AdamW (0.9, 0.95,
eps 1e-8, weight decay 0.1, lr 1e-3) with gradient clipping at 1.0, float32, fresh random
tokens each step. Same flags and the same JSON line (tokens_per_s is the median of the
timed steps after warm-up; best_step_s the fastest of them). Compiled, the model is
compiled once per mode: the warm-up steps, which hold the compilation (of the forward
alone in forward mode, of forward and backward in train mode), are never timed;
compile_s says how long the first step took.

usage: python bench/pytorch_reference.py train|forward [--compile] [--vocab ... --threads N]
"""

import argparse
import json
import math
import resource
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn


class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotate_half(x):
    a, b = x.chunk(2, dim=-1)
    return torch.cat((-b, a), dim=-1)


class Block(nn.Module):
    def __init__(self, d, heads, mlp):
        super().__init__()
        self.heads, self.hd = heads, d // heads
        self.attn_norm, self.mlp_norm = RMSNorm(d), RMSNorm(d)
        self.q, self.k, self.v, self.o = (nn.Linear(d, d, bias=False) for _ in range(4))
        self.gate, self.up = nn.Linear(d, mlp, bias=False), nn.Linear(d, mlp, bias=False)
        self.down = nn.Linear(mlp, d, bias=False)

    def forward(self, x, cos, sin):
        b, t, d = x.shape
        h = self.attn_norm(x)
        q, k, v = (p(h).view(b, t, self.heads, self.hd).transpose(1, 2) for p in (self.q, self.k, self.v))
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.o(a.transpose(1, 2).reshape(b, t, d))
        h = self.mlp_norm(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Llama(nn.Module):
    def __init__(self, vocab, d, layers, heads, mlp, seq):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.blocks = nn.ModuleList(Block(d, heads, mlp) for _ in range(layers))
        self.norm = RMSNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)
        hd = d // heads
        inv = 1.0 / (10000 ** (torch.arange(0, hd, 2).float() / hd))
        ang = torch.outer(torch.arange(seq).float(), inv)
        emb = torch.cat((ang, ang), dim=-1)
        self.register_buffer("cos", emb.cos()[None, None], persistent=False)
        self.register_buffer("sin", emb.sin()[None, None], persistent=False)
        for name, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02 / math.sqrt(2 * layers) if name.endswith(("o.weight", "down.weight")) else 0.02
                nn.init.normal_(p, std=std)

    def forward(self, idx, targets):
        x = self.embed(idx)
        for blk in self.blocks:
            x = blk(x, self.cos, self.sin)
        logits = self.head(self.norm(x))
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


def flops_per_token(a):
    d, f, L = a.d_model, a.mlp, a.layers
    matmul = L * (4 * d * d + 3 * d * f) + a.vocab * d
    return 2 * matmul + 2 * 2 * a.seq * d * L / 2


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["train", "forward"])
    p.add_argument("--compile", action="store_true", help="torch.compile the model (inductor)")
    for name, default in [("vocab", 4096), ("d-model", 256), ("layers", 4), ("heads", 4), ("mlp", 688),
                          ("seq", 256), ("batch", 8), ("steps", 20), ("warmup", 3), ("threads", 2), ("seed", 0)]:
        p.add_argument(f"--{name}", type=int, default=default)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    model = Llama(a.vocab, a.d_model, a.layers, a.heads, a.mlp, a.seq)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
    run = torch.compile(model) if a.compile else model
    data = [torch.randint(0, a.vocab, (a.batch, a.seq + 1)) for _ in range(4)]
    secs, loss = [], float("nan")
    for i in range(a.warmup + a.steps):
        batch = data[i % len(data)]
        x, y = batch[:, :-1].contiguous(), batch[:, 1:].contiguous()
        t0 = time.perf_counter()
        if a.mode == "train":
            opt.zero_grad(set_to_none=True)
            out = run(x, y)
            out.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
        else:
            with torch.inference_mode():
                out = run(x, y)
        loss = out.item()
        if i == 0:
            first = time.perf_counter() - t0
        if i >= a.warmup:
            secs.append(time.perf_counter() - t0)
    step = statistics.median(secs)
    tps = a.batch * a.seq / step
    fpt = flops_per_token(a) * (3 if a.mode == "train" else 1)
    print(json.dumps({
        "bench": a.mode, "framework": f"pytorch {torch.__version__} {'compile' if a.compile else 'eager'}",
        "compile_s": first if a.compile else 0.0, "vocab": a.vocab, "d_model": a.d_model,
        "layers": a.layers, "heads": a.heads, "mlp": a.mlp, "seq": a.seq, "batch": a.batch, "steps": a.steps,
        "threads": torch.get_num_threads(), "params": sum(q.numel() for q in model.parameters()),
        "tokens_per_s": tps, "step_s": step, "best_step_s": min(secs), "gflops": tps * fpt / 1e9, "loss": loss,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == "__main__":
    main()
