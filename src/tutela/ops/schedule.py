"""`tutela backup install-schedule`: systemd units and a cron line, written to a folder.

They go to the folder the operator names. Copying them into /etc/systemd/system (or
/etc/cron.d) and enabling the timer is a separate step, described in docs/backups.md.
"""

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

SERVICE = "tutela-backup.service"
TIMER = "tutela-backup.timer"
CRON = "tutela-backup.cron"


class ScheduleProblem(Exception):
    pass


@dataclass
class Schedule:
    tutela: str  # absolute path of the tutela command
    user: str
    working_directory: str
    time: str  # HH:MM, local time of the host
    environment_file: str
    push: bool

    def steps(self) -> list[str]:
        steps = ["backup create"]
        if self.push:
            steps.append("backup push")
        steps.append("backup prune --execute")
        return [f"{shlex.quote(self.tutela)} {step}" for step in steps]


def parse_time(text: str) -> tuple[int, int]:
    found = re.fullmatch(r"(\d{1,2}):(\d{2})", text)
    if not found or int(found.group(1)) > 23 or int(found.group(2)) > 59:
        raise ScheduleProblem(f"{text!r} is not a time of day; write it as HH:MM, such as 02:30.")
    return int(found.group(1)), int(found.group(2))


def service_unit(schedule: Schedule) -> str:
    lines = [
        "[Unit]",
        "Description=Tutela backup: create, push off-site, prune",
        "Wants=network-online.target",
        "After=network-online.target postgresql.service",
        "",
        "[Service]",
        "Type=oneshot",
        f"User={schedule.user}",
        f"WorkingDirectory={schedule.working_directory}",
        f"EnvironmentFile=-{schedule.environment_file}",
        *(f"ExecStart={step}" for step in schedule.steps()),
        "Nice=10",
        "IOSchedulingClass=best-effort",
        "IOSchedulingPriority=7",
        "PrivateTmp=true",
        "NoNewPrivileges=true",
        "",
    ]
    return "\n".join(lines)


def timer_unit(schedule: Schedule) -> str:
    return daily_timer("Run the Tutela backup every day", schedule.time)


def daily_timer(description: str, time: str) -> str:
    """Return a systemd timer unit that starts its service every day at `time` (HH:MM)."""
    hour, minute = parse_time(time)
    return "\n".join(
        [
            "[Unit]",
            f"Description={description}",
            "",
            "[Timer]",
            f"OnCalendar=*-*-* {hour:02d}:{minute:02d}:00",
            "RandomizedDelaySec=10min",
            # A host that was off at the time runs the missed job when it starts.
            "Persistent=true",
            "",
            "[Install]",
            "WantedBy=timers.target",
            "",
        ]
    )


def cron_shell(working_directory: str, environment_file: str, command: str) -> str:
    """Return the shell line a cron entry runs: `command` in its folder, with its environment."""
    env = shlex.quote(environment_file)
    return (
        f"cd {shlex.quote(working_directory)} && "
        f"{{ [ ! -r {env} ] || {{ set -a; . {env}; set +a; }}; }} && {command}"
    )


def cron_line(schedule: Schedule) -> str:
    hour, minute = parse_time(schedule.time)
    command = " && ".join(schedule.steps())
    shell = cron_shell(schedule.working_directory, schedule.environment_file, command)
    return (
        "# Tutela backup (for /etc/cron.d); use this or the systemd timer, not both.\n"
        f"{minute} {hour} * * * {schedule.user} /bin/sh -c {shlex.quote(shell)}\n"
    )


def write_schedule(schedule: Schedule, folder: Path) -> list[Path]:
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
