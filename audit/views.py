"""The audit administrator's pages: browse and filter the audit trail, export it (CSV for
Excel, JSONL with hashes), and check the chain. Each use is itself audited."""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

from django import forms
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone

from accounts.access import principal_of, requires
from accounts.roles import Role
from audit import archive, chain
from audit.models import AuditRecord
from audit.services import jsonable, record

PAGE_SIZE = 50
EXPORT_CHUNK = 2000
ROLE_LABELS = dict(Role.choices)
RESULT_LABELS = dict(AuditRecord.Result.choices)
# Offered as suggestions in the event-type field ("auth.*" selects a whole family).
KNOWN_EVENTS = (
    "auth.login", "auth.login_failed", "auth.logout", "auth.locked_out",
    "auth.password_changed", "auth.token_refused", "auth.rate_limited", "access.denied",
    "api.access", "request.write", "admin.add", "admin.change", "admin.delete",
    "accounts.created", "accounts.changed", "accounts.role_assigned", "tokens.issued",
    "tokens.revoked", "tokens.rotated", "policy.changed", "layers.import", "layers.publish",
    "layers.confidential_read", "audit.browse", "audit.export", "audit.verify",
)
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M",
                    "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"]
CSV_COLUMNS = ("序号", "时间", "事件类型", "主体", "主体角色", "客体", "来源地址", "结果", "详情",
               "摘要")


