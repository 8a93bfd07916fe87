"""Approval-record intake: exchange rows and red-line boundary files, in PostGIS.

The approval system authenticates with a token of scope approvals:write (the token
middleware runs in the Django test client like on the server).
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import ezdxf
import pytest
from pyproj import Transformer
from shapely.geometry import Polygon

from accounts import tokens
from accounts.roles import Role, Scope
from approvals_link.demo_events import ITEMS, is_working_day, make_demo_events
from approvals_link.models import ApprovalItemEvent, Project, ProjectFootprint
from audit.models import AuditRecord
from tests.conftest import SEAT_X, SEAT_Y, sample_parcels, square, write_vector

pytestmark = pytest.mark.django_db
URL = "/api/intake/records"
SAMPLE_TXT = Path("/work/shared/samples/redline_example.txt")
if not SAMPLE_TXT.exists():  # the same file is kept with the tests
    SAMPLE_TXT = Path(__file__).parent / "data" / "redline_example.txt"
CODE = "2019-411325-47-01-000123"  # 2017 rules
CODE_NEW = "2405-411325-04-01-123456"  # GB/T 40058-2021
CREDIT = "91350100M000100Y43"  # check character 3 (codes.credit_code_check_digit)
UTC = dt.UTC


def project_row(**overrides) -> dict:
    row = {"DFSJZJ": "XM-0001", "XZQHDM": "411325", "XMDM": CODE, "XMMC": "内乡县示范小区",
           "JSDW": "内乡县示范置业有限公司", "JSDWTYSHXYDM": CREDIT, "SPLCLX": "3",
           "ZTZE": "12000.5", "TDHQFS": "3", "YDMJ": 35000, "JZMJ": 80000.5,
           "JSDD": "城关镇", "XMLX": "residential", "SQYDXZ": "0701", "NJRJL": 2.2,
           "NJJZMD": 28, "NJLDL": 35, "NJJZGD": 54, "SJYXBS": 1,
           "SJGXSJ": "2024-05-06 10:15:00"}
    row.update(overrides)
    return row


def event_row(**overrides) -> dict:
    row = {"DFSJZJ": "BL-0001", "XMDM": CODE, "DYBZSPJDXH": 1, "SPSXBM": "411325-ZRZY-001",
           "SPSXMC": "建设用地规划许可证核发", "SPSXSLBM": "SL-2024-0001",
           "SPBMBM": "411325ZRZY", "SPBMMC": "县自然资源局", "BLZT": "2",
           "BLSJ": "2024-05-06 09:30:00", "BLYJ": "材料齐全，予以受理", "CNSX": 10,
           "SJGXSJ": "2024-05-06 10:15:00"}
    row.update(overrides)
    return row


def P(**overrides) -> dict:  # a SPGL_XMJBXXB item
    return {"table": "SPGL_XMJBXXB", "data": project_row(**overrides)}


def E(**overrides) -> dict:  # a SPGL_XMSPSXBLXXB item
    return {"table": "SPGL_XMSPSXBLXXB", "data": event_row(**overrides)}


@pytest.fixture
def system(make_user):
    """The approval system's account and a token of scope approvals:write."""
    account = make_user(Role.EXTERNAL_SYSTEM, "approval_system")
    issued = tokens.issue(account, name="审批系统", scopes=[Scope.APPROVALS_WRITE])
    return {"account": account, "headers": {"HTTP_AUTHORIZATION": f"Bearer {issued.secret}"}}


@pytest.fixture
def push(client, system):
    def send(*records: dict, raw: str | None = None, **extra):
        body = raw if raw is not None else json.dumps({"records": list(records)})
        return client.post(URL, data=body, content_type="application/json",
                            **{**system["headers"], **extra})
    return send


def outcomes(response) -> list[str]:
    return [r["outcome"] for r in response.json()["results"]]


# --- Records: create, update, unchanged, stale, conflict -------------------------------------

