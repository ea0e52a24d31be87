"""The household's pages of monitoring (Django templates; writes are POSTs with CSRF)."""

from django.urls import URLPattern, path

from monitoring import views

app_name = "monitoring"
urlpatterns: list[URLPattern] = [
    path("system/", views.system, name="system"),
    path("system/charts.json", views.system_charts_json, name="system_charts"),
]
