#!/usr/bin/env bash
# Side by side on one machine, in one run, same threads, batch sizes and images: vitfit (fp32; int8 calibrated and
# dynamic; ONNX Runtime on CPU) against what a user would pick instead: DJL 0.36 with its PyTorch 2.7.1 CPU engine
# (TorchScript trace of the same ViT, same weights; fp32 and int8 = quantize_dynamic), and Debian's PyTorch 1.13
# (eager fp32 and int8). Every peer is first checked to compute the same embeddings as vitfit fp32 on the timing
# images (worst cosine >= 0.999 for fp32, >= 0.97 for int8; a peer that fails is reported and not timed). The
# machine's measured GEMM peaks (ONNX Runtime's own MatMul / QGemm / DynamicQuantizeMatMul, numpy's OpenBLAS) give
# every row its fraction of peak. For the bundled ViT-Tiny and a ViT-B/16-shaped model with random weights.
# Writes benchmarks/results/compare-<date>.{jsonl,md,png,load,machine,torch-config.txt}.
#
#   benchmarks/compare/run.sh                       # defaults below; about 55 minutes on 2 idle cores
#   THREADS=2 ROUNDS=5 REPS=1 BATCHES="8 32" benchmarks/compare/run.sh
#   MODELS=vit-tiny PEERS= benchmarks/compare/run.sh            # vitfit only
#   DEVICE=cuda MODELS=vit-tiny benchmarks/compare/run.sh       # vitfit on the CUDA provider (build with -Pgpu): fp32, fp16
#
# Needs: a JDK 17; Debian's python3-torch python3-torchvision python3-pil python3-numpy python3-matplotlib (the script
# runs /usr/bin/python3, not a pyenv python); Maven Central once, for DJL's jars (benchmarks/compare/djl/pom.xml).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SHARED=${VITFIT_SHARED:-$ROOT/../shared}
WORK=${WORK:-$ROOT/target/compare}
THREADS=${THREADS:-$(nproc)}
REPS=${REPS:-1}          # timed repetitions per implementation and round, after one warm-up
ROUNDS=${ROUNDS:-3}      # interleaved rounds; a row's median is over ROUNDS x REPS repetitions
BATCHES=${BATCHES:-"8 32"}
IMAGES_TINY=${IMAGES_TINY:-128}      # JPEGs per end-to-end repetition, and images per inference repetition
IMAGES_BASE=${IMAGES_BASE:-32}
CALIBRATION_TINY=${CALIBRATION_TINY:-256}   # pet photos the calibrated int8 models are calibrated on
CALIBRATION_BASE=${CALIBRATION_BASE:-64}    # (ViT-B has random weights here: its calibration only sets speed)
MODELS=${MODELS:-"vit-tiny vit-base"}
PEERS=${PEERS-"djl torch"}
DEVICE=${DEVICE:-cpu}
PY=/usr/bin/python3
OUT=${OUT:-$ROOT/benchmarks/results}
STAMP=$(date -u +%Y-%m-%d)
mkdir -p "$WORK" "$OUT"

# Build with the reactor (never `install`: ~/.m2 is shared); the CLI jar converts, the benchmarks jar measures.
(cd "$ROOT" && ./mvnw -q -B -pl benchmarks,cli -am package -DskipTests)
CP="$ROOT/benchmarks/target/vitfit-benchmarks-0.1.0-SNAPSHOT.jar:$ROOT/benchmarks/target/lib/*"
harness() { java -Xmx6g -cp "$CP" org.vitfit.bench.CompareHarness "$@"; }
vitfit() { java -Xmx8g -jar "$ROOT/cli/target/vitfit-cli.jar" "$@"; }
DJL_LIB="$ROOT/benchmarks/compare/djl/target/djl-lib"
if [[ " $PEERS " == *" djl "* ]]; then
  [ -d "$DJL_LIB" ] || (cd "$ROOT" && ./mvnw -q -B -f benchmarks/compare/djl/pom.xml dependency:copy-dependencies \
    -DoutputDirectory=target/djl-lib)
