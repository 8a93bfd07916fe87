"""The conformity report: page, PDF (fonts embedded, Chinese extractable), conflict maps
drawn with the map services' styles, sign-off, and who may see what.

Maps are drawn by Mapnik over its own database connections, so the data must be committed:
these tests use transactional databases.
"""

from __future__ import annotations

import io
import re
import time
import zlib
from urllib.parse import quote

import pytest
import requests
import shapely
from django.contrib.gis.geos import GEOSGeometry
from django.db import connection
from fontTools.ttLib import TTFont
from PIL import Image

from accounts.models import Department
from accounts.roles import ROLE_FUNCTIONS, Role
from approvals_link.models import (
    ConformityCheck,
    ConformityRule,
    Project,
    ProjectFootprint,
    RuleResult,
)
from approvals_link.report import maps
from approvals_link.report.context import SECTION_ORDER, build_report
from audit.models import AuditRecord
from tests.conftest import SEAT_X, SEAT_Y, http_login, publish_layer, square, to_crs

pytestmark = pytest.mark.django_db(transaction=True)
CODE = "2019-411325-47-01-000123"
BLUE = "#0000FF"
# The layer square and the red line overlap in a 50 m × 50 m square (2 500 m²).
LAYER_SQUARE = square(SEAT_X, SEAT_Y, 100)
FOOTPRINT_SQUARE = square(SEAT_X + 50, SEAT_Y + 50, 100)
CONFLICT_SQUARE = square(SEAT_X + 50, SEAT_Y + 50, 50)


def multipolygon(geom: shapely.Geometry, srid: int) -> GEOSGeometry:
    g = to_crs([geom], 4546, srid)[0]
    return GEOSGeometry(shapely.to_wkt(shapely.MultiPolygon([g])), srid=srid)


@pytest.fixture(autouse=True)
def private_report_files(settings, tmp_path):
    settings.REPORTS_DIR = tmp_path / "reports"
    settings.MAPPROXY_DIR = tmp_path / "mapproxy"
    settings.TILE_CACHE_DIR = tmp_path / "tiles"


@pytest.fixture
def world(make_user):
    """A project handled by the natural-resources department, its red line, a published
    ecological red-line layer (internal) it overlaps, and the people around it."""
    layer = publish_layer("TSTBHX", "internal", [LAYER_SQUARE], BLUE, name_zh="生态保护红线")
    head = make_user(Role.DEPARTMENT_HEAD, "head", first_name="张科长")
    reviewer = make_user(Role.REVIEWER, "reviewer")
    other = Department.objects.create(code="ZJJ", name_zh="县住建局")
    other_head = make_user(Role.DEPARTMENT_HEAD, "other_head", department=other)
    applicant = make_user(Role.APPLICANT, "firm", organization_credit_code="91411325MA00000000")
    project = Project.objects.create(
        project_code=CODE, name="内乡县某小区建设项目", construction_unit="内乡县某置业有限公司",
        construction_unit_credit_code="91411325MA00000000", applied_land_use_code="0701")
    project.handling_departments.add(head.department)
    footprint = ProjectFootprint.objects.create(
        project=project, number=1, geom=multipolygon(FOOTPRINT_SQUARE, 4490),
        geom_3857=multipolygon(FOOTPRINT_SQUARE, 3857), area_m2=FOOTPRINT_SQUARE.area)
    return {"layer": layer, "project": project, "footprint": footprint, "head": head,
            "reviewer": reviewer, "other_head": other_head, "applicant": applicant}


