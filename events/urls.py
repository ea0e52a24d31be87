"""The household's pages of events (Django templates; writes are POSTs with CSRF)."""

from django.urls import path

from events import views

app_name = "events"
urlpatterns = [
    path("events/", views.timeline, name="timeline"),
    path("events/review", views.review_bulk, name="review_bulk"),
    path("events/<int:pk>/", views.detail, name="detail"),
    path("events/<int:pk>/row", views.row, name="row"),
    path("events/<int:pk>/review", views.review, name="review"),
    path("events/<int:pk>/reassess", views.reassess, name="reassess"),
]
