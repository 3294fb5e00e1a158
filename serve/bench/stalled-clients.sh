#!/usr/bin/env bash
# The serve README's stalled-client figures: the old server (the JDK's com.sun.net.httpserver, the last commit before
# the Jetty server) and the current one, side by side on one machine, each started with `vitfit serve --threads 2`
# on the same classifier and heap, each measured by the same client (serve's StalledClientsLoad):
#   - no stalled connections, then 64 stalled connections (32 inside their headers, 32 inside their body);
#   - the slowest of three GET /health, then 200 POST /predict of one pet photo, 16 at a time, within a 240 s budget;
#   - RSS, peak RSS and thread count of the server process before and after the load.
#
# Usage (from the checkout root; needs ../shared, about 10 minutes):
#   serve/bench/stalled-clients.sh [OLD_COMMIT]
# Results: serve/bench/results/stalled-clients-DATE.{jsonl,machine,md}
set -euo pipefail

ROOT=$(pwd)
[ -f serve/bench/stalled-clients.sh ] || { echo "run from the checkout root" >&2; exit 2; }
SHARED=${VITFIT_SHARED:-$ROOT/../shared}
WORK=$ROOT/serve/target/bench
OUT=$ROOT/serve/bench/results
DATE=$(date -u +%Y-%m-%d)
# The last commit with the JDK server: the parent of the commit that removed its hand-written multipart parser.
OLD=${1:-$(git log -1 --format=%H --diff-filter=D -- serve/src/main/java/org/vitfit/serve/Multipart.java)^}
OLD=$(git rev-parse "$OLD")
STALLED_SET=${STALLED_SET:-"0 64"}
REQUESTS=${REQUESTS:-200}
CONCURRENCY=${CONCURRENCY:-16}
BUDGET_S=${BUDGET_S:-240}
HEAP=${HEAP:--Xmx1g}
PHOTO=$SHARED/datasets/oxford-pets-370/pug/$(ls "$SHARED/datasets/oxford-pets-370/pug" | sort | head -1)
mkdir -p "$WORK" "$OUT"

echo "== building the current CLI and serve's test classes"
./mvnw -B -o -q -pl cli -am package -DskipTests
./mvnw -B -o -q -pl serve -am test-compile
NEW_JAR=$ROOT/cli/target/vitfit-cli.jar

echo "== building the old CLI ($OLD)"
if [ ! -f "$WORK/old-$OLD/cli/target/vitfit-cli.jar" ]; then
  rm -rf "$WORK/old-$OLD" && mkdir -p "$WORK/old-$OLD"
  git archive "$OLD" | tar -x -C "$WORK/old-$OLD"
  (cd "$WORK/old-$OLD" && ./mvnw -B -o -q -pl cli -am package -DskipTests)
fi
OLD_JAR=$WORK/old-$OLD/cli/target/vitfit-cli.jar

echo "== a classifier: ViT-Tiny + linear head on 4 pet breeds (made with the current CLI)"
CLASSIFIER=$WORK/pets.vitfit
if [ ! -f "$CLASSIFIER" ]; then
  rm -rf "$WORK/model" "$WORK/cache" "$WORK/head"
  java -jar "$NEW_JAR" convert models/vit-tiny-patch16-224-augreg --output "$WORK/model"
  java -jar "$NEW_JAR" extract --model "$WORK/model" --input "$SHARED/datasets/oxford-pets-370" \
    --output "$WORK/cache" --include 'Abyssinian/*' --include 'Bombay/*' --include 'beagle/*' --include 'pug/*'
  java -jar "$NEW_JAR" train --cache "$WORK/cache" --head linear --seed 7 --output "$WORK/head"
  java -jar "$NEW_JAR" export --model "$WORK/model" --head "$WORK/head" --output "$CLASSIFIER"
fi

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "old: $OLD ($(git log -1 --format=%s "$OLD" | cut -c1-80))"
  echo "new: $(git rev-parse HEAD) (+ uncommitted changes: $(git status --porcelain | wc -l) files)"
  echo "cpu: $(lscpu | sed -n 's/^Model name:[[:space:]]*//p'), $(nproc) cores"
  echo "memory: $(free -g | awk '/^Mem:/ {print $2 " GiB"}')"
  echo "java: $(java -version 2>&1 | head -1)"
  echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$OUT/stalled-clients-$DATE.machine"

RESULTS=$OUT/stalled-clients-$DATE.jsonl
: > "$RESULTS"
CP=$ROOT/serve/target/test-classes
for STALLED in $STALLED_SET; do
  for NAME in old new; do
    JAR=$OLD_JAR; [ "$NAME" = new ] && JAR=$NEW_JAR
    LOG=$WORK/serve-$NAME-$STALLED.log
    java $HEAP -jar "$JAR" serve --classifier "$CLASSIFIER" --port 0 --threads 2 --quiet > "$LOG" 2>&1 &
    PID=$!
    URL=""
    for _ in $(seq 1 120); do
      URL=$(grep -o 'http://127.0.0.1:[0-9]*/' "$LOG" | head -1 || true)
      [ -n "$URL" ] && break
      sleep 1
    done
    [ -n "$URL" ] || { echo "the $NAME server did not start:"; cat "$LOG"; kill $PID; exit 1; }
    echo "== $NAME server at $URL, $STALLED stalled connections, load $(cut -d' ' -f1 /proc/loadavg)"
    java -cp "$CP" org.vitfit.serve.StalledClientsLoad "$URL" "$PID" "$PHOTO" pug "$STALLED" "$REQUESTS" \
      "$CONCURRENCY" "$BUDGET_S" "$NAME" | tee -a "$RESULTS"
    kill $PID; wait $PID 2>/dev/null || true
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/stalled-clients-$DATE.machine"

/usr/bin/python3 - "$RESULTS" > "$OUT/stalled-clients-$DATE.md" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print("| server | stalled | /health (slowest of 3) | predict ok / sent | p50 | p99 | RSS before → after (peak) | threads after |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for r in rows:
    h = "no answer" if r["healthMs"] != r["healthMs"] else ("%.0f ms" % r["healthMs"] if r["healthMs"] < 10000 else "%.1f s" % (r["healthMs"] / 1000))
    p = lambda v: "–" if v != v else ("%.0f ms" % v)
    print("| %s | %d | %s | %d / %d | %s | %s | %.0f → %.0f MiB (%.0f) | %d |" % (
        "JDK HttpServer (old)" if r["server"] == "old" else "Jetty 12 (new)", r["stalled"], h, r["ok"], r["requests"],
        p(r["p50Ms"]), p(r["p99Ms"]), r["before"]["VmRSS"], r["after"]["VmRSS"], r["after"]["VmHWM"], r["after"]["Threads"]))
EOF
cat "$OUT/stalled-clients-$DATE.md"
