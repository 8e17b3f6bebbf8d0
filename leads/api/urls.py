from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView

from leads.api.buyer import ConversionCreateView, ReturnCreateView
from leads.api.exports import (
    FeedbackExportView,
    FeedbackFileDownloadView,
    FeedbackFileListView,
    FeedbackFileView,
)
from leads.api.views import LeadBatchIntakeView, LeadIntakeView

urlpatterns = [
    path("leads/", LeadIntakeView.as_view(), name="api_lead_create"),
    path("leads/batch/", LeadBatchIntakeView.as_view(), name="api_lead_batch_create"),
    path("feedback/", FeedbackExportView.as_view(), name="api_feedback_export"),
    path("feedback/files/", FeedbackFileListView.as_view(), name="api_feedback_files"),
    path("feedback/files/<str:file_id>/", FeedbackFileView.as_view(), name="api_feedback_file"),
    path(
        "feedback/files/<str:file_id>/download/",
        FeedbackFileDownloadView.as_view(),
        name="api_feedback_file_download",
    ),
    path("conversions/", ConversionCreateView.as_view(), name="api_conversion_create"),
    path("returns/", ReturnCreateView.as_view(), name="api_return_create"),
    path("schema/", SpectacularAPIView.as_view(), name="api_schema"),
    path("docs/", SpectacularRedocView.as_view(url_name="api_schema"), name="api_docs"),
]
