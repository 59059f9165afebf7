#!/usr/bin/env bash
# Do the checks catch the planted bugs? `scripts/planted-bugs.sh [SEEDS] [--require N]` builds
# troupe with the cargo feature `planted-bugs`, runs every bug (`troupe sim raft-kv --plant list`)
# under `--nemesis all` on seeds 1..SEEDS (default 20) at the default latency, and prints one
# row per bug: how many seeds failed their checks (caught) and the first failure reason.
# With `--require N`, exits 1 if some bug was caught on fewer than N seeds.
#
#   scripts/planted-bugs.sh 20              # the table in docs/BENCHMARKS.md
#   scripts/planted-bugs.sh 10 --require 1  # what CI runs (with TROUPE_BIN: a binary built
#                                           # with the feature, so nothing is built here)
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${1:-20}
require=0
[ "${2:-}" = "--require" ] && require=${3:?--require needs a number}
profile=${PROFILE:-release}
if [ -n "${TROUPE_BIN:-}" ]; then
    troupe=$TROUPE_BIN # built with the feature already (CI: by its planted-bugs tests)
elif [ "$profile" = release ]; then
    cargo build --release -q --features planted-bugs --bin troupe
    troupe=./target/release/troupe
else
    cargo build -q --features planted-bugs --bin troupe
    troupe=./target/debug/troupe
fi
short=0
printf '%-26s %-8s %-7s %s\n' bug system caught "first reason"
while IFS=$'\t' read -r bug system _; do
    # A bug whose system has no `troupe sim` subcommand yet is caught by unit tests only.
    if ! "$troupe" sim "$system" --help >/dev/null 2>&1; then
        printf '%-26s %-8s %-7s %s\n' "$bug" "$system" "-" "no troupe sim $system yet: unit tests only"
        continue
    fi
    case "$system" in
        chain) args=(chain --nodes 3) ;;
        *) args=("$system") ;;
    esac
    [ "$bug" = craq-reads-dirty ] && args+=(--craq)
    # The seeds run two at a time (JOBS), one report line each ("no report" from a run that
    # died, which counts as caught).
    reports=$(seq 1 "$seeds" | xargs -P "${JOBS:-2}" -I{} sh -c \
        'r=$("$0" "$@" --seed {} --json 2>/dev/null | tail -n 1); echo "${r:-no report}"' \
        "$troupe" sim "${args[@]}" --nemesis all --plant "$bug")
    # (Here-strings, not `printf | head`: a reader that stops early would fail under pipefail.)
    caught=$(grep -vc '"passed":true' <<<"$reports" || true)
    reason=$(grep -v -m 1 '"passed":true' <<<"$reports" |
        sed -n 's/.*"failures":\["\([^"]*\)".*/\1/p' | cut -c1-70)
    printf '%-26s %-8s %3d/%-3d %s\n' "$bug" "$system" "$caught" "$seeds" "$reason"
    [ "$caught" -ge "$require" ] || short=1
done < <("$troupe" sim raft-kv --plant list)
[ "$short" -eq 0 ] || { echo "planted-bugs: some bug was caught on fewer than $require seeds" >&2; exit 1; }
