"""The demo county: catalogue, generator and `load_demo`, checked in PostGIS."""

from __future__ import annotations

import re

import numpy as np
import pytest
import shapely
from django.core.management import call_command
from django.db import connection

from approvals_link.codes import credit_code_check_digit, is_valid_credit_code
from approvals_link.models import Project, ProjectFootprint
from approvals_link.services import create_footprint, upsert_project
from layers import catalogue
from layers.demo import SPATIAL_VIOLATIONS, generate
from layers.demo.loader import IMPORTED_BY, delete_demo
from layers.models import Feature, Layer, LayerVersion
from layers.styles import validate_style

N_PARCELS, N_PROJECTS, SEED = 300, 30, 7
FEATURE = Feature._meta.db_table
CODE_RE = re.compile(r"^2024-411325-\d{2}-\d{2}-\d{6}$")
MIN_OVERLAP_M2 = 0.5


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    """Load one small demo for the module (committed), and remove it afterwards."""
    with django_db_blocker.unblock():
        before = set(Layer.objects.values_list("code", flat=True))
        call_command("load_demo", parcels=N_PARCELS, projects=N_PROJECTS, seed=SEED,
                     verbosity=0)
    yield generate(SEED, N_PARCELS, N_PROJECTS)
    with django_db_blocker.unblock():
        delete_demo()
        Layer.objects.filter(code__in=[s.code for s in catalogue.STANDARD_LAYERS]).exclude(
            code__in=before).delete()


def published(code: str) -> LayerVersion:
    return LayerVersion.objects.get(layer__code=code, state=LayerVersion.State.PUBLISHED)


def sql(query: str, params: list | tuple = ()) -> list[tuple]:
    with connection.cursor() as cur:
        cur.execute(query, params)
        return cur.fetchall()


def overlaps(version_a: int, version_b: int, min_area: float = MIN_OVERLAP_M2) -> int:
    """Pairs of features of two versions whose intersection is larger than min_area m²."""
    return sql(f"""
        SELECT count(*) FROM {FEATURE} a JOIN {FEATURE} b ON ST_Intersects(a.geom, b.geom)
        WHERE a.version_id = %s AND b.version_id = %s
          AND ST_Area(ST_Transform(ST_Intersection(a.geom, b.geom), 4546)) > %s""",
               [version_a, version_b, min_area])[0][0]


def footprint_overlap(footprint_id: int, version_id: int) -> float:
    return sql(f"""
        SELECT coalesce(sum(ST_Area(ST_Transform(ST_Intersection(p.geom, f.geom), 4546))), 0)
        FROM approvals_link_projectfootprint p JOIN {FEATURE} f ON ST_Intersects(p.geom, f.geom)
        WHERE p.id = %s AND f.version_id = %s""", [footprint_id, version_id])[0][0]


def version_hash(version_id: int) -> str:
    return sql(f"""SELECT md5(string_agg(parcel_no || ':' || encode(ST_AsBinary(geom), 'hex'),
                                         ',' ORDER BY feature_no))
                   FROM {FEATURE} WHERE version_id = %s""", [version_id])[0][0]


# ------------------------------------------------------------------ no database

def test_credit_code_check_digit_on_real_codes():
    # GB 32100-2015 example, and two published enterprise codes.
    for code in ("91350100M000100Y43", "9144030071526726XG", "91110108551385082Q"):
        assert credit_code_check_digit(code[:17]) == code[17]
        assert is_valid_credit_code(code)
    assert not is_valid_credit_code("91350100M000100Y44")
    assert not is_valid_credit_code("91350100M000100Y4")
    assert not is_valid_credit_code("91350100M0001O0Y43")  # letter O is not in the charset
    with pytest.raises(ValueError):
        credit_code_check_digit("91350100I00010OY4")


