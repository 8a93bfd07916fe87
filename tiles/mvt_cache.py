"""The on-disk cache of rendered vector tiles, and its exact invalidation.

Layout: `{TILE_CACHE_DIR}/mvt/{layer code}/v{version id}/{z}/{x}/{y}.mvt`, one file per tile:
a 4-byte magic, the tile's validator (its hash), the length of the gzip-compressed MVT, that
gzip and the MVT itself (both empty for a tile without features). Clients that accept gzip
get the stored gzip bytes as they are, the others the stored MVT: a hit never compresses
nor decompresses (the plain copy costs disk, not CPU).

Staying correct:
- A request reads the cache only after `mvt.lookup` fetched the published version and its
  revision in the same request, so a new version is a new folder at once.
- `features_changed` (sent after an edit commits, in the editing process) deletes exactly the
  tiles, at every zoom 0-22, whose buffered extent meets the old or the new geometry's bounds,
  then leaves a marker `.rev/{revision}`; `version_published` drops every other version's
  folder of the layer. Both finish before the handler returns.
- A worker trusts a version's cache at revision R only when the markers of all revisions up
  to R exist (remembered per process, so normally no file is looked at). An edit whose
  handler never ran (a process killed between commit and handler) therefore cannot leave a
  stale tile served: the cache is bypassed, and after `MVT_CACHE_HEAL_SECONDS` the version's
  whole cache is dropped once and trusted again.
- A tile rendered just before an edit committed but written just after its invalidation
  would survive it: after writing, the revision is read again, and the file is removed if it
  changed (or the version is no longer published).
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.dispatch import receiver

from layers import crs
from layers.services import features_changed, version_published
from tiles import mvt

log = logging.getLogger(__name__)

MAGIC = b"MVT2"
DIGEST_LEN = 24  # hex characters of mvt.digest()
HEADER_LEN = len(MAGIC) + DIGEST_LEN + 4  # + length of the gzip part (big-endian)
REV_DIR = ".rev"


def enabled() -> bool:
    return bool(mvt.setting("MVT_CACHE_ENABLED", True))


def root() -> Path:
    return Path(settings.TILE_CACHE_DIR) / "mvt"


def version_dir(code: str, version_id: int) -> Path:
    return root() / code / f"v{int(version_id)}"


def tile_path(code: str, version_id: int, z: int, x: int, y: int) -> Path:
    return version_dir(code, version_id) / str(z) / str(x) / f"{y}.mvt"


@dataclass(frozen=True)
class CachedTile:
    etag: str
    gz: bytes  # gzip of the MVT; b"" for an empty tile
    raw: bytes  # the MVT; b"" for an empty tile


def read(target: mvt.Target, z: int, x: int, y: int) -> CachedTile | None:
    try:
        with open(tile_path(target.code, target.version_id, z, x, y), "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return None
    except OSError:
        log.warning("unreadable cached tile %s/%s/%s/%s", target.code, z, x, y, exc_info=True)
        return None
    if len(data) < HEADER_LEN or not data.startswith(MAGIC):
        return None
    gz_end = HEADER_LEN + int.from_bytes(data[HEADER_LEN - 4:HEADER_LEN], "big")
    return CachedTile(data[len(MAGIC):HEADER_LEN - 4].decode("ascii"),
                      data[HEADER_LEN:gz_end], data[gz_end:])


def write(target: mvt.Target, z: int, x: int, y: int, tile: CachedTile) -> None:
    """Store a tile rendered at `target.revision`; removed again if an edit or a publication
    committed meanwhile (see the module notes)."""
    path = tile_path(target.code, target.version_id, z, x, y)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}")
        with open(tmp, "wb") as f:
            f.write(MAGIC + tile.etag.encode("ascii") + len(tile.gz).to_bytes(4, "big")
                    + tile.gz + tile.raw)
        os.replace(tmp, path)
    except OSError:
        log.warning("could not cache tile %s/%s/%s/%s", target.code, z, x, y, exc_info=True)
        return
    now = mvt.current_revision(target.version_id)
    if now is None or now != (target.revision, True):
        path.unlink(missing_ok=True)


# --- trust: have the invalidations of every revision up to the current one been done? ------
_lock = threading.Lock()
_trusted: dict[int, int] = {}  # version id -> highest revision known invalidated
_missing_since: dict[tuple[int, int], float] = {}


def _marker_dir(code: str, version_id: int) -> Path:
    return version_dir(code, version_id) / REV_DIR


def _read_floor(markers: Path) -> int:
    try:
        return int((markers / "floor").read_text().strip() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def trusted(target: mvt.Target) -> bool:
    """May this process serve and store cached tiles of `target`'s version now?"""
    vid, rev = target.version_id, target.revision
    known = _trusted.get(vid, -1)
    if rev <= known:
        return True
    markers = _marker_dir(target.code, vid)
    done = max(known, _read_floor(markers))
    while done < rev and (markers / str(done + 1)).exists():
        done += 1
    with _lock:
        _trusted[vid] = max(_trusted.get(vid, -1), done)
    if done >= rev:
        return True
    first = _missing_since.setdefault((vid, done + 1), time.monotonic())
    if time.monotonic() - first < float(mvt.setting("MVT_CACHE_HEAL_SECONDS", 30)):
        return False
    log.warning("%s v%s: no invalidation seen for revision %s; dropping its tile cache",
                target.code, target.version_id, done + 1)
    drop_version(target.code, vid, floor=rev)
    with _lock:
        _trusted[vid] = max(_trusted.get(vid, -1), rev)
    return True


