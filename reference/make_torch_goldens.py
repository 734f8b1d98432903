#!/usr/bin/env python3
"""PyTorch checkpoints in the layouts users have: goldens/torch/.

transformers 5 saves only safetensors, so this writes what transformers 4's
`save_pretrained(safe_serialization=False)` wrote, with torch.save itself: the state
dict as `pytorch_model.bin`, or split into `pytorch_model-0000K-of-0000N.bin` shards
listed by `pytorch_model.bin.index.json`. Each model is an architecture golden's
init/ checkpoint (goldens/arch/NAME/init), so emergent can check that it reads the
same weights from either format. `reference.json` in each folder holds what
`torch.load(weights_only=True)` returns: each tensor's shape, dtype, float64 sum and
first elements.

`checkpoint-bin/` is goldens/checkpoint/model (with its tokenizer) saved this way.

Also `evil/pytorch_model.bin`: a file torch.save wrote for a dict holding an object
whose unpickling calls os.system. torch.load(weights_only=True) refuses it, and so
must emergent, without running anything.

Run through reference/make_torch_goldens.sh.
"""
import json
import os
import shutil

import torch
from safetensors.torch import load_file

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "goldens", "torch")


def source(name):
    """An architecture golden's init/ checkpoint, or (`checkpoint`) the trained golden."""
    if name == "checkpoint":
        return os.path.join(HERE, "goldens", "checkpoint", "model")
    return os.path.join(HERE, "goldens", "arch", name, "init")


def state_dict(name, dtype):
    sd = load_file(os.path.join(source(name), "model.safetensors"))
    cfg = json.load(open(os.path.join(source(name), "config.json")))
    if cfg.get("tie_word_embeddings") and "lm_head.weight" not in sd:
        # transformers 4 saved the tied head as a second name for the embedding's storage.
        sd["lm_head.weight"] = sd["model.embed_tokens.weight"]
    return {k: v.to(dtype) for k, v in sd.items()}, cfg


def save_bin(sd, dest, shards):
    """What transformers 4's save_pretrained(safe_serialization=False) wrote: the state
    dict as pytorch_model.bin, or `shards` files listed by pytorch_model.bin.index.json."""
    names = sorted(sd)
    if shards == 1:
        torch.save(sd, os.path.join(dest, "pytorch_model.bin"))
        return
    weight_map = {}
    for k in range(shards):
        part = names[k::shards]
        file = f"pytorch_model-{k + 1:05d}-of-{shards:05d}.bin"
        torch.save({n: sd[n] for n in part}, os.path.join(dest, file))
        weight_map.update({n: file for n in part})
    index = {"metadata": {"total_size": sum(t.numel() * t.element_size() for t in sd.values())},
             "weight_map": dict(sorted(weight_map.items()))}
    json.dump(index, open(os.path.join(dest, "pytorch_model.bin.index.json"), "w"), indent=2)


def write_reference(dest):
    """`reference.json`: each tensor of dest's .bin files as torch.load(weights_only=True)
    reads it (shape, dtype, float64 sum, first elements)."""
    reference = {}
    for file in sorted(os.listdir(dest)):
        if file.endswith(".bin"):
            for n, t in torch.load(os.path.join(dest, file), weights_only=True).items():
                reference[n] = {"shape": list(t.shape), "dtype": str(t.dtype),
                                "sum": float(t.double().sum()),
                                "first": [float(x) for x in t.flatten()[:4].double()]}
    json.dump(reference, open(os.path.join(dest, "reference.json"), "w"), indent=1)


def write(dest, name, dtype, shards):
    sd, cfg = state_dict(name, dtype)
    if "lm_head.weight" in sd and cfg.get("tie_word_embeddings"):
        sd["lm_head.weight"] = sd["model.embed_tokens.weight"]
    os.makedirs(dest, exist_ok=True)
    for f in ["config.json", "tokenizer.json", "tokenizer_config.json"]:
        if os.path.exists(os.path.join(source(name), f)):
            shutil.copy(os.path.join(source(name), f), dest)
    save_bin(sd, dest, shards)
    write_reference(dest)


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/emergent-pwned",))


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    write(os.path.join(OUT, "glm-tied-bin"), "glm-tied", torch.float32, 1)
    write(os.path.join(OUT, "glm-tied-bf16"), "glm-tied", torch.bfloat16, 1)
    write(os.path.join(OUT, "glm-gqa-sharded"), "glm-gqa", torch.float32, 3)
    write(os.path.join(OUT, "gpt-neox-f16"), "gpt-neox", torch.float16, 1)
    # The trained golden with its tokenizer, for scoring a PyTorch checkpoint end to end.
    write(os.path.join(OUT, "checkpoint-bin"), "checkpoint", torch.float32, 1)
    os.makedirs(os.path.join(OUT, "evil"))
    torch.save({"model.embed_tokens.weight": torch.zeros(2), "x": Evil()},
               os.path.join(OUT, "evil", "pytorch_model.bin"))
    try:
        torch.load(os.path.join(OUT, "evil", "pytorch_model.bin"), weights_only=True)
        raise SystemExit("torch.load(weights_only=True) accepted the evil file")
    except Exception as e:  # noqa: BLE001 - the refusal is what is checked
        print("torch refuses evil/:", type(e).__name__)


if __name__ == "__main__":
    main()
