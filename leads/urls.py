from django.urls import path

from leads import views
from leads.feedback import views as feedback_views

urlpatterns = [
    path("", views.home, name="home"),
    path("leads/", views.my_leads, name="my_leads"),
    path("leads/next/", views.lead_next, name="lead_next"),
    path("leads/alerts/seen/", views.alerts_seen, name="alerts_seen"),
    path("leads/<int:lead_id>/notes/", views.lead_note_create, name="lead_note_create"),
    path("leads/<int:lead_id>/callback/", views.lead_callback_create, name="lead_callback_create"),
    path(
        "leads/<int:lead_id>/do-not-contact/",
        views.lead_do_not_contact,
        name="lead_do_not_contact",
    ),
    path("leads/<int:lead_id>/", views.lead_detail, name="lead_detail"),
    path(
        "leads/<int:lead_id>/evidence/",
        feedback_views.lead_evidence_download,
        name="lead_evidence_download",
    ),
    path(
        "leads/<int:lead_id>/return/",
        feedback_views.lead_return_request,
        name="lead_return_request",
    ),
    path(
        "leads/<int:lead_id>/stop/<slug:kind>/",
        views.lead_stop_request,
        name="lead_stop_request",
    ),
    path("leads/<int:lead_id>/call/", views.lead_call_start, name="lead_call_start"),
    path(
        "leads/<int:lead_id>/cadence/<slug:action>/",
        views.lead_cadence_action,
        name="lead_cadence_action",
    ),
    path(
        "leads/<int:lead_id>/call/<int:attempt_id>/outcome/",
        views.lead_call_outcome,
        name="lead_call_outcome",
    ),
    path(
        "leads/<int:lead_id>/send/<slug:channel>/",
        views.lead_touch_create,
        name="lead_touch_create",
    ),
]