def test_project_create_update_unchanged_stale(push):
    r = push(P())
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["accepted"] == 1 and body["rejected"] == 0
    assert body["results"] == [{"index": 0, "table": "SPGL_XMJBXXB", "local_key": "XM-0001",
                                "project_code": CODE, "outcome": "created", "error": None,
                                "errors": {}}]
    p = Project.objects.get(project_code=CODE)
    assert (p.local_key, p.name, p.construction_unit_credit_code, p.flow_type) == \
        ("XM-0001", "内乡县示范小区", CREDIT, "3")
    assert p.investment_wan == Decimal("12000.5000") and p.declared_land_area_m2 == 35000
    assert (p.project_type, p.applied_land_use_code, p.proposed_far, p.proposed_density,
            p.proposed_green_ratio, p.proposed_height) == ("residential", "0701", 2.2, 28, 35, 54)
    # Naive times are Beijing time.
    assert p.source_updated_at == dt.datetime(2024, 5, 6, 2, 15, tzinfo=UTC)
    stamp = p.updated_at

    r = push(P())  # the same row again: nothing written
    assert r.status_code == 200 and outcomes(r) == ["unchanged"]
    assert Project.objects.get(pk=p.pk).updated_at == stamp

    r = push(P(XMMC="内乡县示范小区（二期）", NJRJL=2.5, SJGXSJ="2024-05-07T09:00:00+08:00"))
    assert r.status_code == 200 and outcomes(r) == ["updated"]
    p.refresh_from_db()
    assert p.name == "内乡县示范小区（二期）" and p.proposed_far == 2.5
    assert p.source_updated_at == dt.datetime(2024, 5, 7, 1, 0, tzinfo=UTC)

    # A late push of an older row is reported and not applied.
    r = push(P(XMMC="旧名称", SJGXSJ="2024-05-06 12:00:00"))
    assert r.status_code == 200 and outcomes(r) == ["stale"]
    assert r.json()["accepted"] == 1
    p.refresh_from_db()
    assert p.name == "内乡县示范小区（二期）"

    # Same SJGXSJ, different content: a conflict, nothing silently lost.
    r = push(P(XMMC="另一个名称", SJGXSJ="2024-05-07 09:00:00"))
    assert r.status_code == 422
    result = r.json()["results"][0]
    assert result["outcome"] == "rejected" and result["error"] == "conflict"
    assert "XMMC" in result["errors"]["SJGXSJ"][0]
    p.refresh_from_db()
    assert p.name == "内乡县示范小区（二期）"

    # A later SJGXSJ with the same content changes nothing but the stored SJGXSJ.
    r = push(P(XMMC="内乡县示范小区（二期）", NJRJL=2.5, SJGXSJ="2024-05-08 09:00:00"))
    assert outcomes(r) == ["unchanged"]
    p.refresh_from_db()
    assert p.source_updated_at == dt.datetime(2024, 5, 8, 1, 0, tzinfo=UTC)
    assert Project.objects.count() == 1


def test_absent_fields_are_kept_and_null_clears(push):
    push(P())
    row = project_row(SJGXSJ="2024-06-01 08:00:00", NJJZGD=None)
    del row["NJRJL"]
    r = push({"table": "SPGL_XMJBXXB", "data": row})
    assert outcomes(r) == ["updated"], r.content
    p = Project.objects.get()
    assert p.proposed_far == 2.2 and p.proposed_height is None


def test_lower_case_keys_and_table_name(push):
    row = {k.lower(): v for k, v in project_row(XMDM=CODE_NEW).items()}
    r = push({"table": "spgl_xmjbxxb", "data": row})
    assert r.status_code == 200, r.content
    assert Project.objects.get().project_code == CODE_NEW


def test_existing_project_is_adopted_by_its_first_push(push):
    Project.objects.create(project_code=CODE, name="手工登记")
    r = push(P())
    assert outcomes(r) == ["updated"]
    assert Project.objects.get().local_key == "XM-0001"
    r = push(P(DFSJZJ="XM-OTHER", SJGXSJ="2024-06-01 08:00:00"))
    assert r.json()["results"][0]["error"] == "conflict"
    r = push(P(XMDM="2019-411325-47-01-000999", SJGXSJ="2024-06-01 08:00:00"))
    assert r.json()["results"][0]["error"] == "conflict"  # a row's project code is fixed
    assert Project.objects.get().project_code == CODE


def test_events_create_update_stale(push):
    push(P())
    r = push(E())
    assert r.status_code == 200 and outcomes(r) == ["created"]
    e = ApprovalItemEvent.objects.get()
    assert (e.stage, e.status, e.instance_code, e.time_limit_days, e.department_name) == \
        (1, "2", "SL-2024-0001", 10, "县自然资源局")
    assert e.handled_at == dt.datetime(2024, 5, 6, 1, 30, tzinfo=UTC)
    assert outcomes(push(E())) == ["unchanged"]
    r = push(E(BLYJ="补充说明", SJGXSJ="2024-05-06 11:00:00"))
    assert outcomes(r) == ["updated"]
    assert outcomes(push(E(BLYJ="更旧", SJGXSJ="2024-05-06 10:00:00"))) == ["stale"]
    e.refresh_from_db()
    assert e.opinion == "补充说明"


