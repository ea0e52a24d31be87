"""Headless Chromium signs in through the real login page."""

import pytest

from tests.support.users import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_household_member_signs_in_through_the_login_page(live_server, page, member):
    page.goto(live_server.url + "/")
    assert "/accounts/login/" in page.url

    page.fill("#id_username", "member")
    page.fill("#id_password", "wrong-password")
    page.click("button[type=submit]")
    assert page.locator("[role=alert]").inner_text() == "That user name and password do not match."

    page.fill("#id_username", "member")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(live_server.url + "/")
    assert "0 open alerts" in page.locator("main #summary").inner_text()  # the overview
    assert page.locator(".who").inner_text() == "member (viewer)"
