"""Snapshots, bundle checks, plans with findings, approval, apply and rollback, in one process.

The two-site test over HTTPS and the SIGKILL test are in test_promotion_sites.py.
"""

import json
from io import StringIO
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import OperationalError, connection

from tests.conftest import admin_conninfo
from tests.promotion_support import (
    edited,
    encode,
    fields_of,
    fresh_site_cache,  # noqa: F401  (autouse)
    lookup_options,
    signed_bundle,
    signing_site,
)
from tutela.access.models import Role, User
from tutela.configuration.changes import Change, ConfigurationLocked, change_configuration
from tutela.configuration.models import Field
from tutela.promotion import applying, bundles, plans, snapshots
from tutela.promotion import content as snapshot_content
from tutela.promotion.models import Bundle, Event, Origin, Plan, Snapshot
from tutela.records import actions
from tutela.records.models import Record
from tutela.sites import actions as site_actions
from tutela.sites import keys
from tutela.sites.models import TrustedSigner


@pytest.fixture
def admin(agency: Any) -> Any:
    return User.objects.create_user(
        "ada", password="correct horse battery", is_staff=True, is_superuser=True, agency=agency
    )


@pytest.fixture
def trusted_key(db: None) -> tuple[str, str]:
    """A demo site's key pair, trusted by this (production) site: (private, key id)."""
    private_key, public_key = keys.generate()
    signer = site_actions.trust_signer("demo", public_key)
    return private_key, signer.key_id


def store_snapshot(content: dict[str, Any], **fields: Any) -> Snapshot:
    from django.utils import timezone

    from tutela.lib.canonical import canonical_json

    return Snapshot.objects.create(
        id=snapshot_content.content_id(content),
        author="designer",
        created_at=timezone.now(),
        site_name="demo",
        min_version=fields.get("min_version", "0.1.0"),
        below_version=fields.get("below_version", "0.2.0"),
        content=canonical_json(content).decode(),
        origin=Origin.RECEIVED,
        stored_at=timezone.now(),
    )


def codes(plan: Plan) -> dict[tuple[str, str], int | None]:
    return {(f["code"], f["item"]): f["count"] for f in plan.findings}


# Snapshots


def test_snapshot_id_is_content_hash(sample_config: None, tmp_path: Path, monkeypatch: Any) -> None:
    signing_site("demo", tmp_path, monkeypatch)
    snapshot, new = snapshots.create_snapshot("first", "designer")
    assert new
    assert snapshot.id == snapshot_content.current_id()


def test_snapshot_signature_verifies(sample_config: None, tmp_path: Path, monkeypatch: Any) -> None:
    public_key = signing_site("demo", tmp_path, monkeypatch)
    snapshot, _ = snapshots.create_snapshot("first", "designer")
    header = snapshots.header_of(snapshot)
    from tutela.lib.canonical import canonical_json

    assert keys.verify(public_key, snapshot.signature, canonical_json(header))


def test_same_configuration_same_snapshot(
    sample_config: None, tmp_path: Path, monkeypatch: Any
) -> None:
    signing_site("demo", tmp_path, monkeypatch)
    first, _ = snapshots.create_snapshot("first", "designer")
    second, new = snapshots.create_snapshot("again", "designer")
    assert not new
    assert second.id == first.id


def test_keygen_writes_private_key_only_to_secrets(
    db: None, tmp_path: Path, monkeypatch: Any
) -> None:
    signing_site("demo", tmp_path, monkeypatch)
    secrets_file = tmp_path / "demo-secrets.toml"
    assert secrets_file.stat().st_mode & 0o077 == 0
    assert "site_signing_key" in secrets_file.read_text()
    with pytest.raises(site_actions.SiteError, match="already has"):
        site_actions.keygen(secrets_file)


def test_export_command_writes_bundle(
    sample_config: None, tmp_path: Path, monkeypatch: Any
) -> None:
    signing_site("demo", tmp_path, monkeypatch)
    out = StringIO()
    call_command("config", "snapshot", "--label", "first", stdout=out, stderr=StringIO())
    snapshot_id = out.getvalue().strip()
    call_command("config", "export", snapshot_id[:8], str(tmp_path / "b.json"), stderr=StringIO())
    bundle = json.loads((tmp_path / "b.json").read_text())
    assert bundle["header"]["id"] == snapshot_id