def test_event_before_its_project_is_rejected_then_accepted_in_one_batch(push):
    r = push(E())
    assert r.status_code == 422
    result = r.json()["results"][0]
    assert result["error"] == "unknown_project" and "XMDM" in result["errors"]
    assert not ApprovalItemEvent.objects.exists()
    # Event first, project second, in one batch: projects are applied first.
    r = push(E(), P())
    assert r.status_code == 200, r.content
    assert outcomes(r) == ["created", "created"]
    assert [x["index"] for x in r.json()["results"]] == [0, 1]
    assert ApprovalItemEvent.objects.get().project.project_code == CODE


def test_duplicates_in_one_batch(push):
    r = push(P(), P(), E(), E(BLYJ="不同内容"))
    assert r.status_code == 422
    assert outcomes(r) == ["created", "unchanged", "created", "rejected"]
    assert r.json()["results"][3]["error"] == "conflict"
    assert Project.objects.count() == 1 and ApprovalItemEvent.objects.count() == 1
    assert ApprovalItemEvent.objects.get().opinion == "材料齐全，予以受理"
    r = push(E(BLZT="6", SJGXSJ="2024-05-07 10:00:00"),
             E(BLZT="7", SJGXSJ="2024-05-08 10:00:00"))
    assert outcomes(r) == ["updated", "updated"]
    assert ApprovalItemEvent.objects.get().status == "7"


# --- Records: bad input, every field's reason ------------------------------------------------

def test_every_project_field_problem_is_reported(push):
    bad = P(XMDM="2019-411325-47-09-12345", JSDWTYSHXYDM="91350100M000100Y44", SPLCLX="7",
            XZQHDM="41132", ZTZE="十万", TDHQFS="8", YDMJ=-5, XMLX="villa", NJRJL="x",
            NJJZMD=120, SQYDXZ="07-01", SJYXBS=2, SJGXSJ="2024-13-01 10:00:00")
    del bad["data"]["XMMC"]
    r = push(bad)
    assert r.status_code == 422
    result = r.json()["results"][0]
    assert result["outcome"] == "rejected" and result["error"] == "invalid"
    errors = result["errors"]
    assert set(errors) == {"XMDM", "JSDWTYSHXYDM", "SPLCLX", "XZQHDM", "ZTZE", "TDHQFS",
                           "YDMJ", "XMLX", "NJRJL", "NJJZMD", "SQYDXZ", "SJYXBS", "SJGXSJ",
                           "XMMC"}
    assert "校验位" in errors["JSDWTYSHXYDM"][0] and "应为 3" in errors["JSDWTYSHXYDM"][0]
    assert "审批流程类型" in errors["SPLCLX"][0]
    assert "(required field missing)" in errors["XMMC"][0]
    assert "(invalid date/time)" in errors["SJGXSJ"][0]
    for reasons in errors.values():
        for reason in reasons:  # Chinese, with English in parentheses
            assert "(" in reason and any("\u4e00" <= ch <= "\u9fff" for ch in reason), reason
    assert not Project.objects.exists()


@pytest.mark.parametrize("overrides,field,fragment", [
    ({"XMDM": "2419-411325-04-01-123456"}, "XMDM", "年份"),  # neither year nor YYMM
    ({"XMDM": "2019-411325-47-05-000123"}, "XMDM", "类型码"),
    ({"XMDM": "2019-991325-47-01-000123", "XZQHDM": "991325"}, "XZQHDM", "province"),
    ({"XMDM": "2019-411326-47-01-000123"}, "XMDM", "XZQHDM"),  # division differs
    ({"JSDWTYSHXYDM": "91350100M000100YI3"}, "JSDWTYSHXYDM", "18"),
    ({"SJGXSJ": "2099-01-01 00:00:00"}, "SJGXSJ", "future"),
    ({"SJGXSJ": "06/05/2024"}, "SJGXSJ", "ISO 8601"),
    ({"SJYXBS": 0}, "SJWXYY", "SJYXBS"),  # invalid without a reason
    ({"XMMC": "a" * 201}, "XMMC", "200"),
    ({"XMMC": "  "}, "XMMC", "empty"),
    ({"NJJZGD": True}, "NJJZGD", "number"),
])
def test_project_field_reasons(push, overrides, field, fragment):
    r = push(P(**overrides))
    assert r.status_code == 422, r.content
    errors = r.json()["results"][0]["errors"]
    assert field in errors and any(fragment in m for m in errors[field]), errors


