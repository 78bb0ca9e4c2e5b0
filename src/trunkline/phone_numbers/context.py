"""The E911 warning every partner portal page carries while assigned numbers cannot reach
911 with a dispatchable address (partner guide, Appendix C)."""

from __future__ import annotations

from functools import cache

from trunkline.phone_numbers.e911_selectors import e911_unreachable_count


def e911_warning(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not getattr(user, "partner_id", None):
        return {}
    partner = user.partner

    # Counted only when a template shows it (modal fragments never do), and once.
    @cache
    def count() -> int:
        return e911_unreachable_count(partner=partner)

    return {"e911_unreachable": count}
