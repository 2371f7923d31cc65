"""Make the audit table append-only in the database itself.

UPDATE and DELETE are rejected unless the transaction has set `tutela.audit_retention` to
`on` (the retention job does, with SET LOCAL), and even then only DELETE passes. TRUNCATE is
rejected unless the database sets `tutela.audit_allow_truncate`, which only test databases do.
"""

from django.db import migrations

FORWARD = """
CREATE FUNCTION audit_reject_change() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('tutela.audit_retention', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'the audit log is append-only: % on audit_auditentry is rejected', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$ LANGUAGE plpgsql;

CREATE FUNCTION audit_reject_truncate() RETURNS trigger AS $$
BEGIN
    IF current_setting('tutela.audit_allow_truncate', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'the audit log is append-only: TRUNCATE on audit_auditentry is rejected'
        USING ERRCODE = 'insufficient_privilege';
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit_auditentry
    FOR EACH ROW EXECUTE FUNCTION audit_reject_change();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit_auditentry
    FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_truncate();
"""

BACKWARD = """
DROP TRIGGER audit_no_truncate ON audit_auditentry;
DROP TRIGGER audit_append_only ON audit_auditentry;
DROP FUNCTION audit_reject_truncate();
DROP FUNCTION audit_reject_change();
"""


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
