"""Archive export of the audit trail, and verification of an archive without the database.

An archive is a JSONL file, one record per line in seq order (a contiguous piece of the
chain), plus `<file>.manifest.json` (first/last seq, count, the prev_hash of the first
record, the last hash, the file's SHA-256). Every line carries the exact texts the database
digested (`occurred_at` in UTC ISO form, `source_ip`, `detail_text` = jsonb::text), so
`canonical()` below can recompute each hash anywhere. `canonical()` mirrors the SQL function
`audit_record_canonical` (migration 0003); tests/test_audit.py keeps the two identical.

Export never removes anything. Records stay in the database at least AUDIT_RETENTION_DAYS;
removing archived old records is a DBA operation outside the application, after which
`verify_audit --from-seq N` checks the remaining chain (its start against the anchors).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connections
from django.db.models import CharField, F, Func, QuerySet, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from audit.chain import ZERO_HASH, Problem, VerificationResult, chain_id, database_name

FORMAT = "nx-audit-archive-1"
LINE_FIELDS = ("seq", "id", "occurred_at", "event_type", "subject", "subject_role", "object",
               "source_ip", "result", "detail", "detail_text", "prev_hash", "hash")

EXPORT_SQL = """
SELECT seq, id, audit_ts_text(occurred_at), event_type, subject, subject_role, object,
       host(source_ip), result, detail::text, prev_hash, hash
