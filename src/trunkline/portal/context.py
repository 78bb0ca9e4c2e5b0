"""Template context shared by every portal page: the brand to show and the nav."""

from django.conf import settings


def portal(request) -> dict:
    user = getattr(request, "user", None)
    partner = getattr(user, "partner", None) if user is not None and user.is_authenticated else None
    brand_name = partner.display_brand if partner else "Trunkline"
    initials = ""
    if user is not None and user.is_authenticated:
        words = (user.name or user.email).replace("@", " ").split()
        initials = "".join(word[0] for word in words[:2]).upper()
    return {
        "user_initials": initials,
        "trial_days_left": partner.trial_days_left() if partner else None,
        "brand_name": brand_name,
        "brand_partner": partner,
        "brand_color": (partner.primary_color if partner and partner.primary_color else "#2f5bea"),
        "base_domain": settings.TRUNKLINE_BASE_DOMAIN,
    }
