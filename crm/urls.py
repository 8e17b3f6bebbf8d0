from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from crm.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("leads.api.urls")),
    path("", include("leads.urls")),
    path("", include("compliance.urls")),
    path("", include("compliance.webhook_urls")),
    path("webhooks/voice/", include("leads.voice.urls")),
    path("", include("leads.cadences.urls")),
]
