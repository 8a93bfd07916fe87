"""The conformity engine against an independent computation, and its life cycle.

Expected areas come from the exported inputs (export_layer GeoPackage for the layers, the
stored WKB for footprints) intersected with shapely after a pyproj transform to EPSG:4546;
the engine computes in PostGIS. They must agree within 0.01 m² or 1e-6 relative.
"""

from __future__ import annotations

import numpy as np
import pyogrio.raw
import pytest
import shapely
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from pyproj import Transformer
from shapely.geometry import MultiPolygon, Polygon, box

from accounts.roles import Role
from approvals_link import services as approvals
from approvals_link.conformity import engine
from approvals_link.conformity.rules import Kind, Section
from approvals_link.models import (
    ConformityCheck,
    ConformityRule,
    FootprintLink,
    PlanChangeImpact,
    Project,
)
from layers import services
from layers.importers.base import FeatureBatch
from tests.conftest import SEAT_X, SEAT_Y, to_crs

pytestmark = pytest.mark.django_db
X0, Y0 = SEAT_X, SEAT_Y
TO_4546 = Transformer.from_crs(4490, 4546, always_xy=True)


def local(x: float, y: float, w: float, h: float) -> Polygon:
    """A rectangle at (x, y) metres from the reference corner, EPSG:4546."""
    return box(X0 + x, Y0 + y, X0 + x + w, Y0 + y + h)


def layer_with(code: str, category: str, geoms: list, columns: dict | None = None,
               publish: bool = True):
    layer = services.create_layer(code=code, name_zh=f"图层{code}", name_en=code,
                                  category=category, geometry_type="polygon")
    return layer, add_version(layer, geoms, columns, publish)


def add_version(layer, geoms: list, columns: dict | None = None, publish: bool = True):
    g4490 = to_crs(geoms, 4546, 4490)
    cols = columns or {"DKBH": [f"{layer.code}-{i}" for i in range(len(geoms))]}
    batch = FeatureBatch(np.asarray(g4490, dtype=object), cols, 4490, "test")
    version, report = services.import_batch(layer, batch, source_name=f"{layer.code}.gpkg",
                                            publish=publish)
    assert report.written == len(geoms), report.problems
    return version


def rule(code: str, layer, kind: str, section: str = Section.THREE_LINES, **params):
    r = ConformityRule(code=code, name_zh=code, name_en=code, layer=layer, kind=kind,
                       section=section, params=params)
    r.full_clean()
    r.save()
    return r


def project_with(code_serial: int, geom_4546, **fields) -> Project:
    project = approvals.upsert_project(
        project_code=f"2020-411325-47-01-{code_serial:06d}", name=f"测试项目{code_serial}",
        **fields)
    approvals.create_footprint(project, to_crs([geom_4546], 4546, 4490)[0])
    return project


def exported(layer, tmp_path) -> list:
    """The layer's published features as written by export_layer, in EPSG:4546."""
    path = tmp_path / f"{layer.code}.gpkg"
    call_command("export_layer", layer.code, str(path), "--format", "gpkg", verbosity=0)
    meta, _fids, wkb, _fields = pyogrio.raw.read(str(path))
    geoms = shapely.from_wkb(wkb)
    assert meta["crs"].endswith("4490")
    return list(shapely.transform(geoms, lambda xy: np.column_stack(
        TO_4546.transform(xy[:, 0], xy[:, 1]))))


def stored_footprint(project) -> shapely.Geometry:
    with connection.cursor() as cur:
        cur.execute("SELECT ST_AsBinary(geom) FROM approvals_link_projectfootprint "
                    "WHERE project_id = %s ORDER BY jzwjxh DESC LIMIT 1", [project.pk])
        g = shapely.from_wkb(bytes(cur.fetchone()[0]))
    return shapely.transform(g, lambda xy: np.column_stack(TO_4546.transform(xy[:, 0],
                                                                             xy[:, 1])))


def close(actual: float, expected: float) -> bool:
    return abs(actual - expected) <= max(0.01, 1e-6 * abs(expected))


def result(check: ConformityCheck, code: str):
    return check.results.get(rule_code=code)


