"""Collecting tenant invoices by card (Settings → Billing → Tenant Billing).

A partner collects in one of three modes (`CollectionSettings.Mode`):

- **Platform** (the default, no setup): tenants' cards are charged through the platform's
  own processor account. The platform keeps `APPLICATION_FEE_RATE` of each payment and
  holds the rest for the partner (the ledger account "Tenant payments held") until it is
  paid out.
- **Connect (Express)**: the partner completes the processor's hosted onboarding and gets
  a connected account of its own; each charge is made on that account, with the fee as
  the charge's application fee, so the rest lands with the partner directly.
- **Custom Keys**: the partner's own secret key is used as if it were the platform's;
  no fee. The key is sealed with AES-256-GCM (`core.crypto`) before it is stored, read
  only to build the processor that charges with it, and never returned.

Each issued invoice with an amount due is charged once it is committed, when the tenant
has a default card at the account the partner collects with (`invoice_charge_after_commit`,
from `tenant_invoices._announce`). A declined attempt is retried `RETRY_AFTER_DAYS` after
the first, by the hourly `billing.invoice_charges_run` job, which is also the safety net
for charges a dying process left unanswered; `invoice_charge(manual=True)` (the API's
`POST /v1/invoices/{id}/charge`) tries again at once. Every attempt carries the
idempotency key `invoice:<id>:<attempt>`, so asking again never charges twice.

The fee is 3.99 % of the amount charged, rounded to the cent half-up. Refunds to the card
give back what the tenant paid; the fee on the original payment is not returned (the
processor keeps an application fee on a refunded charge unless told otherwise, and the
platform does likewise in Platform mode).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings as django_settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from trunkline.billing import ledger
from trunkline.billing.models import (
    CollectionSettings,
    Invoice,
    InvoiceCharge,
    InvoiceCheckout,
    InvoicePayment,
    LedgerAccount,
    Posting,
    TenantPaymentMethod,
)
from trunkline.billing.payment_services import (
    CardDeclined,
    PaymentMethodRequired,
    ProcessorUnavailable,
)
from trunkline.billing.payments import (
    PUBLISHABLE_KEY_FORMAT,
    SECRET_KEY_FORMAT,
    PaymentError,
    PaymentProcessor,
    processor,
)
from trunkline.core import crypto
from trunkline.core.actors import Actor
from trunkline.core.audit import audit_record, event_emit
from trunkline.core.email import send_branded_email
from trunkline.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from trunkline.core.money import Money
from trunkline.tenants.models import Tenant
from trunkline.tenants.services import tenant_lock

Mode = CollectionSettings.Mode
ConnectStatus = CollectionSettings.ConnectStatus
ChargeStatus = InvoiceCharge.Status

APPLICATION_FEE_RATE = Decimal("0.0399")
# Automatic attempts: at issue, then these many days after the first attempt.
RETRY_AFTER_DAYS = (1, 3, 7)
MAX_AUTOMATIC_ATTEMPTS = 1 + len(RETRY_AFTER_DAYS)
# A PENDING attempt older than this was left by a process that died mid-call: ask again.
PENDING_STALE_AFTER = timedelta(minutes=10)
SWEEP_BATCH = 500
CONNECT_COUNTRY = "US"

FAILED = (ChargeStatus.DECLINED, ChargeStatus.REQUIRES_ACTION, ChargeStatus.ERROR)
OPEN_STATUSES = (Invoice.Status.SENT, Invoice.Status.PARTIALLY_PAID, Invoice.Status.OVERDUE)
# Processor errors after which the outcome is not known: the attempt stays PENDING and is
# asked again with the same key.
_UNKNOWN_OUTCOME = frozenset({"unavailable", "pending"})

_DESCRIPTOR = re.compile(r"[A-Za-z0-9 &-]{5,22}")


class CollectionNotReady(Conflict):
    type = "collection_not_ready"


def _writer(actor: Actor):
    if not actor.can_write:
        raise PermissionDenied("this account is read-only")
    if actor.partner is None:
        raise PermissionDenied("tenant billing belongs to a partner")
    return actor.partner


def fee_micros(amount_micros: int, mode: str) -> int:
    """The platform's fee on a tenant payment: 3.99 % half-up to the cent; none with the
    partner's own keys."""
    if mode == Mode.CUSTOM_KEYS:
        return 0
    cents = (Decimal(amount_micros) * APPLICATION_FEE_RATE / 10_000).quantize(
        Decimal(1), rounding=ROUND_HALF_UP
    )
    return int(cents) * 10_000


# --- the partner's settings ---------------------------------------------------------------


def settings_for(partner) -> CollectionSettings:
    found, _ = CollectionSettings.objects.get_or_create(partner=partner)
    return found


def _locked_settings(partner) -> CollectionSettings:
    settings_for(partner)
    return CollectionSettings.objects.select_for_update().get(partner=partner)


