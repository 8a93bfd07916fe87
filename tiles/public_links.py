"""A folder of links to the current tile caches of PUBLIC layers, for a web server.

In the production arrangement (deploy/nginx.conf) nginx serves WMTS REST tiles straight
from `TILE_CACHE_DIR/public/{layer}/{matrix set}/{z}/{x}/{y}.png` and passes every miss to
the application. Only public layers have a link here, so internal and confidential tiles are
never reachable without the application's access check; a link is switched atomically to the
new cache folder when a version is published or a layer restyled, so nginx cannot serve a
retired version's tiles.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings

from layers.models import Layer, LayerVersion
from tiles.cache import version_dir


def public_root() -> Path:
    return Path(settings.TILE_CACHE_DIR) / "public"


def refresh_public_links() -> None:
    root = public_root()
    root.mkdir(parents=True, exist_ok=True)
    wanted: dict[str, Path] = {}
    for version in (LayerVersion.objects.filter(state=LayerVersion.State.PUBLISHED,
                                                layer__access_level=Layer.Access.PUBLIC)
                    .select_related("layer")):
        target = version_dir(version.layer, version.pk)
        target.mkdir(parents=True, exist_ok=True)
        wanted[version.layer.code] = target
    for code, target in wanted.items():
        link = root / code
        relative = os.path.relpath(target, root)
        if link.is_symlink() and os.readlink(link) == relative:
            continue
        tmp = root / f".{code}.{os.getpid()}"
        if tmp.is_symlink():
            tmp.unlink()
        os.symlink(relative, tmp)
        os.replace(tmp, link)  # atomic: nginx sees the old or the new folder, never none
    for entry in root.iterdir():
        if entry.name not in wanted and entry.is_symlink():
            entry.unlink()
