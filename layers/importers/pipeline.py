"""The import pipeline's inner loop: validate and convert a batch chunk by chunk and COPY
the good rows, keeping what each chunk found for the report.

Shared by the import in one transaction (layers/services.py) and the staged import on
several processes (layers/importers/parallel.py), so both write and report alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.conf import settings

from layers.importers.attributes import AttributePlan, convert_attributes
from layers.importers.base import FeatureBatch, Problem
from layers.importers.validation import ValidatedGeometries, validate_geometries
from layers.importers.writer import PartitionCopy

Progress = Callable[[str, int, int], None]  # stage, advance by, stage total


@dataclass
class ChunkOutcome:
    """What one chunk contributed to the import report."""

    offset: int  # index of the chunk's first feature: outcomes sort into source order
    problems: list[Problem]
    repaired: int
    rejected: int


def chunk_starts(n: int) -> list[int]:
    return list(range(0, n, settings.IMPORT_CHUNK))


def prepared_chunks(batch: FeatureBatch, epsg: int, kind: str, plan: AttributePlan,
                    starts: Sequence[int]
                    ) -> Iterator[tuple[FeatureBatch, ValidatedGeometries, np.ndarray,
                                        dict[str, list], list[str], list[Problem]]]:
    """The chunks beginning at `starts`, validated and converted, one after the other."""
    for start in starts:
        chunk = batch.chunk(start, min(start + settings.IMPORT_CHUNK, len(batch)))
        checked = validate_geometries(chunk, epsg=epsg, kind=kind)
        rows = np.flatnonzero(checked.keep)
        typed, extras, problems = convert_attributes(chunk, rows, plan)
        yield chunk, checked, rows, typed, extras, problems


_DONE = object()


def prefetched(items: Iterator[Any]) -> Iterator[Any]:
    """Items of `items`, the next one computed in a worker thread while the caller uses this
    one: numpy, shapely, pyproj and geoarrow release the GIL, so validating a chunk runs on
    another core while the previous one is written."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-prefetch") as pool:
        pending = pool.submit(next, items, _DONE)
        while (item := pending.result()) is not _DONE:
            pending = pool.submit(next, items, _DONE)
            yield item


def copy_chunks(copy: PartitionCopy, batch: FeatureBatch, *, epsg: int, kind: str,
                plan: AttributePlan, starts: Sequence[int], allow_rejects: bool,
                failed: bool, progress: Progress | None = None,
                prefetch: bool = True) -> list[ChunkOutcome]:
    """Validate, convert and COPY the chunks at `starts`. Once an error is found (`failed`:
    one was found before) the rest is still validated, to report every problem at once,
    but no more rows are written unless rejects are allowed. `prefetch`: validate the next
    chunk in a thread meanwhile (not in import worker processes: they have a core each)."""
    outcomes = []
    chunks = prepared_chunks(batch, epsg, kind, plan, starts)
    for chunk, checked, rows, typed, extras, attr_problems in (
            prefetched(chunks) if prefetch else chunks):
        problems = checked.problems + attr_problems
        bad = {p.location for p in attr_problems if p.severity == "error"}
        rejected = len(chunk) - len(rows) + len(bad)
        if bad:
            good = np.array([chunk.location(int(i)) not in bad for i in rows])
            typed = {k: [v for v, g in zip(vals, good, strict=True) if g]
                     for k, vals in typed.items()}
            extras = [e for e, g in zip(extras, good, strict=True) if g]
            rows = rows[good]
        failed = failed or any(p.severity == "error" for p in problems)
        if not failed or allow_rejects:
            copy.write(feature_nos=chunk.offset + rows + 1,
                       ewkb_4490=checked.ewkb_4490[rows], ewkb_3857=checked.ewkb_3857[rows],
                       bbox_4490=checked.bbox_4490[rows], measure=checked.measure[rows],
                       typed=typed, extras=extras)
        outcomes.append(ChunkOutcome(chunk.offset, problems, checked.repaired, rejected))
        if progress:
            progress("import", len(chunk), len(batch))
    return outcomes
