"""Blueprint page speed: navigation → initial view fully drawn, in headless Chromium.

    .venv/bin/python bench/page_bench.py [--rounds 5] [--no-peer] [--skip-load]

What it does (everything it starts, it stops):
1. database `neixiang_bench_page` on the project's private cluster, migrated, with the
   100 000-parcel / 1 000-project demo (`load_demo --replace`, only when missing);
   an external-system account that sees every project;
2. a private settings module (/tmp/pagebench/bench_settings.py): its own TILE_CACHE_DIR,
   MAPPROXY_DIR and STATIC_ROOT, so nothing of a running service is touched;
3. gunicorn (2 workers × 4 threads, as `make run`) on a free port; optionally nginx in
   front of it as in deploy/nginx.conf (cached public WMTS tiles and static files from
   disk, the rest proxied): the peer, measured in the same run;
4. Debian's chromium through Playwright, a fresh browser context (empty browser cache)
   per round, signed in: `/blueprint/?project=<code>`. "Fully drawn" = the page says it
   is ready, every tile image of the visible layers has loaded and the project's red line
   is drawn; the time is the latest of those events, from navigation start
   (performance.timeOrigin). Cold rounds clear the tile cache first; warm rounds follow a
   round that filled it.
5. Transfer sizes from the Resource Timing entries (encoded = as sent, gzip included).

Medians of rounds are printed and written to /tmp/pagebench/report.txt. The machine is
shared and noisy: compare figures of one run, not across runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PY = ROOT / ".venv" / "bin" / "python"
WORK = Path(os.environ.get("PAGE_BENCH_DIR", "/tmp/pagebench"))
DB = "neixiang_bench_page"
USER = "page-bench"
PASSWORD = "Bench!Pass-2024x"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1280, "height": 800}
GOAL_WARM_S, GOAL_COLD_S, GOAL_WEIGHT = 1.0, 2.5, 250 * 1024

# Recorded in the page before any of its scripts run: when each tile image and the
# highlight finished, whatever the page's own code does (the same probe for every version
# of blueprint.js, so figures before and after a change compare).
PROBE = """
(() => {
  const t = window.__bench = {tiles: 0, lastTile: 0, highlight: 0, failed: 0};
  document.addEventListener('load', (e) => {
    const el = e.target;
    if (el && el.tagName === 'IMG' && el.classList.contains('leaflet-tile')) {
      t.tiles += 1; t.lastTile = performance.now();
    }
  }, true);
  document.addEventListener('error', (e) => {
    const el = e.target;
    if (el && el.tagName === 'IMG') { t.failed += 1; t.lastTile = performance.now(); }
  }, true);
  new MutationObserver(() => {
    if (!t.highlight && document.querySelector('.leaflet-bp-highlight-pane path')) {
      t.highlight = performance.now();
    }
  }).observe(document, {childList: true, subtree: true});
})();
"""
# Settled: the page is ready, no tile image is still loading, the highlight is drawn.
SETTLED = """() => {
  const b = window.__bench;
  if (!b || document.body.dataset.ready !== '1' || !b.highlight) { return false; }
  const tiles = document.querySelectorAll('#bp-map img.leaflet-tile');
  if (!tiles.length) { return false; }
  for (const img of tiles) {
    // Leaflet marks a drawn tile; a failed one is complete without pixels.
    const failed = img.dataset.bpFailed || (img.complete && img.getAttribute('src')
                                            && !img.naturalWidth);
    if (!img.classList.contains('leaflet-tile-loaded') && !failed) { return false; }
  }
  return true;
}"""
RESULT = """() => {
  const b = window.__bench;
  const nav = performance.getEntriesByType('navigation')[0];
  const res = performance.getEntriesByType('resource');
  const kind = (r) => {
    const p = new URL(r.name).pathname;
    if (p.endsWith('.js')) { return 'js'; }
    if (p.endsWith('.css')) { return 'css'; }
    if (p.startsWith('/ows/wmts/')) { return 'tile'; }
    return 'other';
  };
  const sizes = {html: nav.encodedBodySize, html_raw: nav.decodedBodySize};
  const counts = {};
  for (const r of res) {
    const k = kind(r);
    sizes[k] = (sizes[k] || 0) + r.encodedBodySize;
    sizes[k + '_raw'] = (sizes[k + '_raw'] || 0) + r.decodedBodySize;
    counts[k] = (counts[k] || 0) + 1;
  }
  const tiles = res.filter(r => kind(r) === 'tile');
  const waits = tiles.map(r => r.responseStart - r.requestStart).sort((a, b) => a - b);
  const mark = performance.getEntriesByName('blueprint-ready')[0];
  return {drawn: Math.max(b.lastTile, b.highlight, mark ? mark.startTime : 0),
          lastTile: b.lastTile, highlight: b.highlight, tiles: b.tiles, failed: b.failed,
          readyMark: mark ? mark.startTime : null, ttfb: nav.responseStart,
          domContentLoaded: nav.domContentLoadedEventEnd, sizes, counts,
          firstTileStart: Math.min(...tiles.map(r => r.startTime)),
          lastTileEnd: Math.max(...tiles.map(r => r.responseEnd)),
          tileServerWaitMedian: waits.length ? waits[Math.floor(waits.length / 2)] : null,
          apiCalls: res.filter(r => new URL(r.name).pathname.startsWith('/api/'))
                       .map(r => new URL(r.name).pathname)};
}"""


def log(text: str) -> None:
    print(text, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(NEIXIANG_DB_NAME=DB, DJANGO_SETTINGS_MODULE="bench_settings",
               PYTHONPATH=f"{WORK}:{ROOT}", TILE_CACHE_DIR=str(WORK / "tiles"),
               PROMETHEUS_MULTIPROC_DIR=str(WORK / "prometheus"),
               OPS_BACKGROUND_ENABLED="false", LOG_LEVEL="WARNING",
               MAP_RATE_LIMIT_PER_MINUTE="0")
    return env


def write_settings() -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / "prometheus").mkdir(exist_ok=True)
    (WORK / "bench_settings.py").write_text(
        "# generated by bench/page_bench.py: the service's settings, with private folders\n"
        "from pathlib import Path\n"
        "from config.settings import *  # noqa: F401,F403\n"
        f"MAPPROXY_DIR = Path({str(WORK / 'mapproxy')!r})\n"
        f"STATIC_ROOT = Path({str(WORK / 'static')!r})\n")


def manage(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([str(PY), str(ROOT / "manage.py"), *args], cwd=ROOT,
                          env=bench_env(), check=check, text=True, capture_output=True)


SETUP = """
from approvals_link.models import Project
from layers.models import LayerVersion
kg = LayerVersion.objects.filter(layer__code="KGDK", state="published").first()
print(json.dumps({"parcels": kg.feature_count if kg else 0,
                  "projects": Project.objects.count()}))
