"""Hosted checkout: a tenant pays an open invoice on a payment page, without a card on file.

`invoice_checkout_create` opens a session for what the invoice has due, at the account
the partner collects with (billing/collection.py), with the fee and statement descriptor a
card charge of that mode carries: on Stripe a Checkout Session (the connected account's
in Connect mode, the partner's own account with Custom Keys); with the simulated
processor, the platform's own page with a card form. The link is the public page
`/pay/<token>` (the token is unguessable), and with Stripe the session's own `url`.

A session lasts `CHECKOUT_TTL`; asking again while one is open for the same amount gives
that one back. It completes when the payer comes back to the success page, when the
simulated page takes a card, or when the hourly `billing.invoice_charges_run` job finds it
paid (`invoice_checkouts_reconcile`). Each completion asks the processor, then locks the
invoice and the session row and applies the payment only if the session is still OPEN:
two completions at once apply it once. The payment is recorded as a card charge's is
(`collection.payment_receive`): the books, the invoice's status, `invoice.paid`, the
lifted non-payment suspension, and credit for what was paid some other way meanwhile;
then `check-out.session.completed` fires.

A checkout is not a card attempt: declines on its page are the payer's to retry there
and never count towards the automatic retries of the saved card.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from django.conf import settings as django_settings
from django.core import signing
from django.db import transaction
from django.utils import timezone

from trunkline.billing import collection
from trunkline.billing.models import Invoice, InvoiceCheckout
from trunkline.billing.payment_services import ProcessorUnavailable
from trunkline.billing.payments import (
    CheckoutSession,
    PaymentError,
    PaymentProcessor,
    processor,
    simulated_checkout_pay,
)
from trunkline.core.actors import Actor
from trunkline.core.audit import audit_record, event_emit
from trunkline.core.email import brand_name
from trunkline.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from trunkline.core.money import Money

Status = InvoiceCheckout.Status
Mode = collection.Mode

CHECKOUT_TTL = timedelta(hours=24)
# An open session is handed out again only while the payer still has this long to pay.
REUSE_MIN_LEFT = timedelta(minutes=30)
RECONCILE_BATCH = 500
PAY_LINK_SALT = "trunkline.invoice-pay-link"


class NothingDue(Conflict):
    type = "nothing_due"


class CheckoutClosed(Conflict):
    type = "checkout_closed"


def site_url() -> str:
    """The portal's public address, for links made outside a request (emails)."""
    configured = getattr(django_settings, "TRUNKLINE_PUBLIC_URL", "")
    return (configured or f"https://{django_settings.TRUNKLINE_BASE_DOMAIN}").rstrip("/")


def page_path(checkout: InvoiceCheckout) -> str:
    return f"/pay/{checkout.token}"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def checkout_json(checkout: InvoiceCheckout) -> dict:
    return {
        "id": checkout.id,
        "invoice_id": checkout.invoice_id,
        "url": checkout.url,
        "status": checkout.status,
        "amount": Money(checkout.amount_micros).to_json(),
        "fee": Money(checkout.fee_micros).to_json(),
        "mode": checkout.mode,
        "created_at": checkout.created_at,
        "expires_at": checkout.expires_at,
        "completed_at": checkout.completed_at,
    }


def _event_checkout(checkout: InvoiceCheckout) -> dict:
    return {
        "id": checkout.id,
        "invoice_id": checkout.invoice_id,
        "tenant_id": checkout.invoice.tenant_id,
        "status": checkout.status,
        "amount": Money(checkout.amount_micros).to_json(),
        "fee": Money(checkout.fee_micros).to_json(),
        "mode": checkout.mode,
        "payment_id": checkout.processor_charge_id,
        "created_at": _iso(checkout.created_at),
        "expires_at": _iso(checkout.expires_at),
        "completed_at": _iso(checkout.completed_at),
    }


# --- opening a session ----------------------------------------------------------------------


def _reusable(invoice: Invoice, label: str, now: datetime) -> InvoiceCheckout | None:
    return (
        invoice.checkouts.filter(
            status=Status.OPEN,
            account=label,
            amount_micros=invoice.amount_due_micros,
            expires_at__gt=now + REUSE_MIN_LEFT,
        )
        .order_by("-created_at")
        .first()
    )


