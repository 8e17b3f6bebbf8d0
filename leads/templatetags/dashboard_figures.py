from django import template

from leads.feedback.dashboard import PERMISSION, as_of_text, today_figures

register = template.Library()


@register.inclusion_tag("admin/leads/_today_figures.html", takes_context=True)
def today_key_figures(context):
    """Today's key figures and a link to the dashboard, for managers on the admin's home."""
    user = context["request"].user
    if not user.has_perm(PERMISSION):
        return {"allowed": False}
    figures = today_figures()
    return {"allowed": True, **figures, "as_of": as_of_text(figures["as_of"], user)}
