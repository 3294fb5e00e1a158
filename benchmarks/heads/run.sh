#!/usr/bin/env bash
# CIFAR-10 head benchmark: vitfit's linear and MLP heads vs scikit-learn's LogisticRegression on the same ViT-Tiny
# embeddings and the same seeded 80/20 split, timed on this machine. Needs Debian's scikit-learn
# (apt-get install -y python3-sklearn; run with /usr/bin/python3). Usage: benchmarks/heads/run.sh [WORK_DIR] [SEED]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SHARED=${VITFIT_SHARED:-$ROOT/../shared}
WORK=${1:-$ROOT/target/cifar10-heads}
SEED=${2:-2024}
mkdir -p "$WORK"

if [ ! -f "$ROOT/cli/target/vitfit-cli.jar" ]; then
  (cd "$ROOT" && ./mvnw -q -B install -DskipTests)
fi
CP="$ROOT/cli/target/vitfit-cli.jar:$ROOT/cli/target/lib/*"

if [ ! -d "$WORK/images/train" ]; then
  mkdir -p "$WORK/images"
  tar -xzf "$SHARED/datasets/cifar10-train.tar.gz" -C "$WORK/images"
fi
if [ ! -f "$WORK/vit-tiny/model.onnx" ]; then
  java -cp "$CP" org.vitfit.cli.VitfitCli convert "$ROOT/models/vit-tiny-patch16-224-augreg" --output "$WORK/vit-tiny"
fi

java -Xmx8g -cp "$CP" "$ROOT/benchmarks/heads/CifarHeads.java" "$WORK/vit-tiny" "$WORK/images/train" "$WORK" "$SEED"
/usr/bin/python3 "$ROOT/benchmarks/heads/sklearn_logreg.py" "$WORK"

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(java -version 2>&1 | head -1); $(date -u +%F); load average $(cut -d" " -f1-3 /proc/loadavg)"
