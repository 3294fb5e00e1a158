#!/usr/bin/env bash
# Times the README quick start's 'vitfit train' (37 pet breeds, 185 training rows, default linear head) five times;
# prints each run's fit time (the 'fit took' figure: C search by 5-fold cross-validation plus the final fit) and the
# whole command's wall time. Usage: benchmarks/heads/pets.sh [WORK_DIR]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SHARED=${VITFIT_SHARED:-$ROOT/../shared}
WORK=${1:-$ROOT/target/pets-time}
mkdir -p "$WORK"
if [ ! -f "$ROOT/cli/target/vitfit-cli.jar" ]; then
  (cd "$ROOT" && ./mvnw -q -B -pl cli -am package -DskipTests)
fi
VITFIT="java -jar $ROOT/cli/target/vitfit-cli.jar"
[ -f "$WORK/vit-tiny/model.onnx" ] || $VITFIT convert "$ROOT/models/vit-tiny-patch16-224-augreg" --output "$WORK/vit-tiny"
$VITFIT extract --model "$WORK/vit-tiny" --input "$SHARED/datasets/oxford-pets-370" --output "$WORK/pets-cache" > /dev/null
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for i in 1 2 3 4 5; do
  start=$(date +%s.%N)
  $VITFIT train --cache "$WORK/pets-cache" --head linear --fractions 0.5,0,0.5 --seed 7 --output "$WORK/pets-head" \
    --overwrite 2> /dev/null | grep -E "^rows:|^test:"
  echo "command wall time: $(echo "$(date +%s.%N) - $start" | bc) s"
done
echo "machine: $(nproc) cores; $(java -version 2>&1 | head -1); $(date -u +%F); load average after $(cut -d' ' -f1-3 /proc/loadavg)"
