#!/usr/bin/env bash
# Fine-tuning step speed: vitfit finetune's training step against Debian's PyTorch eager (torch.optim.AdamW) on the same
# ViT, batch and threads, as a fraction of this machine's float32 GEMM peak; and seconds per epoch of full fine-tuning
# against --train-blocks 2 with the frozen layers cached, on real CIFAR-10 images. See benchmarks/README.md.
#
# Usage: benchmarks/finetune/run.sh [WORK_DIR]   (environment: THREADS=2 BATCH=32 STEPS=6 REPS=3 EPOCH_IMAGES=48)
# Needs python3-torch (Debian) at /usr/bin/python3. About 15 minutes on 2 cores.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SHARED=${VITFIT_SHARED:-$ROOT/../shared}
WORK=${1:-$ROOT/target/finetune-bench}
THREADS=${THREADS:-2}
BATCH=${BATCH:-32}
STEPS=${STEPS:-6}
REPS=${REPS:-3}
PER_CLASS=${EPOCH_IMAGES:-48}
CHECKPOINT=$ROOT/models/vit-tiny-patch16-224-augreg
mkdir -p "$WORK"
OUT=$WORK/results-$(date -u +%F).jsonl
: > "$OUT"

# Build without installing anything into ~/.m2: the CLI jar and its dependencies in cli/target/lib.
(cd "$ROOT" && ./mvnw -q -B -o -pl cli,benchmarks -am package -DskipTests)
CP="$ROOT/cli/target/vitfit-cli.jar:$ROOT/cli/target/lib/*"
BENCH_CP="$ROOT/benchmarks/target/vitfit-benchmarks-0.1.0-SNAPSHOT.jar:$ROOT/benchmarks/target/lib/*"
BENCH="$ROOT/benchmarks/finetune/FinetuneBench.java"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$WORK/load.txt"

# The physical reference: ONNX Runtime's own float32 MatMul on a 4096 x 4096 product, same threads (GemmPeak, the
# peak tool of benchmarks/compare too; its int8 lines are not needed here).
java -cp "$BENCH_CP" org.vitfit.bench.GemmPeak --threads "$THREADS" --size 4096 --reps "$REPS" \
  | grep '"precision":"fp32"' | tee -a "$OUT"

for MODE in ${MODES:-full blocks2 lora8}; do
  java -Xmx2g -cp "$CP" "$BENCH" step "$CHECKPOINT" "$MODE" "$BATCH" "$THREADS" "$STEPS" "$REPS" | tee -a "$OUT"
done
for MODE in ${TORCH_MODES:-full blocks2 blocks2-cached lora8}; do
  /usr/bin/python3 "$ROOT/benchmarks/finetune/torch_train.py" "$CHECKPOINT" "$MODE" "$BATCH" "$THREADS" "$STEPS" "$REPS" \
    | tee -a "$OUT"
done

# Seconds per epoch on real images: 10 classes x PER_CLASS CIFAR-10 JPEGs (a tenth held out for validation), no
# augmentation for both so they see the same pixels; epoch 2 is the steady state (the cache is filled before epoch 1).
if [ ! -d "$WORK/images/train" ]; then
  mkdir -p "$WORK/images" && tar -xzf "$SHARED/datasets/cifar10-train.tar.gz" -C "$WORK/images"
fi
EPOCH_DATA=$WORK/epoch-images
rm -rf "$EPOCH_DATA"
for dir in "$WORK"/images/train/*/; do
  c=$(basename "$dir"); mkdir -p "$EPOCH_DATA/$c"
  n=0
  while IFS= read -r f; do
    cp "$f" "$EPOCH_DATA/$c/"; n=$((n + 1)); [ "$n" -ge "$PER_CLASS" ] && break
  done < <(find "$dir" -name '*.jpg' | sort)
done
for MODE in full blocks2; do
  EXTRA=(); [ "$MODE" = blocks2 ] && EXTRA=(--train-blocks 2)
  rm -rf "$WORK/epoch-$MODE" "$WORK/epoch-$MODE.finetune-state"
  java -cp "$CP" org.vitfit.cli.VitfitCli finetune --model "$CHECKPOINT" --input "$EPOCH_DATA" \
    --output "$WORK/epoch-$MODE" --epochs 2 --batch-size "$BATCH" --threads "$THREADS" --no-augment --patience 0 \
    "${EXTRA[@]}" | tee "$WORK/epoch-$MODE.log"
  /usr/bin/python3 - "$MODE" "$WORK/epoch-$MODE.log" >> "$OUT" <<'PY'
import json, re, sys
mode, log = sys.argv[1], open(sys.argv[2]).read()
epochs = [float(s) for s in re.findall(r"epoch \d+/\d+: .*\| ([0-9.]+) s \(", log)]
fill = re.findall(r"frozen layers computed in ([0-9.]+) s", log)
print(json.dumps({"impl": "vitfit", "mode": "epoch-" + mode, "epochSeconds": epochs,
                  "cacheFillSeconds": float(fill[0]) if fill else 0.0}))
PY
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$WORK/load.txt"

MACHINE="$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(java -version 2>&1 | head -1); $(date -u +%F); $(tr '\n' ' ' < "$WORK/load.txt")"
/usr/bin/python3 "$ROOT/benchmarks/finetune/table.py" "$OUT" "$MACHINE" | tee "$WORK/results-$(date -u +%F).md"
