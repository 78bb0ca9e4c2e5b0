"""Platform email, sent under the partner's brand and only after the transaction commits.

Every email the platform sends goes through `send_branded_email`:
- From is the partner's Brand From Email, or DEFAULT_FROM_EMAIL with the brand name as the
  display name, so mail reads `"ACME Phones" <no-reply@…>` either way;
- the body ends with a signature naming the brand and its support email, which is also
  the Reply-To;
- a notification `category` is sent only while the partner's matching toggle in
  Settings → Notifications is on; transactional mail (verification, password resets,
  invitations) is always sent;
- the message leaves on `transaction.on_commit`, so a rolled-back change sends nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction

if TYPE_CHECKING:
    from trunkline.accounts.models import Partner

log = logging.getLogger(__name__)

TRANSACTIONAL = "transactional"
NEW_TENANT = "new_tenant"
USAGE_ALERT = "usage_alert"
MONTHLY_REPORT = "monthly_report"
SYSTEM_UPDATE = "system_update"

# Each notification category and the Partner toggle that switches it off.
CATEGORY_TOGGLES: dict[str, str] = {
    NEW_TENANT: "notify_new_tenants",
    USAGE_ALERT: "notify_usage_alerts",
    MONTHLY_REPORT: "notify_monthly_reports",
    SYSTEM_UPDATE: "notify_system_updates",
}
CATEGORIES = frozenset({TRANSACTIONAL, *CATEGORY_TOGGLES})
PLATFORM_BRAND = "Trunkline"


def _one_line(text: str) -> str:
    return " ".join((text or "").split())


def brand_name(partner: Partner | None) -> str:
    return _one_line(partner.display_brand) if partner is not None else PLATFORM_BRAND


def from_address(partner: Partner | None) -> str:
    """`"Brand Name" <address>`, quoted so any brand name is a valid display name."""
    address = (partner.brand_from_email if partner is not None else "") or (
        settings.DEFAULT_FROM_EMAIL
    )
    display = brand_name(partner).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{display}" <{address}>'


def signature(partner: Partner | None) -> str:
    lines = ["-- ", brand_name(partner)]
    support = partner.brand_support_email if partner is not None else ""
    if support:
        lines.append(f"Support: {support}")
    return "\n".join(lines)


def category_enabled(partner: Partner | None, category: str) -> bool:
    if category not in CATEGORIES:
        raise ValueError(f"unknown email category {category!r}")
    if category == TRANSACTIONAL or partner is None:
        return True
    from trunkline.accounts.models import Partner

    # Read the toggle from the database: the instance in hand may predate a change.
    toggle = CATEGORY_TOGGLES[category]
    return bool(Partner.objects.filter(pk=partner.pk).values_list(toggle, flat=True).first())


def send_branded_email(
    *,
    partner: Partner | None,
    to: Sequence[str] | str,
    subject: str,
    body: str,
    category: str = TRANSACTIONAL,
) -> bool:
    """Queue one email for after the current transaction commits.

    Returns False, sending nothing, when the partner has switched the category off or there
    is nobody to send to.
    """
    recipients = [to] if isinstance(to, str) else [address for address in to if address]
    if not category_enabled(partner, category) or not recipients:
        log.debug("email not sent: category=%s partner=%s", category, getattr(partner, "pk", None))
        return False
    message = EmailMessage(
        subject=_one_line(subject),
        body=f"{body.rstrip()}\n\n{signature(partner)}\n",
        from_email=from_address(partner),
        to=recipients,
        reply_to=[partner.brand_support_email]
        if partner is not None and partner.brand_support_email
        else None,
    )
    # robust: a mail server failure after commit is logged, never turned into a failed
    # request for a change that has already been saved.
    transaction.on_commit(lambda: message.send(fail_silently=False), robust=True)
    return True
