"""The operator console lists detection work, and retries failed runs."""

import pytest
from django.contrib.auth import get_user_model

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path",
    [
        "/admin/detections/detectionrun/",
        "/admin/detections/detection/",
        "/admin/detections/clip/",
        "/admin/core/breaker/",
        "/admin/cameras/ingest/",
        "/admin/cameras/camera/",
        "/admin/cameras/ftpaccount/add/",
    ],
)
def test_the_console_pages_open_for_an_admin(client, path):
    client.force_login(get_user_model().objects.create_superuser("root", password="root-pass-123"))
    assert client.get(path).status_code == 200
