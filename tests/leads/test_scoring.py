"""Scores that explain themselves: weights from the admin, the source's record, products,
what the lead did, and rescoring many leads as an RQ job a manager watches."""

import datetime
import re
from decimal import Decimal

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from rq import SimpleWorker
from rq.job import Job, JobStatus
from rq.results import Result

from compliance.inbound import sms_reply_receive
from crm.queues import rq_queue
from leads import scoring
from leads.models import (
    ContactAttempt,
    Conversion,
    ConversionKind,
    ConversionOrigin,
    Direction,
    Lead,
    LeadStatus,
    ScoringFactor,
)
from leads.scoring import (
    SourceRecord,
    SourceStats,
    factor_weights,
    lead_rescore,
    lead_score,
    leads_rescore,
    score_breakdown,
)
from leads.workspace.queue import NEVER_ATTEMPTED
from tests.factories import ConsentRecordFactory, LeadFactory
from tests.leads.test_api_intake import lead_payload, post

pytestmark = pytest.mark.django_db

PHONE = "+13055550100"


def scored_lead(**fields) -> Lead:
    """A lead with a mobile phone, an email, a full name, no street, exclusive, solar."""
    lead = LeadFactory(phone_type="mobile", **fields)
    lead_rescore(lead=lead)
    return lead


def factors(lead: Lead) -> dict[str, int]:
    lead.refresh_from_db()
    return dict(lead.score_factors)


def run_rq_jobs() -> None:
    """With Redis, RQ jobs wait for a worker: run them here. Without, they ran already."""
    if settings.REDIS_URL:
        queue = rq_queue("default")
        SimpleWorker([queue], connection=queue.connection).work(burst=True)


def forget_job(progress_url: str) -> None:
    job_id = progress_url.rstrip("/").rsplit("/", 1)[1]
    job = Job.fetch(job_id, connection=rq_queue("default").connection)
    Result.delete_all(job)
    job.delete()


def changelist_edit(client, rows: dict[str, dict]):
    """Post the factor changelist's editable columns (list_editable) for these keys."""
    data = {"form-TOTAL_FORMS": len(rows), "form-INITIAL_FORMS": len(rows), "_save": "Save"}
    for index, (key, values) in enumerate(rows.items()):
        data[f"form-{index}-id"] = ScoringFactor.objects.get(key=key).pk
        data[f"form-{index}-points"] = values["points"]
        if values.get("is_active", True):
            data[f"form-{index}-is_active"] = "on"
    return client.post(reverse("admin:leads_scoringfactor_changelist"), data)


# Weights from the admin


def test_weights_edited_in_the_admin_change_the_next_score_and_its_breakdown(manager_client):
    lead = scored_lead()
    assert factors(lead) == {
        "base": 40,
        "mobile phone": 15,
        "has an email address": 5,
        "full name": 5,
        "exclusive": 10,
    }

    edited = changelist_edit(
        manager_client,
        {"phone_mobile": {"points": 25}, "full_name": {"points": 5, "is_active": False}},
    )
    mobile = ScoringFactor.objects.get(key="phone_mobile")
    relabelled = manager_client.post(
        reverse("admin:leads_scoringfactor_change", args=[mobile.pk]),
        {"label": "cell phone", "points": 25, "is_active": "on", "description": ""},
    )
    lead_rescore(lead=lead)

    assert edited.status_code == relabelled.status_code == 302
    assert factors(lead) == {
        "base": 40,
        "cell phone": 25,
        "has an email address": 5,
        "exclusive": 10,
    }
    assert lead.score == 80
    assert (
        score_breakdown(lead=lead)
        == "40 base, +25 cell phone, +5 has an email address, +10 exclusive"
    )
    page = manager_client.get(reverse("admin:leads_lead_change", args=[lead.pk])).content.decode()
    assert "+25 cell phone" in page and "full name" not in page
    assert lead.history.latest().history_change_reason == "Rescored"


def test_a_score_reads_the_weights_once_and_nothing_it_is_given(django_assert_num_queries, source):
    lead = LeadFactory.build(source=source, phone_type="mobile")  # unsaved: no attempts to read

    with django_assert_num_queries(2):  # the weights; the source's record (too few leads)
        score = lead_score(lead=lead, consent_channels={"call"})
    weights = factor_weights()
    with django_assert_num_queries(0):
        again = lead_score(
            lead=lead,
            consent_channels={"call"},
            weights=weights,
            source_stats=scoring.NO_STATS,
            inbound_channels=set(),
        )

    assert again == score
    assert dict(score.factors)["consent to calls"] == 10


