"""Tenant invoices: what a partner bills its tenants, cycle by cycle.

An invoice covers one ended billing cycle (see `profiles`), billed in arrears on the
profile the tenant was on during it:

- the base fee, prorated by the days of the cycle the tenant existed and was not
  cancelled, over the cycle's full length;
- extensions: each extension's days in the cycle over the cycle's full length; a Flat
  Rate profile's included extensions come off first;
- numbers, standard and toll-free apart: each number's days held in the cycle over the
  cycle's full length (a number held all month is 1, half the month 0.5). A Flat Rate
  profile's included DIDs cover standard numbers first, then toll-free;
- minutes: the billable minutes of every inbound and outbound call in the cycle
  (internal calls are free), by call class when the profile prices local and toll-free
  apart. A Flat Rate profile's included minutes (all, when unlimited) come off first,
  local first;
- one-time charges added during the cycle;
- tax: the tenant's jurisdiction's rate, when enabled, on the subtotal.

Each line is rounded to the cent, half-up; the subtotal and total are sums of rounded
figures.

Statuses: DRAFT → SENT (issued) → PARTIALLY_PAID / PAID, with OVERDUE when a sent
invoice is unpaid `OVERDUE_AFTER_DAYS` after its due date; only a DRAFT can be voided
(CANCELLED). Cycle invoices are issued at once; an off-cycle invoice starts as a DRAFT.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.utils import timezone

from trunkline.billing import profiles
from trunkline.billing.attachments import TENANT_INVOICE_PDF
from trunkline.billing.invoices_platform import invoice_number_next, invoice_numbers_take
from trunkline.billing.models import (
    BillingProfile,
    CallRecord,
    Invoice,
    InvoiceLine,
    InvoicePayment,
    ServicePeriod,
    TenantCharge,
)
from trunkline.billing.service_periods import days_held, periods_overlapping
from trunkline.core.actors import Actor
from trunkline.core.audit import (
    audit_entry,
    audit_record,
    audit_records,
    event_emit,
    events_emit,
)
from trunkline.core.email import BrandedEmail, send_branded_email, send_branded_emails
from trunkline.core.errors import (
    Conflict,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from trunkline.core.money import Money, MoneyError
from trunkline.tenants.models import Tenant

log = logging.getLogger(__name__)

DUE_DAYS = 7  # an issued invoice is due a week later
OVERDUE_AFTER_DAYS = 7  # the partner guide: "flagged at 7 days overdue"
MAX_LINES = 100
MAX_CATCH_UP = 24  # cycles one run bills for a tenant that fell behind
PREFETCH_TENANTS = 500  # tenants whose usage the job reads in one go
_QUANTITY = Decimal("0.0001")

S = Invoice.Status
OPEN_STATUSES = (S.SENT, S.PARTIALLY_PAID, S.OVERDUE)
REFUND_DESTINATIONS = ("credit", "card", "external")


def _cents(micros: Decimal | Fraction | int) -> int:
    """Micro-units rounded to the cent, half up (exact for fractions too)."""
    value = Fraction(micros) / 10_000  # in cents
    whole, rest = divmod(value.numerator, value.denominator)
    if rest * 2 >= value.denominator:
        whole += 1
    return whole * 10_000


@dataclass
class Line:
    """One invoice line. `exact` is the quantity as a fraction (15 of 31 days is 15/31),
    so the amount is rounded once, from the exact figure; `quantity` is what the invoice
    shows, to four places."""

    kind: str
    description: str
    exact: Fraction
    unit_price_micros: int
    charge_id: str = ""  # the one-time charge (`TenantCharge`) the line bills

    @property
    def quantity(self) -> Decimal:
        shown = Decimal(self.exact.numerator) / Decimal(self.exact.denominator)
        return shown.quantize(_QUANTITY, rounding=ROUND_HALF_UP)

    @property
    def amount_micros(self) -> int:
        return _cents(self.exact * self.unit_price_micros)


# --- what a cycle costs -----------------------------------------------------------------------


def _nominal_days(tenant: Tenant, profile: BillingProfile | None, start: date) -> int:
    """The length of the full cycle that contains `start` (a month, or anniversary to
    anniversary), which prorated quantities are measured against."""
    return profiles.billing_cycle(tenant, profiles.local_midnight(tenant, start), profile).days


def _active_days(tenant: Tenant, start: date, end: date) -> int:
    first = max(start, profiles.local_date(tenant, tenant.created_at))
    last = end
    if tenant.cancelled_at is not None:
        last = min(end, profiles.local_date(tenant, tenant.cancelled_at))
    return max((last - first).days, 0)


def _minutes(tenant: Tenant, start: date, end: date) -> dict[str, Fraction]:
    rows = (
        CallRecord.objects.filter(
            tenant=tenant,
            started_at__gte=profiles.local_midnight(tenant, start),
            started_at__lt=profiles.local_midnight(tenant, end),
        )
        .exclude(call_class=CallRecord.CallClass.INTERNAL)
        .values("call_class")
        .annotate(seconds=Sum("billable_seconds"))
    )
    return {row["call_class"]: Fraction(row["seconds"] or 0, 60) for row in rows}


def _shown(value: Fraction) -> str:
    return format(Line("", "", value, 0).quantity.normalize(), "f")


@dataclass
class Prefetched:
    """A tenant's usage in one cycle, read together with many other tenants' by the
    billing-cycle job (`_prefetch`) instead of in three queries each."""

    zone: str
    start: date
    end: date
    minutes: dict[str, Fraction] = field(default_factory=dict)
    periods: list[tuple] = field(default_factory=list)  # as periods_overlapping
    invoiced: bool = False  # a cycle invoice existed when it was read

    def covers(self, tenant: Tenant, start: date, end: date) -> bool:
        return (self.zone, self.start, self.end) == (tenant.timezone, start, end)


def _license_lines(tenant: Tenant, start: date, end: date, nominal: int) -> list[Line]:
    """Licences the tenant held in [start, end): monthly ones by days held, one line per
    SKU; yearly ones in full in the cycle each year of the subscription begins in."""
    from trunkline.licensing.models import LicenseSku, LicenseSubscription

    zone = ZoneInfo(tenant.timezone)
    start_at = datetime(start.year, start.month, start.day, tzinfo=zone)
    end_at = datetime(end.year, end.month, end.day, tzinfo=zone)
    found = (
        LicenseSubscription.objects.filter(tenant=tenant, started_at__lt=end_at)
        .exclude(terminated_at__lte=start_at)
        .select_related("sku")
        .order_by("sku__kind", "sku__sort_order", "started_at")
    )
    by_sku: dict[str, list] = {}
    for subscription in found:
        by_sku.setdefault(subscription.sku_id, []).append(subscription)
    lines: list[Line] = []
    for subscriptions in by_sku.values():
        sku = subscriptions[0].sku
        if sku.frequency == LicenseSku.Frequency.YEARLY:
            count = 0
            for subscription in subscriptions:
                begun = subscription.started_at.astimezone(zone).date()
                for year in range(begun.year, end.year + 1):
                    try:
                        renewal = begun.replace(year=year)
                    except ValueError:  # 29 February
                        renewal = begun.replace(year=year, day=28)
                    if start <= renewal < end:
                        count += subscription.quantity
            if count:
                lines.append(
                    Line(
                        "licenses",
                        f"{sku.name} licences (yearly)",
                        Fraction(count),
                        sku.price_micros,
                    )
                )
            continue
        quantity_days = 0
        total = 0
        for subscription in subscriptions:
            first = max(start, subscription.started_at.astimezone(zone).date())
            last = end
            if subscription.terminated_at is not None:
                last = min(end, subscription.terminated_at.astimezone(zone).date())
            days = max((last - first).days, 0)
            quantity_days += days * subscription.quantity
            total += subscription.quantity
        if quantity_days:
            months = Fraction(quantity_days, nominal)
            note = "" if months == total else ", prorated by days held"
            lines.append(
                Line("licenses", f"{sku.name} licences ({total}{note})", months, sku.price_micros)
            )
    return lines


def cycle_lines(
    tenant: Tenant,
    profile: BillingProfile,
    start: date,
    end: date,
    prefetched: Prefetched | None = None,
    charges: list[TenantCharge] | None = None,
) -> list[Line]:
    """The lines of the cycle [start, end) on `profile` (nothing rounded but the lines);
    the tenant's usage from `prefetched` when it was read for this very cycle, and its
    pending one-time charges from `charges` when given (read here otherwise): those added
    before the cycle ended."""
    if prefetched is not None and not prefetched.covers(tenant, start, end):
        prefetched = None
    lines: list[Line] = []
    nominal = _nominal_days(tenant, profile, start)
    span = f"{start:%b %-d} – {(end - timedelta(days=1)):%b %-d, %Y}"
    if profile.base_fee_micros:
        share = Fraction(_active_days(tenant, start, end), nominal)
        if share:
            label = "Monthly base fee" if share == 1 else f"Monthly base fee, {span} (prorated)"
            lines.append(Line("base_fee", label, share, profile.base_fee_micros))

    flat = profile.is_flat_rate
    periods = prefetched.periods if prefetched is not None else None
    held, count = days_held(
        tenant=tenant, kind=ServicePeriod.Kind.EXTENSION, start=start, end=end, periods=periods
    )
    licensed = profile.pricing_model == BillingProfile.PricingModel.LICENSE
    if licensed:
        # Seats are billed as licences, not per extension.
        held = 0
        lines.extend(_license_lines(tenant, start, end, nominal))
    if held:
        months = Fraction(held, nominal)
        covered = min(months, Fraction(profile.included_extensions if flat else 0))
        billable = months - covered
        if billable > 0 and profile.extension_monthly_micros:
            note = f"{count} extension{'s' if count != 1 else ''}, prorated by days held"
            if covered:
                note += f", {_shown(covered)} included"
            lines.append(
                Line(
                    "extensions", f"Extensions ({note})", billable, profile.extension_monthly_micros
                )
            )

    included_dids = Fraction(profile.included_dids if flat else 0)
    for kind, line_kind, label, price in (
        (ServicePeriod.Kind.DID_LOCAL, "dids", "Standard DIDs", profile.did_monthly_micros),
        (
            ServicePeriod.Kind.DID_TOLL_FREE,
            "toll_free_dids",
            "Toll-free DIDs",
            profile.toll_free_did_monthly_micros,
        ),
    ):
        held, count = days_held(
            tenant=tenant,
            kind=kind,
            start=start,
            end=end,
            periods=periods,
        )
        if not held:
            continue
        months = Fraction(held, nominal)
        covered = min(months, included_dids)
        included_dids -= covered
        billable = months - covered
        if billable > 0 and price:
            note = f"{count} number{'s' if count != 1 else ''}, prorated by days held"
            if covered:
                note += f", {_shown(covered)} included"
            lines.append(Line(line_kind, f"{label} ({note})", billable, price))

    minutes = prefetched.minutes if prefetched is not None else _minutes(tenant, start, end)
    remaining_included = (
        None
        if flat and profile.included_minutes is None
        else Fraction(profile.included_minutes if flat else 0)
    )
    split = (
        profile.per_minute_local_micros is not None
        or profile.per_minute_toll_free_micros is not None
    )
    classes = ("local", "toll_free", "international")
    groups = [(cls,) for cls in classes] if split else [classes]
    names = {"local": "Local minutes", "toll_free": "Toll-free minutes"}
    names["international"] = "International minutes"
    for group in groups:
        used = sum((minutes.get(cls, Fraction(0)) for cls in group), Fraction(0))
        if not used:
            continue
        if remaining_included is None:
            continue  # unlimited minutes on this flat rate
        covered = min(used, remaining_included)
        remaining_included -= covered
        billable = used - covered
        rate = profile.minute_rate(group[0]).micros
        if billable > 0 and rate:
            label = names[group[0]] if split else "Minutes"
            if covered:
                label += f" ({_shown(covered)} included)"
            lines.append(Line("minutes", label, billable, rate))

    ends_at = profiles.local_midnight(tenant, end)
    if charges is None:
        charges = list(TenantCharge.objects.filter(tenant=tenant, invoice__isnull=True))
    for charge in charges:
        if charge.created_at < ends_at:
            lines.append(
                Line(
                    "one_time",
                    charge.description,
                    Fraction(charge.quantity),
                    charge.unit_price_micros,
                    charge_id=charge.id,
                )
            )
    return lines


def _charges_billed(pending: list[tuple[Invoice, list[Line]]]) -> None:
    """Mark the one-time charges the invoices' lines bill as billed by them."""
    for invoice, lines in pending:
        billed = [line.charge_id for line in lines if line.charge_id]
        if billed:
            TenantCharge.objects.filter(pk__in=billed, invoice__isnull=True).update(invoice=invoice)


