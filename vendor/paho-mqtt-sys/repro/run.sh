#!/usr/bin/env bash
# Counts aborts of a reproduction over several runs.
#   ./run.sh double-free [RUNS] [CYCLES]   qos1_kill: RUNS processes x CYCLES broker kills
#   ./run.sh freeze [RUNS] [CLIENTS]       burst_restart: RUNS processes, CLIENTS clients each
# ASAN=1 builds Paho C with AddressSanitizer (PAHO_SYS_ASAN=1, debug profile,
# target/asan) and preloads libasan; BIN=path runs a prebuilt binary instead.
set -uo pipefail
cd "$(dirname "$0")"
what=${1:-double-free}; runs=${2:-10}; arg=${3:-}
case $what in
  double-free) bin=qos1_kill; arg=${arg:-10} ;;
  freeze) bin=burst_restart; arg=${arg:-500} ;;
  *) echo "usage: $0 double-free|freeze [RUNS] [ARG]" >&2; exit 2 ;;
esac
if [ -n "${BIN:-}" ]; then exe=$BIN; pre=()
elif [ "${ASAN:-0}" = 1 ]; then
  PAHO_SYS_ASAN=1 CARGO_TARGET_DIR=target/asan cargo build -q --bin $bin || exit 1
  exe=target/asan/debug/$bin; pre=(env "LD_PRELOAD=$(gcc -print-file-name=libasan.so)" ASAN_OPTIONS=detect_leaks=0)
else
  cargo build -q --release --bin $bin || exit 1
  exe=target/release/$bin; pre=()
fi
ok=0; bad=0; kills=0
for i in $(seq 1 "$runs"); do
  out=$(mktemp)
  timeout 300 "${pre[@]}" "$exe" "$arg" >"$out" 2>&1; rc=$?
  k=$(grep -c 'client alive\|broker restarted' "$out")
  kills=$((kills + k))
  if [ $rc -eq 0 ]; then ok=$((ok + 1)); else
    bad=$((bad + 1))
    echo "run $i: exit $rc after $k kills: $(grep -m1 -E 'double free|double-free|corruption|FROZEN|ERROR' "$out")"
  fi
  rm -f "$out"
done
echo "$what: $runs runs, $kills broker kills survived, $ok clean exits, $bad failures (aborts/freezes)"
[ $bad -eq 0 ]
