"""A web worker loads what serving needs and no more: the issue caps a worker at 300 MB RSS
after 10 000 mixed requests, and every library loaded at start is carried by every worker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Loaded on demand only: file formats (imports, exports), PDF reports, DXF, test tooling.
ON_DEMAND = ["pyogrio", "weasyprint", "ezdxf", "pandas", "geopandas", "playwright", "pytest",
             "fontTools"]


def test_wsgi_application_does_not_load_on_demand_libraries():
    probe = ("import json, sys; import config.wsgi; "
             f"print(json.dumps([m for m in {ON_DEMAND!r} if m in sys.modules]))")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