@pytest.fixture
def check(world):
    """A stored check written directly (as the engine stores one): one conflict on the
    ecological red line, a passing control line, failing indicators."""
    version = world["layer"].versions.get()
    check = ConformityCheck.objects.create(
        project=world["project"], footprint=world["footprint"], conclusion="conflicts",
        tolerance_m2=1.0, footprint_area_m2=10_000.0,
        layer_versions={"TSTBHX": {"version_id": version.pk, "number": version.number}},
        summary={"sections": {"three_lines": {"conclusion": "conflicts", "rules": 2,
                                              "failed": 1},
                              "control_lines": {"conclusion": "conforms", "rules": 1,
                                                "failed": 0},
                              "indicators": {"conclusion": "conflicts", "rules": 1,
                                             "failed": 1}}})
    common = {"conformity_check": check, "params": {}, "layer_version": version,
              "layer_version_number": version.number}
    RuleResult.objects.create(
        **common, rule_code="czkfbj", rule_name="须位于城镇开发边界内", kind="must_lie_inside",
        section="three_lines", layer_code="TCZKFBJ", layer_name="城镇开发边界", status="pass",
        details={"inside_m2": 10_000.0, "outside_m2": 0.0})
    conflict = RuleResult.objects.create(
        **common, rule_code="stbhhx", rule_name="不得占用生态保护红线", kind="must_not_occupy",
        section="three_lines", layer_code="TSTBHX", layer_name="生态保护红线", status="fail",
        area_m2=2500.0, feature_count=1,
        features=[{"feature_id": 1, "label": "TSTBHX-0", "area_m2": 2500.0}],
        geom=multipolygon(CONFLICT_SQUARE, 4490))
    RuleResult.objects.create(
        **common, rule_code="hdlx", rule_name="河道蓝线退让", kind="setback",
        section="control_lines", layer_code="THDLX", layer_name="河道蓝线", status="pass",
        details={"distance_m": 30.0, "min_distance_m": 85.5})
    RuleResult.objects.create(
        **common, rule_code="kgzb", rule_name="控规指标", kind="indicators",
        section="indicators", layer_code="TSTBHX", layer_name="控制性详细规划地块",
        status="fail", area_m2=2500.0, feature_count=1,
        features=[{"feature_id": 1, "label": "NX-A01-01", "land_use_code": "0701",
                   "land_use_name": "城镇住宅用地", "area_m2": 2500.0}],
        details={"indicators": [
            {"parcel_no": "NX-A01-01", "indicator": "far_max", "label": "容积率上限",
             "proposed": 3.2, "limit": 2.5, "bound": "max", "ok": False},
            {"parcel_no": "NX-A01-01", "indicator": "green_min", "label": "绿地率下限(%)",
             "proposed": 35.0, "limit": 30.0, "bound": "min", "ok": True}]},
        geom=multipolygon(CONFLICT_SQUARE, 4490))
    return {"check": check, "conflict": conflict, **world}


# --- PDF reading without poppler: streams, pages, fonts, ToUnicode -----------------------

def pdf_streams(data: bytes) -> list[bytes]:
    out = []
    for m in re.finditer(rb"stream\r?\n", data):
        end = data.find(b"endstream", m.end())
        raw = data[m.end():end]
        try:
            out.append(zlib.decompress(raw))
        except zlib.error:
            out.append(raw)
    return out


def pdf_text(data: bytes) -> str:
    """The text of the page contents, decoded through the fonts' ToUnicode maps (what a
    reader's copy-paste or search gives)."""
    streams = pdf_streams(data)
    cmap: dict[int, str] = {}
    for s in streams:
        if b"begincmap" not in s:
            continue
        for block in re.findall(rb"beginbfchar(.*?)endbfchar", s, re.S):
            for src, dst in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
                cmap[int(src, 16)] = bytes.fromhex(dst.decode()).decode("utf-16-be")
        for block in re.findall(rb"beginbfrange(.*?)endbfrange", s, re.S):
            for a, b, dst in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>",
                                        block):
                start = ord(bytes.fromhex(dst.decode()).decode("utf-16-be")[0])
                for i, code in enumerate(range(int(a, 16), int(b, 16) + 1)):
                    cmap[code] = chr(start + i)
    text = []
    for s in streams:
        if b"BT" not in s or b"begincmap" in s:
            continue
        for array in re.findall(rb"\[(.*?)\]\s*TJ|<([0-9A-Fa-f]*)>\s*Tj", s, re.S):
            chunk = array[0] or b"<" + array[1] + b">"
            for hexstr in re.findall(rb"<([0-9A-Fa-f]*)>", chunk):
                h = hexstr.decode()
                text += [cmap.get(int(h[i:i + 4], 16), "\ufffd") for i in range(0, len(h), 4)]
        text.append("\n")
    return "".join(text)


