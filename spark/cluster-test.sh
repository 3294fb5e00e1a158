#!/usr/bin/env bash
# StandaloneClusterIT: vitfit-spark on a real Spark standalone cluster (a master and two workers as separate JVMs
# on 127.0.0.1), the shaded jar submitted as spark-submit does, one executor killed mid-job. Needs ../shared.
# Takes a few minutes on 2 cores, so it runs after the default suite (.ci/run), not inside it.
# Builds what the test needs (unit tests skipped: the default suite ran them) and runs only this test.
set -euo pipefail
cd "$(dirname "$0")/.."
./mvnw -B -pl spark -am -Pspark-cluster -DskipTests "$@" verify
