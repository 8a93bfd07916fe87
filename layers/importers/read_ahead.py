"""Read the file of `manage.py import_layer` while Django starts.

Starting Django and the import's libraries takes about half a second on one core; reading a
100 000-parcel GeoPackage and checksumming it take about as long, mostly in GDAL and hashlib,
which leave the GIL to the other thread. manage.py calls `start` before it imports Django;
`services.import_file` calls `take`, which hands over what was read only if it is the file
and the options the command actually asked for, unchanged since. Anything else (another
file, another encoding, a file changed meanwhile, a format that needs unpacking) is read the
usual way, so this changes how soon a result is there, never what it is.

Only files GDAL opens in place (GeoPackage, GeoJSON, a plain .shp) are read ahead: a zip is
unpacked into the import's own temporary directory, and DXF reading depends on the layer.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_READ_IN_PLACE = {"gpkg", "geojson", "shp"}


@dataclass
class _Pending:
    key: tuple[str, str | None, str | None]
    identity: tuple[int, ...]
    threads: list[threading.Thread] = field(default_factory=list)
    batch: Any = None
    error: BaseException | None = None
    checksum: str | None = None


_pending: _Pending | None = None


def _identity(path: Path) -> tuple[int, ...]:
    st = path.stat()
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def _option(argv: list[str], name: str) -> str | None:
    for k, arg in enumerate(argv):
        if arg == name and k + 1 < len(argv):
            return argv[k + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def start(argv: list[str]) -> None:
    """Begin reading the file named by `import_layer`'s arguments (`LAYER FILE [options]`).
    Any doubt about the arguments means no read-ahead; the command then reads as usual."""
    global _pending
    if len(argv) < 2 or any(a.startswith("-") for a in argv[:2]) or "--help" in argv \
            or "-h" in argv:
        return
    path = Path(argv[1])
    try:
        identity = _identity(path)
    except OSError:
        return
    # Loaded here, on the thread Django will start on: both need them, and two threads
    # importing the same packages at once only take turns.
    from django.conf import settings

    from layers.importers import sources

    settings.INSTALLED_APPS  # noqa: B018 - configure settings before another thread reads them
    try:
        fmt = sources.sniff_format(path)
    except Exception:  # noqa: BLE001 - the command reports it when it reads the file
        return
    if fmt not in _READ_IN_PLACE:
        return
    pending = _Pending(key=(str(path.resolve()), _option(argv, "--encoding"),
                            _option(argv, "--source-layer")), identity=identity)
    pending.threads = [
        threading.Thread(target=_read, args=(pending, path), name="import-read-ahead",
                         daemon=True),
        threading.Thread(target=_checksum, args=(pending, path), name="import-checksum",
                         daemon=True)]
    for t in pending.threads:
        t.start()
    _pending = pending


def _read(pending: _Pending, path: Path) -> None:
    from layers.importers.sources import read_source

    try:
        pending.batch = read_source(path, workdir=path.parent, source_name=path.name,
                                    encoding=pending.key[1], layer_name=pending.key[2])
    except BaseException as exc:  # noqa: BLE001 - raised again where the command reads
        pending.error = exc


def _checksum(pending: _Pending, path: Path) -> None:
    from layers.importers.checksum import sha256_of

    try:
        pending.checksum = sha256_of(path)
    except OSError:
        pending.checksum = None


def take(path: Path, *, source_name: str, encoding: str | None,
         layer_name: str | None) -> tuple[Any, str] | None:
    """(batch, sha256) read ahead for exactly this file and these options, or None. Waits
    for the read-ahead to finish either way: the import may fork only once its own
    threads are the only ones. Raises what reading the file raised."""
    global _pending
    pending, _pending = _pending, None
    if pending is None:
        return None
    for t in pending.threads:
        t.join()
    try:
        same_file = _identity(path) == pending.identity
    except OSError:
        return None
    key = (str(path.resolve()), encoding, layer_name)
    if not same_file or key != pending.key or source_name != path.name \
            or pending.checksum is None:
        return None
    if pending.error is not None:
        raise pending.error
    return pending.batch, pending.checksum


def discard() -> None:
    """Forget any read-ahead (a test, or a command that ended without importing)."""
    global _pending
    pending, _pending = _pending, None
    if pending is not None:
        for t in pending.threads:
            t.join()


def pending_path() -> str | None:
    """The file being read ahead, if any (for tests)."""
    return _pending.key[0] if _pending is not None else None