def pdf_page_count(data: bytes) -> int:
    blob = data + b"".join(pdf_streams(data))
    return len(re.findall(rb"/Type\s*/Page(?![s\w])", blob))


def embedded_fonts(data: bytes) -> list[TTFont]:
    fonts = []
    for s in pdf_streams(data):
        if s[:4] in (b"\x00\x01\x00\x00", b"true", b"OTTO"):
            fonts.append(TTFont(io.BytesIO(s)))
    return fonts


def conflict_pixel(result: RuleResult) -> tuple[int, int]:
    """Where the conflict's interior point falls in the image, from its geometry."""
    with connection.cursor() as cur:
        cur.execute("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_Transform(ST_PointOnSurface(geom),"
                    " 3857) AS p FROM approvals_link_ruleresult WHERE id = %s) t", [result.pk])
        x, y = cur.fetchone()
    e = maps.map_extent(result)
    return (int((x - e.minx) / (e.maxx - e.minx) * maps.MAP_W),
            int((e.maxy - y) / (e.maxy - e.miny) * maps.MAP_H))


def point_pixel(result: RuleResult, x4546: float, y4546: float) -> tuple[int, int]:
    (x,), (y,) = to_crs([shapely.Point(x4546, y4546)], 4546, 3857)[0].coords.xy
    e = maps.map_extent(result)
    return (int((x - e.minx) / (e.maxx - e.minx) * maps.MAP_W),
            int((e.maxy - y) / (e.maxy - e.miny) * maps.MAP_H))


def is_conflict_red(rgb: tuple[int, ...]) -> bool:
    r, g, b = rgb[:3]
    return r > 150 and r > g + 60 and r > b + 60


# --- Report data and page ------------------------------------------------------------------

def test_report_data_in_reviewers_order(check):
    report = build_report(check["check"])
    assert [s["code"] for s in report["sections"]] == SECTION_ORDER
    assert dict(report["header"])["用地面积"] == "10,000.00 平方米（1.0000 公顷）"
    assert dict(report["header"])["申请用地性质"] == "0701 城镇住宅用地"
    three = report["sections"][0]
    assert three["conclusion_label"] == "不符合" and three["ok"] is False
    assert [r["label"] for r in three["three_lines"]] == ["位于城镇开发边界内面积",
                                                         "占用生态保护红线面积"]
    assert three["three_lines"][1]["area_ha"] == "0.2500"
    assert report["sections"][2]["conclusion_label"] == "未设审查规则"  # no special plans
    rows = report["sections"][3]["results"][0]["indicators"]
    assert [(r["indicator_label"], r["bound"], r["ok_label"]) for r in rows] == [
        ("容积率上限", "≤", "不符合"), ("绿地率下限(%)", "≥", "符合")]
    assert report["signed"] is False and report["failed_count"] == 2


def test_page_shows_header_sections_tables_maps_and_footer(check, client):
    client.force_login(check["reviewer"])
    c = check["check"]
    r = client.get(f"/projects/{CODE}/checks/{c.pk}/report/")
    assert r.status_code == 200
    html = r.content.decode()
    for text in ("项目代码", CODE, "项目名称", "内乡县某小区建设项目", "建设单位", "内乡县某置业有限公司",
                 "用地面积", "申请用地性质", "0701 城镇住宅用地", "三线检查", "其他控制线", "专项规划",
                 "控规指标", "审查结论", "不符合", "占用生态保护红线面积", "2,500.00", "0.2500",
                 "指标", "申报值", "控制值", "容积率上限", "TSTBHX-0", "未签发",
                 f"审查编号 #{c.pk}", "碎片容差 1 平方米", "生态保护红线 v1"):
        assert text in html, text
    assert html.index("三线检查") < html.index("其他控制线") < html.index("专项规划") \
        < html.index("控规指标")
    map_url = f"/api/conformity-checks/{c.pk}/maps/{check['conflict'].pk}.png"
    assert map_url in html and html.count("/maps/") == 2  # one map per failing rule
    # The inline print stylesheet is allowed by this response's CSP nonce only.
    nonce = re.search(r'<style nonce="([^"]+)"', html).group(1)
    assert f"'nonce-{nonce}'" in r["Content-Security-Policy"]
    assert "no-store" in r["Cache-Control"]


