"""Unpack uploaded zip archives without trusting them.

Refuses zip bombs (total size, compression ratio, member count), path traversal, absolute
paths and links before a single byte is extracted.
"""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path, PurePosixPath

from django.conf import settings

from layers.importers.base import ImportFailed, Problem


def _fail(message: str) -> ImportFailed:
    return ImportFailed([Problem(message)], code="bad_archive")


def extract_zip(path: Path, dest: Path) -> list[Path]:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise _fail("压缩包损坏或不完整 (the zip archive is damaged or truncated)") from None
    with archive:
        members = archive.infolist()
        if not members:
            raise _fail("压缩包为空 (the zip archive is empty)")
        if len(members) > settings.IMPORT_MAX_ZIP_MEMBERS:
            raise _fail(f"压缩包文件数 {len(members)} 超过上限 "
                        f"{settings.IMPORT_MAX_ZIP_MEMBERS} (too many files in the archive)")
        total = 0
        for m in members:
            name = PurePosixPath(m.filename.replace("\\", "/"))
            if name.is_absolute() or ".." in name.parts:
                raise _fail(f"压缩包内路径不安全: {m.filename} (unsafe path in archive)")
            if stat.S_ISLNK(m.external_attr >> 16):
                raise _fail(f"压缩包内含链接: {m.filename} (links are not accepted)")
            total += m.file_size
            if m.compress_size and m.file_size / m.compress_size > settings.IMPORT_MAX_ZIP_RATIO \
                    and m.file_size > 1024 * 1024:
                raise _fail(f"压缩比异常 ({m.filename})，疑似压缩炸弹 (suspicious compression "
                            "ratio: possible zip bomb)")
        if total > settings.IMPORT_MAX_UNCOMPRESSED_BYTES:
            raise _fail(f"解压后大小 {total} 字节超过上限 {settings.IMPORT_MAX_UNCOMPRESSED_BYTES}"
                        " (uncompressed size over the limit)")
        extracted: list[Path] = []
        for m in members:
            if m.is_dir():
                continue
            target = dest / PurePosixPath(m.filename.replace("\\", "/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            written = 0
            try:
                with archive.open(m) as src, open(target, "wb") as out:
                    # Count real bytes: the sizes in the directory can lie.
                    while chunk := src.read(1024 * 1024):
                        written += len(chunk)
                        if written > m.file_size or written > settings.IMPORT_MAX_UNCOMPRESSED_BYTES:
                            raise _fail(f"{m.filename} 解压后大小与声明不符 (size mismatch)")
                        out.write(chunk)
            except (zipfile.BadZipFile, EOFError, OSError) as exc:
                raise _fail(f"压缩包内 {m.filename} 无法解压：{exc} (cannot extract)") from None
            extracted.append(target)
        return extracted