# --- writing invoices ---------------------------------------------------------------------


def _counter(partner_id: str) -> str:
    return partner_id  # one numbering series per partner


def _totals(invoice: Invoice, lines: list[Line], tenant: Tenant) -> None:
    subtotal = sum(line.amount_micros for line in lines)
    jurisdiction = tenant.tax_jurisdiction
    invoice.subtotal_micros = subtotal
    invoice.tax_micros = 0
    if jurisdiction is not None and jurisdiction.enabled and subtotal > 0:
        invoice.tax_name, invoice.tax_code = jurisdiction.name, jurisdiction.code
        invoice.tax_rate = jurisdiction.rate
        invoice.tax_micros = _cents(Decimal(subtotal) * jurisdiction.rate)
    invoice.total_micros = invoice.subtotal_micros + invoice.tax_micros


def _invoice(
    *,
    tenant: Tenant,
    lines: list[Line],
    kind: str,
    start: date,
    end: date,
    profile: BillingProfile | None,
    now: datetime,
    memo: str = "",
    issued: bool = False,
) -> Invoice:
    """The invoice of these lines, not yet numbered or written."""
    invoice = Invoice(
        partner_id=tenant.partner_id,
        tenant=tenant,
        kind=kind,
        period_start=start,
        period_end=end,
        billing_profile=profile,
        billing_profile_name=profile.name if profile else "",
        pricing_model=profile.pricing_model if profile else "",
        memo=memo,
        created_at=now,
        updated_at=now,
    )
    _totals(invoice, lines, tenant)
    if issued:  # written as sent at once, not as a draft updated a moment later
        _mark_issued(invoice, now)
    return invoice


