"""Background tasks of the billing app: thin wrappers around its services."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone
from django_tasks import task


@task()
def wallet_review(partner_id: str, now: str = "") -> bool:
    """Enqueued after a wallet debit commits: recharge the wallet or flag call blocking."""
    from trunkline.accounts.models import Partner
    from trunkline.billing.payment_services import wallet_balance_review

    partner = Partner.objects.filter(id=partner_id).first()
    if partner is None:
        return False
    wallet_balance_review(
        partner=partner, now=datetime.fromisoformat(now) if now else timezone.now()
    )
    return True


@task()
def wallet_review_sweep(now: str) -> int:
    from trunkline.billing.payment_services import wallet_review_sweep as sweep

    return sweep(now=datetime.fromisoformat(now))