def test_every_event_field_problem_is_reported(push):
    push(P())
    r = push(E(DYBZSPJDXH=9, BLZT="99", BLSJ="2024-02-30 10:00:00", CNSX="abc", SPSXMC=None,
               XMDM="bad", XZQHDM="411325"))
    result = r.json()["results"][0]
    assert set(result["errors"]) == {"DYBZSPJDXH", "BLZT", "BLSJ", "CNSX", "SPSXMC", "XMDM"}
    assert "审批阶段" in result["errors"]["DYBZSPJDXH"][0]
    assert "办理状态" in result["errors"]["BLZT"][0]
    assert not ApprovalItemEvent.objects.exists()


def test_times_in_any_accepted_form(push):
    push(P())
    r = push(E(DFSJZJ="a", BLSJ="2024-05-06T01:30:00Z"),
             E(DFSJZJ="b", BLSJ="2024-05-06T09:30:00+08:00"),
             E(DFSJZJ="c", BLSJ="2024-05-06 09:30:00"))
    assert r.status_code == 200, r.content
    assert {e.handled_at for e in ApprovalItemEvent.objects.all()} == {
        dt.datetime(2024, 5, 6, 1, 30, tzinfo=UTC)}


def test_malformed_items_and_unknown_tables(push):
    r = push("not an object", {"table": "SPGL_XMQQYJXXB", "data": {}},
             {"table": "SPGL_XMJBXXB", "data": []}, P())
    assert r.status_code == 422
    results = r.json()["results"]
    assert "record" in results[0]["errors"]
    assert "table" in results[1]["errors"]
    assert "data" in results[2]["errors"]
    assert results[3]["outcome"] == "created"
    assert r.json()["accepted"] == 1 and r.json()["rejected"] == 3


def test_a_bad_row_leaves_nothing_and_the_good_ones_are_stored(push):
    r = push(P(), P(DFSJZJ="XM-0002", XMDM="2019-411325-47-01-000124", SPLCLX="99"),
             E(), E(DFSJZJ="BL-0002", XMDM="2019-411325-47-01-000124"))
    assert r.status_code == 422
    assert outcomes(r) == ["created", "rejected", "created", "rejected"]
    assert r.json()["results"][3]["error"] == "unknown_project"
    assert list(Project.objects.values_list("local_key", flat=True)) == ["XM-0001"]
    assert list(ApprovalItemEvent.objects.values_list("local_key", flat=True)) == ["BL-0001"]


def test_model_validation_errors_use_the_standard_names(push, monkeypatch):
    """A failure inside the write (here a model check) rolls that row back only."""
    from django.core.exceptions import ValidationError

    from approvals_link import services as approvals

    def failing(**kwargs):
        Project.objects.create(project_code=kwargs["project_code"], name="半条")
        raise ValidationError({"construction_unit": ["模拟失败 (simulated)"]})

    monkeypatch.setattr(approvals, "upsert_project", failing)
    r = push(P())
    assert r.json()["results"][0]["errors"] == {"JSDW": ["模拟失败 (simulated)"]}
    assert not Project.objects.exists()


def test_body_errors(push, settings):
    r = push(raw="{not json")
    assert r.status_code == 400 and r.json()["error"] == "invalid_json"
    assert push(raw='{"records": "x"}').json()["error"] == "invalid_json"
    assert push(raw="[]").status_code == 400
    r = push()
    assert r.status_code == 400 and r.json()["error"] == "invalid"
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    r = push(P())
    assert r.status_code == 413 and r.json()["error"] == "too_large"
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
    settings.INTAKE_MAX_RECORDS = 2
    r = push(P(), P(), P())
    assert r.status_code == 413 and r.json()["error"] == "too_many_records"
    assert not Project.objects.exists()


def test_one_audit_record_per_request(push):
    before = AuditRecord.objects.filter(event_type="approvals.intake").count()
    push(P(), E(), E(DFSJZJ="x", BLZT="99"))
    recs = AuditRecord.objects.filter(event_type="approvals.intake").order_by("seq")
    assert recs.count() == before + 1
    rec = recs.last()
    assert rec.result == "failure" and rec.subject.startswith("approval_system")
    assert rec.detail["accepted"] == 2 and rec.detail["rejected"] == 1
    assert rec.detail["outcomes"]["created"] == 2
    assert rec.detail["rejections"] == [{"index": 2, "table": "SPGL_XMSPSXBLXXB",
                                         "local_key": "x", "error": "invalid"}]


