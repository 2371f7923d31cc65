"""The promotion subcommands of `tutela config`: snapshot, list, show, export, push, receive,
plan, approve, apply, rollback and history."""

import getpass
import json
import os
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, OutputWrapper

from tutela.access.models import User
from tutela.promotion import applying, bundles, plans, snapshots, transport
from tutela.promotion.findings import describe
from tutela.promotion.models import Event, Plan, Snapshot
from tutela.sites.actions import SiteError

ACTIONS = (
    "snapshot",
    "list",
    "show",
    "export",
    "push",
    "receive",
    "plan",
    "approve",
    "apply",
    "rollback",
    "history",
)


def add_commands(commands: Any) -> None:
    snapshot = commands.add_parser("snapshot", help="Snapshot and sign the configuration in force.")
    snapshot.add_argument("--label", default="", help="A short description of the change")
    snapshot.add_argument("--author", help="Who made it (default: the system user)")
    snapshot.add_argument(
        "--versions",
        metavar="MIN:BELOW",
        help="Tutela versions it fits, such as 0.1.0:0.2.0 (default: this version up to the "
        "next minor version)",
    )

    commands.add_parser("list", help="List the snapshots stored on this site, newest first.")

    show = commands.add_parser(
        "show", help="Print a snapshot's header and a summary of its content."
    )
    show.add_argument("id", help="Snapshot id or its first 6+ characters")

    export = commands.add_parser("export", help="Write a snapshot as a signed bundle file.")
    export.add_argument("id")
    export.add_argument("file", type=Path)

    push = commands.add_parser(
        "push", help="Send a snapshot to a production site over HTTPS (demo sites only)."
    )
    push.add_argument("id")
    push.add_argument("--to", required=True, metavar="URL", help="https://production-host[:port]")
    push.add_argument(
        "--token-file",
        type=Path,
        help="File with the promotion link's token (default: promotion_token in the secrets "
        "file, or PROMOTION_TOKEN_FILE)",
    )
    push.add_argument(
        "--ca-file",
        type=Path,
        help="PEM certificate authority that signed the server's "
        "certificate (default: the system's)",
    )

    receive = commands.add_parser(
        "receive", help="Receive a bundle file carried to this (air-gapped) site."
    )
    receive.add_argument("file", type=Path)

    plan = commands.add_parser(
        "plan", help="Dry run: every change and finding of applying a snapshot; changes nothing."
    )
    plan.add_argument("id", help="Snapshot id (or first 6+ characters)")
    plan.add_argument("--json", action="store_true", help="Print the plan as JSON")

    rollback = commands.add_parser(
        "rollback", help="Plan a return to an earlier snapshot (then approve and apply it)."
    )
    rollback.add_argument("id")

    approve = commands.add_parser("approve", help="Approve a plan with a comment.")
    approve.add_argument("plan", type=int)
    approve.add_argument("--user", required=True, help="The approving administrator's username")
    approve.add_argument("--comment", required=True)
    approve.add_argument(
        "--acknowledge",
        action="append",
        default=[],
        metavar="CODE",
        help="Acknowledge a warning code; repeat for each warning",
    )

    apply = commands.add_parser("apply", help="Apply an approved plan.")
    apply.add_argument("plan", type=int)
    apply.add_argument("--user", required=True, help="The administrator applying it")

    commands.add_parser("history", help="Print the promotion history of this site.")


def handle(
    action: str, options: dict[str, Any], stdout: OutputWrapper, stderr: OutputWrapper
) -> None:
    try:
        HANDLERS[action](options, stdout, stderr)
    except (snapshots.SnapshotNotFound, SiteError, applying.PlanRefused, transport.PushFailed) as e:
        raise CommandError(str(e), returncode=1) from None


def _snapshot(options: dict[str, Any], out: OutputWrapper, err: OutputWrapper) -> None:
    versions = None
    if options["versions"]:
        low, _, below = options["versions"].partition(":")
        try:
            snapshots.parse_version(low)
            snapshots.parse_version(below)
        except ValueError as e:
            raise CommandError(f"--versions {options['versions']!r}: {e}", returncode=2) from None
        versions = (low, below)
    author = options["author"] or getpass.getuser()
    snapshot, new = snapshots.create_snapshot(options["label"], author, versions=versions)
    if not new:
        err.write("The configuration equals an existing snapshot; nothing new was made.")
    out.write(snapshot.id)


