"""Reading a partner's logo, always the caller's own partner's."""

from __future__ import annotations

from trunkline.branding.models import PartnerLogo
from trunkline.core.actors import Actor
from trunkline.core.errors import NotFound


def partner_logo_of(partner) -> PartnerLogo | None:
    """The partner's logo with its image, for drawing it (an invoice PDF); None without one."""
    if partner is None:
        return None
    return PartnerLogo.objects.filter(partner=partner).first()


def partner_logo_info(partner) -> PartnerLogo | None:
    """The logo's size and stamp without the image bytes (for a settings page)."""
    if partner is None:
        return None
    return PartnerLogo.objects.filter(partner=partner).defer("image").first()


def partner_logo_get(*, actor: Actor) -> PartnerLogo:
    """The caller's partner's logo, or NotFound."""
    logo = partner_logo_of(actor.partner)
    if logo is None:
        raise NotFound("no logo has been uploaded")
    return logo
