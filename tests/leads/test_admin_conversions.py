"""Managers record conversions in the admin through the same function as reps and the API,
and read a lead's conversions and notes on its admin page."""

from decimal import Decimal

import pytest
from django.urls import reverse

from leads.models import Conversion, ConversionOrigin, LeadNote, LeadStatus
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db

ADD = reverse("admin:leads_conversion_add")


def test_a_manager_records_a_sale_which_moves_the_lead(manager_client, manager, source):
    lead = LeadFactory(source=source, status=LeadStatus.WORKING)

    response = manager_client.post(
        ADD,
        {
            "lead": lead.pk,
            "kind": "sale",
            "revenue": "950.00",
            "occurred_at_0": "",
            "occurred_at_1": "",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    sale = Conversion.objects.get()
    assert (sale.revenue, sale.origin, sale.recorded_by) == (
        Decimal("950.00"),
        ConversionOrigin.ADMIN,
        manager,
    )
    lead.refresh_from_db()
    assert lead.status == LeadStatus.WON and lead.first_contact_at is not None


def test_a_sale_without_revenue_is_refused_on_its_field(manager_client, source):
    lead = LeadFactory(source=source)

    response = manager_client.post(ADD, {"lead": lead.pk, "kind": "sale", "revenue": ""})

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {"revenue": ["A sale needs its revenue."]}
    assert not Conversion.objects.exists()


def test_the_ledger_is_read_only_and_the_lead_page_lists_it(manager_client, manager, source):
    lead = LeadFactory(source=source)
    manager_client.post(ADD, {"lead": lead.pk, "kind": "contacted"})
    LeadNote.objects.create(lead=lead, author=manager, body="Spoke to the spouse")
    conversion = Conversion.objects.get()

    change = reverse("admin:leads_conversion_change", args=[conversion.pk])
    assert manager_client.post(change, {"kind": "sale", "revenue": "1"}).status_code == 403
    delete = reverse("admin:leads_conversion_delete", args=[conversion.pk])
    assert manager_client.post(delete, {"post": "yes"}).status_code == 403
    page = manager_client.get(reverse("admin:leads_lead_change", args=[lead.pk])).content.decode()
    assert "Spoke to the spouse" in page
    assert "Entered in the admin" in page


def test_the_add_page_takes_the_lead_by_id_never_listing_every_lead(manager_client, source):
    LeadFactory(source=source, first_name="Listed")
    page = manager_client.get(ADD).content.decode()
    assert 'class="vForeignKeyRawIdAdminField"' in page
    assert "Listed" not in page
