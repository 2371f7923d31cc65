"""Managing access: `tutela access`, roles in configuration documents, synthetic users."""

import io
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from tests.conftest import signed_in_client
from tests.sample_configuration import sample
from tutela.access.models import Role, User, UserGroup
from tutela.access.synthetic import assign_synthetic_access
from tutela.audit.models import AuditEntry
from tutela.configuration.loading import dump_configuration, load_configuration
from tutela.configuration.schema import ConfigurationInvalid
from tutela.records import synthetic

pytestmark = pytest.mark.usefixtures("sample_config")


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("access", *args, stdout=out)
    return out.getvalue()


# The command


def test_set_role_gives_the_role(caseworker: User) -> None:
    text = run("set-role", "amina", "manager")
    caseworker.refresh_from_db()
    assert caseworker.role is not None
    assert caseworker.role.unique_id == "manager"
    assert "role:   manager" in text


def test_set_role_is_audited_as_command_line(caseworker: User) -> None:
    run("set-role", "amina", "manager")
    entry = AuditEntry.objects.filter(action="user.role_change").get()
    assert entry.actor == "command line"
    assert entry.details == {"old": "caseworker", "new": "manager"}


def test_set_role_as_manager_is_limited(caseworker: User, roles: dict[str, Role]) -> None:
    User.objects.create_user("maya", agency=caseworker.agency, role=roles["manager"])
    with pytest.raises(CommandError, match="may not grant the role 'administrator'"):
        run("set-role", "amina", "administrator", "--as", "maya")
    caseworker.refresh_from_db()
    assert caseworker.role == roles["caseworker"]


def test_set_role_unknown_role_rejected(caseworker: User) -> None:
    with pytest.raises(CommandError, match="No role has the unique_id 'chief'"):
        run("set-role", "amina", "chief")


def test_set_role_none_takes_it_away(caseworker: User) -> None:
    run("set-role", "amina", "none")
    caseworker.refresh_from_db()
    assert caseworker.role is None


def test_set_groups_replaces_them(caseworker: User) -> None:
    UserGroup.objects.create(unique_id="team-two", name={"en": "Two"})
    run("set-groups", "amina", "team-two")
    assert list(caseworker.user_groups.values_list("unique_id", flat=True)) == ["team-two"]


def test_set_groups_unknown_group_changes_nothing(caseworker: User) -> None:
    with pytest.raises(CommandError, match="team-nine"):
        run("set-groups", "amina", "team-nine")
    assert list(caseworker.user_groups.values_list("unique_id", flat=True)) == ["team-one"]


def test_unknown_user_rejected(db: None) -> None:
    with pytest.raises(CommandError, match="No user is named 'nobody'"):
        run("show", "nobody")


def test_roles_listed_with_mfa(roles: dict[str, Role]) -> None:
    text = run("roles")
    assert "administrator  scope=all  MFA required" in text
    assert "caseworker  scope=own  MFA optional" in text


# Synthetic users


def test_synthetic_users_get_roles_and_groups(db: None) -> None:
    caseworkers = synthetic.ensure_caseworkers(12)
    assert {u.role.unique_id for u in caseworkers if u.role} == {"caseworker"}
    assert UserGroup.objects.filter(unique_id__startswith="synthetic-team-").count() == 2
    manager = User.objects.get(username="synthetic-manager-001")
    members = set(
        User.objects.filter(user_groups__users=manager).values_list("username", flat=True)
    )
    assert "synthetic-caseworker-0010" in members
    assert "synthetic-caseworker-0011" not in members


def test_synthetic_access_runs_twice_alike(db: None) -> None:
    synthetic.ensure_caseworkers(3)
    first = assign_synthetic_access()
    second = assign_synthetic_access()
    assert first == second
    assert User.objects.filter(username="synthetic-administrator").count() == 1


# Roles in configuration documents


def document_with(roles: Any) -> dict[str, Any]:
    return {**sample(), "roles": roles}


