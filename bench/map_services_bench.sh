#!/usr/bin/env bash
# map_services_bench.sh - our WMS and WMTS against MapServer and nginx, same table, one run.
#
# Reuses the MVT benchmark's setup (bench/mvt_setup.py: the peer table bench.parcels
# imported into our service as public layer `parcels` in database neixiang_bench) and the
# shared peer harness (/work/shared/peer-bench, not modified). Targets:
#   mapserver_wms   MapServer 8 FastCGI behind nginx, GetMap 256x256 EPSG:3857 z14-17
#   nx_wms          ours, same requests, tile cache storage OFF (every request renders)
#   nginx_static    nginx serving pre-rendered 256x256 PNG files (z12-16 list)
#   nx_wmts         ours, WMTS REST tiles of the same list, all cached (gunicorn only)
#   nx_nginx_wmts   the production arrangement (deploy/nginx.conf): nginx in front serving
#                   public cached tiles from var/tiles/public, misses to gunicorn
#   nx_files_static nginx serving the very same cached tile files as plain static files
#                   (configured as the peer's static server): the issue's baseline for the
#                   production arrangement ("half of nginx's throughput serving the same
#                   files statically"); nginx_static serves MapServer's tiles, other bytes
# Then CPU per uncached GetMap, ours and MapServer's, from /proc over alternating 10-s runs;
# then 10 000 mixed WMS/WMTS requests and the workers' RSS.
# usage: bench/map_services_bench.sh [--rounds 3] [--duration 20]
#   NX_WORKERS / NX_THREADS: our gunicorns' workers and threads (4 x 2, as `make run`)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
PEER=${PEER_BENCH:-/work/shared/peer-bench}
BENCH=${BENCH_DIR:-/tmp/bench}
ROUNDS=3 DUR=20
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --duration) DUR=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 1 ;;
  esac
done
PY=$ROOT/.venv/bin/python
WORK=$BENCH/maps
OUT=${OUT:-$WORK/run-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
export NEIXIANG_DB_NAME=neixiang_bench
log() { printf '[maps_bench %s] %s\n' "$(date +%T)" "$*" | tee -a "$OUT/report.txt" >&2; }
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  [[ -f $WORK/nginx.pid ]] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  "$PEER/stop_peers.sh" >/dev/null 2>&1 || true
}
trap cleanup EXIT
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

n=$(psql -X -h /var/run/postgresql -d bench -tAc "SELECT value FROM bench_meta WHERE key='n'" 2>/dev/null || true)
[[ $n == 100000 ]] || { log "building the peer dataset"; python3 "$PEER/make_dataset.py" >"$OUT/make_dataset.log" 2>&1; }
log "our copy of bench.parcels (bench/mvt_setup.py)"
"$PY" "$HERE/mvt_setup.py" --work "$BENCH/mvt" 2>&1 | tail -2 >&2
log "starting the peers"
"$PEER/start_peers.sh" >"$OUT/start_peers.log" 2>&1 || { tail -20 "$OUT/start_peers.log"; exit 1; }

start_ours() {  # NAME PORT ENV...
  local name=$1 port=$2; shift 2
  mkdir -p "$WORK/$name"; rm -rf "$WORK/$name/tiles" "$WORK/$name/prom"
  (cd "$ROOT" && exec env TILE_CACHE_DIR="$WORK/$name/tiles" PROMETHEUS_MULTIPROC_DIR="$WORK/$name/prom" \
     MAP_RATE_LIMIT_PER_MINUTE=0 PGAPPNAME="nx_$name" "$@" "$ROOT/.venv/bin/gunicorn" config.wsgi \
     --bind "127.0.0.1:$port" --workers "${NX_WORKERS:-4}" --threads "${NX_THREADS:-2}" --no-control-socket --timeout 120 \
     --pid "$WORK/$name/gunicorn.pid" >"$OUT/gunicorn-$name.log" 2>&1) &
  PIDS+=($!)
  for _ in $(seq 100); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/ows/wmts/1.0.0/WMTSCapabilities.xml") == 200 ]] && return 0
    sleep 0.3
  done
  echo "server $name did not start" >&2; exit 1
}
P_RENDER=$(free_port); P_CACHED=$(free_port); P_NGINX=$(free_port); P_FILES=$(free_port)
start_ours render "$P_RENDER" TILE_CACHE_STORE=false
start_ours cached "$P_CACHED"