def invoice_checkout_create(
    *,
    actor: Actor,
    invoice_id: str,
    now: datetime | None = None,
    base_url: str = "",
) -> InvoiceCheckout:
    """A hosted payment page for what `invoice_id` has due: the open session for that
    amount when there is one with time left, else a new one lasting `CHECKOUT_TTL`. Only
    an open invoice (sent, partially paid or overdue) with something due: 409
    `nothing_due` otherwise. `base_url` is where the payer comes back (the portal's
    public address by default)."""
    if not actor.can_write:
        raise PermissionDenied("this account is read-only")
    if actor.partner is None:
        raise PermissionDenied("invoices belong to a partner")
    from trunkline.billing.tenant_invoices import invoice_list

    now = now or timezone.now()
    base_url = (base_url or site_url()).rstrip("/")
    if not isinstance(invoice_id, str) or not invoice_id:
        raise NotFound("no such invoice", field="invoice_id")
    with transaction.atomic():
        invoice = (
            invoice_list(actor=actor)
            .select_for_update(of=("self",))
            .select_related("tenant__partner")
            .filter(pk=invoice_id[:64])
            .first()
        )
        if invoice is None:
            raise NotFound("no such invoice", field="invoice_id")
        if invoice.status not in collection.OPEN_STATUSES or invoice.amount_due_micros <= 0:
            raise NothingDue(
                f"a {invoice.get_status_display()} invoice with "
                f"${Money(invoice.amount_due_micros).to_json()} due takes no payment"
            )
        found = collection.settings_for(invoice.partner)
        label = collection._account_label(found)
        checkout = _reusable(invoice, label, now)
        if checkout is not None and checkout.processor_session_id:
            return checkout
        if checkout is None:
            amount = invoice.amount_due_micros
            checkout = InvoiceCheckout.objects.create(
                invoice=invoice,
                token=secrets.token_urlsafe(32),
                mode=found.mode,
                account=label,
                processor=processor().name,
                amount_micros=amount,
                fee_micros=collection.fee_micros(amount, found.mode),
                created_at=now,
                expires_at=now + CHECKOUT_TTL,
            )
            audit_record(
                actor=actor,
                partner=invoice.partner,
                action="invoice.checkout_created",
                object_type="invoice",
                object_id=invoice.id,
                tenant_id=invoice.tenant_id,
                after=_event_checkout(checkout),
            )
    # The processor is asked after the row committed, with the session's own idempotency
    # key: asking again (a retry, or a second request meanwhile) gets the same session.
    return _open_at_processor(checkout, invoice, found, base_url)


def _open_at_processor(
    checkout: InvoiceCheckout, invoice: Invoice, found, base_url: str
) -> InvoiceCheckout:
    gateway, _, account = collection._gateway(found)
    descriptor = found.statement_descriptor
    page = f"{base_url}{page_path(checkout)}"
    brand = brand_name(invoice.partner)
    try:
        session = gateway.checkout_create(
            amount=Money(checkout.amount_micros),
            name=f"Invoice {invoice.display_number}",
            description=f"Invoice {invoice.display_number} from {brand}",
            success_url=f"{page}/done?session_id={{CHECKOUT_SESSION_ID}}",
            cancel_url=page,
            expires_at=checkout.expires_at,
            idempotency_key=checkout.idempotency_key,
            metadata={
                "invoice_id": invoice.id,
                "tenant_id": invoice.tenant_id,
                "partner_id": invoice.partner_id,
                "checkout_id": checkout.id,
            },
            customer_email=invoice.tenant.billing_email,
            account=account,
            application_fee=(Money(checkout.fee_micros) if checkout.mode == Mode.CONNECT else None),
            statement_descriptor_suffix=(
                collection._suffix(descriptor)
                if descriptor and checkout.mode == Mode.PLATFORM
                else ""
            ),
        )
    except PaymentError as error:
        raise ProcessorUnavailable(f"the payment processor failed: {error.message}") from None
    InvoiceCheckout.objects.filter(pk=checkout.pk).update(
        processor_session_id=session.id[:255], url=session.url[:2000]
    )
    checkout.processor_session_id, checkout.url = session.id[:255], session.url[:2000]
    return checkout