def test_catalogue_styles_are_valid():
    codes = [s.code for s in catalogue.STANDARD_LAYERS]
    assert len(codes) == len(set(codes)) == 12
    for spec in catalogue.STANDARD_LAYERS:
        validate_style(spec.style, spec.geometry_type)
    assert catalogue.BY_CODE["STBHHX"].access_level == Layer.Access.INTERNAL
    assert catalogue.BY_CODE["KGDK"].style["classes"]["scheme"] == "land_use"


def test_generator_is_deterministic():
    a, b, c = generate(3, 120, 12), generate(3, 120, 12), generate(4, 120, 12)
    for code in a.layers:
        wa = shapely.to_wkb(a.layers[code].geoms)
        assert list(wa) == list(shapely.to_wkb(b.layers[code].geoms)), code
    assert [p.project_code for p in a.projects] == [p.project_code for p in b.projects]
    assert [p.violation for p in a.projects] == [p.violation for p in b.projects]
    assert list(shapely.to_wkb(a.layers["KGDK"].geoms)) != list(
        shapely.to_wkb(c.layers["KGDK"].geoms))
    assert len(a.layers["KGDK"]) == 120 and len(a.projects) == 12


def test_parcel_sizes_and_indicators_are_plausible():
    d = generate(11, 2000, 0)
    cols = d.layers["KGDK"].columns
    ha = shapely.area(d.layers["KGDK"].geoms) / 1e4
    assert np.percentile(ha, 1) >= 0.3 and ha.max() <= 3.0
    assert (np.asarray(cols["RJLSX"]) > np.asarray(cols["RJLXX"])).all()
    # Percentages, not fractions (the importer would otherwise rescale them).
    assert (np.asarray(cols["JZMDZ"]) >= 1).all() and (np.asarray(cols["LDLLX"]) >= 10).all()
    assert np.allclose(cols["YDMJ"], ha, atol=1e-4)
    assert len(set(cols["DKBH"])) == 2000
    assert all(re.fullmatch(r"NX-[A-Z]+\d{2}-\d{2}", x) for x in cols["DKBH"])
    assert "1504" in set(cols["YDXZDM"])  # the county yamen
    kinds = shapely.get_type_id(d.layers["KGDK"].geoms)
    assert (kinds == 6).sum() >= 1  # a few two-part parcels
    assert (shapely.get_num_interior_rings(shapely.get_geometry(d.layers["KGDK"].geoms, 0))
            > 0).sum() >= 10


# ------------------------------------------------------------------ loaded demo

@pytest.mark.django_db(transaction=False)
def test_standard_layers_published_without_problems(demo):
    for spec in catalogue.STANDARD_LAYERS:
        version = published(spec.code)
        assert version.imported_by == IMPORTED_BY
        assert version.source_name == f"demo-seed-{SEED}"
        assert version.feature_count == len(demo.layers[spec.code]) > 0
        report = version.import_report
        assert report["repaired"] == 0 and report["rejected"] == 0, spec.code
        assert report["problems"] == [], (spec.code, report["problems"][:5])
    assert published("KGDK").feature_count == N_PARCELS
    assert published("XZQ").feature_count == 1


@pytest.mark.django_db(transaction=False)
def test_parcels_respect_county_roads_and_river(demo):
    kgdk, county = published("KGDK").pk, published("XZQ").pk
    outside = sql(f"""SELECT count(*) FROM {FEATURE} p, {FEATURE} c
                      WHERE p.version_id = %s AND c.version_id = %s
                        AND NOT ST_Within(p.geom, c.geom)""", [kgdk, county])[0][0]
    assert outside == 0
    assert overlaps(kgdk, published("DLHX").pk) == 0
    assert overlaps(kgdk, published("LANX").pk) == 0
    dev = published("CZKFBJ").pk
    assert overlaps(published("YJJBNT").pk, dev) == 0
    assert overlaps(published("STBHHX").pk, dev) == 0
    # At this size every parcel is urban: inside the central development boundary.
    inside = sql(f"""SELECT count(*) FROM {FEATURE} p JOIN {FEATURE} d
                     ON ST_Within(p.geom, d.geom)
                     WHERE p.version_id = %s AND d.version_id = %s""", [kgdk, dev])[0][0]
    assert inside == N_PARCELS
    # Everything lies in the county.
    stray = sql(f"""SELECT count(*) FROM {FEATURE} f JOIN layers_layerversion v
                      ON v.id = f.version_id, {FEATURE} c
                    WHERE v.imported_by = %s AND v.state = 'published' AND c.version_id = %s
                      AND NOT ST_CoveredBy(f.geom, c.geom)""", [IMPORTED_BY, county])[0][0]
    assert stray == 0