@pytest.fixture
def plan(db):
    """Farmland with a hole and a two-part feature, a road strip, a development boundary
    and regulatory-plan parcels, each with its rule."""
    farm_holed = Polygon(local(0, 0, 200, 200).exterior.coords,
                         [local(80, 80, 40, 40).exterior.coords])
    farm_multi = MultiPolygon([local(300, 0, 60, 60), local(300, 100, 60, 60)])
    farm, farm_v = layer_with("FARM", "control_line", [farm_holed, farm_multi])
    road, road_v = layer_with("ROAD", "other_control_line", [local(-100, 250, 600, 20)])
    boundary, boundary_v = layer_with("CZK", "control_line", [local(-200, -200, 450, 700)])
    parcels = [local(0, 300, 100, 100), local(100, 300, 100, 100)]
    kg, kg_v = layer_with("KG", "regulatory_plan", parcels, {
        "DKBH": ["A-01", "A-02"], "YDXZDM": ["0701", "0901"], "RJLSX": [2.5, 3.0],
        "RJLXX": [1.0, 1.0], "JZMDZ": [30.0, 45.0], "LDLLX": [35.0, 20.0],
        "JZXG": [54.0, 80.0]})
    rules = {
        "farm": rule("farm", farm, Kind.MUST_NOT_OCCUPY),
        "road": rule("road", road, Kind.MUST_NOT_OCCUPY, Section.CONTROL_LINES),
        "inside": rule("inside", boundary, Kind.MUST_LIE_INSIDE,
                       exempt_flow_types=["2"]),
        "use": rule("use", kg, Kind.LAND_USE, Section.INDICATORS,
                    matrix={"residential": ["07"], "commercial": ["09"]}),
        "ind": rule("ind", kg, Kind.INDICATORS, Section.INDICATORS),
    }
    return {"layers": {"farm": farm, "road": road, "boundary": boundary, "kg": kg},
            "versions": {"farm": farm_v, "road": road_v, "boundary": boundary_v, "kg": kg_v},
            "rules": rules}


def test_areas_equal_an_independent_computation(plan, tmp_path):
    # A footprint with its own hole across the holed farmland and a two-part footprint
    # across the multipolygon feature and outside the development boundary.
    holed = Polygon(local(150, 20, 100, 100).exterior.coords,
                    [local(160, 50, 20, 20).exterior.coords])
    two_parts = MultiPolygon([local(330, 30, 50, 50), local(330, 130, 50, 20)])
    p1 = project_with(1, holed, applied_land_use_code="1001")
    p2 = project_with(2, two_parts, applied_land_use_code="1001")
    farm = exported(plan["layers"]["farm"], tmp_path)
    boundary = shapely.union_all(exported(plan["layers"]["boundary"], tmp_path))
    for project in (p1, p2):
        check = project.checks.get()
        fp = stored_footprint(project)
        expected_farm = sum(shapely.area(shapely.intersection(f, fp)) for f in farm)
        got = result(check, "farm")
        assert got.status == "fail"
        assert close(got.area_m2, expected_farm), (got.area_m2, expected_farm)
        assert close(shapely.area(to_crs([shapely.from_wkb(bytes(got.geom.wkb))], 4490,
                                         4546)[0]), expected_farm)
        outside = shapely.area(shapely.difference(fp, boundary))
        inside = result(check, "inside")
        assert close(inside.details["outside_m2"], outside)
        assert inside.status == ("fail" if outside > 1.0 else "pass")
        assert close(check.footprint_area_m2, shapely.area(fp))
        assert check.conclusion == "conflicts"
        assert check.tolerance_m2 == 1.0
        assert check.layer_versions["FARM"] == {"version_id": plan["versions"]["farm"].pk,
                                                "number": 1}
    # Footprint 1: 100x100 minus its 20x20 hole, the part over the farm hole excluded.
    assert close(result(p1.checks.get(), "farm").area_m2, 50 * 100 - 20 * 20)
    assert close(result(p2.checks.get(), "farm").area_m2, 30 * 30 + 30 * 20)


