"""Buying, assigning and releasing numbers: validated, charged, audited and announced in
one transaction.

Money: a purchase debits the wallet the first month's price of each number (its tier's
local or toll-free monthly rate) and its one-time setup fee, so the number is paid for
to the end of the current calendar month (`paid_through`). From then on the monthly run
charges every ACTIVE number not yet paid for the new month. A released number is not
charged; assigning it again charges the current month if it is not already paid for.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime

import phonenumbers
from django.db import transaction
from django.utils import timezone

from trunkline.billing import ledger, payment_services
from trunkline.billing.models import Posting
from trunkline.core.actors import Actor
from trunkline.core.audit import audit_record, event_emit
from trunkline.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from trunkline.core.money import Money
from trunkline.phone_numbers.carrier import NumbersUnavailable, carrier
from trunkline.phone_numbers.carrier_requests import on_settled, request_track
from trunkline.phone_numbers.models import CarrierRequest, NumberKind, PhoneNumber
from trunkline.phone_numbers.pricing import number_price
from trunkline.tenants.models import Tenant
from trunkline.tenants.services import tenant_lock

MAX_ORDER = 100
Status = PhoneNumber.Status
_MONTHLY_POSTING = {
    NumberKind.LOCAL: Posting.Type.DID_MONTHLY_LOCAL,
    NumberKind.TOLL_FREE: Posting.Type.DID_MONTHLY_TOLL_FREE,
}


def require_writer(actor: Actor):
    if not actor.can_write:
        raise PermissionDenied("this account is read-only")
    if actor.partner is None:
        raise PermissionDenied("numbers belong to a partner")
    return actor.partner


def month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def clean_numbers(numbers) -> list[str]:
    """A list of distinct US E.164 numbers (`+15015550123`); 422 on `numbers` otherwise."""
    if not isinstance(numbers, list) or not numbers:
        raise ValidationFailed("numbers is a non-empty list of E.164 numbers", field="numbers")
    if len(numbers) > MAX_ORDER:
        raise ValidationFailed(f"at most {MAX_ORDER} numbers an order", field="numbers")
    cleaned: list[str] = []
    for index, number in enumerate(numbers):
        field = f"numbers.{index}"
        if not isinstance(number, str) or len(number) > 20:
            raise ValidationFailed("each number is an E.164 string", field=field)
        try:
            parsed = phonenumbers.parse(number, None)
        except phonenumbers.NumberParseException:
            raise ValidationFailed(f"{number!r} is not an E.164 number", field=field) from None
        e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        if parsed.country_code != 1 or e164 != number or len(e164) != 12:
            raise ValidationFailed(
                f"{number!r} is not a US number in E.164 form (+1 and 10 digits)", field=field
            )
        if e164 in cleaned:
            raise ValidationFailed(f"{number} is listed twice", field=field)
        cleaned.append(e164)
    return cleaned


def _offers(numbers: list[str]):
    offers = carrier().offers(numbers)
    gone = [number for number in numbers if number not in offers]
    if gone:
        raise Conflict(
            f"no longer available: {', '.join(gone)}", field="numbers", type="number_unavailable"
        )
    return offers


def purchase_quote(*, actor: Actor, numbers, now: datetime | None = None) -> dict:
    """What buying `numbers` would cost, for the confirmation step."""
    partner = actor.partner
    if partner is None:
        raise PermissionDenied("numbers belong to a partner")
    now = now or timezone.now()
    numbers = clean_numbers(numbers)
    offers = _offers(numbers)
    lines = []
    monthly_total = setup_total = Money(0)
    for number in numbers:
        offer = offers[number]
        price = number_price(partner=partner, kind=offer.kind, at=now, offer=offer)
        monthly_total, setup_total = monthly_total + price.monthly, setup_total + price.setup
        lines.append(
            {
                "number": number,
                "kind": offer.kind,
                "monthly": price.monthly.to_json(),
                "setup_fee": price.setup.to_json(),
            }
        )
    account = payment_services.billing_account_for(partner)
    return {
        "numbers": lines,
        "monthly_total": monthly_total.to_json(),
        "setup_total": setup_total.to_json(),
        "total": (monthly_total + setup_total).to_json(),
        "wallet_balance": ledger.wallet_balance(partner).to_json(),
        "auto_recharge": account.auto_recharge_enabled,
    }


def numbers_purchase(*, actor: Actor, numbers, now: datetime | None = None) -> list[PhoneNumber]:
    """Buy `numbers`, all or none. The wallet pays (auto-recharge first when it is on and
    the balance is short); 402 and nothing changes when it cannot."""
    partner = require_writer(actor)
    now = now or timezone.now()
    numbers = clean_numbers(numbers)
    offers = _offers(numbers)
    priced = [
        (
            offers[number],
            number_price(partner=partner, kind=offers[number].kind, at=now, offer=offers[number]),
        )
        for number in numbers
    ]
    total = sum((price.monthly + price.setup for _, price in priced), Money(0))
    if ledger.wallet_balance(partner) < total:
        # The card is charged outside the purchase's transaction: a top-up stands on its
        # own even if the order then fails.
        payment_services.wallet_auto_recharge_check(partner=partner, now=now, needed=total)
    paid_through = month_end(timezone.localdate(now))
    with transaction.atomic():
        rows = [
            PhoneNumber(
                partner=partner,
                e164=offer.e164,
                kind=offer.kind,
                state=offer.state,
                rate_center=offer.rate_center,
                city=offer.city,
                status=Status.PENDING,
                carrier=carrier().name,
                paid_through=paid_through,
                purchased_at=now,
                created_at=now,
                updated_at=now,
            )
            for offer, _ in priced
        ]
        # Ids first: the postings name the numbers they pay for.
        for row in rows:
            row.id = row._meta.pk.get_default()
        for row, (offer, price) in zip(rows, priced, strict=True):
            ledger.wallet_debit(
                partner=partner,
                amount=price.monthly,
                type=_MONTHLY_POSTING[offer.kind],
                actor=actor,
                idempotency_key=f"did_monthly:{row.id}:{paid_through:%Y-%m}",
                memo=f"{offer.e164}, {paid_through:%B %Y}",
                reference=row.id,
                now=now,
            )
            if price.setup.micros:
                ledger.wallet_debit(
                    partner=partner,
                    amount=price.setup,
                    type=Posting.Type.DID_SETUP,
                    actor=actor,
                    idempotency_key=f"did_setup:{row.id}",
                    memo=f"{offer.e164} setup",
                    reference=row.id,
                    now=now,
                )
        try:
            submitted = carrier().order(numbers, now=now)
        except NumbersUnavailable as error:
            raise Conflict(
                f"no longer available: {', '.join(error.numbers)}",
                field="numbers",
                type="number_unavailable",
            ) from None
        PhoneNumber.objects.bulk_create(rows)
        request_track(
            partner=partner,
            kind=CarrierRequest.Kind.ORDER,
            submitted=submitted,
            payload={"numbers": [row.id for row in rows]},
            now=now,
        )
        for row, (_, price) in zip(rows, priced, strict=True):
            snapshot = number_snapshot(row)
            audit_record(
                actor=actor,
                action="phone_number.purchased",
                object_type="phone_number",
                object_id=row.id,
                after={
                    **snapshot,
                    "monthly": price.monthly.to_json(),
                    "setup_fee": price.setup.to_json(),
                },
            )
            event_emit(
                partner=partner,
                type="phone_number.purchased",
                data={
                    "phone_number": snapshot,
                    "monthly": price.monthly.to_json(),
                    "setup_fee": price.setup.to_json(),
                },
            )
    payment_services.wallet_after_debit(partner)
    return rows


@on_settled(CarrierRequest.Kind.ORDER)
def _order_settled(request: CarrierRequest, status) -> None:
    ids = request.payload.get("numbers", [])
    numbers = list(
        PhoneNumber.objects.select_for_update().filter(id__in=ids, status=Status.PENDING)
    )
    now = request.settled_at or timezone.now()
    partner = request.partner
    actor = Actor.system(partner=partner)
    for number in numbers:
        if request.status == CarrierRequest.Status.DONE:
            number.status = Status.ACTIVE
        else:
            # The carrier could not provision it: the number was never ours, so it is
            # disconnected and what it cost is refunded.
            number.status = Status.DISCONNECTED
            number.disconnected_at = now
            entitlements_follow(actor, number, None, now)
            paid = Posting.objects.filter(partner=partner, reference=number.id)
            for posting in paid.exclude(type=Posting.Type.REFUND):
                amount = -posting.entries.get(account__code="wallet").amount_micros
                if amount > 0:
                    ledger.wallet_credit(
                        partner=partner,
                        amount=Money(amount),
                        type=Posting.Type.REFUND,
                        actor=actor,
                        idempotency_key=f"refund:{posting.id}",
                        memo=f"{number.e164}: not provisioned ({request.detail})"[:500],
                        reference=number.id,
                        now=now,
                    )
        number.updated_at = now
        number.save(update_fields=["status", "disconnected_at", "updated_at"])
        event_emit(
            partner=partner,
            type="phone_number.updated",
            data={
                "phone_number": number_snapshot(number),
                "previous_attributes": {"status": "PENDING"},
            },
        )


def number_snapshot(number: PhoneNumber) -> dict:
    return {
        "id": number.id,
        "number": number.e164,
        "kind": number.kind,
        "status": number.status,
        "tenant_id": number.tenant_id,
        "state": number.state or None,
        "city": number.city or None,
        "rate_center": number.rate_center or None,
        "cnam": number.cnam or None,
        "e911_status": number.e911_status,
        "reserved": number.reserved,
        "route": number.route,
    }


def _locked(number: PhoneNumber) -> PhoneNumber:
    return PhoneNumber.objects.select_for_update().get(pk=number.pk)


# --- assigning and releasing: the rules, shared by one number and many (`bulk`) ----------
#
# Each `*_refusal` answers why one number cannot take part (a Conflict to raise or to list)
# or None; each `*_apply` makes the change on a locked row and writes its audit row and
# event. The single-number services below and `bulk.py` both go through them.


def tenant_in_scope(actor: Actor, tenant: Tenant) -> None:
    """A tenant of another partner, or outside a tenant-scoped key, is not there (404)."""
    if tenant.partner_id != (actor.partner.id if actor.partner else None):
        raise NotFound("no such tenant", field="tenant_id")
    if actor.tenant_ids is not None and tenant.id not in actor.tenant_ids:
        raise NotFound("no such tenant", field="tenant_id")


def assign_refusal(number: PhoneNumber, tenant: Tenant | None) -> Conflict | None:
    if number.status not in (Status.PENDING, Status.ACTIVE, Status.RELEASED):
        return Conflict(
            f"a {number.status.lower()} number cannot be assigned",
            type="invalid_state_transition",
        )
    if number.reserved and tenant is not None:
        return Conflict("the number is reserved: unreserve it first", type="number_reserved")
    if number.port_out_pending and tenant != number.tenant:
        # Moving or unassigning it would fail the port, as a release would.
        return Conflict(
            "the number is being ported out: it stays with its tenant until the port "
            "completes or is cancelled",
            type="port_out_pending",
        )
    return None


def tenant_numbers_held(tenant: Tenant) -> int:
    """The numbers counting against the tenant's Max DIDs."""
    return PhoneNumber.objects.filter(
        tenant=tenant, status__in=(Status.PENDING, Status.ACTIVE)
    ).count()


