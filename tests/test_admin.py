import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from compliance.models import ConsentRecord, Suppression
from leads.models import Lead, LeadSource
from tests.factories import (
    ConsentRecordFactory,
    ContactAttemptFactory,
    LeadFactory,
    RepProfileFactory,
    SuppressionFactory,
)

pytestmark = pytest.mark.django_db

MODELS = [
    ("leads", "leadsource"),
    ("leads", "lead"),
    ("leads", "contactattempt"),
    ("leads", "repprofile"),
    ("compliance", "consentrecord"),
    ("compliance", "suppression"),
    ("auth", "user"),
]


@pytest.fixture
def records(source, rep):
    lead = LeadFactory(source=source, owner=rep, first_name="Dana", last_name="Whitfield")
    return {
        "leadsource": source,
        "lead": lead,
        "contactattempt": ContactAttemptFactory(lead=lead, rep=rep, disposition="no_answer"),
        "repprofile": rep.rep_profile,
        "consentrecord": ConsentRecordFactory(lead=lead),
        "suppression": SuppressionFactory(phone=lead.phone, lead=lead),
        "user": rep,
    }


@pytest.mark.parametrize(("app", "model"), MODELS)
def test_manager_sees_every_changelist_and_change_page(admin_client, records, app, model):
    obj = records[model]

    changelist = admin_client.get(reverse(f"admin:{app}_{model}_changelist"))
    change = admin_client.get(reverse(f"admin:{app}_{model}_change", args=[obj.pk]))
    add = admin_client.get(reverse(f"admin:{app}_{model}_add"))

    assert changelist.status_code == 200
    assert change.status_code == 200
    assert add.status_code == 200
    assert str(obj.pk) in changelist.content.decode()


@pytest.mark.parametrize(("app", "model"), [m for m in MODELS if m[0] != "auth"])
def test_every_record_shows_its_history(admin_client, records, app, model):
    response = admin_client.get(reverse(f"admin:{app}_{model}_history", args=[records[model].pk]))

    assert response.status_code == 200
    assert "Created" in response.content.decode() or "+" in response.content.decode()


@pytest.mark.parametrize(
    "term",
    ["(305) 555-7001", "+13055557001", "dana.w@example.com", "DANA.W@EXAMPLE.COM", "whitfield",
     "Dana Whitfield", "VEND-77"],
)  # fmt: skip
def test_lead_search_finds_by_phone_email_name_and_source_id(admin_client, source, term):
    LeadFactory(
        source=source,
        first_name="Dana",
        last_name="Whitfield",
        phone="+13055557001",
        email="dana.w@example.com",
        source_lead_id="VEND-77",
    )
    LeadFactory(source=source, first_name="Other", last_name="Person", phone="+13055557002")

    response = admin_client.get(reverse("admin:leads_lead_changelist"), {"q": term})

    assert response.status_code == 200
    assert list(response.context["cl"].result_list.values_list("phone", flat=True)) == [
        "+13055557001"
    ]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status__exact": "won"}, {"won-lead"}),
        ({"state__exact": "TX"}, {"texas-lead"}),
        ({"received_at__gte": "2000-01-01 00:00:00+00:00"}, {"won-lead", "texas-lead", "mine"}),
    ],
)
def test_lead_filters(admin_client, source, rep, params, expected):
    LeadFactory(source=source, source_lead_id="won-lead", status="won")
    LeadFactory(source=source, source_lead_id="texas-lead", state="TX")
    LeadFactory(source=source, source_lead_id="mine", owner=rep)

    response = admin_client.get(reverse("admin:leads_lead_changelist"), params)

    assert set(response.context["cl"].result_list.values_list("source_lead_id", flat=True)) == (
        expected
    )


def test_lead_filters_by_owner_and_source(admin_client, source, other_source, rep):
    LeadFactory(source=source, source_lead_id="mine", owner=rep)
    LeadFactory(source=other_source, source_lead_id="theirs")
    url = reverse("admin:leads_lead_changelist")

    by_owner = admin_client.get(url, {"owner__id__exact": rep.pk})
    by_source = admin_client.get(url, {"source__id__exact": other_source.pk})

    assert [lead.source_lead_id for lead in by_owner.context["cl"].result_list] == ["mine"]
    assert [lead.source_lead_id for lead in by_source.context["cl"].result_list] == ["theirs"]


