"""`tutela dr plan`: the site's disaster recovery plan, filled in from Tutela's own records.

What only people know (names, telephone numbers, where the private keys are kept) comes from
a small TOML contacts file; whatever it leaves out stays as a visible blank to fill in.
"""

import datetime as dt
import tomllib
from pathlib import Path
from typing import Any

from django.conf import settings

from tutela.ops import status
from tutela.ops.backup import backup_root, newest_complete
from tutela.ops.drill import drill_history, format_seconds
from tutela.ops.push import describe_target

BLANK = "**(to fill in)**"

ROLES = [
    ("incident lead", "declares the disaster, decides to restore, keeps the log of events"),
    ("local IT team", "prepares the server, runs the restore, checks the site"),
    ("key custodian", "brings a backup private key (age identity) from where it is kept"),
    ("central delivery team", "level 3 support during the recovery"),
    ("programme manager", "tells the users, plans re-entry of work done after the backup"),
]


class PlanProblem(Exception):
    pass


def read_contacts(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise PlanProblem(f"The contacts file {path} cannot be read: {e}") from None


def people_table(contacts: dict[str, Any]) -> list[str]:
    people = {str(p.get("role", "")).lower(): p for p in contacts.get("people", [])}
    lines = ["| role | does what | who | how to reach them |", "|---|---|---|---|"]
    for role, duty in ROLES:
        person = people.get(role, {})
        lines.append(
            f"| {role} | {duty} | {person.get('name') or BLANK} | "
            f"{person.get('contact') or BLANK} |"
        )
    return lines


def where_section(contacts: dict[str, Any]) -> list[str]:
    newest = newest_complete()
    summary = status.summary()
    target = settings.TUTELA_BACKUP_PUSH_TARGET
    offsite = summary["offsite_copy"]
    recipients = newest.manifest["encryption"]["recipients"] if newest and newest.manifest else []
    lines = [
        f"- Backups on this host: `{backup_root()}`",
        f"- Newest backup: {newest.id if newest else 'none yet'}",
        f"- Off-site copies: {describe_target(target) if target else BLANK}",
        f"- Newest off-site copy: {offsite['id'] or 'none recorded'}",
        "- Backups are encrypted with age to these public keys "
        f"(the private keys are never on this host): {', '.join(recipients) or BLANK}",
        f"- Where the private keys are kept: {contacts.get('keys_location') or BLANK}",
        f"- Documents: `{settings.MEDIA_ROOT}`; database: PostgreSQL "
        f"{newest.manifest['postgresql']['server_version'] if newest and newest.manifest else ''}",
    ]
    return lines


def objectives_section(contacts: dict[str, Any]) -> list[str]:
    drills = drill_history(5)
    rto, rpo = contacts.get("rto_hours"), contacts.get("rpo_hours")
    lines = [
        f"- Recovery time objective: {f'{rto} h' if rto else BLANK}",
        f"- Recovery point objective (data age): {f'{rpo} h' if rpo else BLANK}",
        "",
        "Measured by `tutela dr drill` (newest first):",
        "",
        "| drill | result | backup | recovery time | data age |",
        "|---|---|---|---|---|",
    ]
    for drill in drills:
        lines.append(
            f"| {drill['started_at']} | {'passed' if drill['ok'] else 'FAILED'} | "
            f"{drill['backup_id']} | {format_seconds(drill['recovery_seconds'])} | "
            f"{format_seconds(drill['data_age_seconds'])} |"
        )
    if not drills:
        lines.append("| none yet: run `tutela dr drill --identity FILE` | | | | |")
    return lines


STEPS = """1. The incident lead declares the disaster and starts a log of events (who, what, when).
2. The local IT team prepares a server: Ubuntu 24.04 LTS, PostgreSQL, Tutela of the same
   version as the backup or newer (`tutela backup list` on the backup copy shows it).
3. Copy the newest complete backup from the off-site copy into the new server's backup folder
   (`TUTELA_BACKUP_DIR`). Only folders with a `manifest.json` are complete.
4. `tutela backup verify ID` checks every file's SHA-256 against the manifest.
5. The key custodian brings a private key. On the server: `tutela restore ID --identity FILE`.
   It refuses a damaged backup, a wrong key or a non-empty target, migrates an older backup
   forward, and records the restore in the audit log. Remove the key from the server after.
6. Start Tutela; check `/health`, sign in, open a case.
7. Point the site's address (DNS, proxy) to the new server; tell the users through the
   programme manager what date the data is from, so work done since is entered again.
8. Run `tutela backup create` and `tutela backup push` at once, then enable the schedule
   (`tutela backup install-schedule`).
9. Within a week: a review of what happened and what to change in this plan."""


def render_plan(contacts: dict[str, Any]) -> str:
    today = dt.datetime.now(dt.UTC).date().isoformat()
    site, role = settings.TUTELA_SITE_NAME, settings.TUTELA_SITE_ROLE
    parts = [
        f"# Disaster recovery plan: {site} ({role})",
        "",
        f"Written by `tutela dr plan` on {today}. Write it again after every drill and every "
        "change of people, and keep a printed copy away from the server.",
        "",
        "## Who does what",
        "",
        *people_table(contacts),
        "",
        "## Where the backups and keys are",
        "",
        *where_section(contacts),
        "",
        "## Recovery time and data age",
        "",
        *objectives_section(contacts),
        "",
        "## Steps",
        "",
        STEPS,
        "",
    ]
    return "\n".join(parts)
