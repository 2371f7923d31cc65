"""The operations page: backup status for staff."""

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from tutela.ops import status
from tutela.ops.backup import backup_root
from tutela.ops.drill import drill_history
from tutela.ops.manifest import list_backups
from tutela.web.decorators import signed_in


@require_GET
@signed_in
def backups(request: HttpRequest) -> HttpResponse:
    if not request.user.is_staff:
        raise PermissionDenied
    rows = []
    for backup in reversed(list_backups(backup_root())[-30:]):
        manifest = backup.manifest or {}
        rows.append(
            {
                "id": backup.id,
                "complete": backup.complete,
                "snapshot_at": manifest.get("snapshot_at", ""),
                "records": sum(manifest.get("counts", {}).get("records", {}).values()),
                "documents": manifest.get("documents", {}).get("count", 0),
                "megabytes": sum(f["size"] for f in manifest.get("files", [])) / 1e6,
                "verified": bool(backup.verified()),
            }
        )
    context = {"summary": status.summary(), "backups": rows, "drills": drill_history(5)}
    return render(request, "ops/backups.html", context)
