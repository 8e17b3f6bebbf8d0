from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from compliance.gate import decide
from compliance.models import SuppressionOrigin, SuppressionScope
from compliance.suppressions import suppression_add
from leads.choices import Channel
from leads.models import ContactAttempt, Direction, Disposition, TouchStatus
from leads.selectors import lead_for_rep_or_404, leads_for_rep
from leads.templatetags.lead_time import local_at
from leads.touches import call_start, touch_schedule

# What a rep can record in one click when a lead asks to stop: (field, scope, reason).
STOP_REQUESTS = {
    "verbal": ("phone", SuppressionScope.CALL, 'Said "stop calling me" on a call'),
    "email_reply": ("email", SuppressionScope.EMAIL, "Asked to stop in an email reply"),
}


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
def lead_detail(request, lead_id: int):
    lead = lead_for_rep_or_404(rep=request.user, lead_id=lead_id)
    now = timezone.now()
    context = {
        "lead": lead,
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
        "open_call": _open_call(lead, request.user),
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


def _open_call(lead, rep) -> ContactAttempt | None:
    """The rep's latest call to this lead that has no outcome yet."""
    return (
        lead.attempts.filter(
            rep=rep, channel=Channel.CALL, direction=Direction.OUTBOUND, disposition=""
        )
        .order_by("-started_at")
        .first()
    )


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
        their_time = local_at(lead, touch.due_at)
        when = f"{touch.due_at:%b %d %H:%M} UTC" + (
            f" ({their_time} their time)" if their_time else ""
        )
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
        when = (
            f" Allowed from {decision.next_allowed_at:%b %d %H:%M} UTC."
            if decision.next_allowed_at
            else ""
        )
        messages.error(
            request,
            "Do not call now. " + " ".join(r.message for r in decision.reasons) + when,
        )
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
    attempt.disposition = form.cleaned_data["disposition"]
    attempt.notes = form.cleaned_data["notes"]
    attempt.ended_at = attempt.ended_at or max(timezone.now(), attempt.started_at)
    attempt.save()
    if attempt.disposition == Disposition.DO_NOT_CONTACT and lead.phone:
        _, scope, reason = STOP_REQUESTS["verbal"]
        suppression_add(
            origin=SuppressionOrigin.REP,
            phone=str(lead.phone),
            scope=scope,
            reason=reason,
            lead=lead,
            recorded_by=request.user,
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
    field, scope, reason = STOP_REQUESTS[kind]
    address = str(getattr(lead, field) or "")
    if not address:
        messages.error(request, f"This lead has no {field} to opt out.")
        return redirect("lead_detail", lead_id=lead.pk)
    suppression_add(
        origin=SuppressionOrigin.REP,
        scope=scope,
        reason=reason,
        lead=lead,
        recorded_by=request.user,
        **{field: address},
    )
    messages.success(request, "Recorded: no more marketing to this lead on any channel.")
    return redirect("lead_detail", lead_id=lead.pk)
