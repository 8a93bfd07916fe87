"""Electronic documents of projects (approvals_link/documents/): upload, list, download.

Real PostGIS; the store lives in the test's tmp_path. Downloads go through Django's test
client and, once, through the real WSGI stack over HTTP.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import zipfile
from pathlib import Path
from urllib.parse import quote, unquote

import pytest
import requests
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts import tokens
from accounts.models import Department
from accounts.roles import Role, Scope
from approvals_link.documents import content_types, services, storage
from approvals_link.models import Project, ProjectDocument
from audit.models import AuditRecord
from tests.conftest import http_login, zip_bytes

CODE = "2024-411325-47-01-000001"
OTHER_CODE = "2024-411325-47-01-000002"
CREDIT = "91411325MA00000000"
BASE = f"/api/projects/{CODE}/documents/"

PDF = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 17
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x01" * 32
TIFF = b"II*\x00\x08\x00\x00\x00" + b"\x00" * 32
DWG = b"AC1027" + b"\x00" * 64
DXF = b"  0\r\nSECTION\r\n  2\r\nHEADER\r\n  0\r\nENDSEC\r\n  0\r\nEOF\r\n"
HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>x()</script></svg>'
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 64 + b"PE\x00\x00"
ELF = b"\x7fELF\x02\x01\x01" + b"\x00" * 64
GEOJSON = ('{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": '
           '{"名称": "红线"}, "geometry": {"type": "Point", "coordinates": [111.84, 33.06]}}]}'
           ).encode()
DOCX = zip_bytes({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>"})
XLSX = zip_bytes({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<workbook/>"})
DOCM = zip_bytes({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w/>",
                  "word/vbaProject.bin": b"\x00macro"})
OFD = zip_bytes({"OFD.xml": b"<ofd:OFD/>", "Doc_0/Document.xml": b"<ofd:Document/>"})
SHP_ZIP = zip_bytes({"redline.shp": b"\x00\x00\x27\x0a" + b"\x00" * 96,
                     "redline.dbf": b"\x03" + b"\x00" * 31, "redline.prj": b"GEOGCS[]"})
EVIL_ZIP = zip_bytes({"redline.shp": b"\x00" * 100, "setup.exe": EXE})

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def documents_root(settings, tmp_path: Path) -> Path:
    root = tmp_path / "documents"
    settings.DOCUMENTS_ROOT = root
    return root


@pytest.fixture
def world(make_user):
    """The project (handled by the reviewers' department, owned by the applicant's
    organisation), a second project nobody here handles, and the accounts."""
    users = {role: make_user(role, f"d_{role}") for role in Role
             if role not in (Role.ANONYMOUS,)}
    users[Role.APPLICANT].organization_credit_code = CREDIT
    users[Role.APPLICANT].save()
    project = Project.objects.create(project_code=CODE, name="内乡县测试项目",
                                     construction_unit_credit_code=CREDIT)
    project.handling_departments.add(users[Role.REVIEWER].department)
    other = Project.objects.create(project_code=OTHER_CODE, name="别的项目",
                                   construction_unit_credit_code="91411325MA99999999")
    read = tokens.issue(users[Role.EXTERNAL_SYSTEM], name="审批系统",
                        scopes=[Scope.DOCUMENTS_READ]).secret
    map_only = tokens.issue(users[Role.EXTERNAL_SYSTEM], name="地图",
                            scopes=[Scope.MAP_READ]).secret
    return {"users": users, "project": project, "other": other,
            "read_token": read, "map_token": map_only}


def upload(client, name: str, data: bytes, *, code: str = CODE, kind: str = "approval",
           **fields):
    f = SimpleUploadedFile(name, data, content_type="application/octet-stream")
    return client.post(f"/api/projects/{code}/documents/", {"file": f, "kind": kind, **fields})


def stored_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def downloads() -> int:
    return AuditRecord.objects.filter(event_type="documents.download").count()


def body_of(response) -> bytes:
    return b"".join(response.streaming_content)


def b64(sha256: str) -> str:
    return base64.b64encode(bytes.fromhex(sha256)).decode()


# -- round trip -------------------------------------------------------------------------


def test_upload_list_download_round_trip(world, client, documents_root):
    reviewer = world["users"][Role.REVIEWER]
    client.force_login(reviewer)
    name = "内乡县建设用地规划许可证（批复）.pdf"
    r = upload(client, name, PDF, title="用地规划许可批复", stage="1")
    assert r.status_code == 201, r.content
    doc = r.json()
    sha = hashlib.sha256(PDF).hexdigest()
    assert doc["created"] is True and doc["sha256"] == sha and doc["size"] == len(PDF)
    assert doc["original_name"] == name and doc["content_type"] == "application/pdf"
    assert doc["stage"] == 1 and doc["kind"] == "approval"
    assert doc["uploaded_by"] == reviewer.username
    assert r["Location"].endswith(f"{BASE}{doc['id']}")
    # Content-addressed: the bytes under ab/abcdef..., nothing else (no temp files left).
    assert stored_files(documents_root) == [documents_root / sha[:2] / sha]
    assert AuditRecord.objects.filter(event_type="documents.upload",
                                      object=f"{CODE}/{doc['id']}").count() == 1

    listing = client.get(BASE).json()
    assert listing["count"] == 1
    (item,) = listing["documents"]
    assert item["sha256"] == sha and item["title"] == "用地规划许可批复"
    assert item["uploaded_at"] and item["uploaded_by"] == reviewer.username
    assert item["links"]["download"].endswith(f"{BASE}{doc['id']}/download")
    assert client.get(f"{BASE}{doc['id']}").json()["sha256"] == sha

    r = client.get(f"{BASE}{doc['id']}/download")
    assert r.status_code == 200
    content = body_of(r)
    assert hashlib.sha256(content).hexdigest() == sha == r["ETag"].strip('"')
    assert r["Content-Type"] == "application/pdf"
    assert r["Content-Length"] == str(len(PDF))
    assert r["X-Content-Type-Options"] == "nosniff"
    assert r["Digest"] == f"sha-256={b64(sha)}"
    assert r["Repr-Digest"] == f"sha-256=:{b64(sha)}:"
    disposition = r["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert f"filename*=UTF-8''{quote(name, safe='')}" in disposition
    encoded = re.search(r"filename\*=UTF-8''(\S+)", disposition).group(1)
    assert unquote(encoded) == name
    assert "private" in r["Cache-Control"]
    assert "sandbox" in r["Content-Security-Policy"]
    assert downloads() == 1
    rec = AuditRecord.objects.get(event_type="documents.download")
    assert rec.object == f"{CODE}/{doc['id']}" and rec.subject == reviewer.username
    assert rec.detail["sha256"] == sha and rec.detail["size"] == len(PDF)

    # Revalidation: 304 without a body, and it is not another download.
    r = client.get(f"{BASE}{doc['id']}/download", HTTP_IF_NONE_MATCH=f'"{sha}"')
    assert r.status_code == 304 and r["ETag"] == f'"{sha}"'
    r = client.get(f"{BASE}{doc['id']}/download", HTTP_IF_NONE_MATCH='W/"other", "' + sha + '"')
    assert r.status_code == 304
    r = client.get(f"{BASE}{doc['id']}/download", HTTP_IF_NONE_MATCH='"0000"')
    assert r.status_code == 200 and body_of(r) == PDF
    assert downloads() == 2
    # HEAD: the headers only, not counted as a download.
    r = client.head(f"{BASE}{doc['id']}/download")
    assert r.status_code == 200 and r["ETag"] == f'"{sha}"' and not r.content
    assert downloads() == 2


def test_reupload_is_idempotent(world, client, documents_root):
    client.force_login(world["users"][Role.REVIEWER])
    first = upload(client, "批复.pdf", PDF)
    again = upload(client, "批复-副本.pdf", PDF, title="另一个标题")
    assert first.status_code == 201 and again.status_code == 200, again.content
    assert again.json()["created"] is False and again.json()["id"] == first.json()["id"]
    assert again.json()["original_name"] == "批复.pdf"  # the existing row, unchanged
    # Another kind is another document, but the same bytes are stored once.
    other_kind = upload(client, "批复.pdf", PDF, kind="report")
    assert other_kind.status_code == 201 and other_kind.json()["id"] != first.json()["id"]
    assert ProjectDocument.objects.count() == 2
    assert len(stored_files(documents_root)) == 1


def test_service_is_idempotent_and_returns_created_flag(world):
    project = world["project"]
    doc, created = services.store_document(project, SimpleUploadedFile("a.pdf", PDF),
                                           kind="approval", title="", stage=None,
                                           uploaded_by=None)
    assert created and doc.title == "a" and doc.uploaded_by is None
    same, created = services.store_document(project, SimpleUploadedFile("b.pdf", PDF),
                                            kind="approval", title="x", stage=2,
                                            uploaded_by=world["users"][Role.REVIEWER])
    assert not created and same.pk == doc.pk
    with pytest.raises(ValueError):
        services.store_document(project, SimpleUploadedFile("a.pdf", PDF), kind="nope")


# -- bad input ------------------------------------------------------------------------


def test_size_limit_is_413_and_leaves_nothing(world, client, settings, documents_root):
    settings.DOCUMENT_MAX_BYTES = 1000
    client.force_login(world["users"][Role.REVIEWER])
    exact = PDF + b"%" * (1000 - len(PDF))
    r = upload(client, "exact.pdf", exact + b"x")
    assert r.status_code == 413, r.content
    assert r.json()["error"] == "too_large" and "1000" in r.json()["detail"]
    assert stored_files(documents_root) == [] and ProjectDocument.objects.count() == 0
    # Far beyond the limit: refused on Content-Length, before the body is parsed.
    r = upload(client, "huge.pdf", PDF + b"0" * 200_000)
    assert r.status_code == 413 and r.json()["error"] == "too_large"
    assert stored_files(documents_root) == []
    assert upload(client, "exact.pdf", exact).status_code == 201
    assert AuditRecord.objects.filter(event_type="documents.upload",
                                      result="failure").exists()


def test_bad_requests_are_400_json(world, client, documents_root):
    client.force_login(world["users"][Role.REVIEWER])
    cases = [
        (client.post(BASE, {"kind": "approval"}), "missing_file"),
        (upload(client, "empty.pdf", b""), "empty_file"),
        (upload(client, "a.pdf", PDF, kind="secret"), "invalid_kind"),
        (upload(client, "a.pdf", PDF, kind=""), "invalid_kind"),
        (upload(client, "a.pdf", PDF, stage="9"), "invalid_stage"),
        (upload(client, "a.pdf", PDF, stage="一"), "invalid_stage"),
        (upload(client, "a.pdf", PDF, title="长" * 201), "invalid_title"),
        (client.get(BASE, {"kind": "secret"}), "invalid_kind"),
        (client.get(BASE, {"limit": "x"}), "invalid_parameter"),
    ]
    for response, code in cases:
        assert response.status_code == 400, (code, response.content)
        body = response.json()
        assert body["error"] == code and body["detail"], body
    assert ProjectDocument.objects.count() == 0 and stored_files(documents_root) == []
    r = client.post(BASE, data=b'{"kind": "approval"}', content_type="application/json")
    assert r.status_code == 415 and set(r.json()) >= {"error", "detail"}


@pytest.mark.parametrize("name,data,code", [
    ("批复.pdf", HTML, "refused_content"),  # a .pdf that is really HTML
    ("setup.exe", EXE, "refused_type"),
    ("setup.pdf", EXE, "refused_content"),  # an executable named as a PDF
    ("tool.zip", ELF, "refused_content"),
    ("page.html", HTML, "refused_type"),
    ("图.svg", SVG, "refused_type"),
    ("图.png", SVG, "refused_content"),
    ("说明.txt", HTML, "refused_content"),
    ("report.png", PDF, "type_mismatch"),
    ("scan.pdf", PNG, "type_mismatch"),
    ("表.docx", XLSX, "type_mismatch"),
    ("表.zip", DOCX, "type_mismatch"),
    ("macro.docx", DOCM, "refused_content"),
    ("macro.docm", DOCM, "refused_type"),
    ("红线.zip", EVIL_ZIP, "refused_content"),
    ("broken.zip", b"PK\x03\x04garbage", "corrupt_archive"),
    ("binary.txt", b"\x00\x01\x02\xff\xfe" * 20, "unsupported_type"),
    ("data.json", b"{not json", "type_mismatch"),
    ("drawing.dxf", "红线坐标".encode(), "type_mismatch"),
    ("noext", PDF, "unsupported_type"),
    ("archive.rar", b"Rar!\x1a\x07\x00", "unsupported_type"),
    ("文本.pdf", "普通文本".encode(), "type_mismatch"),
])
def test_refused_types_are_415_with_a_reason(world, client, documents_root, name, data, code):
    client.force_login(world["users"][Role.APPLICANT])
    r = upload(client, name, data)
    assert r.status_code == 415, (name, r.content)
    body = r.json()
    assert body["error"] == code and body["detail"], body
    assert ProjectDocument.objects.count() == 0 and stored_files(documents_root) == []


@pytest.mark.parametrize("name,data,content_type", [
    ("扫描件.png", PNG, "image/png"),
    ("照片.JPG", JPEG, "image/jpeg"),
    ("影像.tif", TIFF, "image/tiff"),
    ("批复.ofd", OFD, "application/ofd"),
    ("红线.zip", SHP_ZIP, "application/zip"),
    ("说明.docx", DOCX, content_types.DOCX.mime),
    ("坐标表.xlsx", XLSX, content_types.XLSX.mime),
    ("总图.dwg", DWG, "image/vnd.dwg"),
    ("总图.dxf", DXF, "image/vnd.dxf"),
    ("红线.geojson", GEOJSON, "application/geo+json; charset=utf-8"),
    ("红线.json", GEOJSON, "application/geo+json; charset=utf-8"),
    ("参数.json", b'{"a": [1, 2]}', "application/json; charset=utf-8"),
    ("坐标.csv", "点号,X,Y\nJ1,1,2\n".encode(), "text/csv; charset=utf-8"),
    ("坐标.txt", "界址点坐标 J1 3659716.06 578448.67\n".encode("gb18030"),
     "text/plain; charset=gb18030"),
])
def test_accepted_types_are_detected_from_the_bytes(world, client, name, data, content_type):
    client.force_login(world["users"][Role.REVIEWER])
    r = upload(client, name, data, kind="boundary")
    assert r.status_code == 201, (name, r.content)
    assert r.json()["content_type"] == content_type
    download = client.get(f"{BASE}{r.json()['id']}/download")
    assert download["Content-Type"] == content_type and body_of(download) == data


# -- access ---------------------------------------------------------------------------


def _stored(world) -> ProjectDocument:
    doc, _ = services.store_document(world["project"], SimpleUploadedFile("批复.pdf", PDF),
                                     kind="approval", uploaded_by=world["users"][Role.REVIEWER])
    return doc


def test_access_by_role(world, client):
    doc = _stored(world)
    urls = [BASE, f"{BASE}{doc.pk}", f"{BASE}{doc.pk}/download"]
    for role in (Role.REVIEWER, Role.DEPARTMENT_HEAD, Role.APPLICANT):
        client.force_login(world["users"][role])
        assert [client.get(u).status_code for u in urls] == [200, 200, 200], role
    client.force_login(world["users"][Role.APPLICANT])
    assert upload(client, "申请书.pdf", PDF, kind="application").status_code == 201
    for role in (Role.NONE, Role.PLAN_DATA_MANAGER, Role.SYSTEM_ADMIN, Role.SECURITY_ADMIN,
                 Role.AUDIT_ADMIN):
        client.force_login(world["users"][role])
        statuses = [client.get(u).status_code for u in urls]
        statuses.append(upload(client, "x.pdf", PDF).status_code)
        assert statuses == [403] * 4, (role, statuses)
        assert client.get(urls[0]).json()["error"] == "forbidden"
    assert AuditRecord.objects.filter(event_type="access.denied",
                                      detail__function="documents.read").exists()
    assert downloads() == 3


def test_other_department_and_other_organisation_get_404(world, client, make_user):
    doc = _stored(world)
    other = Department.objects.create(code="ZJJ", name_zh="县住建局")
    strangers = [make_user(Role.REVIEWER, "r_zjj", department=other),
                 make_user(Role.DEPARTMENT_HEAD, "h_zjj", department=other),
                 make_user(Role.APPLICANT, "other_firm",
                           organization_credit_code="91411325MA11111111")]
    for user in strangers:
        client.force_login(user)
        for url in (BASE, f"{BASE}{doc.pk}", f"{BASE}{doc.pk}/download"):
            r = client.get(url)
            assert r.status_code == 404, (user.username, url)
            assert r.json()["error"] == "unknown_project"
        assert upload(client, "x.pdf", PDF).status_code == 404
        # The same answer as for a project that does not exist at all.
        assert client.get("/api/projects/2099-000000-00-00-000000/documents/").json() == \
            {"error": "unknown_project",
             "detail": "项目 2099-000000-00-00-000000 不存在 (no such project)"}
    assert ProjectDocument.objects.count() == 1 and downloads() == 0


def test_anonymous_is_sent_to_sign_in_or_gets_401(world, client):
    doc = _stored(world)
    for url in (BASE, f"{BASE}{doc.pk}", f"{BASE}{doc.pk}/download"):
        r = client.get(url)
        assert r.status_code == 302 and r["Location"].startswith("/accounts/login/?next="), url
        r = client.get(url, HTTP_ACCEPT="application/json")
        assert r.status_code == 401 and r["WWW-Authenticate"].startswith("Bearer")
        assert r.json()["error"] == "not_authenticated"
    assert upload(client, "x.pdf", PDF).status_code == 302
    assert ProjectDocument.objects.count() == 1 and downloads() == 0


def test_external_system_token_scopes(world, client):
    doc = _stored(world)
    read = {"HTTP_AUTHORIZATION": f"Bearer {world['read_token']}"}
    r = client.get(f"{BASE}{doc.pk}/download", **read)
    assert r.status_code == 200 and hashlib.sha256(body_of(r)).hexdigest() == doc.sha256
    assert client.get(BASE, **read).json()["count"] == 1
    # documents:read lets an external system see every project's documents.
    assert client.get(f"/api/projects/{OTHER_CODE}/documents/", **read).status_code == 200
    # Reading is not uploading.
    f = SimpleUploadedFile("x.pdf", PDF + b"1")
    assert client.post(BASE, {"file": f, "kind": "approval"}, **read).status_code == 403
    # A token without documents:read is refused, whatever its account's role allows.
    narrow = {"HTTP_AUTHORIZATION": f"Bearer {world['map_token']}"}
    for url in (BASE, f"{BASE}{doc.pk}/download"):
        r = client.get(url, **narrow)
        assert r.status_code == 403 and r.json()["error"] == "forbidden"
    assert client.get(BASE, HTTP_AUTHORIZATION="Bearer nx_bad_secret").status_code == 401
    assert downloads() == 1
    rec = AuditRecord.objects.get(event_type="documents.download")
    assert rec.subject_role == Role.EXTERNAL_SYSTEM and "token" in rec.subject


# -- traversal and foreign ids --------------------------------------------------------


def test_document_of_another_project_is_404(world, client):
    elsewhere, _ = services.store_document(world["other"], SimpleUploadedFile("x.pdf", PDF),
                                           kind="approval")
    client.force_login(world["users"][Role.REVIEWER])  # sees CODE, not OTHER_CODE
    for url in (f"{BASE}{elsewhere.pk}", f"{BASE}{elsewhere.pk}/download",
                f"{BASE}999999", f"{BASE}999999/download"):
        r = client.get(url)
        assert r.status_code == 404 and r.json()["error"] == "unknown_document", url
    # Even for a caller who may see every project.
    read = {"HTTP_AUTHORIZATION": f"Bearer {world['read_token']}"}
    assert client.get(f"{BASE}{elsewhere.pk}/download", **read).status_code == 404
    assert downloads() == 0


@pytest.mark.parametrize("path", [
    "/api/projects/..%2F..%2Fetc%2Fpasswd/documents/",
    f"/api/projects/{CODE}/documents/..%2F..%2F..%2Fetc%2Fpasswd",
    f"/api/projects/{CODE}/documents/..%2F..%2F..%2Fetc%2Fpasswd/download",
    f"/api/projects/{CODE}/documents/1%2F..%2F..%2Fx/download",
    f"/api/projects/{CODE}/documents/%2e%2e/%2e%2e/download",
    f"/api/projects/{CODE}/documents/-1/download",
    f"/api/projects/{CODE}%00/documents/",
    "/api/projects/%2e%2e/documents/1/download",
])
def test_url_encoded_traversal_is_404(world, client, path):
    _stored(world)
    client.force_login(world["users"][Role.REVIEWER])
    r = client.get(path)
    assert r.status_code == 404, (path, r.status_code)
    assert downloads() == 0


def _raw_multipart(filename: str, data: bytes, kind: str = "boundary") -> tuple[bytes, str]:
    """A multipart body with the file name exactly as given (Django's test client would
    reduce it to its basename itself)."""
    boundary = "----NeixiangBoundary7MA4YWxkTrZu0gW"
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="kind"\r\n\r\n{kind}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n')
    body = head.encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize("raw,expected", [
    ("../../etc/passwd.txt", "passwd.txt"),
    ("..\\..\\x.pdf", "x.pdf"),
    ("/etc/cron.d/job.txt", "job.txt"),
    ("C:\\Windows\\system32\\红线.txt", "红线.txt"),
])
def test_traversal_in_upload_names_is_stored_safely(world, client, documents_root, tmp_path,
                                                    raw, expected):
    client.force_login(world["users"][Role.REVIEWER])
    data = PDF if expected.endswith(".pdf") else b"J1,1,2\n"
    body, content_type = _raw_multipart(raw, data)
    r = client.generic("POST", BASE, body, content_type=content_type)
    assert r.status_code == 201, r.content
    assert r.json()["original_name"] == expected
    sha = hashlib.sha256(data).hexdigest()
    assert stored_files(documents_root) == [documents_root / sha[:2] / sha]
    assert not (tmp_path / "etc").exists() and not list(tmp_path.glob("*passwd*"))
    download = client.get(f"{BASE}{r.json()['id']}/download")
    disposition = download["Content-Disposition"]
    assert ".." not in disposition and "/" not in unquote(disposition.split("''", 1)[1])
    assert unquote(disposition.split("''", 1)[1]) == expected


@pytest.mark.parametrize("raw,expected", [
    ("../../etc/passwd.txt", "passwd.txt"),
    ("..\\..\\x.pdf", "x.pdf"),
    ("..", "document"),
    ("", "document"),
    (".htaccess.txt", "htaccess.txt"),
    ("报告\u202eFDP.exe", "报告FDP.exe"),  # right-to-left override hiding ".exe"
    ('a"b<c>|d?.pdf', "a_b_c__d_.pdf"),
    ("line\r\nbreak\x00.pdf", "linebreak.pdf"),
    ("长" * 300 + ".pdf", "长" * 251 + ".pdf"),
])
def test_safe_name(raw, expected):
    assert services.safe_name(raw) == expected


def test_service_sanitises_names_it_is_given_directly(world, documents_root, tmp_path):
    class RawUpload:  # not through Django's parser, which would strip folders itself
        name = "../../../etc/passwd.txt"

        def chunks(self):
            yield b"root:x:0:0\n"

    doc, created = services.store_document(world["project"], RawUpload(), kind="other")
    assert created and doc.original_name == "passwd.txt"
    assert stored_files(documents_root) == [storage.path_for(doc.sha256)]
    assert not (tmp_path / "etc").exists()


def test_store_refuses_names_that_are_not_digests(documents_root):
    for bad in ("../../etc/passwd", "ab/../../x", "A" * 64, "a" * 63, "a" * 64 + "/"):
        with pytest.raises(ValueError):
            storage.path_for(bad)
    assert storage.path_for("a" * 64) == documents_root / "aa" / ("a" * 64)


def test_staging_removes_partial_files(documents_root):
    with pytest.raises(storage.DocumentTooLarge):
        storage.stage(iter([b"x" * 600, b"y" * 600]), max_bytes=1000)
    assert stored_files(documents_root) == []
    staged = storage.stage([b"abc"])
    assert staged.sha256 == hashlib.sha256(b"abc").hexdigest() and staged.size == 3
    target = staged.commit()
    assert target.read_bytes() == b"abc" and stored_files(documents_root) == [target]
    # The same bytes again: kept once; a damaged copy (wrong size) is replaced.
    storage.stage([b"abc"]).commit()
    target.write_bytes(b"ab")
    storage.stage([b"abc"]).commit()
    assert target.read_bytes() == b"abc" and stored_files(documents_root) == [target]


def test_missing_stored_bytes_are_a_server_error_not_an_empty_file(world, client):
    doc = _stored(world)
    storage.path_for(doc.sha256).unlink()
    client.force_login(world["users"][Role.REVIEWER])
    r = client.get(f"{BASE}{doc.pk}/download")
    assert r.status_code == 500 and r.json()["error"] == "file_missing"
    assert downloads() == 0


def test_openapi_describes_the_document_endpoints(client, db):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    paths = schema["paths"]
    assert {"get", "post"} <= set(paths["/api/projects/{project_code}/documents/"])
    assert "/api/projects/{project_code}/documents/{document_id}/download" in paths


# -- over real HTTP (live WSGI server) ------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_round_trip_over_http(live_server, world, documents_root):
    url = f"{live_server.url}{BASE}"
    session = http_login(live_server.url, world["users"][Role.REVIEWER].username)
    content = PDF + bytes(range(256)) * 4000  # ~1 MB: several chunks each way
    name = "内乡县建设项目用地预审与选址意见书.pdf"
    r = session.post(url, timeout=30, files={"file": (name, io.BytesIO(content))},
                     data={"kind": "approval", "title": "选址意见书", "stage": "1"})
    assert r.status_code == 201, r.text
    doc = r.json()
    # Traversal names sent as-is by a real client.
    r = session.post(url, timeout=30, data={"kind": "boundary"},
                     files={"file": ("../../etc/passwd.txt", b"J1,1,2\n")})
    assert r.status_code == 201 and r.json()["original_name"] == "passwd.txt", r.text
    r = session.post(url, timeout=30, data={"kind": "boundary"},
                     files={"file": ("..\\..\\x.pdf", HTML)})
    assert r.status_code == 415 and r.json()["error"] == "refused_content"
    assert not (documents_root.parent / "etc").exists()

    listing = session.get(url, timeout=10).json()
    assert listing["count"] == 2
    link = next(d for d in listing["documents"] if d["id"] == doc["id"])["links"]["download"]
    with session.get(link, timeout=30, stream=True) as r:
        assert r.status_code == 200
        digest = hashlib.sha256()
        for chunk in r.iter_content(64 * 1024):
            digest.update(chunk)
        assert digest.hexdigest() == doc["sha256"] == r.headers["ETag"].strip('"')
        assert r.headers["Repr-Digest"] == f"sha-256=:{b64(doc['sha256'])}:"
        assert r.headers["Content-Length"] == str(len(content))
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        encoded = re.search(r"filename\*=UTF-8''(\S+)",
                            r.headers["Content-Disposition"]).group(1)
        assert unquote(encoded) == name
    assert session.get(link, timeout=10,
                       headers={"If-None-Match": f'"{doc["sha256"]}"'}).status_code == 304
    assert downloads() == 1

    # An external system with documents:read downloads with its token.
    r = requests.get(link, timeout=30, headers={"Authorization": f"Bearer {world['read_token']}"})
    assert r.status_code == 200 and hashlib.sha256(r.content).hexdigest() == doc["sha256"]
    r = requests.get(link, timeout=30, headers={"Authorization": f"Bearer {world['map_token']}"})
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
    # Anonymous API clients asking for JSON get 401, browsers the sign-in page.
    r = requests.get(link, timeout=10, headers={"Accept": "application/json"})
    assert r.status_code == 401
    r = requests.get(link, timeout=10, allow_redirects=False)
    assert r.status_code == 302 and "/accounts/login/" in r.headers["Location"]
    # Someone else's project: 404 over HTTP too.
    r = session.get(f"{live_server.url}/api/projects/{OTHER_CODE}/documents/", timeout=10)
    assert r.status_code == 404
    assert downloads() == 2


def test_zip_helper_builds_real_archives():
    assert zipfile.ZipFile(io.BytesIO(SHP_ZIP)).namelist() == ["redline.shp", "redline.dbf",
                                                                "redline.prj"]
