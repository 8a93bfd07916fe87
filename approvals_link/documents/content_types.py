"""What a document really is, decided from its bytes (magic numbers and structure).

The client's Content-Type header is not consulted and the file name's extension is only a
claim to check: the detected type must be one the extension allows, or the upload is
refused (HTTP 415) with a reason. Executables, HTML and SVG are refused outright: served
from this site they could run code or script the site, whatever they are called.
"""

from __future__ import annotations

import codecs
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

HEAD_BYTES = 8192
# Whole-file JSON parsing only up to this size; beyond it the opening is checked.
JSON_PARSE_LIMIT = 10 * 1024 * 1024


@dataclass(frozen=True)
class FileType:
    code: str
    mime: str
    extensions: tuple[str, ...]
    label: str  # Chinese (English), for messages


PDF = FileType("pdf", "application/pdf", (".pdf",), "PDF")
OFD = FileType("ofd", "application/ofd", (".ofd",), "OFD 版式文件 (OFD)")
PNG = FileType("png", "image/png", (".png",), "PNG 图片 (PNG image)")
JPEG = FileType("jpeg", "image/jpeg", (".jpg", ".jpeg"), "JPEG 图片 (JPEG image)")
TIFF = FileType("tiff", "image/tiff", (".tif", ".tiff"), "TIFF 图片 (TIFF image)")
ZIP = FileType("zip", "application/zip", (".zip",), "ZIP 压缩包 (ZIP archive)")
DOCX = FileType("docx", "application/vnd.openxmlformats-officedocument."
                "wordprocessingml.document", (".docx",), "Word 文档 (DOCX)")
