"""The report as PDF: the page's template printed by WeasyPrint, maps and fonts embedded.

The Chinese font is the one tiles.legend finds on this machine (WenQuanYi Micro Hei),
declared with @font-face so the PDF never depends on the reader's fonts: WeasyPrint embeds
the subset of glyphs used. WeasyPrint may read only that font file and the report's own
map files (no network, no other file): the HTML holds user-supplied text.
"""

from __future__ import annotations

from pathlib import Path

from django.template.loader import render_to_string

from approvals_link.models import ConformityCheck
from approvals_link.report.context import build_report, visible_layer_codes
from approvals_link.report.maps import maps_for, reports_dir

FONT_FAMILY = "Report CJK"


def _fetcher(allowed: list[Path]):  # -> weasyprint.URLFetcher (imported late: ~0.3 s)
    from urllib.parse import unquote, urlsplit

    from weasyprint.urls import URLFetcher

    roots = [p.resolve() for p in allowed]

    class LocalFilesOnly(URLFetcher):
        def fetch(self, url: str, headers: dict | None = None):
            parts = urlsplit(url)
            if parts.scheme == "data":
                return super().fetch(url, headers)
            if parts.scheme != "file":
                raise ValueError(f"not fetched: {url[:80]}")
            path = Path(unquote(parts.path)).resolve()
            if not any(path == root or root in path.parents for root in roots):
                raise ValueError(f"not fetched: {path}")
            return super().fetch(url, headers)

    return LocalFilesOnly(timeout=5)


def font_css() -> tuple[str, Path | None]:
    from tiles.legend import cjk_font_path

    path = cjk_font_path()
    if path is None:
        return "", None
    return (f'@font-face {{ font-family: "{FONT_FAMILY}"; '
            f'src: url("{Path(path).as_uri()}"); }}', Path(path))


def render_pdf(check: ConformityCheck, levels: tuple[str, ...]) -> bytes:
    from weasyprint import CSS, HTML
    from weasyprint.text.fonts import FontConfiguration

    maps = maps_for(check, levels)
    context = build_report(check, map_src=lambda r: maps[r.pk].as_uri() if r.pk in maps
                           else None, visible_codes=visible_layer_codes(check, levels))
    context.update(for_pdf=True, style_nonce="")
    html = render_to_string("approvals_link/report.html", context)
    css, font_file = font_css()
    allowed = [reports_dir()] + ([font_file] if font_file else [])
    fetcher = _fetcher(allowed)
    fonts = FontConfiguration()
    stylesheets = [CSS(string=css, font_config=fonts, url_fetcher=fetcher)] if css else []
    # The <title> becomes the PDF's title; the page's own stylesheet comes with the HTML.
    document = HTML(string=html, base_url=reports_dir().as_uri() + "/", url_fetcher=fetcher)
    return document.write_pdf(stylesheets=stylesheets, font_config=fonts)
