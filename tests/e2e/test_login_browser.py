"""Headless Chromium signs in through the real login page."""

import pytest
from django.contrib.auth import get_user_model

from homesec.core.services import user_set_role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_household_member_signs_in_through_the_login_page(live_server, page):
    user = get_user_model().objects.create_user("alex", password="correct-horse-42")
    user_set_role(user=user, role="viewer")

    page.goto(live_server.url + "/")
    assert "/accounts/login/" in page.url

    page.fill("#id_username", "alex")
    page.fill("#id_password", "wrong-password")
    page.click("button[type=submit]")
    assert page.locator("[role=alert]").inner_text() == "That user name and password do not match."

    page.fill("#id_username", "alex")
    page.fill("#id_password", "correct-horse-42")
    page.click("button[type=submit]")
    page.wait_for_url(live_server.url + "/")
    assert "Signed in as alex" in page.locator("main").inner_text()
    assert page.locator(".who").inner_text() == "alex (viewer)"