def settings_json(found: CollectionSettings) -> dict:
    """What the API and the page show. The secret key is never part of it."""
    return {
        "mode": found.mode,
        "statement_descriptor": found.statement_descriptor or None,
        "application_fee_percent": "0" if found.mode == Mode.CUSTOM_KEYS else "3.99",
        "connect": {
            "account_id": found.connect_account_id or None,
            "status": found.connect_status,
            "requirements_due": list(found.connect_requirements or []),
            "checked_at": found.connect_checked_at,
        },
        "custom_keys": {
            "configured": bool(found.custom_secret_key_sealed),
            "secret_key_hint": (
                f"sk_{'live' if found.custom_key_livemode else 'test'}_…"
                f"{found.custom_secret_key_last4}"
                if found.custom_secret_key_sealed
                else None
            ),
            "publishable_key": found.custom_publishable_key or None,
        },
        "updated_at": found.updated_at,
    }


def statement_descriptor_clean(value) -> str:
    """5 to 22 Latin letters, digits, spaces, `-` and `&`, with at least one letter
    (the card networks' rule); blank clears it (the platform's own name is shown)."""
    if not isinstance(value, str):
        raise ValidationFailed("statement_descriptor is text", field="statement_descriptor")
    value = " ".join(value.split())
    if not value:
        return ""
    if not _DESCRIPTOR.fullmatch(value) or not re.search(r"[A-Za-z]", value):
        raise ValidationFailed(
            "statement_descriptor is 5 to 22 characters: Latin letters, digits, spaces, "
            "'-' and '&', with at least one letter",
            field="statement_descriptor",
            type="invalid_statement_descriptor",
        )
    return value.upper()


def _audit(actor: Actor, found: CollectionSettings, before: dict, action: str) -> None:
    audit_record(
        actor=actor,
        partner=found.partner,
        action=action,
        object_type="collection_settings",
        object_id=found.partner_id,
        before=before,
        after=_audit_view(found),
    )


def _audit_view(found: CollectionSettings) -> dict:
    view = settings_json(found)
    view.pop("updated_at")
    view["connect"].pop("checked_at")
    return view


def collection_update(
    *,
    actor: Actor,
    mode: str | None = None,
    statement_descriptor: str | None = None,
    now: datetime | None = None,
) -> CollectionSettings:
    """Change how the partner collects and what cards statements show. Connect needs an
    active connected account and Custom Keys a saved key (409 `collection_not_ready`)."""
    partner = _writer(actor)
    now = now or timezone.now()
    if mode is not None and mode not in Mode.values:
        raise ValidationFailed(
            f"mode is one of {', '.join(Mode.values)}", field="mode", type="invalid_mode"
        )
    descriptor = (
        statement_descriptor_clean(statement_descriptor)
        if statement_descriptor is not None
        else None
    )
    with transaction.atomic():
        found = _locked_settings(partner)
        before = _audit_view(found)
        if mode == Mode.CONNECT and found.connect_status != ConnectStatus.ACTIVE:
            raise CollectionNotReady(
                "finish the Connect onboarding first: the connected account is not active",
                field="mode",
            )
        if mode == Mode.CUSTOM_KEYS and not found.custom_secret_key_sealed:
            raise CollectionNotReady("save your Stripe secret key first", field="mode")
        if mode is not None:
            found.mode = mode
        if descriptor is not None:
            found.statement_descriptor = descriptor
        found.updated_at = now
        found.save()
        _audit(actor, found, before, "collection.updated")
    if descriptor is not None and found.connect_account_id:
        _push_descriptor(found)
    return found


def _push_descriptor(found: CollectionSettings) -> None:
    """The connected account's charges carry its own descriptor: keep it the partner's."""
    if not found.statement_descriptor or found.connect_status != ConnectStatus.ACTIVE:
        return
    try:
        processor().connect_descriptor_set(
            account=found.connect_account_id, statement_descriptor=found.statement_descriptor
        )
    except PaymentError as error:
        raise ProcessorUnavailable(f"the payment processor failed: {error.message}") from None