@pytest.mark.django_db(transaction=False)
def test_parcel_area_matches_geometry(demo):
    rows = sql(f"""SELECT parcel_no, land_area_ha, ST_Area(ST_Transform(geom, 4546)), measure,
                          far_max, far_min
                   FROM {FEATURE} WHERE version_id = %s""", [published("KGDK").pk])
    assert len(rows) == N_PARCELS
    assert len({r[0] for r in rows}) == N_PARCELS
    for parcel_no, ha, area, measure, far_max, far_min in rows:
        assert abs(ha * 1e4 - area) / area < 0.01, parcel_no
        assert abs(measure - area) / area < 1e-6
        assert far_max > far_min


@pytest.mark.django_db(transaction=False)
def test_projects_codes_units_and_violations(demo):
    projects = {p.project_code: p for p in Project.objects.all()}
    assert len(projects) == N_PROJECTS
    assert all(CODE_RE.match(code) for code in projects)
    assert all(is_valid_credit_code(p.construction_unit_credit_code) for p in projects.values())
    assert all(p.name and "{" not in p.name and p.construction_unit and p.flow_type
               for p in projects.values())
    layer_of = {"farmland": "YJJBNT", "eco_red_line": "STBHHX", "road_red_line": "DLHX"}
    versions = {code: published(code).pk for code in ("YJJBNT", "STBHHX", "DLHX", "KGDK")}
    kinds = {p.project_code: p.violation for p in demo.projects}
    assert set(kinds) == set(projects)
    assert 0 < sum(k is not None for k in kinds.values()) < N_PROJECTS / 4
    for code, kind in kinds.items():
        project = projects[code]
        fp = ProjectFootprint.objects.get(project=project)
        assert fp.area_m2 == pytest.approx(
            sql("SELECT ST_Area(ST_Transform(geom, 4546)) FROM approvals_link_projectfootprint "
                "WHERE id = %s", [fp.pk])[0][0], rel=1e-6)
        if kind in SPATIAL_VIOLATIONS:
            assert footprint_overlap(fp.pk, versions[layer_of[kind]]) > 1.0, (code, kind)
            continue
        assert footprint_overlap(fp.pk, versions["YJJBNT"]) == 0, code
        assert footprint_overlap(fp.pk, versions["STBHHX"]) == 0, code
        assert footprint_overlap(fp.pk, versions["DLHX"]) < 1.0, code
        limits = sql(f"""SELECT min(f.far_max), max(f.far_min), min(f.density_max),
                                max(f.green_min), min(f.height_max), min(f.green_max)
                         FROM approvals_link_projectfootprint p JOIN {FEATURE} f
                           ON ST_Intersects(p.geom, f.geom)
                         WHERE p.id = %s AND f.version_id = %s
                           AND ST_Area(ST_Transform(ST_Intersection(p.geom, f.geom), 4546)) > 1
                      """, [fp.pk, versions["KGDK"]])[0]
        far_max, far_min, density, green_min, height, green_max = limits
        assert far_max is not None, code  # the red line is on the plan's parcels
        checks = {"far_exceeded": project.proposed_far > far_max,
                  "density_exceeded": project.proposed_density > density,
                  "height_exceeded": project.proposed_height > height,
                  "green_below": project.proposed_green_ratio < green_min}
        if kind is None:
            assert not any(checks.values()), (code, checks)
            assert far_min <= project.proposed_far
            assert green_max is None or project.proposed_green_ratio <= green_max
        else:
            assert checks[kind], (code, kind)
            assert sum(checks.values()) == 1, (code, checks)


