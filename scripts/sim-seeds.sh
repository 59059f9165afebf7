#!/usr/bin/env bash
# Many seeds of a simulated system under a nemesis: `scripts/sim-seeds.sh [SEEDS] [-- ARGS]`
# runs `troupe sim ARGS --seed N` for N in 1..SEEDS (default 200; ARGS default
# `chain --nodes 3 --nemesis all`), prints one line per failed seed (with the command that
# replays it) and a summary, and exits 1 if any seed failed its checks.
#
#   scripts/sim-seeds.sh 200 -- chain --nodes 3 --nemesis all
#   scripts/sim-seeds.sh 200 -- chain --craq --nodes 3 --nemesis all
#   scripts/sim-seeds.sh 200 -- raft-kv --nemesis all
#   scripts/sim-seeds.sh 200 -- zk --nemesis all
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${1:-200}
shift || true
[ "${1:-}" = "--" ] && shift
[ "$#" -gt 0 ] || set -- chain --nodes 3 --nemesis all
# PROFILE=debug uses the dev build (the same runs: virtual time does not depend on the build).
profile=${PROFILE:-release}
if [ "$profile" = release ]; then cargo build --release -q --bin troupe; else cargo build -q --bin troupe; fi
failed=0 lost=0 ops=0
start=$(date +%s)
for seed in $(seq 1 "$seeds"); do
    report=$(./target/$profile/troupe sim "$@" --seed "$seed" --json 2>/dev/null | tail -n 1) || {
        failed=$((failed + 1))
        echo "seed $seed FAILED: replay with: troupe sim $* --seed $seed"
    }
    case "$report" in *'"chain_lost":true'*) lost=$((lost + 1)) ;; esac
    n=$(printf '%s' "$report" | sed -n 's/.*"ops_ok":\([0-9]*\).*/\1/p')
    ops=$((ops + ${n:-0}))
done
echo "sim-seeds: troupe sim $*: $seeds seeds, $failed failed, $lost lost every replica," \
    "$ops operations acknowledged, $(( $(date +%s) - start )) s"
[ "$failed" -eq 0 ]
