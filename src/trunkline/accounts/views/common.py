"""Helpers the accounts views share: the request's actor, safe redirects, trusted links."""

from __future__ import annotations

from django.conf import settings
from django.utils.http import url_has_allowed_host_and_scheme

from trunkline.core.actors import Actor
from trunkline.core.middleware import client_ip

SESSION_BACKEND = "trunkline.accounts.backends.EmailBackend"
_LOOPBACK = {"localhost", "127.0.0.1", "[::1]"}


def request_actor(request) -> Actor:
    """The signed-in user, or an anonymous caller identified only by request id and address."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return Actor(
            kind="user",
            partner=user.partner,
            user=user,
            can_write=user.can_write,
            request_id=getattr(request, "request_id", ""),
            ip_address=client_ip(request),
        )
    return Actor(
        kind="user",
        can_write=False,
        request_id=getattr(request, "request_id", ""),
        ip_address=client_ip(request),
    )


def safe_next(request, default: str = "/") -> str:
    """Only a path on this site: `next=//evil.example` or `https://…` falls back to default."""
    target = request.POST.get("next") or request.GET.get("next") or default
    if (
        target.startswith("/")
        and not target.startswith("//")
        and not any(char.isspace() or ord(char) < 32 for char in target)
        and url_has_allowed_host_and_scheme(target, allowed_hosts=None)
    ):
        return target
    return default


def _hostname(host: str) -> str:
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0]


def public_base_url(request) -> str:
    """Where links in emails point.

    Not the raw Host header: with it an attacker could request a password reset for a
    victim and have the emailed link point to their own server. TRUNKLINE_PUBLIC_URL wins
    when set; otherwise the request's host is used only if it is the platform's base domain,
    one of its subdomains, or a loopback name (local runs).
    """
    configured = getattr(settings, "TRUNKLINE_PUBLIC_URL", "")
    if configured:
        return configured.rstrip("/")
    host = request.get_host()
    hostname = _hostname(host).lower()
    base = settings.TRUNKLINE_BASE_DOMAIN.lower()
    if (
        hostname in _LOOPBACK
        or hostname.endswith(".localhost")
        or hostname == base
        or hostname.endswith("." + base)
    ):
        return f"{request.scheme}://{host}"
    return f"https://{base}"
