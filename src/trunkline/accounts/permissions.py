"""Role checks the accounts services share (the portal checks too; services decide)."""

from __future__ import annotations

from trunkline.core.actors import Actor
from trunkline.core.errors import PermissionDenied


def require_partner_admin(actor: Actor) -> None:
    """Partner-level settings and the team are a Partner Admin's (or the platform's)."""
    if actor.kind == "system":
        return
    if actor.partner is None or actor.user is None or not actor.user.is_partner_admin:
        raise PermissionDenied("only a Partner Admin can do this")


def require_signed_in_user(actor: Actor) -> None:
    if actor.kind != "user" or actor.user is None:
        raise PermissionDenied("this needs a signed-in user")
