#!/usr/bin/env bash
# The int8 accuracy table: CIFAR-10 full linear probe (all 50,000 training JPEGs, benchmarks/heads protocol: seed
# 2024, 20% stratified test) on fp32, calibrated int8 and dynamic int8 embeddings of the bundled ViT-Tiny: vitfit's
# default linear head, its MLP head and scikit-learn's LogisticRegressionCV; plus embedding cosines with fp32 on the 370 pet photos and on
# 1,000 CIFAR-10 photos (the first 100 of each class). Writes benchmarks/results/int8-accuracy-<date>.{md,jsonl}.
# About 7 minutes of extraction per precision on 2 idle cores plus the heads' own runs (benchmarks/heads/run.sh, COCO
# mini included): about 40 minutes in all.
#
#   benchmarks/compare/int8_accuracy.sh [WORK_DIR]
#   INT8="int8" benchmarks/compare/int8_accuracy.sh      # calibrated int8 only (fp32 always runs: it is the reference)
#   REUSE_HEADS=1 ...                                      # keep heads results already in WORK_DIR (after an interrupted run)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SHARED=${VITFIT_SHARED:-$ROOT/../shared}
WORK=${1:-$ROOT/target/int8-accuracy}
PY=/usr/bin/python3
OUT=${OUT:-$ROOT/benchmarks/results}
STAMP=$(date -u +%Y-%m-%d)
mkdir -p "$WORK" "$OUT"
(cd "$ROOT" && ./mvnw -q -B -pl benchmarks,cli -am package -DskipTests)
CP="$ROOT/benchmarks/target/vitfit-benchmarks-0.1.0-SNAPSHOT.jar:$ROOT/benchmarks/target/lib/*"

INT8=${INT8:-"int8 int8-dynamic"}
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT/int8-accuracy-$STAMP.load"
for p in fp32 $INT8; do
  if [ -n "${REUSE_HEADS:-}" ] && [ -f "$WORK/$p/java-results.json" ] && [ -f "$WORK/$p/sklearn-results.json" ]; then
    echo "$p: reusing the heads results in $WORK/$p (REUSE_HEADS)"
  else
    PRECISION=$p "$ROOT/benchmarks/heads/run.sh" "$WORK/$p" 2024
  fi
done

RESULTS="$OUT/int8-accuracy-$STAMP.jsonl"
: > "$RESULTS"
CIFAR="$WORK/cifar-1000"
if [ ! -d "$CIFAR" ]; then
  mkdir -p "$CIFAR.tmp"
  for c in "$WORK"/fp32/images/train/*/; do
    # sed reads to the end: head would close the pipe early and pipefail would stop the script on sort's SIGPIPE.
    find "$c" -name '*.jpg' | sort | sed -n '1,100p' | while read -r f; do cp "$f" "$CIFAR.tmp/$(basename "$c")-$(basename "$f")"; done
  done
  mv "$CIFAR.tmp" "$CIFAR"
fi
for set in pets:"$SHARED/datasets/oxford-pets-370" cifar:"$CIFAR"; do
  name=${set%%:*}; dir=${set#*:}
  java -cp "$CP" org.vitfit.bench.CompareHarness embed "$WORK/fp32/vit-tiny" "$dir" > "$WORK/$name-fp32.f32"
  for p in $INT8; do
    java -cp "$CP" org.vitfit.bench.CompareHarness embed "$WORK/$p/vit-tiny-$p" "$dir" > "$WORK/$name-$p.f32"
    $PY "$ROOT/benchmarks/compare/parity.py" "$WORK/$name-fp32.f32" "$WORK/$name-$p.f32" 192 0 "$p on $name" \
      | tee -a "$RESULTS"
  done
done
for p in fp32 $INT8; do
  $PY -c "import json,sys; j=json.load(open('$WORK/$p/java-results.json')); s=json.load(open('$WORK/$p/sklearn-results.json')); print(json.dumps({'impl':'probe','precision':'$p','linear':j['linear']['accuracy'],'mlp':j['mlp']['accuracy'],'sklearn':s['cv']['accuracy'],'extract_seconds':j['extract_seconds'],'images':j['images'],'test':j['test']}))" | tee -a "$RESULTS"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/int8-accuracy-$STAMP.load"
$PY "$ROOT/benchmarks/compare/int8_table.py" "$RESULTS" "$WORK/int8/vit-tiny-int8/vitfit-model.json" \
  | tee "$OUT/int8-accuracy-$STAMP.md"
