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
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks},
        status=200 if healthy else 503,
    )
