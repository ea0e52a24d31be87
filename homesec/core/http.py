"""Redirects the pages share: where a form sends its user back to, never off this site."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme


def on_this_site(request: HttpRequest, url: str) -> bool:
    """Whether redirecting to `url` stays on this site (on HTTPS when the request came by
    it): a `next` or Referer is what the client says, and must not send anyone elsewhere."""
    return bool(url) and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )


def back_url(request: HttpRequest, default: str, *, referer: bool = False) -> str:
    """Where a form sends its user back to: its `next`, else with `referer` the page it was
    on (a control inside a fragment that a page fetched has no path of its own), when on
    this site; else `default`."""
    targets = [request.POST.get("next", "")]
    if referer:
        targets.append(request.headers.get("referer", ""))
    return next((target for target in targets if on_this_site(request, target)), default)