def test_show_names_what_is_missing(sample_config: None, tmp_path: Path, monkeypatch: Any) -> None:
    signing_site("demo", tmp_path, monkeypatch)
    snapshot, _ = snapshots.create_snapshot("first", "designer")
    out = StringIO()
    call_command("config", "show", snapshot.id[:10], stdout=out)
    assert "Not carried: reports" in out.getvalue()


# Receiving bundles: every rejection is recorded with its reason and changes nothing.


def receive(raw: bytes) -> Bundle:
    return bundles.receive_bundle(raw, "file", actor="tester")


def test_valid_bundle_stored_pending(sample_config: None, trusted_key: tuple[str, str]) -> None:
    content = edited(
        lambda c: lookup_options(c, "lookup-risk").append(
            {"id": "medium", "label": {"en": "Medium"}}
        )
    )
    bundle = receive(encode(signed_bundle(content, *trusted_key)))
    assert bundle.status == "received"
    assert bundle.snapshot_id == snapshot_content.content_id(content)


REJECTIONS = {
    "tampered": "hash_mismatch",
    "truncated": "truncated",
    "unsigned": "unsigned",
    "wrong_key": "bad_signature",
    "unknown_signer": "unknown_signer",
    "version": "version_incompatible",
    "malformed": "malformed",
    "not_json": "malformed",
    "header_changed": "bad_signature",
    "bad_time": "malformed",
}


