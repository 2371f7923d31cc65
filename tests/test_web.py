"""The caseworker's pages through Django's test client: access, lists, viewing, editing."""

import re
import uuid
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from tutela.access.models import Agency, User
from tutela.audit.models import AuditEntry
from tutela.records import actions
from tutela.records.models import Record

pytestmark = pytest.mark.usefixtures("sample_config")

# A fixed id: pytest-xdist workers must collect the same test names.
SOME_CASE = uuid.UUID("0b9a3c55-6f0e-4a53-9d43-3f1f4c7e2a10")


@pytest.fixture
def outsider(db: None) -> User:
    """Omar, a caseworker of another agency."""
    other = Agency.objects.create(unique_id="agency-two", name={"en": "Agency Two"})
    return User.objects.create_user("omar", password="correct horse battery", agency=other)


@pytest.fixture
def administrator(db: None) -> User:
    return User.objects.create_user(
        "ada", password="correct horse battery", is_staff=True, is_superuser=True
    )


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def new_case(user: User, **values: Any) -> Record:
    return actions.create_record("case", {"name_first": "Amal", **values}, user)


def edit_url(record: Record, section: str) -> str:
    return reverse("web:section_edit", args=[record.pk, section])


def text_of(response: Any) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


# Access


@pytest.mark.parametrize(
    "url",
    [
        "/",
        "/cases/",
        "/cases/new",
        f"/cases/{SOME_CASE}/",
        f"/cases/{SOME_CASE}/history",
        f"/cases/{SOME_CASE}/sections/basic_identity/edit",
    ],
)
def test_anonymous_visitor_is_sent_to_sign_in(url: str) -> None:
    response = Client().get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/sign-in/?next=")


def test_sign_in_page_renders() -> None:
    response = Client().get("/sign-in/")
    assert response.status_code == 200
    assert 'name="login"' in response.content.decode()


def test_sign_in_with_password_goes_home(caseworker: User) -> None:
    response = Client().post("/sign-in/", {"login": "amina", "password": "correct horse battery"})
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_sign_out_needs_post(caseworker: User) -> None:
    assert signed_in(caseworker).get("/sign-out/").status_code == 405


def test_one_time_password_forces_a_change_first(caseworker: User) -> None:
    caseworker.must_change_password = True
    caseworker.save()
    response = signed_in(caseworker).get("/cases/")
    assert response.status_code == 302
    assert response["Location"] == "/password/"


def test_password_change_clears_the_flag(caseworker: User) -> None:
    caseworker.must_change_password = True
    caseworker.save()
    client = Client()
    client.post("/sign-in/", {"login": "amina", "password": "correct horse battery"})
    response = client.post(
        "/password/",
        {
            "old_password": "correct horse battery",
            "new_password1": "a quite different secret",
            "new_password2": "a quite different secret",
        },
    )
    assert response.status_code == 302
    caseworker.refresh_from_db()
    assert not caseworker.must_change_password
    entry = AuditEntry.objects.get(action="auth.password_change")
    assert (entry.actor_id, entry.object_id) == (caseworker.pk, str(caseworker.pk))
    assert "different secret" not in str(entry.details)


def test_case_of_another_agency_is_not_found(caseworker: User, outsider: User) -> None:
    record = new_case(caseworker)
    assert signed_in(outsider).get(f"/cases/{record.pk}/").status_code == 404


def test_colleagues_case_is_not_found(caseworker: User, colleague: User) -> None:
    # A caseworker's role has record scope "own": a colleague's case is as absent as none.
    record = new_case(caseworker)
    assert signed_in(colleague).get(f"/cases/{record.pk}/").status_code == 404


# Home and case list


def test_home_counts_my_open_cases(caseworker: User, colleague: User) -> None:
    new_case(caseworker)
    new_case(caseworker)
    new_case(colleague)
    response = signed_in(caseworker).get("/")
    assert response.context["my_open_cases"] == 2


def test_case_list_shows_my_cases_with_option_labels(caseworker: User, colleague: User) -> None:
    mine = new_case(caseworker, sex="female")
    theirs = new_case(colleague, name_first="Zeynep")
    response = signed_in(caseworker).get("/cases/")
    text = text_of(response)
    assert mine.short_id in text
    assert theirs.short_id not in text
    assert "Female" in text


def test_case_list_all_shows_the_scope(caseworker: User, administrator: User) -> None:
    theirs = new_case(caseworker, name_first="Zeynep")
    response = signed_in(administrator).get("/cases/?scope=all")
    assert theirs.short_id in text_of(response)


def test_case_list_filters_by_status(caseworker: User) -> None:
    record = new_case(caseworker)
    actions.set_status(record.pk, actions.Status.CLOSED, caseworker, base_version=1)
    assert record.short_id not in text_of(signed_in(caseworker).get("/cases/"))
    assert record.short_id in text_of(signed_in(caseworker).get("/cases/?status=closed"))


