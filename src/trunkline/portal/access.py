"""Who may see a portal page, and the actor every portal write is made as."""

from __future__ import annotations

from functools import wraps

from django.http import Http404, HttpResponseForbidden
from django.shortcuts import redirect
from django.template.loader import render_to_string

from trunkline.core.actors import Actor
from trunkline.core.middleware import client_ip


def actor_from_request(request) -> Actor:
    user = request.user
    return Actor(
        kind="user",
        partner=user.partner,
        user=user,
        can_write=user.can_write,
        request_id=getattr(request, "request_id", ""),
        ip_address=client_ip(request),
    )


def partner_required(view):
    """Signed-in partner team member with a verified email; sets `request.actor`."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        user = request.user
        if not user.is_authenticated:
            return redirect(f"/login?next={request.get_full_path()}")
        if user.partner_id is None and user.is_staff:
            # Platform staff belong to no partner; their pages are the platform's.
            return redirect("/platform/tenants")
        if user.partner_id is None or user.role not in ("PARTNER_ADMIN", "PARTNER_USER"):
            return redirect("/login")
        if user.email_verified_at is None:
            return redirect("/verify-email")
        request.actor = actor_from_request(request)
        return view(request, *args, **kwargs)

    return wrapper


def writer_required(view):
    """Partner Users are read-only: every write answers 403."""

    @wraps(view)
    @partner_required
    def wrapper(request, *args, **kwargs):
        if not request.user.can_write:
            return HttpResponseForbidden(
                render_to_string(
                    "portal/forbidden.html", {"message": "Your role is read-only."}, request=request
                )
            )
        return view(request, *args, **kwargs)

    return wrapper


def staff_required(view):
    """Platform staff only (`is_staff`). Anyone else signed in gets the 404 an unknown
    page gets, so partners cannot tell the platform's pages exist."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        user = request.user
        if not user.is_authenticated:
            return redirect(f"/login?next={request.get_full_path()}")
        if not (user.is_active and user.is_staff):
            raise Http404("not found")
        request.actor = actor_from_request(request)
        return view(request, *args, **kwargs)

    return wrapper
