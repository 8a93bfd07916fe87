"""The audit trail: complete records, append-only in the database, hash-chained, anchored,
archived and verifiable offline, and readable by the audit administrator only."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import threading
from pathlib import Path

import pytest
from django.contrib.admin.models import DELETION, LogEntry
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.test import RequestFactory
from django.utils import timezone

from accounts import tokens
from accounts.roles import Role
from audit import archive, chain
from audit.models import AppendOnlyError, AuditRecord
from audit.services import record
from tests.conftest import STRONG_PASSWORD

pytestmark = pytest.mark.django_db

AUDIT_URLS = ("/audit/", "/audit/export.csv", "/audit/export.jsonl", "/audit/verify/")
INJECTIONS = ("' OR '1'='1", "x'; DROP TABLE audit_auditrecord; --", "1) OR (1=1",
              "%' UNION SELECT id, hash FROM audit_auditrecord --", "\\'; SELECT pg_sleep(1); --")


@pytest.fixture(autouse=True)
def anchor_file(settings, tmp_path) -> Path:
    settings.AUDIT_ANCHOR_FILE = tmp_path / "anchors.log"
    return settings.AUDIT_ANCHOR_FILE


@pytest.fixture
def auditor(client, make_user):
    client.force_login(make_user(Role.AUDIT_ADMIN, "auditor"))
    return client


def _request(ip: str = "10.20.30.40", path: str = "/somewhere", user=None):
    request = RequestFactory().post(path, REMOTE_ADDR=ip)
    if user is not None:
        request.user = user
    return request


def _records(n: int, **kwargs) -> list[AuditRecord]:
    return [record("test.event", obj=f"object {i}", detail={"i": i}, **kwargs)
            for i in range(n)]


def _forced(sql: str, params: list | None = None) -> None:
    """What a database superuser can still do: switch the triggers off, change, switch on."""
    with connection.cursor() as cur:
        cur.execute("ALTER TABLE audit_auditrecord DISABLE TRIGGER USER")
        cur.execute(sql, params or [])
        cur.execute("ALTER TABLE audit_auditrecord ENABLE TRIGGER USER")


def _verify_command(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("verify_audit", *args, stdout=out)
    except SystemExit as exc:
        return int(exc.code), out.getvalue()
    return 0, out.getvalue()


# --- records ----------------------------------------------------------------------------------

def test_record_has_all_fields(make_user):
    admin = make_user(Role.SECURITY_ADMIN, "sec")
    rec = record("policy.changed", request=_request(user=admin), obj="security_policy",
                 before={"lockout_failures": 5}, after={"lockout_failures": 3})
    rec = AuditRecord.objects.get(pk=rec.pk)
    assert rec.seq >= 1 and len(rec.hash) == 64 and len(rec.prev_hash) == 64
    assert rec.occurred_at is not None
    assert (rec.event_type, rec.subject, rec.subject_role, rec.object, rec.source_ip,
            rec.result) == ("policy.changed", "sec", "security_admin", "security_policy",
                            "10.20.30.40", "success")
    assert rec.detail["before"] == {"lockout_failures": 5}
    assert rec.detail["after"] == {"lockout_failures": 3}
    assert rec.detail["method"] == "POST" and rec.detail["path"] == "/somewhere"


def test_the_database_numbers_links_and_times_the_records():
    first, second, third = _records(3)
    assert (second.seq, third.seq) == (first.seq + 1, first.seq + 2)
    assert second.prev_hash == first.hash and third.prev_hash == second.hash
    assert first.occurred_at <= second.occurred_at <= third.occurred_at
    assert AuditRecord.objects.get(seq=1).prev_hash == chain.ZERO_HASH


def test_record_accepts_awkward_values():
    rec = record("test.odd", obj="nul\x00byte", detail={"when": dt.date(2024, 6, 1),
                                                          "text": "a\x00b", "n": 1.5})
    rec = AuditRecord.objects.get(pk=rec.pk)
    assert rec.object == "nul\ufffdbyte"
    assert rec.detail == {"when": "2024-06-01", "text": "a\ufffdb", "n": 1.5}
    assert chain.verify().ok


def test_source_address_behind_a_proxy_and_garbled_headers(settings):
    settings.PROXY_COUNT = 1
    request = _request("127.0.0.1")
    request.META["HTTP_X_FORWARDED_FOR"] = "203.0.113.5"
    assert record("test.proxy", request=request).source_ip == "203.0.113.5"
    request.META["HTTP_X_FORWARDED_FOR"] = "unknown, <script>"
    assert record("test.proxy", request=request).source_ip is None  # recorded all the same


def test_the_orm_cannot_change_or_remove_records():
    rec = _records(1)[0]
    rec.subject = "someone else"
    with pytest.raises(AppendOnlyError):
        rec.save()
    with pytest.raises(AppendOnlyError):
        rec.delete()
    with pytest.raises(AppendOnlyError):
        AuditRecord.objects.filter(pk=rec.pk).update(subject="x")
    with pytest.raises(AppendOnlyError):
        AuditRecord.objects.all().delete()


# --- the chain --------------------------------------------------------------------------------

def test_an_intact_chain_verifies():
    _records(5)
    result = chain.verify()
    assert result.ok, result.message
    assert (result.checked, result.first_seq, result.last_seq) == (5, 1, 5)
    assert result.last_hash == AuditRecord.objects.get(seq=5).hash
    code, out = _verify_command("--no-anchor")
    assert code == 0 and "intact" in out


@pytest.mark.parametrize("sql", [
    "UPDATE audit_auditrecord SET subject = 'intruder' WHERE seq = 2",
    "UPDATE audit_auditrecord SET detail = '{}'",
    "DELETE FROM audit_auditrecord WHERE seq = 2",
    "DELETE FROM audit_auditrecord",
    "TRUNCATE audit_auditrecord",
    "UPDATE audit_chain SET chain_id = gen_random_uuid()",
    "DELETE FROM audit_chain",
])
def test_direct_sql_changes_are_refused_by_the_database(sql):
    _records(3)
    before = list(AuditRecord.objects.order_by("seq").values())
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), \
            connection.cursor() as cur:
        cur.execute(sql)
    assert list(AuditRecord.objects.order_by("seq").values()) == before
    assert chain.verify().ok


def test_a_forced_change_is_caught_naming_the_record():
    records = _records(6)
    target = records[3]
    _forced("UPDATE audit_auditrecord SET detail = detail || '{\"i\": 99}' WHERE id = %s",
            [target.pk])
    result = chain.verify()
    assert not result.ok
    assert (result.problem.kind, result.problem.seq, result.problem.record_id) == \
        ("altered", target.seq, target.pk)
    assert f"seq {target.seq}" in result.message
    code, out = _verify_command()
    assert code == 1 and f"seq {target.seq} (id {target.pk}" in out


def test_a_forced_change_with_a_recomputed_hash_breaks_the_next_link():
    records = _records(5)
    target = records[1]
    _forced("UPDATE audit_auditrecord SET subject = 'someone else' WHERE id = %s", [target.pk])
    _forced(f"UPDATE audit_auditrecord r SET hash = {chain.DIGEST_OF_ROW} WHERE id = %s",
            [target.pk])
    result = chain.verify()
    assert (result.problem.kind, result.problem.seq) == ("broken_link", target.seq + 1)
    assert f"seq {target.seq}" in result.message


def test_a_forced_delete_in_the_middle_is_reported_missing():
    records = _records(6)
    _forced("DELETE FROM audit_auditrecord WHERE id = %s", [records[2].pk])
    result = chain.verify()
    assert (result.problem.kind, result.problem.seq) == ("missing", records[2].seq)
    assert f"seq {records[2].seq}" in result.message
    assert _verify_command()[0] == 1


def test_deleting_the_first_records_is_reported_unless_verifying_from_later():
    records = _records(5)
    _forced("DELETE FROM audit_auditrecord WHERE seq <= 2")
    result = chain.verify()
    assert (result.problem.kind, result.problem.seq) == ("missing", 1)
    later = chain.verify(from_seq=records[2].seq)
    assert later.ok, later.message
    assert "starting point" in later.notes[0]
    code, _ = _verify_command("--from-seq", str(records[2].seq), "--no-anchor")
    assert code == 0


def test_deleting_the_newest_records_is_caught_by_the_anchor(anchor_file,
                                                             django_capture_on_commit_callbacks):
    records = _records(6)
    with django_capture_on_commit_callbacks(execute=True):
        assert chain.verify().ok
    anchor = json.loads(anchor_file.read_text().splitlines()[-1])
    assert (anchor["seq"], anchor["hash"]) == (records[-1].seq, records[-1].hash)
    _forced("DELETE FROM audit_auditrecord WHERE seq >= %s", [records[-2].seq])
    result = chain.verify()
    assert (result.problem.kind, result.problem.seq) == ("truncated", records[-2].seq)
    assert f"seq {records[-2].seq}–{records[-1].seq}" in result.message
    # New records written over the gap get the same numbers, not the anchored hash.
    _records(3)
    result = chain.verify()
    assert (result.problem.kind, result.problem.seq) == ("anchor_mismatch", records[-1].seq)


def test_record_writes_an_anchor_every_n_records_after_commit(settings, anchor_file,
                                                              django_capture_on_commit_callbacks):
    settings.AUDIT_ANCHOR_EVERY = 3
    with django_capture_on_commit_callbacks(execute=True):
        records = _records(7)
    anchors = [json.loads(line) for line in anchor_file.read_text().splitlines()]
    assert [(a["seq"], a["hash"], a["source"]) for a in anchors] == [
        (records[2].seq, records[2].hash, "record"), (records[5].seq, records[5].hash, "record")]
    assert {a["chain"] for a in anchors} == {chain.chain_id()}


def test_anchors_of_another_chain_of_this_database(anchor_file, monkeypatch):
    _records(2)
    chain.append_anchor(9, "f" * 64, chain="00000000-0000-0000-0000-000000000000")
    assert chain.verify(write_anchor=False).ok  # test databases are recreated every run
    monkeypatch.setattr(chain, "is_test_database", lambda using="default": False)
    result = chain.verify(write_anchor=False)
    assert result.problem.kind == "chain_replaced"


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_build_one_chain():
    def write(n: int) -> None:
        try:
            for i in range(n):
                record("test.concurrent", obj=str(i))
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(15,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(AuditRecord.objects.values_list("seq", flat=True)) == list(range(1, 61))
    assert chain.verify(write_anchor=False).ok


def test_flush_is_refused_outside_test_databases(monkeypatch):
    from audit.management.commands import flush

    monkeypatch.setattr(flush, "is_test_database", lambda alias: False)
    with pytest.raises(CommandError, match="append-only"):
        call_command("flush", interactive=False)


def test_retention_below_six_months_is_a_configuration_error(settings):
    from audit.checks import audit_settings

    assert audit_settings() == []
    settings.AUDIT_RETENTION_DAYS = 90
    assert [e.id for e in audit_settings()] == ["audit.E001"]


# --- archive ----------------------------------------------------------------------------------

def _awkward_records() -> list[AuditRecord]:
    return [
        record("test.archive", request=_request("2001:db8::1"), obj="a|b:c\nd",
               detail={"名称": "内乡县", "nested": {"z": [1, 2.5, None], "a": True}}),
        record("test.archive", obj="", detail={}),
        record("test.archive", request=_request("::ffff:10.0.0.1"), obj="😀 emoji",
               detail={"long": "x" * 300, "quote": "\"'\\"}),
        record("test.archive", obj="last"),
    ]


def test_python_canonical_form_is_the_database_one():
    recs = _awkward_records()
    with connection.cursor() as cur:
        cur.execute(archive.EXPORT_SQL, [recs[0].seq, recs[-1].seq])
        lines = [archive.line_of(row) for row in cur.fetchall()]
        cur.execute("SELECT audit_record_canonical(r.id, r.seq, r.prev_hash, r.occurred_at, "
                    "r.event_type, r.subject, r.subject_role, r.object, r.source_ip, r.result, "
                    "r.detail) FROM audit_auditrecord r WHERE seq BETWEEN %s AND %s ORDER BY seq",
                    [recs[0].seq, recs[-1].seq])
        canonical = [row[0] for row in cur.fetchall()]
    assert [archive.canonical(line) for line in lines] == canonical
    assert [archive.digest(line) for line in lines] == [r.hash for r in recs]


def test_archive_export_and_offline_verification(tmp_path):
    recs = _awkward_records()
    out = tmp_path / "audit-2024.jsonl"
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    call_command("archive_audit", "--before", tomorrow, "--out", str(out), stdout=io.StringIO())
    manifest = json.loads(archive.manifest_path(out).read_text())
    assert (manifest["first_seq"], manifest["last_seq"], manifest["count"]) == \
        (recs[0].seq, recs[-1].seq, len(recs))
    assert manifest["last_hash"] == recs[-1].hash
    assert manifest["first_prev_hash"] == chain.ZERO_HASH
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [line["seq"] for line in lines] == [r.seq for r in recs]
    assert lines[0]["source_ip"] == "2001:db8::1" and lines[0]["detail"]["名称"] == "内乡县"
    assert AuditRecord.objects.count() == len(recs)  # export removes nothing
    assert archive.verify_archive(out).ok
    code, out_text = _verify_command("--archive", str(out))
    assert code == 0, out_text


def test_a_tampered_archive_is_caught(tmp_path):
    _awkward_records()
    out = tmp_path / "a.jsonl"
    archive.export(dt.date.today() + dt.timedelta(days=1), out)
    lines = out.read_text(encoding="utf-8").splitlines()
    changed = json.loads(lines[2])
    changed["subject"] = "someone else"
    lines[2] = archive.dumps(changed)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = archive.verify_archive(out)
    assert (result.problem.kind, result.problem.seq) == ("altered", changed["seq"])
    assert "line 3" in result.message
    assert any(p.kind == "manifest" for p in result.problems)  # and the checksum differs
    assert _verify_command("--archive", str(out))[0] == 1
    # A line removed, and the manifest "fixed" to match the file: still caught.
    del lines[1]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    mpath = archive.manifest_path(out)
    manifest = json.loads(mpath.read_text())
    manifest["sha256"] = __import__("hashlib").sha256(out.read_bytes()).hexdigest()
    mpath.write_text(json.dumps(manifest))
    assert archive.verify_archive(out).problem.kind == "missing"


def test_archive_before_a_date_is_contiguous_and_empty_when_nothing_is_older(tmp_path):
    _records(3)
    out = tmp_path / "old.jsonl"
    manifest = archive.export(dt.date(2000, 1, 1), out)
    assert manifest["count"] == 0 and out.read_text() == ""


# --- recording across the system -------------------------------------------------------------

def test_sign_in_success_failure_and_logout_are_recorded(client, make_user):
    make_user(Role.REVIEWER, "li")
    r = client.post("/accounts/login/", {"username": "li", "password": "wrong-Pass-1!"},
                    REMOTE_ADDR="192.0.2.7")
    assert r.status_code == 200
    failed = AuditRecord.objects.get(event_type="auth.login_failed")
    assert (failed.object, failed.source_ip, failed.result, failed.subject) == \
        ("li", "192.0.2.7", "failure", "anonymous")
    r = client.post("/accounts/login/", {"username": "li", "password": STRONG_PASSWORD},
                    REMOTE_ADDR="192.0.2.8")
    assert r.status_code == 302
    ok = AuditRecord.objects.get(event_type="auth.login")
    assert (ok.subject, ok.subject_role, ok.object, ok.source_ip, ok.result) == \
        ("li", "reviewer", "li", "192.0.2.8", "success")
    client.post("/accounts/logout/", REMOTE_ADDR="192.0.2.8")
    out = AuditRecord.objects.get(event_type="auth.logout")
    assert (out.subject, out.source_ip) == ("li", "192.0.2.8")
    # Sign-in and sign-out are recorded by their signals only, not again as generic writes.
    assert not AuditRecord.objects.filter(event_type="request.write").exists()


def test_external_system_access_is_recorded(client, make_user):
    system = make_user(Role.EXTERNAL_SYSTEM, "county-approvals")
    issued = tokens.issue(system, name="approvals", scopes=["map:read"])
    auth = {"HTTP_AUTHORIZATION": f"Bearer {issued.secret}", "REMOTE_ADDR": "198.51.100.4"}
    assert client.get("/api/layers", **auth).status_code == 200
    assert client.get("/audit/", **auth).status_code == 403
    # Secrets in the query string (OGC clients send the token that way) are not copied.
    client.get("/api/layers", {"format": "json", "token": issued.secret}, **auth)
    access = list(AuditRecord.objects.filter(event_type="api.access").order_by("seq"))
    assert [(a.object, a.result) for a in access][:2] == [("/api/layers", "success"),
                                                          ("/audit/", "denied")]
    first = access[0]
    assert first.subject == f"county-approvals (token {issued.token.prefix})"
    assert (first.subject_role, first.source_ip) == ("external_system", "198.51.100.4")
    assert first.detail["status"] == 200 and first.detail["token"] == issued.token.prefix
    assert len(access) == 3 and access[2].detail["query"] == "format=json&token=***"
    assert issued.secret not in json.dumps(list(AuditRecord.objects.values_list("detail",
                                                                                flat=True)))


def test_unrecorded_writes_get_a_generic_record_once(client, make_user):
    client.force_login(make_user(Role.SECURITY_ADMIN, "sec"))
    client.post("/accounts/policy/", {"password_min_length": "not a number"})
    generic = AuditRecord.objects.get(event_type="request.write")
    assert (generic.subject, generic.object, generic.detail["status"]) == \
        ("sec", "/accounts/policy/", 200)
    client.get("/accounts/policy/")  # reads by a signed-in user are not written down
    assert list(AuditRecord.objects.filter(subject="sec").order_by("seq")
                .values_list("event_type", flat=True)) == ["auth.login", "request.write"]


def test_admin_site_changes_are_recorded_with_before_and_after(client, make_user):
    from accounts.models import Department

    admin = make_user(Role.SYSTEM_ADMIN, "sysadmin")
    client.force_login(admin)
    r = client.post("/admin/accounts/department/add/",
                    {"code": "ZJJ", "name_zh": "住建局", "name_en": "Housing", "_save": "1"})
    assert r.status_code == 302, r.content.decode()[:2000]
    dept = Department.objects.get(code="ZJJ")
    added = AuditRecord.objects.get(event_type="admin.add")
    assert added.subject == "sysadmin" and added.source_ip == "127.0.0.1"
    assert added.object == f"accounts.department:{dept.pk} 住建局"
    assert added.detail["after"]["name_zh"] == "住建局"
    r = client.post(f"/admin/accounts/department/{dept.pk}/change/",
                    {"code": "ZJJ", "name_zh": "县住房和城乡建设局", "name_en": "Housing",
                     "_save": "1"})
    assert r.status_code == 302
    changed = AuditRecord.objects.get(event_type="admin.change")
    assert changed.detail["before"] == {"name_zh": "住建局"}
    assert changed.detail["after"] == {"name_zh": "县住房和城乡建设局"}
    assert "部门名称" in changed.detail["change_message"]
    # No generic record for the same requests.
    assert not AuditRecord.objects.filter(object__startswith="/admin/").exists()
    # A deletion log entry keeps the object's last state.
    LogEntry.objects.log_actions(admin.pk, [dept], DELETION, single_object=True)
    deleted = AuditRecord.objects.get(event_type="admin.delete")
    assert deleted.detail["before"]["code"] == "ZJJ" and deleted.subject == "sysadmin"


def test_admin_user_changes_never_copy_the_password(client, make_user):
    admin = make_user(Role.SYSTEM_ADMIN, "sysadmin")
    other = make_user(Role.REVIEWER, "li")
    client.force_login(admin)
    page = client.get(f"/admin/accounts/user/{other.pk}/password/")
    assert page.status_code == 200
    r = client.post(f"/admin/accounts/user/{other.pk}/password/",
                    {"password1": "An0ther!Pass-99", "password2": "An0ther!Pass-99",
                     "usable_password": "true"})
    assert r.status_code == 302, r.content.decode()[:3000]
    assert AuditRecord.objects.filter(event_type="admin.change").exists()
    other.refresh_from_db()
    text = json.dumps(list(AuditRecord.objects.values_list("detail", flat=True)))
    assert other.password not in text
    assert other.password.split("$")[-1] not in text


# --- the audit administrator's pages ----------------------------------------------------------

@pytest.mark.parametrize("role", [r for r in Role.values if r != Role.AUDIT_ADMIN])
def test_audit_pages_are_for_the_audit_administrator_only(client, make_user, role):
    if role == Role.ANONYMOUS:  # nobody signed in: sent to the sign-in page
        for url in AUDIT_URLS:
            response = client.get(url)
            assert response.status_code == 302, url
            assert response["Location"].startswith("/accounts/login/")
    else:
        client.force_login(make_user(role, f"user-{role}"))
        for url in AUDIT_URLS:
            assert client.get(url).status_code == 403, (role, url)
        assert AuditRecord.objects.filter(event_type="access.denied").count() == len(AUDIT_URLS)
    assert not AuditRecord.objects.filter(event_type__startswith="audit.").exists()


def test_the_audit_administrator_browses_and_it_is_audited(auditor):
    _records(3)
    record("auth.login_failed", request=_request("192.0.2.9"), obj="wang", result="failure")
    page = auditor.get("/audit/")
    assert page.status_code == 200
    html = page.content.decode()
    for label in ("序号", "时间", "事件类型", "主体", "客体", "来源地址", "结果", "详情"):
        assert label in html
    assert "wang" in html and "失败" in html
    browse = AuditRecord.objects.get(event_type="audit.browse")
    assert (browse.subject, browse.subject_role, browse.object) == \
        ("auditor", "audit_admin", "/audit/")
    rows = page.context["page"].object_list
    assert [r.seq for r in rows] == sorted((r.seq for r in rows), reverse=True)  # newest first


def test_filters(auditor):
    _records(2)
    failed = record("auth.login_failed", request=_request("192.0.2.9"), obj="wang",
                    result="failure")
    record("auth.login", request=_request("192.0.2.10"), obj="li")

    def seqs(**params) -> list[int]:
        response = auditor.get("/audit/", params)
        assert response.status_code == 200
        return [r.seq for r in response.context["page"].object_list]

    signed_in = AuditRecord.objects.get(event_type="auth.login", subject="auditor")
    assert seqs(event_type="auth.login_failed") == [failed.seq]
    assert len(seqs(event_type="auth.*")) == 3  # and the auditor's own sign-in
    assert seqs(event_type="auth.*", subject="auditor") == [signed_in.seq]
    assert seqs(result="failure") == [failed.seq]
    assert seqs(source_ip="192.0.2.9") == [failed.seq]
    assert seqs(object="WAN") == [failed.seq]
    assert len(seqs(subject="anonym", event_type="test.event")) == 2
    today = timezone.localdate()
    assert len(seqs(start=today.isoformat(), end=today.isoformat(), event_type="auth.*")) == 3
    assert seqs(end=(today - dt.timedelta(days=1)).isoformat()) == []
    assert seqs(start=f"{today + dt.timedelta(days=1)}T00:00") == []


def test_pagination(auditor):
    _records(120)
    first = auditor.get("/audit/", {"event_type": "test.event"})
    assert len(first.context["page"].object_list) == 50
    assert first.context["page"].paginator.num_pages == 3
    third = auditor.get("/audit/", {"event_type": "test.event", "page": "3"})
    assert len(third.context["page"].object_list) == 20
    assert "page=2" in third.content.decode() and "event_type=test.event" in \
        third.content.decode()
    assert auditor.get("/audit/", {"page": "999999999999999999999"}).status_code == 200


@pytest.mark.parametrize("field", ["start", "end", "event_type", "subject", "object", "result",
                                   "source_ip", "page"])
def test_sql_injection_in_any_filter_finds_nothing_and_breaks_nothing(auditor, field):
    _records(3)
    total = AuditRecord.objects.count()
    for payload in INJECTIONS:
        params = {field: payload}
        if field == "page":
            params["event_type"] = "no.such.event"
        response = auditor.get("/audit/", params)
        assert response.status_code == 200, (field, payload)
        assert list(response.context["page"].object_list) == [], (field, payload)
    assert AuditRecord.objects.filter(event_type="test.event").count() == 3
    assert AuditRecord.objects.count() == total + len(INJECTIONS)  # the browses themselves
    assert chain.verify(write_anchor=False).ok


def test_bad_dates_get_a_message_not_an_error(auditor):
    for params in ({"start": "2024-13-45"}, {"end": "yesterday"},
                   {"start": "2024-06-02", "end": "2024-06-01"}, {"end": "9999-12-31"}):
        response = auditor.get("/audit/", params)
        assert response.status_code == 200, params
        html = response.content.decode()
        assert "筛选条件有误" in html and 'class="errorlist' in html, params
    response = auditor.get("/audit/export.csv", {"start": "2024-13-45"})
    assert response.status_code == 400 and "起始时间" in response.content.decode()


def test_csv_export_opens_in_excel_and_is_audited(auditor):
    _records(2)
    record("auth.login_failed", request=_request("192.0.2.9"), obj="=HYPERLINK(\"http://x\")",
           result="failure")
    response = auditor.get("/audit/export.csv", {"event_type": "auth.login_failed"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    body = b"".join(response.streaming_content)
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][:3] == ["序号", "时间", "事件类型"]
    assert len(rows) == 2
    assert rows[1][2] == "auth.login_failed" and rows[1][6] == "192.0.2.9"
    assert rows[1][5] == "'=HYPERLINK(\"http://x\")"  # no formula
    assert rows[1][7] == "失败"
    export = AuditRecord.objects.get(event_type="audit.export")
    assert export.subject == "auditor"
    assert export.detail["format"] == "csv" and export.detail["rows"] == 1
    assert export.detail["filters"] == {"event_type": "auth.login_failed"}


def test_jsonl_export_carries_verifiable_hashes(auditor):
    recs = _records(4)
    response = auditor.get("/audit/export.jsonl", {"event_type": "test.event"})
    assert response.status_code == 200
    lines = [json.loads(line) for line in
             b"".join(response.streaming_content).decode().splitlines()]
    assert [line["seq"] for line in lines] == [r.seq for r in reversed(recs)]
    assert all(archive.digest(line) == line["hash"] for line in lines)
    assert AuditRecord.objects.get(event_type="audit.export").detail["format"] == "jsonl"


def test_verify_page_shows_the_chain_status(auditor):
    records = _records(4)
    page = auditor.get("/audit/verify/")
    assert page.status_code == 200 and "完整" in page.content.decode()
    _forced("UPDATE audit_auditrecord SET object = 'x' WHERE id = %s", [records[1].pk])
    html = auditor.get("/audit/verify/").content.decode()
    assert "异常" in html and f"seq {records[1].seq}" in html
    assert AuditRecord.objects.filter(event_type="audit.verify", subject="auditor").count() == 2
