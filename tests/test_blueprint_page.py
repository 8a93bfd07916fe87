"""The blueprint page /blueprint/: URL contract (server side) and, in headless Chromium driven
by Playwright, the page itself against the live server with the demo county.

Playwright never downloads a browser here: it drives Debian's /usr/bin/chromium."""

from __future__ import annotations

import gzip
import http.server
import io
import threading
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.management import call_command
from PIL import Image

from accounts.roles import Role
from approvals_link.models import Project
from blueprint import views_page
from layers.models import Feature
from tests.browser import READY, needs_browser
from tests.conftest import http_login

STATIC = Path(__file__).resolve().parent.parent / "static"
PAGE_STATIC = Path(__file__).resolve().parent.parent / "blueprint" / "static"
WEIGHT_LIMIT = 250 * 1024



# --- the URL contract, server side (no browser) ----------------------------------------------

CODES = ["XZQ", "SX", "JTDL", "KGDK"]


def messages(query: dict[str, str]) -> dict[str, str]:
    return {m["param"]: m["en"] for m in views_page.parse(query, CODES).messages}


def test_contract_accepts_good_values():
    c = views_page.parse({"project": "2019-411325-47-01-000123", "parcel": "NX-A01-01",
                          "layers": "xzq,KGDK", "bbox": "111.8,33.0,111.9,33.1",
                          "crs": "4490", "embed": "1", "lang": "en"}, CODES)
    assert c.messages == []
    assert (c.project, c.parcel, c.layers, c.bbox, c.crs, c.embed, c.lang) == (
        "2019-411325-47-01-000123", "NX-A01-01", ["XZQ", "KGDK"], [111.8, 33.0, 111.9, 33.1],
        "4490", True, "en")
    c = views_page.parse({"center": "111.84,33.06", "zoom": "15"}, CODES)
    assert (c.center, c.zoom, c.crs, c.lang, c.layers) == ([111.84, 33.06], 15, "3857", "zh",
                                                           None)


@pytest.mark.parametrize(("query", "param", "words"), [
    ({"bbox": "1,2,3"}, "bbox", "four numbers"),
    ({"bbox": "111.9,33.0,111.8,33.1"}, "bbox", "below its maximum"),
    ({"bbox": "116.3,39.9,116.5,40.0"}, "bbox", "outside Neixiang"),
    ({"bbox": "nan,33,111.9,33.1"}, "bbox", "four numbers"),
    ({"center": "abc"}, "center", "two numbers"),
    ({"center": "121.47,31.23"}, "center", "outside Neixiang"),
    ({"zoom": "99"}, "zoom", "0 to 20"),
    ({"crs": "4326"}, "crs", "3857 or 4490"),
    ({"lang": "fr"}, "lang", "zh or en"),
    ({"embed": "maybe"}, "embed", "0 or 1"),
    ({"project": "<script>"}, "project", "malformed project code"),
    ({"parcel": "a b;c"}, "parcel", "malformed parcel"),
    ({"layers": "XZQ,NOPE"}, "layers", "NOPE"),
])
def test_contract_refuses_bad_values(query, param, words):
    got = messages(query)
    assert param in got and words in got[param]


@pytest.mark.django_db
def test_page_renders_messages_and_frame_policy(client, settings):
    settings.BLUEPRINT_FRAME_ANCESTORS = "'self' http://127.0.0.1:9"
    r = client.get("/blueprint/", {"bbox": "1,2,3", "center": "121.47,31.23", "lang": "en",
                                   "parcel": "NO-SUCH-PARCEL"})
    assert r.status_code == 200
    body = r.content.decode()
    assert "bbox must be four numbers" in body
    assert "coordinates outside Neixiang County" in body
    assert "no such parcel: NO-SUCH-PARCEL" in body
    assert 'id="bp-map"' in body and 'type="application/json"' in body
    assert "X-Frame-Options" not in r.headers
    assert "frame-ancestors 'self' http://127.0.0.1:9" in r.headers["Content-Security-Policy"]
    assert "script-src 'self';" in r.headers["Content-Security-Policy"] + ";"
    assert "<script>" not in body.replace("<script src=", "")  # no inline script
    assert "style=" not in body
    # The default: only this site may frame the page; Chinese UI.
    del settings.BLUEPRINT_FRAME_ANCESTORS
    r = client.get("/blueprint/")
    assert "frame-ancestors 'self'" in r.headers["Content-Security-Policy"]
    assert "内乡县一张蓝图" in r.content.decode()
    assert views_page.page.required_function is None