def test_a_factor_that_is_not_counted_or_missing_adds_nothing(source):
    ScoringFactor.objects.filter(key="exclusive").update(is_active=False)
    ScoringFactor.objects.filter(key="has_email").delete()

    lead = scored_lead(source=source)

    assert "exclusive" not in factors(lead) and "has an email address" not in factors(lead)


def test_the_fast_lane_and_a_rescore_score_a_new_lead_alike(
    client, source, eager_tasks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        lead_id = post(client, source, lead_payload()).json()["id"]
    lead = Lead.objects.get(pk=lead_id)
    history_rows = lead.history.count()

    score = lead_rescore(lead=lead)

    assert (score.total, score.as_stored()) == (lead.score, lead.score_factors)
    assert lead.history.count() == history_rows  # nothing changed: no "Rescored" row


# Products


def test_a_product_factor_added_in_the_admin_weighs_leads_of_that_product(manager_client):
    added = manager_client.post(
        reverse("admin:leads_scoringfactor_add"),
        {"key": "product-solar-panels", "label": "solar panels", "points": 7, "is_active": "on"},
    )
    solar = scored_lead(product="Solar Panels")
    roofing = scored_lead(product="Roofing")

    assert added.status_code == 302
    assert factors(solar)["solar panels"] == 7
    assert "solar panels" not in factors(roofing)


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("phone_mobile", "A new factor weighs a product"),
        ("engaged_sometimes", "A new factor weighs a product"),
        ("product-Solar", "A new factor weighs a product"),
        ("product-", "A new factor weighs a product"),
        ("product-solar", "A factor with this key exists already."),
    ],
)
def test_only_a_new_product_key_can_be_added(manager_client, key, why):
    ScoringFactor.objects.create(key="product-solar", label="solar", points=3)
    before = ScoringFactor.objects.count()

    page = manager_client.post(
        reverse("admin:leads_scoringfactor_add"),
        {"key": key, "label": "x", "points": 1, "is_active": "on"},
    )

    assert page.status_code == 200 and why in page.content.decode()
    assert ScoringFactor.objects.count() == before


def test_keys_are_read_only_once_added_and_the_rules_factors_stay(manager_client):
    base = ScoringFactor.objects.get(key="base")
    product = ScoringFactor.objects.create(key="product-solar", label="solar", points=3)

    change = manager_client.get(reverse("admin:leads_scoringfactor_change", args=[base.pk]))
    manager_client.post(
        reverse("admin:leads_scoringfactor_change", args=[base.pk]),
        {"key": "hacked", "label": "base", "points": 40, "is_active": "on"},
    )
    add = manager_client.get(reverse("admin:leads_scoringfactor_add")).content.decode()
    changelist = manager_client.get(reverse("admin:leads_scoringfactor_changelist"))

    assert 'name="key"' not in change.content.decode()
    assert ScoringFactor.objects.filter(key="base").exists()
    assert 'name="key"' in add and "product-solar-panels" in add  # the help text says how
    assert "product-solar-panels" in changelist.content.decode()
    admin = changelist.context["cl"].model_admin
    request = changelist.wsgi_request
    assert not admin.has_delete_permission(request, base)
    assert admin.has_delete_permission(request, product) == request.user.has_perm(
        "leads.delete_scoringfactor"
    )


# The source's record


def _leads(source, count: int, *, contacted: int, sold: int, received_at=None) -> list[Lead]:
    received_at = received_at or timezone.now() - datetime.timedelta(days=3)
    leads = LeadFactory.create_batch(count, source=source, received_at=received_at)
    for lead in leads[:contacted]:
        lead.first_contact_at = received_at + datetime.timedelta(minutes=5)
        lead.save(update_fields=["first_contact_at"])
    for lead in leads[:sold]:
        Conversion.objects.create(
            lead=lead,
            kind=ConversionKind.SALE,
            revenue=Decimal("900"),
            origin=ConversionOrigin.ADMIN,
        )
    return leads


def test_a_source_with_fewer_than_50_leads_in_90_days_has_no_record_factor(source, other_source):
    leads = _leads(source, 49, contacted=49, sold=20)
    _leads(
        source, 10, contacted=0, sold=0, received_at=timezone.now() - datetime.timedelta(days=91)
    )
    _leads(other_source, 60, contacted=10, sold=0)

    lead_rescore(lead=leads[0])

    assert not any(label.startswith("source's record") for label in factors(leads[0]))


