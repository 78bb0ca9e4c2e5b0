"""Notification emails to a partner's admins, each honouring its Settings → Notifications toggle."""

from __future__ import annotations

from django.template.loader import render_to_string

from trunkline.accounts.selectors import partner_admin_emails
from trunkline.core.email import NEW_TENANT, brand_name, send_branded_email


def notify_tenant_created(tenant) -> bool:
    """Tell the partner's admins about a new tenant (the "New Tenant Signups" toggle).

    Called inside tenant_create's transaction: the email leaves after it commits, and not
    at all while the toggle is off.
    """
    partner = tenant.partner
    return send_branded_email(
        partner=partner,
        to=partner_admin_emails(partner),
        category=NEW_TENANT,
        subject=f"New tenant: {tenant.name}",
        body=render_to_string(
            "accounts/emails/tenant_created.txt",
            {"tenant": tenant, "brand": brand_name(partner)},
        ),
    )


_SUSPENSION_WHY = {
    "non_payment": "it has an invoice that is still unpaid past the suspension deadline. "
    "Paying every overdue invoice lifts the suspension",
    "usage_cap": "it reached a usage cap you set. Raise the cap or unsuspend it by hand",
}


def notify_tenant_suspended_automatically(tenant, cause: str) -> bool:
    """Tell the partner's admins (never the tenant) that the platform suspended a tenant.
    Always sent: a suspension stops the tenant's calls."""
    partner = tenant.partner
    return send_branded_email(
        partner=partner,
        to=partner_admin_emails(partner),
        subject=f"Tenant suspended: {tenant.name}",
        body=(
            f"{tenant.name} ({tenant.sip_prefix}) was suspended because "
            f"{_SUSPENSION_WHY[cause]}.\n\nA suspended tenant cannot make or take calls."
        ),
    )
