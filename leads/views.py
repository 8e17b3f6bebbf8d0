from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from compliance.gate import decide
from compliance.models import SuppressionOrigin, SuppressionScope
from compliance.suppressions import suppression_add
from leads.choices import Channel
from leads.selectors import lead_for_rep_or_404, leads_for_rep

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
    }
    return render(request, "leads/lead_detail.html", context)


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