def test_page_weight_compressed_under_budget():
    """HTML shell + every script and stylesheet the page loads, gzip-compressed."""
    files = [STATIC / "vendor/leaflet/leaflet.js", STATIC / "vendor/leaflet/leaflet.css",
             STATIC / "vendor/proj4/proj4.js", STATIC / "vendor/proj4leaflet/proj4leaflet.js",
             PAGE_STATIC / "blueprint/blueprint.js", PAGE_STATIC / "blueprint/blueprint.css",
             Path(views_page.__file__).parent / "templates/blueprint/page.html"]
    total = sum(len(gzip.compress(f.read_bytes(), 9)) for f in files)
    assert total < WEIGHT_LIMIT, total


def test_vendored_versions_are_pinned():
    versions = dict(line.split() for line in (STATIC / "vendor/VERSIONS").read_text().splitlines())
    assert versions["leaflet"] == "1.9.4"
    assert {"proj4", "proj4leaflet"} <= set(versions)
    script = (STATIC.parent / "scripts/vendor_static.sh").read_text()
    for name, version in versions.items():
        assert f"[{name}]=\"{version}\"" in script


# --- in the browser ----------------------------------------------------------------------------

@pytest.fixture
def demo(transactional_db, settings, tmp_path, make_user, live_static):
    settings.TILE_CACHE_DIR = tmp_path / "tiles"
    settings.MAPPROXY_DIR = tmp_path / "mapproxy"
    call_command("load_demo", parcels=400, projects=20, seed=5)
    project = Project.objects.filter(footprints__isnull=False).order_by("project_code").first()
    # Projects are visible to entitled accounts only (approvals_link.selectors).
    user = make_user(Role.EXTERNAL_SYSTEM, "approval-system")
    return {"project": project, "extent": project.footprints.first().geom.extent, "user": user}


class Watch:
    """A page that fails on any request off the live server and records console errors."""

    def __init__(self, browser, live_server, allowed_hosts=(), user=None):
        self.host = urlsplit(live_server.url).netloc
        self.allowed = {self.host, *allowed_hosts}
        self.context = browser.new_context(viewport={"width": 1000, "height": 700})
        if user is not None:  # signed in through the real sign-in page
            session = http_login(live_server.url, user.username)
            self.context.add_cookies([{"name": c.name, "value": c.value, "url": live_server.url}
                                      for c in session.cookies])
        self.page = self.context.new_page()
        self.external: list[str] = []
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.context.route("**/*", self._route)
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _route(self, route):
        url = route.request.url
        self.requests.append(url)
        if urlsplit(url).netloc in self.allowed or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            self.external.append(url)
            route.abort()

    def open(self, url, ready=True):
        self.page.goto(url, wait_until="networkidle")
        if ready:
            try:
                self.page.wait_for_function(READY, timeout=15000)
            except Exception as exc:
                raise AssertionError(f"page not ready: errors={self.errors} external="
                                     f"{self.external} requests={self.requests[-20:]}") from exc
            self.page.wait_for_load_state("networkidle")
        return self.page

    def close(self):
        self.context.close()


def bounds_match(got, want, tol=2e-6):
    return all(abs(a - b) <= tol for a, b in zip(got, want, strict=True))