def custom_keys_set(
    *, actor: Actor, secret_key, publishable_key="", now: datetime | None = None
) -> CollectionSettings:
    """Save the partner's own Stripe keys after the processor accepted the secret key.
    The secret key is sealed before it is stored and never shown again."""
    partner = _writer(actor)
    now = now or timezone.now()
    if not isinstance(secret_key, str) or not SECRET_KEY_FORMAT.fullmatch(secret_key.strip()):
        raise ValidationFailed(
            "secret_key is a Stripe secret key (sk_live_… or sk_test_…)",
            field="secret_key",
            type="invalid_secret_key",
        )
    secret_key = secret_key.strip()
    if not isinstance(publishable_key, str) or (
        publishable_key.strip() and not PUBLISHABLE_KEY_FORMAT.fullmatch(publishable_key.strip())
    ):
        raise ValidationFailed(
            "publishable_key is a Stripe publishable key (pk_live_… or pk_test_…)",
            field="publishable_key",
        )
    publishable_key = publishable_key.strip()
    livemode = secret_key.startswith("sk_live_")
    if publishable_key and publishable_key.startswith("pk_live_") != livemode:
        raise ValidationFailed(
            "the publishable key is not of the same mode (live or test) as the secret key",
            field="publishable_key",
        )
    try:
        accepted = processor(api_key=secret_key).key_check()
    except PaymentError as error:
        raise ProcessorUnavailable(f"the payment processor failed: {error.message}") from None
    if not accepted:
        raise ValidationFailed(
            "Stripe did not accept this secret key", field="secret_key", type="invalid_secret_key"
        )
    with transaction.atomic():
        found = _locked_settings(partner)
        before = _audit_view(found)
        found.custom_secret_key_sealed = crypto.encrypt(secret_key, context=_key_context(partner))
        found.custom_secret_key_last4 = secret_key[-4:]
        found.custom_key_fingerprint = hashlib.sha256(secret_key.encode()).hexdigest()[:16]
        found.custom_key_livemode = livemode
        found.custom_publishable_key = publishable_key
        found.updated_at = now
        found.save()
        _audit(actor, found, before, "collection.custom_keys_saved")
    return found


def custom_keys_remove(*, actor: Actor, now: datetime | None = None) -> CollectionSettings:
    """Forget the partner's own keys; collecting with them stops (back to Platform)."""
    partner = _writer(actor)
    with transaction.atomic():
        found = _locked_settings(partner)
        before = _audit_view(found)
        found.custom_secret_key_sealed = ""
        found.custom_secret_key_last4 = found.custom_key_fingerprint = ""
        found.custom_publishable_key = ""
        if found.mode == Mode.CUSTOM_KEYS:
            found.mode = Mode.PLATFORM
        found.updated_at = now or timezone.now()
        found.save()
        _audit(actor, found, before, "collection.custom_keys_removed")
    return found


def _key_context(partner) -> str:
    return f"collection-secret-key:{partner.pk}"


# --- Connect (Express) ---------------------------------------------------------------------


def connect_start(*, actor: Actor, return_url: str, refresh_url: str) -> str:
    """The processor's hosted onboarding for the partner's connected account (created on
    first use); the partner comes back to `return_url`."""
    partner = _writer(actor)
    gateway = processor()
    found = settings_for(partner)
    try:
        account = found.connect_account_id or gateway.connect_account_create(
            partner_id=partner.id, email=partner.billing_email, country=CONNECT_COUNTRY
        )
        url = gateway.connect_onboarding_url(
            account=account, return_url=return_url, refresh_url=refresh_url
        )
    except PaymentError as error:
        raise ProcessorUnavailable(f"the payment processor failed: {error.message}") from None
    if not found.connect_account_id:
        with transaction.atomic():
            found = _locked_settings(partner)
            before = _audit_view(found)
            if not found.connect_account_id:
                found.connect_account_id = account
                found.connect_status = ConnectStatus.PENDING
                found.updated_at = timezone.now()
                found.save()
                _audit(actor, found, before, "collection.connect_started")
    return url


def connect_refresh(*, actor: Actor, now: datetime | None = None) -> CollectionSettings:
    """Ask the processor how the connected account stands: ACTIVE once it can take card
    payments, RESTRICTED when it could and no longer can. A partner collecting through
    Connect whose account is restricted falls back to Platform, so invoices are still
    collected."""
    partner = _writer(actor)
    now = now or timezone.now()
    found = settings_for(partner)
    if not found.connect_account_id:
        raise CollectionNotReady("Connect onboarding has not been started")
    try:
        account = processor().connect_account_get(account=found.connect_account_id)
    except PaymentError as error:
        raise ProcessorUnavailable(f"the payment processor failed: {error.message}") from None
    with transaction.atomic():
        found = _locked_settings(partner)
        before = _audit_view(found)
        if account.charges_enabled:
            status = ConnectStatus.ACTIVE
        elif found.connect_status in (ConnectStatus.ACTIVE, ConnectStatus.RESTRICTED):
            status = ConnectStatus.RESTRICTED
        else:
            status = ConnectStatus.PENDING
        became_active = status == ConnectStatus.ACTIVE != found.connect_status
        found.connect_status = status
        found.connect_requirements = list(account.requirements_due)
        found.connect_checked_at = now
        if status == ConnectStatus.RESTRICTED and found.mode == Mode.CONNECT:
            found.mode = Mode.PLATFORM
        found.updated_at = now
        found.save()
        if _audit_view(found) != before:
            _audit(actor, found, before, "collection.connect_checked")
    if became_active:
        _push_descriptor(found)
    return found


# --- where a tenant's cards live and what charges them ------------------------------------


