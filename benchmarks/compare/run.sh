#!/usr/bin/env bash
# Side-by-side throughput of vitfit (fp32 and int8, ONNX Runtime on CPU) and PyTorch eager on the same machine, same
# ViT, same weights, same preprocessing, same thread count and batch sizes; for the bundled ViT-Tiny and a ViT-B/16-
# shaped model with random weights. Writes benchmarks/results/compare-<date>.{jsonl,md,png}.
#
#   benchmarks/compare/run.sh                      # defaults below
#   THREADS=2 REPS=5 BATCHES="8 32" benchmarks/compare/run.sh
#   DEVICE=cuda MODELS=vit-tiny benchmarks/compare/run.sh   # vitfit on the CUDA provider (build with -Pgpu), fp16 too
#
# Needs: a JDK 17, Debian's python3-torch python3-torchvision python3-pil python3-numpy python3-matplotlib
# (apt-get install -y ...; the script runs /usr/bin/python3, not a pyenv python).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SHARED=${VITFIT_SHARED:-$ROOT/../shared}
WORK=${WORK:-$ROOT/target/compare}
THREADS=${THREADS:-$(nproc)}
REPS=${REPS:-3}
BATCHES=${BATCHES:-"8 32"}
IMAGES_TINY=${IMAGES_TINY:-256}      # JPEGs per end-to-end repetition, and images per inference repetition
IMAGES_BASE=${IMAGES_BASE:-64}
MODELS=${MODELS:-"vit-tiny vit-base"}
DEVICE=${DEVICE:-cpu}
PY=/usr/bin/python3
OUT=${OUT:-$ROOT/benchmarks/results}
STAMP=$(date -u +%Y-%m-%d)
mkdir -p "$WORK" "$OUT"

if [ ! -f "$ROOT/benchmarks/target/vitfit-benchmarks-0.1.0-SNAPSHOT.jar" ]; then
  (cd "$ROOT" && ./mvnw -q -B install -pl benchmarks -am -DskipTests)
fi
CP="$ROOT/benchmarks/target/vitfit-benchmarks-0.1.0-SNAPSHOT.jar:$ROOT/benchmarks/target/lib/*"
VITFIT=${VITFIT:-$ROOT/vitfit}
harness() { java -Xmx6g -cp "$CP" org.vitfit.bench.CompareHarness "$@"; }

# Real photos of mixed sizes (Oxford-IIIT Pet), copied so both sides read the same flat folder of N JPEGs.
images() {
  local n=$1 dir="$WORK/images-$1"
  if [ ! -d "$dir" ]; then
    mkdir -p "$dir.tmp"
    find "$SHARED/datasets/oxford-pets-370" -name '*.jpg' | sort | head -n "$n" | xargs -I{} cp {} "$dir.tmp/"
    mv "$dir.tmp" "$dir"
  fi
  echo "$dir"
}

checkpoint() {
  case $1 in
    vit-tiny) echo "$ROOT/models/vit-tiny-patch16-224-augreg" ;;
    vit-base)
      if [ ! -f "$WORK/vit-base-random/model.safetensors" ]; then
        $PY "$ROOT/benchmarks/compare/torch_vit.py" random-checkpoint "$WORK/vit-base-random" 768 12 12
      fi
      echo "$WORK/vit-base-random" ;;
  esac
}

RESULTS="$OUT/compare-$STAMP.jsonl"
: > "$RESULTS"
PRECISIONS="fp32 int8"
[ "$DEVICE" != cpu ] && PRECISIONS="fp32 fp16"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT/compare-$STAMP.load"
for m in $MODELS; do
  ck=$(checkpoint "$m")
  n=$IMAGES_TINY; [ "$m" = vit-base ] && n=$IMAGES_BASE
  imgs=$(images "$n")
  for p in $PRECISIONS; do
    [ -f "$WORK/$m-$p/model.onnx" ] || "$VITFIT" convert "$ck" --precision "$p" --output "$WORK/$m-$p" --overwrite
  done
  harness startup "$WORK/$m-fp32" - 0 "$THREADS" 5 0 | tee -a "$RESULTS"
  for b in $BATCHES; do
    for p in $PRECISIONS; do
      harness infer "$WORK/$m-$p" - "$b" "$THREADS" "$REPS" "$n" "$DEVICE" | tee -a "$RESULTS"
      harness e2e "$WORK/$m-$p" "$imgs" "$b" "$THREADS" "$REPS" "$n" "$DEVICE" | tee -a "$RESULTS"
    done
    if [ "$DEVICE" = cpu ]; then
      $PY "$ROOT/benchmarks/compare/torch_vit.py" infer "$ck" "$b" "$THREADS" "$REPS" "$n" | sed "s/\"model\": \"[^\"]*\"/\"model\": \"$m\"/" | tee -a "$RESULTS"
      $PY "$ROOT/benchmarks/compare/torch_vit.py" e2e "$ck" "$b" "$THREADS" "$REPS" "$imgs" | sed "s/\"model\": \"[^\"]*\"/\"model\": \"$m\"/" | tee -a "$RESULTS"
    fi
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/compare-$STAMP.load"

# Harness lines name the model by its architecture; the table groups by the short name.
sed -i -e 's/"model":"vit_tiny_patch16_224"/"model":"vit-tiny"/' -e 's/"model":"vit_random_d768_l12_patch16_224"/"model":"vit-base"/' "$RESULTS"
java -cp "$CP" org.vitfit.bench.CompareReport "$RESULTS" "$OUT/compare-$STAMP.md"
$PY "$ROOT/benchmarks/compare/chart.py" "$RESULTS" "$OUT/compare-$STAMP.png"
{
  echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; threads $THREADS; device $DEVICE"
  echo "versions: $(java -version 2>&1 | head -1); ONNX Runtime $(ls "$ROOT"/benchmarks/target/lib | sed -n 's/^onnxruntime.*-\([0-9.]*\)\.jar$/\1/p'); torch $($PY -c 'import torch; print(torch.__version__)'); date $STAMP"
} | tee "$OUT/compare-$STAMP.machine"
