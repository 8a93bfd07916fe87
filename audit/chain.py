"""Verifying the hash chain of the audit trail, and the anchors kept outside the database.

The database computes every record's digest (`audit_record_digest`, migration 0003) when the
record is inserted; `verify()` recomputes the digests of all records and the links between
them in one SQL pass over `seq` order, and reports the FIRST problem:

- altered:     a record's fields no longer match its stored hash;
- missing:     a gap in `seq` (records deleted from the middle, or before the first one);
- broken_link: a record's `prev_hash` is not the stored hash of the record before it (a record
               was changed and re-hashed, or the link was rewritten);
- truncated:   the newest records are gone (the chain ends before the last anchor);
- anchor_mismatch: the record at an anchored position has another hash than was anchored
               (the chain was rewritten and re-hashed from there on);
- chain_replaced: the anchor file knows this database only under another chain id.

Deleting the newest records leaves a chain that is internally consistent, so the latest
(seq, hash) is written as an *anchor* to an append-only file outside the database
(settings.AUDIT_ANCHOR_FILE, default VAR_DIR/audit/anchors.log, also logged on the
"audit.anchor" logger for central log collection): by `record()` every
settings.AUDIT_ANCHOR_EVERY records (after commit) and by every successful `verify()`.
Make the file append-only for the service account (`chattr +a`) and ship the log off-host.

Cost: one index-ordered pass with a SHA-256 per record, no JIT (the LIMIT keeps the plan
cheap), stopping at the first problem: about 0.5-0.8 s per 100 000 records on the 2-core
development machine, so a full check of 1M records every ten minutes costs ~1% of one core.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connections, transaction

logger = logging.getLogger("audit.anchor")

ZERO_HASH = "0" * 64
TABLE = "audit_auditrecord"
DIGEST_OF_ROW = ("audit_record_digest(r.id, r.seq, r.prev_hash, r.occurred_at, r.event_type, "
                 "r.subject, r.subject_role, r.object, r.source_ip, r.result, r.detail)")

# Recompute every digest and link in seq order; stop at the first row that does not fit.
FIRST_PROBLEM_SQL = f"""
SELECT seq, id, occurred_at, prev_hash, hash, computed, prev_seq, prev_row_hash
FROM (
    SELECT r.seq, r.id, r.occurred_at, r.prev_hash, r.hash, {DIGEST_OF_ROW} AS computed,
           lag(r.seq) OVER w AS prev_seq, lag(r.hash) OVER w AS prev_row_hash
    FROM {TABLE} r
    WHERE r.seq >= %s
    WINDOW w AS (ORDER BY r.seq)
) t
WHERE computed IS DISTINCT FROM hash
   OR (prev_seq IS NOT NULL AND (seq <> prev_seq + 1 OR prev_hash IS DISTINCT FROM prev_row_hash))
ORDER BY seq
LIMIT 1
"""


@dataclass(frozen=True)
class Problem:
    kind: str
    seq: int | None
    message: str
    record_id: int | None = None
    occurred_at: str | None = None

    def __str__(self) -> str:
        return self.message


@dataclass
class VerificationResult:
    ok: bool
    checked: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    last_hash: str | None = None
    chain_id: str | None = None
    database: str | None = None
    anchor: dict[str, Any] | None = None
    anchor_queued: bool = False
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def problem(self) -> Problem | None:
        return self.problems[0] if self.problems else None

    @property
    def message(self) -> str:
        """The first problem in words ("" when intact)."""
        return self.problem.message if self.problem else ""

    def summary(self) -> str:
        if self.ok:
            if not self.checked:
                return "审计链完整：尚无记录 (audit chain intact: no records yet)"
            return (f"审计链完整 (audit chain intact): {self.checked} records, seq "
                    f"{self.first_seq}–{self.last_seq}, last hash {self.last_hash}, "
                    f"{self.elapsed_s:.2f} s")
        return f"审计链异常 (audit chain BROKEN): {self.problem}"

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["problem"] = asdict(self.problem) if self.problem else None
        return data


# --- anchors ----------------------------------------------------------------------------------

def anchor_path() -> Path:
    configured = getattr(settings, "AUDIT_ANCHOR_FILE", None)
    return Path(configured) if configured else Path(settings.VAR_DIR) / "audit" / "anchors.log"


def database_name(using: str = "default") -> str:
    return str(connections[using].settings_dict["NAME"])


def is_test_database(using: str = "default") -> bool:
    """A database the test runner created: its configured TEST name, or Django's default
    "test_" prefix (during a run NAME already holds the test database's name)."""
    settings_dict = connections[using].settings_dict
    name = settings_dict["NAME"]
    configured = (settings_dict.get("TEST") or {}).get("NAME")
    return name == configured or str(name).startswith("test_")


def chain_id(using: str = "default") -> str:
    with connections[using].cursor() as cur:
        cur.execute("SELECT chain_id::text FROM audit_chain")
        row = cur.fetchone()
    return row[0] if row else ""


def append_anchor(seq: int, hash_: str, *, source: str = "verify", using: str = "default",
                  path: Path | None = None, chain: str | None = None) -> dict[str, Any]:
    """Append one anchor line (O_APPEND, one write, fsync) and log it."""
    entry = {"at": dt.datetime.now(dt.UTC).isoformat(timespec="microseconds"),
             "db": database_name(using), "chain": chain or chain_id(using), "seq": seq,
             "hash": hash_, "source": source}
    target = path or anchor_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(entry, sort_keys=True) + "\n").encode()
    fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)
    logger.info("audit anchor %s", line.decode().strip())
    return entry


