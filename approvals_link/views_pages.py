"""The project detail page `/projects/{code}/` (the JSON twin is `/api/projects/{code}`).

Server-rendered from the same `api.project_detail` the API serves, so both show the same
thing with the same permissions: anonymous callers are sent to sign in, a project the caller
may not see is a 404 page (no existence leak). The map is the only scripted part; its data
come in a JSON <script type="application/json"> block (the site's CSP forbids inline
scripts and style attributes: bar positions are SVG attributes, not styles).

Language: Chinese by default; `?lang=en|zh`, else the site's language cookie (set by
/i18n/setlang/), like the blueprint page's `lang` parameter.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_safe

from accounts.access import principal_of
from approvals_link import api, selectors
from blueprint.views_page import MAX_ZOOM, layer_directory
from layers import landuse

LANGS = ("zh", "en")

LABELS: dict[str, dict[str, str]] = {
    "zh": {
        "title": "项目详情", "site": "内乡县一张蓝图", "basic": "基本信息", "timeline": "审批时间轴",
        "map": "红线图", "parcels": "涉及地块", "control_lines": "涉及控制线",
        "conformity": "合规性审查", "documents": "项目文件", "switch": "English",
        "project_code": "项目代码", "name": "项目名称", "construction_unit": "建设单位",
        "credit_code": "统一社会信用代码", "flow_type": "审批流程类型", "investment": "总投资额",
        "wan": "万元", "land_acquisition": "土地获取方式", "declared_area": "申报用地面积",
        "footprint_area": "红线面积", "location": "建设地点", "project_type": "建设项目类型",
        "inferred": "（由用地性质推定）", "applied_land_use": "申请用地性质",
        "proposed": "拟建指标", "far": "容积率", "density": "建筑密度", "green_ratio": "绿地率",
        "height": "建筑高度", "division": "行政区划", "stage": "阶段", "item": "审批事项",
        "department": "审批部门", "received": "收件", "accepted": "受理", "completed": "办结",
        "status": "状态", "working_days": "用时(工作日)", "limit": "承诺时限", "efficiency": "办理效率",
        "days": "天", "workdays": "个工作日", "calendar_days": "自然日", "not_started": "未开始",
        "in_progress": "办理中", "completed_state": "已完成", "paused": "暂停计时",
        "overdue": "超期", "approximate": "（含日历未覆盖年份，按周一至周五估算）",
        "no_events": "暂无审批记录", "paused_days": "暂停", "footprint_files": "红线文件",
        "file_no": "序号", "source": "来源文件", "format": "格式", "created_at": "时间",
        "current": "当前", "no_footprint": "该项目尚无红线", "layer": "图层",
        "parcel": "地块编号/名称", "land_use": "用地性质", "overlap": "重叠面积",
        "share": "占红线比例", "parcel_share": "占地块比例", "none": "无",
        "latest_check": "最近一次审查", "conclusion": "审查结论", "checked_at": "审查时间",
        "tolerance": "碎片容差", "layer_versions": "图层版本", "rule": "规则", "result": "结果",
        "area": "面积", "sliver": "容差内面积", "features": "涉及要素",
        "report_html": "查看审查报告", "report_pdf": "下载 PDF", "run_check": "发起合规性审查",
        "running": "审查中…", "run_failed": "发起审查失败：", "no_check": "尚未进行合规性审查",
        "restricted": "无权查看该图层的详情", "doc_title": "文件", "doc_kind": "类别",
        "doc_size": "大小", "uploaded_at": "上传时间", "download": "下载",
        "no_documents": "暂无文件", "documents_hidden": "无权查看项目文件",
        "blueprint": "在一张蓝图中查看", "api": "JSON", "loading": "加载中…",
        "not_found": "未找到项目", "not_found_text": "项目不存在，或您无权查看该项目。",
        "back": "返回首页", "total": "合计", "items": "事项", "colon": "：",
    },
    "en": {
        "title": "Project", "site": "Neixiang one blueprint", "basic": "Basic information",
        "timeline": "Approval timeline", "map": "Red line", "parcels": "Parcels touched",
        "control_lines": "Control lines touched", "conformity": "Plan conformity",
        "documents": "Documents", "switch": "中文", "project_code": "Project code",
        "name": "Project name", "construction_unit": "Construction unit",
        "credit_code": "Unified social credit code", "flow_type": "Approval flow type",
        "investment": "Total investment", "wan": "10k CNY",
        "land_acquisition": "Land acquisition", "declared_area": "Declared land area",
        "footprint_area": "Red-line area", "location": "Location",
        "project_type": "Project type", "inferred": " (from the applied land use)",
        "applied_land_use": "Applied land use", "proposed": "Proposed indicators",
        "far": "FAR", "density": "Building density", "green_ratio": "Green ratio",
        "height": "Height", "division": "Division", "stage": "Stage", "item": "Item",
        "department": "Department", "received": "Received", "accepted": "Accepted",
        "completed": "Completed", "status": "Status", "working_days": "Working days used",
        "limit": "Time limit", "efficiency": "Efficiency", "days": "days",
        "workdays": "working days", "calendar_days": "calendar days",
        "not_started": "not started", "in_progress": "in progress",
        "completed_state": "completed", "paused": "clock stopped", "overdue": "overdue",
        "approximate": " (includes years outside the holiday calendar: Mon–Fri assumed)",
        "no_events": "No approval records yet", "paused_days": "stopped",
        "footprint_files": "Boundary files", "file_no": "No.", "source": "Source file",
        "format": "Format", "created_at": "Time", "current": "current",
        "no_footprint": "The project has no red line yet", "layer": "Layer",
        "parcel": "Parcel", "land_use": "Land use", "overlap": "Overlap",
        "share": "Share of red line", "parcel_share": "Share of parcel", "none": "None",
        "latest_check": "Latest check", "conclusion": "Conclusion", "checked_at": "Checked at",
        "tolerance": "Sliver tolerance", "layer_versions": "Layer versions", "rule": "Rule",
        "result": "Result", "area": "Area", "sliver": "Within tolerance",
        "features": "Features", "report_html": "Open the report", "report_pdf": "PDF",
        "run_check": "Run a conformity check", "running": "Checking…",
        "run_failed": "Could not run the check: ", "no_check": "Not checked yet",
        "restricted": "details of this layer are not visible to you", "doc_title": "Document",
        "doc_kind": "Kind", "doc_size": "Size", "uploaded_at": "Uploaded",
        "download": "Download", "no_documents": "No documents",
        "documents_hidden": "You may not read the project's documents",
        "blueprint": "Open in the blueprint map", "api": "JSON", "loading": "Loading…",
        "not_found": "No such project",
        "not_found_text": "The project does not exist, or you may not see it.",
        "back": "Home", "total": "Total", "items": "items", "colon": ": ",
    },
}
# English names of the codes whose Chinese names come from the models' choices.
EN_NAMES = {
    "conclusion": {"conforms": "conforms", "conflicts": "conflicts"},
    "status": {"pass": "pass", "fail": "fail", "not_applicable": "not applicable"},
    "section": {"three_lines": "Three control lines", "control_lines": "Other control lines",
                "special_plans": "Special plans", "indicators": "Regulatory indicators"},
    "kind": {"must_not_occupy": "must not occupy", "must_lie_inside": "must lie inside",
             "land_use": "land-use compatibility", "setback": "setback",
             "indicators": "plan indicators"},
    "flow_type": {"1": "Government-invested building", "2": "Government-invested linear works",
                  "3": "Social investment", "4": "Small social investment", "10": "Other"},
    "land_acquisition": {"1": "Allocation", "2": "Transfer by agreement",
                         "3": "Tender, auction or listing", "4": "Lease",
                         "5": "Capital contribution", "6": "Existing land", "9": "Other"},
    "project_type": {"residential": "Residential", "public_service": "Public services",
                     "commercial": "Commercial", "industrial": "Industrial",
                     "warehouse": "Warehousing", "transport": "Transport",
                     "utility": "Utilities", "green": "Green space and squares",
                     "other": "Other"},
    "doc_kind": {"approval": "Approval document", "boundary": "Boundary file",
                 "application": "Application papers", "report": "Review report",
                 "other": "Other"},
}


def page_language(request: HttpRequest) -> str:
    lang = (request.GET.get("lang") or "").strip().lower()
    if lang in LANGS:
        return lang
    cookie = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")
    return "en" if cookie.lower().startswith("en") else "zh"


def _short(iso: str | None) -> str:
    """'2025-09-30T09:00:00+08:00' → '2025-09-30 09:00' (already local time)."""
    return iso[:16].replace("T", " ") if iso else ""


def _parse(iso: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(iso) if iso else None


def timeline_view(timeline: dict[str, Any], lang: str) -> dict[str, Any]:
    """Bar positions (percent of the project's whole span) and display strings."""
    today_end = timezone.localtime().replace(hour=23, minute=59, second=0, microsecond=0)
    spans = []
    for stage in timeline["stages"]:
        start = _parse(stage["started_at"])
        if start is not None:
            spans.append((start, _parse(stage["ended_at"]) or today_end))
    first = min((a for a, _ in spans), default=None)
    last = max((b for _, b in spans), default=None)
    total = (last - first).total_seconds() if first and last else 0
    en = lang == "en"
    stages = []
    for stage in timeline["stages"]:
        start, end = _parse(stage["started_at"]), _parse(stage["ended_at"])
        bar = None
        if start is not None and first is not None:
            stop = end or today_end
            x = (start - first).total_seconds() / total * 100 if total else 0.0
            w = max((stop - start).total_seconds() / total * 100 if total else 100.0, 0.8)
            bar = {"x": round(min(x, 99.2), 2), "width": round(min(w, 100 - min(x, 99.2)), 2)}
        items = []
        for item in stage["items"]:
            items.append({**item, "received": _short(item["received_at"]),
                          "accepted": _short(item["accepted_at"]),
                          "completed": _short(item["completed_at"]),
                          "status_label": item["status_name_en"] if en else item["status_name"],
                          "efficiency_label": item["efficiency_name_en"] if en
                          else item["efficiency_name"]})
        stages.append({**stage, "label": stage["name_en"] if en else stage["name"],
                       "bar": bar, "started": _short(stage["started_at"]),
                       "ended": _short(stage["ended_at"]), "items": items})
    return {**timeline, "stages": stages,
            "has_items": any(s["items"] for s in timeline["stages"])}


def _english(detail: dict[str, Any]) -> None:
    """Swap code names to English in place (the Chinese ones come from model choices)."""
    for key in ("flow_type", "land_acquisition", "project_type"):
        detail[f"{key}_name"] = EN_NAMES[key].get(detail[key], detail[f"{key}_name"])
    if detail["applied_land_use_name_en"]:
        detail["applied_land_use_name"] = detail["applied_land_use_name_en"]
    for row in detail["parcels"] + detail["control_lines"]:
        row["layer_name"] = row["layer_name_en"] or row["layer_name"]
        if row["land_use_code"]:
            row["land_use_name"] = landuse.land_use_name(row["land_use_code"], "en") \
                or row["land_use_name"]
    check = detail["conformity"]
    if check:
        check["conclusion_name"] = EN_NAMES["conclusion"].get(check["conclusion"], "")
        for section in check["sections"]:
            section["name"] = EN_NAMES["section"].get(section["section"], section["name"])
        for r in check["results"]:
            r["status_name"] = EN_NAMES["status"].get(r["status"], r["status"])
            r["kind_name"] = EN_NAMES["kind"].get(r["kind"], r["kind"])
    for doc in detail["documents"] or []:
        doc["kind_name"] = EN_NAMES["doc_kind"].get(doc["kind"], doc["kind_name"])


def _sections_with_results(check: dict[str, Any] | None) -> list[dict[str, Any]]:
    if not check:
        return []
    by_id = {r["id"]: r for r in check["results"]}
    return [{**s, "results": [by_id[i] for i in s["result_ids"]]} for s in check["sections"]]


@require_safe
def project_page(request: HttpRequest, project_code: str) -> HttpResponse:
    lang = page_language(request)
    labels = LABELS[lang]
    html_lang = "en" if lang == "en" else "zh-CN"
    principal = principal_of(request)
    if principal.user is None:
        # Nobody signed in: the sign-in page (for any code alike, so nothing leaks).
        return redirect_to_login(request.get_full_path())
    project = selectors.get_visible_project(request, project_code)
    if project is None:
        return render(request, "approvals_link/project_not_found.html",
                      {"labels": labels, "lang": lang, "html_lang": html_lang,
                       "project_code": project_code[:40]}, status=404)
    detail = api.project_detail(request, project)
    if lang == "en":
        _english(detail)
    for row in detail["parcels"] + detail["control_lines"]:  # shares as percentages
        row["share_pct"] = row["share"] * 100
        row["parcel_share_pct"] = None if row["parcel_share"] is None \
            else row["parcel_share"] * 100
    check = detail["conformity"]
    config = {
        "lang": lang, "project_code": project.project_code,
        "footprint": detail["footprint"]["geometry"] if detail["footprint"] else None,
        "conflicts": check["conflicts"] if check else None,
        "directory": layer_directory(request), "county": list(settings.COUNTY_BBOX),
        "max_zoom": MAX_ZOOM,
        "urls": {"run_check": detail["links"]["run_check"], "api": f"/api/projects/"
                 f"{project.project_code}"},
        "labels": {k: labels[k] for k in ("running", "run_failed", "run_check", "map")},
    }
    context = {
        "p": detail, "labels": labels, "lang": lang, "html_lang": html_lang,
        "other_lang": "zh" if lang == "en" else "en", "config": config,
        "timeline": timeline_view(detail["timeline"], lang),
        "sections": _sections_with_results(check), "check": check,
        "layer_versions": sorted((check or {}).get("layer_versions", {}).items()),
    }
    return render(request, "approvals_link/project_detail.html", context)
