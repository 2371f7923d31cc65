"""`/health`: whether this instance can serve, for load balancers and monitoring."""

import logging

from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse

logger = logging.getLogger(__name__)


def pending_migrations() -> list[str]:
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, _ in plan]


def backup_details() -> dict[str, object]:
    from tutela.ops.status import summary

    try:
        return summary()
    except (OSError, ValueError, KeyError, TypeError) as e:
        logger.warning("Health check: backup status unreadable: %s", type(e).__name__)
        return {"error": "unreadable"}


def health(request: HttpRequest) -> JsonResponse:
    """Return 200 when the database answers and every migration is applied, else 503."""
    checks: dict[str, object] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
        pending = pending_migrations()
        checks["migrations"] = "ok" if not pending else {"pending": pending}
    except DatabaseError as e:
        logger.warning("Health check: database unreachable: %s", type(e).__name__)
        checks["database"] = "unreachable"
        checks.setdefault("migrations", "unknown")

    healthy = checks["database"] == "ok" and checks["migrations"] == "ok"
    # Backups are reported for monitoring, but never make the instance unhealthy: a load
    # balancer must not take a serving site out because last night's backup failed.
    details = {"backups": backup_details()}
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks, "details": details},
        status=200 if healthy else 503,
    )
