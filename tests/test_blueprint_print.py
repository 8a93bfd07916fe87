"""Printing the blueprint page's view (POST /blueprint/api/print): real PostGIS, real Mapnik.

Layers of known colours are published, a print is requested, and the PNG is decoded: the
layer's colour where its feature is (pixel computed from the drawn box), the title band and
the legend, and a scale bar whose length is checked against an independent pyproj
computation and against a feature of known size. Hidden layers are refused, bad input is a
4xx, the PDF embeds its fonts, and the page's Print control downloads a file."""

from __future__ import annotations

import io
import json
import re
import zlib
from pathlib import Path

import pytest
import shapely
from PIL import Image
from pyproj import Transformer

from accounts.roles import Role
from approvals_link.models import Project
from approvals_link.services import create_footprint
from audit.models import AuditRecord
from blueprint import printing
from tests.browser import needs_browser
from tests.conftest import SEAT_X, SEAT_Y, publish_layer, square, to_crs
from tests.test_blueprint_page import Watch

pytestmark = pytest.mark.django_db(transaction=True)  # Mapnik reads through its own connections
GREEN, BLUE, RED = "#00AA00", "#0000FF", "#FF0000"
SIZE = 200.0  # metres, in EPSG:4546
URL = "/blueprint/api/print"


@pytest.fixture
def world(settings, tmp_path, make_user):
    settings.TILE_CACHE_DIR = tmp_path / "tiles"
    settings.MAPPROXY_DIR = tmp_path / "mapproxy"
    layers = {
        "public": publish_layer("PRPUB", "public", [square(SEAT_X, SEAT_Y, SIZE)], GREEN,
                                name_zh="公开测试层"),
        "internal": publish_layer("PRINT", "internal", [square(SEAT_X + 300, SEAT_Y, SIZE)],
                                  BLUE, name_zh="内部测试层"),
        "confidential": publish_layer("PRSEC", "confidential",
                                      [square(SEAT_X, SEAT_Y + 300, SIZE)], RED),
    }
    reviewer = make_user(Role.REVIEWER, "print-reviewer")
    head = make_user(Role.DEPARTMENT_HEAD, "print-head")
    project = Project.objects.create(project_code="2024-411325-47-01-000077", name="打印测试项目",
                                     construction_unit_credit_code="91411325MA00000000")
    project.handling_departments.add(reviewer.department)
    # A red line inside the public square (so the highlight sits on the green).
    redline = to_crs([square(SEAT_X + 60, SEAT_Y + 60, 80)], 4546, 4490)[0]
    create_footprint(project, redline, "redline.txt", "txt")
    return {"layers": layers, "reviewer": reviewer, "head": head, "project": project}


def lonlat_bbox(x0: float, y0: float, x1: float, y1: float) -> list[float]:
    t = Transformer.from_crs(4546, 4490, always_xy=True)
    lons, lats = t.transform([x0, x1, x0, x1], [y0, y0, y1, y1])
    return [min(lons), min(lats), max(lons), max(lats)]


VIEW = lonlat_bbox(SEAT_X - 150, SEAT_Y - 150, SEAT_X + 550, SEAT_Y + 550)


def post(client, body: dict, **headers):
    return client.post(URL, json.dumps(body), content_type="application/json", **headers)


def headers_of(r) -> dict[str, list[float]]:
    def nums(name: str) -> list[float]:
        return [float(v) for v in r[name].replace("1:", "").split(",")]

    return {"frame": nums("X-Print-Map-Frame"), "bbox": nums("X-Print-Bbox"),
            "mpp": nums("X-Print-Metres-Per-Pixel"), "bar": nums("X-Print-Scale-Bar"),
            "scale": nums("X-Print-Scale")}


def image_of(r) -> Image.Image:
    assert r.status_code == 200, r.content[:300]
    assert r["Content-Type"] == "image/png"
    return Image.open(io.BytesIO(r.content)).convert("RGB")


def close(c, target: str, tol: int = 40) -> bool:
    t = tuple(int(target[i:i + 2], 16) for i in (1, 3, 5))
    return sum(abs(a - b) for a, b in zip(c, t, strict=True)) <= tol


def page_pixel(h: dict, srid: int, x4546: float, y4546: float) -> tuple[int, int]:
    """The page pixel of a point given in EPSG:4546, from the drawn box and the map frame."""
    fx, fy, fw, fh = h["frame"]
    minx, miny, maxx, maxy = h["bbox"]
    x, y = Transformer.from_crs(4546, srid, always_xy=True).transform(x4546, y4546)
    return (int(fx + (x - minx) / (maxx - minx) * fw),
            int(fy + (maxy - y) / (maxy - miny) * fh))