def _lines_reversed(path: Path, block: int = 65536) -> Iterator[bytes]:
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        pos = f.tell()
        rest = b""
        while pos > 0:
            step = min(block, pos)
            pos -= step
            f.seek(pos)
            chunk = f.read(step) + rest
            lines = chunk.split(b"\n")
            rest = lines.pop(0)
            for line in reversed(lines):
                if line.strip():
                    yield line
        if rest.strip():
            yield rest


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        entry = json.loads(line)
        int(entry["seq"])
        str(entry["hash"])
    except (ValueError, KeyError, TypeError):
        return None
    return entry if isinstance(entry, dict) else None


def read_anchors(db: str, chain: str, path: Path | None = None,
                 lookback: int = 1000) -> tuple[dict[str, Any] | None, list[str], int]:
    """The highest anchor of this chain near the end of the file (writers may interleave),
    the other chain ids known for this database (only searched when this chain has no
    anchor), and the number of unreadable lines seen."""
    target = path or anchor_path()
    if not target.exists():
        return None, [], 0
    best: dict[str, Any] | None = None
    others: set[str] = set()
    bad = 0
    since_found = 0
    for line in _lines_reversed(target):
        entry = _parse(line)
        if entry is None:
            bad += 1
            continue
        if best is not None:
            since_found += 1
            if since_found > lookback:
                break
        if entry.get("db") != db:
            continue
        if entry.get("chain") == chain:
            if best is None or int(entry["seq"]) > int(best["seq"]):
                best = entry
        elif best is None:
            others.add(str(entry.get("chain")))
    return best, ([] if best else sorted(others)), bad


def anchor_at(seq: int, db: str, chain: str, path: Path | None = None) -> dict[str, Any] | None:
    target = path or anchor_path()
    if not target.exists():
        return None
    for line in _lines_reversed(target):
        entry = _parse(line)
        if entry and entry.get("db") == db and entry.get("chain") == chain and \
                int(entry["seq"]) == seq:
            return entry
    return None


# --- verification -----------------------------------------------------------------------------

def _when(value: Any) -> str | None:
    return value.astimezone(dt.UTC).isoformat() if value is not None else None


def _chain_problem(row: tuple, cur: Any) -> Problem:
    seq, rid, at, prev_hash, stored, computed, prev_seq, prev_row_hash = row
    where = f"seq {seq} (id {rid}, {_when(at)})"
    if prev_seq is not None and seq != prev_seq + 1:
        first, last = prev_seq + 1, seq - 1
        span = f"seq {first}" if first == last else f"seq {first}–{last}"
        return Problem("missing", first,
                       f"缺失记录 (missing records): {span} ({last - first + 1} records) "
                       f"between seq {prev_seq} and {where}")
    if computed != stored:
        cur.execute(f"SELECT prev_hash FROM {TABLE} WHERE seq = %s", [seq + 1])
        nxt = cur.fetchone()
        if nxt is not None and nxt[0] != stored:
            what = ("its fields and its hash were both changed (the next record still links "
                    "to the original hash)")
        else:
            what = "its fields no longer match its hash (changed after it was written)"
        if prev_seq is not None and prev_hash != prev_row_hash:
            what += "; its prev_hash no longer matches the record before it either"
        return Problem("altered", seq,
                       f"记录被篡改 (altered record): {where}: {what}; stored hash {stored}, "
                       f"recomputed {computed}", rid, _when(at))
    return Problem("broken_link", seq,
                   f"链接断裂 (broken link): {where}: prev_hash {prev_hash} is not the stored "
                   f"hash {prev_row_hash} of seq {prev_seq} (one of the two was rewritten)",
                   rid, _when(at))


