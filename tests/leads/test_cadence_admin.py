"""Managers edit cadences in the admin and see where every lead stands in its cadence."""

import datetime

import pytest
from django.contrib.auth.models import Group

from crm.roles import MANAGER
from leads.cadences.engine import cadence_pause, cadence_start
from leads.models import Cadence, CadenceEnrollment, EnrollmentStatus, Touch, TouchStatus
from tests.factories import ConsentRecordFactory, LeadFactory

pytestmark = pytest.mark.django_db

ADD = "/admin/leads/cadence/add/"


def cadence_form(*steps, name="Roof follow-up", products="roofing, Gutters"):
    data = {
        "name": name,
        "description": "",
        "is_active": "on",
        "products": products,
        "steps-TOTAL_FORMS": str(len(steps)),
        "steps-INITIAL_FORMS": "0",
        "steps-MIN_NUM_FORMS": "0",
        "steps-MAX_NUM_FORMS": "1000",
    }
    for index, step in enumerate(steps):
        fields = {
            "channel": "sms",
            "delay_minutes": "0",
            "delay_from": "previous",
            "subject_template": "",
            "body_template": "Hi {{ lead.first_name }}",
            "only_if_not_contacted": "on",
            "skip_without_consent": "on",
            "position": str(index + 1),
        } | step
        data |= {f"steps-{index}-{key}": value for key, value in fields.items()}
    return data


