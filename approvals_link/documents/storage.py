"""Content-addressed store of document bytes under settings.DOCUMENTS_ROOT.

A file lives at ``<root>/<first two hex digits>/<full sha256 hex>``: the name comes only
from the digest of the bytes, never from anything the user sent, so no uploaded name can
reach outside the store. Writes stream into a temporary file in the store itself (same
file system, so the final rename is atomic), counting size and hashing as they go, and are
fsynced before the rename; a crash leaves either the old state or the complete file.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from django.conf import settings

SHA256_HEX = re.compile(r"[0-9a-f]{64}")
TEMP_PREFIX = ".upload-"


class DocumentTooLarge(Exception):
    """The bytes exceed settings.DOCUMENT_MAX_BYTES (HTTP 413)."""

    def __init__(self, limit: int):
        self.limit = limit
        super().__init__(f"文件超过上限 {limit} 字节 (file larger than {limit} bytes)")


def root() -> Path:
    return Path(settings.DOCUMENTS_ROOT)


def path_for(sha256: str) -> Path:
    """Where the bytes with this digest live. Refuses anything but 64 lowercase hex digits,
    so even a corrupted row cannot name a path outside the store."""
    if not SHA256_HEX.fullmatch(sha256):
        raise ValueError("not a SHA-256 hex digest")
    return root() / sha256[:2] / sha256


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable (the directory entry, not only the file's bytes)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. platforms without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@dataclass
class StagedFile:
    """Bytes written and hashed but not yet in the store: inspect, then commit or discard."""

    temp_path: Path
    sha256: str
    size: int
    _done: bool = field(default=False, repr=False)

    def commit(self) -> Path:
        """Move into place under the digest's name (atomic). Identical bytes already stored
        are kept; a stored file of the wrong size (damaged) is replaced."""
        target = path_for(self.sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            if target.exists() and target.stat().st_size == self.size:
                self.discard()
                return target
            os.replace(self.temp_path, target)
            os.chmod(target, 0o640)
            _fsync_dir(target.parent)
        finally:
            self.discard()
        return target

    def discard(self) -> None:
        if not self._done:
            self._done = True
            self.temp_path.unlink(missing_ok=True)

    def __enter__(self) -> StagedFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()  # no-op after commit


def stage(chunks: Iterable[bytes], *, max_bytes: int | None = None) -> StagedFile:
    """Stream chunks into a temporary file in the store, hashing and counting; stop with
    DocumentTooLarge as soon as the limit is passed (the partial file is removed)."""
    limit = settings.DOCUMENT_MAX_BYTES if max_bytes is None else max_bytes
    base = root()
    base.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=base)
    temp_path = Path(name)
    digest = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise DocumentTooLarge(limit)
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        temp_path.unlink(missing_ok=True)
        raise
    return StagedFile(temp_path=temp_path, sha256=digest.hexdigest(), size=size)


def open_stored(sha256: str) -> BinaryIO:
    """The stored bytes for reading (FileNotFoundError when missing)."""
    return open(path_for(sha256), "rb")  # FileResponse closes it


def exists(sha256: str) -> bool:
    return path_for(sha256).is_file()