def _gateway(found: CollectionSettings) -> tuple[PaymentProcessor, str, str]:
    """(processor, account label the cards are saved under, connected account id)."""
    if found.mode == Mode.CONNECT:
        return processor(), found.connect_account_id, found.connect_account_id
    if found.mode == Mode.CUSTOM_KEYS:
        key = crypto.decrypt(found.custom_secret_key_sealed, context=_key_context(found.partner))
        return processor(api_key=key), f"custom:{found.custom_key_fingerprint}", ""
    return processor(), "platform", ""


def _account_label(found: CollectionSettings) -> str:
    if found.mode == Mode.CONNECT:
        return found.connect_account_id
    if found.mode == Mode.CUSTOM_KEYS:
        return f"custom:{found.custom_key_fingerprint}"
    return "platform"


def tenant_cards(tenant: Tenant):
    return TenantPaymentMethod.objects.filter(tenant=tenant, deleted_at__isnull=True).order_by(
        "-is_default", "-created_at", "-id"
    )


def card_json(card: TenantPaymentMethod, found: CollectionSettings) -> dict:
    return {
        "id": card.id,
        "tenant_id": card.tenant_id,
        "kind": "card",
        "brand": card.brand,
        "last4": card.last4,
        "exp_month": card.exp_month,
        "exp_year": card.exp_year,
        "is_default": card.is_default,
        # False for a card saved before the partner changed how it collects.
        "chargeable": card.account == _account_label(found),
        "created_at": card.created_at,
    }


def _card_get(tenant: Tenant, card_id) -> TenantPaymentMethod:
    card = tenant_cards(tenant).filter(id=card_id).first() if isinstance(card_id, str) else None
    if card is None:
        raise NotFound("no such payment method", field="payment_method_id")
    return card


def chargeable_card(tenant: Tenant, found: CollectionSettings) -> TenantPaymentMethod | None:
    return tenant_cards(tenant).filter(is_default=True, account=_account_label(found)).first()


def tenant_card_add(*, actor: Actor, tenant: Tenant, token) -> TenantPaymentMethod:
    """Save a card for the tenant at the account the partner collects with (the token is
    Stripe Elements' `pm_…`; with the simulated processor, a test card number). It
    becomes the default; the tenant's open invoices are then charged to it."""
    partner = _writer(actor)
    if not isinstance(token, str) or not token.strip() or len(token) > 255:
        raise ValidationFailed("token is the payment method id from the card form", field="token")
    token = token.strip()
    found = settings_for(partner)
    gateway, label, account = _gateway(found)
    try:
        customer = (
            tenant_cards(tenant).filter(account=label).values_list("customer_id", flat=True).first()
            or TenantPaymentMethod.objects.filter(tenant=tenant, account=label)
            .values_list("customer_id", flat=True)
            .first()
            or gateway.customer_create(
                partner_id=partner.id,
                email=tenant.billing_email,
                name=tenant.name,
                tenant_id=tenant.id,
                account=account,
            )
        )
        card = gateway.card_attach(customer_id=customer, token=token, account=account)
    except PaymentError as error:
        if error.code == "card_declined":
            raise CardDeclined(error.message) from None
        if error.code in ("card_refused", "invalid_request"):
            raise ValidationFailed(error.message, field="token", type="card_refused") from None
        raise ProcessorUnavailable(f"the payment processor failed: {error.message}") from None
    with transaction.atomic():
        tenant_lock(tenant)
        method = tenant_cards(tenant).filter(account=label, processor_id=card.id).first()
        if method is None:
            tenant_cards(tenant).filter(is_default=True).update(is_default=False)
            method = TenantPaymentMethod.objects.create(
                tenant=tenant,
                account=label,
                processor=gateway.name,
                customer_id=customer,
                processor_id=card.id,
                brand=card.brand,
                last4=card.last4,
                exp_month=card.exp_month,
                exp_year=card.exp_year,
                is_default=True,
            )
            audit_record(
                actor=actor,
                partner=partner,
                action="tenant_payment_method.added",
                object_type="tenant_payment_method",
                object_id=method.id,
                tenant_id=tenant.id,
                after=_event_card(method),
            )
            event_emit(
                partner=partner,
                type="payment_method.attached",
                data={"payment_method": _event_card(method)},
            )
        for invoice_id in _open_invoice_ids(tenant):
            _charge_after_commit(invoice_id, immediate=True)
    return method


def _event_card(card: TenantPaymentMethod) -> dict:
    return {
        "id": card.id,
        "kind": "card",
        "brand": card.brand,
        "last4": card.last4,
        "exp_month": card.exp_month,
        "exp_year": card.exp_year,
        "is_default": card.is_default,
        "tenant_id": card.tenant_id,
    }


