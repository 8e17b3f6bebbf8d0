"""Answer the sources' single-lead POSTs ahead of the browser middleware."""

from functools import cache

from django.urls import get_script_prefix, reverse

from leads.api.views import plain_lead_post


@cache
def _intake_path(script_prefix: str) -> str:
    return reverse("api_lead_create")


class LeadIntakeMiddleware:
    """Answer a source's plain JSON POST of one lead before sessions, CSRF, authentication,
    messages and the other middleware meant for people in browsers.

    A source authenticates with its key and uses none of them, and on this path they cost
    about a sixth of the request. Place it right after SecurityMiddleware, which still
    redirects to HTTPS and sets its headers. Anything this does not answer (form posts, other
    paths, unknown keys) goes down the whole stack to the API views as usual.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method == "POST" and request.path == _intake_path(get_script_prefix()):
            request.get_host()  # ALLOWED_HOSTS, as CommonMiddleware would check it
            response = plain_lead_post(request)
            if response is not None:
                return response
        return self.get_response(request)