def tenant_accepts(tenant: Tenant, incoming: int) -> None:
    """Whether the tenant (its row locked by the caller) can take `incoming` more
    numbers: not cancelled, and within its Max DIDs."""
    if tenant.status == Tenant.Status.CANCELLED:
        raise Conflict("the tenant is cancelled", field="tenant_id", type="tenant_cancelled")
    if tenant.max_dids is None or incoming <= 0:
        return
    held = tenant_numbers_held(tenant)
    if held + incoming > tenant.max_dids:
        more = "" if incoming == 1 else f"; assigning {incoming} more would exceed it"
        raise Conflict(
            f"{tenant.name} already has {held} of its {tenant.max_dids} numbers "
            f"(Max DIDs){more}; raise the limit to assign more",
            field="tenant_id",
            type="limit_exceeded",
        )


def assign_charge(number: PhoneNumber, tenant: Tenant | None, now: datetime) -> Money:
    """What assigning brings due now: a RELEASED number back in service pays the
    current month unless it is already paid for."""
    if number.status != Status.RELEASED or tenant is None:
        return Money(0)
    today = timezone.localdate(now)
    if number.paid_through is not None and number.paid_through >= today:
        return Money(0)
    return number_price(partner=number.partner, kind=number.kind, at=now).monthly


def assign_apply(
    actor: Actor, number: PhoneNumber, tenant: Tenant | None, now: datetime
) -> PhoneNumber:
    before = number_snapshot(number)
    if number.status == Status.RELEASED and tenant is not None:
        _charge_month(actor, number, now)
        number.status = Status.ACTIVE
    _users_let_go(number, tenant)
    number.tenant = tenant
    number.assigned_at = now if tenant is not None else None
    number.updated_at = now
    number.save()
    if before["tenant_id"] != number.tenant_id:
        entitlements_follow(actor, number, tenant, now)
    after = number_snapshot(number)
    audit_record(
        actor=actor,
        action="phone_number.assigned",
        object_type="phone_number",
        object_id=number.id,
        tenant_id=tenant.id if tenant else before["tenant_id"],
        before=before,
        after=after,
    )
    event_emit(
        partner=number.partner,
        type="phone_number.assigned",
        data={"phone_number": after, "previous_tenant_id": before["tenant_id"]},
    )
    return number


