"""WSGI entry point (gunicorn config.wsgi)."""

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