def _list(options: dict[str, Any], out: OutputWrapper, err: OutputWrapper) -> None:
    for snapshot in Snapshot.objects.all():
        out.write(
            f"{snapshot.id[:12]}  {snapshot.stored_at:%Y-%m-%d %H:%M}  {snapshot.origin:9}  "
            f"{snapshot.author}  {snapshot.label}"
        )


def _show(options: dict[str, Any], out: OutputWrapper, err: OutputWrapper) -> None:
    snapshot = snapshots.find_snapshot(options["id"])
    header = snapshots.header_of(snapshot)
    content = json.loads(snapshot.content)
    document = content["configuration"]
    fields = sum(
        len(section["fields"])
        for record_type in document["record_types"]
        for section in record_type["form_sections"]
    )
    out.write(json.dumps(header, indent=2, ensure_ascii=False))
    out.write(
        f"signed: {'yes' if snapshot.signature else 'no'}; holds "
        f"{len(document['record_types'])} record types, {fields} fields, "
        f"{len(document['lookups'])} lookups, {len(document.get('roles', []))} roles, "
        f"{len(document.get('user_groups', []))} user groups, {len(content['locations'])} "
        f"locations, {len(content['agencies'])} agencies. Not carried: reports, system "
        "settings (not in Tutela yet)."
    )


def _export(options: dict[str, Any], out: OutputWrapper, err: OutputWrapper) -> None:
    snapshot = snapshots.find_snapshot(options["id"])
    options["file"].write_bytes(snapshots.bundle_bytes(snapshot))
    err.write(f"Wrote snapshot {snapshot.id[:12]} to {options['file']}.")


def _token(options: dict[str, Any]) -> str:
    from tutela.settings import load_secrets

    if options["token_file"]:
        return Path(options["token_file"]).read_text(encoding="utf-8").strip()
    if os.environ.get("PROMOTION_TOKEN_FILE"):
        return Path(os.environ["PROMOTION_TOKEN_FILE"]).read_text(encoding="utf-8").strip()
    token = load_secrets().get("promotion_token")
    if not token:
        raise CommandError(
            "No promotion token: pass --token-file or set promotion_token in the secrets file.",
            returncode=2,
        )
    return str(token)


def _push(options: dict[str, Any], out: OutputWrapper, err: OutputWrapper) -> None:
    snapshot = snapshots.find_snapshot(options["id"])
    result = transport.push_snapshot(
        snapshot,
        options["to"],
        _token(options),
        ca_file=options["ca_file"],
        actor=getpass.getuser(),
    )
    if result.status != 201:
        error = result.answer.get("error") or {}
        raise CommandError(
            f"The production site responded with HTTP {result.status}: {error.get('message', '')} "
            f"({(error.get('details') or {}).get('reason') or error.get('code', '')})",
            returncode=1,
        )
    out.write(
        f"Sent snapshot {snapshot.id[:12]}; production holds it as bundle "
        f"{result.answer.get('bundle')}, pending review."
    )


def _receive(options: dict[str, Any], out: OutputWrapper, err: OutputWrapper) -> None:
    path: Path = options["file"]
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise CommandError(f"Cannot read {path}: {e.strerror}", returncode=2) from None
    bundle = bundles.receive_bundle(raw, "file", actor=getpass.getuser())
    if bundle.status == "rejected":
        raise CommandError(
            f"Rejected ({bundle.reason_code}): {bundle.reason} Nothing was changed; "
            f"the rejection is recorded as bundle {bundle.pk}.",
            returncode=1,
        )
    out.write(
        f"Received snapshot {str(bundle.snapshot_id)[:12]} as bundle {bundle.pk}. "
        f"Next: tutela config plan {str(bundle.snapshot_id)[:12]}"
    )


def _plan(options: dict[str, Any], out: OutputWrapper, err: OutputWrapper) -> None:
    snapshot = snapshots.find_snapshot(options["id"])
    plan = plans.make_plan(snapshot, getpass.getuser())
    if options.get("json"):
        out.write(json.dumps(plan_as_dict(plan), indent=2, ensure_ascii=False))
        return
    write_plan(plan, out)


