#!/usr/bin/env bash
# Head benchmarks: vitfit's default linear head (L2 logistic regression by L-BFGS, C chosen by 5-fold cross-validation,
# untuned), the SGD linear head and (CIFAR-10) the MLP against scikit-learn's LogisticRegression at every C of the
# same grid, on the same ViT-Tiny embeddings and the same rows, timed in the same run on this machine:
#   CIFAR-10 full (50,000 training JPEGs, seeded 80/20 stratified split) and COCO mini (159 images, 80 labels,
#   the manifest's train/val split). Needs Debian's scikit-learn (apt-get install -y python3-sklearn).
# Usage: benchmarks/heads/run.sh [WORK_DIR] [SEED]   (extraction is incremental: a rerun only re-hashes the images)
# PRECISION=int8 embeds with a calibrated int8 model (calibrated on CALIBRATION_IMAGES of the CIFAR-10 training photos,
# as a user would), PRECISION=int8-dynamic with the dynamic one; give each precision its own WORK_DIR.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SHARED=${VITFIT_SHARED:-$ROOT/../shared}
WORK=${1:-$ROOT/target/cifar10-heads}
SEED=${2:-2024}
mkdir -p "$WORK"

# the reactor build of the CLI and its dependencies (never 'install': ~/.m2 may be shared)
if [ ! -f "$ROOT/cli/target/vitfit-cli.jar" ]; then
  (cd "$ROOT" && ./mvnw -q -B -pl cli -am package -DskipTests)
fi
CP="$ROOT/cli/target/vitfit-cli.jar:$ROOT/cli/target/lib/*"

if [ ! -d "$WORK/images/train" ]; then
  mkdir -p "$WORK/images"
  tar -xzf "$SHARED/datasets/cifar10-train.tar.gz" -C "$WORK/images"
fi
PRECISION=${PRECISION:-fp32}
MODEL="$WORK/vit-tiny"
case $PRECISION in
  fp32) CONVERT=() ;;
  int8) MODEL="$WORK/vit-tiny-int8"; CONVERT=(--precision int8 --calibration "$WORK/images/train"
          --calibration-images "${CALIBRATION_IMAGES:-256}") ;;
  int8-dynamic) MODEL="$WORK/vit-tiny-int8-dynamic"; CONVERT=(--precision int8) ;;
  *) echo "PRECISION must be fp32, int8 or int8-dynamic" >&2; exit 2 ;;
esac
if [ ! -f "$MODEL/model.onnx" ]; then
  java -cp "$CP" org.vitfit.cli.VitfitCli convert "$ROOT/models/vit-tiny-patch16-224-augreg" --output "$MODEL" "${CONVERT[@]}"
fi

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
java -Xmx8g -cp "$CP" "$ROOT/benchmarks/heads/CocoHeads.java" "$MODEL" \
  "$SHARED/datasets/coco-mini-multilabel/labels.csv" "$WORK/coco"
/usr/bin/python3 "$ROOT/benchmarks/heads/sklearn_heads.py" "$WORK/coco" multilabel > /dev/null
java -Xmx8g -cp "$CP" "$ROOT/benchmarks/heads/CifarHeads.java" "$MODEL" "$WORK/images/train" "$WORK" "$SEED"
/usr/bin/python3 "$ROOT/benchmarks/heads/sklearn_heads.py" "$WORK" multiclass > /dev/null
/usr/bin/python3 "$ROOT/benchmarks/heads/table.py" "$WORK" "$WORK/coco"

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(java -version 2>&1 | head -1); $(date -u +%F); load average after $(cut -d' ' -f1-3 /proc/loadavg)"
