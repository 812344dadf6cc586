#!/usr/bin/env bash
# `make test`: the whole suite on SQLite and on PostgreSQL, side by side.
#
# The two passes share nothing (each makes its own database, mail server, live servers and temporary
# folders) and spend much of their time waiting on PostgreSQL, Chromium and subprocesses, so running
# them at once takes little longer than the longer of the two. Each pass writes its output to a log
# that is printed whole when it ends. EVENTSITE_TEST_SERIAL=1 runs them one after the other instead,
# with the output as it comes.
#
# Usage: tests/run_passes.sh PYTHON [pytest arguments...]
set -uo pipefail
PY=$1
shift
LOGS=$(mktemp -d "${TMPDIR:-/tmp}/eventsite-test.XXXXXX")
trap 'rm -rf "$LOGS"' EXIT

postgres_answers() {
  "$PY" -c "import psycopg,os; psycopg.connect(os.environ['EVENTSITE_TEST_POSTGRES_URL'], connect_timeout=3).close()" 2>/dev/null
}

PASSES=(sqlite)
if postgres_answers; then
  PASSES+=(postgres)
elif [ "${EVENTSITE_REQUIRE_POSTGRES:-}" = 1 ]; then
  echo "PostgreSQL at $EVENTSITE_TEST_POSTGRES_URL does not answer and EVENTSITE_REQUIRE_POSTGRES=1." >&2
  exit 1
else
  echo "=== PostgreSQL pass NOT RUN: $EVENTSITE_TEST_POSTGRES_URL does not answer ==="
fi

label() { [ "$1" = sqlite ] && echo "SQLite" || echo "PostgreSQL ($EVENTSITE_TEST_POSTGRES_URL)"; }

if [ "${EVENTSITE_TEST_SERIAL:-}" = 1 ] || [ "${#PASSES[@]}" = 1 ]; then
  status=0
  for kind in "${PASSES[@]}"; do
    echo "=== Test pass: $(label "$kind") ==="
    EVENTSITE_TEST_DATABASE=$kind "$PY" -m pytest "$@" || status=1
  done
  exit $status
fi

echo "=== Test passes on $(label sqlite) and $(label postgres), side by side; each prints when it ends ==="
declare -A STARTED
PIDS=()
for kind in "${PASSES[@]}"; do
  STARTED[$kind]=$SECONDS
  ( EVENTSITE_TEST_DATABASE=$kind "$PY" -m pytest "$@" > "$LOGS/$kind.log" 2>&1; echo $? > "$LOGS/$kind.rc" ) &
  PIDS+=($!)
done
# Stop both passes when make is interrupted.
trap 'kill "${PIDS[@]}" 2>/dev/null; rm -rf "$LOGS"; exit 130' INT TERM

status=0
remaining=("${PASSES[@]}")
while [ "${#remaining[@]}" -gt 0 ]; do
  sleep 1
  still=()
  for kind in "${remaining[@]}"; do
    if [ ! -s "$LOGS/$kind.rc" ]; then
      still+=("$kind")
      continue
    fi
    rc=$(cat "$LOGS/$kind.rc")
    [ "$rc" = 0 ] || status=1
    echo
    echo "=== Test pass: $(label "$kind"): $([ "$rc" = 0 ] && echo passed || echo "FAILED (exit $rc)") in $((SECONDS - STARTED[$kind])) s ==="
    cat "$LOGS/$kind.log"
  done
  remaining=("${still[@]}")
done
wait
exit $status