def invoice_checkout_get(*, actor: Actor, invoice_id: str, checkout_id: str) -> InvoiceCheckout:
    """One of the invoice's sessions, within the actor's invoices (404 otherwise)."""
    from trunkline.billing.tenant_invoices import invoice_get

    invoice = invoice_get(actor=actor, invoice_id=invoice_id[:64])
    checkout = invoice.checkouts.filter(pk=str(checkout_id)[:64]).first()
    if checkout is None:
        raise NotFound("no such checkout session", field="session_id")
    return checkout


def invoice_checkouts(invoice: Invoice) -> list[InvoiceCheckout]:
    return list(invoice.checkouts.order_by("-created_at"))


# --- the public page ------------------------------------------------------------------------


def checkout_for_token(token: str) -> InvoiceCheckout | None:
    """The session a public page's address names (None: no such link)."""
    if not isinstance(token, str) or not 20 <= len(token) <= 64:
        return None
    return (
        InvoiceCheckout.objects.select_related("invoice__tenant__partner")
        .filter(token=token)
        .first()
    )


def pay_link_token(invoice: Invoice) -> str:
    """The signed part of the invoice's lasting pay link (`/pay/invoice/<token>`), which
    opens a session on demand; it names the invoice and nothing else."""
    return signing.dumps(invoice.id, salt=PAY_LINK_SALT, compress=False)


def pay_link_url(invoice: Invoice, base_url: str = "") -> str:
    return f"{(base_url or site_url()).rstrip('/')}/pay/invoice/{pay_link_token(invoice)}"


def invoice_for_pay_link(token: str) -> Invoice | None:
    if not isinstance(token, str) or len(token) > 200:
        return None
    try:
        invoice_id = signing.loads(token, salt=PAY_LINK_SALT)
    except signing.BadSignature:
        return None
    if not isinstance(invoice_id, str):
        return None
    return Invoice.objects.select_related("tenant__partner").filter(pk=invoice_id).first()


def invoice_checkout_for_pay_link(
    *, token: str, now: datetime | None = None, base_url: str = ""
) -> InvoiceCheckout:
    """The invoice email's pay link: a session for the invoice, made (or reused) on the
    partner's behalf. 404 for a link that is not ours; 409 `nothing_due` once paid."""
    invoice = invoice_for_pay_link(token)
    if invoice is None:
        raise NotFound("no such payment link", field="token")
    return invoice_checkout_create(
        actor=Actor.system(partner=invoice.partner),
        invoice_id=invoice.id,
        now=now,
        base_url=base_url,
    )


def invoice_checkout_pay_simulated(
    *, checkout: InvoiceCheckout, card_number, now: datetime | None = None
) -> InvoiceCheckout:
    """The simulated hosted page's card form: a test card pays the session (and the
    invoice); a declined one leaves it open with the reason in `message`, for the payer
    to try another card. 409 `checkout_closed` once it is paid or has run out."""
    now = now or timezone.now()
    if checkout.processor != "simulated" or not checkout.processor_session_id:
        raise CheckoutClosed("this payment page takes cards on the processor's page")
    if checkout.status != Status.OPEN or checkout.expires_at <= now:
        raise CheckoutClosed("this payment link is no longer open")
    if not isinstance(card_number, str) or len(card_number) > 40:
        raise ValidationFailed("card_number is a card number", field="card_number")
    try:
        charge = simulated_checkout_pay(
            session_id=checkout.processor_session_id, card_number=card_number
        )
    except PaymentError as error:
        raise ValidationFailed(error.message, field="card_number", type="card_refused") from None
    if charge.status != "succeeded":
        message = f"The card was declined: {charge.message}."
        InvoiceCheckout.objects.filter(pk=checkout.pk).update(message=message[:300])
        checkout.message = message[:300]
        return checkout
    return invoice_checkout_complete(checkout_id=checkout.id, now=now)


# --- completing -----------------------------------------------------------------------------


