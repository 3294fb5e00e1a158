#!/usr/bin/env bash
# CIFAR-10 fine-tuning vs frozen-backbone heads (finetune/README.md, "CIFAR-10"). Long: tens of minutes on CPU.
# Usage: finetune/bench/run.sh [WORK_DIR] [PER_CLASS_TRAIN=200] [PER_CLASS_TEST=100] [EPOCHS=3] [SEED=0]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SHARED=${VITFIT_SHARED:-$ROOT/../shared}
WORK=${1:-$ROOT/finetune/target/cifar10-finetune}
shift || true
cd "$ROOT"
mvn -q -o test-compile -pl finetune
mvn -q -o dependency:build-classpath -pl finetune -Dmdep.includeScope=test -Dmdep.outputFile=target/bench.classpath
# Run from a private copy of the classes and jars: a long run must not see them rebuilt underneath it.
SNAP="$WORK/classpath"
rm -rf "$SNAP" && mkdir -p "$SNAP/jars"
cp -r finetune/target/test-classes "$SNAP/test-classes"
cp -r finetune/target/classes "$SNAP/classes"
tr ':' '\n' < finetune/target/bench.classpath | xargs -I{} cp {} "$SNAP/jars/"
CP="$SNAP/test-classes:$SNAP/classes:$SNAP/jars/*"
java -Xmx6g -Dvitfit.shared="$SHARED" -Dvitfit.root="$ROOT" -cp "$CP" \
  org.vitfit.finetune.bench.Cifar10Benchmark "$WORK" "$@"
