import zoneinfo

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from compliance.gate import decide_many
from compliance.suppressions import STOP_REQUESTS, stop_request_record
from leads.cadences.engine import CadenceError, cadence_pause, cadence_plan, cadence_resume
from leads.cadences.touches import decision_explained, touch_schedule
from leads.choices import Channel
from leads.feedback.views import lead_return_context
from leads.models import ContactAttempt, Disposition, TouchStatus
from leads.scoring import score_breakdown
from leads.selectors import lead_for_rep_or_404, leads_for_rep, open_call_of_rep
from leads.templatetags.lead_time import local_at
from leads.workspace.alerts import alerts_mark_seen, alerts_unseen
from leads.workspace.calls import (
    ActionError,
    call_outcome_record,
    call_start,
    callback_schedule,
    do_not_contact_mark,
    note_add,
)
from leads.workspace.queue import (
    lead_claim_next,
    leads_queue_refresh,
    next_callable_at,
    queue_rows,
)
from leads.workspace.timeline import lead_timeline


@login_required
def home(request):
    if request.user.is_staff and not hasattr(request.user, "rep_profile"):
        return redirect("admin:index")
    return redirect("my_leads")


@login_required
def my_leads(request):
    """The rep's queue, in the order "next lead" takes it; htmx polls it for the live view."""
    page = Paginator(leads_for_rep(rep=request.user), 50).get_page(request.GET.get("page"))
    rows = queue_rows(leads=list(page.object_list))
    context = {
        "page": page,
        "rows": rows,
        "alerts": alerts_unseen(user=request.user),
        "is_rep": hasattr(request.user, "rep_profile"),
        "poll_seconds": settings.QUEUE_POLL_SECONDS,
    }
    if request.htmx:
        return render(request, "leads/_queue.html", context)
    return render(request, "leads/my_leads.html", context)


@login_required
@require_POST
def alerts_seen(request):
    """The rep dismissed their alerts."""
    alerts_mark_seen(user=request.user)
    if request.htmx:
        return HttpResponse("")
    return redirect("my_leads")


@login_required
@require_POST
def lead_next(request):
    """Claim the best lead this rep may call now and open it; else say when one will be."""
    if not hasattr(request.user, "rep_profile"):
        messages.error(request, "Only reps take leads from the queue.")
        return redirect("my_leads")
    lead = lead_claim_next(rep_user=request.user)
    if lead is not None:
        return redirect("lead_detail", lead_id=lead.pk)
    when = next_callable_at(rep_user=request.user)
    if when is None:
        messages.info(request, "No lead may be called now, and none is waiting for its hours.")
    else:
        messages.info(
            request,
            f"No lead may be called now. The next one may be called from "
            f"{timezone.localtime(when):%a %b %-d, %H:%M %Z}.",
        )
    return redirect("my_leads")


def _zone_of(lead, user) -> str:
    """The zone a rep types a lead's times in: the lead's own, else the rep's."""
    profile = getattr(user, "rep_profile", None)
    return lead.time_zone or (profile.time_zone if profile else "UTC")


@login_required
def lead_detail(request, lead_id: int):
    lead = lead_for_rep_or_404(rep=request.user, lead_id=lead_id)
    now = timezone.now()
    (call,) = decide_many([(lead, Channel.CALL, now)], automated=False)
    text, email = decide_many([(lead, Channel.SMS, now), (lead, Channel.EMAIL, now)])
    zone = _zone_of(lead, request.user)
    enrollment, cadence_touches = cadence_plan(lead=lead)
    context = {
        "lead": lead,
        "score_breakdown": score_breakdown(lead=lead),
        "contact_status": [
            (Channel.CALL.label, call),
            ("Automated text", text),
            ("Marketing email", email),
        ],
        "consents": lead.consents.all(),
        "timeline": lead_timeline(lead=lead),
        "conversions": lead.conversions.all(),
        "callback": lead.touches.filter(
            channel=Channel.CALL, status=TouchStatus.SCHEDULED, created_by__isnull=False
        ).first(),
        "enrollment": enrollment,
        "cadence_touches": cadence_touches,
        "text_form": TextForm(),
        "email_form": EmailForm(),
        "outcome_form": OutcomeForm(zone=zone),
        "note_form": NoteForm(prefix="note"),
        "callback_form": CallbackForm(zone=zone, prefix="callback"),
        "form_zone": zone,
        "open_call": open_call_of_rep(lead=lead, rep=request.user),
        **lead_return_context(lead=lead),
    }
    return render(request, "leads/lead_detail.html", context)