def entitlements_accept(tenant: Tenant, numbers: list[PhoneNumber]) -> dict[str, int]:
    """Whether the tenant (its row locked by the caller) has a free number entitlement for
    each of `numbers` coming in, when it is on licences: 409 `license_required` naming the
    entitlement when not, unless the partner's licence policy buys them; answers what
    would be bought ({SKU code: quantity})."""
    from trunkline.licensing.entitlements import numbers_entitlement_plan

    return numbers_entitlement_plan(tenant, [number.kind for number in numbers])


def entitlements_follow(
    actor: Actor, number: PhoneNumber, tenant: Tenant | None, now: datetime
) -> None:
    """The number changed tenants: the one it left gets its entitlement back and the one
    it joined (locked by the caller) gives it one, when on licences."""
    from trunkline.licensing.entitlements import number_entitlement_free, number_entitlement_take

    number_entitlement_free(actor=actor, number_id=number.id)
    if tenant is not None:
        number_entitlement_take(actor=actor, tenant=tenant, number=number, now=now)


def number_assign(
    *, actor: Actor, number: PhoneNumber, tenant: Tenant | None, now: datetime | None = None
) -> PhoneNumber:
    """Give the number to `tenant` (None: take it back, keeping it ACTIVE and billed).
    The tenant's Max DIDs and, on licences, its number entitlements are checked under a
    lock on the tenant row, so two assignments at once cannot both take the last place."""
    partner = require_writer(actor)
    now = now or timezone.now()
    if tenant is not None:
        tenant_in_scope(actor, tenant)
    with transaction.atomic():
        # The tenant before its numbers, as cancelling a tenant and routing a number do,
        # so these never wait on each other in a circle.
        if tenant is not None:
            tenant = tenant_lock(tenant)
        number = _locked(number)
        refusal = assign_refusal(number, tenant)
        if refusal is not None:
            raise refusal
        if tenant is not None:
            moving_in = number.tenant_id != tenant.id
            tenant_accepts(tenant, 1 if moving_in else 0)
            if moving_in:
                entitlements_accept(tenant, [number])
        assign_apply(actor, number, tenant, now)
    payment_services.wallet_after_debit(partner)
    return number