def test_a_source_with_enough_leads_gets_its_record_scaled_against_all_sources(
    source, other_source, django_assert_num_queries
):
    # All sources: 100 leads in the window, 50 contacted (50%), 5 sold (5%).
    good = _leads(source, 50, contacted=30, sold=5)  # 60%: +0.2; 10%: +1.0; mean +0.6
    poor = _leads(other_source, 50, contacted=20, sold=0)  # 40%: -0.2; 0%: -1.0; mean -0.6
    # Older than 90 days: not counted (they would make the poor source look good).
    _leads(
        other_source,
        40,
        contacted=40,
        sold=40,
        received_at=timezone.now() - datetime.timedelta(days=91),
    )

    with django_assert_num_queries(2):  # one aggregate for the source, one for all sources
        stats = scoring.source_stats_read(source_id=source.pk)
    lead_rescore(lead=good[0])
    lead_rescore(lead=poor[0])

    assert stats == SourceStats(
        source=SourceRecord(leads=50, contacted=30, sold=5),
        overall=SourceRecord(leads=100, contacted=50, sold=5),
    )
    assert factors(good[0])["source's record (contact 60%, sales 10%)"] == 6
    assert factors(poor[0])["source's record (contact 40%, sales 0%)"] == -6


def test_the_source_record_is_clamped_to_its_points_and_follows_its_weight():
    stats = SourceStats(
        source=SourceRecord(leads=50, contacted=50, sold=25),  # 100% and 50%: +1, +9
        overall=SourceRecord(leads=1000, contacted=500, sold=50),  # 50% and 5%
    )

    assert scoring.source_history_points(stats=stats, points=10) == 10
    assert scoring.source_history_points(stats=stats, points=4) == 4
    stats = SourceStats(source=SourceRecord(leads=80, contacted=44, sold=3), overall=stats.overall)
    # 55%: +0.1; 3.75%: -0.25; mean -0.075: -0.75 of 10 points, rounded
    assert scoring.source_history_points(stats=stats, points=10) == -1


def test_the_bulk_rescore_reads_every_source_once_and_scores_as_one_lead_does(source, other_source):
    good = _leads(source, 50, contacted=30, sold=5)
    poor = _leads(other_source, 50, contacted=20, sold=0)
    one_by_one = {lead.pk: lead_rescore(lead=lead).as_stored() for lead in (good[0], poor[0])}
    Lead.objects.update(score=0, score_factors=[])

    leads_rescore(leads=Lead.objects.all())

    assert {pk: factors(Lead.objects.get(pk=pk)) for pk in one_by_one} == {
        pk: dict(stored) for pk, stored in one_by_one.items()
    }


# What the lead did


def test_an_inbound_reply_rescores_the_lead_as_engaged(
    source, eager_tasks, django_capture_on_commit_callbacks
):
    lead = LeadFactory(source=source, phone=PHONE, phone_type="mobile", email="")
    ConsentRecordFactory(lead=lead)  # calls, texts and email: +17
    lead_rescore(lead=lead)
    assert lead.score == 40 + 15 + 5 + 10 + 17

    # The reply hook queues the rescore, by name, once the reply is stored.
    with django_capture_on_commit_callbacks(execute=True):
        sms_reply_receive(from_phone=PHONE, body="Yes, call me after 5")

    assert factors(lead)["replied"] == 10
    assert lead.score == 87 + 10
    assert lead.history.latest().history_change_reason == "Rescored"


def test_a_lead_that_called_counts_as_calling_back_and_an_opened_flag_from_the_source_does_not(
    source,
):
    lead = LeadFactory(source=source, extra={"email_opened": True})
    ContactAttempt.objects.create(lead=lead, channel="call", direction=Direction.INBOUND)
    ContactAttempt.objects.create(lead=lead, channel="call", direction=Direction.OUTBOUND)

    lead_rescore(lead=lead)

    assert factors(lead)["called back"] == 15
    assert "replied" not in factors(lead) and "opened an email" not in factors(lead)


def test_outbound_texts_are_no_engagement(source):
    lead = LeadFactory(source=source)
    ContactAttempt.objects.create(lead=lead, channel="sms", direction=Direction.OUTBOUND)

    lead_rescore(lead=lead)

    assert "replied" not in factors(lead)


# Rescoring many leads: an RQ job with progress


def _stale(**fields) -> Lead:
    lead = LeadFactory(phone_type="mobile", **fields)
    Lead.objects.filter(pk=lead.pk).update(score=0, score_factors=[])
    return lead