def _line_rows(invoice: Invoice, lines: list[Line]) -> list[InvoiceLine]:
    return [
        InvoiceLine(
            invoice=invoice,
            position=position,
            kind=line.kind,
            description=line.description[:200],
            quantity=line.quantity,
            unit_price_micros=line.unit_price_micros,
            amount_micros=line.amount_micros,
        )
        for position, line in enumerate(lines, start=1)
    ]


def _write(*, tenant: Tenant, lines: list[Line], **fields) -> Invoice:
    """Number and write one invoice (the arguments of `_invoice`) with its lines."""
    invoice = _invoice(tenant=tenant, lines=lines, **fields)
    invoice.number = invoice_number_next(_counter(tenant.partner_id))
    invoice.save(force_insert=True)
    InvoiceLine.objects.bulk_create(_line_rows(invoice, lines))
    _charges_billed([(invoice, lines)])
    return invoice


@dataclass
class _Batch:
    """Cycle invoices of many tenants, numbered and written together by the billing-cycle
    job: one counter update per partner and one insert each for the invoices, their lines,
    audit rows, events, webhook deliveries and emails."""

    pending: list[tuple[Invoice, list[Line]]] = field(default_factory=list)
    # The chunk's pending one-time charges by tenant, read under the tenants' locks.
    charges: dict[str, list[TenantCharge]] = field(default_factory=dict)

    def add(self, invoice: Invoice, lines: list[Line]) -> None:
        self.pending.append((invoice, lines))

    taken: set[str] = field(default_factory=set)

    def charges_of(self, tenant: Tenant) -> list[TenantCharge]:
        """The tenant's charges not yet billed by an earlier cycle of this batch."""
        return [c for c in self.charges.get(tenant.id, []) if c.id not in self.taken]

    def write(self) -> list[Invoice]:
        invoices = [invoice for invoice, _ in self.pending]
        by_partner: dict[str, list[Invoice]] = defaultdict(list)
        for invoice in invoices:
            by_partner[invoice.partner_id].append(invoice)
        for partner_id in sorted(by_partner):  # counters locked in one order
            numbered = by_partner[partner_id]
            first = invoice_numbers_take(_counter(partner_id), len(numbered))
            for offset, invoice in enumerate(numbered):
                invoice.number = first + offset
        Invoice.objects.bulk_create(invoices, batch_size=500)
        InvoiceLine.objects.bulk_create(
            [row for invoice, lines in self.pending for row in _line_rows(invoice, lines)],
            batch_size=1000,
        )
        _charges_billed(self.pending)
        _announce(invoices)
        self.pending = []
        return invoices


def invoice_snapshot(invoice: Invoice) -> dict:
    return {
        "id": invoice.id,
        "number": invoice.display_number,
        "tenant_id": invoice.tenant_id,
        "status": invoice.status,
        "period_start": invoice.period_start.isoformat(),
        "period_end": invoice.period_end.isoformat(),
        "subtotal": Money(invoice.subtotal_micros).to_json(),
        "tax": Money(invoice.tax_micros).to_json(),
        "total": Money(invoice.total_micros).to_json(),
        "amount_paid": Money(invoice.paid_micros).to_json(),
        "amount_due": Money(invoice.amount_due_micros).to_json(),
        "due_date": invoice.due_date.isoformat() if invoice.due_date else None,
    }


def _mark_issued(invoice: Invoice, now: datetime) -> None:
    invoice.status = S.SENT
    invoice.issued_at = now
    invoice.due_date = profiles.local_date(invoice.tenant, now) + timedelta(days=DUE_DAYS)
    invoice.updated_at = now
    if invoice.total_micros == 0:
        invoice.status, invoice.paid_at = S.PAID, now


def _issue(actor: Actor, invoice: Invoice, now: datetime) -> None:
    """DRAFT → SENT: dated, due in DUE_DAYS, announced and emailed to the tenant."""
    _mark_issued(invoice, now)
    invoice.save()
    _apply_credit(invoice, now)
    _announce([invoice], actor)


