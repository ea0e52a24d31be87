"""Fixtures for the detection tests."""

import pytest

from tests.support.fake_detector import FakeDetector


@pytest.fixture
def server():
    """A local detection server speaking both real wire formats (tests/support/fake_detector.py)."""
    fake = FakeDetector().start()
    yield fake
    fake.stop()