def _charge_month(actor: Actor, number: PhoneNumber, now: datetime) -> None:
    """Charge this month's price for a number brought back into service, unless paid."""
    today = timezone.localdate(now)
    if number.paid_through is not None and number.paid_through >= today:
        return
    price = number_price(partner=number.partner, kind=number.kind, at=now)
    through = month_end(today)
    ledger.wallet_debit(
        partner=number.partner,
        amount=price.monthly,
        type=_MONTHLY_POSTING[number.kind],
        actor=actor,
        idempotency_key=f"did_monthly:{number.id}:{through:%Y-%m}",
        memo=f"{number.e164}, {through:%B %Y}",
        reference=number.id,
        now=now,
    )
    number.paid_through = through


def _users_let_go(number: PhoneNumber, tenant: Tenant | None) -> None:
    """The number is about to go to `tenant` (None: to no tenant): unless it stays with
    its tenant, no user elsewhere keeps it as main number and it forgets its route (saved
    with the number's change, so call this before saving)."""
    from trunkline.pbx.extensions import main_numbers_let_go
    from trunkline.pbx.routing import route_let_go

    main_numbers_let_go(number.id, keep_tenant_id=tenant.id if tenant is not None else None)
    route_let_go(number, tenant)


def release_refusal(number: PhoneNumber) -> Conflict | None:
    if number.status not in (Status.ACTIVE, Status.PENDING):
        return Conflict(
            f"a {number.status.lower()} number cannot be released",
            type="invalid_state_transition",
        )
    if number.port_out_pending:
        return Conflict(
            "the number is being ported out: releasing it now would fail the port",
            type="port_out_pending",
        )
    return None


