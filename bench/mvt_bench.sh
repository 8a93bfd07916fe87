#!/usr/bin/env bash
# mvt_bench.sh - our vector tiles against tipg on the same 100 000-parcel table, one run.
#
# Uses the shared peer harness (/work/shared/peer-bench, or $PEER_BENCH; not modified):
#  1. make_dataset.py builds database `bench`, table `parcels` (skipped when it is there
#     with the same size; --rebuild-dataset forces it);
#  2. bench/mvt_setup.py imports that table into OUR service as public regulatory-plan
#     layer `parcels` (ogr2ogr -> GeoPackage -> manage.py import_layer --publish) in the
#     separate database neixiang_bench on the project's cluster;
#  3. start_peers.sh (tipg, MapServer, nginx static tiles);
#  4. two gunicorns (2 workers x 4 threads, the layout its figures were measured with; `make run` now uses 4 x 2; --no-control-socket) on free
#     ports: "nx" with the MVT cache off (MVT_CACHE=off: every request renders in PostGIS:
#     the uncached figure) and "nx_cached" with it on, pre-filled with every tile of the list
#     (the cached figure). The per-address map rate limit is off for both (all load comes
#     from 127.0.0.1; tipg has none);
#  5. bench/mvt_warm.py: every distinct tile of the list once from the uncached server (the
#     tile size distribution, largest tile) and once from the cached one (fills its cache);
#  6. bench/mvt_sql_bench.py: the tile statement alone (partition vs parent table vs
#     tipg's statement), server CPU per tile;
#  7. compare.sh with both of ours as extra targets next to tipg_mvt and nginx_static
#     (--rounds, 20 s each, 16 connections): medians of rounds and ratios, p50/p99;
#  8. bench/mvt_cpu.py during one more uncached run: CPU per request, gunicorn vs PostgreSQL;
#  9. bench/mvt_mixed.py: 10 000 mixed requests on the cached server, then worker RSS.
# Everything is stopped on exit (our gunicorns by pid, the peers with stop_peers.sh).
# Output: $OUT (default /tmp/bench/mvt/run-<time>/): report.txt and the pieces.
#
# usage: bench/mvt_bench.sh [--rounds 3] [--duration 20] [--rebuild-dataset] [--keep-peers]
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
PEER=${PEER_BENCH:-/work/shared/peer-bench}
BENCH=${BENCH_DIR:-/tmp/bench}
ROUNDS=3 DUR=20 REBUILD=0 KEEP_PEERS=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --duration) DUR=$2; shift 2 ;;
    --rebuild-dataset) REBUILD=1; shift ;;
    --keep-peers) KEEP_PEERS=1; shift ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "mvt_bench: unknown argument $1" >&2; exit 1 ;;
  esac
