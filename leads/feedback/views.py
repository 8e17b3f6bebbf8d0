"""Pages of the feedback stage served to people: a lead's evidence pack, and its return."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.http import require_POST

from leads.feedback.evidence import evidence_file_name, lead_evidence_pack
from leads.feedback.returns import (
    NOTE_MAX_LENGTH,
    ReturnError,
    return_reasons_allowed,
    return_request,
    return_window_closes_at,
)
from leads.models import Lead, ReturnOrigin, ReturnStatus
from leads.selectors import lead_for_rep_or_404


class ReturnForm(forms.Form):
    reason = forms.ChoiceField(label="Reason")
    note = forms.CharField(
        label="What happened",
        required=False,
        max_length=NOTE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args, lead: Lead, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reason"].choices = return_reasons_allowed(source=lead.source)


def lead_return_context(*, lead: Lead) -> dict:
    """What the lead page shows about returning the lead: its return, or the form."""
    lead_return = lead.returns.select_related("requested_by").first()
    closes_at = return_window_closes_at(lead)
    may_ask = (
        (lead_return is None or lead_return.status == ReturnStatus.REJECTED)
        and bool(lead.source.allowed_return_reasons)
        and timezone.now() <= closes_at
    )
    return {
        "lead_return": lead_return,
        "return_closes_at": closes_at,
        "return_form": ReturnForm(lead=lead, prefix="return") if may_ask else None,
    }


@login_required
@require_POST
def lead_return_request(request, lead_id: int):
    """The rep or a manager asks the lead's source to take it back."""
    lead = lead_for_rep_or_404(rep=request.user, lead_id=lead_id)
    form = ReturnForm(request.POST, lead=lead, prefix="return")
    if not form.is_valid():
        for field, errors in form.errors.items():
            messages.error(request, f"{form.fields[field].label}: {errors[0]}")
        return redirect("lead_detail", lead_id=lead.pk)
    origin = ReturnOrigin.REP if hasattr(request.user, "rep_profile") else ReturnOrigin.ADMIN
    try:
        lead_return = return_request(
            lead=lead,
            reason=form.cleaned_data["reason"],
            note=form.cleaned_data["note"],
            origin=origin,
            by=request.user,
        )
    except ReturnError as error:
        messages.error(request, f"Not returned: {str(error).partition(': ')[2] or error}")
        return redirect("lead_detail", lead_id=lead.pk)
    messages.success(
        request,
        f"Return asked of {lead.source.name} ({lead_return.get_reason_display().lower()}); "
        f"${lead_return.credit:,.2f} is credited once they accept.",
    )
    return redirect("lead_detail", lead_id=lead.pk)


@login_required
def lead_evidence_download(request, lead_id: int):
    """Download the lead's evidence pack (its rep, or a manager; another rep gets a 404)."""
    lead = lead_for_rep_or_404(rep=request.user, lead_id=lead_id)
    response = HttpResponse(lead_evidence_pack(lead=lead), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{evidence_file_name(lead)}"'
    response["Cache-Control"] = "no-store"
    return response
