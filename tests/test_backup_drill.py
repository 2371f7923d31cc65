"""`tutela dr drill` end to end: a real restore, a real web server on 127.0.0.1, a report."""

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from tests.backup_support import Keys, seed_site
from tutela.ops import pgtools, status
from tutela.ops.backup import Encryption, create_backup

pytestmark = pytest.mark.usefixtures("ops_settings")


def test_drill_end_to_end_writes_report(
    transactional_db: None,
    sample_config: None,
    caseworker: Any,
    colleague: Any,
    keys: Keys,
    settings: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seed_site(caseworker, colleague, cases=2)
    manifest = create_backup(Encryption([keys.public]))

    call_command("dr", "drill", "--identity", str(keys.identity))

    out = capsys.readouterr().out
    assert f"Drill passed with backup {manifest['id']}" in out
    history = Path(settings.TUTELA_DR_DIR) / "history"
    reports = sorted(history.glob("drill-*.json"))
    assert len(reports) == 1
    report = json.loads(reports[0].read_text())
    assert report["ok"] is True
    assert [check["name"] for check in report["checks"]] == [
        "restore",
        "health",
        "sign-in",
        "open a case",
    ]
    assert report["recovery_seconds"] > 0
    assert report["data_age_seconds"] >= 0
    assert "Recovery time:" in reports[0].with_suffix(".md").read_text()
    assert status.summary()["last_drill"]["ok"] is True

    # The scratch database and folder are gone.
    assert not pgtools.database_exists(pgtools.site_server(), report["scratch_database"])
    assert not any((Path(settings.TUTELA_DR_DIR) / "scratch").glob("*"))