@pytest.mark.django_db(transaction=False)
def test_reload_same_seed_is_identical_and_other_seed_differs(demo):
    first = published("KGDK")
    call_command("load_demo", parcels=N_PARCELS, projects=N_PROJECTS, seed=SEED, verbosity=0)
    second = published("KGDK")
    assert second.number == first.number + 1
    first.refresh_from_db()
    assert first.state == LayerVersion.State.RETIRED
    assert version_hash(first.pk) == version_hash(second.pk)
    assert Project.objects.count() == N_PROJECTS  # same codes: upserted
    assert ProjectFootprint.objects.filter(number=2).count() == N_PROJECTS
    call_command("load_demo", parcels=N_PARCELS, projects=N_PROJECTS, seed=SEED + 1,
                 verbosity=0)
    third = published("KGDK")
    assert version_hash(third.pk) != version_hash(first.pk)
    common = sql(f"""SELECT count(*) FROM {FEATURE} a JOIN {FEATURE} b
                     ON ST_Equals(a.geom, b.geom)
                     WHERE a.version_id = %s AND b.version_id = %s""", [first.pk, third.pk])
    assert common[0][0] == 0


@pytest.mark.django_db(transaction=False)
def test_if_empty_and_replace(demo):
    before = LayerVersion.objects.count()
    call_command("load_demo", parcels=50, projects=5, seed=SEED, if_empty=True, verbosity=0)
    assert LayerVersion.objects.count() == before
    call_command("load_demo", parcels=50, projects=5, seed=SEED, replace=True, verbosity=0)
    assert LayerVersion.objects.filter(imported_by=IMPORTED_BY).count() == 12
    assert published("KGDK").feature_count == 50
    assert Project.objects.count() == 5


@pytest.mark.django_db(transaction=False)
def test_upsert_project_and_footprint_versions():
    p = upsert_project(project_code="2024-411325-47-01-000001", name="内乡县测试项目",
                       construction_unit="内乡县测试单位", proposed_far=1.2)
    same = upsert_project(project_code="2024-411325-47-01-000001", name="内乡县测试项目二期")
    assert same.pk == p.pk and same.name == "内乡县测试项目二期" and same.proposed_far == 1.2
    square = shapely.box(111.85, 33.05, 111.851, 33.051)
    f1 = create_footprint(p, square, "a.txt", "txt")
    f2 = create_footprint(p, shapely.MultiPolygon([square]), "b.txt", "txt")
    assert (f1.number, f2.number) == (1, 2)
    # ~93.3 m x 111 m at this latitude
    assert 9_000 < f2.area_m2 < 11_000
    assert f2.geom.geom_type == "MultiPolygon" and f2.geom_3857.srid == 3857
    with pytest.raises(TypeError):
        upsert_project(project_code="2024-411325-47-01-000002", name="x", colour="red")


@pytest.mark.django_db(transaction=False)
def test_demo_accounts_see_demo_projects():
    """`make run` creates the demo accounts, then loads the demo: its reviewers' bureau
    handles every demo project and the demo applicant is one of the enterprises."""
    from accounts.models import User
    from approvals_link.selectors import visible_projects
    from layers.demo.loader import load_demo

    call_command("create_admins", "--demo-accounts", verbosity=0)
    summary = load_demo(seed=3, parcels=800, projects=30)
    reviewer = User.objects.get(username="demo_reviewer")
    applicant = User.objects.get(username="demo_applicant")
    assert visible_projects(reviewer).filter(
        project_code__in=list(summary.violations)).count() == 30
    own = visible_projects(applicant)
    assert 1 <= own.count() < visible_projects(reviewer).count()
    assert {p.construction_unit_credit_code for p in own} == {
        applicant.organization_credit_code}