def _lead_changelist_queries(client) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("admin:leads_lead_changelist"))
    assert response.status_code == 200
    return [query["sql"] for query in queries.captured_queries]


def test_lead_changelist_query_count_does_not_grow_with_rows(admin_client, source, rep):
    LeadFactory.create_batch(3, source=source, owner=rep)
    few = _lead_changelist_queries(admin_client)
    LeadFactory.create_batch(60, source=source, owner=rep)

    many = _lead_changelist_queries(admin_client)

    assert len(many) == len(few)


def test_lead_changelist_never_counts_the_whole_table(admin_client, source, settings):
    LeadFactory.create_batch(5, source=source)

    counts = [sql for sql in _lead_changelist_queries(admin_client) if "COUNT(" in sql.upper()]

    assert counts, "the page should count its rows, boundedly"
    assert all(re.search(r"LIMIT\s+\d+", sql, re.IGNORECASE) for sql in counts), counts


def test_lead_changelist_past_the_count_cap_says_about(admin_client, source, monkeypatch):
    from crm.admin_paging import LargeTablePaginator

    monkeypatch.setattr(LargeTablePaginator, "count_cap", 3)
    LeadFactory.create_batch(5, source=source)

    response = admin_client.get(reverse("admin:leads_lead_changelist"))

    assert response.status_code == 200
    assert re.search(r"about \d+ leads", response.content.decode())


def test_adding_a_source_shows_its_key_once(admin_client):
    response = admin_client.post(
        reverse("admin:leads_leadsource_add"),
        {
            "name": "Prime Leads",
            "slug": "prime-leads",
            "is_active": "on",
            "price_per_lead": "31.00",
            "exclusivity": "exclusive",
            "return_window_days": "5",
            "allowed_return_reasons": '["duplicate"]',
            "accepted_states": '["FL"]',
            "accepted_products": "[]",
            "pricing": "fixed",
        },
    )

    assert response.status_code == 200
    key = re.search(r'class="api-key">(lls_[\w-]+)<', response.content.decode()).group(1)
    source = LeadSource.objects.get(slug="prime-leads")
    assert LeadSource.objects.by_api_key(key) == source
    change_page = admin_client.get(reverse("admin:leads_leadsource_change", args=[source.pk]))
    assert key not in change_page.content.decode()


def test_rotate_action_issues_a_new_key(admin_client, source):
    old_key = source.api_key

    response = admin_client.post(
        reverse("admin:leads_leadsource_changelist"),
        {"action": "rotate_api_keys", "_selected_action": [source.pk]},
    )

    new_key = re.search(r'class="api-key">(lls_[\w-]+)<', response.content.decode()).group(1)
    assert LeadSource.objects.by_api_key(old_key) is None
    assert LeadSource.objects.by_api_key(new_key) == source


def test_source_form_names_a_bad_state(admin_client, source):
    response = admin_client.post(
        reverse("admin:leads_leadsource_change", args=[source.pk]),
        {
            "name": source.name,
            "slug": source.slug,
            "price_per_lead": "25.00",
            "exclusivity": "exclusive",
            "return_window_days": "5",
            "allowed_return_reasons": "[]",
            "accepted_states": '["FL", "XX"]',
            "accepted_products": "[]",
            "webhook_signing_secret": source.webhook_signing_secret,
        },
    )

    assert response.status_code == 200
    assert "Unknown state codes: XX" in response.content.decode()


@pytest.mark.parametrize(
    ("model", "factory"),
    [(ConsentRecord, ConsentRecordFactory), (Suppression, SuppressionFactory)],
)
def test_consent_and_suppressions_cannot_be_deleted_in_the_admin(admin_client, model, factory):
    obj = factory()
    opts = model._meta

    delete_page = admin_client.get(
        reverse(f"admin:{opts.app_label}_{opts.model_name}_delete", args=[obj.pk])
    )
    bulk = admin_client.post(
        reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"),
        {"action": "delete_selected", "_selected_action": [obj.pk], "post": "yes"},
    )

    assert delete_page.status_code == 403
    assert bulk.status_code in (200, 302)
    assert model.objects.filter(pk=obj.pk).exists()