def _mark_done(code: str, version_id: int, revision: int) -> None:
    markers = _marker_dir(code, version_id)
    markers.mkdir(parents=True, exist_ok=True)
    (markers / str(int(revision))).touch()
    floor = _read_floor(markers)
    advanced = floor
    while (markers / str(advanced + 1)).exists():
        advanced += 1
    if advanced > floor:
        _write_floor(markers, advanced)


def _write_floor(markers: Path, value: int) -> None:
    markers.mkdir(parents=True, exist_ok=True)
    tmp = markers / f".floor.{os.getpid()}.{uuid.uuid4().hex[:8]}"
    tmp.write_text(str(int(value)))
    os.replace(tmp, markers / "floor")


def _remove_tree(path: Path) -> None:
    """Rename away first (atomic: nothing under the old name can be served any more)."""
    if not path.exists():
        return
    trash = path.with_name(f".trash-{path.name}-{uuid.uuid4().hex[:8]}")
    try:
        os.replace(path, trash)
    except OSError:
        trash = path
    shutil.rmtree(trash, ignore_errors=True)


def drop_version(code: str, version_id: int, floor: int = 0) -> None:
    _remove_tree(version_dir(code, version_id))
    if floor:
        _write_floor(_marker_dir(code, version_id), floor)


# --- exact invalidation -----------------------------------------------------------------------
def _bounds_3857(geoms_4490: list[Any]) -> list[tuple[float, float, float, float]]:
    t = crs.transformer(crs.CGCS2000_GEOGRAPHIC, crs.WEB_MERCATOR)
    out = []
    for g in geoms_4490:
        if g is None or g.is_empty:
            continue
        x0, y0, x1, y1 = g.bounds
        xs, ys = t.transform(np.array([x0, x1, x0, x1]), np.array([y0, y0, y1, y1]))
        if np.all(np.isfinite(xs)) and np.all(np.isfinite(ys)):
            out.append((float(np.min(xs)), float(np.min(ys)), float(np.max(xs)),
                        float(np.max(ys))))
    return out


def touched_ranges(bounds: tuple[float, float, float, float]
                   ) -> list[tuple[int, int, int, int, int]]:
    """(z, x0, x1, y0, y1) per zoom 0..22: the tiles whose query window (the tile plus its
    256/4096 buffer) meets `bounds` (EPSG:3857), with a tile unit of slack for the float4
    boxes of the GiST index."""
    minx, miny, maxx, maxy = bounds
    half = mvt.WEBMERCATOR_HALF
    out = []
    for z in range(mvt.MAX_ZOOM + 1):
        n = 1 << z
        size = 2 * half / n
        pad = size * (mvt.MARGIN + 1 / mvt.EXTENT)
        x0 = max(0, math.floor((minx - pad + half) / size))
        x1 = min(n - 1, math.floor((maxx + pad + half) / size))
        y0 = max(0, math.floor((half - maxy - pad) / size))
        y1 = min(n - 1, math.floor((half - miny + pad) / size))
        if x0 <= x1 and y0 <= y1:
            out.append((z, x0, x1, y0, y1))
    return out