def tenant_card_set_default(*, actor: Actor, tenant: Tenant, card_id) -> TenantPaymentMethod:
    partner = _writer(actor)
    with transaction.atomic():
        tenant_lock(tenant)
        card = _card_get(tenant, card_id)
        if not card.is_default:
            previous = tenant_cards(tenant).filter(is_default=True).first()
            tenant_cards(tenant).filter(is_default=True).update(is_default=False)
            card.is_default = True
            card.save(update_fields=["is_default"])
            audit_record(
                actor=actor,
                partner=partner,
                action="tenant_payment_method.default_set",
                object_type="tenant_payment_method",
                object_id=card.id,
                tenant_id=tenant.id,
                before={"default": previous.id if previous else None},
                after={"default": card.id},
            )
    return card


def tenant_card_delete(
    *, actor: Actor, tenant: Tenant, card_id, now: datetime | None = None
) -> None:
    """Remove a card; the newest other card still chargeable takes over as the default."""
    partner = _writer(actor)
    now = now or timezone.now()
    found = settings_for(partner)
    with transaction.atomic():
        tenant_lock(tenant)
        card = _card_get(tenant, card_id)
        if card.charges.filter(status=ChargeStatus.PENDING).exists():
            raise Conflict(
                "a charge to this card is being made; try again in a minute",
                type="charge_in_progress",
            )
        card.deleted_at, card.is_default = now, False
        card.save(update_fields=["deleted_at", "is_default"])
        successor = tenant_cards(tenant).filter(account=_account_label(found)).first()
        if successor is not None and not tenant_cards(tenant).filter(is_default=True).exists():
            successor.is_default = True
            successor.save(update_fields=["is_default"])
        audit_record(
            actor=actor,
            partner=partner,
            action="tenant_payment_method.deleted",
            object_type="tenant_payment_method",
            object_id=card.id,
            tenant_id=tenant.id,
            before=_event_card(card),
        )
    gateway, label, account = _gateway(found)
    if card.account == label:
        # The card is gone from Trunkline either way: it can no longer be charged.
        with contextlib.suppress(PaymentError):
            gateway.card_detach(card_id=card.processor_id, account=account)


# --- charging invoices --------------------------------------------------------------------


def _open_invoice_ids(tenant: Tenant) -> list[str]:
    return list(
        Invoice.objects.filter(tenant=tenant, status__in=OPEN_STATUSES)
        .exclude(charges__status=ChargeStatus.PENDING)
        .values_list("id", flat=True)
    )


def _charge_after_commit(invoice_id: str, *, immediate: bool = False) -> None:
    from trunkline.billing import tasks

    transaction.on_commit(
        lambda: tasks.invoice_charge.enqueue(invoice_id=invoice_id, immediate=immediate, now=""),
        robust=True,
    )


def invoice_charge_after_commit(invoice: Invoice) -> None:
    """Called as an invoice is issued: once it commits, charge the tenant's default card
    for what is due, when it has one at the account its partner collects with."""
    invoices_charge_after_commit([invoice])


def invoices_charge_after_commit(invoices: list[Invoice]) -> None:
    """`invoice_charge_after_commit` for a batch of invoices issued together: one read
    of which of their tenants have a card."""
    due = [invoice for invoice in invoices if invoice.amount_due_micros > 0]
    if not due:
        return
    with_card = set(
        TenantPaymentMethod.objects.filter(
            tenant_id__in={invoice.tenant_id for invoice in due},
            is_default=True,
            deleted_at__isnull=True,
        ).values_list("tenant_id", flat=True)
    )
    for invoice in due:
        if invoice.tenant_id in with_card:
            _charge_after_commit(invoice.id)


def _attempt_due(invoice: Invoice, attempts: list[InvoiceCharge], now: datetime) -> bool:
    if not attempts:
        return True
    if attempts[-1].status not in FAILED or len(attempts) >= MAX_AUTOMATIC_ATTEMPTS:
        return False
    return now >= attempts[0].created_at + timedelta(days=RETRY_AFTER_DAYS[len(attempts) - 1])


def next_attempt_at(invoice: Invoice) -> datetime | None:
    """When the card is tried again automatically (None: not at all)."""
    attempts = sorted(invoice.charges.all(), key=lambda attempt: attempt.attempt)
    if not attempts or attempts[-1].status not in FAILED:
        return None
    if len(attempts) >= MAX_AUTOMATIC_ATTEMPTS:
        return None
    return attempts[0].created_at + timedelta(days=RETRY_AFTER_DAYS[len(attempts) - 1])


def _suffix(descriptor: str) -> str:
    """Platform mode: the partner's descriptor after the platform's prefix, in the 22
    characters a statement shows (`PREFIX* SUFFIX`)."""
    prefix = django_settings.STRIPE_STATEMENT_DESCRIPTOR_PREFIX
    room = 22 - len(prefix) - 2
    return descriptor[:room].strip() if room > 0 else ""


def statement_line(partner) -> str:
    """How the partner's card charges read on a tenant's card statement ("" when it has
    no descriptor of its own): in Platform mode the platform's prefix with the partner's
    descriptor after it, otherwise the descriptor itself."""
    found = CollectionSettings.objects.filter(partner=partner).first()
    if found is None or not found.statement_descriptor:
        return ""
    if found.mode != Mode.PLATFORM:
        return found.statement_descriptor
    suffix = _suffix(found.statement_descriptor)
    prefix = django_settings.STRIPE_STATEMENT_DESCRIPTOR_PREFIX
    return f"{prefix}* {suffix}" if suffix else prefix


