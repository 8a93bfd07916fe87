"""The project detail page /projects/{code}/ and its JSON twin /api/projects/{code}.

Working days follow the Chinese holiday calendar: the 2025 National Day holiday runs
1–8 October, with Sunday 28 September and Saturday 11 October as adjusted working days.
The browser tests drive Debian's /usr/bin/chromium through Playwright (no download)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import shapely
from django.contrib.gis.geos import GEOSGeometry
from django.test import Client
from shapely.geometry import box

from accounts import tokens
from accounts.models import Department
from accounts.roles import ROLE_FUNCTIONS, Role, Scope
from approvals_link import services, timeline
from approvals_link.codes import ItemStatus
from approvals_link.models import (
    ApprovalItemEvent,
    ConformityCheck,
    FootprintLink,
    Project,
    ProjectDocument,
    RuleResult,
)
from layers.models import Feature
from tests.browser import READY, needs_browser
from tests.conftest import SEAT_X, SEAT_Y, http_login, publish_layer, to_crs

CODE = "2025-411325-47-01-000777"
CREDIT = "91411325MA00000000"
TZ = ZoneInfo("Asia/Shanghai")


def at(y: int, m: int, d: int, h: int = 10) -> dt.datetime:
    return dt.datetime(y, m, d, h, 0, tzinfo=TZ)


def _geos(geom: shapely.Geometry) -> GEOSGeometry:
    return GEOSGeometry(memoryview(shapely.to_wkb(geom)), srid=4490)


def event(project: Project, key: str, instance: str, stage: int, status: str,
          when: dt.datetime, *, name: str = "建设用地规划许可证核发", limit: int | None = None,
          department: str = "县自然资源局") -> ApprovalItemEvent:
    return ApprovalItemEvent.objects.create(
        local_key=key, project=project, stage=stage, item_code=f"ITEM-{instance}",
        item_name=name, instance_code=instance, department_code="ZRZY",
        department_name=department, status=status, handled_at=when, time_limit_days=limit,
        source_updated_at=when)


def build_world(make_user: Any) -> dict[str, Any]:
    """Two published layers (a public regulatory plan, an internal farmland layer), a
    project handled by the reviewers' department with a red line over both, its parcel
    join, a stored conformity check, approval events and documents."""
    kgdk = publish_layer("KGDK", "public", [box(SEAT_X, SEAT_Y, SEAT_X + 100, SEAT_Y + 100),
                                           box(SEAT_X + 100, SEAT_Y, SEAT_X + 200,
                                               SEAT_Y + 100)],
                         "#FFCC00", name_zh="控制性详细规划", category="regulatory_plan")
    farmland = publish_layer("YJJBNT", "internal",
                             [box(SEAT_X + 150, SEAT_Y, SEAT_X + 250, SEAT_Y + 100)],
                             "#00AA00", name_zh="永久基本农田", category="control_line")
    users = {role: make_user(role, f"pp_{role}") for role in Role if role != Role.ANONYMOUS}
    users[Role.APPLICANT].organization_credit_code = CREDIT
    users[Role.APPLICANT].save()
    project = Project.objects.create(
        project_code=CODE, name="内乡县湍河新区幼儿园", construction_unit="内乡县教育局",
        construction_unit_credit_code=CREDIT, flow_type="1", investment_wan="1234.5",
        land_acquisition="1", declared_land_area_m2=15000.0, location="湍东镇",
        applied_land_use_code="0802", proposed_far=1.2, proposed_density=30.0,
        proposed_green_ratio=35.0, proposed_height=18.0)
    project.handling_departments.add(users[Role.REVIEWER].department)
    red_line = to_crs([box(SEAT_X + 50, SEAT_Y + 20, SEAT_X + 180, SEAT_Y + 80)], 4546, 4490)[0]
    from approvals_link.conformity.receivers import suspended
    with suspended():  # the links and the check below are written by hand
        services.create_footprint(project, to_crs([box(SEAT_X + 40, SEAT_Y + 20,
                                                       SEAT_X + 90, SEAT_Y + 80)],
                                                  4546, 4490)[0],
                                  source_name="first.txt", source_format="txt")
        footprint = services.create_footprint(project, red_line, source_name="红线.txt",
                                              source_format="txt", source_srid=4525)
    features = {f.parcel_no: f for f in Feature.objects.filter(
        version__layer__in=[kgdk, farmland])}
    kv, fv = kgdk.versions.get(), farmland.versions.get()
    FootprintLink.objects.bulk_create([
        FootprintLink(footprint=footprint, layer=kgdk, version=kv,
                      feature_id=features["KGDK-0"].pk, label="KGDK-0", land_use_code="0802",
                      land_use_name="", overlap_m2=3000.0, share=3000 / 7800,
                      parcel_share=0.3),
        FootprintLink(footprint=footprint, layer=kgdk, version=kv,
                      feature_id=features["KGDK-1"].pk, label="KGDK-1", land_use_code="0701",
                      land_use_name="城镇住宅用地", overlap_m2=4800.0, share=4800 / 7800,
                      parcel_share=0.48),
        FootprintLink(footprint=footprint, layer=farmland, version=fv,
                      feature_id=features["YJJBNT-0"].pk, label="YJJBNT-0",
                      overlap_m2=1800.0, share=1800 / 7800, parcel_share=0.18)])
    conflict = to_crs([box(SEAT_X + 150, SEAT_Y + 20, SEAT_X + 180, SEAT_Y + 80)], 4546, 4490)[0]
    check = ConformityCheck.objects.create(
        project=project, footprint=footprint, conclusion="conflicts", tolerance_m2=1.0,
        footprint_area_m2=7800.0,
        layer_versions={"KGDK": {"version_id": kv.pk, "number": 1},
                        "YJJBNT": {"version_id": fv.pk, "number": 1}},
        summary={"sections": {"three_lines": {"conclusion": "conflicts", "rules": 1,
                                              "failed": 1},
                              "indicators": {"conclusion": "conforms", "rules": 1,
                                             "failed": 0}}})
    RuleResult.objects.create(
        conformity_check=check, rule_code="yjjbnt-no-occupy", rule_name="不占用永久基本农田",
        kind="must_not_occupy", section="three_lines", layer_code="YJJBNT",
        layer_name="永久基本农田", layer_version=fv, layer_version_number=1, status="fail",
        area_m2=1800.123456, sliver_area_m2=0.5, feature_count=1,
        features=[{"feature_id": features["YJJBNT-0"].pk, "label": "YJJBNT-0",
                   "area_m2": 1800.12}],
        geom=_geos(shapely.MultiPolygon([conflict])))
    RuleResult.objects.create(
        conformity_check=check, rule_code="kgdk-land-use", rule_name="用地性质符合控规",
        kind="land_use", section="indicators", layer_code="KGDK", layer_name="控制性详细规划",
        layer_version=kv, layer_version_number=1, status="pass", area_m2=0.0, feature_count=2,
        features=[{"feature_id": features["KGDK-0"].pk, "label": "KGDK-0",
                   "land_use_code": "0802", "land_use_name": "教育用地", "area_m2": 3000.0}])
    # Stage 1: across the 2025 National Day holiday; a correction; an immediate item.
    event(project, "e1", "I-1", 1, ItemStatus.RECEIVED, at(2025, 9, 25))
    event(project, "e2", "I-1", 1, ItemStatus.ACCEPTED, at(2025, 9, 26), limit=7)
    event(project, "e3", "I-1", 1, ItemStatus.APPROVED, at(2025, 10, 13, 16), limit=7)
    event(project, "e4", "I-2", 1, ItemStatus.ACCEPTED, at(2025, 11, 3), limit=3,
          name="建设项目用地预审与选址意见书")
    event(project, "e5", "I-2", 1, ItemStatus.CORRECTION, at(2025, 11, 5))
    event(project, "e6", "I-2", 1, ItemStatus.RECEIVED, at(2025, 11, 10))
    event(project, "e7", "I-2", 1, ItemStatus.APPROVED, at(2025, 11, 12))
    event(project, "e8", "I-3", 1, ItemStatus.ACCEPTED, at(2025, 12, 1, 9), limit=1,
          name="企业投资项目备案")
    event(project, "e9", "I-3", 1, ItemStatus.APPROVED, at(2025, 12, 1, 15))
    # Stage 2: still running.
    event(project, "e10", "I-4", 2, ItemStatus.ACCEPTED, at(2025, 12, 15), limit=5,
          name="建设工程规划许可证核发")
    body = b"%PDF-1.4 approval"
    ProjectDocument.objects.create(project=project, kind="approval", title="用地规划许可证",
                                   original_name="permit.pdf", content_type="application/pdf",
                                   size=len(body), sha256=hashlib.sha256(body).hexdigest(),
                                   stage=1)
    return {"project": project, "users": users, "check": check, "footprint": footprint,
            "kgdk": kgdk, "farmland": farmland}


@pytest.fixture
def world(db, make_user, settings, tmp_path):
    settings.TILE_CACHE_DIR = tmp_path / "tiles"
    settings.MAPPROXY_DIR = tmp_path / "mapproxy"
    return build_world(make_user)


def get_json(client: Client, user: Any = None, **headers: str) -> tuple[int, dict]:
    if user is not None:
        client.force_login(user)
    r = client.get(f"/api/projects/{CODE}", **headers)
    return r.status_code, (r.json() if r.headers.get("Content-Type", "").startswith(
        "application/json") else {})


# --- working days ----------------------------------------------------------------------------

def test_working_days_follow_the_holiday_calendar():
    wd = timeline.working_days_between
    # 26 Sep (Fri) → 13 Oct (Mon) 2025: 28 Sep, 29, 30, 9 Oct, 10, 11 (Sat, adjusted), 13.
    assert wd(dt.date(2025, 9, 26), dt.date(2025, 10, 13)) == timeline.WorkingDays(7, False)
    assert wd(dt.date(2025, 10, 1), dt.date(2025, 10, 8)).days == 0  # the holiday itself
    assert wd(dt.date(2025, 3, 3), dt.date(2025, 3, 3)).days == 0
    assert wd(dt.date(2025, 3, 5), dt.date(2025, 3, 3)).days == 0
    # The clock stops during a pause (a, b]: 4–12 Nov less 6, 7, 10 Nov.
    assert wd(dt.date(2025, 11, 3), dt.date(2025, 11, 12),
              [(dt.date(2025, 11, 5), dt.date(2025, 11, 10))]).days == 4


def test_unknown_years_fall_back_to_monday_to_friday():
    got = timeline.working_days_between(dt.date(2035, 1, 1), dt.date(2035, 1, 8))
    assert got == timeline.WorkingDays(5, True)  # 2–8 Jan 2035: Tue–Fri, Mon


def test_timeline_items_and_stages(world):
    t = timeline.project_timeline(world["project"], today=dt.date(2025, 12, 22))
    stages = {s["stage"]: s for s in t["stages"]}
    assert [s["stage"] for s in t["stages"]] == [1, 2, 3, 4, 5]
    assert stages[1]["name"] == "立项用地规划许可" and stages[1]["state"] == "completed"
    items = {i["instance_code"]: i for i in stages[1]["items"]}
    holiday = items["I-1"]
    assert holiday["working_days"] == 7 and holiday["time_limit_days"] == 7
    assert holiday["efficiency"] == timeline.ON_TIME and not holiday["overdue"]
    assert holiday["received_at"].startswith("2025-09-25T10:00")
    assert holiday["department_name"] == "县自然资源局"
    corrected = items["I-2"]
    assert corrected["received_at"] is None  # the RECEIVED after the correction: resubmitted
    assert corrected["working_days"] == 4 and corrected["paused_working_days"] == 3
    assert corrected["efficiency"] == timeline.OVERDUE and corrected["overdue"]
    assert corrected["pauses"][0]["from"].startswith("2025-11-05")
    immediate = items["I-3"]
    assert immediate["working_days"] == 0 and immediate["efficiency"] == timeline.IMMEDIATE
    # Stage 1 from 26 Sep to 1 Dec: calendar days and working days.
    assert stages[1]["calendar_days"] == (dt.date(2025, 12, 1) - dt.date(2025, 9, 26)).days
    # Mon–Fri 27 Sep–1 Dec: 46, less 1–3 and 6–8 Oct, plus Sun 28 Sep and Sat 11 Oct.
    assert stages[1]["working_days"] == 42
    assert stages[1]["overdue_items"] == 1
    # Stage 2 running: 16–22 Dec is 5 working days, the limit is 5.
    running = stages[2]["items"][0]
    assert stages[2]["state"] == "in_progress" and running["in_progress"]
    assert running["working_days"] == 5 and not running["overdue"]
    assert running["efficiency"] is None
    assert stages[3]["state"] == "not_started" and stages[3]["items"] == []
    assert t["totals"] == {"items": 4, "completed": 3, "in_progress": 1, "overdue": 1,
                           "by_efficiency": {"early": 0, "on time": 1, "overdue": 1,
                                             "immediate": 1}}
    assert not t["approximate"]


def test_special_procedure_stops_the_clock(db):
    project = Project.objects.create(project_code="2025-411325-47-01-000778", name="x")
    event(project, "s1", "S-1", 3, ItemStatus.ACCEPTED, at(2025, 6, 2), limit=5)  # Mon
    event(project, "s2", "S-1", 3, ItemStatus.SPECIAL_START, at(2025, 6, 3))
    event(project, "s3", "S-1", 3, ItemStatus.ACCEPTED, at(2025, 6, 5))  # not an end
    event(project, "s4", "S-1", 3, ItemStatus.SPECIAL_END, at(2025, 6, 10))
    event(project, "s5", "S-1", 3, ItemStatus.APPROVED, at(2025, 6, 12))
    item = timeline.project_timeline(project)["stages"][2]["items"][0]
    # 3 Jun–12 Jun: 3, 4, 5, 6, 9, 10, 11, 12 = 8; stopped 4, 5, 6, 9, 10 = 5 → 3.
    assert item["working_days"] == 3 and item["efficiency"] == timeline.EARLY


def test_timeline_is_one_query(world, django_assert_num_queries):
    with django_assert_num_queries(1):
        timeline.project_timeline(world["project"], today=dt.date(2025, 12, 22))


# --- the JSON twin -----------------------------------------------------------------------------

def test_json_twin_content(world, client):
    status, body = get_json(client, world["users"][Role.REVIEWER])
    assert status == 200
    # The keys the blueprint page and older clients read are still there.
    for key in ("project_code", "name", "construction_unit", "flow_type",
                "applied_land_use_code", "construction_unit_credit_code", "division_code",
                "proposed", "footprint"):
        assert key in body
    assert body["flow_type_name"] == "政府投资房屋建筑类"
    assert body["investment_wan"] == 1234.5 and body["land_acquisition_name"] == "划拨"
    assert body["declared_land_area_ha"] == 1.5
    assert body["project_type"] == "public_service" and not body["project_type_declared"]
    assert body["applied_land_use_name"]  # from layers/landuse.py
    assert body["proposed"] == {"far": 1.2, "density": 30.0, "green_ratio": 35.0,
                                "height": 18.0}
    fp = body["footprint"]
    assert fp["number"] == 2 and fp["geometry"]["type"] == "MultiPolygon"
    assert abs(fp["area_m2"] - 7800) < 1 and fp["area_ha"] == round(fp["area_m2"] / 1e4, 4)
    assert [f["number"] for f in body["footprints"]] == [2, 1]
    assert body["footprints"][0]["current"] and body["footprints"][1]["source_name"] == "first.txt"
    assert "geometry" not in body["footprints"][0]
    # Parcels (regulatory plan) and the other touched layers, largest overlap first.
    assert [p["label"] for p in body["parcels"]] == ["KGDK-1", "KGDK-0"]
    assert body["parcels"][1]["land_use_name"]  # filled from the land-use catalogue
    assert body["parcels"][0]["overlap_ha"] == 0.48
    assert [c["label"] for c in body["control_lines"]] == ["YJJBNT-0"]
    # Timeline (the running item counts up to today: overdue by now).
    stages = {s["stage"]: s for s in body["timeline"]["stages"]}
    assert {i["instance_code"]: i["working_days"] for i in stages[1]["items"]} == {
        "I-1": 7, "I-2": 4, "I-3": 0}
    assert stages[2]["items"][0]["overdue"]
    # Conformity: the latest check, no geometry in results, conflicts as GeoJSON.
    conf = body["conformity"]
    assert conf["id"] == world["check"].pk and conf["conclusion"] == "conflicts"
    assert conf["tolerance_m2"] == 1.0 and conf["layer_versions"]["KGDK"]["number"] == 1
    assert conf["links"] == {
        "report_html": f"/projects/{CODE}/checks/{world['check'].pk}/report/",
        "report_pdf": f"/api/conformity-checks/{world['check'].pk}/report.pdf"}
    fail = next(r for r in conf["results"] if r["status"] == "fail")
    assert fail["area_m2"] == 1800.12 and fail["area_ha"] == 0.18 and "geom" not in fail
    assert [s["section"] for s in conf["sections"]] == ["three_lines", "indicators"]
    assert conf["sections"][0]["conclusion"] == "conflicts"
    assert len(conf["conflicts"]["features"]) == 1
    # Documents, with their download addresses (documents API).
    doc = body["documents"][0]
    assert doc["title"] == "用地规划许可证" and doc["download"] == \
        f"/api/projects/{CODE}/documents/{doc['id']}/download"
    assert body["permissions"] == {"documents_read": True, "conformity_run": True}


def test_a_newer_check_replaces_the_older(world, client):
    newer = ConformityCheck.objects.create(
        project=world["project"], footprint=world["footprint"], conclusion="conforms",
        tolerance_m2=2.0, footprint_area_m2=7800.0)
    _, body = get_json(client, world["users"][Role.REVIEWER])
    assert body["conformity"]["id"] == newer.pk and body["conformity"]["results"] == []


def sees_project(role: str) -> bool:
    """From the written matrix: all projects, the handling department's, or the own firm's
    (the world's reviewers handle the project and the applicant's firm builds it)."""
    functions = ROLE_FUNCTIONS[role]
    return "projects.view_all" in functions or (
        role in (Role.REVIEWER, Role.DEPARTMENT_HEAD) and "projects.view_department" in functions
    ) or (role == Role.APPLICANT and "projects.view_own" in functions)


@pytest.mark.parametrize("role", [r for r in Role if r not in (Role.ANONYMOUS,
                                                                  Role.EXTERNAL_SYSTEM)])
def test_visibility_by_role_api_and_page(role, world, client):
    sees = sees_project(role)
    status, _ = get_json(client, world["users"][role])
    assert status == (200 if sees else 404)
    page = client.get(f"/projects/{CODE}/")
    assert page.status_code == (200 if sees else 404)
    if not sees:
        assert CODE in page.content.decode() and "内乡县湍河新区幼儿园" not in \
            page.content.decode()


def test_other_department_and_other_firm_get_404(world, client, make_user):
    other = Department.objects.create(code="ZJJ", name_zh="县住建局")
    for user in (make_user(Role.REVIEWER, "pp_other_reviewer", department=other),
                 make_user(Role.APPLICANT, "pp_other_firm",
                           organization_credit_code="91411325MA11111111")):
        client.force_login(user)
        assert client.get(f"/api/projects/{CODE}").status_code == 404
        assert client.get(f"/projects/{CODE}/").status_code == 404
    # Unknown code and nonsense: 404 alike.
    assert client.get("/projects/2025-411325-47-01-999999/").status_code == 404
    assert client.get("/projects/" + "x" * 200 + "/").status_code == 404


def test_anonymous_is_sent_to_sign_in(world, client):
    r = client.get(f"/projects/{CODE}/")
    assert r.status_code == 302 and r["Location"].startswith("/accounts/login/")
    assert client.get("/projects/2025-411325-47-01-999999/")["Location"].startswith(
        "/accounts/login/")
    assert client.get(f"/api/projects/{CODE}").status_code == 404


def test_applicant_sees_public_layers_and_verdicts_only(world, client):
    status, body = get_json(client, world["users"][Role.APPLICANT])
    assert status == 200
    assert body["control_lines"] == []  # the farmland layer is internal
    assert [p["label"] for p in body["parcels"]] == ["KGDK-1", "KGDK-0"]
    fail = next(r for r in body["conformity"]["results"] if r["layer_code"] == "YJJBNT")
    assert fail["restricted"] and fail["features"] == [] and fail["status"] == "fail"
    assert fail["area_m2"] == 1800.12
    assert body["conformity"]["conflicts"]["features"] == []
    assert body["documents"] and body["permissions"] == {"documents_read": True,
                                                         "conformity_run": False}
    page = client.get(f"/projects/{CODE}/").content.decode()
    assert 'id="pp-run-check"' not in page and "permit.pdf" in page


def test_documents_need_documents_read(world, client):
    narrow = tokens.issue(world["users"][Role.EXTERNAL_SYSTEM], name="审批推送",
                          scopes=[Scope.APPROVALS_WRITE])
    status, body = get_json(client, HTTP_AUTHORIZATION=f"Bearer {narrow.secret}")
    assert status == 200 and body["documents"] is None
    assert not body["permissions"]["documents_read"]
    page = Client().get(f"/projects/{CODE}/", HTTP_AUTHORIZATION=f"Bearer {narrow.secret}")
    assert page.status_code == 200 and "无权查看项目文件" in page.content.decode()
    assert "permit.pdf" not in page.content.decode()
    full = tokens.issue(world["users"][Role.EXTERNAL_SYSTEM], name="文件",
                        scopes=[Scope.DOCUMENTS_READ])
    status, body = get_json(client, HTTP_AUTHORIZATION=f"Bearer {full.secret}")
    assert status == 200 and len(body["documents"]) == 1


def test_page_server_rendered_zh_and_csp(world, client):
    client.force_login(world["users"][Role.REVIEWER])
    r = client.get(f"/projects/{CODE}/")
    body = r.content.decode()
    assert r.status_code == 200 and '<html lang="zh-CN">' in body
    for words in ("基本信息", "审批时间轴", "红线图", "涉及地块", "合规性审查", "项目文件",
                  "政府投资房屋建筑类", "内乡县教育局", "KGDK-1", "不占用永久基本农田",
                  "1800.12", "0.1800", "permit.pdf", "超期办结", "即办"):
        assert words in body, words
    assert f'/projects/{CODE}/checks/{world["check"].pk}/report/' in body
    assert f'/api/conformity-checks/{world["check"].pk}/report.pdf' in body
    assert 'id="pp-run-check"' in body
    # CSP: no inline script, no style attribute; the data ride in a JSON block.
    assert "<script>" not in body.replace("<script src=", "")
    assert "style=" not in body and 'type="application/json"' in body
    assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    # The overdue item's row is marked (red in the style sheet).
    assert 'class="pp-item pp-overdue" data-instance="I-2"' in body


def test_page_in_english(world, client):
    client.force_login(world["users"][Role.REVIEWER])
    body = client.get(f"/projects/{CODE}/?lang=en").content.decode()
    assert '<html lang="en">' in body
    for words in ("Basic information", "Approval timeline", "Parcels touched",
                  "Plan conformity", "Government-invested building", "Allocation",
                  "conflicts", "overdue", "immediate", "Documents"):
        assert words in body, words
    # The site's language cookie (set by /i18n/setlang/) is respected too.
    client.cookies["django_language"] = "en"
    assert "Approval timeline" in client.get(f"/projects/{CODE}/").content.decode()
    assert "审批时间轴" in client.get(f"/projects/{CODE}/?lang=zh").content.decode()


# --- with the real conformity engine ------------------------------------------------------------

def test_run_check_on_real_layers_shows_in_the_twin(world, client):
    from approvals_link.conformity.engine import run_check
    from approvals_link.conformity.rules import ensure_default_rules

    ensure_default_rules()
    check = run_check(world["project"], requested_by=world["users"][Role.REVIEWER])
    status, body = get_json(client, world["users"][Role.REVIEWER])
    assert status == 200
    conf = body["conformity"]
    assert conf["id"] == check.pk and conf["conclusion"] == "conflicts"
    farmland = next(r for r in conf["results"] if r["layer_code"] == "YJJBNT")
    # The red line's east 30 m × 60 m lie on the farmland square.
    assert farmland["status"] == "fail" and abs(farmland["area_m2"] - 1800) < 1
    assert farmland["area_ha"] == round(farmland["area_m2"] / 1e4, 4)
    assert conf["layer_versions"]["YJJBNT"]["number"] == 1
    conflicts = {f["properties"]["layer_code"] for f in conf["conflicts"]["features"]}
    assert "YJJBNT" in conflicts  # (the test parcels have no land use: KGDK may fail too)
    assert {s["section"] for s in conf["sections"]} >= {"three_lines"}
    # The engine rewrote the parcel join from the real geometry.
    overlaps = sorted((p["label"], round(p["overlap_m2"])) for p in body["parcels"])
    assert overlaps == [("KGDK-0", 3000), ("KGDK-1", 4800)]
    assert [(c["label"], round(c["overlap_m2"])) for c in body["control_lines"]] == [
        ("YJJBNT-0", 1800)]


# --- in the browser ----------------------------------------------------------------------------

@pytest.fixture
def live_world(transactional_db, settings, tmp_path, make_user, live_static):
    settings.TILE_CACHE_DIR = tmp_path / "tiles"
    settings.MAPPROXY_DIR = tmp_path / "mapproxy"
    return build_world(make_user)


class Session:
    """A signed-in browser page that records console errors and off-site requests."""

    def __init__(self, browser, live_server, user):
        self.host = live_server.url.split("://", 1)[1]
        self.context = browser.new_context(viewport={"width": 1200, "height": 900})
        session = http_login(live_server.url, user.username)
        self.context.add_cookies([{"name": c.name, "value": c.value, "url": live_server.url}
                                  for c in session.cookies])
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.external: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.context.route("**/*", self._route)

    def _route(self, route):
        url = route.request.url
        if url.split("://", 1)[-1].split("/", 1)[0] == self.host or url.startswith("data:"):
            route.continue_()
        else:
            self.external.append(url)
            route.abort()

    def open(self, url: str):
        self.page.goto(url, wait_until="load")
        self.page.wait_for_function(READY, timeout=20000)
        return self.page


def _contains(outer: list[float], inner: list[float]) -> bool:
    return (outer[0] <= inner[0] and outer[1] <= inner[1] and outer[2] >= inner[2]
            and outer[3] >= inner[3])


@needs_browser
def test_page_in_the_browser(browser, live_server, live_world):
    s = Session(browser, live_server, live_world["users"][Role.REVIEWER])
    try:
        page = s.open(f"{live_server.url}/projects/{CODE}/")
        # The red line and the conflict are drawn as Leaflet paths, and the map is fitted.
        assert page.locator(".leaflet-pp-overlay-pane path").count() == 2
        fp = page.evaluate("window.projectPage.footprintBounds()")
        extent = live_world["footprint"].geom.extent
        assert all(abs(a - b) < 1e-6 for a, b in zip(fp, extent, strict=True))
        view = page.evaluate("window.projectPage.viewBounds()")
        assert _contains(view, fp)
        assert (view[2] - view[0]) < 20 * (fp[2] - fp[0])  # fitted, not the county
        # Our WMTS tiles of the visible planning layers.
        page.wait_for_selector(".leaflet-tile-loaded")
        # Timeline bars (one per started stage), durations, overdue in red.
        assert page.locator(".pp-track .pp-bar").count() == 2
        row = page.locator(".pp-stage-row[data-stage='1']")
        assert "pp-overdue" in row.get_attribute("class")
        bar = page.locator(".pp-stage-row[data-stage='1'] .pp-bar")
        assert bar.evaluate("e => getComputedStyle(e).fill") == "rgb(221, 0, 0)"
        assert "工作日" in page.locator(".pp-stage-row[data-stage='1'] .pp-stage-dur").inner_text()
        overdue = page.locator("tr.pp-item[data-instance='I-2'] .pp-used")
        assert overdue.evaluate("e => getComputedStyle(e).color") == "rgb(204, 0, 0)"
        # Conformity results by section.
        assert "不符合" in page.locator("#pp-conclusion").inner_text()
        assert page.locator("table.pp-results[data-section=three_lines] tr.pp-fail").count() == 1
        assert "0.1800" in page.locator("table.pp-results[data-section=three_lines]").inner_text()
        assert s.errors == [] and s.external == []
        # Running a check posts the project code (CSRF header included) to the conformity
        # API, then shows the page again with the new check.
        posted: list[dict] = []
        page.on("request", lambda r: r.method == "POST" and posted.append(
            {"url": r.url, "body": json.loads(r.post_data or "{}")}))
        before = ConformityCheck.objects.count()
        with page.expect_navigation():
            page.click("#pp-run-check")
        page.wait_for_function(READY, timeout=20000)
        assert posted == [{"url": f"{live_server.url}/api/conformity-checks",
                           "body": {"project_code": CODE}}]
        assert ConformityCheck.objects.count() == before + 1
        newest = ConformityCheck.objects.order_by("-id").first()
        assert f"#{newest.pk}" in page.locator("#conformity").inner_text()
        assert s.errors == [] and s.external == []
    finally:
        s.context.close()


@needs_browser
def test_page_in_english_in_the_browser(browser, live_server, live_world):
    s = Session(browser, live_server, live_world["users"][Role.APPLICANT])
    try:
        page = s.open(f"{live_server.url}/projects/{CODE}/?lang=en")
        assert page.evaluate("document.documentElement.lang") == "en"
        assert "Approval timeline" in page.locator("#timeline h2").inner_text()
        # The applicant sees the red line; the farmland conflict shape is not theirs to see.
        assert page.locator(".leaflet-pp-overlay-pane path").count() == 1
        assert page.locator("#pp-run-check").count() == 0
        assert s.errors == [] and s.external == []
    finally:
        s.context.close()



def test_bare_project_and_query_budget(world, client, django_assert_max_num_queries):
    bare = Project.objects.create(project_code="2025-411325-47-01-000779", name="空项目",
                                  construction_unit_credit_code=CREDIT)
    bare.handling_departments.add(world["users"][Role.REVIEWER].department)
    client.force_login(world["users"][Role.REVIEWER])
    body = client.get(f"/api/projects/{bare.project_code}").json()
    assert body["footprint"] is None and body["footprints"] == [] and body["parcels"] == []
    assert body["conformity"] is None and body["documents"] == []
    assert {s["state"] for s in body["timeline"]["stages"]} == {"not_started"}
    page = client.get(f"/projects/{bare.project_code}/").content.decode()
    assert "尚未进行合规性审查" in page and 'id="pp-map"' not in page
    assert 'id="pp-run-check"' not in page  # nothing to check without a red line
    # The full project: a fixed number of queries, however many rows it has.
    with django_assert_max_num_queries(16):
        assert client.get(f"/api/projects/{CODE}").status_code == 200


def test_home_page_lists_the_callers_projects(world, client):
    assert f"/projects/{CODE}/" not in client.get("/").content.decode()  # anonymous
    client.force_login(world["users"][Role.REVIEWER])
    page = client.get("/").content.decode()
    assert f'href="/projects/{CODE}/"' in page and "不符合" in page
    assert 'href="/api/plan-impacts"' in page  # reviewers run checks
    client.force_login(world["users"][Role.AUDIT_ADMIN])
    assert f"/projects/{CODE}/" not in client.get("/").content.decode()


@needs_browser
def test_department_head_signs_the_report_off_in_the_browser(browser, live_server,
                                                             live_world):
    check = live_world["check"]
    url = f"{live_server.url}/projects/{CODE}/checks/{check.pk}/report/"
    reviewer = Session(browser, live_server, live_world["users"][Role.REVIEWER])
    try:
        reviewer.page.goto(url, wait_until="load")
        assert reviewer.page.locator("#sign-off-form").count() == 0  # no sign-off function
    finally:
        reviewer.context.close()
    s = Session(browser, live_server, live_world["users"][Role.DEPARTMENT_HEAD])
    try:
        page = s.page
        page.goto(url, wait_until="load")
        page.fill("#sign-off-note", "同意，按审查意见修改红线后报批。")
        with page.expect_navigation():
            page.click("#sign-off-form button")
        assert "已签发" in page.locator("#section-sign-off").inner_text()
        assert page.locator("#sign-off-form").count() == 0
        check.refresh_from_db()
        assert check.signed_off_by == live_world["users"][Role.DEPARTMENT_HEAD]
        assert check.sign_off_note == "同意，按审查意见修改红线后报批。"
        assert s.errors == [] and s.external == []
    finally:
        s.context.close()