class TextForm(forms.Form):
    body = forms.CharField(
        label="Text message", max_length=640, widget=forms.Textarea(attrs={"rows": 3})
    )


class EmailForm(forms.Form):
    subject = forms.CharField(max_length=200)
    body = forms.CharField(label="Message", widget=forms.Textarea(attrs={"rows": 4}))


class _InZone(forms.Form):
    """A form whose times are typed in a lead's own zone (the label says which)."""

    def __init__(self, *args, zone: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.zone = zone
        self.fields["callback_at"].help_text = f"Their time ({zone})."

    def full_clean(self):
        with timezone.override(zoneinfo.ZoneInfo(self.zone)):
            super().full_clean()


LOCAL_INPUT = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class OutcomeForm(_InZone):
    disposition = forms.ChoiceField(label="Outcome", choices=Disposition.choices)
    callback_at = forms.DateTimeField(
        label="Call back at", required=False, widget=LOCAL_INPUT, input_formats=["%Y-%m-%dT%H:%M"]
    )
    revenue = forms.DecimalField(
        label="Sale amount ($)", required=False, min_value=0, max_digits=12, decimal_places=2
    )
    notes = forms.CharField(
        required=False, max_length=4000, widget=forms.Textarea(attrs={"rows": 2})
    )


class CallbackForm(_InZone):
    callback_at = forms.DateTimeField(
        label="Call back at", widget=LOCAL_INPUT, input_formats=["%Y-%m-%dT%H:%M"]
    )
    note = forms.CharField(required=False, max_length=300)


class NoteForm(forms.Form):
    body = forms.CharField(label="Note", max_length=4000, widget=forms.Textarea(attrs={"rows": 2}))


def _form_errors(request, form) -> None:
    for field, errors in form.errors.items():
        label = form.fields[field].label if field in form.fields else "Form"
        messages.error(request, f"{label or field.title()}: {errors[0]}")


def _when(lead, moment) -> str:
    """An instant in UTC, and in the lead's own time when its zone is known."""
    their_time = local_at(lead, moment)
    return f"{moment:%b %d %H:%M} UTC" + (f" ({their_time} their time)" if their_time else "")


TOUCH_FORMS = {Channel.SMS: TextForm, Channel.EMAIL: EmailForm}
TOUCH_NAMES = {Channel.SMS: "text message", Channel.EMAIL: "email"}


@login_required
@require_POST
def lead_touch_create(request, lead_id: int, channel: str):
    """Send a text or an email the rep wrote, through the compliance gate."""
    lead = lead_for_rep_or_404(rep=request.user, lead_id=lead_id)
    if channel not in TOUCH_FORMS:
        raise Http404("Unknown channel.")
    form = TOUCH_FORMS[channel](request.POST)
    if not form.is_valid():
        for field, errors in form.errors.items():
            messages.error(request, f"{form.fields[field].label or field.title()}: {errors[0]}")
        return redirect("lead_detail", lead_id=lead.pk)
    touch = touch_schedule(
        lead=lead,
        channel=channel,
        body=form.cleaned_data["body"],
        subject=form.cleaned_data.get("subject", ""),
        created_by=request.user,
    )
    touch.refresh_from_db()
    what = TOUCH_NAMES[channel]
    if touch.status == TouchStatus.BLOCKED:
        messages.error(request, f"Not sent: the {what} is not allowed. {touch.status_note}")
    elif touch.status == TouchStatus.SCHEDULED:
        when = _when(lead, touch.due_at)
        messages.warning(request, f"The {what} will go at {when}. {touch.status_note}")
    elif touch.status == TouchStatus.FAILED:
        messages.error(request, f"The {what} could not be sent. {touch.status_note}")
    else:
        messages.success(request, f"The {what} is on its way.")
    return redirect("lead_detail", lead_id=lead.pk)


@login_required
@require_POST
def lead_call_start(request, lead_id: int):
    """Ask the gate before the rep dials; log the call when allowed."""
    lead = lead_for_rep_or_404(rep=request.user, lead_id=lead_id)
    decision, attempt = call_start(lead=lead, rep=request.user)
    if attempt is None:
        when = decision.next_allowed_at
        allowed_from = f" Allowed from {_when(lead, when)}." if when else ""
        messages.error(request, f"Do not call now. {decision_explained(decision)}{allowed_from}")
    else:
        messages.success(request, f"Call logged. Dial {lead.phone.as_national} now.")
    return redirect("lead_detail", lead_id=lead.pk)


@login_required
@require_POST
def lead_call_outcome(request, lead_id: int, attempt_id: int):
    """Record how the rep's call ended."""
    lead = lead_for_rep_or_404(rep=request.user, lead_id=lead_id)
    attempt = get_object_or_404(
        ContactAttempt, pk=attempt_id, lead=lead, rep=request.user, channel=Channel.CALL
    )
    form = OutcomeForm(request.POST, zone=_zone_of(lead, request.user))
    if not form.is_valid():
        _form_errors(request, form)
        return redirect("lead_detail", lead_id=lead.pk)
    try:
        call_outcome_record(
            attempt=attempt,
            disposition=form.cleaned_data["disposition"],
            notes=form.cleaned_data["notes"],
            rep=request.user,
            callback_at=form.cleaned_data["callback_at"],
            revenue=form.cleaned_data["revenue"],
        )
    except ActionError as error:
        messages.error(request, f"{form.fields[error.field].label}: {error}")
        return redirect("lead_detail", lead_id=lead.pk)
    messages.success(request, f"Outcome recorded: {attempt.get_disposition_display()}.")
    return redirect("lead_detail", lead_id=lead.pk)


@login_required
@require_POST
def lead_callback_create(request, lead_id: int):
    """Plan a callback at the time the lead asked for, typed in their time."""
    lead = lead_for_rep_or_404(rep=request.user, lead_id=lead_id)
    form = CallbackForm(request.POST, zone=_zone_of(lead, request.user), prefix="callback")
    if not form.is_valid():
        _form_errors(request, form)
        return redirect("lead_detail", lead_id=lead.pk)
    try:
        touch = callback_schedule(
            lead=lead,
            due_at=form.cleaned_data["callback_at"],
            rep=request.user,
            note=form.cleaned_data["note"],
        )
    except ActionError as error:
        messages.error(request, f"Call back at: {error}")
        return redirect("lead_detail", lead_id=lead.pk)
    messages.success(request, f"Callback planned for {_when(lead, touch.due_at)}.")
    return redirect("lead_detail", lead_id=lead.pk)


@login_required
@require_POST
def lead_note_create(request, lead_id: int):
    lead = lead_for_rep_or_404(rep=request.user, lead_id=lead_id)
    form = NoteForm(request.POST, prefix="note")
    if not form.is_valid():
        _form_errors(request, form)
        return redirect("lead_detail", lead_id=lead.pk)
    try:
        note_add(lead=lead, author=request.user, body=form.cleaned_data["body"])
    except ActionError as error:
        messages.error(request, f"Note: {error}")
    else:
        messages.success(request, "Note added.")
    return redirect("lead_detail", lead_id=lead.pk)


@login_required
@require_POST
def lead_do_not_contact(request, lead_id: int):
    """The lead asked never to be contacted again: opt out every channel, close the lead."""
    lead = lead_for_rep_or_404(rep=request.user, lead_id=lead_id)
    do_not_contact_mark(lead=lead, rep=request.user)
    messages.success(request, "Marked do not contact: no more calls, texts or emails.")
    return redirect("lead_detail", lead_id=lead.pk)


@login_required
@require_POST
def lead_stop_request(request, lead_id: int, kind: str):
    """Record a lead's request to stop, said on a call or written in an email reply."""
    lead = lead_for_rep_or_404(rep=request.user, lead_id=lead_id)
    if kind not in STOP_REQUESTS:
        raise Http404("Unknown kind of request.")
    if stop_request_record(lead=lead, kind=kind, recorded_by=request.user) is None:
        field_name = STOP_REQUESTS[kind][0]
        messages.error(request, f"This lead has no {field_name} to opt out.")
        return redirect("lead_detail", lead_id=lead.pk)
    messages.success(request, "Recorded: no more marketing to this lead on any channel.")
    return redirect("lead_detail", lead_id=lead.pk)


CADENCE_ACTIONS = {"pause": (cadence_pause, "paused"), "resume": (cadence_resume, "resumed")}


@login_required
@require_POST
def lead_cadence_action(request, lead_id: int, action: str):
    """Pause the lead's cadence, or resume it with its remaining steps planned from now."""
    lead = lead_for_rep_or_404(rep=request.user, lead_id=lead_id)
    if action not in CADENCE_ACTIONS:
        raise Http404("Unknown cadence action.")
    act, done = CADENCE_ACTIONS[action]
    try:
        with transaction.atomic():
            act(lead=lead, by=request.user)
            # Its held or replanned call tasks change where the lead stands in the queue.
            leads_queue_refresh(leads=[lead])
    except CadenceError as error:
        messages.error(request, f"Follow-up: {error}")
    else:
        messages.success(request, f"Follow-up {done}.")
    return redirect("lead_detail", lead_id=lead.pk)
