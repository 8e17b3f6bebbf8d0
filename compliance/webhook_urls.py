from django.urls import path

from compliance.webhooks import sms_inbound

urlpatterns = [path("webhooks/sms/inbound/", sms_inbound, name="sms_inbound")]
