#!/usr/bin/env bash
# `troupe bench raft-kv --real` against etcd: installs etcd 3.4 from Debian's etcd-server
# package if no `etcd` is on the PATH, builds troupe in release mode with the `etcd-grpc`
# feature (etcd is driven through its gRPC API), and runs the benchmark (extra arguments go to
# it, e.g. --json or --quick). Exits non-zero if troupe misses its goal against etcd.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v etcd >/dev/null; then
    echo "bench-real: installing Debian's etcd-server for the baseline" >&2
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq etcd-server >/dev/null
fi
cargo build --release -q --features etcd-grpc --bin troupe
exec "${CARGO_TARGET_DIR:-target}/release/troupe" bench raft-kv --real "$@"
