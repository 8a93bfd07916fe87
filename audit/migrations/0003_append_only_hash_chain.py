"""Tamper evidence in the database itself.

- `audit_record_digest(...)`: the ONE definition of a record's canonical text and its
  SHA-256; used by the insert trigger and by verification (audit/chain.py). The offline
  archive verifier (audit/archive.py) mirrors it and a test keeps the two identical.
- BEFORE INSERT: under a transaction-scoped advisory lock, take the last record, set
  seq = last + 1, prev_hash = its hash, occurred_at = the database clock, hash = digest.
- BEFORE UPDATE / BEFORE DELETE (row) and BEFORE TRUNCATE (statement): refused.
- `audit_chain`: one row naming this chain (a random id), so anchors kept outside the
  database (var/audit/anchors.log) can tell this chain from another database's.
Existing rows (if any) are numbered and chained in id order first.
"""

from django.db import migrations, models

FUNCTIONS = r"""
CREATE OR REPLACE FUNCTION audit_ts_text(ts timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

-- Canonical text, version 1. Fixed-form fields are written as they are; free-text fields
-- as <length>:<text> (so no separator or escaping ambiguity); NULL as '-'. The detail's
-- canonical jsonb text comes last, as it is (everything after the last '|' the fields
-- before it account for), so it is rendered once per record.
CREATE OR REPLACE FUNCTION audit_record_canonical(
    p_id bigint, p_seq bigint, p_prev_hash text, p_occurred_at timestamptz,
    p_event_type text, p_subject text, p_subject_role text, p_object text,
    p_source_ip inet, p_result text, p_detail jsonb) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT 'nx-audit-v1'
        || '|' || coalesce(p_id::text, '-')
        || '|' || coalesce(p_seq::text, '-')
        || '|' || coalesce(p_prev_hash, '-')
        || '|' || coalesce(audit_ts_text(p_occurred_at), '-')
        || '|' || coalesce(length(p_event_type) || ':' || p_event_type, '-')
        || '|' || coalesce(length(p_subject) || ':' || p_subject, '-')
        || '|' || coalesce(length(p_subject_role) || ':' || p_subject_role, '-')
        || '|' || coalesce(length(p_object) || ':' || p_object, '-')
        || '|' || coalesce(length(host(p_source_ip)) || ':' || host(p_source_ip), '-')
        || '|' || coalesce(length(p_result) || ':' || p_result, '-')
        || '|' || coalesce(p_detail::text, '-')
$$;

CREATE OR REPLACE FUNCTION audit_record_digest(
    p_id bigint, p_seq bigint, p_prev_hash text, p_occurred_at timestamptz,
    p_event_type text, p_subject text, p_subject_role text, p_object text,
    p_source_ip inet, p_result text, p_detail jsonb) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT encode(sha256(convert_to(audit_record_canonical(
        p_id, p_seq, p_prev_hash, p_occurred_at, p_event_type, p_subject, p_subject_role,
        p_object, p_source_ip, p_result, p_detail), 'UTF8')), 'hex')
$$;

CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '审计记录只能追加，不能修改或删除 (audit trail is append-only: % on % refused)',
        TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              DETAIL = CASE WHEN TG_LEVEL = 'ROW'
                            THEN 'record ' || coalesce(to_jsonb(OLD) ->> 'seq', '?')
                            ELSE 'statement' END,
              HINT = 'Audit records are kept at least AUDIT_RETENTION_DAYS; export them '
                     'with manage.py archive_audit.';
END
$$;

CREATE OR REPLACE FUNCTION audit_record_chain() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    last_seq bigint;
    last_hash text;
BEGIN
    -- One writer at a time until commit: the next record must see this one.
    PERFORM pg_advisory_xact_lock(4113250001);
    SELECT r.seq, r.hash INTO last_seq, last_hash
        FROM audit_auditrecord r ORDER BY r.seq DESC LIMIT 1;
    IF last_seq IS NULL THEN
        last_seq := 0;
        last_hash := repeat('0', 64);
    END IF;
    NEW.seq := last_seq + 1;
    NEW.prev_hash := last_hash;
    NEW.occurred_at := clock_timestamp();
    NEW.detail := coalesce(NEW.detail, '{}'::jsonb);
    NEW.hash := audit_record_digest(
        NEW.id, NEW.seq, NEW.prev_hash, NEW.occurred_at, NEW.event_type, NEW.subject,
        NEW.subject_role, NEW.object, NEW.source_ip, NEW.result, NEW.detail);
    RETURN NEW;
END
$$;

CREATE TABLE audit_chain (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    chain_id uuid NOT NULL DEFAULT gen_random_uuid(),
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
INSERT INTO audit_chain DEFAULT VALUES;
"""

BACKFILL = r"""
DO $$
DECLARE
    r record;
    n bigint := 0;
    prev text := repeat('0', 64);
    h text;
BEGIN
    FOR r IN SELECT * FROM audit_auditrecord ORDER BY id LOOP
        n := n + 1;
        h := audit_record_digest(r.id, n, prev, r.occurred_at, r.event_type, r.subject,
                                 r.subject_role, r.object, r.source_ip, r.result, r.detail);
        UPDATE audit_auditrecord SET seq = n, prev_hash = prev, hash = h WHERE id = r.id;
        prev := h;
    END LOOP;
END
$$;
"""

TRIGGERS = r"""
CREATE TRIGGER audit_record_chain BEFORE INSERT ON audit_auditrecord
    FOR EACH ROW EXECUTE FUNCTION audit_record_chain();
CREATE TRIGGER audit_record_no_update BEFORE UPDATE ON audit_auditrecord
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_record_no_delete BEFORE DELETE ON audit_auditrecord
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_record_no_truncate BEFORE TRUNCATE ON audit_auditrecord
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_chain_no_update BEFORE UPDATE ON audit_chain
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_chain_no_delete BEFORE DELETE ON audit_chain
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_chain_no_truncate BEFORE TRUNCATE ON audit_chain
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
"""

DROP = r"""
DROP TRIGGER IF EXISTS audit_record_chain ON audit_auditrecord;
DROP TRIGGER IF EXISTS audit_record_no_update ON audit_auditrecord;
DROP TRIGGER IF EXISTS audit_record_no_delete ON audit_auditrecord;
DROP TRIGGER IF EXISTS audit_record_no_truncate ON audit_auditrecord;
DROP TABLE IF EXISTS audit_chain;
DROP FUNCTION IF EXISTS audit_record_chain();
DROP FUNCTION IF EXISTS audit_refuse_change();
DROP FUNCTION IF EXISTS audit_record_digest(bigint, bigint, text, timestamptz, text, text, text,
                                            text, inet, text, jsonb);
DROP FUNCTION IF EXISTS audit_record_canonical(bigint, bigint, text, timestamptz, text, text,
                                               text, text, inet, text, jsonb);
DROP FUNCTION IF EXISTS audit_ts_text(timestamptz);
"""


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0002_chain_fields'),
    ]

    operations = [
        migrations.RunSQL(FUNCTIONS + BACKFILL, reverse_sql=DROP),
        migrations.AlterField(
            model_name='auditrecord',
            name='seq',
            field=models.BigIntegerField(db_default=0, editable=False, unique=True, verbose_name='序号'),
        ),
        migrations.RunSQL(TRIGGERS, reverse_sql=migrations.RunSQL.noop),
    ]
