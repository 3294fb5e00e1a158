#!/usr/bin/python3
"""Bar chart of a comparison run: img/s (median, min-max error bars) per model / mode / batch, one bar per
implementation (vitfit, DJL + PyTorch 2.7.1, Debian PyTorch 1.13). Usage: chart.py RESULTS.jsonl OUT.png (Debian's python3-matplotlib)."""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ORDER = ["vitfit fp32", "vitfit int8 static", "vitfit int8 dynamic", "vitfit fp16", "djl-pytorch fp32",
         "djl-pytorch int8", "pytorch int8", "pytorch fp32"]
LABELS = {"vitfit int8 static": "vitfit int8 calibrated", "djl-pytorch fp32": "DJL + PyTorch 2.7.1 fp32",
          "djl-pytorch int8": "DJL + PyTorch 2.7.1 int8", "pytorch fp32": "PyTorch 1.13 eager",
          "pytorch int8": "PyTorch 1.13 int8"}


def series_of(r):
    s = r["impl"] + " " + r["precision"]
    return s + " " + r.get("quantization", "dynamic") if s == "vitfit int8" else s


rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
rows = [r for r in rows if r["impl"] not in ("peak", "parity") and r["mode"] != "startup"]
groups = sorted({(r["model"], r["mode"], r["batch"]) for r in rows})
series = sorted({series_of(r) for r in rows}, key=lambda s: ORDER.index(s) if s in ORDER else len(ORDER))
fig, axes = plt.subplots(1, len({g[0] for g in groups}), figsize=(6 * len({g[0] for g in groups}), 4.5), squeeze=False)
for ax, model in zip(axes[0], sorted({g[0] for g in groups})):
    gs = [g for g in groups if g[0] == model]
    width = 0.8 / len(series)
    for i, name in enumerate(series):
        med, lo, hi = [], [], []
        for g in gs:
            m = [r for r in rows if (r["model"], r["mode"], r["batch"]) == g and series_of(r) == name]
            v = m[0] if m else None
            med.append(v["median"] if v else 0)
            lo.append(max(0.0, v["median"] - min(v["reps"])) if v else 0)
            hi.append(max(0.0, max(v["reps"]) - v["median"]) if v else 0)
        xs = [j + i * width for j in range(len(gs))]
        ax.bar(xs, med, width, yerr=[lo, hi], capsize=2, label=LABELS.get(name, name))
    ax.set_xticks([j + width * (len(series) - 1) / 2 for j in range(len(gs))])
    ax.set_xticklabels([f"{'end-to-end' if g[1] == 'e2e' else 'inference'}\nbatch {g[2]}" for g in gs], fontsize=8)
    ax.set_title(model)
    ax.set_ylabel("images / s (median)")
    ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=110)