def test_case_list_query_count(caseworker: User, django_assert_max_num_queries: Any) -> None:
    for number in range(30):
        new_case(caseworker, name_last=f"Family{number}", location_current="UT0101")
    client = signed_in(caseworker)
    client.get("/cases/")  # warm the form definition cache
    # One more than before roles: the user's role (the referral lookup replaced the agency's).
    with django_assert_max_num_queries(9):
        response = client.get("/cases/")
    assert len(response.context["listing"].rows) == 25


def test_case_list_pages_with_a_cursor(caseworker: User) -> None:
    for _ in range(27):
        new_case(caseworker)
    client = signed_in(caseworker)
    first = client.get("/cases/")
    cursor = first.context["listing"].next_cursor
    second = client.get(f"/cases/?status=open&scope=mine&cursor={cursor}")
    assert len(second.context["listing"].rows) == 2


def test_more_cases_by_htmx_returns_rows_only(caseworker: User) -> None:
    for _ in range(27):
        new_case(caseworker)
    client = signed_in(caseworker)
    cursor = client.get("/cases/").context["listing"].next_cursor
    response = client.get(f"/cases/?cursor={cursor}", headers={"HX-Request": "true"})
    assert "<html" not in response.content.decode()


def test_search_text_stays_out_of_the_address(caseworker: User) -> None:
    new_case(caseworker, name_first="Layla")
    new_case(caseworker, name_first="Samir")
    client = signed_in(caseworker)
    response = client.post("/cases/?status=open&scope=mine", {"q": "Layla", "mode": "text"})
    assert "Layla" not in response["Location"]


def test_search_text_filters_the_list(caseworker: User) -> None:
    layla = new_case(caseworker, name_first="Layla")
    samir = new_case(caseworker, name_first="Samir")
    client = signed_in(caseworker)
    client.post("/cases/", {"q": "Layla", "mode": "text"})
    text = text_of(client.get("/cases/"))
    assert layla.short_id in text
    assert samir.short_id not in text


def test_name_search_finds_spelling_variants(caseworker: User) -> None:
    record = new_case(caseworker, name_first="Mohammed", name_last="Haddad")
    client = signed_in(caseworker)
    client.post("/cases/", {"q": "Muhamad Hadad", "mode": "name"})
    assert record.short_id in text_of(client.get("/cases/"))


def test_clearing_the_search_shows_all_again(caseworker: User) -> None:
    samir = new_case(caseworker, name_first="Samir")
    client = signed_in(caseworker)
    client.post("/cases/", {"q": "Layla", "mode": "text"})
    client.post("/cases/", {"q": "Layla", "clear": "1"})
    assert samir.short_id in text_of(client.get("/cases/"))


def test_bad_cursor_says_start_again(caseworker: User) -> None:
    response = signed_in(caseworker).get("/cases/?cursor=nonsense", follow=True)
    assert "start again" in text_of(response)


# Case page and history


def test_case_view_shows_labels_not_ids(caseworker: User) -> None:
    record = new_case(caseworker, sex="male", concerns=["labour"], location_current="UT0102")
    text = text_of(signed_in(caseworker).get(f"/cases/{record.pk}/"))
    assert "Male" in text
    assert "Child labour" in text
    assert "Lake district" in text


def test_case_view_shows_subform_rows(caseworker: User) -> None:
    record = new_case(
        caseworker,
        services=[{"unique_id": "r1", "service_type": "health", "sessions_planned": 2}],
    )
    text = text_of(signed_in(caseworker).get(f"/cases/{record.pk}/"))
    assert "Health" in text


def archive_legacy_note(caseworker: User) -> Record:
    from tests.sample_configuration import sample
    from tutela.configuration.loading import load_configuration

    record = new_case(caseworker, legacy_note="from the old form")
    document = sample()
    fields = document["record_types"][0]["form_sections"][1]["fields"]
    fields[:] = [f for f in fields if f["name"] != "legacy_note"]
    load_configuration(document)
    return record


def test_archived_values_shown_to_staff(caseworker: User, administrator: User) -> None:
    record = archive_legacy_note(caseworker)
    text = text_of(signed_in(administrator).get(f"/cases/{record.pk}/"))
    assert "Fields no longer in the form" in text


def test_archived_values_hidden_from_caseworkers(caseworker: User) -> None:
    record = archive_legacy_note(caseworker)
    text = text_of(signed_in(caseworker).get(f"/cases/{record.pk}/"))
    assert "from the old form" not in text


def test_history_names_fields_by_label(caseworker: User) -> None:
    record = new_case(caseworker, sex="female")
    actions.update_record(record.pk, {"sex": "male"}, caseworker, base_version=1)
    text = text_of(signed_in(caseworker).get(f"/cases/{record.pk}/history"))
    assert re.search(r"Sex</th> <td[^>]*>Female</td> <td[^>]*>Male</td>", text)


