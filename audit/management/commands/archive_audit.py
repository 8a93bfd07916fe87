"""Export audit records older than a date to a JSONL archive with a manifest.

Nothing is removed from the database: records are kept at least AUDIT_RETENTION_DAYS, and the
application never deletes audit records (the database refuses). The archive is for keeping
off-line (backup media, another site); `verify_audit --archive FILE` checks it anywhere.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit import archive, chain


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--before 应为 YYYY-MM-DD (not {value!r})") from None


class Command(BaseCommand):
    help = "Export audit records older than --before to --out (JSONL + manifest); removes nothing."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--before", required=True, help="YYYY-MM-DD (local date, exclusive)")
        parser.add_argument("--out", required=True, type=Path, help="archive file (.jsonl)")
        parser.add_argument("--from-seq", type=int, default=None,
                            help="first seq to export (default: the first record)")
        parser.add_argument("--force", action="store_true",
                            help="export even if the chain does not verify (for forensics)")

    def handle(self, *args: Any, **options: Any) -> None:
        before = _date(options["before"])
        check = chain.verify(options["from_seq"], write_anchor=False)
        if not check.ok:
            message = f"the audit chain does not verify: {check.problem}"
            if not options["force"]:
                raise CommandError(message + " (use --force to export it anyway)")
            self.stderr.write(self.style.WARNING(message))
        manifest = archive.export(before, options["out"], from_seq=options["from_seq"])
        if manifest["count"]:
            self.stdout.write(self.style.SUCCESS(
                f"{manifest['count']} records, seq {manifest['first_seq']}–"
                f"{manifest['last_seq']} → {options['out']} (sha256 {manifest['sha256']})"))
        else:
            self.stdout.write(f"no records before {before} → {options['out']} (empty)")
        self.stdout.write(f"manifest: {archive.manifest_path(options['out'])}")
        self.stdout.write(manifest["note"])
