#!/usr/bin/env bash
# Install what a fresh machine of this kind lacks: system packages (apt, when root),
# the virtualenv with pinned Python packages. Idempotent and quick when nothing is missing.
# `bootstrap.sh bench` also installs the benchmark peers (MapServer, nginx, wrk).
set -euo pipefail
cd "$(dirname "$0")/.."

SYSTEM_PACKAGES=(postgresql-15-postgis-3 postgresql-client-15 gdal-bin
  libpango-1.0-0 libpangoft2-1.0-0  # WeasyPrint (conformity report PDF)
  fonts-wqy-microhei  # CJK font for WMS legend labels (tiles/legend.py)
  chromium)  # headless browser for tests/test_blueprint_page.py (Playwright, executable_path)
if [ "${1:-}" = "bench" ]; then  # the peers bench/ measures against (`make bench-setup`)
  SYSTEM_PACKAGES+=(mapserver-bin cgi-mapserver nginx-light wrk spawn-fcgi curl valgrind)
fi

missing=()
for pkg in "${SYSTEM_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = "0" ]; then
    echo "installing system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "missing system packages; run as root:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  echo "creating virtualenv .venv"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.requirements.sha256
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "installing Python packages (requirements.txt)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r requirements.txt
  echo "$want" > "$stamp"
fi

# Bytecode of the project's own modules. Where PYTHONDONTWRITEBYTECODE is set (as on these
# machines) Python never caches it, and every manage.py command and gunicorn worker compiled
# about 80 modules again: a quarter of a second of each start. Unchanged files are skipped.
.venv/bin/python -m compileall -q -x '/(\.venv|\.git|var|node_modules)/' . >/dev/null
