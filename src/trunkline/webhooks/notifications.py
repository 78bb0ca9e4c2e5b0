"""The email a partner's admins get when the platform disables one of their endpoints."""

from __future__ import annotations

from django.template.loader import render_to_string

from trunkline.accounts.selectors import partner_admin_emails
from trunkline.core.email import TRANSACTIONAL, brand_name, send_branded_email


def notify_endpoint_disabled(endpoint) -> bool:
    """Called inside the transaction that disabled the endpoint; leaves after it commits.

    Always sent: no toggle covers it, and without it events would silently stop flowing.
    """
    partner = endpoint.partner
    return send_branded_email(
        partner=partner,
        to=partner_admin_emails(partner),
        category=TRANSACTIONAL,
        subject=f"Webhook endpoint disabled: {endpoint.url}",
        body=render_to_string(
            "webhooks/emails/endpoint_disabled.txt",
            {
                "endpoint": endpoint,
                "reason": endpoint.get_disabled_reason_display(),
                "brand": brand_name(partner),
            },
        ),
    )
