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


@task()
def subscriptions_bill(now: str) -> int:
    from trunkline.billing.subscription_cycle import subscriptions_bill as bill

    return bill(now=datetime.fromisoformat(now))


@task()
def trials_expire(now: str) -> int:
    from trunkline.billing.subscriptions import trials_expire as expire

    return expire(now=datetime.fromisoformat(now))


@task()
def tenant_cycles_run(now: str) -> int:
    from trunkline.billing.tenant_invoices import tenant_cycles_run as run

    return run(now=datetime.fromisoformat(now))


@task()
def invoice_charge(invoice_id: str, immediate: bool = False, now: str = "") -> str:
    """Enqueued when an invoice is issued (or a tenant adds a card): charge the card."""
    from trunkline.billing.collection import invoice_charge as charge

    attempt = charge(
        invoice_id=invoice_id,
        immediate=immediate,
        now=datetime.fromisoformat(now) if now else timezone.now(),
    )
    return attempt.status if attempt is not None else ""


@task()
def invoice_charges_run(now: str) -> int:
    from trunkline.billing.collection import invoice_charges_run as run

    return run(now=datetime.fromisoformat(now))