# --- Access ----------------------------------------------------------------------------------

def test_access(client, system, make_user):
    body = json.dumps({"records": [P()]})
    boundary_url = f"/api/projects/{CODE}/boundary-files"
    # Nobody: told to authenticate (API clients 401 + WWW-Authenticate, browsers sign in).
    r = client.post(URL, data=body, content_type="application/json",
                    HTTP_ACCEPT="application/json")
    assert r.status_code == 401 and r["WWW-Authenticate"].startswith("Bearer")
    assert client.post(URL, data=body, content_type="application/json").status_code == 401
    r = client.post(URL)  # a browser's form post
    assert r.status_code == 302 and "/accounts/login/" in r["Location"]
    assert client.post(boundary_url, HTTP_ACCEPT="application/json").status_code == 401
    # A bad token is refused outright.
    r = client.post(URL, data=body, content_type="application/json",
                    HTTP_AUTHORIZATION="Bearer nx_dead_beef")
    assert r.status_code == 401
    # A token without approvals:write, and a reviewer's session: forbidden.
    narrow = tokens.issue(system["account"], name="只读", scopes=[Scope.MAP_READ])
    r = client.post(URL, data=body, content_type="application/json",
                    HTTP_AUTHORIZATION=f"Bearer {narrow.secret}")
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
    client.force_login(make_user(Role.REVIEWER, "reviewer"))
    r = client.post(URL, data=body, content_type="application/json")
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
    assert client.post(boundary_url).status_code == 403
    assert not Project.objects.exists()
    denied = AuditRecord.objects.filter(event_type="access.denied", result="denied")
    assert denied.count() >= 4


# --- Boundary files ---------------------------------------------------------------------------

def txt_bytes(rings: list[list[tuple[float, float]]]) -> bytes:
    """A 界址点 TXT (GBK, zone-prefixed EPSG:4525) of rings given in EPSG:4546 metres."""
    lines = ["[属性描述]", "格式版本号=1.0", "数据产生单位=内乡县测绘队", "数据产生日期=2024-05-01",
             "坐标系=2000国家大地坐标系", "几度分带=3", "投影类型=高斯克吕格", "计量单位=米",
             "带号=37", "精度=0.001", "转换参数=,,,,,,", "[地块坐标]"]
    for k, ring in enumerate(rings, start=1):
        area_ha = Polygon(ring).area / 10_000
        lines.append(f"{len(ring) + 1},{area_ha:.4f},NX-T-{k:02d},测试地块{k},面,,,,@")
        for j, (x, y) in enumerate([*ring, ring[0]]):
            name = f"J{j % len(ring) + 1}"
            lines.append(f"{name},1,{y:.3f},{x + 37_000_000:.3f}")
    return ("\r\n".join(lines) + "\r\n").encode("gbk")


def seat_ring(dx: float = 0, dy: float = 0, size: float = 80) -> list[tuple[float, float]]:
    x, y = SEAT_X + dx, SEAT_Y + dy
    return [(x, y), (x + size, y), (x + size, y + size), (x, y + size)]


@pytest.fixture(autouse=True)
def private_document_store(settings, tmp_path):
    settings.DOCUMENTS_ROOT = tmp_path / "documents"


@pytest.fixture
def project(push):
    assert push(P()).status_code == 200
    return Project.objects.get()


@pytest.fixture
def upload(client, system):
    def send(name: str, content: bytes, code: str = CODE, **fields):
        from django.core.files.uploadedfile import SimpleUploadedFile

        data = {"JZWJXH": 1, **fields, "file": SimpleUploadedFile(name, content)}
        data = {k: v for k, v in data.items() if v is not None}
        return client.post(f"/api/projects/{code}/boundary-files", data=data,
                           **system["headers"])
    return send