def verify(from_seq: int | None = None, *, write_anchor: bool = True, using: str = "default",
           anchor_file: Path | None = None) -> VerificationResult:
    """Check the chain from `from_seq` (default: the first record, which must be seq 1) to
    the newest record, then the newest record against the anchors. A successful check
    appends a new anchor when the chain has grown (after commit, so never for records that
    are rolled back)."""
    started = time.monotonic()
    conn = connections[using]
    db = database_name(using)
    result = VerificationResult(ok=True, database=db)
    with conn.cursor() as cur:
        cur.execute("SELECT chain_id::text FROM audit_chain")
        row = cur.fetchone()
        result.chain_id = chain = row[0] if row else ""
        start = max(1, from_seq or 1)
        cur.execute(f"SELECT min(seq), max(seq), count(*) FROM {TABLE} WHERE seq >= %s",
                    [start])
        lo, hi, count = cur.fetchone()
        result.first_seq, result.last_seq, result.checked = lo, hi, count
        problems: list[Problem] = []
        if count:
            cur.execute(f"SELECT hash FROM {TABLE} WHERE seq = %s", [hi])
            result.last_hash = cur.fetchone()[0]
            if lo > start:
                span = f"seq {start}" if lo - 1 == start else f"seq {start}–{lo - 1}"
                hint = "" if from_seq else (" (if archived old records were removed by the "
                                            "DBA, verify with --from-seq)")
                problems.append(Problem("missing", start,
                                        f"缺失记录 (missing records): {span} before the first "
                                        f"record seq {lo}{hint}"))
            cur.execute(f"SELECT id, occurred_at, prev_hash FROM {TABLE} WHERE seq = %s", [lo])
            first_id, first_at, first_prev = cur.fetchone()
            if lo == 1 and first_prev != ZERO_HASH:
                problems.append(Problem(
                    "broken_link", 1, f"链接断裂 (broken link): seq 1 (id {first_id}) must start "
                    f"the chain with a zero prev_hash, has {first_prev}", first_id,
                    _when(first_at)))
            elif lo > 1 and lo == start:
                known = anchor_at(lo - 1, db, chain, anchor_file)
                if known is None:
                    result.notes.append(f"seq {lo} is the starting point: its link to seq "
                                        f"{lo - 1} was not checked (no anchor for seq {lo - 1})")
                elif known["hash"] != first_prev:
                    problems.append(Problem(
                        "broken_link", lo, f"链接断裂 (broken link): seq {lo} (id {first_id}) "
                        f"links to {first_prev}, the anchor of seq {lo - 1} says "
                        f"{known['hash']}", first_id, _when(first_at)))
            cur.execute(FIRST_PROBLEM_SQL, [start])
            bad = cur.fetchone()
            if bad is not None:
                problems.append(_chain_problem(bad, cur))
        # The newest records against the anchors kept outside the database.
        anchor, other_chains, unreadable = read_anchors(db, chain, anchor_file)
        result.anchor = anchor
        if unreadable:
            result.notes.append(f"{unreadable} unreadable line(s) in the anchor file")
        if anchor is not None:
            a_seq = int(anchor["seq"])
            if hi is None or a_seq > hi:
                first_missing = (hi or start - 1) + 1
                problems.append(Problem(
                    "truncated", first_missing,
                    f"最新记录被删除 (newest records missing): the chain ends at seq {hi or 0} but "
                    f"seq {a_seq} was anchored at {anchor.get('at')} (hash {anchor['hash']}); "
                    f"seq {first_missing}–{a_seq} are gone"))
            elif a_seq >= (lo or start):
                cur.execute(f"SELECT id, hash, occurred_at FROM {TABLE} WHERE seq = %s",
                            [a_seq])
                hit = cur.fetchone()
                if hit is not None and hit[1] != anchor["hash"]:
                    problems.append(Problem(
                        "anchor_mismatch", a_seq,
                        f"与锚点不符 (anchor mismatch): seq {a_seq} (id {hit[0]}) has hash "
                        f"{hit[1]}, anchored at {anchor.get('at')} as {anchor['hash']}: the "
                        f"chain was rewritten at or before seq {a_seq}", hit[0], _when(hit[2])))
        elif other_chains and not is_test_database(using):
            problems.append(Problem(
                "chain_replaced", None,
                f"审计链被替换 (chain replaced): the anchor file knows database {db!r} only as "
                f"chain {', '.join(other_chains)}, this database's chain is {chain}. If the "
                f"database was deliberately recreated, move {anchor_file or anchor_path()} "
                f"aside and verify again."))
    problems.sort(key=lambda p: (p.seq is not None, p.seq or 0))
    result.problems = problems
    result.ok = not problems
    if result.ok and write_anchor and hi is not None and \
            (anchor is None or int(anchor["seq"]) < hi):
        transaction.on_commit(lambda: append_anchor(hi, result.last_hash, source="verify",
                                                    using=using, path=anchor_file, chain=chain),
                              using=using)
        result.anchor_queued = True
    result.elapsed_s = time.monotonic() - started
    return result