"""
ACCOUNT = f"""
from accounts.models import User
from accounts.roles import Role
from approvals_link.models import Project
u = User.objects.filter(username={USER!r}).first() or User(username={USER!r})
u.role = Role.EXTERNAL_SYSTEM
u.set_password({PASSWORD!r})
u.save()
p = (Project.objects.filter(footprints__isnull=False).order_by("project_code")
     .values_list("project_code", flat=True)[500])
print(json.dumps({{"project": p}}))
"""


def shell(code: str) -> dict[str, Any]:
    out = manage("shell", "-c", "import json\n" + code).stdout
    return json.loads(out.strip().splitlines()[-1])


def prepare(args: argparse.Namespace) -> str:
    write_settings()
    env = bench_env()
    subprocess.run([str(PY), "-m", "config.localdb", "start"], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    manage("migrate", "--noinput", "-v0")
    have = shell(SETUP)
    if not args.skip_load and (have["parcels"] != args.parcels
                               or have["projects"] < args.projects):
        log(f"loading the demo ({args.parcels} parcels, {args.projects} projects)…")
        started = time.perf_counter()
        manage("load_demo", "--parcels", str(args.parcels), "--projects", str(args.projects),
               "--replace")
        log(f"  load_demo {time.perf_counter() - started:.0f} s")
    manage("collectstatic", "--noinput", "-v0")
    return shell(ACCOUNT)["project"]


class Servers:
    """gunicorn (and nginx in front of it, as deploy/nginx.conf) on free ports."""

    def __init__(self, workers: int, threads: int, peer: bool):
        self.procs: list[subprocess.Popen] = []
        self.port = free_port()
        self.app_url = f"http://127.0.0.1:{self.port}"
        logs = WORK / "logs"
        logs.mkdir(exist_ok=True)
        self.log_file = open(logs / "gunicorn.out", "w")  # noqa: SIM115 - open while it runs
        self.procs.append(subprocess.Popen(
            [str(ROOT / ".venv/bin/gunicorn"), "config.wsgi", "--bind",
             f"127.0.0.1:{self.port}", "--workers", str(workers), "--threads", str(threads),
             "--timeout", "120"], cwd=ROOT, env=bench_env(),
            stdout=self.log_file, stderr=subprocess.STDOUT,
            start_new_session=True))
        wait_http(self.app_url + "/healthz")
        self.peer_url: str | None = None
        if peer and shutil.which("nginx"):
            self.peer_url = self._nginx()
        elif peer:
            log("nginx is not installed: no peer (apt-get install nginx-light)")

    def _nginx(self) -> str:
        port = free_port()
        run = WORK / "nginx"
        (run / "tmp").mkdir(parents=True, exist_ok=True)
        tiles = WORK / "tiles" / "public"
        conf = f"""
