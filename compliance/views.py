"""Public pages a contacted person reaches without logging in: the email unsubscribe."""

from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods

from compliance.unsubscribe import (
    InvalidUnsubscribeToken,
    business_name,
    email_unsubscribe,
    unsubscribe_token_read,
)


def mask_email(email: str) -> str:
    """Show enough of an address to recognise it, not enough to harvest it: j***@example.com."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


@csrf_exempt  # Only the one-click POST is exempt; the page and its form go through csrf_protect.
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe(request, token: str):
    # One-click (RFC 8058): mail clients POST "List-Unsubscribe=One-Click" with no cookies
    # and no CSRF token. The signed token is the authority, so this POST needs neither.
    if request.method == "POST" and request.POST.get("List-Unsubscribe") == "One-Click":
        return _one_click(token)
    return _unsubscribe_page(request, token)


def _one_click(token: str) -> HttpResponse:
    try:
        email_unsubscribe(token=token, via="one_click")
    except InvalidUnsubscribeToken:
        return HttpResponseBadRequest(
            "This unsubscribe link is not valid.", content_type="text/plain"
        )
    return HttpResponse("You're unsubscribed.", content_type="text/plain")


@csrf_protect
def _unsubscribe_page(request, token: str) -> HttpResponse:
    try:
        email, _lead_id = unsubscribe_token_read(token=token)
    except InvalidUnsubscribeToken:
        return render(request, "compliance/unsubscribe.html", {"invalid": True}, status=400)
    context = {"masked_email": mask_email(email), "business_name": business_name()}
    # A GET never unsubscribes: link scanners and previews fetch URLs nobody clicked.
    if request.method == "POST":
        email_unsubscribe(token=token, via="link")
        return render(request, "compliance/unsubscribed.html", context)
    return render(request, "compliance/unsubscribe.html", context)