WMS='/ows/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=parcels&STYLES=&CRS=EPSG:3857&BBOX={bbox}&WIDTH=256&HEIGHT=256&FORMAT=image/png&TRANSPARENT=TRUE'
WMTS='/ows/wmts/parcels/webmercator/{z}/{x}/{y}.png'
python3 "$PEER/urls.py" --kind xyz --seed 42 --count 20000 --template "$WMTS" --out "$OUT/wmts_urls.txt" 2>/dev/null
log "filling our cache with every tile of the WMTS list"
sort -u "$OUT/wmts_urls.txt" | sed "s#^#http://127.0.0.1:$P_CACHED#" | xargs -P 4 -n 1 curl -s -o /dev/null
sleep 2
# The production arrangement: deploy/nginx.conf with this run's folders and ports.
sed -e "s#/srv/neixiang/var/tiles/public#$WORK/cached/tiles/public#" \
    -e "s#server 127.0.0.1:8000;#server 127.0.0.1:$P_CACHED;#" -e "s#listen 80;#listen 127.0.0.1:$P_NGINX;#" \
    -e "s#/srv/neixiang/var/staticfiles/#$ROOT/var/staticfiles/#" "$ROOT/deploy/nginx.conf" > "$WORK/site.conf"
cat > "$WORK/nginx.conf" <<CONF
worker_processes 2;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off; include /etc/nginx/mime.types; include $WORK/site.conf;
  server {  # the same files, served statically as the peer harness serves its tiles
    listen 127.0.0.1:$P_FILES backlog=4096;
    sendfile on; tcp_nopush on; tcp_nodelay on; keepalive_requests 1000000;
    open_file_cache max=20000 inactive=300s; open_file_cache_valid 600s;
    location /ows/wmts/ { alias $WORK/cached/tiles/public/; }
  }
}
CONF
nginx -c "$WORK/nginx.conf"
sleep 1
curl -s -o /dev/null -w "production arrangement check: %{http_code} %{content_type}\n" \
  "http://127.0.0.1:$P_NGINX$(head -1 "$OUT/wmts_urls.txt")" | tee -a "$OUT/report.txt"

log "compare.sh: $ROUNDS rounds x ${DUR}s"
BENCH_DIR=$BENCH "$PEER/compare.sh" nx "http://127.0.0.1:$P_RENDER" "$WMS" - \
  --target "nx_wmts|http://127.0.0.1:$P_CACHED|xyz|$WMTS|image/png" \
  --target "nx_nginx_wmts|http://127.0.0.1:$P_NGINX|xyz|$WMTS|image/png" \
  --target "nx_files_static|http://127.0.0.1:$P_FILES|xyz|$WMTS|image/png" \
  --only mapserver_wms,nginx_static,nx_wms,nx_wmts,nx_nginx_wmts,nx_files_static --rounds "$ROUNDS" --duration "$DUR" \
  >"$OUT/compare.log" 2>&1 || { tail -30 "$OUT/compare.log"; exit 1; }
RES=$(readlink -f "$BENCH/results/latest")
cp "$RES/summary.txt" "$RES/raw.tsv" "$OUT/"
tee -a "$OUT/report.txt" <"$RES/summary.txt"
python3 - "$RES/raw.tsv" <<'PY' | tee -a "$OUT/report.txt"
import statistics, sys
rps = {}
for line in list(open(sys.argv[1]))[1:]:
    rnd, label, _busy, rest = line.rstrip("\n").split("\t", 3)
    for tok in rest.split():
        if tok.startswith("rps="):
            rps[(int(rnd), label)] = float(tok[4:])
ratios = [rps[(r, "nx_nginx_wmts")] / rps[(r, "nx_files_static")]
          for r in sorted({r for r, _ in rps}) if (r, "nx_files_static") in rps
          and (r, "nx_nginx_wmts") in rps]
print("production arrangement vs nginx serving the same files statically: "
      f"median x{statistics.median(ratios):.3f} per round {[round(x, 3) for x in ratios]}")
PY

log "CPU per uncached GetMap: ours (workers + PostgreSQL) vs MapServer (mapserv + nginx + PostgreSQL)"
python3 "$PEER/urls.py" --kind wms --seed 42 --count 20000 --template "${WMS#/ows}" \
  --out "$OUT/ms_wms_urls.txt" 2>/dev/null