def invoice_charge(
    *,
    invoice_id: str,
    now: datetime | None = None,
    manual: bool = False,
    immediate: bool = False,
    actor: Actor | None = None,
) -> InvoiceCharge | None:
    """Charge the tenant's default card for what `invoice_id` has due, as its next
    attempt. Automatic attempts follow `RETRY_AFTER_DAYS`; `immediate` (a new card was
    saved) and `manual` (the partner asked; it also reports why nothing could be charged)
    try at once. An attempt left PENDING is asked again with its own key. Returns the
    attempt, or None when there was nothing to do."""
    now = now or timezone.now()
    with transaction.atomic():
        invoice = (
            Invoice.objects.select_for_update(of=("self",))
            .select_related("tenant__partner")
            .filter(pk=invoice_id)
            .first()
        )
        if invoice is None:
            return None
        partner, tenant = invoice.partner, invoice.tenant
        if actor is not None and actor.partner is not None and actor.partner.pk != partner.pk:
            raise NotFound("no such invoice", field="invoice_id")
        attempts = list(invoice.charges.select_related("payment_method").order_by("attempt"))
        pending = next((a for a in attempts if a.status == ChargeStatus.PENDING), None)
        if pending is None:
            if invoice.status not in OPEN_STATUSES or invoice.amount_due_micros <= 0:
                if manual:
                    raise Conflict("nothing is due on this invoice", type="nothing_due")
                return None
            if not (manual or immediate) and not _attempt_due(invoice, attempts, now):
                return None
            found = settings_for(partner)
            card = chargeable_card(tenant, found)
            if card is None:
                if manual:
                    raise PaymentMethodRequired(
                        "the tenant has no card on file where this partner collects payments"
                    )
                return None
            amount = invoice.amount_due_micros
            pending = InvoiceCharge.objects.create(
                invoice=invoice,
                attempt=len(attempts) + 1,
                mode=found.mode,
                account=_account_label(found),
                payment_method=card,
                amount_micros=amount,
                fee_micros=fee_micros(amount, found.mode),
                created_at=now,
            )
    return _ask(pending, invoice, now)


def _ask(attempt: InvoiceCharge, invoice: Invoice, now: datetime) -> InvoiceCharge:
    found = settings_for(invoice.partner)
    card = attempt.payment_method
    if _account_label(found) != attempt.account:
        # The partner changed how it collects since the attempt began; the old account
        # (and key) is no longer at hand to ask.
        return _settle(attempt, "error", "", "the partner's collection settings changed", now)
    gateway, _, account = _gateway(found)
    descriptor = found.statement_descriptor
    try:
        charge = gateway.charge(
            customer_id=card.customer_id,
            card_id=card.processor_id,
            amount=Money(attempt.amount_micros),
            description=f"Invoice {invoice.display_number} from {invoice.partner.display_brand}",
            idempotency_key=attempt.idempotency_key,
            off_session=True,
            account=account,
            application_fee=Money(attempt.fee_micros) if attempt.mode == Mode.CONNECT else None,
            statement_descriptor_suffix=(
                _suffix(descriptor) if descriptor and attempt.mode == Mode.PLATFORM else ""
            ),
        )
    except PaymentError as error:
        if error.code in _UNKNOWN_OUTCOME:
            InvoiceCharge.objects.filter(pk=attempt.pk).update(message=error.message[:300])
            attempt.message = error.message[:300]
            return attempt
        return _settle(attempt, "error", "", error.message, now)
    return _settle(attempt, charge.status, charge.id, charge.message, now)