def _announce(invoices: list[Invoice], actor: Actor | None = None) -> None:
    """Issued invoices' audit rows, `invoice.created` events and emails to the tenants,
    and their card charges once committed; the actor is the system of each invoice's
    partner unless given."""
    from trunkline.billing.collection import invoices_charge_after_commit

    entries, events, emails = [], [], []
    for invoice in invoices:
        partner = invoice.tenant.partner
        snapshot = invoice_snapshot(invoice)
        entries.append(
            audit_entry(
                actor=actor or Actor.system(partner=partner),
                partner=partner,
                action="invoice.issued",
                object_type="invoice",
                object_id=invoice.id,
                tenant_id=invoice.tenant_id,
                after=snapshot,
            )
        )
        events.append((partner, "invoice.created", {"invoice": snapshot}))
        emails.append(_email_message(invoice, reminder=False))
    audit_records(entries)
    events_emit(events)
    send_branded_emails(emails)
    invoices_charge_after_commit(invoices)


def _apply_credit(invoice: Invoice, now: datetime) -> None:
    """Take the tenant's account credit (from refunds) off a newly issued invoice."""
    tenant = Tenant.objects.select_for_update().get(pk=invoice.tenant_id)
    used = min(tenant.credit_micros, invoice.amount_due_micros)
    if used <= 0:
        return
    Tenant.objects.filter(pk=tenant.pk).update(credit_micros=tenant.credit_micros - used)
    invoice.tenant.credit_micros = tenant.credit_micros - used
    InvoicePayment.objects.create(
        invoice=invoice,
        method=InvoicePayment.Method.CREDIT,
        amount_micros=used,
        note="account credit",
        created_at=now,
    )
    invoice.paid_micros += used
    if invoice.paid_micros >= invoice.total_micros:
        invoice.status, invoice.paid_at = S.PAID, now
    else:
        invoice.status = S.PARTIALLY_PAID
    invoice.save(update_fields=["paid_micros", "status", "paid_at"])


def _email_message(invoice: Invoice, *, reminder: bool) -> BrandedEmail:
    """The email that sends or reminds of an invoice, its PDF attached (drawn when the
    email is delivered, so queuing a month-end batch renders nothing)."""
    partner, tenant = invoice.tenant.partner, invoice.tenant
    total = Money(invoice.total_micros).to_json()
    due = Money(invoice.amount_due_micros).to_json()
    subject = (
        f"Reminder: invoice {invoice.display_number} — ${due} due"
        if reminder
        else f"Invoice {invoice.display_number} from {partner.display_brand}: ${total}"
    )
    body = "\n".join(
        [
            f"Hello {tenant.name},",
            "",
            (
                f"Invoice {invoice.display_number} is still open: ${due} was due on "
                f"{invoice.due_date:%B %-d, %Y}."
                if reminder
                else f"Your invoice {invoice.display_number} for "
                f"{invoice.period_start:%B %-d} – "
                f"{invoice.period_end - timedelta(days=1):%B %-d, %Y} is ready."
            ),
            "",
            f"Total: ${total}",
            f"Amount due: ${due}",
            f"Due date: {invoice.due_date:%B %-d, %Y}" if invoice.due_date else "",
        ]
    )
    if invoice.status in OPEN_STATUSES and invoice.amount_due_micros > 0:
        from trunkline.billing.checkout import pay_link_url

        body += f"\n\nPay online by card: {pay_link_url(invoice)}"
    return BrandedEmail(
        partner,
        tenant.billing_email,
        subject,
        body,
        attachments=[(TENANT_INVOICE_PDF, invoice.id)],
    )


def _email(invoice: Invoice, *, reminder: bool) -> None:
    email = _email_message(invoice, reminder=reminder)
    send_branded_email(
        partner=email.partner,
        to=email.to,
        subject=email.subject,
        body=email.body,
        attachments=email.attachments,
    )


def invoice_for_cycle(
    tenant: Tenant,
    start: date,
    end: date,
    now: datetime,
    prefetched: Prefetched | None = None,
    batch: _Batch | None = None,
) -> Invoice | None:
    """Bill the ended cycle [start, end) (once: a second call finds the first invoice).
    No invoice when there is nothing to bill. Call with the tenant row locked. With a
    `batch`, the invoice is left to it to write (unless account credit is to be taken
    off it, which needs it written)."""
    profile = profiles.billing_profile_on(tenant, start)
    if profile is None:
        return None
    if prefetched is not None and not prefetched.covers(tenant, start, end):
        prefetched = None
    # No invoice when the usage was read means none to look for now: one written since
    # is refused by the unique index below.
    if prefetched is None or prefetched.invoiced:
        existing = Invoice.objects.filter(
            tenant=tenant, period_start=start, kind=Invoice.Kind.CYCLE
        ).first()
        if existing is not None:
            return existing
    charges = batch.charges_of(tenant) if batch is not None else None
    lines = cycle_lines(tenant, profile, start, end, prefetched, charges)
    if not lines:
        return None
    if batch is not None:
        batch.taken.update(line.charge_id for line in lines if line.charge_id)
    fields = {"kind": Invoice.Kind.CYCLE, "start": start, "end": end, "profile": profile}
    if batch is not None and tenant.credit_micros <= 0:
        invoice = _invoice(tenant=tenant, lines=lines, now=now, issued=True, **fields)
        batch.add(invoice, lines)
        return invoice
    try:
        with transaction.atomic():
            invoice = _write(tenant=tenant, lines=lines, now=now, issued=True, **fields)
    except IntegrityError:  # written by a concurrent run since we looked
        return Invoice.objects.get(tenant=tenant, period_start=start, kind=Invoice.Kind.CYCLE)
    if tenant.credit_micros > 0:  # the tenant row is locked: its credit is current
        _apply_credit(invoice, now)
    _announce([invoice])
    return invoice


# --- the billing-cycle job ----------------------------------------------------------------


def _finished(tenant: Tenant) -> bool:
    """A cancelled tenant billed up to its cancellation has nothing more to bill."""
    return (
        tenant.status == Tenant.Status.CANCELLED
        and tenant.cancelled_at is not None
        and profiles.local_date(tenant, tenant.cancelled_at) <= tenant.billed_through
    )