python3 "$PEER/urls.py" --kind wms --seed 42 --count 20000 --template "$WMS" \
  --out "$OUT/nx_wms_urls.txt" 2>/dev/null
OUR_PGHOST=$("$PY" -c 'from config import localdb; print(localdb.socket_dir())')
# Alternating 10-s wrk runs; CPU from /proc before and after, over the requests served. CPU
# per request moves less with the machine's other load than requests per second do.
python3 - "$PEER" "$OUT" "$P_RENDER" "$(cat "$WORK/render/gunicorn.pid")" "$OUR_PGHOST" \
    "${PGHOST:-/var/run/postgresql}" <<'PY' | tee -a "$OUT/report.txt"
import os, re, statistics, subprocess, sys
peer, out, port, master, our_pg, peer_pg = sys.argv[1:]
tick = os.sysconf("SC_CLK_TCK")
bench = os.environ.get("BENCH_DIR", "/tmp/bench")

def cpu(pids):
    total = 0
    for pid in pids:
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except FileNotFoundError:
            pass
    return total / tick

def backends(host, db, where):
    sql = f"SELECT pid FROM pg_stat_activity WHERE datname = '{db}' AND {where}"
    user = ["-U", "postgres"] if host == our_pg else []  # our cluster: its one role
    return [int(p) for p in subprocess.run(["psql", "-X", "-h", host, *user, "-d", db, "-tAc", sql],
                                           capture_output=True, text=True).stdout.split()]

def processes(target):
    if target == "nx":
        workers = subprocess.run(["pgrep", "-P", master], capture_output=True, text=True)
        return {"app": [int(p) for p in workers.stdout.split()],
                "pg": backends(our_pg, "neixiang_bench", "application_name = 'nx_render'")}
    nginx = subprocess.run(["pgrep", "-P", open(f"{bench}/pids/nginx.pid").read().strip()],
                           capture_output=True, text=True)
    return {"app": [int(p) for p in open(f"{bench}/pids/mapserv.pids").read().split()],
            "nginx": [int(p) for p in nginx.stdout.split()],
            "pg": backends(peer_pg, "bench", "application_name = 'bench_mapserver'")}

def measure(target, base, urls):
    before = {k: (pids, cpu(pids)) for k, pids in processes(target).items()}
    line = subprocess.run([f"{peer}/load.sh", "-d", "10", "-c", "16", "-e", "image/png", "-l",
                           target, base, urls], capture_output=True, text=True).stdout
    n = int(re.search(r"requests=(\d+)", line).group(1))
    return {k: (cpu(pids) - c0) * 1000 / n for k, (pids, c0) in before.items()}

targets = [("nx", f"http://127.0.0.1:{port}", f"{out}/nx_wms_urls.txt"),
           ("mapserver", "http://127.0.0.1:8101", f"{out}/ms_wms_urls.txt")]
runs = {t: [] for t, _, _ in targets}
for r in range(4):
    for t, base, urls in targets if r % 2 == 0 else targets[::-1]:
        runs[t].append(measure(t, base, urls))
for t in runs:
    parts = {k: statistics.median(run[k] for run in runs[t]) for k in runs[t][0]}
    total = statistics.median(sum(run.values()) for run in runs[t])
    print(f"CPU per GetMap {t}: {total:.2f} ms (" +
          ", ".join(f"{k} {v:.2f}" for k, v in parts.items()) + "), median of 4 x 10 s")
PY

log "10 000 mixed WMS/WMTS requests on the cached server, then worker RSS"
python3 "$PEER/urls.py" --kind wms --seed 7 --count 5000 --template "$WMS" --out "$OUT/mix_wms.txt" 2>/dev/null
{ head -5000 "$OUT/mix_wms.txt"; head -5000 "$OUT/wmts_urls.txt"; } | shuf --random-source=<(yes) \
  | sed "s#^#http://127.0.0.1:$P_CACHED#" | xargs -P 4 -n 1 curl -s -o /dev/null
for pid in $(pgrep -P "$(cat "$WORK/cached/gunicorn.pid")"); do
  echo "worker $pid RSS $(( $(awk '/VmRSS/{print $2}' /proc/$pid/status) / 1024 )) MB" | tee -a "$OUT/report.txt"
done
log "done: $OUT/report.txt"