def colours(png: bytes) -> set[tuple[int, int, int]]:
    img = Image.open(io.BytesIO(png)).convert("RGB")
    return {c for _, c in img.getcolors(maxcolors=1 << 20)}


def near(colour_set, target, tol=40) -> bool:
    return any(sum(abs(a - b) for a, b in zip(c, target, strict=True)) <= tol
               for c in colour_set)


@needs_browser
def test_project_highlight_layers_legend_coordinates(browser, live_server, demo):
    code = demo["project"].project_code
    w = Watch(browser, live_server, user=demo["user"])
    try:
        page = w.open(f"{live_server.url}/blueprint/?project={code}")
        # The footprint is highlighted, and it is in view.
        got = page.evaluate("window.blueprint.highlightBounds()")
        assert got, page.evaluate("window.blueprint.messages")
        assert bounds_match(got, demo["extent"])
        view = page.evaluate("(() => { const b = window.blueprint.map.getBounds();"
                             " return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]; })()")
        assert view[0] <= got[0] and view[1] <= got[1] and view[2] >= got[2] and view[3] >= got[3]
        assert page.evaluate("window.blueprint.readyMs") < 15000  # cold: tiles rendered now
        # Nothing external, no console errors, WMTS tiles from the directory were drawn.
        assert w.external == [] and w.errors == []
        assert any("/ows/wmts/KGDK/webmercator/" in u for u in w.requests)
        # The screenshot shows the layers' colours (parcels' land-use fills, highlight magenta).
        shot = colours(page.screenshot())
        assert near(shot, (0xFF, 0x00, 0xFF), 60) or near(shot, (0xE0, 0x5F, 0xE0), 80)
        assert len(shot) > 50
        # The URL carries the view and the layers.
        q = parse_qs(urlsplit(page.url).query)
        assert q["project"] == [code] and "KGDK" in q["layers"][0].split(",")
        assert "center" in q and "zoom" in q
        # Layer tree: categories, toggling a layer and its legend.
        assert page.locator(".bp-group[data-category=control_line]").count() == 1
        box = page.locator("input[type=checkbox][data-layer=LANX]")
        assert not box.is_checked()
        box.check()
        page.wait_for_selector(".bp-legend[data-layer=LANX] .bp-legend-row")
        assert "蓝线" in page.locator(".bp-legend[data-layer=LANX]").inner_text()
        assert "LANX" in parse_qs(urlsplit(page.url).query)["layers"][0].split(",")
        assert page.evaluate("window.blueprint.visibleLayers()").count("LANX") == 1
        box.uncheck()
        assert "LANX" not in parse_qs(urlsplit(page.url).query)["layers"][0].split(",")
        kgdk = page.locator(".bp-legend[data-layer=KGDK] .bp-legend-row")
        assert kgdk.count() >= 2  # one row per land-use class present
        # Coordinate readout: CGCS2000 and Gauss-Kruger zone 37 (DOMAIN.md check point).
        gk = page.evaluate("window.blueprint.gk(111.84, 33.06)")
        assert abs(gk["x"] - 3_659_716.061) < 0.01 and abs(gk["y"] - 37_578_448.671) < 0.01
        page.mouse.move(500, 350)
        assert "EPSG:4525" in page.locator("#bp-coords").inner_text()
        assert w.external == [] and w.errors == []
        # Warm (tiles cached, connections open): the initial view is drawn well within 1 s
        # of the page's scripts starting (a loose bound here: CI machines are shared).
        page = w.open(page.url)
        warm = page.evaluate("window.blueprint.readyMs")
        assert warm < 2500
    finally:
        w.close()