def plan_as_dict(plan: Plan) -> dict[str, Any]:
    return {
        "plan": plan.pk,
        "snapshot": plan.snapshot_id,
        "rollback": plan.is_rollback,
        "base": plan.base_id,
        "errors": plan.errors,
        "warnings": plan.warnings,
        "seconds": plan.seconds,
        "findings": plan.findings,
        "changes": plan.changes,
    }


def write_plan(plan: Plan, out: OutputWrapper) -> None:
    kind = "Rollback plan" if plan.is_rollback else "Plan"
    out.write(
        f"{kind} {plan.pk}: snapshot {plan.snapshot_id[:12]} over {plan.base_id[:12]}; "
        f"{len(plan.changes)} changes, {plan.errors} errors, {plan.warnings} warnings "
        f"(computed in {plan.seconds:.2f} s). Nothing was changed."
    )
    for found in plan.findings:
        out.write(f"  {found['severity'].upper():7} {found['code']}: {describe(found)}")
    for change in plan.changes:
        line = f"  {change['change']:7} {change['kind']} {change['id']}"
        for name, values in (change.get("properties") or {}).items():
            line += (
                f"\n            {name}: {json.dumps(values['old'], ensure_ascii=False)[:80]} -> "
                f"{json.dumps(values['new'], ensure_ascii=False)[:80]}"
            )
        out.write(line)
    warnings = sorted({f["code"] for f in plan.findings if f["severity"] == "warning"})
    if plan.errors:
        out.write("Errors block approval.")
    else:
        acknowledge = " ".join(f"--acknowledge {code}" for code in warnings)
        out.write(
            f"Approve: tutela config approve {plan.pk} --user USER --comment TEXT {acknowledge}"
        )


def _rollback(options: dict[str, Any], out: OutputWrapper, err: OutputWrapper) -> None:
    _plan({**options, "json": False}, out, err)


def _user(username: str) -> User:
    from tutela.configuration.permissions import can_manage_configuration

    user = User.objects.filter(username=username, is_active=True).first()
    if user is None or not can_manage_configuration(user):
        raise CommandError(
            f"{username!r} is not an active administrator who may manage the configuration.",
            returncode=2,
        )
    return user


def _find_plan(plan_id: int) -> Plan:
    plan = Plan.objects.select_related("snapshot").filter(pk=plan_id).first()
    if plan is None:
        raise CommandError(f"No plan {plan_id}; `tutela config history` lists them.", returncode=2)
    return plan


def _approve(options: dict[str, Any], out: OutputWrapper, err: OutputWrapper) -> None:
    plan = applying.approve_plan(
        _find_plan(options["plan"]),
        _user(options["user"]),
        options["comment"],
        options["acknowledge"],
    )
    out.write(f"Approved plan {plan.pk}. Next: tutela config apply {plan.pk} --user USER")


def _apply(options: dict[str, Any], out: OutputWrapper, err: OutputWrapper) -> None:
    plan = applying.apply_plan(_find_plan(options["plan"]), _user(options["user"]))
    out.write(
        f"Applied plan {plan.pk}: snapshot {plan.snapshot_id[:12]} is in force. "
        f"To undo: tutela config rollback {str(plan.before_snapshot_id)[:12]}"
    )


def _history(options: dict[str, Any], out: OutputWrapper, err: OutputWrapper) -> None:
    for event in Event.objects.select_related("bundle")[:200]:
        bundle = f"bundle {event.bundle_id}" if event.bundle_id else ""
        plan = f"plan {event.plan_id}" if event.plan_id else ""
        reason = event.bundle.reason_code if event.bundle and event.action == "rejected" else ""
        out.write(
            f"{event.at:%Y-%m-%d %H:%M:%S}  {event.action:11} {event.actor:20} "
            f"{event.snapshot_id[:12]:12} {bundle} {plan} {reason}".rstrip()
        )


HANDLERS = {
    "snapshot": _snapshot,
    "list": _list,
    "show": _show,
    "export": _export,
    "push": _push,
    "receive": _receive,
    "plan": _plan,
    "approve": _approve,
    "apply": _apply,
    "rollback": _rollback,
    "history": _history,
}