def independent_mpp(h: dict, srid: int) -> float:
    """Metres per pixel across the frame's centre, in EPSG:4546, with pyproj directly."""
    minx, miny, maxx, maxy = h["bbox"]
    cy = (miny + maxy) / 2
    t = Transformer.from_crs(srid, 4546, always_xy=True)
    (ax, bx), (ay, by) = t.transform([minx, maxx], [cy, cy])
    return ((bx - ax) ** 2 + (by - ay) ** 2) ** 0.5 / h["frame"][2]


def run_length(img: Image.Image, xy: tuple[int, int], colour: str, dx: int = 1) -> int:
    """How many pixels from xy along x (either way) keep the colour."""
    x, y = xy
    n = 0
    while 0 <= x < img.width and close(img.getpixel((x, y)), colour, 60):
        n += 1
        x += dx
    return n


@pytest.mark.parametrize("srid", [3857, 4490])
def test_png_colours_legend_title_and_true_scale_bar(client, world, srid):
    r = post(client, {"bbox": VIEW, "crs": str(srid), "layers": ["PRPUB"], "title": "测试图名",
                      "format": "png", "dpi": 150, "paper": "A4", "orientation": "landscape"})
    img = image_of(r)
    h = headers_of(r)
    assert r["X-Print-CRS"] == f"EPSG:{srid}"
    assert r["Content-Disposition"].startswith("attachment; ") and ".png" in r[
        "Content-Disposition"]
    # A4 landscape at 150 dpi, and the PNG says so.
    assert img.size == (round(297 / 25.4 * 150), round(210 / 25.4 * 150))
    assert abs(Image.open(io.BytesIO(r.content)).info["dpi"][0] - 150) < 0.1  # pHYs: whole pixels per metre
    # The layer's colour where the feature is, the background where it is not.
    centre = page_pixel(h, srid, SEAT_X + SIZE / 2, SEAT_Y + SIZE / 2)
    assert close(img.getpixel(centre), GREEN), img.getpixel(centre)
    outside = page_pixel(h, srid, SEAT_X - 100, SEAT_Y - 100)
    assert not close(img.getpixel(outside), GREEN)
    # The green square is SIZE metres wide: its width in pixels is SIZE / (metres per pixel).
    mpp = independent_mpp(h, srid)
    assert abs(h["mpp"][0] - mpp) / mpp < 1e-6
    width = run_length(img, centre, GREEN, 1) + run_length(img, centre, GREEN, -1) - 1
    assert abs(width - SIZE / mpp) <= 3, (width, SIZE / mpp)
    # Scale: 1:N = metres per pixel / pixel size on paper; the bar's length in pixels.
    assert abs(h["scale"][0] - mpp / (0.0254 / 150)) <= 1
    metres, pixels, bar_x, bar_y = h["bar"]
    assert abs(pixels - metres / mpp) <= 1
    # The bar drawn: its black half starts at (bar_x, bar_y) and is half the bar long.
    row = int(bar_y) + 3
    black = run_length(img, (int(bar_x) + 1, row), "#000000")
    assert abs(black - pixels / 2) <= 3, (black, pixels)
    # Title band: dark text in it; legend panel right of the map: the layer's swatch.
    fx, fy, fw, fh = (int(v) for v in h["frame"])
    title = img.crop((fx, 0, fx + fw, fy))
    assert min(sum(c) for _, c in title.getcolors(1 << 20)) < 200
    panel = img.crop((fx + fw + 5, fy, img.width, fy + fh))
    assert any(close(c, GREEN, 30) for _, c in panel.getcolors(1 << 20))
    assert any(sum(c) < 200 for _, c in panel.getcolors(1 << 20))  # legend text


def pdf_streams(data: bytes) -> list[bytes]:
    out = []
    for m in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            out.append(zlib.decompress(m.group(1)))
        except zlib.error:
            continue
    return out


