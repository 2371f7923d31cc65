"""Steps that run inside a restored database, in a child process whose DATABASE_URL names it.

The audit log and the migrations work on Django's default database, so a restore into another
database runs them here: `python -m tutela.ops.target` reads one JSON request on standard input
and writes one JSON response on standard output.

Actions:
- `check-chain`: recompute the audit chain; answer its length and first break;
- `finish`: check the chain, then (when it is whole) apply the migrations that this Tutela has
  and the backup lacks, and append the audit entry that records the restore; one process,
  because starting Django costs a second or more;
- `drill-user`: create a temporary staff user for a drill's sign-in, and name one case.
"""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

from tutela.ops.files import end_with_parent


class TargetStepFailed(Exception):
    pass


def run_step(database_url: str, request: dict[str, Any], media_root: Path | None = None) -> Any:
    """Run one action in a child process against `database_url`; return its response."""
    env = dict(os.environ)
    env.pop("DATABASE_URL_FILE", None)
    env["DATABASE_URL"] = database_url
    env["DJANGO_SETTINGS_MODULE"] = "tutela.settings"
    if media_root is not None:
        env["TUTELA_MEDIA_ROOT"] = str(media_root)
    result = subprocess.run(
        [sys.executable, "-m", "tutela.ops.target"],
        input=json.dumps(request).encode(),
        capture_output=True,
        env=env,
        check=False,
        preexec_fn=end_with_parent,
    )
    if result.returncode != 0:
        lines = result.stderr.decode(errors="replace").strip().splitlines()
        raise TargetStepFailed(
            f"The {request['action']} step in the restored database failed: "
            f"{lines[-1] if lines else 'no message'}"
        )
    return json.loads(result.stdout)


def check_chain() -> dict[str, Any]:
    from tutela.audit.log import chain_head, verify_chain

    result = verify_chain()
    broken = result.first_broken
    return {
        "checked": result.checked,
        "broken_at": broken.id if broken else None,
        "reason": result.reason,
        "head": chain_head(),
    }


def migrate() -> dict[str, Any]:
    from django.core.management import call_command
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        call_command("migrate", interactive=False, verbosity=0)
    return {"applied": [f"{m.app_label}.{m.name}" for m, _ in plan]}


def finish(request: dict[str, Any]) -> dict[str, Any]:
    chain = check_chain()
    if chain["broken_at"] is not None:
        return {"chain": chain}
    applied = migrate()["applied"]
    audit = audit_restore({**request, "migrations_applied": applied})
    return {"chain": chain, "applied": applied, "audit": audit}


def audit_restore(request: dict[str, Any]) -> dict[str, Any]:
    from tutela.audit.log import record_event

    entry = record_event(
        "backup.restore",
        object_type="backup",
        object_id=request["backup_id"],
        actor_name=request.get("actor", "")[:150],
        details={
            "snapshot_at": request["snapshot_at"],
            "backup_tutela_version": request["tutela_version"],
            "forced": bool(request.get("forced")),
            "migrations_applied": len(request.get("migrations_applied", [])),
        },
    )
    return {"entry_id": entry.id, "head": entry.hash}


def drill_user() -> dict[str, Any]:
    """Create a superuser with a random name and password for one drill; name one case.

    A superuser, because the drill reads a case of any owner and staff users without a role
    see no record; a role that requires MFA would stop the drill at enrolment.
    """
    from tutela.access.models import User
    from tutela.records.models import Record

    username = f"drill-{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(24)
    User.objects.create_user(username, password=password, is_staff=True, is_superuser=True)
    case = (
        Record.objects.filter(record_type__unique_id="case", disabled=False)
        .order_by("id")
        .values_list("id", "short_id")
        .first()
    )
    return {
        "username": username,
        "password": password,
        "case_id": str(case[0]) if case else None,
        "case_short_id": case[1] if case else None,
    }


def main() -> int:
    import django

    request = json.loads(sys.stdin.read())
    django.setup()
    action = request["action"]
    if action == "check-chain":
        answer = check_chain()
    elif action == "finish":
        answer = finish(request)
    elif action == "drill-user":
        answer = drill_user()
    else:
        sys.stderr.write(f"unknown action {action!r}\n")
        return 2
    sys.stdout.write(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
