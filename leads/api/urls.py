from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView

from leads.api.feedback import ConversionCreateView, ReturnCreateView
from leads.api.views import LeadBatchIntakeView, LeadIntakeView

urlpatterns = [
    path("leads/", LeadIntakeView.as_view(), name="api_lead_create"),
    path("leads/batch/", LeadBatchIntakeView.as_view(), name="api_lead_batch_create"),
    path("conversions/", ConversionCreateView.as_view(), name="api_conversion_create"),
    path("returns/", ReturnCreateView.as_view(), name="api_return_create"),
    path("schema/", SpectacularAPIView.as_view(), name="api_schema"),
    path("docs/", SpectacularRedocView.as_view(url_name="api_schema"), name="api_docs"),
]