def _gateway_for(checkout: InvoiceCheckout) -> tuple[PaymentProcessor, str] | None:
    """The processor and connected account to ask about a session, or None when the
    partner no longer collects where it was opened with a key we still have."""
    if checkout.mode == Mode.CONNECT:
        return processor(), checkout.account
    if checkout.mode == Mode.PLATFORM:
        return processor(), ""
    found = collection.settings_for(checkout.invoice.partner)
    if collection._account_label(found) != checkout.account:
        return None
    gateway, _, account = collection._gateway(found)
    return gateway, account


def invoice_checkout_complete(*, checkout_id: str, now: datetime | None = None) -> InvoiceCheckout:
    """Ask the processor how the session stands and act on it: paid → the payment is
    applied to the invoice once, the session COMPLETED and `check-out.session.completed`
    fired; run out → EXPIRED; otherwise it stays OPEN. Safe to call any number of times,
    from any number of processes at once."""
    now = now or timezone.now()
    checkout = (
        InvoiceCheckout.objects.select_related("invoice__tenant__partner")
        .filter(pk=checkout_id)
        .first()
    )
    if checkout is None:
        raise NotFound("no such checkout session", field="session_id")
    if checkout.status != Status.OPEN:
        return checkout
    session = None
    asked = _gateway_for(checkout) if checkout.processor_session_id else None
    if asked is not None:
        gateway, account = asked
        try:
            session = gateway.checkout_get(
                session_id=checkout.processor_session_id, account=account
            )
        except PaymentError:
            return checkout  # asked again by the next completion or the hourly job
    if session is not None and session.paid:
        return _apply(checkout, session, now)
    if (session is not None and session.status == "expired") or checkout.expires_at <= now:
        with transaction.atomic():
            locked = InvoiceCheckout.objects.select_for_update().get(pk=checkout.pk)
            if locked.status == Status.OPEN:
                locked.status = Status.EXPIRED
                locked.save(update_fields=["status"])
        checkout.refresh_from_db()
    return checkout


def _apply(checkout: InvoiceCheckout, session: CheckoutSession, now: datetime) -> InvoiceCheckout:
    from trunkline.billing.tenant_invoices import invoice_snapshot

    with transaction.atomic():
        # The invoice first, then the session: the order card charges lock in.
        invoice = (
            Invoice.objects.select_for_update(of=("self",))
            .select_related("tenant__partner")
            .get(pk=checkout.invoice_id)
        )
        checkout = InvoiceCheckout.objects.select_for_update().get(pk=checkout.pk)
        if checkout.status == Status.COMPLETED:
            return checkout  # completed by a concurrent call
        checkout.invoice = invoice
        checkout.status = Status.COMPLETED
        checkout.processor_charge_id = session.charge_id[:64]
        checkout.completed_at = now
        checkout.message = ""
        checkout.save()
        collection.payment_receive(
            checkout,
            invoice,
            reference=session.charge_id,
            note="Paid online (payment link)",
            now=now,
        )
        partner = invoice.partner
        audit_record(
            actor=Actor.system(partner=partner),
            partner=partner,
            action="invoice.checkout_completed",
            object_type="invoice",
            object_id=invoice.id,
            tenant_id=invoice.tenant_id,
            after=_event_checkout(checkout),
        )
        event_emit(
            partner=partner,
            type="check-out.session.completed",
            data={
                "checkout_session": _event_checkout(checkout),
                "invoice": invoice_snapshot(invoice),
            },
        )
    return checkout


def invoice_checkouts_reconcile(*, now: datetime | None = None) -> int:
    """The hourly job's part: every OPEN session is asked about, oldest first, so one
    paid without the payer coming back is applied and one run out is closed. Returns how
    many it asked about."""
    now = now or timezone.now()
    open_ids = list(
        InvoiceCheckout.objects.filter(status=Status.OPEN, created_at__lte=now)
        .order_by("created_at")
        .values_list("id", flat=True)[:RECONCILE_BATCH]
    )
    for checkout_id in open_ids:
        invoice_checkout_complete(checkout_id=checkout_id, now=now)
    return len(open_ids)