def test_edge_contact_and_slivers_under_and_over_the_tolerance(plan, settings):
    # Sharing an edge, vertex for vertex, with the farmland and with the road strip.
    on_farm = project_with(3, local(0, 200, 200, 50), applied_land_use_code="0701")
    farm = result(on_farm.checks.get(), "farm")
    assert farm.status == "pass" and farm.area_m2 == 0 and farm.details["edge_contacts"] >= 1
    on_road = project_with(15, local(-100, 200, 600, 50), applied_land_use_code="0701")
    road = result(on_road.checks.get(), "road")
    assert road.status == "pass" and road.area_m2 == 0 and road.details["edge_contacts"] >= 1
    under = project_with(4, local(-50, 20, 50.2, 2), applied_land_use_code="0701")  # 0.4 m²
    got = result(under.checks.get(), "farm")
    assert got.status == "pass" and abs(got.sliver_area_m2 - 0.4) < 0.01
    over = project_with(5, local(-50, 20, 50.5, 10), applied_land_use_code="0701")  # 5 m²
    got = result(over.checks.get(), "farm")
    assert got.status == "fail" and abs(got.area_m2 - 5.0) < 0.01
    settings.CONFORMITY_SLIVER_TOLERANCE_M2 = 10.0
    again = engine.run_check(over)
    assert result(again, "farm").status == "pass" and again.tolerance_m2 == 10.0


def test_land_use_and_indicators_against_the_parcels(plan):
    ok = project_with(6, local(0, 300, 100, 100), applied_land_use_code="0701",
                      proposed_far=2.0, proposed_density=28, proposed_green_ratio=36,
                      proposed_height=50)
    check = ok.checks.get()
    assert result(check, "use").status == "pass"
    assert result(check, "ind").status == "pass"
    assert check.conclusion == "conforms"
    links = FootprintLink.objects.filter(footprint__project=ok, layer=plan["layers"]["kg"])
    assert [(lk.label, round(lk.share, 3)) for lk in links] == [("A-01", 1.0)]
    # Across both parcels: commercial land for a residential project, and a height above
    # the residential parcel's limit.
    bad = project_with(7, local(50, 300, 100, 100), applied_land_use_code="0701",
                       proposed_far=2.0, proposed_density=28, proposed_green_ratio=36,
                       proposed_height=60)
    check = bad.checks.get()
    use, ind = result(check, "use"), result(check, "ind")
    assert use.status == "fail" and close(use.area_m2, 50 * 100)
    assert ind.status == "fail"
    failing = [r for r in ind.details["indicators"] if r["ok"] is False]
    assert [(r["parcel_no"], r["indicator"]) for r in failing] == [("A-01", "height_max")]
    assert close(ind.area_m2, 50 * 100)
    nothing = project_with(8, local(0, 300, 100, 100), applied_land_use_code="0701")
    assert result(nothing.checks.get(), "ind").status == "not_applicable"


def test_setback_and_exemptions(plan):
    road = plan["layers"]["road"]
    rule("road-setback", road, Kind.SETBACK, Section.CONTROL_LINES, distance_m=5)
    near = project_with(9, local(0, 272, 50, 20), applied_land_use_code="0701")  # 2 m off
    got = result(near.checks.get(), "road-setback")
    assert got.status == "fail" and abs(got.details["min_distance_m"] - 2.0) < 0.01
    assert close(got.area_m2, 3 * 50)
    linear = project_with(10, local(200, 100, 100, 20), flow_type="2",
                          applied_land_use_code="1207")
    assert result(linear.checks.get(), "inside").status == "not_applicable"


def test_rule_parameters_are_checked(plan):
    with pytest.raises(ValidationError):
        rule("bad1", plan["layers"]["road"], Kind.SETBACK, distance_m=-3)
    with pytest.raises(ValidationError):
        rule("bad2", plan["layers"]["kg"], Kind.LAND_USE, matrix={"castle": ["07"]})
    with pytest.raises(ValidationError):
        rule("bad3", plan["layers"]["farm"], Kind.MUST_NOT_OCCUPY, colour="red")


