"""Pages of the feedback stage served to people: a lead's evidence pack."""

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse

from leads.feedback.evidence import evidence_file_name, lead_evidence_pack
from leads.selectors import lead_for_rep_or_404


@login_required
def lead_evidence_download(request, lead_id: int):
    """Download the lead's evidence pack (its rep, or a manager; another rep gets a 404)."""
    lead = lead_for_rep_or_404(rep=request.user, lead_id=lead_id)
    response = HttpResponse(lead_evidence_pack(lead=lead), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{evidence_file_name(lead)}"'
    response["Cache-Control"] = "no-store"
    return response
