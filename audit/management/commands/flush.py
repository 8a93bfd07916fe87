"""`flush` that knows the audit trail is append-only.

Django's flush TRUNCATEs every table, and the database refuses to truncate the audit trail.
- On a test database (the one Django's test runner created: pytest-django and
  TransactionTestCase flush it between tests) the audit triggers are bypassed for the flush
  with `session_replication_role = replica` (superuser only, like disabling a trigger) and the
  chain gets a new id, so anchors of the flushed chain are not compared with the new one.
- On any other database flush is refused: audit records must be kept (AUDIT_RETENTION_DAYS);
  recreate the database instead if a development database really has to start over.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError
from django.core.management.commands import flush
from django.db import DEFAULT_DB_ALIAS, connections

from audit.chain import is_test_database
from layers.importers.writer import drop_all_partitions


class Command(flush.Command):
    def handle(self, **options: Any) -> None:
        alias = options.get("database") or DEFAULT_DB_ALIAS
        if not is_test_database(alias):
            raise CommandError(
                "不能清空数据库：审计记录只能追加 (refusing to flush "
                f"{connections[alias].settings_dict['NAME']!r}: the audit trail is "
                "append-only and must be kept; recreate a development database instead)")
        connection = connections[alias]
        with connection.cursor() as cur:
            cur.execute("SET session_replication_role = replica")
        # Every layer version goes, and with it its features' partition: TRUNCATE would
        # keep the emptied tables, and each flush would then truncate all of them again
        # (hundreds in a test run, each with six indexes to sync).
        drop_all_partitions(connection)
        try:
            super().handle(**options)
            with connection.cursor() as cur:
                cur.execute("UPDATE audit_chain SET chain_id = gen_random_uuid(), "
                            "created_at = clock_timestamp()")
        finally:
            with connection.cursor() as cur:
                cur.execute("SET session_replication_role = DEFAULT")