done
PY=$ROOT/.venv/bin/python
WORK=$BENCH/mvt
OUT=${OUT:-$WORK/run-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
LAYER=parcels
TEMPLATE="/tiles/$LAYER/{z}/{x}/{y}.mvt"
CTYPE=application/vnd.mapbox-vector-tile
export NEIXIANG_DB_NAME=neixiang_bench
log() { printf '[mvt_bench %s] %s\n' "$(date +%T)" "$*" | tee -a "$OUT/report.txt" >&2; }
say() { tee -a "$OUT/report.txt"; }

# ------------------------------------------------------------------------ cleanup
PIDS=()
PEERS_STARTED=0
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid" 2>/dev/null || true; fi
  done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  done
  if [[ $PEERS_STARTED == 1 && $KEEP_PEERS == 0 ]]; then
    "$PEER/stop_peers.sh" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# ------------------------------------------------------------------ 1. peer dataset
n=$(psql -X -h "${PGHOST:-/var/run/postgresql}" -d bench -tAc \
    "SELECT value FROM bench_meta WHERE key = 'n'" 2>/dev/null || true)
if [[ $REBUILD == 1 || $n != 100000 ]]; then
  log "building the peer dataset (make_dataset.py)"
  python3 "$PEER/make_dataset.py" >"$OUT/make_dataset.log" 2>&1
else
  log "peer dataset present (bench.parcels, n=$n)"
fi

# ---------------------------------------------------------- 2. our copy of the table
log "importing bench.parcels into our service (database $NEIXIANG_DB_NAME)"
"$PY" "$HERE/mvt_setup.py" --work "$WORK" 2>&1 | grep -v "warning:" | tee -a "$OUT/setup.log" \
  | tail -3 >&2

# --------------------------------------------------------------------- 3. the peers
log "starting the peers (start_peers.sh)"
PEERS_STARTED=1
"$PEER/start_peers.sh" >"$OUT/start_peers.log" 2>&1 || { tail -20 "$OUT/start_peers.log" >&2; exit 1; }

# -------------------------------------------------------------------- 4. our servers
start_ours() {  # start_ours NAME PORT EXTRA_ENV...
  local name=$1 port=$2
  shift 2
  mkdir -p "$WORK/$name"
  rm -rf "$WORK/$name/cache" "$WORK/$name/prom"
  (cd "$ROOT" && exec env TILE_CACHE_DIR="$WORK/$name/cache" \
      PROMETHEUS_MULTIPROC_DIR="$WORK/$name/prom" MAP_RATE_LIMIT_PER_MINUTE=0 "$@" \
      "$ROOT/.venv/bin/gunicorn" config.wsgi --bind "127.0.0.1:$port" --workers 2 \
      --threads 4 --no-control-socket --timeout 120 --pid "$WORK/$name/gunicorn.pid" \
      >"$OUT/gunicorn-$name.log" 2>&1) &
  PIDS+=($!)
  for _ in $(seq 100); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/tiles/$LAYER/14/13282/6596.mvt") == 200 ]] && return 0
    sleep 0.3
  done
  echo "mvt_bench: our server $name did not start, see $OUT/gunicorn-$name.log" >&2
  exit 1
}
PORT_NX=$(free_port); PORT_CACHED=$(free_port)
[[ $PORT_NX != "$PORT_CACHED" ]] || PORT_CACHED=$(free_port)
start_ours nx "$PORT_NX" MVT_CACHE=off
start_ours nx_cached "$PORT_CACHED" MVT_CACHE=on
log "ours: uncached :$PORT_NX (pid ${PIDS[0]}), cached :$PORT_CACHED (pid ${PIDS[1]})"

# ----------------------------------------------------- 5. tile sizes, cache filling
python3 "$PEER/urls.py" --kind xyz --seed 42 --count 20000 --template "$TEMPLATE" \
  --out "$OUT/urls.txt" 2>/dev/null
log "every distinct tile of the list once (uncached: sizes; cached: fills the cache)"
"$PY" "$HERE/mvt_warm.py" "http://127.0.0.1:$PORT_NX" "$OUT/urls.txt" --threads 2 \
  --json "$OUT/sizes.json" | say
"$PY" "$HERE/mvt_warm.py" "http://127.0.0.1:$PORT_CACHED" "$OUT/urls.txt" --threads 2 \
  >/dev/null

# ------------------------------------------------------------- 6. the SQL on its own
log "the tile statement alone (partition vs parent vs tipg's)"
(cd "$ROOT" && "$PY" "$HERE/mvt_sql_bench.py" "$OUT/urls.txt") | say

# ------------------------------------------------------------------- 7. the harness
log "compare.sh: tipg_mvt, nginx_static, nx_xyz (uncached), nx_cached_xyz; $ROUNDS rounds x ${DUR}s"
BENCH_DIR=$BENCH "$PEER/compare.sh" nx "http://127.0.0.1:$PORT_NX" - "$TEMPLATE" \
  --target "nx_cached_xyz|http://127.0.0.1:$PORT_CACHED|xyz|$TEMPLATE|$CTYPE" \
  --only tipg_mvt,nginx_static,nx_xyz,nx_cached_xyz --rounds "$ROUNDS" --duration "$DUR" \
  >"$OUT/compare.log" 2>&1 || { tail -30 "$OUT/compare.log" >&2; exit 1; }
RES=$(readlink -f "$BENCH/results/latest")
cp "$RES/summary.txt" "$RES/raw.tsv" "$RES/env.txt" "$OUT/"
say <"$RES/summary.txt"

# ------------------------------------------------------ 8. where an uncached request goes
log "CPU per uncached request (one more ${DUR}s run)"
POSTMASTER=$(head -1 "$(cd "$ROOT" && "$PY" -c "from config import localdb; print(localdb.DATA_DIR)")/postmaster.pid")
"$PEER/load.sh" -d "$DUR" -c 16 -t 2 -e "$CTYPE" "http://127.0.0.1:$PORT_NX" "$OUT/urls.txt" \
  >"$OUT/cpu-load.txt" 2>&1 &
LOADPID=$!
sleep 2
"$PY" "$HERE/mvt_cpu.py" --seconds $((DUR - 4)) --gunicorn "$(cat "$WORK/nx/gunicorn.pid")" \
  --postmaster "$POSTMASTER" --requests-from "$OUT/cpu-load.txt" >"$OUT/cpu.txt" || true
wait "$LOADPID" || true
{ cat "$OUT/cpu-load.txt"; cat "$OUT/cpu.txt"; } | say

# ------------------------------------------------------------- 9. memory after a mix
log "10 000 mixed requests on the cached server, then worker RSS"
"$PY" "$HERE/mvt_mixed.py" "http://127.0.0.1:$PORT_CACHED" -n 10000 \
  --master-pid "$(cat "$WORK/nx_cached/gunicorn.pid")" | say

log "done: $OUT/report.txt"
