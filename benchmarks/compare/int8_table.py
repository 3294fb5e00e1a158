#!/usr/bin/python3
"""Markdown table of int8_accuracy.sh's results: int8_table.py RESULTS.jsonl CALIBRATED_MODEL/vitfit-model.json"""
import json
import sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
probe = {r["precision"]: r for r in rows if r["impl"] == "probe"}
cos = {r["peer"]: r for r in rows if r["impl"] == "parity"}
q = json.load(open(sys.argv[2]))["quantization"]
names = {"fp32": "fp32", "int8": "int8 calibrated", "int8-dynamic": "int8 dynamic"}
print("| embeddings | linear head | MLP head | scikit-learn LogisticRegressionCV | embedding cosine with fp32: pets worst / mean"
      " | CIFAR-10 (1,000) worst / mean | extraction img/s |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
base = probe.get("fp32")
for p in ("fp32", "int8", "int8-dynamic"):
    r = probe.get(p)
    if r is None:
        continue

    def acc(key):
        delta = "" if p == "fp32" or base is None else f" ({100 * (r[key] - base[key]):+.2f} pt)"
        return f"{100 * r[key]:.2f}%{delta}"

    def c(name):
        v = cos.get(f"{p} on {name}")
        return "1" if p == "fp32" else f"{v['worst_cosine']:.4f} / {v['mean_cosine']:.4f}" if v else "–"

    print(f"| {names[p]} | {acc('linear')} | {acc('mlp')} | {acc('sklearn')} | {c('pets')} | {c('cifar')} "
          f"| {r['images'] / r['extract_seconds']:.0f} |")
print()
print(f"CIFAR-10: {base['images'] if base else '?'} training JPEGs, {base['test'] if base else '?'} test rows (seed 2024). "
      f"Calibrated int8: {q['calibration']['images']} CIFAR-10 training photos; float layers: "
      + ", ".join(f"{k} ({v})" for k, v in q.get("floatLayers", {}).items()) + ".")