@needs_browser
def test_crs_4490_and_bad_input_messages(browser, live_server, demo):
    code = demo["project"].project_code
    w = Watch(browser, live_server, user=demo["user"])
    try:
        page = w.open(f"{live_server.url}/blueprint/?project={code}&crs=4490&lang=en")
        assert bounds_match(page.evaluate("window.blueprint.highlightBounds()"), demo["extent"])
        assert any("/ows/wmts/KGDK/cgcs2000/" in u for u in w.requests)
        assert not any("/webmercator/" in u for u in w.requests)
        assert "crs=4490" in page.url and "lang=en" in page.url
        assert "Regulatory plan" in page.locator("#bp-tree").inner_text()
        # Unknown project: a message, and the county is still drawn.
        page = w.open(f"{live_server.url}/blueprint/?project=2019-411325-99-99-999999")
        page.wait_for_selector("#bp-messages:not([hidden])")
        assert "未找到项目" in page.locator("#bp-messages").inner_text()
        assert page.locator(".leaflet-tile-loaded").count() > 0
        # Malformed and out-of-county coordinates, unknown layer and parcel.
        page = w.open(f"{live_server.url}/blueprint/?bbox=1,2,x&center=121.47,31.23"
                      "&layers=KGDK,NOPE&parcel=NOPE-1&zoom=abc&lang=en")
        text = page.locator("#bp-messages").inner_text()
        for words in ("bbox must be four numbers", "outside Neixiang County", "NOPE",
                      "no such parcel", "zoom must be"):
            assert words in text
        assert page.locator(".leaflet-tile-loaded").count() > 0
        assert page.evaluate("window.blueprint.visibleLayers()") == ["KGDK"]
        # The only console error is the browser's note of the unknown project's 404.
        assert w.external == []
        assert all("404" in e for e in w.errors) and len(w.errors) == 1, w.errors
    finally:
        w.close()


@needs_browser
def test_parcel_identify_and_search(browser, live_server, demo):
    feature = (Feature.objects.filter(version__layer__code="KGDK").exclude(parcel_no="")
               .order_by("parcel_no").first())
    w = Watch(browser, live_server, user=demo["user"])
    try:
        page = w.open(f"{live_server.url}/blueprint/?parcel={feature.parcel_no}")
        assert bounds_match(page.evaluate("window.blueprint.highlightBounds()"),
                            feature.geom.extent)
        # Identify: click the parcel's centre.
        pt = feature.geom.point_on_surface
        xy = page.evaluate(f"(() => {{ const p = window.blueprint.map.latLngToContainerPoint("
                           f"[{pt.y}, {pt.x}]); return [p.x, p.y]; }})()")
        box = page.locator("#bp-map").bounding_box()
        page.mouse.click(box["x"] + xy[0], box["y"] + xy[1])
        popup = page.wait_for_selector(".leaflet-popup-content .bp-identify")
        assert feature.parcel_no in popup.inner_text()
        # Search: project code, parcel number, project name, coordinates.
        project = demo["project"]
        cases = [(project.project_code, "project_code"), (feature.parcel_no, "parcel"),
                 (project.name, "project_name"), ("111.84, 33.06", "coordinates")]
        for text, kind in cases:
            page.fill("#bp-search-input", text)
            page.click("#bp-search button[type=submit]")
            page.wait_for_selector(f".bp-result-list[data-kind={kind}]")
            assert page.locator(".bp-result-list li").count() >= 1
        # Measure: three clicks around the map centre, as a distance and as an area.
        page.keyboard.press("Escape")
        for mode, words in (("line", "m"), ("polygon", "ha")):
            page.click(f"button[data-measure={mode}]")
            for dx, dy in ((-60, -40), (60, -40), (0, 60)):
                page.mouse.click(box["x"] + box["width"] / 2 + dx, box["y"] + box["height"] / 2 + dy)
            with page.expect_response("**/blueprint/api/measure") as measured:
                page.click("#bp-measure-finish")
            assert measured.value.status == 200
            result = page.locator("#bp-measure-result")
            page.wait_for_function("() => /\\d/.test(document.getElementById('bp-measure-result')"
                                   ".textContent)")
            assert words in result.inner_text()
        assert w.external == [] and w.errors == []
    finally:
        w.close()