def test_the_rescore_action_rescores_every_selected_lead_and_its_page_says_done(
    manager_client, manager, django_capture_on_commit_callbacks
):
    selected = [_stale(), _stale(), _stale(status=LeadStatus.WON)]
    left_alone = _stale()

    with django_capture_on_commit_callbacks(execute=True):
        started = manager_client.post(
            reverse("admin:leads_lead_changelist"),
            {"action": "rescore_leads", "_selected_action": [lead.pk for lead in selected]},
        )
    run_rq_jobs()
    page = manager_client.get(started["Location"])

    assert started.status_code == 302
    assert re.fullmatch(r"/admin/leads/scoringfactor/rescore/rescore-\w+/", started["Location"])
    text = page.content.decode()
    assert "Done:" in text and "rescored 3 leads; 3 scores changed" in text
    assert 'http-equiv="refresh"' not in text
    for lead in selected:
        lead.refresh_from_db()
        assert (lead.score, lead.score_factors) == (
            75,
            lead_score(lead=lead, consent_channels=set()).as_stored(),
        )
        rescored = lead.history.latest()
        assert (rescored.history_change_reason, rescored.history_user) == ("Rescored", manager)
    opened, _, won = selected
    assert opened.priority == NEVER_ATTEMPTED + 75  # its place in the queue follows the score
    assert won.priority == 0
    left_alone.refresh_from_db()
    assert left_alone.score == 0
    forget_job(started["Location"])


def test_rescore_all_open_leads_from_the_factors_page(
    manager_client, django_capture_on_commit_callbacks
):
    open_leads = [_stale(), _stale(status=LeadStatus.CONTACTED)]
    closed = _stale(status=LeadStatus.LOST)
    changelist = manager_client.get(
        reverse("admin:leads_scoringfactor_changelist")
    ).content.decode()
    confirm = manager_client.get(reverse("admin:leads_scoringfactor_rescore")).content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        started = manager_client.post(reverse("admin:leads_scoringfactor_rescore"))
    run_rq_jobs()
    page = manager_client.get(started["Location"]).content.decode()

    assert "Rescore all open leads" in changelist
    assert "Rescore 2 leads" in confirm
    assert "rescored 2 leads; 2 scores changed" in page
    assert [Lead.objects.get(pk=lead.pk).score for lead in open_leads] == [75, 75]
    assert Lead.objects.get(pk=closed.pk).score == 0
    forget_job(started["Location"])


def test_the_progress_page_refreshes_itself_until_the_job_is_done(manager_client):
    queue = rq_queue("default")
    job = queue.create_job("builtins.print", job_id="rescore-halfway")
    job.meta["progress"] = {"done": 1000, "total": 2500}
    job.save()
    job.set_status(JobStatus.STARTED)
    try:
        page = manager_client.get(
            reverse("admin:leads_scoringfactor_rescore_progress", args=[job.id])
        ).content.decode()
    finally:
        job.delete()

    assert "Rescored 1,000 of 2,500 leads (40%)" in page
    assert 'http-equiv="refresh"' in page


@pytest.mark.parametrize("job_id", ["rescore-gone", "import-1"])
def test_the_progress_page_of_no_rescore_is_not_found(manager_client, job_id):
    page = manager_client.get(reverse("admin:leads_scoringfactor_rescore_progress", args=[job_id]))

    assert page.status_code == 404


def test_the_bulk_rescore_goes_by_chunks_and_reports_each(monkeypatch, source):
    monkeypatch.setattr(scoring, "RESCORE_CHUNK", 2)
    leads = [_stale(source=source) for _ in range(5)]
    lead_rescore(lead=leads[4])  # right already: not saved again
    reports = []

    count = leads_rescore(
        leads=Lead.objects.filter(pk__in=[lead.pk for lead in leads]),
        progress=lambda *, rescored, done, total: reports.append((len(rescored), done, total)),
    )

    assert count == 5
    assert reports == [(0, 0, 5), (2, 2, 5), (2, 4, 5), (0, 5, 5)]
    assert {lead.score for lead in Lead.objects.filter(source=source)} == {75}


def test_the_fast_lane_reads_a_sources_record_once_per_cache_period(settings, source):
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from leads.scoring import source_stats_cached

    settings.SOURCE_STATS_CACHE_SECONDS = 600
    key = f"leadline:source-stats:{source.pk}"
    cache.delete(key)
    try:
        first = source_stats_cached(source_id=source.pk)
        with CaptureQueriesContext(connection) as again:
            assert source_stats_cached(source_id=source.pk) == first
        assert len(again) == 0
    finally:
        cache.delete(key)
