"""Who is on the other end: the client's address and scheme, with the proxy in front.

HOMESEC_TRUSTED_PROXIES says which proxy we trust, in one of two forms:

* a count N: every request comes through N proxies of ours, each appending the address it
  got the request from to X-Forwarded-For, so the client is the N-th entry from the right.
  For homesec listening only where the proxy reaches it (127.0.0.1, a container network):
  the socket peer is not checked, because every peer is a proxy;
* addresses or networks (`10.0.0.0/8, 192.0.2.7`): X-Forwarded-For counts only when the
  socket peer is one of them, and is walked from the right past our own proxies; the first
  address that is not ours is the client.

Without it, only the socket peer counts: anyone can write X-Forwarded-For, and trusting it
would let one client spread its failed sign-ins over made-up addresses.

This module is read by the settings, so it imports nothing that needs them loaded.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from typing import TYPE_CHECKING, Any, TypeAlias

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from django.http import HttpRequest
    from rest_framework.request import Request

    # A Django or DRF request, or an ASGI scope.
    RequestOrScope: TypeAlias = HttpRequest | Request | Mapping[str, Any]

TrustedProxies = int | tuple[IPv4Network | IPv6Network, ...]


def trusted_proxies_parse(value: str) -> TrustedProxies:
    """HOMESEC_TRUSTED_PROXIES: empty or 0 (none), a count, or a comma list of addresses/CIDRs."""
    value = value.strip()
    if not value:
        return 0
    if value.lstrip("-").isdigit():
        count = int(value)
        if not 0 <= count <= 10:
            raise ImproperlyConfigured(f"HOMESEC_TRUSTED_PROXIES={value!r}: a count of proxies must be 0-10")
        return count
    networks: list[IPv4Network | IPv6Network] = []
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                f"HOMESEC_TRUSTED_PROXIES: {item!r} is neither an IP address nor a network like 10.0.0.0/8; "
                "give a count of proxies or their addresses, comma-separated"
            ) from None
    return tuple(networks)


def _peer_and_headers(request_or_scope: RequestOrScope) -> tuple[str | None, str, str]:
    """(socket peer, X-Forwarded-For, X-Forwarded-Proto) of a Django/DRF request or an ASGI scope."""
    if not isinstance(request_or_scope, Mapping):  # a request: an ASGI scope is a dict
        meta = request_or_scope.META
        return (
            meta.get("REMOTE_ADDR") or None,
            meta.get("HTTP_X_FORWARDED_FOR", ""),
            meta.get("HTTP_X_FORWARDED_PROTO", ""),
        )
    scope = request_or_scope
    client = scope.get("client")
    forwarded: list[str] = []
    proto = ""
    for name, value in scope.get("headers", []):
        name = name.lower()
        if name == b"x-forwarded-for":
            forwarded.append(value.decode("latin1"))  # repeated headers are one list
        elif name == b"x-forwarded-proto" and not proto:
            proto = value.decode("latin1")
    return (client[0] if client else None), ",".join(forwarded), proto


def _address(text: str) -> IPv4Address | IPv6Address | None:
    """An address from an X-Forwarded-For entry; some proxies add a port."""
    text = text.strip()
    if text.startswith("["):  # [2001:db8::1]:443
        text = text[1 : text.find("]")] if "]" in text else text
    elif text.count(":") == 1:  # 203.0.113.7:443
        text = text.split(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    # A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d; IPv4 networks must still match.
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: IPv4Address | IPv6Address | None, networks: tuple[IPv4Network | IPv6Network, ...]) -> bool:
    return address is not None and any(address in network for network in networks)


def peer_is_trusted_proxy(request_or_scope: RequestOrScope) -> bool:
    """True when the connection came through a proxy HOMESEC_TRUSTED_PROXIES trusts."""
    proxies = settings.TRUSTED_PROXIES
    if isinstance(proxies, int):
        return proxies > 0
    peer, _, _ = _peer_and_headers(request_or_scope)
    return _trusted(_address(peer or ""), proxies)


def client_ip(request_or_scope: RequestOrScope) -> str | None:
    """The client's address: the socket peer, or what our trusted proxies say it was."""
    peer, forwarded, _ = _peer_and_headers(request_or_scope)
    proxies = settings.TRUSTED_PROXIES
    entries = [entry for entry in forwarded.split(",") if entry.strip()]
    if not proxies or not entries or not peer_is_trusted_proxy(request_or_scope):
        return peer
    if isinstance(proxies, int):
        # Fewer entries than proxies: take the leftmost, as DRF's NUM_PROXIES does.
        address = _address(entries[-min(proxies, len(entries))])
        return str(address) if address is not None else peer
    client = peer
    for entry in reversed(entries):
        address = _address(entry)
        if address is None:
            break  # garbage from before our proxies: the last hop we trust saw the client
        client = str(address)
        if not _trusted(address, proxies):
            break
    return client


def forwarded_scheme(request_or_scope: RequestOrScope) -> str | None:
    """`http` or `https` as our trusted proxy reports it (X-Forwarded-Proto), else None."""
    _, _, proto = _peer_and_headers(request_or_scope)
    scheme = proto.split(",")[0].strip().lower()
    if scheme not in ("http", "https") or not peer_is_trusted_proxy(request_or_scope):
        return None
    return scheme
