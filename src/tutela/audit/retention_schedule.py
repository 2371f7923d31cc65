"""`tutela retention install-schedule`: a systemd service and timer and a cron line.

They run `tutela retention run --execute` once a day and go to the folder the operator names,
as the backup schedule does (docs/backups.md describes installing such files).
"""

import shlex
from dataclasses import dataclass
from pathlib import Path

from tutela.ops.schedule import cron_shell, daily_timer, parse_time

SERVICE = "tutela-retention.service"
TIMER = "tutela-retention.timer"
CRON = "tutela-retention.cron"


@dataclass
class RetentionSchedule:
    tutela: str  # absolute path of the tutela command
    user: str
    working_directory: str
    time: str  # HH:MM, local time of the host
    environment_file: str

    def command(self) -> str:
        return f"{shlex.quote(self.tutela)} retention run --execute"


def service_unit(schedule: RetentionSchedule) -> str:
    return "\n".join(
        [
            "[Unit]",
            "Description=Tutela retention: purge or anonymise closed records, trim the audit log",
            "After=network-online.target postgresql.service",
            "",
            "[Service]",
            "Type=oneshot",
            f"User={schedule.user}",
            f"WorkingDirectory={schedule.working_directory}",
            f"EnvironmentFile=-{schedule.environment_file}",
            f"ExecStart={schedule.command()}",
            "Nice=10",
            "PrivateTmp=true",
            "NoNewPrivileges=true",
            "",
        ]
    )


def timer_unit(schedule: RetentionSchedule) -> str:
    return daily_timer("Run the Tutela retention job every day", schedule.time)


def cron_line(schedule: RetentionSchedule) -> str:
    hour, minute = parse_time(schedule.time)
    shell = cron_shell(schedule.working_directory, schedule.environment_file, schedule.command())
    return (
        "# Tutela retention (for /etc/cron.d); use this or the systemd timer, not both.\n"
        f"{minute} {hour} * * * {schedule.user} /bin/sh -c {shlex.quote(shell)}\n"
    )


def write_retention_schedule(schedule: RetentionSchedule, folder: Path) -> list[Path]:
    parse_time(schedule.time)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in (
        (SERVICE, service_unit(schedule)),
        (TIMER, timer_unit(schedule)),
        (CRON, cron_line(schedule)),
    ):
        path = folder / name
        path.write_text(text)
        written.append(path)
    return written