# --- Maps ----------------------------------------------------------------------------------

def test_conflict_map_is_drawn_with_the_service_style_and_cached(check, client, settings):
    # Regulatory-plan parcels (KGDK) are drawn below as context, in their service style.
    publish_layer("KGDK", "public", [square(SEAT_X + 100, SEAT_Y + 100, 100)], "#FFCC00",
                  category="regulatory_plan")
    client.force_login(check["reviewer"])  # sees internal layers
    c, conflict = check["check"], check["conflict"]
    r = client.get(f"/api/conformity-checks/{c.pk}/maps/{conflict.pk}.png")
    assert r.status_code == 200 and r["Content-Type"] == "image/png"
    img = Image.open(io.BytesIO(b"".join(r.streaming_content))).convert("RGB")
    assert img.size == (maps.WIDTH, maps.HEIGHT) == (800, 600)
    assert is_conflict_red(img.getpixel(conflict_pixel(conflict)))
    # The layer outside the conflict in its service colour (opaque blue), empty land white.
    assert img.getpixel(point_pixel(conflict, SEAT_X + 30, SEAT_Y + 40)) == (0, 0, 255)
    assert img.getpixel(point_pixel(conflict, SEAT_X + 180, SEAT_Y + 40)) == (255, 255, 255)
    assert img.getpixel(point_pixel(conflict, SEAT_X + 180, SEAT_Y + 160)) == (255, 204, 0)
    # The legend strip below the map holds (dark) Chinese text.
    strip = img.crop((0, maps.MAP_H + 2, 400, maps.HEIGHT))
    assert min(strip.convert("L").getextrema()) < 80
    # Kept on disk under the check's folder; the second request reads the file.
    files = list((settings.REPORTS_DIR / str(c.pk)).glob(f"{conflict.pk}-*.png"))
    assert len(files) == 1
    stamp = files[0].stat().st_mtime_ns
    assert client.get(f"/api/conformity-checks/{c.pk}/maps/{conflict.pk}.png").status_code == 200
    assert files[0].stat().st_mtime_ns == stamp


def test_conflicts_on_hidden_layers_give_areas_only(check, client):
    """The applicant may see the project but not the internal layer: the report gives the
    status and the area of that conflict, neither its features nor a map (as the JSON
    twin does)."""
    client.force_login(check["applicant"])  # own project, public layers only
    c, conflict = check["check"], check["conflict"]
    r = client.get(f"/api/conformity-checks/{c.pk}/maps/{conflict.pk}.png")
    assert r.status_code == 404
    html = client.get(f"/projects/{c.project.project_code}/checks/{c.pk}/report/")
    assert html.status_code == 200
    page = html.content.decode()
    assert f"result-{conflict.pk}" in page and "不通过" in page
    assert f"/maps/{conflict.pk}.png" not in page
    assert "受限" in page


def test_map_of_a_passing_or_foreign_result_is_404(check, client):
    client.force_login(check["reviewer"])
    c = check["check"]
    passing = c.results.get(rule_code="czkfbj")
    assert client.get(f"/api/conformity-checks/{c.pk}/maps/{passing.pk}.png").status_code == 404
    other = ConformityCheck.objects.create(
        project=c.project, footprint=c.footprint, conclusion="conforms", tolerance_m2=1.0,
        footprint_area_m2=1.0)
    r = client.get(f"/api/conformity-checks/{other.pk}/maps/{check['conflict'].pk}.png")
    assert r.status_code == 404


# --- PDF -----------------------------------------------------------------------------------

