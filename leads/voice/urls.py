"""Twilio's webhooks for the lead-to-call bridge, under /webhooks/voice/."""

from django.urls import path

from leads.voice import views as voice_views

urlpatterns = [
    path("<str:token>/answer/", voice_views.rep_answer, name="voice_rep_answer"),
    path("<str:token>/choice/", voice_views.rep_choice, name="voice_rep_choice"),
    path("<str:token>/notice/", voice_views.lead_notice, name="voice_lead_notice"),
    path("<str:token>/lead-ended/", voice_views.lead_ended, name="voice_lead_ended"),
    path("<str:token>/status/", voice_views.rep_status, name="voice_rep_status"),
]
