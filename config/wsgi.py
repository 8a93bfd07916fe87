"""WSGI entry point (gunicorn config.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_application = get_wsgi_application()

from tiles.fast_path import PublicTileFastPath  # noqa: E402  (needs the settings above)

# Cached public tiles first, as nginx does in the production arrangement.
application = PublicTileFastPath(django_application)