def _next_period(tenant: Tenant, now: datetime) -> tuple[date, date, datetime] | None:
    """(start, end, ends_at) of the tenant's period from `billed_through`, when it has
    ended by `now`."""
    if tenant.billing_profile is None or _finished(tenant):
        return None
    ends_at = profiles.period_end_at(tenant)
    if ends_at > now:
        return None
    start = tenant.billed_through
    end = profiles.local_date(tenant, ends_at)
    if ends_at != profiles.local_midnight(tenant, end):
        end += timedelta(days=1)  # a trial ending mid-day: that day is its last
    return start, end, ends_at


def _advance(
    tenant: Tenant,
    now: datetime,
    prefetched: Prefetched | None = None,
    batch: _Batch | None = None,
) -> int:
    """Bill every period of the tenant that ended by `now` and apply what happens at its
    end (a pending profile, a trial converting). Returns invoices written."""
    written = 0
    if tenant.billed_through is None:
        tenant.billed_through = profiles.local_date(
            tenant, tenant.billing_profile_since or tenant.created_at
        )
    for _ in range(MAX_CATCH_UP):
        period = _next_period(tenant, now)
        if period is None:
            break
        start, end, ends_at = period
        if end > start and invoice_for_cycle(tenant, start, end, now, prefetched, batch):
            written += 1
        tenant.billed_through = max(end, start)
        profiles.apply_cycle_end(tenant, ends_at, end)
    done = tenant.billing_profile is None or _finished(tenant)
    tenant.next_cycle_at = None if done else profiles.period_end_at(tenant)
    return written


def tenant_cycles_run(*, now: datetime | None = None) -> int:
    """The periodic job: every tenant whose period has ended is invoiced for it, then
    moved on (pending profile, trial conversion); sent invoices a week past due become
    OVERDUE. Each tenant is handled under its row lock, so runs at once bill it once."""
    now = now or timezone.now()
    written = 0
    due = (
        Tenant.objects.filter(Q(next_cycle_at__lte=now) | Q(next_cycle_at__isnull=True))
        .exclude(
            status=Tenant.Status.CANCELLED,
            next_cycle_at__isnull=True,
            billed_through__isnull=False,
        )
        .values_list("pk", flat=True)
    )
    due = list(due)
    for first in range(0, len(due), PREFETCH_TENANTS):
        chunk = due[first : first + PREFETCH_TENANTS]
        written += _bill_chunk(chunk, now, _prefetch(chunk, now))
    invoices_flag_overdue(now=now)
    tenants_suspend_for_non_payment(now=now)
    return written


def _prefetch(tenant_ids: list[str], now: datetime) -> dict[str, Prefetched]:
    """The usage of each tenant's next ended cycle, for many tenants in a few queries:
    minutes by call class (one aggregate per distinct cycle window — at month-end one per
    time zone), service periods and existing invoices.

    Read outside the tenants' locks, just before they are taken. A tenant whose cycle
    turns out different under its lock (another run moved it on, its profile changed) is
    read the usual way. Call records and periods of a cycle that has ended no longer
    change: a number moved now opens or closes its period after the cycle. A call record
    of that cycle imported after it is read is not billed, as it would not be once read
    under the lock."""
    cycles: dict[str, Prefetched] = {}
    tenants = Tenant.objects.filter(pk__in=tenant_ids).select_related("billing_profile")
    for tenant in tenants:
        if tenant.billed_through is None:
            continue  # its first run: left to the usual way
        period = _next_period(tenant, now)
        if period is not None and period[1] > period[0]:
            cycles[tenant.id] = Prefetched(zone=tenant.timezone, start=period[0], end=period[1])
    if not cycles:
        return cycles
    windows: dict[tuple[datetime, datetime], list[str]] = defaultdict(list)
    for tenant_id, cycle in cycles.items():
        zone = ZoneInfo(cycle.zone)
        window = (
            datetime(cycle.start.year, cycle.start.month, cycle.start.day, tzinfo=zone),
            datetime(cycle.end.year, cycle.end.month, cycle.end.day, tzinfo=zone),
        )
        windows[window].append(tenant_id)
    for (start_at, end_at), ids in windows.items():
        rows = (
            CallRecord.objects.filter(
                tenant_id__in=ids, started_at__gte=start_at, started_at__lt=end_at
            )
            .exclude(call_class=CallRecord.CallClass.INTERNAL)
            .values("tenant_id", "call_class")
            .annotate(seconds=Sum("billable_seconds"))
        )
        for row in rows:
            seconds = row["seconds"] or 0
            cycles[row["tenant_id"]].minutes[row["call_class"]] = Fraction(seconds, 60)
    periods = periods_overlapping(
        tenant_ids=list(cycles),
        start_at=min(start_at for start_at, _ in windows),
        end_at=max(end_at for _, end_at in windows),
    )
    for tenant_id, held in periods.items():
        cycles[tenant_id].periods = held
    invoiced = Invoice.objects.filter(
        tenant_id__in=list(cycles),
        kind=Invoice.Kind.CYCLE,
        period_start__in={cycle.start for cycle in cycles.values()},
    ).values_list("tenant_id", "period_start")
    for tenant_id, period_start in invoiced:
        if cycles[tenant_id].start == period_start:
            cycles[tenant_id].invoiced = True
    return cycles


_TENANT_CYCLE_FIELDS = (*profiles.TENANT_BILLING_FIELDS, "billed_through", "next_cycle_at")


def _tenants_locked():
    return Tenant.objects.select_for_update(of=("self",)).select_related(
        "partner",
        "billing_profile__converts_to",
        "pending_billing_profile",
        "tax_jurisdiction",
    )


