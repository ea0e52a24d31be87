"""The operator console lists detection work, and retries failed runs."""

import pytest

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
def test_the_console_pages_open_for_an_admin(admin_client, path):
    assert admin_client.get(path).status_code == 200
