"""Media by id: nothing in these URLs is ever used as a path."""

from django.urls import path

from detections import views

app_name = "detections"
urlpatterns = [
    path("media/previews/<int:detection_id>.jpg", views.preview, name="preview"),
    path("media/thumbnails/<int:detection_id>.jpg", views.thumbnail, name="thumbnail"),
    path("media/clips/<int:ingest_id>", views.clip, name="clip"),
    path("media/originals/<int:ingest_id>", views.original, name="original"),
]