def _bill_chunk(tenant_ids: list[str], now: datetime, usage: dict[str, Prefetched]) -> int:
    """Bill a chunk of due tenants in one transaction under all their row locks (taken in
    id order, so concurrent runs queue rather than deadlock), the invoices written
    together (`_Batch`). The chunk is all or nothing: when an invoice of it is refused —
    one written meanwhile by another path — or anything in it fails, it is rolled back and
    its tenants are billed one at a time, so one tenant's trouble holds back only itself.
    Returns invoices written."""
    try:
        with transaction.atomic():
            tenants = list(_tenants_locked().filter(pk__in=tenant_ids).order_by("pk"))
            batch = _Batch()
            pending = TenantCharge.objects.filter(tenant_id__in=tenant_ids, invoice__isnull=True)
            for charge in pending:
                batch.charges.setdefault(charge.tenant_id, []).append(charge)
            written = 0
            moved: dict[tuple, list[str]] = defaultdict(list)
            for tenant in tenants:
                if tenant.next_cycle_at is not None and tenant.next_cycle_at > now:
                    continue  # another run moved it on
                before = [getattr(tenant, name) for name in profiles.TENANT_BILLING_FIELDS]
                written += _advance(tenant, now, usage.get(tenant.id), batch)
                if before != [getattr(tenant, name) for name in profiles.TENANT_BILLING_FIELDS]:
                    tenant.save(update_fields=list(profiles.TENANT_BILLING_FIELDS))
                moved[(tenant.billed_through, tenant.next_cycle_at)].append(tenant.id)
            batch.write()
            # Tenants moved on to the same cycle (at month-end, one per time zone) in one
            # update each.
            for (billed_through, next_cycle_at), ids in moved.items():
                Tenant.objects.filter(pk__in=ids).update(
                    billed_through=billed_through, next_cycle_at=next_cycle_at
                )
        return written
    except Exception:  # noqa: BLE001 - retried tenant by tenant, where it surfaces again
        log.warning(
            "billing a chunk of %d tenants failed; billing them one by one",
            len(tenant_ids),
            exc_info=True,
        )
        return sum(_bill_tenant(tenant_id, now, usage.get(tenant_id)) for tenant_id in tenant_ids)


def _bill_tenant(tenant_id: str, now: datetime, prefetched: Prefetched | None) -> int:
    """Bill one tenant's ended periods under its row lock; invoices written."""
    with transaction.atomic():
        tenant = _tenants_locked().get(pk=tenant_id)
        if tenant.next_cycle_at is not None and tenant.next_cycle_at > now:
            return 0  # another run moved it on
        written = _advance(tenant, now, prefetched)
        tenant.save(update_fields=list(_TENANT_CYCLE_FIELDS))
    return written


def invoices_flag_overdue(*, now: datetime) -> int:
    flagged = 0
    # A day of slack for zones ahead of UTC; each invoice is checked in its tenant's zone.
    cutoff = (now + timedelta(days=1)).date() - timedelta(days=OVERDUE_AFTER_DAYS)
    for invoice_id in list(
        Invoice.objects.filter(
            status__in=(S.SENT, S.PARTIALLY_PAID), due_date__lte=cutoff
        ).values_list("pk", flat=True)
    ):
        with transaction.atomic():
            invoice = (
                Invoice.objects.select_for_update(of=("self",))
                .select_related("tenant__partner")
                .get(pk=invoice_id)
            )
            local_today = profiles.local_date(invoice.tenant, now)
            if invoice.status not in (S.SENT, S.PARTIALLY_PAID):
                continue
            if (local_today - invoice.due_date).days < OVERDUE_AFTER_DAYS:
                continue
            invoice.status, invoice.overdue_at, invoice.updated_at = S.OVERDUE, now, now
            invoice.save(update_fields=["status", "overdue_at", "updated_at"])
            audit_record(
                actor=Actor.system(partner=invoice.tenant.partner),
                partner=invoice.tenant.partner,
                action="invoice.overdue",
                object_type="invoice",
                object_id=invoice.id,
                tenant_id=invoice.tenant_id,
                after={"status": S.OVERDUE},
            )
            flagged += 1
    return flagged


def suspension_after_days(invoice: Invoice) -> int:
    """Days past due before the tenant is suspended: the invoice's profile's setting, or
    the partner's Default Suspension After."""
    profile = invoice.billing_profile
    if profile is not None and profile.suspension_after_days:
        return profile.suspension_after_days
    return invoice.tenant.partner.suspension_after_days


def tenants_suspend_for_non_payment(*, now: datetime) -> int:
    """Suspend each live tenant with an invoice unpaid past its suspension deadline."""
    from trunkline.tenants.services import tenant_suspend_automatically

    suspended = 0
    candidates = (
        Invoice.objects.filter(
            status__in=OPEN_STATUSES,
            due_date__lt=(now + timedelta(days=1)).date(),
            tenant__status__in=(Tenant.Status.TRIAL, Tenant.Status.ACTIVE),
        )
        .select_related("tenant__partner", "billing_profile")
        .order_by("tenant_id", "due_date")
    )
    seen: set[str] = set()
    for invoice in candidates:
        if invoice.tenant_id in seen:
            continue
        late = (profiles.local_date(invoice.tenant, now) - invoice.due_date).days
        if late >= suspension_after_days(invoice):
            seen.add(invoice.tenant_id)
            with transaction.atomic():
                if tenant_suspend_automatically(tenant=invoice.tenant, cause="non_payment"):
                    suspended += 1
    return suspended


def _lift_non_payment_suspension(tenant: Tenant) -> None:
    """Paying every overdue invoice lifts a suspension for non-payment (never the
    partner's own)."""
    from trunkline.tenants.services import tenant_unsuspend_automatically

    if tenant.status != Tenant.Status.SUSPENDED or tenant.suspension_cause != "non_payment":
        return
    if Invoice.objects.filter(tenant=tenant, status=S.OVERDUE).exists():
        return
    tenant_unsuspend_automatically(tenant=tenant, cause="non_payment")


# --- what partners do with invoices -------------------------------------------------------


def _writer(actor: Actor):
    if not actor.can_write:
        raise PermissionDenied("this account is read-only")
    if actor.partner is None:
        raise PermissionDenied("invoices belong to a partner")
    return actor.partner


def invoice_list(*, actor: Actor):
    if actor.partner is None:
        return Invoice.objects.none()
    invoices = Invoice.objects.filter(partner=actor.partner)
    if actor.tenant_ids is not None:
        invoices = invoices.filter(tenant_id__in=actor.tenant_ids)
    return invoices


