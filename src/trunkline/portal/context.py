"""Template context shared by every portal page: the brand to show and the nav."""

from django.conf import settings


def portal(request) -> dict:
    user = getattr(request, "user", None)
    partner = getattr(user, "partner", None) if user is not None and user.is_authenticated else None
    brand_name = partner.display_brand if partner else "Trunkline"
    return {
        "brand_name": brand_name,
        "brand_partner": partner,
        "brand_color": (partner.primary_color if partner and partner.primary_color else "#2f5bea"),
        "base_domain": settings.TRUNKLINE_BASE_DOMAIN,
    }