def test_sample_txt_becomes_the_footprint(project, upload):
    r = upload("redline_example.txt", SAMPLE_TXT.read_bytes(), JZWJXH=1, DFSJZJ="JZ-0001",
               JZWJSM="规划条件附图红线")
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["outcome"] == "created" and body["project_code"] == CODE
    # The sample's points, read in EPSG:4525 (zone-prefixed): the area in the county CRS
    # (same central meridian) is the planar area of the points.
    rows = [line.split(",") for line in SAMPLE_TXT.read_bytes().decode("gbk").splitlines()
            if line.startswith("J")]
    expected = Polygon([(float(e) - 37_000_000, float(n)) for _, _, n, e in rows]).area
    assert body["footprint"]["area_m2"] == pytest.approx(expected, abs=0.05)
    assert body["footprint"]["area_ha"] == pytest.approx(expected / 10_000, abs=1e-4)
    assert "conformity_check_id" in body
    fp = ProjectFootprint.objects.get()
    assert (fp.number, fp.local_key, fp.source_format, fp.source_srid, fp.description,
            fp.source_name) == (1, "JZ-0001", "txt", 4525, "规划条件附图红线",
                                "redline_example.txt")
    assert fp.geom.geom_type == "MultiPolygon" and fp.geom.srid == 4490
    assert fp.checks.filter(pk=body["conformity_check_id"]).exists()
    # The file itself is the record's attachment (JZWJFJ), byte for byte.
    assert fp.document is not None and fp.document.kind == "boundary"
    assert body["attachment"]["document_id"] == fp.document_id
    import hashlib
    assert fp.document.sha256 == hashlib.sha256(SAMPLE_TXT.read_bytes()).hexdigest()
    # The same file under the same key again: unchanged, nothing new.
    r = upload("redline_example.txt", SAMPLE_TXT.read_bytes(), JZWJXH=1, DFSJZJ="JZ-0001")
    assert r.status_code == 200 and r.json()["outcome"] == "unchanged"
    assert ProjectFootprint.objects.count() == 1
    rec = AuditRecord.objects.filter(event_type="approvals.boundary_file").order_by("seq")
    assert rec.first().detail["outcome"] == "created" and rec.count() == 2


def test_generated_txt_with_two_parcels_is_unioned(project, upload):
    content = txt_bytes([seat_ring(), seat_ring(dx=200, size=50)])
    r = upload("两块.txt", content, JZWJXH=3)
    assert r.status_code == 201, r.content
    assert r.json()["footprint"]["area_m2"] == pytest.approx(6400 + 2500, abs=0.5)
    fp = ProjectFootprint.objects.get()
    assert fp.number == 3 and len(fp.geom) == 2
    assert project.current_footprint == fp


def test_touching_parts_merge_into_one_polygon(project, upload):
    content = txt_bytes([seat_ring(size=50), seat_ring(dx=50, size=50)])
    r = upload("相邻.txt", content)
    assert r.status_code == 201, r.content
    assert len(ProjectFootprint.objects.get().geom) == 1
    assert r.json()["footprint"]["area_m2"] == pytest.approx(5000, abs=0.5)


def test_shapefile_zip(project, upload, make_shapefile_zip):
    path = make_shapefile_zip(sample_parcels(3), {"DKBH": ["A", "B", "C"]}, 4546)
    r = upload("redline.zip", path.read_bytes(), JZWJXH=2, JZWJMC="红线.shp")
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["footprint"]["area_m2"] == pytest.approx(3 * 2500, abs=0.5)
    fp = ProjectFootprint.objects.get()
    assert fp.source_name == "红线.shp" and fp.source_srid == 4546 and len(fp.geom) == 3


def test_geopackage(project, upload, tmp_path):
    path = write_vector(tmp_path / "redline.gpkg", [square(SEAT_X, SEAT_Y, 70)],
                        {"DKBH": ["A"]}, 4546, "GPKG")
    r = upload("redline.gpkg", path.read_bytes(), JZWJXH=5)
    assert r.status_code == 201, r.content
    assert r.json()["footprint"]["area_m2"] == pytest.approx(4900, abs=0.05)
    assert ProjectFootprint.objects.get().source_format == r.json()["footprint"]["source_format"]


def geojson_bytes(*rings_4546: list[tuple[float, float]], lonlat: list | None = None) -> bytes:
    t = Transformer.from_crs("EPSG:4546", "EPSG:4490", always_xy=True)
    features = [{"type": "Feature", "properties": {"DKBH": f"G{i}"},
                 "geometry": {"type": "Polygon", "coordinates": [
                     [list(t.transform(x, y)) for x, y in [*ring, ring[0]]]]}}
                for i, ring in enumerate(rings_4546)]
    if lonlat:
        features.append({"type": "Feature", "properties": {"DKBH": "FAR"},
                         "geometry": {"type": "Polygon", "coordinates": [lonlat]}})
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