def invoice_search(
    *,
    actor: Actor,
    tenant_id: str | None = None,
    status: str | None = None,
    search: str | None = None,
    issued_from: date | None = None,
    issued_to: date | None = None,
):
    """Tenant Invoices' filters: tenant, status, a search (invoice number, tenant name or
    SIP prefix) and the issue-date range, within the actor's invoices."""
    from trunkline.tenants.selectors import tenant_get

    found = invoice_list(actor=actor).select_related("tenant")
    if tenant_id:
        found = found.filter(tenant=tenant_get(actor=actor, tenant_id=tenant_id))
    if status:
        found = found.filter(status=status)
    if search:
        term = search.strip()
        match = Q(tenant__name__icontains=term) | Q(tenant__sip_prefix__icontains=term)
        digits = term.upper().removeprefix("INV-").lstrip("0")
        if digits.isdigit():
            match |= Q(number=int(digits))
        found = found.filter(match)
    if issued_from and issued_to and issued_from > issued_to:
        raise ValidationFailed("issued_from is after issued_to", field="issued_from")
    if issued_from:
        found = found.filter(created_at__date__gte=issued_from)
    if issued_to:
        found = found.filter(created_at__date__lte=issued_to)
    return found


def invoice_get(*, actor: Actor, invoice_id: str) -> Invoice:
    invoice = (
        invoice_list(actor=actor).select_related("tenant__partner").filter(id=invoice_id).first()
    )
    if invoice is None:
        raise NotFound("no such invoice", field="invoice_id")
    return invoice


def _locked(invoice: Invoice) -> Invoice:
    return (
        Invoice.objects.select_for_update(of=("self",))
        .select_related("tenant__partner", "tenant__tax_jurisdiction")
        .get(pk=invoice.pk)
    )


def _amount(value, *, field: str = "amount") -> int:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValidationFailed(f"{field} is a decimal string such as '12.34'", field=field)
    try:
        amount = Money.parse(value)
    except MoneyError as error:
        raise ValidationFailed(f"{field}: {error}", field=field) from None
    if amount.micros <= 0:
        raise ValidationFailed(f"{field} is more than zero", field=field)
    if amount.micros != _cents(amount.micros):
        raise ValidationFailed(f"{field} is whole cents", field=field)
    return amount.micros


def _audit(actor, invoice, action, before, **extra):
    audit_record(
        actor=actor,
        action=action,
        object_type="invoice",
        object_id=invoice.id,
        tenant_id=invoice.tenant_id,
        before=before,
        after={**invoice_snapshot(invoice), **extra},
    )


def one_time_line(raw, where: str) -> Line:
    """A one-time line from the caller's {description, quantity?, unit_price}; `where`
    names it in errors."""
    if not isinstance(raw, dict) or set(raw) - {"description", "quantity", "unit_price"}:
        raise ValidationFailed(f"{where} has description, quantity and unit_price", field=where)
    description = raw.get("description")
    if not isinstance(description, str) or not description.strip() or len(description) > 200:
        raise ValidationFailed(
            f"{where}.description is 1 to 200 characters", field=f"{where}.description"
        )
    quantity = raw.get("quantity", 1)
    if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= 100_000:
        raise ValidationFailed(
            f"{where}.quantity is a whole number from 1 to 100000", field=f"{where}.quantity"
        )
    price = _amount(raw.get("unit_price"), field=f"{where}.unit_price")
    if price > Money.parse("1000000").micros:
        raise ValidationFailed(
            f"{where}.unit_price is at most 1000000", field=f"{where}.unit_price"
        )
    return Line("one_time", " ".join(description.split()), Fraction(quantity), price)


def invoice_create_off_cycle(
    *,
    actor: Actor,
    tenant: Tenant,
    lines: list[dict],
    memo: str = "",
    now: datetime | None = None,
) -> Invoice:
    """A DRAFT invoice with the caller's one-time lines ({description, quantity?,
    unit_price}); send it with `invoice_send`."""
    partner = _writer(actor)
    if tenant.partner_id != partner.id or not actor.sees_tenant(tenant.id):
        raise NotFound("no such tenant", field="tenant_id")
    if not isinstance(lines, list) or not 1 <= len(lines) <= MAX_LINES:
        raise ValidationFailed(f"an invoice has 1 to {MAX_LINES} lines", field="lines")
    cleaned = [one_time_line(raw, f"lines[{index}]") for index, raw in enumerate(lines)]
    if not isinstance(memo, str) or len(memo) > 500:
        raise ValidationFailed("memo is at most 500 characters", field="memo")
    now = now or timezone.now()
    with transaction.atomic():
        tenant = (
            Tenant.objects.select_for_update(of=("self",))
            .select_related("partner", "tax_jurisdiction")
            .get(pk=tenant.pk)
        )
        today = profiles.local_date(tenant, now)
        invoice = _write(
            tenant=tenant,
            lines=cleaned,
            kind=Invoice.Kind.OFF_CYCLE,
            start=today,
            end=today + timedelta(days=1),
            profile=tenant.billing_profile,
            now=now,
            memo=memo.strip(),
        )
        _audit(actor, invoice, "invoice.created", None)
    return invoice


def invoice_send(*, actor: Actor, invoice: Invoice, now: datetime | None = None) -> Invoice:
    _writer(actor)
    now = now or timezone.now()
    with transaction.atomic():
        invoice = _locked(invoice)
        if invoice.status != S.DRAFT:
            raise InvalidTransition(f"a {invoice.get_status_display()} invoice cannot be sent")
        _issue(actor, invoice, now)
    return invoice


def invoice_void(*, actor: Actor, invoice: Invoice, now: datetime | None = None) -> Invoice:
    """Only a DRAFT can be voided: an issued invoice is settled by payment or refund."""
    _writer(actor)
    now = now or timezone.now()
    with transaction.atomic():
        invoice = _locked(invoice)
        if invoice.status != S.DRAFT:
            raise InvalidTransition(
                f"only a draft can be voided; this invoice is {invoice.get_status_display()}"
            )
        before = invoice_snapshot(invoice)
        invoice.status, invoice.cancelled_at, invoice.updated_at = S.CANCELLED, now, now
        invoice.save(update_fields=["status", "cancelled_at", "updated_at"])
        _audit(actor, invoice, "invoice.voided", before)
    return invoice


