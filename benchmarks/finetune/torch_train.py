#!/usr/bin/python3
"""PyTorch eager side of benchmarks/finetune/run.sh: training steps of the same ViT (benchmarks/compare/torch_vit.py,
the same model.safetensors) with torch.optim.AdamW, at the same batch size and thread count as the vitfit side, on
random inputs; one JSON line per measurement on stdout.

  torch_train.py CHECKPOINT_DIR MODE BATCH THREADS STEPS REPS

MODE: full (every weight), blocks2 (the last two blocks, final norm and classifier; the frozen blocks run under
torch.no_grad() each step, as a PyTorch user writes it), blocks2-cached (the same, on tokens computed once, like
vitfit's cache), lora8 (rank-8 adapters, alpha 16, on qkv, proj, fc1, fc2 of every block, base weights frozen).
Needs Debian's python3-torch; run with /usr/bin/python3.
"""
import json
import math
import os
import resource
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "compare"))
from torch_vit import load  # noqa: E402


class LoRALinear(nn.Module):
    """y = base(x) + (alpha / r) (x A) B, A [in, r] kaiming-uniform like PEFT, B [r, out] zero; base frozen."""

    def __init__(self, base, r, alpha):
        super().__init__()
        self.base = base
        for p in self.base.parameters():
            p.requires_grad_(False)
        self.a = nn.Parameter(torch.empty(base.in_features, r).uniform_(-1 / math.sqrt(base.in_features),
                                                                          1 / math.sqrt(base.in_features)))
        self.b = nn.Parameter(torch.zeros(r, base.out_features))
        self.scaling = alpha / r

    def forward(self, x):
        return self.base(x) + self.scaling * (x @ self.a) @ self.b


class Classifier(nn.Module):
    def __init__(self, vit, classes):
        super().__init__()
        self.vit = vit
        self.head = nn.Linear(vit.norm.normalized_shape[0], classes)

    def forward(self, x):
        return self.head(self.vit(x))


def tail(vit, tokens, first):
    """Blocks first.. and the final norm on tokens entering block `first`; the class token's embedding."""
    x = tokens
    for b in vit.blocks[first:]:
        x = b(x)
    return vit.norm(x)[:, 0]


def prefix(vit, x, first):
    x = vit.patch_embed(x).flatten(2).transpose(1, 2)
    x = torch.cat([vit.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + vit.pos_embed
    for b in vit.blocks[:first]:
        x = b(x)
    return x


def param_groups(params, lr, wd):
    """AdamW with weight decay on weight matrices only, as vitfit does."""
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    return [{"params": decay, "lr": lr, "weight_decay": wd}, {"params": no_decay, "lr": lr, "weight_decay": 0.0}]


def main():
    checkpoint, mode, batch, threads, steps, reps = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:7])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    vit, pcfg = load(checkpoint)
    model = Classifier(vit, 10)
    model.train()
    depth = len(vit.blocks)
    size = pcfg["input_size"][1]
    x = torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(1))
    y = torch.arange(batch) % 10
    if mode == "full":
        trainable = list(model.parameters())
        forward = lambda: model(x)  # noqa: E731
    elif mode in ("blocks2", "blocks2-cached"):
        first = depth - 2
        for p in model.parameters():
            p.requires_grad_(False)
        for m in list(vit.blocks[first:]) + [vit.norm, model.head]:
            for p in m.parameters():
                p.requires_grad_(True)
        trainable = [p for p in model.parameters() if p.requires_grad]
        if mode == "blocks2-cached":
            with torch.no_grad():
                cached = prefix(vit, x, first)
            forward = lambda: model.head(tail(vit, cached, first))  # noqa: E731
        else:
            def forward():
                with torch.no_grad():
                    t = prefix(vit, x, first)
                return model.head(tail(vit, t, first))
    elif mode == "lora8":
        for p in model.parameters():
            p.requires_grad_(False)
        for b in vit.blocks:
            b.qkv, b.proj, b.fc1, b.fc2 = (LoRALinear(b.qkv, 8, 16), LoRALinear(b.proj, 8, 16),
                                           LoRALinear(b.fc1, 8, 16), LoRALinear(b.fc2, 8, 16))
        for p in model.head.parameters():
            p.requires_grad_(True)
        trainable = [p for p in model.parameters() if p.requires_grad]
        forward = lambda: model(x)  # noqa: E731
    else:
        sys.exit("unknown mode " + mode)
    opt = torch.optim.AdamW(param_groups(trainable, 1e-5, 0.05), betas=(0.9, 0.999), eps=1e-8)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(forward(), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        opt.step()
        return loss

    for _ in range(2):
        step()
    rates = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        rates.append(batch * steps / (time.perf_counter() - t0))
    print(json.dumps({"impl": "pytorch", "mode": mode, "batch": batch, "threads": threads, "steps": steps,
                      "imgPerSec": float(np.median(rates)), "reps": [round(r, 3) for r in rates],
                      "trainable": sum(p.numel() for p in trainable),
                      "peakRssMb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "torch": torch.__version__}), flush=True)


if __name__ == "__main__":
    main()
