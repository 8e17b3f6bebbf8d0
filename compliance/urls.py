from django.urls import path

from compliance import views

app_name = "compliance"

urlpatterns = [
    path("u/<str:token>/", views.unsubscribe, name="unsubscribe"),
]