def test_consent_evidence_is_read_only_after_capture(admin_client):
    consent = ConsentRecordFactory(disclosure_text="Original words shown.")

    admin_client.post(
        reverse("admin:compliance_consentrecord_change", args=[consent.pk]),
        {"disclosure_text": "Edited words", "revoked_at_0": "", "revoked_at_1": ""},
    )

    consent.refresh_from_db()
    assert consent.disclosure_text == "Original words shown."


def test_suppression_added_in_admin_records_who(admin_client, admin_user):
    response = admin_client.post(
        reverse("admin:compliance_suppression_add"),
        {
            "phone": "(212) 555-0142",
            "email": "",
            "channel_scope": "all",
            "origin": "manager",
            "reason": "Complaint to the front desk",
            "received_at_0": "2026-11-20",
            "received_at_1": "10:00:00",
        },
    )

    assert response.status_code == 302
    entry = Suppression.objects.get()
    assert str(entry.phone) == "+12125550142"
    assert entry.recorded_by == admin_user


def test_suppression_search_by_phone_in_any_format(admin_client):
    SuppressionFactory(phone="+12125550142")
    SuppressionFactory(phone="+12125550143")

    response = admin_client.get(
        reverse("admin:compliance_suppression_changelist"), {"q": "212-555-0142"}
    )

    assert [str(s.phone) for s in response.context["cl"].result_list] == ["+12125550142"]


def test_changing_a_lead_records_who_changed_what(admin_client, admin_user, source, rep):
    lead = LeadFactory(
        source=source, status="new", received_at=timezone.now().replace(microsecond=0)
    )
    url = reverse("admin:leads_lead_change", args=[lead.pk])
    form = admin_client.get(url).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None}
    data.update(
        {
            "first_name": "Zebulon",
            "owner": rep.pk,
            "phone": str(lead.phone),
            # Owned by intake and the business functions: posted, but not taken.
            "status": "won",
            "received_at_0": "2020-01-01",
            "received_at_1": "00:00:00",
            "consents-TOTAL_FORMS": "0",
            "consents-INITIAL_FORMS": "0",
            "attempts-TOTAL_FORMS": "0",
            "attempts-INITIAL_FORMS": "0",
            "assignments-TOTAL_FORMS": "0",
            "assignments-INITIAL_FORMS": "0",
            "conversions-TOTAL_FORMS": "0",
            "conversions-INITIAL_FORMS": "0",
            "returns-TOTAL_FORMS": "0",
            "returns-INITIAL_FORMS": "0",
            "notes-TOTAL_FORMS": "0",
            "notes-INITIAL_FORMS": "0",
        }
    )

    response = admin_client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    lead.refresh_from_db()
    assert (lead.status, lead.received_at.year) == ("new", timezone.now().year)
    assert lead.owner == rep
    edited, given = lead.history.all()[1], lead.history.all()[0]
    assert edited.history_user == admin_user
    assert {change.field for change in edited.diff_against(edited.prev_record).changes} == {
        "first_name"
    }
    assert {change.field for change in given.diff_against(edited).changes} == {"owner"}
    assignment = lead.assignments.get()
    assert (assignment.reason, assignment.to_rep, assignment.assigned_by) == (
        "manager",
        rep,
        admin_user,
    )
    history_page = admin_client.get(reverse("admin:leads_lead_history", args=[lead.pk]))
    assert admin_user.username in history_page.content.decode()


ADD_LEAD = {
    "first_name": "Jordan",
    "last_name": "Avery",
    "phone": "(305) 555-0177",
    "email": "Jordan.Avery@Example.com",
    "street": "12 Palm Way",
    "city": "Miami",
    "state": "",
    "zip_code": "33130",
    "product": "solar",
    "consent_channels": ["call", "sms"],
    "consent_capture_method": "phone_recording",
    "consent_captured_at_0": "",
    "consent_captured_at_1": "",
    "consent_disclosure_text": "Jordan agreed on a recorded call that Brightside may call.",
}