def test_publishing_a_plan_change_rechecks_and_lists_the_difference(
        plan, django_capture_on_commit_callbacks):
    clean = project_with(11, local(400, 400, 50, 50), applied_land_use_code="0701")
    hit = project_with(12, local(150, 20, 100, 100), applied_land_use_code="1001")
    assert clean.checks.get().conclusion == "conflicts"  # outside the boundary
    before = {p.pk: p.checks.get() for p in (clean, hit)}
    farm = plan["layers"]["farm"]
    # The amendment takes the farmland away from `hit` and lays new farmland over `clean`.
    with django_capture_on_commit_callbacks(execute=True):
        v2 = add_version(farm, [local(0, 0, 140, 200), local(400, 400, 20, 50)])
    assert v2.number == 2
    for project in (clean, hit):
        latest = project.checks.order_by("-id").first()
        assert latest.pk != before[project.pk].pk
        assert latest.trigger == "plan_change"
        assert latest.layer_versions["FARM"]["number"] == 2
        # Results of the other layers' rules carried over as they were.
        assert result(latest, "inside").status == result(before[project.pk], "inside").status
    impacts = {i.project_id: i for i in PlanChangeImpact.objects.filter(version=v2)}
    assert set(impacts) == {clean.pk, hit.pk}
    diff = {d["rule"]: d for d in impacts[clean.pk].difference}
    assert diff["farm"]["before"]["status"] == "pass"
    assert diff["farm"]["after"]["status"] == "fail"
    assert abs(diff["farm"]["after"]["area_m2"] - 20 * 50) < 0.01
    assert result(hit.checks.order_by("-id").first(), "farm").status == "pass"
    assert FootprintLink.objects.filter(footprint__project=clean, version=v2).count() == 1


def test_editing_a_feature_rechecks_the_projects_it_touches(
        plan, django_capture_on_commit_callbacks):
    hit = project_with(13, local(330, 30, 50, 50), applied_land_use_code="1001")
    assert result(hit.checks.get(), "farm").status == "fail"
    version = plan["versions"]["farm"]
    feature = version.features.get(feature_no=2)
    moved = to_crs([MultiPolygon([local(600, 0, 60, 60)])], 4546, 4490)[0]
    with django_capture_on_commit_callbacks(execute=True):
        services.edit_feature(feature.pk, geom_4490=moved)
    latest = hit.checks.order_by("-id").first()
    assert latest.trigger == "plan_change"
    assert result(latest, "farm").status == "pass"
    assert PlanChangeImpact.objects.filter(project=hit).exists()


def test_conformity_api(plan, client, make_user):
    project = project_with(14, local(150, 20, 100, 100), applied_land_use_code="1001")
    reviewer = make_user(Role.REVIEWER, "r1")
    project.handling_departments.add(reviewer.department)
    client.force_login(reviewer)
    r = client.post("/api/conformity-checks", {"project_code": project.project_code},
                    content_type="application/json")
    assert r.status_code == 201, r.content
    body = r.json()
    farm = next(x for x in body["results"] if x["rule_code"] == "farm")
    assert farm["status"] == "fail" and farm["geometry"]["type"] == "MultiPolygon"
    assert farm["area_ha"] == round(farm["area_m2"] / 10_000, 4)
    assert body["report"]["pdf"].endswith("/report.pdf")
    got = client.get(f"/api/conformity-checks/{body['id']}").json()
    assert got["conclusion"] == "conflicts"
    listed = client.get(f"/api/conformity-checks?project={project.project_code}").json()
    assert listed["count"] == 2
    assert client.post("/api/conformity-checks", {"project_code": "nope"},
                       content_type="application/json").status_code == 404
    assert client.post("/api/conformity-checks", {}, content_type="application/json"
                       ).status_code == 400
    other = make_user(Role.APPLICANT, "a1", organization_credit_code="91411325MA00000000")
    client.force_login(other)
    assert client.get(f"/api/conformity-checks/{body['id']}").status_code == 404
    assert client.post("/api/conformity-checks", {"project_code": project.project_code},
                       content_type="application/json").status_code == 403


def test_demo_projects_fail_exactly_the_rules_they_break():
    from layers.demo.loader import load_demo

    summary = load_demo(seed=7, parcels=1500, projects=60)
    expected_rules = {"farmland": "yjjbnt-no-occupy", "eco_red_line": "stbhhx-no-occupy",
                      "road_red_line": "dlhx-no-occupy", "far_exceeded": "kgdk-indicators",
                      "density_exceeded": "kgdk-indicators",
                      "height_exceeded": "kgdk-indicators", "green_below": "kgdk-indicators"}
    checks = {c.project.project_code: c for c in
              ConformityCheck.objects.select_related("project").prefetch_related("results")}
    assert len(checks) == 60
    for code, violation in summary.violations.items():
        failed = {r.rule_code for r in checks[code].results.all() if r.status == "fail"}
        if violation is None:
            assert failed == set(), (code, failed)
            assert checks[code].conclusion == "conforms"
        else:
            assert expected_rules[violation] in failed, (code, violation, failed)