def remove_touched(code: str, version_id: int, geoms_4490: list[Any]) -> int:
    """Delete the cached tiles of one version touched by any of the geometries' bounds.
    Walks only folders that exist, so a county-wide geometry costs what is cached."""
    base = version_dir(code, version_id)
    if not base.is_dir():
        return 0
    removed = 0
    for bounds in _bounds_3857(geoms_4490):
        for z, x0, x1, y0, y1 in touched_ranges(bounds):
            level = base / str(z)
            if not level.is_dir():
                continue
            if (x1 - x0 + 1) <= 64:
                columns = [level / str(x) for x in range(x0, x1 + 1)]
            else:
                columns = [Path(e.path) for e in os.scandir(level)
                           if e.name.isdigit() and x0 <= int(e.name) <= x1]
            for col in columns:
                if (y1 - y0 + 1) <= 64:
                    for y in range(y0, y1 + 1):
                        try:
                            os.unlink(col / f"{y}.mvt")
                            removed += 1
                        except FileNotFoundError:
                            pass
                    continue
                try:
                    entries = list(os.scandir(col))
                except FileNotFoundError:
                    continue
                for e in entries:
                    stem = e.name.split(".", 1)[0]
                    if e.name.endswith(".mvt") and stem.isdigit() and y0 <= int(stem) <= y1:
                        try:
                            os.unlink(e.path)
                            removed += 1
                        except FileNotFoundError:
                            pass
    return removed


@receiver(features_changed, dispatch_uid="tiles.mvt_cache.features_changed")
def on_features_changed(sender: Any, version: Any, old_geoms: list, new_geoms: list,
                        **kwargs: Any) -> None:
    code = version.layer.code
    removed = remove_touched(code, version.pk, [*old_geoms, *new_geoms])
    _mark_done(code, version.pk, version.revision)
    log.info("%s v%s r%s: %d cached vector tiles removed after an edit", code,
             version.number, version.revision, removed)


@receiver(version_published, dispatch_uid="tiles.mvt_cache.version_published")
def on_version_published(sender: Any, version: Any, previous: Any = None,
                         **kwargs: Any) -> None:
    from layers.models import LayerVersion

    code = version.layer.code
    layer_dir = root() / code
    if layer_dir.is_dir():
        for entry in os.scandir(layer_dir):
            if entry.name.startswith("v"):
                _remove_tree(Path(entry.path))
    revision = (LayerVersion.objects.filter(pk=version.pk).values_list("revision", flat=True)
                .first()) or 0
    if revision:
        _write_floor(_marker_dir(code, version.pk), revision)
    with _lock:
        _trusted.pop(version.pk, None)


# --- prepared low-zoom geometry (tiles/mvt.py) ---------------------------------------------
@receiver(version_published, dispatch_uid="tiles.mvt_cache.prepare_published")
def prepare_published(sender: Any, version: Any, previous: Any = None, **kwargs: Any) -> None:
    """Compute the version's prepared z12-z14 geometry (about 2 s per 100 000 parcels per
    zoom). Until it is there, and if it fails, tiles take ST_AsMVTGeom: same features."""
    started = time.monotonic()
    try:
        n = mvt.prepare(version.pk)
    except Exception:
        log.warning("%s v%s: prepared tile geometry not computed", version.layer.code,
                    version.number, exc_info=True)
        return
    if n:
        log.info("%s v%s: prepared tile geometry of %d features in %.1f s",
                 version.layer.code, version.number, n, time.monotonic() - started)


@receiver(features_changed, dispatch_uid="tiles.mvt_cache.prepare_edited")
def prepare_edited(sender: Any, version: Any, feature_ids: list | None = None,
                   **kwargs: Any) -> None:
    """The trigger of migration 0004 emptied the edited features' copies; recompute them."""
    if not feature_ids:
        return
    try:
        mvt.prepare(version.pk, [int(i) for i in feature_ids])
    except Exception:
        log.warning("%s v%s: prepared tile geometry of features %s not recomputed",
                    version.layer.code, version.number, feature_ids, exc_info=True)
