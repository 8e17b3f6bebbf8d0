from django.urls import path

from leads.cadences.webhooks import sms_status

urlpatterns = [path("webhooks/sms/status/<str:token>/", sms_status, name="sms_status")]
