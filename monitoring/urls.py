"""The household's pages of monitoring (Django templates; writes are POSTs with CSRF)."""

from django.urls import URLPattern, path  # noqa: F401 (the pages add their routes here)

app_name = "monitoring"
urlpatterns: list[URLPattern] = []