def make_bad_bundle(kind: str, content: dict[str, Any], trusted: tuple[str, str]) -> bytes:
    private_key, key_id = trusted
    if kind == "version":
        return encode(signed_bundle(content, private_key, key_id, versions=("9.0.0", "10.0.0")))
    bundle = signed_bundle(content, private_key, key_id)
    if kind == "tampered":
        lookup_options(bundle["content"], "lookup-risk")[0]["id"] = "lowest"
    elif kind == "unsigned":
        bundle["signature"] = None
    elif kind == "wrong_key":
        other, _ = keys.generate()
        bundle = signed_bundle(content, other, key_id)
    elif kind == "unknown_signer":
        other, other_public = keys.generate()
        bundle = signed_bundle(content, other, keys.key_id(other_public))
    elif kind == "header_changed":
        bundle["header"]["label"] = "something else"
    elif kind == "bad_time":
        bundle["header"]["created_at"] = "yesterday"
    raw = encode(bundle)
    if kind == "truncated":
        return raw[: len(raw) // 2]
    if kind == "malformed":
        return raw.replace(b'"header":', b'"header": x', 1)
    if kind == "not_json":
        return b"not json {"
    return raw


@pytest.mark.parametrize("kind", sorted(REJECTIONS))
def test_bad_bundle_rejected_with_reason(
    kind: str, sample_config: None, trusted_key: tuple[str, str]
) -> None:
    content = edited(
        lambda c: lookup_options(c, "lookup-risk").append(
            {"id": "medium", "label": {"en": "Medium"}}
        )
    )
    before = snapshot_content.current_id()
    bundle = receive(make_bad_bundle(kind, content, trusted_key))
    assert bundle.status == "rejected"
    assert bundle.reason_code == REJECTIONS[kind]
    assert bundle.reason
    assert snapshot_content.current_id() == before
    assert not Snapshot.objects.exists()
    assert Event.objects.filter(bundle=bundle, action="rejected").exists()


def test_receive_command_rejects_file(
    sample_config: None, trusted_key: tuple[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "bundle.json"
    path.write_bytes(make_bad_bundle("truncated", edited(lambda c: None), trusted_key))
    with pytest.raises(CommandError, match="truncated"):
        call_command("config", "receive", str(path))
    assert Bundle.objects.get().reason_code == "truncated"


def test_receive_command_not_json_is_malformed(sample_config: None, tmp_path: Path) -> None:
    path = tmp_path / "bundle.json"
    path.write_bytes(b"not json {")
    with pytest.raises(CommandError, match="malformed"):
        call_command("config", "receive", str(path))


# Plans


@pytest.fixture
def production_records(sample_config: None, caseworker: Any) -> list[Record]:
    """Three cases: two with legacy_note, one with the concern 'labour', one service row."""
    return [
        actions.create_record("case", {"name_first": "Amal", "legacy_note": "old"}, caseworker),
        actions.create_record(
            "case", {"name_first": "Badr", "legacy_note": "x", "concerns": ["labour"]}, caseworker
        ),
        actions.create_record(
            "case",
            {
                "name_first": "Chen",
                "services": [
                    {"unique_id": "r1", "service_type": "health", "service_date": "2025-01-02"}
                ],
            },
            caseworker,
        ),
    ]


def demo_change(content: dict[str, Any]) -> None:
    """Remove legacy_note and the option labour, retype urgent_action, add an option."""
    protection = fields_of(content, "protection")
    protection[:] = [f for f in protection if f["name"] != "legacy_note"]
    options = lookup_options(content, "lookup-concern")
    options[:] = [o for o in options if o["id"] != "labour"]
    lookup_options(content, "lookup-risk").append({"id": "medium", "label": {"en": "Medium"}})
    rows = fields_of(content, "service_row")
    rows[:] = [f for f in rows if f["name"] != "service_date"]
    for field in fields_of(content, "basic_identity"):
        if field["name"] == "name_first":
            field["label"] = {"en": "Given name"}


def test_plan_codes_and_counts(production_records: list[Record]) -> None:
    snapshot = store_snapshot(edited(demo_change))
    plan = plans.make_plan(snapshot, "tester")
    found = codes(plan)
    assert found[("field_removed_with_data", "case.legacy_note")] == 2
    assert found[("field_removed_with_data", "case.service_row.service_date")] == 1
    assert found[("option_removed_in_use", "case.concerns")] == 1
    assert plan.errors == 0


def test_plan_lists_property_changes(production_records: list[Record]) -> None:
    plan = plans.make_plan(store_snapshot(edited(demo_change)), "tester")
    changed = {(c["kind"], c["id"]): c for c in plan.changes}
    label = changed[("field", "case.name_first")]["properties"]["label"]
    assert label == {"old": {"en": "First name"}, "new": {"en": "Given name"}} or label["new"] == {
        "en": "Given name"
    }
    assert changed[("option", "lookup-risk:medium")]["change"] == "added"
    assert changed[("field", "case.legacy_note")]["change"] == "removed"


def test_plan_changes_nothing(production_records: list[Record]) -> None:
    before = snapshot_content.current_id()
    plans.make_plan(store_snapshot(edited(demo_change)), "tester")
    assert snapshot_content.current_id() == before


def test_incompatible_type_change_is_error(production_records: list[Record]) -> None:
    def retype(content: dict[str, Any]) -> None:
        for field in fields_of(content, "protection"):
            if field["name"] == "legacy_note":
                field["type"] = "number"

    plan = plans.make_plan(store_snapshot(edited(retype)), "tester")
    assert codes(plan)[("field_type_incompatible", "case.legacy_note")] == 2
    assert plan.errors == 1, plan.findings


def test_version_outside_range_is_error(production_records: list[Record]) -> None:
    snapshot = store_snapshot(edited(demo_change), min_version="5.0.0", below_version="6.0.0")
    plan = plans.make_plan(snapshot, "tester")
    assert ("version_outside_range", snapshot.id[:12]) in codes(plan)


def test_removed_calculation_input_is_error(production_records: list[Record]) -> None:
    def remove_input(content: dict[str, Any]) -> None:
        rows = fields_of(content, "service_row")
        rows[:] = [f for f in rows if f["name"] != "sessions_planned"]

    plan = plans.make_plan(store_snapshot(edited(remove_input)), "tester")
    assert [f["code"] for f in plan.findings if f["severity"] == "error"] == ["missing_reference"]


def test_missing_reference_is_error(production_records: list[Record]) -> None:
    def orphan(content: dict[str, Any]) -> None:
        content["locations"].append(
            {"unique_id": "XX01", "parent": "XX", "admin_level": 1, "name": {"en": "Lost"}}
        )

    plan = plans.make_plan(store_snapshot(edited(orphan)), "tester")
    assert ("missing_reference", "location XX01") in codes(plan)


def test_role_change_counts_active_users(production_records: list[Record], agency: Any) -> None:
    role = Role.objects.create(
        unique_id="field-worker",
        name={"en": "Field worker"},
        permissions={"case": ["read", "write"]},
        record_scope="agency",
    )
    for name in ("u1", "u2", "u3"):
        User.objects.create_user(name, role=role, agency=agency)
    User.objects.create_user("gone", role=role, agency=agency, is_active=False)

    def narrow(content: dict[str, Any]) -> None:
        for item in content["configuration"]["roles"]:
            if item["unique_id"] == "field-worker":
                item["permissions"] = {"case": ["read"]}

    plan = plans.make_plan(store_snapshot(edited(narrow)), "tester")
    assert codes(plan)[("role_access_removed", "field-worker")] == 3


# Approve, apply, roll back


def approve(plan: Plan, admin: Any) -> Plan:
    warnings = sorted({f["code"] for f in plan.findings if f["severity"] == "warning"})
    return applying.approve_plan(plan, admin, "reviewed with the team", warnings)


def test_approve_needs_acknowledgement(production_records: list[Record], admin: Any) -> None:
    plan = plans.make_plan(store_snapshot(edited(demo_change)), "tester")
    with pytest.raises(applying.PlanRefused, match="field_removed_with_data"):
        applying.approve_plan(plan, admin, "ok", [])


def test_errors_block_approval(production_records: list[Record], admin: Any) -> None:
    snapshot = store_snapshot(edited(demo_change), min_version="5.0.0", below_version="6.0.0")
    plan = plans.make_plan(snapshot, "tester")
    with pytest.raises(applying.PlanRefused, match="version_outside_range"):
        approve(plan, admin)


def test_apply_archives_and_keeps_data(production_records: list[Record], admin: Any) -> None:
    target = edited(demo_change)
    plan = approve(plans.make_plan(store_snapshot(target), "tester"), admin)
    applying.apply_plan(plan, admin)
    assert snapshot_content.current_id() == snapshot_content.content_id(target)
    assert Field.objects.get(unique_id="case.legacy_note").archived
    record = Record.objects.get(pk=production_records[0].pk)
    assert record.data["legacy_note"] == "old"
    assert Record.objects.get(pk=production_records[1].pk).data["concerns"] == ["labour"]


def test_rollback_restores_exact_hash(production_records: list[Record], admin: Any) -> None:
    original = snapshot_content.current_id()
    plan = approve(plans.make_plan(store_snapshot(edited(demo_change)), "tester"), admin)
    applying.apply_plan(plan, admin)
    plan.refresh_from_db()
    assert plan.before_snapshot_id == original

    rollback = plans.make_plan(Snapshot.objects.get(pk=original), "tester")
    assert rollback.is_rollback
    applying.apply_plan(approve(rollback, admin), admin)
    assert snapshot_content.current_id() == original
    assert not Field.objects.get(unique_id="case.legacy_note").archived
    assert Bundle.objects.filter(status="rolled_back").count() == 0  # no bundle: stored directly


def test_stale_plan_refused(production_records: list[Record], admin: Any) -> None:
    plan = approve(plans.make_plan(store_snapshot(edited(demo_change)), "tester"), admin)
    change_configuration(admin, lambda d: _relabel(d))
    with pytest.raises(applying.PlanRefused, match="plan again"):
        applying.apply_plan(plan, admin)


def _relabel(document: dict[str, Any]) -> Change:
    document["record_types"][0]["name"] = {"en": "Child case"}
    return Change("record_type", "case", "edit")


def test_drift_reported(production_records: list[Record], admin: Any) -> None:
    applying.apply_plan(
        approve(plans.make_plan(store_snapshot(edited(demo_change)), "tester"), admin), admin
    )
    change_configuration(admin, _relabel)
    plan = plans.make_plan(store_snapshot(edited(lambda c: None)), "tester")
    assert ("production_drift", plan.findings[0]["item"]) in codes(plan)
    assert plan.findings[0]["count"] == 1


def test_apply_writes_history_and_audit(production_records: list[Record], admin: Any) -> None:
    from tutela.audit.models import AuditEntry

    plan = approve(plans.make_plan(store_snapshot(edited(demo_change)), "tester"), admin)
    applying.apply_plan(plan, admin)
    assert Event.objects.filter(plan=plan, action="applied", actor="ada").exists()
    entry = AuditEntry.objects.get(action="promotion.apply")
    assert entry.details["approved_by"] == "ada"


def test_apply_keeps_sessions(production_records: list[Record], admin: Any, client: Any) -> None:
    client.force_login(admin)
    plan = approve(plans.make_plan(store_snapshot(edited(demo_change)), "tester"), admin)
    client.post(f"/promotion/plans/{plan.pk}/apply")
    plan.refresh_from_db()
    assert plan.status == "applied"
    assert client.get("/promotion/").status_code == 200


# Drift control


def test_drift_lock_rejects_screen_edits(sample_config: None, admin: Any) -> None:
    site_actions.init_site("production", "prod", "lock")
    with pytest.raises(ConfigurationLocked):
        change_configuration(admin, _relabel)


def test_drift_lock_rejects_cli_load(sample_config: None, tmp_path: Path) -> None:
    site_actions.init_site("production", "prod", "lock")
    path = tmp_path / "c.json"
    path.write_text(json.dumps(snapshot_content.current_content()["configuration"]))
    with pytest.raises(CommandError, match="locked"):
        call_command("config", "load", str(path))


def test_drift_lock_rejects_screen_post(sample_config: None, admin: Any, client: Any) -> None:
    site_actions.init_site("production", "prod", "lock")
    client.force_login(admin)
    response = client.post("/configuration/lookups/new", {"unique_id": "x", "name_en": "X"})
    assert response.status_code == 403


# Records during apply


@pytest.mark.django_db(transaction=True)
def test_record_save_waits_then_retry_later(sample_config: None, caseworker: Any) -> None:
    """A save during apply waits for the records table lock, then fails with a clear error."""
    record = actions.create_record("case", {"name_first": "Amal"}, caseworker)
    conninfo = {**admin_conninfo(), "dbname": connection.settings_dict["NAME"], "autocommit": False}
    with psycopg.connect(**conninfo) as other:
        other.execute("SET lock_timeout = '5s'")
        other.execute("LOCK TABLE records_record IN EXCLUSIVE MODE")
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '200ms'")
        with pytest.raises(OperationalError, match="lock timeout"):
            actions.update_record(record.pk, {"name_first": "Amel"}, None, base_version=1)
        assert Record.objects.filter(pk=record.pk).count() == 1  # reads keep working
        other.rollback()
    with connection.cursor() as cursor:
        cursor.execute("SET lock_timeout = '5s'")


# Site role


def test_production_refuses_seeding(db: None) -> None:
    site_actions.init_site("production", "prod")
    with pytest.raises(CommandError, match="production"):
        call_command("seed", "synthetic", "--cases", "1")


def test_site_role_never_changes(db: None) -> None:
    site_actions.init_site("demo", "demo")
    with pytest.raises(site_actions.SiteError, match="never changes"):
        site_actions.init_site("production", "demo")


def test_demo_banner_on_every_page(db: None, client: Any) -> None:
    site_actions.init_site("demo", "training")
    page = client.get("/sign-in/").content.decode()
    assert "Training site: do not enter real information." in page


def test_production_shows_role(db: None, client: Any) -> None:
    site_actions.init_site("production", "country")
    page = client.get("/sign-in/").content.decode()
    assert "Production site: country" in page
    assert "Training site" not in page


def test_wipe_refused_on_production(production_records: list[Record]) -> None:
    site_actions.init_site("production", "prod")
    with pytest.raises(CommandError, match="demo site only"):
        call_command("site", "wipe", "--execute")


def test_wipe_deletes_demo_records(production_records: list[Record]) -> None:
    site_actions.init_site("demo", "demo")
    call_command("site", "wipe", stdout=StringIO())
    assert Record.objects.count() == 3
    call_command("site", "wipe", "--execute", stdout=StringIO())
    assert Record.objects.count() == 0


def test_link_token_checked(db: None) -> None:
    _, public_key = keys.generate()
    signer = site_actions.trust_signer("demo", public_key)
    link, token = site_actions.create_link("demo-link", signer.key_id)
    assert site_actions.check_link_token(token) == link
    assert site_actions.check_link_token(token[:-1] + "x") is None
    site_actions.revoke_link("demo-link")
    assert site_actions.check_link_token(token) is None
    assert TrustedSigner.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_api_save_during_apply_gets_503(sample_config: None, caseworker: Any) -> None:
    """A record save through the API meets the apply's table lock and gets retry_later."""
    from rest_framework.test import APIClient

    record = actions.create_record("case", {"name_first": "Amal"}, caseworker)
    api = APIClient()
    api.force_authenticate(caseworker)
    options = connection.settings_dict["OPTIONS"]
    saved = options.get("options")
    options["options"] = "-c lock_timeout=200"
    connection.close()
    conninfo = {**admin_conninfo(), "dbname": connection.settings_dict["NAME"], "autocommit": False}
    try:
        with psycopg.connect(**conninfo) as other:
            other.execute("LOCK TABLE records_record IN EXCLUSIVE MODE")
            response = api.patch(
                f"/api/v1/records/case/{record.pk}",
                {"data": {"name_first": "Amel"}},
                format="json",
                HTTP_IF_MATCH='"1"',
            )
            other.rollback()
    finally:
        options["options"] = saved
        connection.close()
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "retry_later"
    assert response["Retry-After"] == "5"


def test_plan_screen_approves(production_records: list[Record], admin: Any, client: Any) -> None:
    client.force_login(admin)
    plan = plans.make_plan(store_snapshot(edited(demo_change)), "tester")
    page = client.get(f"/promotion/plans/{plan.pk}/").content.decode()
    assert "field_removed_with_data" in page
    assert "case.legacy_note" in page
    refused = client.post(f"/promotion/plans/{plan.pk}/approve", {"comment": "ok"})
    assert refused.status_code == 400
    approved = client.post(
        f"/promotion/plans/{plan.pk}/approve",
        {"comment": "ok", "acknowledge": ["field_removed_with_data", "option_removed_in_use"]},
    )
    assert approved.status_code == 302
    plan.refresh_from_db()
    assert plan.status == "approved"
    assert plan.approved_by == admin


def test_history_screen_lists_rejection(
    sample_config: None, trusted_key: tuple[str, str], admin: Any, client: Any
) -> None:
    receive(make_bad_bundle("unsigned", edited(lambda c: None), trusted_key))
    client.force_login(admin)
    page = client.get("/promotion/").content.decode()
    assert "unsigned" in page
    assert "Rejected" in page
    assert 'href="/promotion/" aria-current="page"' in page


def test_history_screen_needs_admin(db: None, caseworker: Any, client: Any) -> None:
    client.force_login(caseworker)
    assert client.get("/promotion/").status_code == 403


def test_promotions_endpoint_in_schema(db: None, client: Any) -> None:
    schema = client.get("/api/v1/schema", HTTP_ACCEPT="application/json").content.decode()
    assert "/api/v1/promotions" in schema


@pytest.mark.django_db(transaction=True)
def test_page_save_during_apply_gets_503(sample_config: None, caseworker: Any, client: Any) -> None:
    """A section saved on its page meets the apply's table lock and gets the retry page."""
    record = actions.create_record(
        "incident", {"incident_date": "2024-01-04", "description": "A fall"}, caseworker
    )
    client.force_login(caseworker)
    options = connection.settings_dict["OPTIONS"]
    saved = options.get("options")
    options["options"] = "-c lock_timeout=200"
    connection.close()
    conninfo = {**admin_conninfo(), "dbname": connection.settings_dict["NAME"], "autocommit": False}
    try:
        with psycopg.connect(**conninfo) as other:
            other.execute("LOCK TABLE records_record IN EXCLUSIVE MODE")
            response = client.post(
                f"/records/incident/{record.pk}/sections/incident_details/edit",
                {"version": "1", "f_incident_date": "2024-01-05", "f_description": "A fight"},
            )
            other.rollback()
    finally:
        options["options"] = saved
        connection.close()
    assert response.status_code == 503
    assert "nothing was saved" in response.content.decode()
    assert Record.objects.get(pk=record.pk).data["description"] == "A fall"