def test_pdf_is_valid_with_embedded_cjk_font(client, world):
    r = post(client, {"bbox": VIEW, "crs": "3857", "layers": ["PRPUB"], "format": "pdf",
                      "paper": "A3", "orientation": "portrait", "dpi": 96, "title": "打印 PDF"})
    assert r.status_code == 200, r.content[:300]
    assert r["Content-Type"] == "application/pdf"
    data = r.content
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    blob = data + b"".join(pdf_streams(data))
    assert re.search(rb"/FontFile[23]", blob)  # font programs travel with the file
    assert re.search(rb"/BaseFont\s*/[A-Z]{6}\+", blob)  # subset-embedded
    assert re.search(rb"/Subtype\s*/Image", blob)  # the map
    # A3 portrait: 297 x 420 mm = 841.9 x 1190.6 pt.
    box = re.search(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", blob)
    assert box and abs(float(box.group(1)) - 841.89) < 1 and abs(float(box.group(2)) - 1190.55) < 1


def test_hidden_layers_refused_and_absent(client, world):
    base = {"bbox": VIEW, "crs": "3857", "format": "png", "dpi": 96}
    # Anonymous: internal and confidential layers are refused exactly like unknown ones.
    answers = [post(client, {**base, "layers": ["PRPUB", code]}) for code in
               ("PRINT", "PRSEC", "NOPE")]
    for r, code in zip(answers, ("PRINT", "PRSEC", "NOPE"), strict=True):
        assert r.status_code == 400 and r.json()["error"] == "unknown_layer", r.content
        assert r.json()["parameter"] == "layers" and code in r.json()["detail"]
        assert "（" not in r.json()["detail"] or "(" in r.json()["detail"]  # zh and en
    # A print of the public layer does not show the internal one.
    img = image_of(post(client, {**base, "layers": ["PRPUB"]}))
    assert not any(close(c, BLUE, 30) for _, c in img.getcolors(1 << 20))
    # A reviewer (map.internal) prints it; the confidential layer stays refused.
    client.force_login(world["reviewer"])
    r = post(client, {**base, "layers": ["PRPUB", "PRINT"]})
    img, h = image_of(r), headers_of(r)
    assert close(img.getpixel(page_pixel(h, 3857, SEAT_X + 300 + SIZE / 2, SEAT_Y + SIZE / 2)),
                 BLUE)
    assert post(client, {**base, "layers": ["PRSEC"]}).status_code == 400
    # The department head sees confidential layers: printed, and the read is audited.
    client.force_login(world["head"])
    r = post(client, {**base, "layers": ["PRSEC"]})
    img, h = image_of(r), headers_of(r)
    assert close(img.getpixel(page_pixel(h, 3857, SEAT_X + SIZE / 2, SEAT_Y + 300 + SIZE / 2)),
                 RED)
    assert AuditRecord.objects.filter(event_type="layers.confidential_read", object="PRSEC",
                                      detail__via="blueprint.print").exists()


def test_project_highlight_only_for_those_who_see_it(client, world):
    body = {"bbox": VIEW, "crs": "3857", "layers": ["PRPUB"], "dpi": 96,
            "project": world["project"].project_code}
    r = post(client, body)  # anonymous: projects are not public
    assert r.status_code == 404 and r.json()["error"] == "unknown_project"
    client.force_login(world["reviewer"])
    r = post(client, body)
    img, h = image_of(r), headers_of(r)
    # The red line's outline is magenta; its inside is the green under a light magenta veil.
    x, y = page_pixel(h, 3857, SEAT_X + 60, SEAT_Y + 100)  # on the west edge
    edge = [img.getpixel((x + d, y)) for d in range(-3, 4)]
    assert any(close(c, "#FF00FF", 60) for c in edge), edge
    inside = img.getpixel(page_pixel(h, 3857, SEAT_X + 100, SEAT_Y + 100))
    assert not close(inside, GREEN, 10) and inside[1] > inside[0]  # tinted, still green
    # The legend names the project.
    assert any(close(c, "#FF00FF", 40) for _, c in img.crop(
        (int(h["frame"][0] + h["frame"][2]), 0, img.width, img.height)).getcolors(1 << 20))


@pytest.mark.parametrize(("body", "status", "error", "parameter"), [
    ({"bbox": [116.3, 39.9, 116.5, 40.0]}, 400, "outside_county", "bbox"),
    ({"bbox": [111.9, 33.0, 111.8, 33.1]}, 400, "invalid_parameter", "bbox"),
    ({"bbox": [111.8, 33.0, 111.9]}, 400, "invalid_parameter", "bbox"),
    ({"bbox": ["x", 33.0, 111.9, 33.1]}, 400, "invalid_parameter", "bbox"),
    ({"bbox": None}, 400, "invalid_parameter", "bbox"),
    ({"dpi": 50}, 400, "invalid_parameter", "dpi"),
    ({"dpi": 301}, 400, "invalid_parameter", "dpi"),
    ({"dpi": "abc"}, 400, "invalid_parameter", "dpi"),
    ({"format": "gif"}, 400, "invalid_parameter", "format"),
    ({"crs": "4326"}, 400, "invalid_parameter", "crs"),
    ({"paper": "A5"}, 400, "invalid_parameter", "paper"),
    ({"orientation": "diagonal"}, 400, "invalid_parameter", "orientation"),
    ({"lang": "fr"}, 400, "invalid_parameter", "lang"),
    ({"paper": "A3", "dpi": 300}, 400, "too_large", "dpi"),
    ({"title": "长" * 81}, 400, "invalid_parameter", "title"),
    ({"title": 5}, 400, "invalid_parameter", "title"),
    ({"layers": "PRPUB;DROP"}, 400, "unknown_layer", "layers"),
    ({"layers": [1, 2]}, 400, "invalid_parameter", "layers"),
    ({"project": "<script>"}, 400, "invalid_parameter", "project"),
    ({"project": "2019-411325-99-99-999999"}, 404, "unknown_project", "project"),
    ({"parcel": "a b;c"}, 400, "invalid_parameter", "parcel"),
    ({"parcel": "NO-SUCH-1"}, 404, "unknown_parcel", "parcel"),
])
def test_bad_input_is_a_clear_4xx(client, world, body, status, error, parameter):
    r = post(client, {"bbox": VIEW, "layers": ["PRPUB"], **body})
    assert r.status_code == status, r.content
    got = r.json()
    assert got["error"] == error and got.get("parameter") == parameter
    assert re.search(r"[\u4e00-\u9fff]", got["detail"]) and re.search(r"\([A-Za-z]",
                                                                      got["detail"])


def test_malformed_body_and_method(client, world):
    r = client.post(URL, "{not json", content_type="application/json")
    assert r.status_code == 400 and "error" in r.json()
    r = client.post(URL, json.dumps([1, 2]), content_type="application/json")
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    assert client.get(URL).status_code == 405


def test_parcel_highlight_and_portrait_layout(client, world):
    r = post(client, {"bbox": VIEW, "layers": ["PRPUB"], "dpi": 96, "paper": "A4-portrait",
                      "parcel": "PRPUB-0", "lang": "en"})
    img, h = image_of(r), headers_of(r)
    assert img.size == (round(210 / 25.4 * 96), round(297 / 25.4 * 96))
    fx, fy, fw, fh = h["frame"]
    assert fh > fw  # the map is portrait too, the legend below it
    x, y = page_pixel(h, 3857, SEAT_X, SEAT_Y + SIZE / 2)  # the parcel's west edge
    assert any(close(img.getpixel((x + d, y)), "#FF00FF", 60) for d in range(-3, 4))


def test_the_service_and_the_page_agree_on_layouts():
    spec = printing.PrintSpec(bbox=(111.8, 33.0, 111.9, 33.1), srid=3857, layers=[], title="t",
                              fmt="png", dpi=150, paper="A4", orientation="landscape", lang="zh")
    lay = printing.layout(spec)
    assert lay.map.x + lay.map.w < lay.panel.x and lay.map.y > lay.title.y + lay.title.h
    assert lay.panel.x + lay.panel.w <= lay.page[0] and lay.map.y + lay.map.h <= lay.page[1]


# --- the page's Print control, in Chromium ----------------------------------------------------

@needs_browser
def test_print_button_downloads_the_view(browser, live_server, world, live_static):
    bbox = ",".join(f"{v:.6f}" for v in VIEW)
    w = Watch(browser, live_server, user=world["reviewer"])
    try:
        page = w.open(f"{live_server.url}/blueprint/?layers=PRPUB&bbox={bbox}"
                      f"&project={world['project'].project_code}")
        page.fill("#bp-print-title", "按钮打印")
        with page.expect_download(timeout=30000) as got:
            page.click("#bp-print-submit")
        download = got.value
        assert download.suggested_filename.endswith(".png")
        img = Image.open(io.BytesIO(Path(download.path()).read_bytes()))
        assert img.format == "PNG" and img.size == (1754, 1240)  # A4 landscape at 150 dpi
        page.wait_for_function("() => /blueprint-/.test(document.getElementById("
                               "'bp-print-status').textContent)")
        # The request carries the view, the layers, the CRS and the highlighted project.
        sent = page.evaluate("window.blueprint.printRequest({})")
        assert sent["layers"] == ["PRPUB"] and sent["crs"] == "3857"
        assert sent["project"] == world["project"].project_code
        assert shapely.box(*sent["bbox"]).contains(shapely.box(*VIEW).centroid)
        # PDF through the same control.
        page.select_option("#bp-print-format", "pdf")
        page.select_option("#bp-print-dpi", "96")
        with page.expect_download(timeout=30000) as got:
            page.click("#bp-print-submit")
        assert got.value.suggested_filename.endswith(".pdf")
        assert Path(got.value.path()).read_bytes().startswith(b"%PDF-")
        # A refused print is a message on the page (A3 at 300 dpi is too large).
        page.select_option("#bp-print-paper", "A3-landscape")
        page.select_option("#bp-print-dpi", "300")
        page.click("#bp-print-submit")
        page.wait_for_selector("#bp-messages:not([hidden])")
        assert "打印失败" in page.locator("#bp-messages").inner_text()
        assert w.external == []
        assert [e for e in w.errors if "400" not in e] == [], w.errors
    finally:
        w.close()
