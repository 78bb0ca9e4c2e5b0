"""Which addresses a webhook may reach: the public internet only, unless allowed otherwise.

An endpoint URL is checked when it is saved and again, on the address actually
connected to, every time a delivery is sent (see `transport.py`), so a name that
resolves to a public address today and to 127.0.0.1 tomorrow (DNS rebinding) cannot
be used to reach the platform's own network.

`TRUNKLINE_WEBHOOK_ALLOW_PRIVATE=1` lifts both the address check and the https rule,
for development and for receivers on the same machine.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

from trunkline.core.errors import ValidationFailed

MAX_URL_LENGTH = 2048

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressRefused(Exception):
    """The destination is not on the public internet."""


def private_targets_allowed() -> bool:
    return bool(getattr(settings, "TRUNKLINE_WEBHOOK_ALLOW_PRIVATE", False))


def is_public(address: IPAddress) -> bool:
    """True only for globally routable unicast addresses.

    `is_global` already excludes private, loopback, link-local (169.254.169.254, the cloud
    metadata service, included), shared (100.64/10), reserved and unspecified ranges;
    multicast is excluded on top. IPv6 forms that embed an IPv4 address are judged by it.
    """
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address.teredo is not None:
            embedded = address.teredo[1]
        if embedded is not None:
            return is_public(embedded)
    return address.is_global and not address.is_multicast


def parse_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to (an IP literal is itself). Raises OSError."""
    literal = parse_ip(host)
    if literal is not None:
        return [literal]
    answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in answers:
        address = parse_ip(str(sockaddr[0]))
        if address is not None and address not in addresses:
            addresses.append(address)
    return addresses


def checked_addresses(host: str, port: int) -> list[IPAddress]:
    """The addresses to connect to for `host`, all of them public.

    A name with any non-public answer is refused as a whole: picking the public answers
    would still let whoever controls the name steer some connections inside.
    """
    try:
        addresses = resolve(host, port)
    except OSError as error:
        raise AddressRefused(f"cannot resolve {host}: {error.strerror or error}") from None
    if not addresses:
        raise AddressRefused(f"{host} has no address")
    if private_targets_allowed():
        return addresses
    for address in addresses:
        if not is_public(address):
            raise AddressRefused(f"{host} resolves to {address}, which is not a public address")
    return addresses


def clean_endpoint_url(url: str) -> str:
    """An endpoint URL fit to store: https, a host, no credentials, no private target.

    A name that does not resolve now is accepted (its DNS may not be set up yet); it is
    checked again at every send.
    """
    if not isinstance(url, str) or not url.strip():
        raise ValidationFailed("url is required", field="url")
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise ValidationFailed(f"url is at most {MAX_URL_LENGTH} characters", field="url")
    if any(character.isspace() or ord(character) < 32 for character in url):
        raise ValidationFailed("url cannot contain spaces or control characters", field="url")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValidationFailed("url is not a valid URL", field="url") from None
    scheme = parts.scheme.lower()
    allowed_schemes = {"https", "http"} if private_targets_allowed() else {"https"}
    if scheme not in allowed_schemes:
        raise ValidationFailed("url must use https", field="url")
    host = parts.hostname
    if not host:
        raise ValidationFailed("url must name a host", field="url")
    if parts.username is not None or parts.password is not None:
        raise ValidationFailed(
            "url cannot carry credentials; verify the signature instead", field="url"
        )
    if parts.fragment:
        raise ValidationFailed("url cannot have a #fragment", field="url")
    if private_targets_allowed():
        return url
    literal = parse_ip(host)
    if literal is not None:
        if not is_public(literal):
            raise ValidationFailed(
                f"url points at {literal}, which is not a public address", field="url"
            )
        return url
    if host.rstrip(".").lower() == "localhost" or host.rstrip(".").lower().endswith(".localhost"):
        raise ValidationFailed("url points at this machine", field="url")
    try:
        addresses = resolve(host, port or (443 if scheme == "https" else 80))
    except OSError:
        return url
    for address in addresses:
        if not is_public(address):
            raise ValidationFailed(
                f"{host} resolves to {address}, which is not a public address", field="url"
            )
    return url