def _settle(
    attempt: InvoiceCharge, outcome: str, charge_id: str, message: str, now: datetime
) -> InvoiceCharge:
    status = {
        "succeeded": ChargeStatus.SUCCEEDED,
        "declined": ChargeStatus.DECLINED,
        "requires_action": ChargeStatus.REQUIRES_ACTION,
    }.get(outcome, ChargeStatus.ERROR)
    from trunkline.billing import tenant_invoices

    with transaction.atomic():
        invoice = (
            Invoice.objects.select_for_update(of=("self",))
            .select_related("tenant__partner")
            .get(pk=attempt.invoice_id)
        )
        attempt = InvoiceCharge.objects.select_related("payment_method").get(pk=attempt.pk)
        if attempt.status != ChargeStatus.PENDING:
            return attempt  # settled by a concurrent ask
        attempt.status, attempt.processor_charge_id = status, charge_id[:64]
        attempt.message, attempt.settled_at = (message or "")[:300], now
        attempt.save()
        partner, tenant = invoice.partner, invoice.tenant
        system = Actor.system(partner=partner)
        if status == ChargeStatus.SUCCEEDED:
            payment_receive(
                attempt,
                invoice,
                reference=charge_id,
                note=f"{attempt.payment_method} (attempt {attempt.attempt})",
                now=now,
            )
            return attempt
        audit_record(
            actor=system,
            partner=partner,
            action="invoice.charge_failed",
            object_type="invoice",
            object_id=invoice.id,
            tenant_id=tenant.id,
            after={"attempt": attempt.attempt, "status": status, "message": attempt.message},
        )
        retry = next_attempt_at(invoice)
        failure = {
            "charge_id": charge_id or attempt.id,
            "status": "requires_action" if status == ChargeStatus.REQUIRES_ACTION else "declined",
            "amount": Money(attempt.amount_micros).to_json(),
            "description": f"Invoice {invoice.display_number}",
            "message": attempt.message,
            "payment_method_id": attempt.payment_method_id,
            "tenant_id": tenant.id,
            "invoice_id": invoice.id,
        }
        event_emit(partner=partner, type="payment.failed", data=failure)
        event_emit(
            partner=partner,
            type="invoice.failed",
            data={
                "invoice": tenant_invoices.invoice_snapshot(invoice),
                "attempt": attempt.attempt,
                "message": attempt.message,
                "next_attempt_at": retry.isoformat().replace("+00:00", "Z") if retry else None,
            },
        )
        _failure_email(invoice, attempt, retry)
    return attempt


def _failure_email(invoice: Invoice, attempt: InvoiceCharge, retry: datetime | None) -> None:
    card = attempt.payment_method
    body = [
        f"Hello {invoice.tenant.name},",
        "",
        f"We could not charge your {card.brand.title() or 'card'} ending {card.last4} for "
        f"invoice {invoice.display_number} (${Money(attempt.amount_micros).to_json()}).",
        f"Reason: {attempt.message or 'the card was declined'}.",
        "",
        (
            f"We will try again on {retry:%B %-d, %Y}. To pay sooner, update your card."
            if retry
            else "Please update your card or contact us to pay this invoice."
        ),
    ]
    send_branded_email(
        partner=invoice.partner,
        to=invoice.tenant.billing_email,
        subject=f"Payment failed for invoice {invoice.display_number}",
        body="\n".join(body),
    )


def payment_receive(
    payment: InvoiceCharge | InvoiceCheckout,
    invoice: Invoice,
    *,
    reference: str,
    note: str,
    now: datetime,
) -> None:
    """A card payment went through (an attempt, or a hosted checkout): the platform's
    books, then the payment on the locked `invoice` — PAID, `invoice.paid` and a
    non-payment suspension lifted as for any payment. What the invoice no longer has due
    (it was paid some other way meanwhile) becomes the tenant's account credit, taken off
    its next invoice. Called once per payment, under the payment's own row lock."""
    from trunkline.billing import tenant_invoices

    partner, tenant = invoice.partner, invoice.tenant
    _post_payment(payment, partner, now)
    due = invoice.amount_due_micros if invoice.status in OPEN_STATUSES else 0
    applied = min(payment.amount_micros, due)
    if applied > 0:
        tenant_invoices.payment_apply(
            Actor.system(partner=partner),
            invoice,
            applied,
            method=InvoicePayment.Method.CARD,
            reference=reference,
            note=note,
            now=now,
        )
    if payment.amount_micros > applied:
        locked = tenant_lock(tenant)
        Tenant.objects.filter(pk=locked.pk).update(
            credit_micros=locked.credit_micros + payment.amount_micros - applied
        )


def _post_payment(attempt: InvoiceCharge | InvoiceCheckout, partner, now: datetime) -> None:
    """The platform's books: in Platform mode the payment is received and held for the
    partner less the fee; in Connect only the fee reaches the platform; with the partner's
    own keys, nothing does."""
    Code = LedgerAccount.Code
    amount, fee = attempt.amount_micros, attempt.fee_micros
    clearing = ledger.account_for(code=Code.PROCESSOR_CLEARING)
    fees = ledger.account_for(code=Code.REVENUE_APPLICATION_FEES)
    if attempt.mode == Mode.PLATFORM:
        held = ledger.account_for(code=Code.TENANT_PAYMENTS_HELD, partner=partner)
        lines = [ledger.Line(clearing, -Money(amount)), ledger.Line(held, Money(amount - fee))]
        if fee:
            lines.append(ledger.Line(fees, Money(fee)))
        type = Posting.Type.TENANT_PAYMENT
    elif attempt.mode == Mode.CONNECT and fee:
        lines = [ledger.Line(clearing, -Money(fee)), ledger.Line(fees, Money(fee))]
        type = Posting.Type.APPLICATION_FEE
    else:
        return
    ledger.posting_create(
        type=type,
        lines=lines,
        idempotency_key=f"tenant-payment:{attempt.id}",
        partner=partner,
        memo=f"Invoice {attempt.invoice.display_number}",
        reference=attempt.invoice_id,
        actor_label="system",
        now=now,
    )