def test_a_lead_added_in_the_admin_goes_through_intake_and_the_fast_lane(
    admin_client, settings, eager_tasks, django_capture_on_commit_callbacks
):
    settings.BUSINESS_NAME = "Brightside Home Services"

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("admin:leads_lead_add"), ADD_LEAD)

    assert response.status_code == 302, response.context["adminform"].form.errors
    lead = Lead.objects.get()
    assert (lead.source.slug, lead.source.name) == ("manual", "Entered by hand")
    assert str(lead.phone) == "+13055550177" and lead.email == "jordan.avery@example.com"
    assert (lead.state, lead.time_zone) == ("FL", "America/New_York")  # from the ZIP
    assert lead.processed_at is not None and lead.score > 0
    consent = ConsentRecord.objects.get(lead=lead)
    assert consent.channels == ["call", "sms"]
    assert consent.capture_method == "phone_recording"
    assert consent.seller_names == ["Brightside Home Services"]
    assert response["Location"] == reverse("admin:leads_lead_changelist")


def test_a_lead_added_in_the_admin_is_refused_with_intakes_reasons(admin_client):
    bad = {**ADD_LEAD, "phone": "555-0100", "zip_code": "00000", "email": "not-an-email"}

    response = admin_client.post(reverse("admin:leads_lead_add"), bad)

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "not a valid US phone number" in str(errors["phone"])
    assert "not a valid email address" in str(errors["email"])
    assert "not a US ZIP code" in str(errors["zip_code"])
    assert not Lead.objects.exists()


def test_manager_role_can_use_the_admin_but_not_delete_consent(client, manager, records):
    client.force_login(manager)

    leads = client.get(reverse("admin:leads_lead_changelist"))
    consent_delete = client.get(
        reverse("admin:compliance_consentrecord_delete", args=[records["consentrecord"].pk])
    )

    assert leads.status_code == 200
    assert consent_delete.status_code == 403


@pytest.mark.parametrize(
    "url_name",
    [
        "admin:leads_lead_changelist",
        "admin:leads_leadsource_changelist",
        "admin:leads_contactattempt_changelist",
        "admin:leads_touch_changelist",
        "admin:leads_importrun_changelist",
        "admin:compliance_consentrecord_changelist",
        "admin:compliance_suppression_changelist",
        "admin:compliance_suppression_import",
        "admin:compliance_contactdecision_changelist",
        "admin:compliance_contactdecision_rules",
        "admin:compliance_dnclist_changelist",
        "admin:compliance_dnclist_import",
        "admin:django_celery_beat_periodictask_changelist",
    ],
)
def test_manager_role_opens_every_page_a_manager_works_on(client, manager, url_name):
    client.force_login(manager)

    assert client.get(reverse(url_name)).status_code == 200


def test_reps_cannot_use_the_admin(client, rep):
    client.force_login(rep)

    response = client.get(reverse("admin:leads_lead_changelist"))

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_rep_profile_shows_open_lead_count(admin_client, source, rep):
    LeadFactory.create_batch(2, source=source, owner=rep, status="working")
    LeadFactory(source=source, owner=rep, status="won")

    response = admin_client.get(reverse("admin:leads_repprofile_changelist"))

    profile = response.context["cl"].result_list[0]
    assert profile.open_lead_count == 2


def test_lead_autocomplete_for_owner_lists_only_reps(admin_client, rep, manager):
    RepProfileFactory(user=rep)

    response = admin_client.get(
        reverse("admin:autocomplete"),
        {"app_label": "leads", "model_name": "lead", "field_name": "owner", "term": ""},
    )

    ids = {int(result["id"]) for result in response.json()["results"]}
    assert rep.pk in ids
    assert manager.pk not in ids


def test_lead_inlines_show_consent_and_attempts(admin_client, records):
    response = admin_client.get(reverse("admin:leads_lead_change", args=[records["lead"].pk]))

    body = response.content.decode()
    assert "No answer" in body
    assert "Brightside Home Services" in body
    assert Lead.objects.count() == 1