worker_processes 2;
pid {run}/nginx.pid;
error_log {run}/error.log warn;
daemon off;
events {{ worker_connections 1024; }}
http {{
  include /etc/nginx/mime.types;
  access_log off;
  sendfile on; tcp_nodelay on;
  client_body_temp_path {run}/tmp/client; proxy_temp_path {run}/tmp/proxy;
  fastcgi_temp_path {run}/tmp/fastcgi; uwsgi_temp_path {run}/tmp/uwsgi;
  scgi_temp_path {run}/tmp/scgi;
  gzip on; gzip_types text/css application/javascript application/json;
  gzip_static on;
  upstream app {{ server 127.0.0.1:{self.port}; keepalive 32; }}
  server {{
    listen 127.0.0.1:{port};
    location ~ "^/ows/wmts/(?<layer>[A-Za-z][A-Za-z0-9_]*)/(?<tms>webmercator|cgcs2000)/(?<z>[0-9]{{1,2}})/(?<x>[0-9]+)/(?<y>[0-9]+)\\.png$" {{
      if ($http_authorization) {{ return 418; }}
      if ($arg_token) {{ return 418; }}
      error_page 418 = @app;
      root {tiles};
      try_files /$layer/$tms/$z/$x/$y.png @app;
      add_header Cache-Control "public, max-age=300";
      add_header X-Tile-Source "nginx";
    }}
    location /static/ {{ alias {WORK / 'static'}/; expires 30d; }}
    location / {{ proxy_pass http://app; }}
    location @app {{ proxy_pass http://app; }}
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host $host;
  }}
}}
"""
        (run / "nginx.conf").write_text(conf)
        self.procs.append(subprocess.Popen(["nginx", "-c", str(run / "nginx.conf"), "-e",
                                            str(run / "error.log")],
                                           start_new_session=True))
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/healthz")
        return url

    def stop(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)  # its own session: gunicorn and workers
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        self.log_file.close()


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer")


def clear_tile_cache() -> None:
    """Every rendered tile goes (the links for nginx stay; MapProxy recreates folders)."""
    root = WORK / "tiles"
    if not root.is_dir():
        return
    for entry in root.iterdir():
        if entry.name in ("public", "_locks", "_tile_locks") or entry.is_symlink():
            continue
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)


def login_cookies(base: str) -> list[dict[str, Any]]:
    import requests

    s = requests.Session()
    s.get(f"{base}/accounts/login/", timeout=30)
    r = s.post(f"{base}/accounts/login/", timeout=30,
               data={"username": USER, "password": PASSWORD,
                     "csrfmiddlewaretoken": s.cookies["csrftoken"]},
               headers={"Referer": f"{base}/accounts/login/"})
    r.raise_for_status()
    if "sessionid" not in s.cookies:
        raise SystemExit("bench sign-in failed")
    return [{"name": c.name, "value": c.value, "url": base} for c in s.cookies]


def one_round(browser: Any, base: str, path: str, cookies: list[dict[str, Any]]
              ) -> dict[str, Any]:
    context = browser.new_context(viewport=VIEWPORT)
    try:
        context.add_cookies(cookies)
        context.add_init_script(PROBE)
        page = context.new_page()
        external: list[str] = []
        page.on("request", lambda r: (not r.url.startswith((base, "data:", "blob:"))
                                      and external.append(r.url)))
        page.goto(base + path, wait_until="commit")
        page.wait_for_function(SETTLED, timeout=60000, polling=50)
        # A tile layer may still start a request right after settling (none expected).
        page.wait_for_timeout(150)
        page.wait_for_function(SETTLED, timeout=60000, polling=50)
        out = page.evaluate(RESULT)
        out["external"] = external
        return out
    finally:
        context.close()


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--parcels", type=int, default=100_000)
    ap.add_argument("--projects", type=int, default=1_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--skip-load", action="store_true", help="use the database as it is")
    ap.add_argument("--no-peer", action="store_true", help="no nginx run")
    ap.add_argument("--label", default="", help="a note for the report")
    args = ap.parse_args()

    from playwright.sync_api import sync_playwright

    project = prepare(args)
    path = f"/blueprint/?project={project}"
    servers = Servers(args.workers, args.threads, peer=not args.no_peer)
    targets = {"gunicorn": servers.app_url}
    if servers.peer_url:
        targets["nginx+gunicorn"] = servers.peer_url
    rows: dict[str, dict[str, list[dict[str, Any]]]] = {t: {"cold": [], "warm": []}
                                                        for t in targets}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            cookies = {name: login_cookies(url) for name, url in targets.items()}
            # Warm-up: both workers build their map-service configuration; not measured.
            for name, url in targets.items():
                for _ in range(2):
                    one_round(browser, url, path, cookies[name])
            for n in range(args.rounds):
                for name, url in targets.items():  # interleaved: the same noise for both
                    clear_tile_cache()
                    cold = one_round(browser, url, path, cookies[name])
                    warm = one_round(browser, url, path, cookies[name])
                    rows[name]["cold"].append(cold)
                    rows[name]["warm"].append(warm)
                    log(f"round {n + 1} {name:15s} cold {cold['drawn']:7.0f} ms  "
                        f"warm {warm['drawn']:7.0f} ms  tiles {warm['tiles']}  "
                        f"first tile asked {warm['firstTileStart']:.0f} ms, last received "
                        f"{warm['lastTileEnd']:.0f} ms, server wait median "
                        f"{warm['tileServerWaitMedian']:.0f} ms (cold "
                        f"{cold['tileServerWaitMedian']:.0f} ms)  api {warm['apiCalls']}")
            browser.close()
    finally:
        servers.stop()

    lines = [f"blueprint page benchmark {time.strftime('%Y-%m-%d %H:%M:%S')} {args.label}",
             f"page {path}  viewport {VIEWPORT['width']}x{VIEWPORT['height']}  "
             f"rounds {args.rounds}  gunicorn {args.workers}x{args.threads}",
             "navigation start -> all visible tiles and the red line drawn (median ms):"]
    for name, data in rows.items():
        cold = median([r["drawn"] for r in data["cold"]])
        warm = median([r["drawn"] for r in data["warm"]])
        w = data["warm"][-1]
        s = w["sizes"]
        shell_kb = (s.get("html", 0) + s.get("js", 0) + s.get("css", 0)) / 1024
        shell_raw = (s.get("html_raw", 0) + s.get("js_raw", 0) + s.get("css_raw", 0)) / 1024
        lines += [
            f"  {name:15s} warm {warm:7.0f} ms (goal {GOAL_WARM_S * 1000:.0f})   "
            f"cold {cold:7.0f} ms (goal {GOAL_COLD_S * 1000:.0f})",
            f"  {'':15s} ttfb {median([r['ttfb'] for r in data['warm']]):.0f} ms  "
            f"DOMContentLoaded {median([r['domContentLoaded'] for r in data['warm']]):.0f} ms"
            f"  tiles {w['tiles']} ({s.get('tile', 0) / 1024:.0f} KB)  "
            f"requests {w['counts']}  api calls {w['apiCalls']}",
            f"  {'':15s} HTML+JS+CSS {shell_kb:.1f} KB transferred (compressed; "
            f"{shell_raw:.1f} KB raw; goal < {GOAL_WEIGHT // 1024} KB)  "
            f"html {s.get('html', 0) / 1024:.1f} KB js {s.get('js', 0) / 1024:.1f} KB "
            f"css {s.get('css', 0) / 1024:.1f} KB  external requests "
            f"{sum(len(r['external']) for r in data['warm'] + data['cold'])}",
        ]
    if len(rows) == 2:
        a, b = rows["gunicorn"], rows["nginx+gunicorn"]
        for phase in ("warm", "cold"):
            ratio = median([x["drawn"] / y["drawn"] for x, y in zip(a[phase], b[phase],
                                                                  strict=True)])
            lines.append(f"  ratio gunicorn / nginx+gunicorn ({phase}): {ratio:.2f}")
    report = "\n".join(lines)
    (WORK / "report.txt").write_text(report + "\n")
    (WORK / "raw.json").write_text(json.dumps(rows, indent=1))
    log(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
