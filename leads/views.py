from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render

from leads.selectors import lead_for_rep_or_404, leads_for_rep


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
    context = {
        "lead": lead,
        "consents": lead.consents.all(),
        "attempts": lead.attempts.select_related("rep")[:100],
        "suppressions": lead.suppressions.all(),
    }
    return render(request, "leads/lead_detail.html", context)
