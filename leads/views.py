from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from compliance.gate import decide
from compliance.suppressions import STOP_REQUESTS, stop_request_record
from leads.choices import Channel
from leads.models import ContactAttempt, Disposition, TouchStatus
from leads.scoring import score_breakdown
from leads.selectors import lead_for_rep_or_404, leads_for_rep, open_call_of_rep
from leads.templatetags.lead_time import local_at
from leads.touches import decision_explained, touch_schedule
from leads.workspace.calls import call_outcome_record, call_start
from leads.workspace.queue import lead_claim_next, next_callable_at


@login_required
def home(request):
    if request.user.is_staff and not hasattr(request.user, "rep_profile"):
        return redirect("admin:index")
    return redirect("my_leads")


@login_required
def my_leads(request):
    page = Paginator(leads_for_rep(rep=request.user), 50).get_page(request.GET.get("page"))
    return render(request, "leads/my_leads.html", {"page": page})


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


@login_required
def lead_detail(request, lead_id: int):
    lead = lead_for_rep_or_404(rep=request.user, lead_id=lead_id)
    now = timezone.now()
    context = {
        "lead": lead,
        "score_breakdown": score_breakdown(lead=lead),
        "contact_status": [
            (Channel.CALL.label, decide(lead, Channel.CALL, now, automated=False)),
            ("Automated text", decide(lead, Channel.SMS, now, automated=True)),
            ("Marketing email", decide(lead, Channel.EMAIL, now)),
        ],
        "consents": lead.consents.all(),
        "attempts": lead.attempts.select_related("rep")[:100],
        "suppressions": lead.suppressions.all(),
        "touches": lead.touches.all()[:50],
        "text_form": TextForm(),
        "email_form": EmailForm(),
        "outcome_form": OutcomeForm(),
        "open_call": open_call_of_rep(lead=lead, rep=request.user),
    }
    return render(request, "leads/lead_detail.html", context)


class TextForm(forms.Form):
    body = forms.CharField(
        label="Text message", max_length=640, widget=forms.Textarea(attrs={"rows": 3})
    )


class EmailForm(forms.Form):
    subject = forms.CharField(max_length=200)
    body = forms.CharField(label="Message", widget=forms.Textarea(attrs={"rows": 6}))


class OutcomeForm(forms.Form):
    disposition = forms.ChoiceField(label="Outcome", choices=Disposition.choices)
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


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
    form = OutcomeForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Outcome: choose how the call ended.")
        return redirect("lead_detail", lead_id=lead.pk)
    call_outcome_record(
        attempt=attempt,
        disposition=form.cleaned_data["disposition"],
        notes=form.cleaned_data["notes"],
        rep=request.user,
    )
    messages.success(request, f"Outcome recorded: {attempt.get_disposition_display()}.")
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