class AuditFilterForm(forms.Form):
    start = forms.DateTimeField(label="起始时间", required=False, input_formats=DATETIME_FORMATS,
                                widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    end = forms.DateTimeField(label="截止时间", required=False, input_formats=DATETIME_FORMATS,
                              widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    event_type = forms.CharField(label="事件类型", required=False, max_length=64,
                                 widget=forms.TextInput(attrs={"list": "audit-event-types",
                                                               "placeholder": "auth.*"}))
    subject = forms.CharField(label="主体", required=False, max_length=200)
    object = forms.CharField(label="客体（包含）", required=False, max_length=500)
    result = forms.ChoiceField(label="结果", required=False,
                               choices=[("", "全部")] + list(AuditRecord.Result.choices))
    source_ip = forms.GenericIPAddressField(label="来源地址", required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        end = data.get("end")
        raw_end = (self.data.get("end") or "").strip()
        if end is not None and len(raw_end) == 10:  # a date alone: the whole day
            try:
                data["end"] = end + dt.timedelta(days=1)
            except OverflowError:
                self.add_error("end", "日期超出范围 (date out of range)")
            data["end_exclusive"] = True
        start, end = data.get("start"), data.get("end")
        if start and end and (start >= end if data.get("end_exclusive") else start > end):
            self.add_error("end", "截止时间早于起始时间 (end before start)")
        return data


def filtered(form: AuditFilterForm) -> QuerySet:
    """Records matching a valid filter form (ORM only), newest first; none if invalid."""
    qs = AuditRecord.objects.all()
    if form.is_bound and not form.is_valid():
        return qs.none()
    data = form.cleaned_data if form.is_bound else {}
    if data.get("start"):
        qs = qs.filter(occurred_at__gte=data["start"])
    if data.get("end"):
        qs = qs.filter(**{"occurred_at__lt" if data.get("end_exclusive") else
                          "occurred_at__lte": data["end"]})
    if event := data.get("event_type", "").strip():
        qs = (qs.filter(event_type__startswith=event[:-1]) if event.endswith("*")
              else qs.filter(event_type=event))
    if subject := data.get("subject", "").strip():
        qs = qs.filter(subject__icontains=subject)
    if obj := data.get("object", "").strip():
        qs = qs.filter(object__icontains=obj)
    if data.get("result"):
        qs = qs.filter(result=data["result"])
    if data.get("source_ip"):
        qs = qs.filter(source_ip=data["source_ip"])
    return qs.order_by("-seq")


def _form(request: HttpRequest) -> AuditFilterForm:
    keys = set(AuditFilterForm.base_fields)
    return AuditFilterForm(request.GET if keys & set(request.GET) else None)


def _filters(request: HttpRequest) -> dict[str, str]:
    """The filters as asked (for the record of the browse or export itself)."""
    return {k: v[:200] for k, v in request.GET.items() if k in AuditFilterForm.base_fields}


def _query_without_page(request: HttpRequest) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


@requires("audit.read")
def record_list(request: HttpRequest) -> HttpResponse:
    form = _form(request)
    invalid = form.is_bound and not form.is_valid()
    record("audit.browse", request=request, obj=request.path,
           result="failure" if invalid else "success",
           detail={"filters": _filters(request), "page": request.GET.get("page", "1")[:20]})
    page = Paginator(filtered(form), PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [{"r": r, "role": ROLE_LABELS.get(r.subject_role, r.subject_role),
             "result": RESULT_LABELS.get(r.result, r.result),
             "detail": json.dumps(r.detail, ensure_ascii=False)} for r in page]
    return render(request, "audit/records.html", {
        "form": form, "invalid": invalid, "page": page, "rows": rows,
        "known_events": KNOWN_EVENTS, "query": _query_without_page(request),
        "can_export": principal_of(request).can("audit.export")})


class _Echo:
    def write(self, value: str) -> str:
        return value


def _cell(value: Any) -> str:
    """Text for a spreadsheet cell; leading = + - @ would start a formula in Excel."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv_rows(qs: QuerySet) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow(CSV_COLUMNS)
    for r in qs.iterator(chunk_size=EXPORT_CHUNK):
        yield writer.writerow([_cell(v) for v in (
            r.seq, timezone.localtime(r.occurred_at).isoformat(), r.event_type, r.subject,
            ROLE_LABELS.get(r.subject_role, r.subject_role), r.object, r.source_ip or "",
            RESULT_LABELS.get(r.result, r.result),
            json.dumps(jsonable(r.detail), ensure_ascii=False), r.hash)])


def _jsonl_rows(qs: QuerySet) -> Iterator[str]:
    for r in archive.with_canonical_texts(qs).iterator(chunk_size=EXPORT_CHUNK):
        yield archive.dumps(archive.line_of_record(r)) + "\n"


def _export(request: HttpRequest, fmt: str) -> HttpResponse:
    form = _form(request)
    if form.is_bound and not form.is_valid():
        record("audit.export", request=request, obj=request.path, result="failure",
               detail={"format": fmt, "filters": _filters(request),
                       "errors": form.errors.get_json_data()})
        errors = "; ".join(f"{form.fields[k].label if k in form.fields else k}: {' '.join(v)}"
                           for k, v in form.errors.items())
        return HttpResponse(f"筛选条件有误 (invalid filter): {errors}\n", status=400,
                            content_type="text/plain; charset=utf-8")
    qs = filtered(form)
    record("audit.export", request=request, obj=request.path,
           detail={"format": fmt, "filters": _filters(request), "rows": qs.count()})
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    if fmt == "csv":
        response = StreamingHttpResponse(_csv_rows(qs), content_type="text/csv; charset=utf-8")
    else:
        response = StreamingHttpResponse(_jsonl_rows(qs),
                                         content_type="application/x-ndjson; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.{fmt}"'
    response["Cache-Control"] = "no-store"
    return response


@requires("audit.export")
def export_csv(request: HttpRequest) -> HttpResponse:
    return _export(request, "csv")


@requires("audit.export")
def export_jsonl(request: HttpRequest) -> HttpResponse:
    return _export(request, "jsonl")


@requires("audit.read")
def verify(request: HttpRequest) -> HttpResponse:
    result = chain.verify()
    record("audit.verify", request=request, obj=request.path,
           detail={"ok": result.ok, "checked": result.checked, "last_seq": result.last_seq,
                   "problem": result.message[:500]})
    return render(request, "audit/verify.html", {"result": result})