def test_title_holds_no_name(caseworker: User) -> None:
    record = new_case(caseworker, name_first="Layla")
    text = text_of(signed_in(caseworker).get(f"/cases/{record.pk}/"))
    title = re.search(r"<title>(.*?)</title>", text)
    assert title is not None
    assert "Layla" not in title.group(1)


# Section edit


def test_section_edit_form_renders(caseworker: User) -> None:
    record = new_case(caseworker)
    response = signed_in(caseworker).get(edit_url(record, "basic_identity"))
    assert response.status_code == 200
    assert 'name="version" value="1"' in response.content.decode()


def test_unknown_section_is_not_found(caseworker: User) -> None:
    record = new_case(caseworker)
    response = signed_in(caseworker).get(edit_url(record, "no_such_section"))
    assert response.status_code == 404


def identity_form(**values: str) -> dict[str, str]:
    return {"version": "1", "f_name_first": "Amal", **values}


def test_section_edit_saves_a_change(caseworker: User) -> None:
    record = new_case(caseworker)
    response = signed_in(caseworker).post(
        edit_url(record, "basic_identity"), identity_form(f_name_last="Haddad", f_age="9")
    )
    assert response.status_code == 302
    record.refresh_from_db()
    assert record.data["age"] == 9


def test_section_edit_shows_problem_at_the_field(caseworker: User) -> None:
    record = new_case(caseworker)
    response = signed_in(caseworker).post(
        edit_url(record, "basic_identity"), identity_form(f_age="forty")
    )
    text = text_of(response)
    assert re.search(r'id="id_f_age-error">[^<]*is not a number', text)


def test_section_edit_keeps_what_was_typed_on_error(caseworker: User) -> None:
    record = new_case(caseworker)
    response = signed_in(caseworker).post(
        edit_url(record, "basic_identity"), identity_form(f_age="forty", f_phone="555 0101")
    )
    assert 'value="555 0101"' in response.content.decode()


def test_section_edit_conflict_shows_their_value_beside_mine(
    caseworker: User, colleague: User
) -> None:
    record = new_case(caseworker)
    actions.update_record(record.pk, {"phone": "555 0202"}, colleague, base_version=1)
    response = signed_in(caseworker).post(
        edit_url(record, "basic_identity"), identity_form(f_phone="555 0101")
    )
    text = text_of(response)
    assert "Someone else saved this record" in text
    assert re.search(r"Theirs</dt><dd>555 0202</dd>.*Yours</dt><dd>555 0101</dd>", text)


def test_section_edit_conflict_keeps_what_was_typed(caseworker: User, colleague: User) -> None:
    record = new_case(caseworker)
    actions.update_record(record.pk, {"phone": "555 0202"}, colleague, base_version=1)
    response = signed_in(caseworker).post(
        edit_url(record, "basic_identity"), identity_form(f_phone="555 0101")
    )
    assert 'value="555 0101"' in response.content.decode()


def test_section_edit_adds_a_subform_row(caseworker: User) -> None:
    record = new_case(caseworker)
    response = signed_in(caseworker).post(
        edit_url(record, "services"),
        {
            "version": "1",
            "f_services.0.unique_id": "new-row",
            "f_services.0.service_type": "education",
            "f_services.0.sessions_planned": "3",
        },
    )
    assert response.status_code == 302
    record.refresh_from_db()
    assert record.data["services"][0]["service_type"] == "education"


def test_section_edit_removes_a_ticked_row(caseworker: User) -> None:
    record = new_case(caseworker, services=[{"unique_id": "r1", "service_type": "health"}])
    signed_in(caseworker).post(
        edit_url(record, "services"),
        {
            "version": "1",
            "f_services.0.unique_id": "r1",
            "f_services.0.service_type": "health",
            "f_services.0.remove": "1",
            "f_services.1.unique_id": "blank",
        },
    )
    record.refresh_from_db()
    assert "services" not in record.data


def test_section_edit_shows_row_problem_in_the_row(caseworker: User) -> None:
    record = new_case(caseworker)
    response = signed_in(caseworker).post(
        edit_url(record, "services"),
        {"version": "1", "f_services.0.unique_id": "x", "f_services.0.sessions_done": "2"},
    )
    assert 'id="id_f_services.0.service_type-error"' in response.content.decode()


def test_conditional_field_starts_hidden(caseworker: User) -> None:
    record = new_case(caseworker, risk_level="low")
    html = signed_in(caseworker).get(edit_url(record, "protection")).content.decode()
    assert re.search(r'class="conditional" data-visible-if="[^"]*" hidden>', html)


