"""Cadence messages: subject and body templates (Django syntax) rendered over plain values.

The context holds strings, never model instances, so a template reaches nothing but what is
listed in `context_for`. Autoescape is off: texts and plain-text emails are not HTML.
A template with a syntax error is refused when a manager saves it (`template_check`);
rendering at send time never raises: a broken template falls back to a safe message.
"""

import logging

from django.conf import settings
from django.template import Context, Engine, TemplateSyntaxError

logger = logging.getLogger(__name__)

# How long a rendered message may be; longer ones are cut.
SMS_MAX = 640
EMAIL_MAX = 20_000
SUBJECT_MAX = 200
TEMPLATE_MAX = 5_000


class _CadenceEngine(Engine):
    # No default tags, filters or loaders: only leads.cadences.template_library.
    default_builtins = []


ENGINE = _CadenceEngine(
    loaders=[],
    autoescape=False,
    builtins=["leads.cadences.template_library"],
    string_if_invalid="",
)


def template_check(source: str) -> None:
    """Raise TemplateSyntaxError naming what is wrong with a message template."""
    if len(source) > TEMPLATE_MAX:
        raise TemplateSyntaxError(f"A template has at most {TEMPLATE_MAX:,} characters.")
    if "\x00" in source:
        raise TemplateSyntaxError("A template cannot contain NUL characters.")
    ENGINE.from_string(source)


def business_context() -> dict[str, str]:
    """The business as templates see it."""
    return {
        "name": settings.BUSINESS_NAME,
        "phone": getattr(settings, "BUSINESS_PHONE", ""),
        "postal_address": settings.BUSINESS_POSTAL_ADDRESS,
    }


def context_for(*, lead) -> dict[str, dict[str, str]]:
    """The plain values a cadence template may name: lead, rep and business."""
    rep = lead.owner
    return {
        "lead": {
            "first_name": lead.first_name,
            "last_name": lead.last_name,
            "full_name": lead.full_name,
            "city": lead.city,
            "state": lead.state,
            "product": lead.product,
            "source": lead.source.name if lead.source_id else "",
        },
        "rep": {
            "first_name": rep.first_name if rep else "",
            "full_name": (rep.get_full_name() or rep.get_username()) if rep else "",
        },
        "business": business_context(),
    }


def fallback_message(*, kind: str) -> str:
    """A safe message for when a template cannot be rendered."""
    name = settings.BUSINESS_NAME or "us"
    if kind == "subject":
        return f"Your request to {name}"
    return f"Hi, this is {name}. Thanks for your request: we will be in touch shortly."


def message_render(*, source: str, context: dict, kind: str = "body", limit: int = SMS_MAX) -> str:
    """Render a message template; never raises: falls back to a safe message and logs.

    An empty template renders as empty (a step without a message); one that renders to
    nothing but whitespace falls back too, so no blank text is ever sent.
    """
    if not source.strip():
        return ""
    try:
        template_check(source)
        text = ENGINE.from_string(source).render(Context(context, autoescape=False))
    except Exception:
        logger.exception("A cadence template could not be rendered; sending the fallback")
        return fallback_message(kind=kind)
    text = text.replace("\x00", "").strip()
    if kind == "subject":
        text = " ".join(text.split())  # a subject is one line: no header injection
    if not text:
        return fallback_message(kind=kind)
    return text[:limit]
