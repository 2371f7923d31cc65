"""Wiping and reseeding the synthetic cases of a demo site."""

import logging
from dataclasses import dataclass

from django.core.files.storage import storages
from django.db import transaction

from tutela.attachments.models import Attachment
from tutela.audit.log import record_event
from tutela.records.models import Record, RecordHistory
from tutela.sites.actions import require_demo

logger = logging.getLogger(__name__)


@dataclass
class WipeSummary:
    records: int
    history_rows: int
    attachments: int


def count_demo_data() -> WipeSummary:
    return WipeSummary(
        records=Record.objects.count(),
        history_rows=RecordHistory.objects.count(),
        attachments=Attachment.objects.count(),
    )


def wipe_demo_data() -> WipeSummary:
    """Delete every record, its history and attachments, on a demo site only.

    A demo site is for training data only (its banner says so on every page). Users, agencies
    and the configuration stay, and the audit log keeps its entries.
    """
    require_demo("Wiping records")
    with transaction.atomic():
        summary = count_demo_data()
        stored = list(Attachment.objects.values_list("storage_name", "thumbnail_name"))
        Attachment.objects.all().delete()
        # NOTE: other apps' rows that point at records (referrals) go with the records through
        # their cascading foreign keys.
        RecordHistory.objects.all().delete()
        Record.objects.all().delete()
        record_event(
            "site.wipe_demo_data",
            object_type="site",
            details={
                "records": summary.records,
                "history_rows": summary.history_rows,
                "attachments": summary.attachments,
            },
            actor_name="tutela site wipe",
        )
    storage = storages["default"]
    for names in stored:
        for name in names:
            if name and storage.exists(name):
                storage.delete(name)
    logger.info("Wiped %d demo records", summary.records)
    return summary