def test_a_manager_adds_a_cadence_with_its_steps_in_order(manager_client):
    response = manager_client.post(
        ADD,
        cadence_form(
            {"channel": "call_task", "position": "2", "body_template": "Call them"},
            {"channel": "sms", "position": "1", "body_template": "Hi {{ lead.first_name }}!"},
            {
                "channel": "email",
                "position": "3",
                "delay_minutes": "1440",
                "subject_template": "Your {{ lead.product }} quote",
                "weekdays_only": "on",
            },
        ),
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    cadence = Cadence.objects.get(name="Roof follow-up")
    assert cadence.products == ["roofing", "Gutters"]
    assert [step.channel for step in cadence.steps.all()] == ["sms", "call_task", "email"]
    assert cadence.steps.get(channel="email").weekdays_only
    assert cadence.history.count() == 1


@pytest.mark.parametrize(
    ("step", "field", "message"),
    [
        ({"body_template": "Hi {% if lead.first_name %}"}, "body_template", "Unclosed tag"),
        ({"body_template": "{% include 'x.html' %}"}, "body_template", "Invalid block tag"),
        ({"body_template": "{{ lead.first_name|ljust:99999 }}"}, "body_template", "ljust"),
        ({"body_template": ""}, "body_template", "needs its message"),
        ({"channel": "email", "subject_template": ""}, "subject_template", "needs its subject"),
        (
            {"channel": "email", "subject_template": "{{ lead.__class__ }}"},
            "subject_template",
            "may not begin with underscores",
        ),
    ],
)
def test_a_step_whose_template_cannot_be_used_is_refused_with_the_error_shown(
    manager_client, step, field, message
):
    response = manager_client.post(ADD, cadence_form(step))

    assert response.status_code == 200
    errors = response.context["inline_admin_formsets"][0].formset.errors[0]
    assert message in " ".join(errors[field])
    assert message.replace("'", "&#x27;") in response.content.decode()
    assert not Cadence.objects.filter(name="Roof follow-up").exists()


def test_a_second_default_cadence_is_refused(manager_client):
    response = manager_client.post(ADD, cadence_form({}) | {"is_default": "on"})

    assert response.status_code == 200
    assert "already exists" in response.content.decode() or "default" in str(
        response.context["adminform"].form.errors
    )
    assert Cadence.objects.filter(is_default=True).count() == 1


def test_a_product_name_with_control_characters_is_refused(manager_client):
    response = manager_client.post(ADD, cadence_form({}, products="roof\x07ing"))

    assert response.status_code == 200
    assert "printable text" in str(response.context["adminform"].form.errors["products"])


def test_the_changelist_counts_the_leads_in_each_state(manager_client, rep):
    cadence = Cadence.objects.get(is_default=True)
    for _ in range(3):
        lead = LeadFactory(owner=rep)
        ConsentRecordFactory(lead=lead)
        cadence_start(lead=lead, at=lead.received_at)
    cadence_pause(lead=lead, by=rep)

    response = manager_client.get("/admin/leads/cadence/")

    row = next(result for result in response.context["cl"].result_list if result.pk == cadence.pk)
    assert (row.step_total, row.active_count, row.paused_count, row.stopped_count) == (8, 2, 1, 0)
    assert "Speed to lead" in response.content.decode()


def test_where_every_lead_stands_is_listed_read_only_and_filters_by_status(manager_client, rep):
    reached, paused = LeadFactory(owner=rep, first_name="Quincy"), LeadFactory(owner=rep)
    for lead in (reached, paused):
        ConsentRecordFactory(lead=lead)
        cadence_start(lead=lead, at=lead.received_at)
    cadence_pause(lead=paused, by=rep)

    page = manager_client.get("/admin/leads/cadenceenrollment/")
    body = page.content.decode()
    assert page.status_code == 200
    assert "Quincy" in body and f"/leads/{reached.pk}/" in body
    assert "Call task for the lead" in body or "Automated" in body  # its next step
    assert " UTC (" in body and "EST)" in body  # the next step's time, in UTC and theirs
    assert 'href="/admin/leads/cadenceenrollment/add/"' not in body

    filtered = manager_client.get("/admin/leads/cadenceenrollment/?status__exact=paused")
    assert [e.lead_id for e in filtered.context["cl"].result_list] == [paused.pk]
    enrollment = CadenceEnrollment.objects.get(lead=paused)
    assert (
        manager_client.get(f"/admin/leads/cadenceenrollment/{enrollment.pk}/change/").status_code
        == 200
    )  # view only
    assert (
        manager_client.post(
            f"/admin/leads/cadenceenrollment/{enrollment.pk}/change/", {"status": "active"}
        ).status_code
        == 403
    )
    assert CadenceEnrollment.objects.get(lead=paused).status == EnrollmentStatus.PAUSED


def test_a_manager_chooses_a_sources_cadence(manager_client, source):
    cadence = Cadence.objects.create(name="Vendor follow-up")

    page = manager_client.get(f"/admin/leads/leadsource/{source.pk}/change/")

    assert page.status_code == 200
    assert 'name="cadence"' in page.content.decode()
    assert cadence.name in page.content.decode()


def test_managers_may_edit_cadences_and_view_enrollments():
    codenames = set(Group.objects.get(name=MANAGER).permissions.values_list("codename", flat=True))

    assert {"add_cadence", "change_cadence", "view_cadence"} <= codenames
    assert {"add_cadencestep", "change_cadencestep", "delete_cadencestep"} <= codenames
    assert "view_cadenceenrollment" in codenames
    assert not {"delete_cadence", "change_cadenceenrollment"} & codenames


def test_the_step_time_is_shown_to_managers_in_the_leads_zone(manager_client, rep):
    lead = LeadFactory(owner=rep, time_zone="Pacific/Honolulu")
    ConsentRecordFactory(lead=lead)
    cadence_start(lead=lead, at=lead.received_at - datetime.timedelta(seconds=1))

    body = manager_client.get("/admin/leads/cadenceenrollment/").content.decode()

    assert "HST)" in body


def test_removing_a_step_cancels_its_touches_still_to_come(manager_client, rep):
    cadence = Cadence.objects.get(is_default=True)
    lead = LeadFactory(owner=rep)
    ConsentRecordFactory(lead=lead)
    cadence_start(lead=lead, at=lead.received_at)
    steps = list(cadence.steps.all())
    last = steps[-1]
    data = cadence_form(name=cadence.name, products="")
    data |= {"is_default": "on", "steps-TOTAL_FORMS": str(len(steps))}
    data["steps-INITIAL_FORMS"] = str(len(steps))
    for index, step in enumerate(steps):
        data |= {
            f"steps-{index}-id": str(step.pk),
            f"steps-{index}-cadence": str(cadence.pk),
            f"steps-{index}-channel": step.channel,
            f"steps-{index}-delay_minutes": str(step.delay_minutes),
            f"steps-{index}-delay_from": step.delay_from,
            f"steps-{index}-subject_template": step.subject_template,
            f"steps-{index}-body_template": step.body_template,
            f"steps-{index}-position": str(step.position),
        }
    data[f"steps-{len(steps) - 1}-DELETE"] = "on"

    response = manager_client.post(f"/admin/leads/cadence/{cadence.pk}/change/", data)

    assert response.status_code == 302, response.content.decode()[:2000]
    assert not cadence.steps.filter(pk=last.pk).exists()
    assert cadence.steps.count() == 7
    (orphan,) = Touch.objects.filter(lead=lead, cadence_step__isnull=True)
    assert orphan.status == TouchStatus.CANCELLED
    assert "removed from the cadence" in orphan.status_note
