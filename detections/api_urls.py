"""Media under /api/: the files behind the events, by id (detections/api_media.py)."""

urlpatterns: list = []