@needs_browser
def test_boundary_check_upload(browser, live_server, demo):
    """Anyone may check a red line before filing: the result is drawn, with its area."""
    import json

    geom = demo["project"].footprints.first().geom
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": json.loads(geom.geojson)}]}
    w = Watch(browser, live_server)  # anonymous
    try:
        page = w.open(f"{live_server.url}/blueprint/")
        page.set_input_files("#bp-boundary-file", files=[{
            "name": "redline.geojson", "mimeType": "application/geo+json",
            "buffer": json.dumps(doc).encode()}])
        with page.expect_response("**/blueprint/api/boundary-check") as checked:
            page.click("#bp-boundary-form button[type=submit]")
        assert checked.value.status == 200, checked.value.text()
        page.wait_for_selector(".bp-boundary-area")
        assert "ha" in page.locator(".bp-boundary-area").inner_text()
        assert bounds_match(page.evaluate("window.blueprint.boundaryBounds()"), geom.extent)
        # A file that is no boundary: a clear message, no stack trace.
        page.set_input_files("#bp-boundary-file", files=[{
            "name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello"}])
        page.click("#bp-boundary-form button[type=submit]")
        page.wait_for_selector("#bp-messages:not([hidden])")
        assert "红线检查失败" in page.locator("#bp-messages").inner_text()
        assert "Traceback" not in page.content()
        assert w.external == []
    finally:
        w.close()


class _Parent(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@needs_browser
def test_embed_in_iframe_posts_events(browser, live_server, demo, settings, tmp_path):
    code = demo["project"].project_code
    server = http.server.ThreadingHTTPServer(
        ("localhost", 0), lambda *a: _Parent(*a, directory=str(tmp_path)))
    # Another origin (port) of the same site, so the signed-in session reaches the frame.
    parent = f"http://localhost:{server.server_address[1]}"
    settings.BLUEPRINT_FRAME_ANCESTORS = f"'self' {parent}"
    src = f"{live_server.url}/blueprint/?project={code}&embed=1"
    (tmp_path / "parent.html").write_text(
        "<!doctype html><html><body><iframe id=f width=800 height=600 src=\"" + src +
        "\"></iframe><script src=parent.js></script></body></html>")
    (tmp_path / "parent.js").write_text(
        "window.received = [];"
        "window.addEventListener('message', e => window.received.push({origin: e.origin,"
        " data: e.data}));")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    w = Watch(browser, live_server, allowed_hosts=(urlsplit(parent).netloc,), user=demo["user"])
    try:
        page = w.open(f"{parent}/parent.html", ready=False)
        frame = page.frame_locator("#f")
        page.wait_for_function("() => window.received.some(m => m.data.type === 'blueprint:view')",
                               timeout=15000)
        got = page.evaluate("window.received")
        view = next(m for m in got if m["data"]["type"] == "blueprint:view")
        assert view["origin"] == live_server.url
        assert len(view["data"]["bbox"]) == 4 and "KGDK" in view["data"]["layers"]
        assert isinstance(view["data"]["zoom"], int)
        # No chrome inside the frame.
        assert frame.locator("header.bp-header").count() == 0
        assert frame.locator("#bp-tree").count() == 0
        # A click on the map selects: the parent hears about it.
        frame.locator("#bp-map").click(position={"x": 400, "y": 300})
        page.wait_for_function(
            "() => window.received.some(m => m.data.type === 'blueprint:select'"
            " && m.data.kind === 'identify')", timeout=15000)
        selects = [m["data"] for m in page.evaluate("window.received")
                   if m["data"]["type"] == "blueprint:select"]
        identify = next(s for s in selects if s["kind"] == "identify")
        assert len(identify["point"]) == 2 and isinstance(identify["features"], list)
        # The click landed on the highlighted red line (centred in view): selected too.
        assert any(s["kind"] == "project" and s["project_code"] == code for s in selects)
        assert w.external == [] and w.errors == []
    finally:
        w.close()
        server.shutdown()