def role(**values: Any) -> dict[str, Any]:
    return {"unique_id": "tester", "name": {"en": "Tester"}, **values}


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (role(permissions={"case": ["fly"]}), "'fly' in permissions['case'] is not an action"),
        (role(permissions={"spaceship": ["read"]}), "'spaceship' is not a resource"),
        (role(record_scope="world"), "is 'world'; use one of own, group, agency, all"),
        (role(form_sections={"protection": "maybe"}), "use write, read or hidden"),
        (role(grantable_roles=["nobody"]), "'nobody' is not a role of this document"),
    ],
)
def test_bad_role_rejected(bad: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationInvalid) as error:
        load_configuration(document_with([bad]))
    assert message in str(error.value)
    assert not Role.objects.filter(unique_id="tester").exists()


def test_roles_load_and_dump_round_trip(db: None) -> None:
    wanted = role(permissions={"case": ["read"]}, record_scope="group", grantable_roles=["tester"])
    load_configuration(document_with([wanted]))
    dumped = next(r for r in dump_configuration()["roles"] if r["unique_id"] == "tester")
    assert dumped["record_scope"] == "group"
    assert dumped["grantable_roles"] == ["tester"]
    assert dumped["mfa_required"] is False


def test_role_managing_users_requires_mfa_by_default(db: None) -> None:
    load_configuration(document_with([role(permissions={"user": ["read", "write"]})]))
    assert Role.objects.get(unique_id="tester").mfa_required


def test_role_left_out_of_a_document_is_disabled(roles: dict[str, Role]) -> None:
    load_configuration(document_with([role()]))
    assert Role.objects.get(unique_id="caseworker").disabled


# The users screens


def test_users_screen_lists_for_administrator(caseworker: User, administrator: User) -> None:
    response = signed_in_client(administrator).get("/users/")
    assert response.status_code == 200
    assert "amina" in response.content.decode()
    assert 'href="/users/new/"' in response.content.decode()


def test_users_screen_forbidden_to_caseworker(caseworker: User) -> None:
    assert signed_in_client(caseworker).get("/users/").status_code == 403


def test_manager_gives_grantable_role_on_screen(caseworker: User, roles: dict[str, Role]) -> None:
    maya = User.objects.create_user("maya", agency=caseworker.agency, role=roles["manager"])
    response = signed_in_client(maya).post(
        f"/users/{caseworker.pk}/access", {"role": "service_provider", "groups": ["team-one"]}
    )
    assert response.status_code == 302
    caseworker.refresh_from_db()
    assert caseworker.role == roles["service_provider"]


def test_manager_cannot_give_administrator_on_screen(
    caseworker: User, roles: dict[str, Role]
) -> None:
    maya = User.objects.create_user("maya", agency=caseworker.agency, role=roles["manager"])
    response = signed_in_client(maya).post(
        f"/users/{caseworker.pk}/access", {"role": "administrator", "groups": ["team-one"]}
    )
    assert "may not grant the role" in response.content.decode()
    caseworker.refresh_from_db()
    assert caseworker.role == roles["caseworker"]


def test_screen_changes_groups(caseworker: User, administrator: User) -> None:
    UserGroup.objects.create(unique_id="team-two", name={"en": "Two"})
    signed_in_client(administrator).post(
        f"/users/{caseworker.pk}/access", {"role": "caseworker", "groups": ["team-two"]}
    )
    assert list(caseworker.user_groups.values_list("unique_id", flat=True)) == ["team-two"]


# Creating without reading


def test_api_create_without_read_rejected(caseworker: User) -> None:
    # Without read, every section is hidden, so there is nothing the role may write.
    role = caseworker.role
    assert role is not None
    role.permissions = {**role.permissions, "case": ["create", "write"]}
    role.save()
    response = signed_in_client(caseworker).post(
        "/api/v1/records/case/", {"data": {"name_first": "Amal"}}, "application/json"
    )
    assert response.status_code == 403
    assert "name_first" in response.json()["error"]["message"]