def test_pdf_is_valid_embeds_fonts_and_chinese_is_extractable(check, client):
    client.force_login(check["reviewer"])
    c = check["check"]
    started = time.perf_counter()
    r = client.get(f"/api/conformity-checks/{c.pk}/report.pdf")
    seconds = time.perf_counter() - started
    print(f"PDF of check #{c.pk}: {len(r.content)} bytes in {seconds:.2f} s")
    assert r.status_code == 200 and r["Content-Type"] == "application/pdf"
    name = f"合规性审查报告_{CODE}_{c.pk}.pdf"
    assert r["Content-Disposition"].startswith("inline; ")
    assert f"filename*=UTF-8''{quote(name)}" in r["Content-Disposition"]
    data = r.content
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    assert pdf_page_count(data) >= 1
    # Fonts travel with the file: a TrueType program for every font, the CJK one among them.
    blob = data + b"".join(pdf_streams(data))  # dictionaries may sit in object streams
    assert re.search(rb"/FontFile[23]", blob)
    fonts = embedded_fonts(data)
    assert fonts and any("WenQuanYi" in (f["name"].getDebugName(1) or "") or
                         "WenQuanYi" in (f["name"].getDebugName(4) or "") for f in fonts)
    # Subset fonts under the report's @font-face family (a "+"-prefixed subset tag).
    base_fonts = re.findall(rb"/BaseFont\s*/([^\s/>]+)", blob)
    assert base_fonts and all(re.match(rb"[A-Z]{6}\+Report-CJK", f) for f in base_fonts)
    text = pdf_text(data)
    for phrase in ("建设项目规划合规性审查报告", "项目代码", "内乡县某小区建设项目", "三线检查",
                   "生态保护红线", "审查结论", "未签发"):
        assert phrase in text.replace("\n", ""), phrase
    assert re.search(rb"/Subtype\s*/Image", blob)  # the maps are embedded
    assert seconds < 20


# --- Sign-off ------------------------------------------------------------------------------

def test_sign_off_once_by_the_department_head(check, client):
    c = check["check"]
    url = f"/api/conformity-checks/{c.pk}/sign-off"
    client.force_login(check["reviewer"])
    assert client.post(url, {"note": "同意"}, content_type="application/json").status_code == 403
    client.force_login(check["other_head"])  # may sign off, but not this department's
    assert client.post(url, {"note": "同意"}, content_type="application/json").status_code == 404
    client.force_login(check["head"])
    r = client.post(url, {"note": "x" * 2001}, content_type="application/json")
    assert r.status_code == 400
    r = client.post(url, {"note": " 同意，按规划调整后报批 "}, content_type="application/json")
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["signed_off_by"] == "张科长" and body["note"] == "同意，按规划调整后报批"
    c.refresh_from_db()
    assert c.signed_off_by == check["head"] and c.signed_off_at is not None
    again = client.post(url, {"note": "再次"}, content_type="application/json")
    assert again.status_code == 409 and again.json()["error"] == "already_signed_off"
    c.refresh_from_db()
    assert c.sign_off_note == "同意，按规划调整后报批"
    audit = AuditRecord.objects.filter(event_type="conformity.sign_off")
    assert audit.count() == 1 and audit.get().subject == "head"
    assert CODE in audit.get().object
    html = client.get(f"/projects/{CODE}/checks/{c.pk}/report/").content.decode()
    assert "已签发" in html and "张科长" in html and "未签发" not in html


# The project's department, its organisation, and whoever may see all projects.
SEES_PROJECT = {Role.REVIEWER, Role.DEPARTMENT_HEAD, Role.APPLICANT} | {
    r for r in Role if "projects.view_all" in ROLE_FUNCTIONS[r]}