def invoice_charges_run(*, now: datetime | None = None) -> int:
    """The hourly job: retries that are due, first attempts whose after-commit task was
    lost, attempts a dying process left PENDING, and hosted checkouts still open (paid
    without the payer coming back, or run out). Returns how many it asked about."""
    now = now or timezone.now()
    with_card = TenantPaymentMethod.objects.filter(
        tenant=OuterRef("tenant"), is_default=True, deleted_at__isnull=True
    )
    stale = InvoiceCharge.objects.filter(
        status=ChargeStatus.PENDING, created_at__lt=now - PENDING_STALE_AFTER
    ).values_list("invoice_id", flat=True)
    candidates = set(stale[:SWEEP_BATCH])
    open_with_card = (
        Invoice.objects.filter(status__in=OPEN_STATUSES, issued_at__lte=now)
        .filter(Exists(with_card))
        .exclude(charges__status__in=(ChargeStatus.PENDING, ChargeStatus.SUCCEEDED))
        .order_by("issued_at")
        .values_list("id", flat=True)
    )
    candidates.update(open_with_card[:SWEEP_BATCH])
    asked = 0
    for invoice_id in sorted(candidates):
        if invoice_charge(invoice_id=invoice_id, now=now) is not None:
            asked += 1
    from trunkline.billing.checkout import invoice_checkouts_reconcile

    return asked + invoice_checkouts_reconcile(now=now)


def invoice_charges(invoice: Invoice) -> list[dict]:
    """The invoice's card attempts, oldest first (prefetch `charges__payment_method`)."""
    return [
        {
            "id": attempt.id,
            "attempt": attempt.attempt,
            "status": attempt.status,
            "amount": Money(attempt.amount_micros).to_json(),
            "fee": Money(attempt.fee_micros).to_json(),
            "refunded": Money(attempt.refunded_micros).to_json(),
            "mode": attempt.mode,
            "payment_method_id": attempt.payment_method_id,
            "card": str(attempt.payment_method),
            "message": attempt.message or None,
            "created_at": attempt.created_at,
            "settled_at": attempt.settled_at,
        }
        for attempt in sorted(invoice.charges.all(), key=lambda attempt: attempt.attempt)
    ]


# --- refunds to the card -------------------------------------------------------------------


def refund_to_card(invoice: Invoice, micros: int, refund_number: int, now: datetime) -> str:
    """Send `micros` of a card payment on the locked `invoice` back to the card, through
    the account it was charged at; returns the processor's refund id. The latest payment
    that can take the whole amount is refunded."""
    attempts = invoice.charges.select_for_update().filter(status=ChargeStatus.SUCCEEDED)
    checkouts = invoice.checkouts.select_for_update().filter(
        status=InvoiceCheckout.Status.COMPLETED
    )
    payments = sorted(
        [*attempts, *checkouts], key=lambda payment: (payment.settled_at, payment.id), reverse=True
    )
    chosen = next((p for p in payments if p.amount_micros - p.refunded_micros >= micros), None)
    if chosen is None:
        raise Conflict(
            "no card payment on this invoice covers that amount; refund it as credit or "
            "record it as returned outside the platform",
            field="destination",
            type="refund_exceeds_card_payment",
        )
    found = settings_for(invoice.partner)
    if _account_label(found) != chosen.account:
        raise Conflict(
            "the payment was collected through an account the partner no longer uses; "
            "refund it from that account's dashboard and record it here as external",
            field="destination",
            type="collection_changed",
        )
    gateway, _, account = _gateway(found)
    try:
        refund = gateway.refund(
            charge_id=chosen.processor_charge_id,
            amount=Money(micros),
            idempotency_key=f"refund:{invoice.id}:{refund_number}",
            account=account,
        )
    except PaymentError as error:
        raise ProcessorUnavailable(f"the payment processor failed: {error.message}") from None
    if refund.status == "failed":
        raise ProcessorUnavailable("the payment processor could not make the refund")
    type(chosen).objects.filter(pk=chosen.pk).update(
        refunded_micros=chosen.refunded_micros + micros
    )
    if chosen.mode == Mode.PLATFORM:
        Code = LedgerAccount.Code
        ledger.posting_create(
            type=Posting.Type.TENANT_REFUND,
            lines=[
                ledger.Line(
                    ledger.account_for(code=Code.TENANT_PAYMENTS_HELD, partner=invoice.partner),
                    -Money(micros),
                ),
                ledger.Line(ledger.account_for(code=Code.PROCESSOR_CLEARING), Money(micros)),
            ],
            idempotency_key=f"tenant-refund:{refund.id}",
            partner=invoice.partner,
            memo=f"Refund on invoice {invoice.display_number}",
            reference=invoice.id,
            actor_label="system",
            now=now,
        )
    return refund.id
