#!/usr/bin/env bash
# wms_instructions.sh - CPU instructions per uncached WMS GetMap, counted by callgrind.
#
# Requests per second move by a quarter with the shared machine's load; instructions do not
# (the same code and requests give the same count to within 0.1 %). Use this to tell whether a
# change to the GetMap path (gunicorn, the fast path, MapProxy, Mapnik styles, PNG) saves CPU
# before spending a map_services_bench.sh run on it.
#
# One gunicorn worker (1 thread) under valgrind, instrumentation off while it starts; WARM
# requests to load the map and warm the caches, then instrumentation on for N requests (one
# connection each, sequential), then the worker's total is divided by N. Needs the dataset
# of bench/map_services_bench.sh (database neixiang_bench, URL list of its last run) and
# valgrind (Debian's package).
#
# usage: bench/wms_instructions.sh [N=150] [WARM=60] [-- gunicorn options...]
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
N=${1:-150} WARM=${2:-60}
shift $(( $# > 2 ? 2 : $# )); [[ ${1:-} == -- ]] && shift
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 1; }
URLS=$(ls -td "${BENCH_DIR:-/tmp/bench}"/maps/run-*/ 2>/dev/null | head -1)nx_wms_urls.txt
[[ -s $URLS ]] || { echo "no URL list: run bench/map_services_bench.sh once first" >&2; exit 1; }
WORK=$(mktemp -d /tmp/wms-instructions.XXXX)
PORT=$("$ROOT/.venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$WORK/prom"
cd "$ROOT"
NEIXIANG_DB_NAME=neixiang_bench TILE_CACHE_STORE=false TILE_CACHE_DIR="$WORK/tiles" \
  PROMETHEUS_MULTIPROC_DIR="$WORK/prom" MAP_RATE_LIMIT_PER_MINUTE=0 \
  valgrind --tool=callgrind --trace-children=yes --instr-atstart=no \
  --callgrind-out-file="$WORK/callgrind.%p" \
  .venv/bin/gunicorn config.wsgi --bind "127.0.0.1:$PORT" --workers 1 --threads 1 \
  --no-control-socket --timeout 600 --pid "$WORK/gunicorn.pid" "$@" >"$WORK/gunicorn.log" 2>&1 &
trap 'kill "$(cat "$WORK/gunicorn.pid" 2>/dev/null)" 2>/dev/null || true' EXIT
for _ in $(seq 1 150); do
  sleep 2
  curl -s -o /dev/null "http://127.0.0.1:$PORT/healthz" && break
done
fetch() { sed "s#^#http://127.0.0.1:$PORT#" | xargs -n 1 curl -s -o /dev/null; }
head -"$WARM" "$URLS" | fetch
worker=$(pgrep -P "$(cat "$WORK/gunicorn.pid")")
callgrind_control -i on "$worker" >/dev/null 2>&1
sed -n "$((WARM + 1)),$((WARM + N))p" "$URLS" | fetch
callgrind_control -i off "$worker" >/dev/null 2>&1
callgrind_control -d "$worker" >/dev/null 2>&1
sleep 2
total=$(grep -h "^totals\|^summary" "$WORK"/callgrind."$worker"* | awk '{s += $2} END {print s}')
echo "instructions per GetMap: $((total / N)) (worker total $total over $N requests; files in $WORK)"
echo "breakdown: callgrind_annotate --inclusive=yes \$(ls -S $WORK/callgrind.$worker* | head -1)"