def test_geojson(project, upload):
    r = upload("redline.geojson", geojson_bytes(seat_ring(size=60)))
    assert r.status_code == 201, r.content
    assert r.json()["footprint"]["area_m2"] == pytest.approx(3600, abs=0.05)
    assert ProjectFootprint.objects.get().source_srid == 4326  # RFC 7946 GeoJSON


BEIJING = [[116.4, 39.9], [116.5, 39.9], [116.5, 40.0], [116.4, 39.9]]


def test_outside_the_county_is_refused_and_nothing_stored(project, upload):
    r = upload("far.geojson", geojson_bytes(lonlat=BEIJING))
    assert r.status_code == 400, r.content
    body = r.json()
    assert body["error"] == "outside_county" and body["stored"] is False
    assert any("内乡" in p["message"] and "要素 1" in p.get("location", "")
               for p in body["problems"])
    # One good part and one outside: refused as a whole (a red line is not trimmed).
    r = upload("mixed.geojson", geojson_bytes(seat_ring(), lonlat=BEIJING))
    assert r.status_code == 400 and r.json()["error"] == "outside_county"
    assert any("要素 2" in p.get("location", "") for p in r.json()["problems"])
    assert not ProjectFootprint.objects.exists()
    rec = AuditRecord.objects.filter(event_type="approvals.boundary_file").order_by("seq").last()
    assert rec.result == "failure" and rec.detail["error"] == "outside_county"


def test_dxf_needs_a_declared_crs(project, upload, tmp_path):
    doc = ezdxf.new()
    x, y = SEAT_X + 37_000_000, SEAT_Y
    doc.modelspace().add_lwpolyline([(x, y), (x + 100, y), (x + 100, y + 80), (x, y + 80)],
                                    close=True, dxfattribs={"layer": "红线"})
    path = tmp_path / "redline.dxf"
    doc.saveas(path)
    r = upload("redline.dxf", path.read_bytes())
    assert r.status_code == 400 and r.json()["error"] == "unknown_crs"
    assert any("DXF" in p["message"] for p in r.json()["problems"])
    assert not ProjectFootprint.objects.exists()
    r = upload("redline.dxf", path.read_bytes(), epsg="EPSG:999999")
    assert r.status_code == 400 and "epsg" in r.json()["fields"]
    r = upload("redline.dxf", path.read_bytes(), epsg="4525", dxf_layer="红线")
    assert r.status_code == 201, r.content
    assert r.json()["footprint"]["area_m2"] == pytest.approx(8000, abs=0.05)
    assert ProjectFootprint.objects.get().source_srid == 4525


def test_invalid_files_name_the_line(project, upload):
    bad = "[地块坐标]\r\n5,1,X,名,面,,,,@\r\nJ1,1,abc,def\r\n".encode("gbk")
    r = upload("bad.txt", bad)
    assert r.status_code == 400
    assert any("行" in (p.get("location") or "") for p in r.json()["problems"]), r.json()
    r = upload("empty.txt", b"")
    assert r.status_code == 400 and "file" in r.json()["fields"]
    assert not ProjectFootprint.objects.exists()


def test_file_number_and_local_key_conflicts(project, upload):
    first = txt_bytes([seat_ring()])
    other = txt_bytes([seat_ring(dx=300)])
    assert upload("a.txt", first, JZWJXH=1).status_code == 201
    # The same number with a different boundary: refused.
    r = upload("b.txt", other, JZWJXH=1)
    assert r.status_code == 409 and r.json()["error"] == "duplicate_file_number"
    assert r.json()["existing"]["number"] == 1
    # The same number with the same boundary (another file name): unchanged.
    r = upload("a-copy.txt", first, JZWJXH=1)
    assert r.status_code == 200 and r.json()["outcome"] == "unchanged"
    # Local keys: same key + same boundary unchanged, same key + different boundary 409.
    assert upload("b.txt", other, JZWJXH=2, DFSJZJ="JZ-2").status_code == 201
    assert upload("b.txt", other, JZWJXH=2, DFSJZJ="JZ-2").json()["outcome"] == "unchanged"
    r = upload("c.txt", first, JZWJXH=3, DFSJZJ="JZ-2")
    assert r.status_code == 409 and r.json()["error"] == "local_key_conflict"
    assert sorted(ProjectFootprint.objects.values_list("number", flat=True)) == [1, 2]
    assert project.current_footprint.number == 2