def test_who_sees_the_report(check, client, make_user):
    """Every role: page, map and PDF follow project visibility; sign-off needs the function
    and visibility (a bad note shows the permission checks were passed: 400)."""
    c, conflict = check["check"], check["conflict"]
    page = f"/projects/{CODE}/checks/{c.pk}/report/"
    png = f"/api/conformity-checks/{c.pk}/maps/{conflict.pk}.png"
    sign = f"/api/conformity-checks/{c.pk}/sign-off"
    r = client.get(page)
    assert r.status_code == 302 and "/accounts/login/" in r["Location"]
    assert client.get(png).status_code == 404
    assert client.get(f"/api/conformity-checks/{c.pk}/report.pdf").status_code == 404
    # Nobody signed in: API clients are told to authenticate, browsers go to sign in.
    assert client.post(sign, {"note": 1}, content_type="application/json").status_code == 401
    r = client.post(sign)
    assert r.status_code == 302 and "/accounts/login/" in r["Location"]
    users = {Role.REVIEWER: check["reviewer"], Role.DEPARTMENT_HEAD: check["head"],
             Role.APPLICANT: check["applicant"]}
    for role in Role:
        if role == Role.ANONYMOUS:
            continue
        user = users.get(role) or make_user(role, f"u_{role}")
        client.force_login(user)
        code = 200 if role in SEES_PROJECT else 404
        assert client.get(page).status_code == code, role
        # The conflict lies on an internal layer: its map only for those who see the layer.
        map_code = 200 if role in SEES_PROJECT and "map.internal" in ROLE_FUNCTIONS[role] \
            else 404
        assert client.get(png).status_code == map_code, role
        signed = client.post(sign, {"note": 1}, content_type="application/json").status_code
        if "conformity.sign_off" not in ROLE_FUNCTIONS[role]:
            assert signed == 403, role
        else:
            assert signed == (400 if role in SEES_PROJECT else 404), role
    client.force_login(check["other_head"])  # may sign off, but not this department's
    assert client.get(page).status_code == 404
    assert client.get(png).status_code == 404
    assert client.post(sign, {"note": 1}, content_type="application/json").status_code == 404
    client.force_login(check["head"])
    # The check exists but under another project code: not found either.
    assert client.get(f"/projects/2019-411325-47-01-000999/checks/{c.pk}/report/"
                      ).status_code == 404
    assert client.get(f"/api/conformity-checks/{c.pk + 1000}/report.pdf").status_code == 404
    assert AuditRecord.objects.filter(event_type="conformity.sign_off").count() == 0


# --- With the real engine, over HTTP ---------------------------------------------------------

def test_engine_check_report_over_http(live_server, world):
    """A real check against real published layers, then its report through the WSGI stack."""
    from approvals_link.conformity.engine import run_check

    czkfbj = publish_layer("TCZKFBJ", "public", [square(SEAT_X - 500, SEAT_Y - 500, 620)],
                           "#FFA500", name_zh="城镇开发边界")
    for code, name, layer, kind in (
            ("t_stbhhx", "不得占用生态保护红线", world["layer"], "must_not_occupy"),
            ("t_czkfbj", "须位于城镇开发边界内", czkfbj, "must_lie_inside")):
        ConformityRule.objects.create(code=code, name_zh=name, name_en=code, layer=layer,
                                      kind=kind, section="three_lines")
    check = run_check(world["project"])
    results = {r.rule_code: r for r in check.results.all()}
    assert check.conclusion == "conflicts"
    assert results["t_stbhhx"].status == "fail"
    assert results["t_stbhhx"].area_m2 == pytest.approx(2500, rel=1e-3)
    assert results["t_czkfbj"].status == "fail"  # the red line sticks out at the north-east
    session = http_login(live_server.url, "head")
    base = live_server.url
    r = session.get(f"{base}/projects/{CODE}/checks/{check.pk}/report/", timeout=30)
    assert r.status_code == 200
    assert "占用生态保护红线面积" in r.text and "位于城镇开发边界内面积" in r.text
    area = results["t_stbhhx"].area_m2
    assert f"{area:,.2f}" in r.text and f"{area / 10_000:.4f}" in r.text, (area, r.text)
    for result in results.values():
        m = session.get(f"{base}/api/conformity-checks/{check.pk}/maps/{result.pk}.png",
                        timeout=30)
        assert m.status_code == 200
        img = Image.open(io.BytesIO(m.content)).convert("RGB")
        assert img.size == (800, 600)
        assert is_conflict_red(img.getpixel(conflict_pixel(result))), result.rule_code
    started = time.perf_counter()
    pdf = session.get(f"{base}/api/conformity-checks/{check.pk}/report.pdf", timeout=60)
    print(f"engine check PDF over HTTP: {time.perf_counter() - started:.2f} s")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    assert "三线检查" in pdf_text(pdf.content).replace("\n", "")
    r = session.post(f"{base}/api/conformity-checks/{check.pk}/sign-off",
                     json={"note": "同意"}, timeout=30)
    assert r.status_code == 200, r.text
    assert session.post(f"{base}/api/conformity-checks/{check.pk}/sign-off",
                        json={"note": "同意"}, timeout=30).status_code == 409
    assert requests.get(f"{base}/api/conformity-checks/{check.pk}/report.pdf",
                        timeout=30).status_code == 404  # nobody signed in