fi
# DJL unpacks its natives from the class path into this folder (ai.djl.offline: it downloads nothing).
# PyTorch's profiling graph executor off, as DJL's performance guide advises for inference (DJL's default is on;
# DJL_GRAPH_OPTIMIZER=true measures that): 25.7 against 27.2 ms per image on one thread, ViT-Tiny, 2026-11-30.
djl() { java -Xmx6g -DDJL_CACHE_DIR="$WORK/djl-cache" -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
  -Dai.djl.pytorch.graph_optimizer="${DJL_GRAPH_OPTIMIZER:-false}" \
  -cp "$DJL_LIB/*:$CP" "$ROOT/benchmarks/compare/djl/DjlHarness.java" "$@"; }
torch() { $PY "$ROOT/benchmarks/compare/torch_vit.py" "$@"; }

# Real photos of mixed sizes (Oxford-IIIT Pet), copied so every side reads the same flat folder of N JPEGs.
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
        torch random-checkpoint "$WORK/vit-base-random" 768 12 12
      fi
      echo "$WORK/vit-base-random" ;;
  esac
}

RESULTS="$OUT/compare-$STAMP.jsonl"
: > "$RESULTS"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT/compare-$STAMP.load"
$PY -c 'import torch; print(torch.__version__); print(torch.__config__.show())' > "$OUT/compare-$STAMP.torch-config.txt"
if [ "$DEVICE" = cpu ]; then
  # Several sizes: which product is fastest depends on the CPU's caches and on the library (2026-11-30, Intel Xeon:
  # ONNX Runtime's 2048^2 MatMul 191 GFLOP/s while whole ViT-B models ran at 228-272).
  for size in 1024 2048 4096; do
    java -cp "$CP" org.vitfit.bench.GemmPeak --threads "$THREADS" --size "$size" | tee -a "$RESULTS"
    [[ " $PEERS " != *" djl "* ]] || djl peak "$size" "$THREADS" 5 | tee -a "$RESULTS"
  done
  $PY "$ROOT/benchmarks/compare/peak_numpy.py" "$THREADS" | tee -a "$RESULTS"
fi

# A peer is timed only if it computes vitfit fp32's embeddings: parity LABEL MIN_COSINE EMBEDDINGS.f32
parity() {
  $PY "$ROOT/benchmarks/compare/parity.py" "$REF" "$3" "$DIM" "$2" "$1" | tee -a "$RESULTS"
}