def test_boundary_form_errors_and_unknown_project(project, upload):
    content = txt_bytes([seat_ring()])
    for number in (None, 0, -1, "x"):
        r = upload("a.txt", content, JZWJXH=number)
        assert r.status_code == 400 and "JZWJXH" in r.json()["fields"], number
    r = upload("a.txt", content, code="2019-411325-47-01-999999")
    assert r.status_code == 404 and r.json()["error"] == "unknown_project"
    r = upload("a.txt", content, encoding="no-such-codec")
    assert r.status_code == 400 and "encoding" in r.json()["fields"]
    assert not ProjectFootprint.objects.exists()


def test_a_failing_receiver_stores_no_footprint(project, upload):
    from approvals_link import signals

    def broken(**kwargs):
        raise RuntimeError("receiver failed")

    signals.footprint_created.connect(broken, dispatch_uid="test-broken")
    try:
        with pytest.raises(RuntimeError):
            upload("a.txt", txt_bytes([seat_ring()]))
    finally:
        signals.footprint_created.disconnect(dispatch_uid="test-broken")
    assert not ProjectFootprint.objects.exists()


def test_schema_documents_both_endpoints(client):
    r = client.get("/api/schema/?format=json")
    assert r.status_code == 200
    text = r.content.decode()
    assert "/api/intake/records" in text
    assert "/api/projects/{project_code}/boundary-files" in text
    assert "JZWJXH" in text and "SPGL_XMJBXXB" in text


# --- Demo events -----------------------------------------------------------------------------

def _demo_projects(n: int) -> list[Project]:
    return [Project.objects.create(project_code=f"2019-411325-47-01-{i:06d}",
                                   name=f"演示项目{i}") for i in range(1, n + 1)]


def _snapshot() -> list[tuple]:
    return list(ApprovalItemEvent.objects.order_by("local_key").values_list(
        "local_key", "project__project_code", "stage", "item_name", "instance_code", "status",
        "handled_at", "time_limit_days", "source_updated_at"))


def test_demo_events_are_deterministic_and_plausible():
    projects = _demo_projects(30)
    created = make_demo_events(projects, seed=7)
    assert created == ApprovalItemEvent.objects.count() > 60
    first = _snapshot()
    assert make_demo_events(projects, seed=7) == 0  # nothing twice
    ApprovalItemEvent.objects.all().delete()
    assert make_demo_events(list(reversed(projects)), seed=7) == created
    assert _snapshot() == first
    ApprovalItemEvent.objects.all().delete()
    make_demo_events(projects, seed=8)
    assert _snapshot() != first

    ApprovalItemEvent.objects.all().delete()
    make_demo_events(projects, seed=7)
    events = list(ApprovalItemEvent.objects.order_by("project", "handled_at", "id"))
    local = [e.handled_at.astimezone(dt.timezone(dt.timedelta(hours=8))) for e in events]
    assert all(is_working_day(t.date()) and dt.time(8, 30) <= t.time() <= dt.time(17, 30)
               for t in local)
    assert min(local).year == 2024 and max(local).date() <= dt.date(2026, 10, 30)
    assert {e.item_name for e in events} >= {"建设用地规划许可证核发", "建设工程规划许可证核发",
                                             "建筑工程施工许可证核发"}
    assert "县自然资源局" in {e.department_name for e in events}
    # Projects have got to different stages; some items are still open, some overdue.
    furthest = {}
    for e in events:
        furthest[e.project_id] = max(furthest.get(e.project_id, 0), e.stage)
    assert len(set(furthest.values())) >= 3
    by_instance: dict[str, list[ApprovalItemEvent]] = {}
    for e in events:
        by_instance.setdefault(e.instance_code, []).append(e)
    open_items = [i for i, evs in by_instance.items() if evs[-1].status != "6"]
    assert open_items
    from approvals_link.demo_events import add_working_days

    overdue = 0
    for evs in by_instance.values():
        accepted = next((e for e in evs if e.status == "2"), None)
        approved = next((e for e in evs if e.status == "6"), None)
        if accepted and approved:
            deadline = add_working_days(accepted.handled_at.astimezone(
                dt.timezone(dt.timedelta(hours=8))).date(), accepted.time_limit_days)
            overdue += approved.handled_at.astimezone(
                dt.timezone(dt.timedelta(hours=8))).date() > deadline
        # Stages follow the standard's item list; events of an item are in order.
        assert [e.handled_at for e in evs] == sorted(e.handled_at for e in evs)
        assert evs[0].status == "1"
    assert overdue >= 1
    assert len(ITEMS) == 5