def release_apply(actor: Actor, number: PhoneNumber, now: datetime) -> PhoneNumber:
    before = number_snapshot(number)
    _users_let_go(number, None)
    number.status = Status.RELEASED
    number.tenant = None
    number.released_at = now
    number.updated_at = now
    number.save()
    entitlements_follow(actor, number, None, now)
    after = number_snapshot(number)
    audit_record(
        actor=actor,
        action="phone_number.released",
        object_type="phone_number",
        object_id=number.id,
        tenant_id=before["tenant_id"],
        before=before,
        after=after,
    )
    event_emit(
        partner=number.partner,
        type="phone_number.released",
        data={"phone_number": after, "previous_tenant_id": before["tenant_id"]},
    )
    return number


def number_release(
    *, actor: Actor, number: PhoneNumber, now: datetime | None = None
) -> PhoneNumber:
    """Take the number back from its tenant: RELEASED, not billed from next month, kept
    in the partner's inventory to assign again."""
    require_writer(actor)
    now = now or timezone.now()
    with transaction.atomic():
        number = _locked(number)
        refusal = release_refusal(number)
        if refusal is not None:
            raise refusal
        release_apply(actor, number, now)
    return number


def number_reserve(
    *, actor: Actor, number: PhoneNumber, reserved: bool, note: str = "", now=None
) -> PhoneNumber:
    """Hold an unassigned number for later (it cannot be assigned while reserved), or
    let it go again."""
    require_writer(actor)
    now = now or timezone.now()
    with transaction.atomic():
        number = _locked(number)
        if reserved and number.tenant_id:
            raise Conflict("an assigned number cannot be reserved", type="number_assigned")
        if number.status not in (Status.PENDING, Status.ACTIVE, Status.RELEASED):
            raise Conflict(
                f"a {number.status.lower()} number cannot be reserved",
                type="invalid_state_transition",
            )
        before = number_snapshot(number)
        number.reserved, number.reserved_note = reserved, note if reserved else ""
        number.updated_at = now
        number.save()
        after = number_snapshot(number)
        audit_record(
            actor=actor,
            action="phone_number.reserved" if reserved else "phone_number.unreserved",
            object_type="phone_number",
            object_id=number.id,
            before=before,
            after=after,
        )
        if before != after:
            event_emit(
                partner=number.partner,
                type="phone_number.updated",
                data={
                    "phone_number": after,
                    "previous_attributes": {"reserved": before["reserved"]},
                },
            )
    return number


def numbers_release_for_tenant(*, tenant: Tenant, now: datetime) -> int:
    """A cancelled tenant's numbers go back to the partner's inventory as RELEASED."""
    actor = Actor.system(partner=tenant.partner)
    released = 0
    for number in PhoneNumber.objects.filter(
        tenant=tenant, status__in=(Status.ACTIVE, Status.PENDING)
    ):
        number_release(actor=actor, number=number, now=now)
        released += 1
    return released


# --- the monthly run ---------------------------------------------------------------------


def _billable(kind: str):
    def count(*, partner, at: datetime) -> int:
        """ACTIVE numbers of `kind` not yet paid for the month starting at `at`; they are
        marked paid through its end, in the run's transaction."""
        start = timezone.localdate(at) if timezone.is_aware(at) else at.date()
        due = PhoneNumber.objects.filter(partner=partner, kind=kind, status=Status.ACTIVE).exclude(
            paid_through__gte=start
        )
        return due.update(paid_through=month_end(start))

    return count