FROM audit_auditrecord WHERE seq BETWEEN %s AND %s ORDER BY seq
"""


def canonical(rec: dict[str, Any]) -> str:
    """The canonical text of a record (mirror of SQL audit_record_canonical)."""

    def free(value: str | None) -> str:
        return "-" if value is None else f"{len(value)}:{value}"

    def fixed(value: Any) -> str:
        return "-" if value is None else str(value)

    return "|".join([
        "nx-audit-v1", fixed(rec["id"]), fixed(rec["seq"]), fixed(rec["prev_hash"]),
        fixed(rec["occurred_at"]), free(rec["event_type"]), free(rec["subject"]),
        free(rec["subject_role"]), free(rec["object"]), free(rec["source_ip"]),
        free(rec["result"]), fixed(rec["detail_text"])])


def digest(rec: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(rec).encode("utf-8")).hexdigest()


def line_of(row: Iterable[Any]) -> dict[str, Any]:
    """An archive line from (seq, id, ts_text, event_type, subject, subject_role, object,
    ip_text, result, detail_text, prev_hash, hash)."""
    seq, rid, ts, event, subject, role, obj, ip, result, detail_text, prev, hash_ = row
    return {"seq": seq, "id": rid, "occurred_at": ts, "event_type": event, "subject": subject,
            "subject_role": role, "object": obj, "source_ip": ip, "result": result,
            "detail": json.loads(detail_text), "detail_text": detail_text,
            "prev_hash": prev, "hash": hash_}


def with_canonical_texts(qs: QuerySet) -> QuerySet:
    """Annotate a queryset with the texts the digest uses (for exports from the pages)."""
    return qs.annotate(
        ts_text=Func(F("occurred_at"), function="audit_ts_text", output_field=CharField()),
        ip_text=Func(F("source_ip"), function="host", output_field=CharField()),
        detail_text=Cast("detail", TextField()))


def line_of_record(rec: Any) -> dict[str, Any]:
    return line_of((rec.seq, rec.id, rec.ts_text, rec.event_type, rec.subject,
                    rec.subject_role, rec.object, rec.ip_text, rec.result, rec.detail_text,
                    rec.prev_hash, rec.hash))


def dumps(line: dict[str, Any]) -> str:
    return json.dumps(line, ensure_ascii=False, separators=(",", ":"))


def manifest_path(path: Path) -> Path:
    return path.with_name(path.name + ".manifest.json")


def retention_cutoff() -> dt.datetime:
    return timezone.now() - dt.timedelta(days=settings.AUDIT_RETENTION_DAYS)


def export(before: dt.date, out: Path, *, from_seq: int | None = None,
           using: str = "default") -> dict[str, Any]:
    """Write the records older than `before` (local midnight) from `from_seq` (default: the
    first record) as an archive. The piece is contiguous: up to the last record whose time
    is before the cut."""
    cut = timezone.make_aware(dt.datetime.combine(before, dt.time()))
    conn = connections[using]
    with conn.cursor() as cur:
        cur.execute("SELECT min(seq) FROM audit_auditrecord WHERE seq >= %s", [from_seq or 1])
        first = cur.fetchone()[0]
        cur.execute("SELECT max(seq) FROM audit_auditrecord WHERE occurred_at < %s", [cut])
        last = cur.fetchone()[0]
        prev = ZERO_HASH
        if first is not None:
            cur.execute("SELECT prev_hash FROM audit_auditrecord WHERE seq = %s", [first])
            prev = cur.fetchone()[0]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    sha = hashlib.sha256()
    count, last_hash, last_seq, last_at = 0, None, None, None
    with open(tmp, "wb") as f:
        if first is not None and last is not None and last >= first:
            with conn.chunked_cursor() as cur:
                cur.execute(EXPORT_SQL, [first, last])
                while rows := cur.fetchmany(2000):
                    for row in rows:
                        data = (dumps(line_of(row)) + "\n").encode("utf-8")
                        sha.update(data)
                        f.write(data)
                        count += 1
                        last_seq, last_at, last_hash = row[0], row[2], row[11]
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, 0o640)
    os.replace(tmp, out)
    manifest = {
        "format": FORMAT, "database": database_name(using), "chain_id": chain_id(using),
        "created_at": timezone.now().astimezone(dt.UTC).isoformat(),
        "before": before.isoformat(), "file": out.name, "sha256": sha.hexdigest(),
        "count": count, "first_seq": first if count else None, "last_seq": last_seq,
        "first_prev_hash": prev if count else None, "last_hash": last_hash,
        "last_occurred_at": last_at, "retention_days": settings.AUDIT_RETENTION_DAYS,
        "note": "Export only: nothing was removed from the database. Records younger than "
                f"{settings.AUDIT_RETENTION_DAYS} days must stay in the database.",
    }
    manifest_path(out).write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n",
                                  encoding="utf-8")
    return manifest


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    with open(path, "rb") as f:
        yield from enumerate(f, start=1)


def _line_problem(number: int, rec: dict[str, Any], seq: int, prev_seq: int | None,
                  prev_hash: str | None) -> Problem | None:
    where = f"line {number}, seq {seq} (id {rec['id']}, {rec['occurred_at']})"
    if prev_seq is None and seq == 1 and rec["prev_hash"] != ZERO_HASH:
        return Problem("broken_link", seq, f"链接断裂 (broken link): {where}: seq 1 must have a "
                       "zero prev_hash", rec["id"], rec["occurred_at"])
    if prev_seq is not None and seq != prev_seq + 1:
        return Problem("missing", prev_seq + 1, f"缺失记录 (missing records): seq "
                       f"{prev_seq + 1}–{seq - 1} before {where}")
    recomputed = digest(rec)
    try:
        consistent = json.loads(rec["detail_text"]) == rec["detail"]
    except (ValueError, TypeError):
        consistent = False
    if recomputed != rec["hash"] or not consistent:
        what = ("detail differs from detail_text" if not consistent else
                f"its fields no longer match its hash (stored {rec['hash']}, recomputed "
                f"{recomputed})")
        return Problem("altered", seq, f"记录被篡改 (altered record): {where}: {what}",
                       rec["id"], rec["occurred_at"])
    if prev_hash is not None and rec["prev_hash"] != prev_hash:
        return Problem("broken_link", seq, f"链接断裂 (broken link): {where}: prev_hash "
                       f"{rec['prev_hash']} is not {prev_hash}", rec["id"], rec["occurred_at"])
    return None


def verify_archive(path: Path) -> VerificationResult:
    """Offline check of an archive: each line's hash recomputed, seq contiguous, each
    prev_hash the hash of the line before, and the file against its manifest."""
    result = VerificationResult(ok=True, database=None)
    problems: list[Problem] = []
    mpath = manifest_path(path)
    manifest: dict[str, Any] = {}
    if not mpath.exists():
        problems.append(Problem("manifest", None, f"清单缺失 (manifest missing): {mpath}"))
    else:
        try:
            manifest = json.loads(mpath.read_text(encoding="utf-8"))
        except ValueError as exc:
            problems.append(Problem("manifest", None, f"清单无法读取 (bad manifest): {exc}"))
    result.chain_id = manifest.get("chain_id")
    result.database = manifest.get("database")
    sha = hashlib.sha256()
    prev_seq: int | None = None
    prev_hash: str | None = manifest.get("first_prev_hash")
    count = 0
    found = False  # only the first problem in the records is reported
    for number, raw in _lines(path):
        sha.update(raw)
        count += 1
        try:
            rec = json.loads(raw)
            missing_fields = [k for k in LINE_FIELDS if k not in rec]
            if missing_fields:
                raise ValueError(f"fields missing: {', '.join(missing_fields)}")
            seq = int(rec["seq"])
        except (ValueError, TypeError) as exc:
            if not found:
                problems.append(Problem("unreadable", None, f"第 {number} 行无法读取 (line "
                                        f"{number} unreadable): {exc}"))
                found = True
            continue
        if result.first_seq is None:
            result.first_seq = seq
        if not found:
            problem = _line_problem(number, rec, seq, prev_seq, prev_hash)
            if problem is not None:
                problems.append(problem)
                found = True
        prev_seq, prev_hash = seq, rec["hash"]
        result.last_seq, result.last_hash = seq, rec["hash"]
    result.checked = count
    if manifest:
        if manifest.get("sha256") != sha.hexdigest():
            problems.append(Problem("manifest", None, "文件校验和不符 (file checksum differs "
                                    f"from the manifest): {sha.hexdigest()} vs "
                                    f"{manifest.get('sha256')}"))
        for key, actual in (("count", count), ("first_seq", result.first_seq),
                            ("last_seq", result.last_seq), ("last_hash", result.last_hash)):
            if manifest.get(key) != actual:
                problems.append(Problem("manifest", None, f"与清单不符 (differs from the "
                                        f"manifest): {key} is {actual}, manifest says "
                                        f"{manifest.get(key)}"))
    # Record-level problems first (they name the line), then file-level ones.
    problems.sort(key=lambda p: p.kind == "manifest")
    result.problems = problems
    result.ok = not problems
    return result