def test_conditional_field_shown_when_condition_holds(caseworker: User) -> None:
    record = new_case(caseworker, risk_level="high", urgent_action="Moved to a safe place")
    html = signed_in(caseworker).get(edit_url(record, "protection")).content.decode()
    assert re.search(r'class="conditional" data-visible-if="[^"]*">', html)


def test_hidden_field_value_is_cleared_on_save(caseworker: User) -> None:
    record = new_case(caseworker, risk_level="high", urgent_action="Moved to a safe place")
    signed_in(caseworker).post(
        edit_url(record, "protection"),
        {"version": "1", "f_risk_level": "low", "f_urgent_action": "Moved to a safe place"},
    )
    record.refresh_from_db()
    assert "urgent_action" not in record.data


# Registration


def registration(**values: str) -> dict[str, str]:
    return {"f_name_first": "Layla", "f_name_last": "Haddad", "f_sex": "female", **values}


def test_register_without_duplicates_creates_the_case(caseworker: User) -> None:
    response = signed_in(caseworker).post("/cases/new", registration())
    assert response.status_code == 302
    # The display name is stored encrypted (names are sensitive), so it is compared once read.
    assert [r.display_name for r in Record.objects.all()] == ["Layla Haddad"]


def test_register_warns_of_a_possible_duplicate(caseworker: User) -> None:
    existing = new_case(caseworker, name_first="Leila", name_last="Hadad", sex="female")
    response = signed_in(caseworker).post("/cases/new", registration())
    assert existing.short_id in text_of(response)


def test_register_duplicate_warning_saves_nothing(caseworker: User) -> None:
    new_case(caseworker, name_first="Leila", name_last="Hadad", sex="female")
    signed_in(caseworker).post("/cases/new", registration())
    assert Record.objects.count() == 1


def test_register_anyway_creates_the_case(caseworker: User) -> None:
    new_case(caseworker, name_first="Leila", name_last="Hadad", sex="female")
    signed_in(caseworker).post("/cases/new", registration(confirm_new="1"))
    assert Record.objects.count() == 2


def test_register_shows_required_field_problem(caseworker: User) -> None:
    response = signed_in(caseworker).post("/cases/new", {"f_name_last": "Haddad"})
    assert re.search(r'id="id_f_name_first-error">[^<]*This field is required', text_of(response))


# Language


def test_arabic_pages_are_right_to_left(caseworker: User) -> None:
    client = signed_in(caseworker)
    client.post("/language/", {"language": "ar", "next": "/cases/"})
    assert 'dir="rtl"' in client.get("/cases/").content.decode()


def test_english_pages_are_left_to_right(caseworker: User) -> None:
    assert 'dir="ltr"' in signed_in(caseworker).get("/cases/").content.decode()


@pytest.mark.parametrize(
    ("language", "word"),
    [("fr", "Dossiers"), ("es", "Casos"), ("pt", "Casos"), ("ar", "الحالات")],
)
def test_case_list_is_translated(caseworker: User, language: str, word: str) -> None:
    client = signed_in(caseworker)
    client.post("/language/", {"language": language, "next": "/cases/"})
    assert f"<h1>{word}</h1>" in client.get("/cases/").content.decode()


def test_case_view_and_search_audited(client: Client, caseworker: Any) -> None:
    from tutela.audit.models import AuditEntry
    from tutela.records.actions import create_record

    record = create_record("case", {"name_first": "Zainabou"}, caseworker)
    client.force_login(caseworker)
    client.get(f"/cases/{record.pk}/")
    client.get(f"/cases/{record.pk}/history")
    client.post("/cases/", {"q": "Zainabou", "mode": "name"})
    client.get("/cases/")
    actions = list(AuditEntry.objects.values_list("action", flat=True))
    assert actions[-3:] == ["case.view", "case.history_view", "case.search"]
    assert "Zainabou" not in str(list(AuditEntry.objects.values("details")))


def test_new_password_must_differ(client: Client, caseworker: Any) -> None:
    caseworker.must_change_password = True
    caseworker.save()
    client.force_login(caseworker)
    response = client.post(
        "/password/",
        {
            "old_password": "correct horse battery",
            "new_password1": "correct horse battery",
            "new_password2": "correct horse battery",
        },
    )
    assert response.status_code == 200
    assert "must differ" in response.content.decode()
    caseworker.refresh_from_db()
    assert caseworker.must_change_password


def test_every_page_links_to_password_and_two_step_sign_in(caseworker: User) -> None:
    page = signed_in(caseworker).get("/").content.decode()
    assert 'href="/password/"' in page
    assert 'href="/accounts/2fa/"' in page
    # The backups page is for staff only; its link too.
    assert 'href="/ops/backups/"' not in page


def test_staff_see_the_backups_link(administrator: User) -> None:
    assert 'href="/ops/backups/"' in signed_in(administrator).get("/").content.decode()
