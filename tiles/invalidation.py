"""Keeping every map current: regenerate the services when what is published changes, and
remove exactly the tiles an edit touches, before the change is reported done."""

from __future__ import annotations

import logging
import shutil
import threading
from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from layers.models import Layer, LayerVersion
from layers.services import features_changed, version_published
from tiles.cache import cache_dir, remove_touched_tiles
from tiles.grids import GRIDS
from tiles.models import bump_generation
from tiles.public_links import refresh_public_links

log = logging.getLogger(__name__)


@receiver(version_published)
def on_version_published(sender: Any, version: LayerVersion, previous: LayerVersion | None,
                         **kwargs: Any) -> None:
    # The new version renders into a new folder; the next request of every worker loads
    # the new configuration. The retired version's tiles are unreachable from now on and
    # are removed in the background (a large cache takes a while to delete).
    bump_generation()
    refresh_public_links()
    if previous is not None:
        folder = cache_dir(previous.layer, previous.pk, GRIDS[0].name).parent
        threading.Thread(target=shutil.rmtree, args=(folder,), kwargs={"ignore_errors": True},
                         daemon=True).start()


@receiver(features_changed)
def on_features_changed(sender: Any, version: LayerVersion, old_geoms: list, new_geoms: list,
                        **kwargs: Any) -> None:
    removed = 0
    for grid in GRIDS:
        removed += remove_touched_tiles(cache_dir(version.layer, version.pk, grid.name), grid,
                                        [*old_geoms, *new_geoms])
    log.info("%s v%s: %d cached tiles removed after an edit", version.layer.code,
             version.number, removed)


@receiver(post_save, sender=Layer)
def on_layer_saved(sender: Any, instance: Layer, **kwargs: Any) -> None:
    # Style, names or access level: the services change; a restyle also means a new cache
    # folder (the style digest is part of its name), and a layer that stops being public
    # loses its link for the web server at once.
    bump_generation()
    refresh_public_links()


@receiver(post_delete, sender=Layer)
@receiver(post_delete, sender=LayerVersion)
def on_deleted(sender: Any, **kwargs: Any) -> None:
    bump_generation()
