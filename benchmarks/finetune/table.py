#!/usr/bin/python3
"""The markdown table of benchmarks/finetune/run.sh from its JSON lines: img/s, GFLOP/s, fraction of the GEMM peak,
ratio to PyTorch eager, peak resident memory; then seconds per epoch. Usage: table.py RESULTS.jsonl MACHINE_LINE"""
import json
import sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
peak_row = next(r for r in rows if r["impl"] == "peak" and r["precision"] == "fp32")
peak = peak_row["gflops"]
# GemmPeak keeps every thread busy for the whole product, so its GFLOP per CPU-second is the peak over the threads.
peak_cpu = peak / peak_row["threads"]
vit = {r["mode"]: r for r in rows if r["impl"] == "vitfit" and "imgPerSec" in r}
torch = {r["mode"]: r for r in rows if r["impl"] == "pytorch"}
names = {"full": "full fine-tuning", "blocks2": "--train-blocks 2 (frozen layers cached)",
         "lora8": "LoRA r=8 on qkv, proj, fc1, fc2"}
print(f"Machine: {sys.argv[2]}. GEMM peak (ONNX Runtime MatMul 4096x4096, same threads): {peak:.0f} GFLOP/s, "
      f"{peak_cpu:.0f} per CPU-second.\n")
print("| mode | vitfit img/s | GFLOP/s | of peak | of peak (CPU time) | peak RSS | PyTorch eager img/s | PyTorch RSS "
      "| vitfit / PyTorch |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for mode, name in names.items():
    v = vit.get(mode)
    if v is None:
        continue
    t = torch.get(mode)
    cpu = f"{100 * v['gflopPerCpuSecond'] / peak_cpu:.0f}%" if peak_cpu and "gflopPerCpuSecond" in v else "-"
    cells = [name, f"{v['imgPerSec']:.1f}", f"{v['gflops']:.0f}", f"{100 * v['gflops'] / peak:.0f}%", cpu,
             f"{v['peakRssMb'] / 1024:.2f} GB"]
    cells += [f"{t['imgPerSec']:.1f}", f"{t['peakRssMb'] / 1024:.2f} GB", f"{v['imgPerSec'] / t['imgPerSec']:.2f}x"] \
        if t else ["-", "-", "-"]
    print("| " + " | ".join(cells) + " |")
if "blocks2-cached" in torch and "blocks2" in vit:
    t = torch["blocks2-cached"]
    print(f"\nPyTorch eager on cached tokens (the same work as vitfit's --train-blocks 2): {t['imgPerSec']:.1f} img/s "
          f"(vitfit {vit['blocks2']['imgPerSec'] / t['imgPerSec']:.2f}x).")
epochs = {r["mode"]: r for r in rows if r.get("mode", "").startswith("epoch-")}
if "epoch-full" in epochs and "epoch-blocks2" in epochs:
    full, part = epochs["epoch-full"]["epochSeconds"], epochs["epoch-blocks2"]["epochSeconds"]
    print(f"\nSeconds per epoch (training + validation + checkpoint), epoch 1 / epoch 2: full fine-tuning "
          f"{full[0]:.1f} / {full[-1]:.1f}; --train-blocks 2 {part[0]:.1f} / {part[-1]:.1f} after "
          f"{epochs['epoch-blocks2']['cacheFillSeconds']:.1f} s computing the frozen layers once; "
          f"steady-state ratio {full[-1] / part[-1]:.1f}x.")