XLSX = FileType("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                (".xlsx",), "Excel 表格 (XLSX)")
DWG = FileType("dwg", "image/vnd.dwg", (".dwg",), "DWG 图纸 (DWG drawing)")
DXF = FileType("dxf", "image/vnd.dxf", (".dxf",), "DXF 图纸 (DXF drawing)")
TXT = FileType("txt", "text/plain", (".txt",), "文本 (text)")
CSV = FileType("csv", "text/csv", (".csv",), "CSV 表格 (CSV)")
GEOJSON = FileType("geojson", "application/geo+json", (".geojson", ".json"),
                   "GeoJSON")
JSON = FileType("json", "application/json", (".json",), "JSON")

ALL_TYPES = (PDF, OFD, PNG, JPEG, TIFF, ZIP, DOCX, XLSX, DWG, DXF, TXT, CSV, GEOJSON, JSON)
ALLOWED_EXTENSIONS = frozenset(ext for t in ALL_TYPES for ext in t.extensions)

# Refused by name whatever the content: programs, scripts and active web content.
REFUSED_EXTENSIONS = frozenset({
    ".exe", ".dll", ".com", ".scr", ".msi", ".bat", ".cmd", ".ps1", ".vbs", ".js", ".jse",
    ".wsf", ".sh", ".bin", ".elf", ".so", ".dylib", ".app", ".jar", ".apk", ".php", ".jsp",
    ".asp", ".aspx", ".html", ".htm", ".xhtml", ".shtml", ".svg", ".svgz", ".xml", ".hta",
    ".lnk", ".docm", ".xlsm", ".pptm",
})
# Members that make an archive a carrier of programs or active content.
REFUSED_MEMBER_SUFFIXES = REFUSED_EXTENSIONS - {".xml", ".bin"}

EXECUTABLE_MAGIC = (
    # "MZ" alone could open a text; a PE header always has NUL bytes soon after.
    (b"MZ", "Windows 可执行文件 (Windows executable)"),
    (b"\x7fELF", "ELF 可执行文件 (ELF executable)"),
    (b"\xfe\xed\xfa\xce", "Mach-O 可执行文件 (Mach-O executable)"),
    (b"\xfe\xed\xfa\xcf", "Mach-O 可执行文件 (Mach-O executable)"),
    (b"\xce\xfa\xed\xfe", "Mach-O 可执行文件 (Mach-O executable)"),
    (b"\xcf\xfa\xed\xfe", "Mach-O 可执行文件 (Mach-O executable)"),
    (b"\xca\xfe\xba\xbe", "Mach-O/Java 可执行文件 (fat binary or class file)"),
    (b"#!/", "脚本 (script)"),
)
# Markup that a browser would render (and run scripts in), at the start of a text.
MARKUP = re.compile(rb"<\s*(!doctype\s+html|html|head|body|script|svg|iframe|object|embed|"
                    rb"meta|a\s|img\s|div|\?xml)", re.IGNORECASE)
DXF_SECTION = re.compile(r"\A\s*(999\s*\r?\n[^\n]*\r?\n\s*)*0\s*\r?\n\s*SECTION\s*$",
                         re.MULTILINE)
DWG_MAGIC = re.compile(rb"AC10[0-9]{2}")
BINARY_DXF = b"AutoCAD Binary DXF\r\n\x1a\x00"


class UnsupportedType(Exception):
    """Refused type (HTTP 415); `detail` says why in Chinese (English)."""

    def __init__(self, code: str, detail: str):
        self.code = code
        self.detail = detail
        super().__init__(detail)


@dataclass(frozen=True)
class Detected:
    type: FileType
    content_type: str  # what downloads are served as (charset included for texts)
    encoding: str | None = None


def extension_of(name: str) -> str:
    return PurePosixPath(name.replace("\\", "/")).suffix.lower()


def _zip_type(path: Path) -> FileType:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise UnsupportedType("corrupt_archive",
                              "压缩包已损坏或无法读取 (damaged ZIP archive)") from exc
    if not names:
        raise UnsupportedType("empty_archive", "压缩包为空 (empty ZIP archive)")
    for member in names:
        suffix = PurePosixPath(member.replace("\\", "/")).suffix.lower()
        if suffix in REFUSED_MEMBER_SUFFIXES or member.lower().endswith("vbaproject.bin"):
            raise UnsupportedType("refused_content",
                                  f"压缩包内含不允许的文件 {member[:100]} "
                                  "(archive carries an executable, macro or web page)")
    lowered = {n.lower() for n in names}
    if "ofd.xml" in lowered:
        return OFD
    if "[content_types].xml" in lowered:
        if any(n.startswith("word/") for n in lowered):
            return DOCX
        if any(n.startswith("xl/") for n in lowered):
            return XLSX
        raise UnsupportedType("unsupported_type",
                              "不支持的 Office 文件类型 (unsupported Office document)")
    return ZIP


def _binary_type(head: bytes, path: Path) -> FileType | None:
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return TIFF
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return _zip_type(path)
    if DWG_MAGIC.match(head[:6]):
        return DWG
    if head.startswith(BINARY_DXF):
        return DXF
    return None


def _text_encoding(path: Path) -> str | None:
    """'utf-8' or 'gb18030' when the whole file decodes as such and has no NUL; else None.
    Decoded incrementally, so large texts are not held in memory."""
    for encoding in ("utf-8-sig", "gb18030"):
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            with open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    if b"\x00" in chunk:
                        return None
                    decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        return "utf-8" if encoding == "utf-8-sig" else encoding
    return None


def _json_type(path: Path, encoding: str, head_text: str, size: int) -> FileType | None:
    if not head_text.lstrip("\ufeff \t\r\n").startswith(("{", "[")):
        return None
    if size <= JSON_PARSE_LIMIT:
        try:
            value = json.loads(path.read_bytes().decode("utf-8-sig" if encoding == "utf-8"
                                                        else encoding))
        except (ValueError, UnicodeDecodeError):
            return None
        if isinstance(value, dict) and value.get("type") in (
                "FeatureCollection", "Feature", "Point", "MultiPoint", "LineString",
                "MultiLineString", "Polygon", "MultiPolygon", "GeometryCollection"):
            return GEOJSON
        return JSON
    return GEOJSON if '"type"' in head_text and "Feature" in head_text else JSON


def _mismatch(declared: str, detected: FileType) -> UnsupportedType:
    return UnsupportedType(
        "type_mismatch",
        f"文件扩展名 {declared or '（无）'} 与内容不符：内容是 {detected.label} "
        f"(extension {declared or 'none'} does not match the content, which is "
        f"{detected.code})")


def detect(path: Path, declared_name: str) -> Detected:
    """The type of the file at `path`, checked against `declared_name`'s extension.
    Raises UnsupportedType (HTTP 415) with a reason."""
    ext = extension_of(declared_name)
    if ext in REFUSED_EXTENSIONS:
        raise UnsupportedType("refused_type",
                              f"不允许上传 {ext} 文件：可执行文件、网页与 SVG 不予接收 "
                              "(executables, HTML and SVG are not accepted)")
    if ext not in ALLOWED_EXTENSIONS:
        allowed = " ".join(sorted(ALLOWED_EXTENSIONS))
        raise UnsupportedType("unsupported_type",
                              f"不支持的文件类型 {ext or '（无扩展名）'}，允许：{allowed} "
                              f"(unsupported extension; allowed: {allowed})")
    with open(path, "rb") as f:
        head = f.read(HEAD_BYTES)
    for magic, what in EXECUTABLE_MAGIC:
        if head.startswith(magic) and (magic != b"MZ" or b"\x00" in head[:64]):
            raise UnsupportedType("refused_content", f"内容是{what}，不予接收 (refused)")

    found = _binary_type(head, path)
    if found is not None:
        if ext not in found.extensions:
            raise _mismatch(ext, found)
        return Detected(found, found.mime)

    encoding = _text_encoding(path)
    if encoding is None:
        raise UnsupportedType("unsupported_type",
                              f"无法识别的文件内容，不是声明的 {ext} 文件 "
                              f"(content is not a recognised {ext} file)")
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if MARKUP.match(stripped) or re.search(rb"<\s*(script|svg|html)[\s>]", head,
                                           re.IGNORECASE):
        raise UnsupportedType("refused_content",
                              "内容是网页或 SVG，不予接收 (HTML or SVG content is refused)")
    head_text = head.decode(encoding if encoding != "utf-8" else "utf-8-sig", errors="ignore")
    charset = f"; charset={encoding}"
    if ext == ".dxf":
        if DXF_SECTION.search(head_text):
            return Detected(DXF, DXF.mime, encoding)
        raise UnsupportedType("type_mismatch", "声明为 DXF，但内容不是 DXF 图纸 "
                                               "(declared DXF, content is not a DXF drawing)")
    if ext in (".json", ".geojson"):
        kind = _json_type(path, encoding, head_text, path.stat().st_size)
        if kind is None or ext not in kind.extensions:
            raise UnsupportedType("type_mismatch", f"声明为 {ext}，但内容不是有效的 JSON "
                                                   f"(declared {ext}, content is not valid JSON)")
        return Detected(kind, kind.mime + charset, encoding)
    if ext == ".csv":
        return Detected(CSV, CSV.mime + charset, encoding)
    if ext == ".txt":
        return Detected(TXT, TXT.mime + charset, encoding)
    raise _mismatch(ext, TXT)