for m in $MODELS; do
  ck=$(checkpoint "$m")
  n=$IMAGES_TINY; cal=$CALIBRATION_TINY
  [ "$m" = vit-base ] && n=$IMAGES_BASE && cal=$CALIBRATION_BASE
  imgs=$(images "$n")
  [ -f "$WORK/$m-fp32/model.onnx" ] || vitfit convert "$ck" --output "$WORK/$m-fp32" --overwrite
  VARIANTS="fp32"
  if [ "$DEVICE" = cpu ]; then
    VARIANTS="fp32 int8 int8-dynamic"
    [ -f "$WORK/$m-int8/model.onnx" ] || vitfit convert "$ck" --precision int8 --calibration \
      "$SHARED/datasets/oxford-pets-370" --calibration-images "$cal" --output "$WORK/$m-int8" --overwrite
    [ -f "$WORK/$m-int8-dynamic/model.onnx" ] || vitfit convert "$ck" --precision int8 \
      --output "$WORK/$m-int8-dynamic" --overwrite
  else
    VARIANTS="fp32 fp16"
    [ -f "$WORK/$m-fp16/model.onnx" ] || vitfit convert "$ck" --precision fp16 --output "$WORK/$m-fp16" --overwrite
  fi
  REF="$WORK/$m-embeddings-vitfit-fp32.f32"
  harness embed "$WORK/$m-fp32" "$imgs" > "$REF"
  DIM=$($PY -c "import json; print(json.load(open('$WORK/$m-fp32/vitfit-model.json'))['embeddingDim'])")
  for v in $VARIANTS; do
    [ "$v" = fp32 ] || { harness embed "$WORK/$m-$v" "$imgs" > "$WORK/$m-embeddings-vitfit-$v.f32"
      parity "vitfit $v" 0.99 "$WORK/$m-embeddings-vitfit-$v.f32" || true; }
  done
  TIMED=""
  if [ "$DEVICE" = cpu ]; then
    for peer in $PEERS; do
      for p in fp32 int8; do
        min=0.999; [ $p = int8 ] && min=0.97
        if [ "$peer" = djl ]; then
          [ -f "$WORK/$m-$p.pt" ] || torch trace "$ck" "$WORK/$m-$p.pt" "$p"
          djl embed "$WORK/$m-$p.pt" "$WORK/$m-fp32" "$imgs" "$WORK/$m-embeddings-djl-$p.f32"
        else
          pre=""; [ $p = int8 ] && pre="int8"
          torch $pre embed "$ck" "$imgs" "$WORK/$m-embeddings-torch-$p.f32"
        fi
        if parity "$peer $p" $min "$WORK/$m-embeddings-$peer-$p.f32"; then
          TIMED="$TIMED $peer-$p"
        else
          echo "warning: $peer $p does not compute vitfit's embeddings on $m; not timed" >&2
        fi
      done
    done
  fi
  harness startup "$WORK/$m-fp32" - 0 "$THREADS" 5 0 | tee -a "$RESULTS"
  # Interleaved rounds: every implementation runs once per round (REPS repetitions after a warm-up), each round
  # starting one place further down the list, and the report pools the rounds. A shared machine's speed drifts by
  # tens of percent over minutes (2026-11-30: vitfit fp32 ViT-Tiny 48 img/s in one run, 72-81 an hour later); timed
  # back to back, that drift lands on whichever implementation ran then and shows up as a ratio.
  for b in $BATCHES; do
    JOBS=()
    for v in $VARIANTS; do JOBS+=("vitfit $v"); done
    for t in $TIMED; do JOBS+=("${t%%-*} ${t#*-}"); done
    for ((round = 0; round < ROUNDS; round++)); do
      echo "== $m batch $b round $((round + 1))/$ROUNDS ($(cut -d' ' -f1 /proc/loadavg))" >&2
      for ((j = 0; j < ${#JOBS[@]}; j++)); do
        read -r who p <<< "${JOBS[$(( (j + round) % ${#JOBS[@]} ))]}"
        case $who in
          vitfit)
            harness infer "$WORK/$m-$p" - "$b" "$THREADS" "$REPS" "$n" "$DEVICE" | tee -a "$RESULTS"
            harness e2e "$WORK/$m-$p" "$imgs" "$b" "$THREADS" "$REPS" "$n" "$DEVICE" | tee -a "$RESULTS" ;;
          djl)
            djl infer "$WORK/$m-$p.pt" "$WORK/$m-fp32" "$b" "$THREADS" "$REPS" "$n" "$p" | tee -a "$RESULTS"
            djl e2e "$WORK/$m-$p.pt" "$WORK/$m-fp32" "$b" "$THREADS" "$REPS" "$imgs" "$p" | tee -a "$RESULTS" ;;
          torch)
            pre=""; [ "$p" = int8 ] && pre="int8"
            torch $pre infer "$ck" "$b" "$THREADS" "$REPS" "$n" | sed "s/\"model\": \"[^\"]*\"/\"model\": \"$m\"/" | tee -a "$RESULTS"
            torch $pre e2e "$ck" "$b" "$THREADS" "$REPS" "$imgs" | sed "s/\"model\": \"[^\"]*\"/\"model\": \"$m\"/" | tee -a "$RESULTS" ;;
        esac
      done
    done
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/compare-$STAMP.load"

# Harness lines name the model by its architecture; the table groups by the short name.
sed -i -e 's/"model":"vit_tiny_patch16_224"/"model":"vit-tiny"/' -e 's/"model":"vit_random_d768_l12_patch16_224"/"model":"vit-base"/' "$RESULTS"
java -cp "$CP" org.vitfit.bench.CompareReport "$RESULTS" "$OUT/compare-$STAMP.md"
$PY "$ROOT/benchmarks/compare/chart.py" "$RESULTS" "$OUT/compare-$STAMP.png"
{
  echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores ($(grep -o -m1 -w 'avx512_vnni\|amx_int8' /proc/cpuinfo | sort -u | tr '\n' ' ')); threads $THREADS; device $DEVICE"
  echo "versions: $(java -version 2>&1 | head -1); ONNX Runtime $(ls "$ROOT"/benchmarks/target/lib | sed -n 's/^onnxruntime.*-\([0-9.]*\)\.jar$/\1/p'); DJL 0.36.0 + PyTorch 2.7.1 (CPU); Debian torch $($PY -c 'import torch; print(torch.__version__)'); date $STAMP"
} | tee "$OUT/compare-$STAMP.machine"
