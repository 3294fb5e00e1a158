#!/usr/bin/env bash
# CIFAR-10: frozen-backbone heads vs fine-tuning (last 2 blocks, LoRA r=8, full) — finetune/README.md, "CIFAR-10".
# Long: about an hour on 2 idle cores.
# Usage: finetune/bench/run.sh [WORK_DIR] [PER_CLASS_TRAIN=200] [PER_CLASS_TEST=100] [EPOCHS=3] [SEED=0]
#                              [VARIANTS=frozen,blocks2,lora8,full]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SHARED=${VITFIT_SHARED:-$ROOT/../shared}
WORK=${1:-$ROOT/finetune/target/cifar10-finetune}
shift || true
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
cd "$ROOT"
# Build in the reactor (nothing is installed into ~/.m2) and list the classpath.
./mvnw -q -B -o -pl finetune -am test-compile dependency:build-classpath -Dmdep.includeScope=test \
  -Dmdep.outputFile="$WORK/bench.classpath"
# Run from a private copy of the classes and jars: a long run must not see them rebuilt underneath it.
SNAP="$WORK/classpath"
rm -rf "$SNAP" && mkdir -p "$SNAP/jars"
CP="$SNAP/test-classes:$SNAP/classes"
cp -r finetune/target/test-classes "$SNAP/test-classes"
cp -r finetune/target/classes "$SNAP/classes"
i=0
for entry in $(tr ':' '\n' < "$WORK/bench.classpath"); do
  if [ -d "$entry" ]; then
    i=$((i + 1)); cp -r "$entry" "$SNAP/module$i"; CP="$CP:$SNAP/module$i"
  else
    cp "$entry" "$SNAP/jars/"
  fi
done
CP="$CP:$SNAP/jars/*"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
java -Xmx6g -Dvitfit.shared="$SHARED" -Dvitfit.root="$ROOT" -cp "$CP" \
  org.vitfit.finetune.bench.Cifar10Benchmark "$WORK" "$@"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(java -version 2>&1 | head -1); $(date -u)"