def invoice_record_payment(
    *,
    actor: Actor,
    invoice: Invoice,
    amount: str | None = None,
    method: str = InvoicePayment.Method.MANUAL,
    reference: str = "",
    note: str = "",
    now: datetime | None = None,
) -> Invoice:
    """Money received: the whole amount due (None) or part of it. Paid in full → PAID and
    `invoice.paid` fires; part → PARTIALLY_PAID (an overdue invoice stays OVERDUE)."""
    _writer(actor)
    now = now or timezone.now()
    if not isinstance(note, str) or len(note) > 300:
        raise ValidationFailed("note is at most 300 characters", field="note")
    with transaction.atomic():
        invoice = _locked(invoice)
        if invoice.status not in OPEN_STATUSES:
            raise InvalidTransition(f"a {invoice.get_status_display()} invoice takes no payment")
        due = invoice.amount_due_micros
        micros = due if amount is None else _amount(amount)
        if micros > due:
            raise Conflict(
                f"the amount due is {Money(due).to_json()}", field="amount", type="overpayment"
            )
        payment_apply(
            actor, invoice, micros, method=method, reference=reference, note=note, now=now
        )
    return invoice


def payment_apply(
    actor: Actor,
    invoice: Invoice,
    micros: int,
    *,
    method: str,
    reference: str = "",
    note: str = "",
    now: datetime,
) -> None:
    """Record `micros` received against the locked, open `invoice`: paid in full → PAID,
    `invoice.paid` and a non-payment suspension lifted once nothing is overdue."""
    before = invoice_snapshot(invoice)
    InvoicePayment.objects.create(
        invoice=invoice,
        method=method,
        amount_micros=micros,
        reference=reference[:100],
        note=note.strip(),
        created_at=now,
    )
    invoice.paid_micros += micros
    invoice.updated_at = now
    if invoice.paid_micros >= invoice.total_micros:
        invoice.status, invoice.paid_at = S.PAID, now
    elif invoice.status != S.OVERDUE:
        invoice.status = S.PARTIALLY_PAID
    invoice.save()
    _audit(
        actor,
        invoice,
        "invoice.payment_recorded",
        before,
        payment=Money(micros).to_json(),
        method=method,
    )
    if invoice.status == S.PAID:
        event_emit(
            partner=invoice.tenant.partner,
            type="invoice.paid",
            data={"invoice": invoice_snapshot(invoice)},
        )
        _lift_non_payment_suspension(invoice.tenant)


def invoice_refund(
    *,
    actor: Actor,
    invoice: Invoice,
    amount: str | None = None,
    note: str = "",
    destination: str = "credit",
    now: datetime | None = None,
) -> Invoice:
    """Give back all (None) or part of what was paid. The invoice keeps its status; the
    refunded amount is recorded against it. `destination`: "credit" restores it to the
    tenant's account credit, taken off its next invoices; "card" sends it back to the card
    a payment on this invoice came from (billing/collection.py); "external" records money
    the partner returned itself (a cheque, a transfer)."""
    _writer(actor)
    now = now or timezone.now()
    if not isinstance(note, str) or len(note) > 300:
        raise ValidationFailed("note is at most 300 characters", field="note")
    if destination not in REFUND_DESTINATIONS:
        raise ValidationFailed("destination is credit, card or external", field="destination")
    with transaction.atomic():
        invoice = _locked(invoice)
        refundable = invoice.paid_micros - invoice.refunded_micros
        if invoice.status not in (S.PAID, S.PARTIALLY_PAID, S.OVERDUE) or refundable <= 0:
            raise InvalidTransition("nothing has been paid on this invoice to refund")
        micros = refundable if amount is None else _amount(amount)
        if micros > refundable:
            raise Conflict(
                f"at most {Money(refundable).to_json()} can be refunded",
                field="amount",
                type="refund_exceeds_payment",
            )
        before = invoice_snapshot(invoice)
        reference = destination
        if destination == "card":
            from trunkline.billing.collection import refund_to_card

            refunds = invoice.payments.filter(method=InvoicePayment.Method.REFUND).count()
            reference = f"card:{refund_to_card(invoice, micros, refunds + 1, now)}"
        InvoicePayment.objects.create(
            invoice=invoice,
            method=InvoicePayment.Method.REFUND,
            amount_micros=-micros,
            reference=reference[:100],
            note=note.strip(),
            created_at=now,
        )
        invoice.refunded_micros += micros
        invoice.updated_at = now
        invoice.save(update_fields=["refunded_micros", "updated_at"])
        if destination == "credit":
            tenant = Tenant.objects.select_for_update().get(pk=invoice.tenant_id)
            Tenant.objects.filter(pk=tenant.pk).update(credit_micros=tenant.credit_micros + micros)
        _audit(
            actor,
            invoice,
            "invoice.refunded",
            before,
            refund=Money(micros).to_json(),
            destination=destination,
        )
    return invoice


def invoice_send_reminder(
    *, actor: Actor, invoice: Invoice, now: datetime | None = None
) -> Invoice:
    _writer(actor)
    now = now or timezone.now()
    with transaction.atomic():
        invoice = _locked(invoice)
        if invoice.status not in OPEN_STATUSES:
            raise InvalidTransition(f"a {invoice.get_status_display()} invoice needs no reminder")
        invoice.last_reminder_at, invoice.updated_at = now, now
        invoice.save(update_fields=["last_reminder_at", "updated_at"])
        _email(invoice, reminder=True)
        _audit(actor, invoice, "invoice.reminder_sent", None)
    return invoice


def invoice_stats(*, actor: Actor, invoices=None) -> dict:
    """The cards above Tenant Invoices: how many, paid, unpaid, outstanding — of the
    actor's invoices, or of those a search selected (`invoice_search`)."""
    if invoices is None:
        invoices = invoice_list(actor=actor)
    invoices = invoices.exclude(status__in=(S.DRAFT, S.CANCELLED))
    unpaid = invoices.filter(status__in=OPEN_STATUSES)
    owed = unpaid.aggregate(total=Sum("total_micros"), paid=Sum("paid_micros"))
    return {
        "total": invoices.count(),
        "paid": invoices.filter(status=S.PAID).count(),
        "unpaid": unpaid.count(),
        "outstanding_micros": (owed["total"] or 0) - (owed["paid"] or 0),
    }
