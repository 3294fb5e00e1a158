#!/usr/bin/env bash
# The serve README's stalled-client figures: the old server (the JDK's com.sun.net.httpserver, the last commit before
# the Jetty server) and the current one, side by side on one machine, each started with `vitfit serve --threads 2`
# on the same classifier and heap, each measured by the same client (serve's StalledClientsLoad):
#   - no stalled connections, then 64 stalled connections (32 inside their headers, 32 inside their body);
#   - 200 POST /predict of one pet photo, 16 at a time, within a 240 s budget, and meanwhile the slowest of three
#     GET /health;
#   - RSS, peak RSS and thread count of the server process before and after the load;
#   - REPEATS rounds (default 3), old and new alternating within each round; the table gives medians.
#
# Usage (from the checkout root; needs ../shared, about 20 minutes):
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
REPEATS=${REPEATS:-3}
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
  echo "new: $(git rev-parse HEAD) (+ uncommitted changes: $(git status --porcelain -- . ':!serve/bench/results' | wc -l) files)"
  echo "cpu: $(lscpu | sed -n 's/^Model name:[[:space:]]*//p'), $(nproc) cores"
  echo "memory: $(free -g | awk '/^Mem:/ {print $2 " GiB"}')"
  echo "java: $(java -version 2>&1 | head -1)"
  echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$OUT/stalled-clients-$DATE.machine"

RESULTS=$OUT/stalled-clients-$DATE.jsonl
: > "$RESULTS"
CP=$ROOT/serve/target/test-classes
for ROUND in $(seq 1 "$REPEATS"); do
  ORDER="old new"; [ $((ROUND % 2)) -eq 0 ] && ORDER="new old"
  for STALLED in $STALLED_SET; do
    for NAME in $ORDER; do
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
      echo "== round $ROUND: $NAME server at $URL, $STALLED stalled connections, load $(cut -d' ' -f1 /proc/loadavg)"
      java -cp "$CP" org.vitfit.serve.StalledClientsLoad "$URL" "$PID" "$PHOTO" pug "$STALLED" "$REQUESTS" \
        "$CONCURRENCY" "$BUDGET_S" "$NAME" | tee -a "$RESULTS"
      kill $PID; wait $PID 2>/dev/null || true
    done
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/stalled-clients-$DATE.machine"

/usr/bin/python3 - "$RESULTS" > "$OUT/stalled-clients-$DATE.md" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def med(values):
    values = [v for v in values if v == v]
    return statistics.median(values) if values else float("nan")
def ms(v):
    return "no answer" if v != v else ("%.0f ms" % v if v < 10000 else "%.1f s" % (v / 1000))
print("| server | stalled | runs | /health, slowest of 3 | predict ok / sent (worst run) | req/s | p50 | p99 | RSS before → after | threads after |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for stalled in sorted({r["stalled"] for r in rows}):
    for server in ("old", "new"):
        rs = [r for r in rows if r["server"] == server and r["stalled"] == stalled]
        if not rs:
            continue
        print("| %s | %d | %d | %s | %d / %d | %.1f | %s | %s | %.0f → %.0f MiB | %d |" % (
            "JDK HttpServer (old)" if server == "old" else "Jetty 12 (new)", stalled, len(rs),
            ms(med([r["healthMs"] for r in rs])), min(r["ok"] for r in rs), rs[0]["requests"],
            med([r["ok"] / r["wallS"] for r in rs]), ms(med([r["p50Ms"] for r in rs])), ms(med([r["p99Ms"] for r in rs])),
            med([r["before"]["VmRSS"] for r in rs]), med([r["after"]["VmRSS"] for r in rs]),
            med([r["after"]["Threads"] for r in rs])))
EOF
cat "$OUT/stalled-clients-$DATE.md"
