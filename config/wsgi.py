"""WSGI entry point (gunicorn config.wsgi)."""

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_application = get_wsgi_application()

# Imported after the settings are configured.
from tiles.fast_path import PublicTileFastPath  # noqa: E402
from tiles.mvt_fast_path import MvtFastPath  # noqa: E402
from tiles.wms_fast_path import WmsFastPath  # noqa: E402

# Public map requests without credentials are answered before the Django middleware, each
# path doing exactly what the full stack would (or handing the request on to it):
# cached WMTS tiles from the public links (as nginx does in production), vector tiles, and
# WMS GetMap through the public MapProxy service.
application = WmsFastPath(MvtFastPath(PublicTileFastPath(django_application)))

# What is loaded by now lives as long as the worker: frozen, the collector's full passes no
# longer walk it (about 100 000 objects: a full pass took some 85 ms every thousand or so
# map requests, about 0.1 ms per request).
gc.collect()
gc.freeze()
