"""Large imports on every core: the staged partition (see layers/importers/writer.py).

The batch is read once; worker processes forked from the importing process share it
without copying, each validates and COPYs its own chunks over its own database session,
then the partition's indexes are built from parallel sessions. The caller creates the
version and attaches the partition in one transaction, so a version is still imported whole
or not at all; a failed import drops its staged table.

Only where forking is safe: a process with no other threads (the import command, a job
runner; not a threaded web worker) and no transaction open by the caller (tests' and
callers' transactions could not be seen by the workers).
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection, connections, transaction

from layers.importers.attributes import AttributePlan
from layers.importers.base import FeatureBatch
from layers.importers.pipeline import ChunkOutcome, Progress, chunk_starts, copy_chunks
from layers.importers.validation import warm_transformers
from layers.importers.writer import (
    STAGING_COMMIT,
    PartitionCopy,
    create_partition_table,
    drop_partition,
    partition_name,
    union_bounds,
)
from layers.models import LayerVersion

# Advisory-lock namespace of staged partitions ("NXST"): held by the importing session
# while its table is not attached yet, so a sweep never drops a table still being filled.
_LOCK_NAMESPACE = 0x4E585354


@dataclass
class StagedResult:
    outcomes: list[ChunkOutcome]
    count: int
    bounds: np.ndarray


def workers_for(n_features: int) -> int:
    """How many processes import `n_features` (1: in the caller's transaction)."""
    wanted = min(settings.IMPORT_WORKERS, os.cpu_count() or 1)
    if wanted < 2 or n_features < settings.IMPORT_PARALLEL_MIN_FEATURES:
        return 1
    if connection.in_atomic_block or threading.active_count() > 1:
        return 1
    return min(wanted, len(chunk_starts(n_features)))


def reserve_version_id() -> int:
    with connection.cursor() as cur:
        cur.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id'))",
                    [LayerVersion._meta.db_table])
        return int(cur.fetchone()[0])


@contextmanager
def staged_partition(version_id: int) -> Iterator[None]:
    """An empty partition table for `version_id`, committed, locked against sweeps while
    the block runs, and dropped if the block fails (or if it ends without the version
    having adopted it)."""
    guard = connection.get_new_connection(connection.get_connection_params())
    guard.autocommit = True
    try:
        guard.execute("SELECT pg_advisory_lock(%s, %s)", [_LOCK_NAMESPACE, version_id])
        sweep_orphan_partitions(guard)
        with transaction.atomic():
            with connection.cursor() as cur:
                cur.execute(STAGING_COMMIT)
            create_partition_table(version_id)
        try:
            yield
        finally:
            adopted = LayerVersion.objects.filter(pk=version_id).exists()
            if not adopted:
                drop_partition(version_id)
    finally:
        guard.close()


def sweep_orphan_partitions(session: Any) -> list[str]:
    """Drop staged tables that an import killed before its version existed left behind:
    named like a partition, not attached, no version row, and no session holding its
    lock."""
    prefix = partition_name(0)[:-1]
    rows = session.execute(
        r"""SELECT c.relname, substring(c.relname from '_v([0-9]+)$')::bigint
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = current_schema() AND c.relkind = 'r'
              AND NOT c.relispartition AND c.relname ~ ('^' || %s || '[0-9]+$')
              AND NOT EXISTS (SELECT 1 FROM layers_layerversion v
                              WHERE v.id = substring(c.relname from '_v([0-9]+)$')::bigint)""",
        [prefix]).fetchall()
    dropped = []
    for name, vid in rows:
        if session.execute("SELECT pg_try_advisory_lock(%s, %s)",
                           [_LOCK_NAMESPACE, vid]).fetchone()[0]:
            session.execute(f'DROP TABLE IF EXISTS "{name}"')
            session.execute("SELECT pg_advisory_unlock(%s, %s)", [_LOCK_NAMESPACE, vid])
            dropped.append(name)
    return dropped


def copy_in_workers(batch: FeatureBatch, *, version_id: int, workers: int, epsg: int,
                    kind: str, plan: AttributePlan, allow_rejects: bool, failed: bool,
                    progress: Progress | None) -> StagedResult:
    """Fill the staged partition from `workers` forked processes (without indexes: the
    caller builds them). Raises what a worker raised."""
    starts = chunk_starts(len(batch))
    shares = [starts[k::workers] for k in range(workers)]
    warm_transformers(epsg)
    # The children must open their own sessions: a forked copy of ours would be shared.
    connections.close_all()
    ctx = multiprocessing.get_context("fork")
    pipes, procs = [], []
    # The objects inherited from this process are left out of the workers' collections:
    # a collection would walk all of them (Django, the batch), and write to each one's
    # page, which then stops being shared (copy-on-write).
    gc.freeze()
    try:
        for share in shares:
            receive, send = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_work, args=(send, batch, share, version_id, epsg,
                                                   kind, plan, allow_rejects, failed),
                               daemon=True)
            proc.start()
            send.close()
            pipes.append(receive)
            procs.append(proc)
    finally:
        gc.unfreeze()
    outcomes: list[ChunkOutcome] = []
    count, bounds = 0, np.array([np.inf, np.inf, -np.inf, -np.inf])
    error: str | None = None
    try:
        open_pipes = list(pipes)
        while open_pipes:
            for pipe in wait(open_pipes):
                try:
                    message = pipe.recv()
                except EOFError:
                    open_pipes.remove(pipe)
                    continue
                kind_of = message[0]
                if kind_of == "progress" and progress:
                    progress("import", message[1], len(batch))
                elif kind_of == "done":
                    outcomes.extend(message[1])
                    count += message[2]
                    bounds = union_bounds(bounds, message[3])
                elif kind_of == "error":
                    error = error or message[1]
    finally:
        for proc in procs:
            proc.join()
    if error is None and any(p.exitcode != 0 for p in procs):
        error = f"import worker exited with {[p.exitcode for p in procs]}"
    if error is not None:
        raise RuntimeError(f"import worker failed: {error}")
    outcomes.sort(key=lambda o: o.offset)
    return StagedResult(outcomes, count, bounds)


def _work(pipe: Connection, batch: FeatureBatch, starts: list[int], version_id: int,
          epsg: int, kind: str, plan: AttributePlan, allow_rejects: bool,
          failed: bool) -> None:
    """A forked worker: its chunks, in one transaction of its own session."""
    def progress(_stage: str, advance: int, _total: int) -> None:
        pipe.send(("progress", advance))

    try:
        with transaction.atomic():
            with connection.cursor() as cur:
                cur.execute(STAGING_COMMIT)
            with PartitionCopy(version_id) as copy:
                outcomes = copy_chunks(copy, batch, epsg=epsg, kind=kind, plan=plan,
                                       starts=starts, allow_rejects=allow_rejects,
                                       failed=failed, progress=progress, prefetch=False)
        pipe.send(("done", outcomes, copy.count, copy.bounds))
    except BaseException as exc:  # noqa: BLE001 - reported to the importing process
        pipe.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
    finally:
        connection.close()
        pipe.close()
