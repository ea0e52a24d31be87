"""Media under /api/: the files behind the events, by id (detections/api_media.py).
Nothing in these URLs is ever used as a path: ids are integers (camera ids slugs) that
lead to rows; any other URL is no route at all, and gets the API's 404."""

from django.urls import path

from detections import api_media

urlpatterns = [
    path("media/originals/<int:ingest_id>", api_media.original, name="api-media-original"),
    path("media/clips/<int:ingest_id>", api_media.clip, name="api-media-clip"),
    path("media/thumbnails/<int:detection_id>.jpg", api_media.thumbnail, name="api-media-thumbnail"),
    path("media/previews/<int:detection_id>.jpg", api_media.preview, name="api-media-preview"),
    path("cameras/<slug:camera_id>/latest.jpg", api_media.camera_latest, name="api-camera-latest"),
]
