"""Verify the audit trail's hash chain (exit code 0 when intact, 1 otherwise)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from audit import archive, chain


class Command(BaseCommand):
    help = ("Recompute the audit chain in the database (or an archive file, offline) and "
            "report the first altered, missing or unlinked record. Exit code 0 = intact.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from-seq", type=int, default=None,
                            help="start at this seq (after archived old records were removed)")
        parser.add_argument("--archive", type=Path, default=None,
                            help="verify an archive file written by archive_audit instead")
        parser.add_argument("--no-anchor", action="store_true",
                            help="do not append the verified head to the anchor file")
        parser.add_argument("--json", action="store_true", help="print the result as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["archive"]:
            result = archive.verify_archive(options["archive"])
        else:
            result = chain.verify(options["from_seq"], write_anchor=not options["no_anchor"])
        if options["json"]:
            self.stdout.write(json.dumps(result.as_dict(), ensure_ascii=False, indent=2,
                                         default=str))
        else:
            style = self.style.SUCCESS if result.ok else self.style.ERROR
            self.stdout.write(style(result.summary()))
            for problem in result.problems[1:]:
                self.stdout.write(f"  also: {problem}")
            for note in result.notes:
                self.stdout.write(f"  note: {note}")
            if result.anchor and not options["archive"]:
                self.stdout.write(f"  last anchor: seq {result.anchor['seq']} at "
                                  f"{result.anchor.get('at')}")
        if not result.ok:
            raise SystemExit(1)
