"""The double-entry ledger: accounts, postings and their entries.

Every movement of money is a posting whose entries sum to zero, so the sum of all
account balances is always zero and no cent is created or lost. Entries are never
changed or deleted; a correction is a new posting (`reverses` points at the original).
A partner's wallet is one account; its balance is the running sum of its entries, kept
on the account row and changed only by `ledger.posting_create` under a row lock.

Signs: an entry adds its amount to its account's balance. The wallet is positive when
the partner has prepaid credit; the platform's counter-accounts carry the opposite sign
(cash received from processors is negative, revenue is positive).
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from trunkline.core.ids import id_factory
from trunkline.core.money import Money


class LedgerAccount(models.Model):
    class Code(models.TextChoices):
        WALLET = "wallet", "Partner wallet"
        # The platform's side of every posting.
        PROCESSOR_CLEARING = "platform.processor_clearing", "Card and bank receipts"
        ADJUSTMENTS = "platform.adjustments", "Manual adjustments"
        REVENUE_EXTENSIONS = "platform.revenue.extensions", "Revenue: extensions"
        REVENUE_DIDS = "platform.revenue.dids", "Revenue: phone numbers"
        REVENUE_USAGE = "platform.revenue.usage", "Revenue: minutes"
        REVENUE_SUBSCRIPTIONS = "platform.revenue.subscriptions", "Revenue: subscriptions"
        REFUNDS = "platform.refunds", "Refunds"
        REVENUE_APPLICATION_FEES = (
            "platform.revenue.application_fees",
            "Revenue: fees on tenant payments",
        )
        # What the platform holds for a partner: its tenants' card payments collected in
        # Platform mode, less the fee, until they are paid out to the partner.
        TENANT_PAYMENTS_HELD = "partner.tenant_payments_held", "Tenant payments held"

    id = models.CharField(
        primary_key=True, max_length=40, default=id_factory("lac"), editable=False
    )
    # Null for the platform's own accounts.
    partner = models.ForeignKey(
        "accounts.Partner",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="ledger_accounts",
    )
    code = models.CharField(max_length=64, choices=Code.choices)
    balance_micros = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3, default="USD")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["partner", "code"], name="ledger_account_per_partner"),
            models.UniqueConstraint(
                fields=["code"],
                condition=models.Q(partner__isnull=True),
                name="ledger_platform_account",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.partner_id or 'platform'})"

    @property
    def balance(self) -> Money:
        return Money(self.balance_micros, self.currency)


class Posting(models.Model):
    class Type(models.TextChoices):
        TOP_UP = "top_up", "Top-up"
        DID_MONTHLY_LOCAL = "did_monthly_local", "Monthly DID (local)"
        DID_MONTHLY_TOLL_FREE = "did_monthly_toll_free", "Monthly DID (toll-free)"
        DID_SETUP = "did_setup", "DID setup fee"
        EXTENSION_MONTHLY = "extension_monthly", "Monthly extension"
        USAGE_LOCAL = "usage_local", "Per-minute local usage"
        USAGE_TOLL_FREE = "usage_toll_free", "Per-minute toll-free usage"
        USAGE_INTERNATIONAL = "usage_international", "Per-minute international usage"
        REFUND = "refund", "Refund"
        MANUAL_ADJUSTMENT = "manual_adjustment", "Manual adjustment"
        SUBSCRIPTION_INVOICE = "subscription_invoice", "Subscription invoice"
        # Tenant payments (not the wallet): a card payment collected for a partner in
        # Platform mode, the platform's fee on a Connect payment, a refund of either.
        TENANT_PAYMENT = "tenant_payment", "Tenant card payment"
        APPLICATION_FEE = "application_fee", "Fee on a tenant payment"
        TENANT_REFUND = "tenant_refund", "Tenant card refund"

    id = models.CharField(
        primary_key=True, max_length=40, default=id_factory("pst"), editable=False
    )
    partner = models.ForeignKey(
        "accounts.Partner", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    type = models.CharField(max_length=32, choices=Type.choices)
    # One posting per key, platform-wide: a retried charge finds the first one.
    idempotency_key = models.CharField(max_length=200, unique=True)
    memo = models.CharField(max_length=500, blank=True)
    reference = models.CharField(max_length=64, blank=True)  # did_…, inv_…, a call id …
    reverses = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversals"
    )
    actor_label = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["partner", "type", "created_at"])]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class Entry(models.Model):
    posting = models.ForeignKey(Posting, on_delete=models.PROTECT, related_name="entries")
    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="entries")
    amount_micros = models.BigIntegerField()
    # The account's balance right after this entry: the History tab's running balance.
    balance_after_micros = models.BigIntegerField()

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["account", "id"])]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(amount_micros=0), name="ledger_entry_not_zero"
            )
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.amount_micros:+d}"


# --- what things cost: platform plans, carriers and their rate tables -----------------


class Plan(models.TextChoices):
    STARTER = "starter", "Starter"
    PROFESSIONAL = "professional", "Professional"
    BUSINESS = "business", "Business"
    ENTERPRISE = "enterprise", "Enterprise"


class PlanPrice(models.Model):
    """A tier's prices from `effective_from` on (the guide's "Rate changes": new prices
    apply only to what is metered after them). A row with a partner is an Enterprise
    partner's custom price list and wins over the tier's own row."""

    plan = models.CharField(max_length=16, choices=Plan.choices)
    partner = models.ForeignKey(
        "accounts.Partner", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    effective_from = models.DateTimeField()
    monthly_fee_micros = models.BigIntegerField()
    max_extensions = models.PositiveIntegerField(null=True, blank=True)  # null: unlimited
    extension_monthly_micros = models.BigIntegerField()
    did_local_monthly_micros = models.BigIntegerField()
    did_toll_free_monthly_micros = models.BigIntegerField()
    minute_local_micros = models.BigIntegerField()
    minute_toll_free_micros = models.BigIntegerField()
    first_increment = models.PositiveSmallIntegerField(default=6)
    step_increment = models.PositiveSmallIntegerField(default=6)
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["plan", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["plan", "partner", "effective_from"], name="plan_price_once"
            ),
            models.UniqueConstraint(
                fields=["plan", "effective_from"],
                condition=models.Q(partner__isnull=True),
                name="plan_price_once_platform",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.plan} from {self.effective_from:%Y-%m-%d}"


class PlanPeriod(models.Model):
    """Which tier a partner was on, and when: rating looks up the tier in force at the
    moment of each call. Without a row a partner is on Starter (its trial's tier)."""

    partner = models.ForeignKey(
        "accounts.Partner", on_delete=models.CASCADE, related_name="plan_periods"
    )
    plan = models.CharField(max_length=16, choices=Plan.choices)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True)  # exclusive; null: current

    class Meta:
        ordering = ["partner", "starts_at"]
        indexes = [models.Index(fields=["partner", "starts_at"])]

    def __str__(self) -> str:
        return f"{self.partner_id} {self.plan} from {self.starts_at:%Y-%m-%d}"


class Provider(models.Model):
    """A carrier the platform buys minutes and numbers from."""

    id = models.CharField(
        primary_key=True, max_length=40, default=id_factory("prv"), editable=False
    )
    name = models.CharField(max_length=100, unique=True)
    # The Asterisk endpoint (trunk) its calls leave through, to attribute call records.
    trunk_name = models.CharField(max_length=80, blank=True)
    is_default = models.BooleanField(default=False)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class _Priced(models.Model):
    per_minute_micros = models.BigIntegerField()
    connection_micros = models.BigIntegerField(default=0)
    first_increment = models.PositiveSmallIntegerField(default=60)
    step_increment = models.PositiveSmallIntegerField(default=60)
    effective_from = models.DateTimeField()
    effective_to = models.DateTimeField(null=True, blank=True)  # exclusive; null: open
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        abstract = True
        constraints = []


class OutboundRate(_Priced):
    """A destination prefix's price. With a provider it is that carrier's cost; without
    one it is the platform's sell price to partners for international calls."""

    id = models.CharField(
        primary_key=True, max_length=40, default=id_factory("rte"), editable=False
    )
    provider = models.ForeignKey(
        Provider, null=True, blank=True, on_delete=models.CASCADE, related_name="outbound_rates"
    )
    prefix = models.CharField(max_length=15)  # digits, country code first; "" = everything
    description = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["prefix", "-effective_from"]
        indexes = [models.Index(fields=["provider", "prefix"])]

    def __str__(self) -> str:
        return f"+{self.prefix}"


class InboundRate(_Priced):
    """What a carrier charges per minute of inbound traffic on a local or toll-free DID."""

    class DidClass(models.TextChoices):
        LOCAL = "local", "Local"
        TOLL_FREE = "toll_free", "Toll-free"

    id = models.CharField(
        primary_key=True, max_length=40, default=id_factory("rte"), editable=False
    )
    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="inbound_rates")
    did_class = models.CharField(max_length=10, choices=DidClass.choices)

    class Meta:
        ordering = ["provider", "did_class", "-effective_from"]

    def __str__(self) -> str:
        return f"{self.provider} {self.did_class}"


class ConferenceRate(_Priced):
    """The platform's per-participant-minute price of hosted conference rooms."""

    id = models.CharField(
        primary_key=True, max_length=40, default=id_factory("rte"), editable=False
    )
    description = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["-effective_from"]

    def __str__(self) -> str:
        return f"conference from {self.effective_from:%Y-%m-%d}"


# --- call records ----------------------------------------------------------------------


class CallRecord(models.Model):
    """One rated call. `call_id` is unique per partner, so a record sent twice is
    stored, counted and charged once."""

    class Direction(models.TextChoices):
        INBOUND = "inbound"
        OUTBOUND = "outbound"
        INTERNAL = "internal"

    class CallClass(models.TextChoices):
        LOCAL = "local"
        TOLL_FREE = "toll_free"
        INTERNATIONAL = "international"
        INTERNAL = "internal"

    id = models.CharField(
        primary_key=True, max_length=40, default=id_factory("cdr"), editable=False
    )
    # No single-column indexes on partner or provider: the composite indexes below start
    # with them, and every extra index slows the import of millions of rows. Tenant has
    # its index in Meta, not db_index: on PostgreSQL, db_index on a varchar column adds a
    # second, LIKE-only index (varchar_pattern_ops) that nothing here uses.
    #
    # Only the tenant is a foreign key constraint in the database. On PostgreSQL each
    # constraint is a check per row at commit (~6 µs), a third of an import's server time
    # with three of them. The partner is the tenant's partner, copied from the tenant row
    # by the importer (a test holds them equal), and the provider is the rate book's; both
    # keep PROTECT, which Django enforces before any delete through the ORM.
    partner = models.ForeignKey(
        "accounts.Partner",
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    call_id = models.CharField(max_length=128)
    direction = models.CharField(max_length=10, choices=Direction.choices)
    from_number = models.CharField(max_length=32)
    to_number = models.CharField(max_length=32)
    started_at = models.DateTimeField()
    answered_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField()
    billsec = models.PositiveIntegerField()
    call_class = models.CharField(max_length=16, choices=CallClass.choices)
    billable_seconds = models.PositiveIntegerField()
    wholesale_micros = models.BigIntegerField()
    provider_cost_micros = models.BigIntegerField()
    provider = models.ForeignKey(
        Provider,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    rate_id = models.CharField(max_length=40, blank=True)
    provider_rate_id = models.CharField(max_length=40, blank=True)
    cycle_start = models.DateField()  # the tenant's usage cycle this call counts in
    source = models.CharField(max_length=10, default="api")  # api | csv
    imported_at = models.DateTimeField()

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["partner", "call_id"], name="call_record_once")
        ]
        indexes = [
            models.Index(fields=["partner", "tenant", "-started_at"]),
            models.Index(fields=["provider", "started_at"]),
            # Deleting a tenant looks for its records (PROTECT), and the composite index
            # above does not lead with tenant.
            models.Index(fields=["tenant"], name="call_record_tenant"),
        ]

    def __str__(self) -> str:
        return self.call_id


class RejectedCallRecord(models.Model):
    """A record that could not be stored, kept with the reason, never silently dropped."""

    id = models.CharField(
        primary_key=True, max_length=40, default=id_factory("cdx"), editable=False
    )
    partner = models.ForeignKey(
        "accounts.Partner", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    call_id = models.CharField(max_length=128, blank=True)
    reason = models.CharField(max_length=300)
    field = models.CharField(max_length=64, blank=True)
    record = models.JSONField()  # as received (CSV rows as a column → value object)
    source = models.CharField(max_length=10, default="api")
    received_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"{self.call_id}: {self.reason}"


class TenantUsage(models.Model):
    """A tenant's metered usage in one cycle, kept exact as records arrive: the
    counters usage limits and invoices read instead of summing call records."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    partner = models.ForeignKey("accounts.Partner", on_delete=models.CASCADE, related_name="+")
    cycle_start = models.DateField()
    calls = models.PositiveIntegerField(default=0)
    local_seconds = models.BigIntegerField(default=0)  # billable seconds by class
    toll_free_seconds = models.BigIntegerField(default=0)
    international_seconds = models.BigIntegerField(default=0)
    wholesale_micros = models.BigIntegerField(default=0)  # what the partner owes for them
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "cycle_start"], name="tenant_usage_once")
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id} {self.cycle_start}"


class CdrSource(models.Model):
    """A call-record file followed by `trunkline import-cdrs --follow` (billing/cdr_tail.py):
    which file it is and how far it has been read.

    `offset` is always the end of a complete line, and it is written in the transaction
    that stores the records of the lines before it, so after a crash the importer starts
    exactly where the committed records end. The file's identity (device, inode and a
    hash of its first line) tells a rotated or truncated file, which starts again from 0.
    """

    id = models.CharField(
        primary_key=True, max_length=40, default=id_factory("cds"), editable=False
    )
    path = models.CharField(max_length=1024, unique=True)  # absolute
    # Text, not integers: st_dev and st_ino are unsigned 64-bit and may not fit a bigint.
    device = models.CharField(max_length=24, blank=True)
    inode = models.CharField(max_length=24, blank=True)
    first_line_sha256 = models.CharField(max_length=64, blank=True)
    offset = models.BigIntegerField(default=0)
    lines = models.BigIntegerField(default=0)  # lines consumed from this file
    # Totals for this file since it was first read (or since its rotation).
    accepted = models.BigIntegerField(default=0)
    duplicates = models.BigIntegerField(default=0)
    rejected = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.path} @ {self.offset}"


# --- how a partner pays the platform ------------------------------------------------------


class BillingAccount(models.Model):
    """A partner's side of paying the platform: its plan cycle, its customer at the card
    processor and its auto-recharge settings. One per partner, made on first use."""

    partner = models.OneToOneField(
        "accounts.Partner", on_delete=models.CASCADE, related_name="billing_account"
    )
    plan = models.CharField(max_length=16, choices=Plan.choices, default=Plan.STARTER)
    # A downgrade waits for the end of the cycle; an upgrade applies at once.
    pending_plan = models.CharField(max_length=16, choices=Plan.choices, blank=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    current_period_start = models.DateTimeField(null=True, blank=True)
    current_period_end = models.DateTimeField(null=True, blank=True)  # exclusive
    processor = models.CharField(max_length=16, blank=True)  # simulated | stripe
    processor_customer_id = models.CharField(max_length=64, blank=True)
    auto_recharge_enabled = models.BooleanField(default=False)
    auto_recharge_threshold_micros = models.BigIntegerField(default=50_000_000)
    auto_recharge_amount_micros = models.BigIntegerField(default=200_000_000)
    auto_recharge_last_at = models.DateTimeField(null=True, blank=True)
    auto_recharge_disabled_reason = models.CharField(max_length=200, blank=True)
    # Set when the wallet is below zero and cannot be recharged: the call engine refuses
    # this partner's outbound calls until it is cleared (see the telephony app).
    calls_blocked_at = models.DateTimeField(null=True, blank=True)
    # The first failed charge of a subscription invoice still unpaid; the grace period
    # before suspension counts from it (billing/subscriptions.py).
    past_due_since = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.partner_id} {self.plan}"


class PaymentMethod(models.Model):
    """A card (or bank account) on file at the processor; only its description is kept."""

    id = models.CharField(
        primary_key=True, max_length=40, default=id_factory("pmt"), editable=False
    )
    partner = models.ForeignKey(
        "accounts.Partner", on_delete=models.CASCADE, related_name="payment_methods"
    )
    processor = models.CharField(max_length=16)
    processor_id = models.CharField(max_length=64)  # pm_…
    kind = models.CharField(max_length=16, default="card")  # card | us_bank_account
    brand = models.CharField(max_length=20, blank=True)
    last4 = models.CharField(max_length=4)
    exp_month = models.PositiveSmallIntegerField(null=True, blank=True)
    exp_year = models.PositiveSmallIntegerField(null=True, blank=True)
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-is_default", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["partner"],
                condition=models.Q(is_default=True, deleted_at__isnull=True),
                name="one_default_payment_method",
            )
        ]

    def __str__(self) -> str:
        return f"{self.brand} •••• {self.last4}"


class CardConfirmation(models.Model):
    """A card payment the bank wants the cardholder to confirm (3-D Secure).

    A top-up whose charge answers `requires_action` is kept here, PENDING, with where the
    cardholder confirms it. When the processor reports the charge succeeded the wallet is
    credited once (by the charge id); a refusal or 24 hours without an answer settles it
    FAILED or EXPIRED, crediting nothing.
    """

    class Status(models.TextChoices):
        PENDING = "PENDING"
        SUCCEEDED = "SUCCEEDED"
        FAILED = "FAILED"
        EXPIRED = "EXPIRED"

    id = models.CharField(
        primary_key=True, max_length=40, default=id_factory("cfm"), editable=False
    )
    partner = models.ForeignKey("accounts.Partner", on_delete=models.CASCADE, related_name="+")
    purpose = models.CharField(max_length=20, default="top_up")
    processor = models.CharField(max_length=16)
    charge_id = models.CharField(max_length=64)  # the processor's id (pi_…, ch_sim_…)
    payment_method_id = models.CharField(max_length=40, blank=True)  # pmt_…
    amount_micros = models.BigIntegerField()
    # Where the processor sends the cardholder (a bank's page); '' when the platform
    # shows the confirmation itself (the simulated processor).
    action_url = models.URLField(max_length=2000, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    failure_reason = models.CharField(max_length=300, blank=True)
    posting = models.ForeignKey(
        Posting, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["processor", "charge_id"], name="confirmation_once")
        ]

    def __str__(self) -> str:
        return f"{self.purpose} {self.charge_id} {self.status}"

    @property
    def amount(self) -> Money:
        return Money(self.amount_micros)


class SimulatedCardAuthentication(models.Model):
    """The simulated processor's bank: what the cardholder answered on its confirmation
    page, kept so every process gives the same answer for the charge."""

    charge_id = models.CharField(primary_key=True, max_length=64)
    approved = models.BooleanField()
    decided_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.charge_id}: {'approved' if self.approved else 'refused'}"


# --- the platform's subscription invoices ------------------------------------------------


class PlatformInvoice(models.Model):
    """What the platform charged a partner's card for its plan: the activation's first
    month, an upgrade's prorated difference or a month's fee. Numbers are sequential
    platform-wide (`invoice_number_next`), with no gaps: a number is taken in the
    transaction that writes its invoice."""

    class Kind(models.TextChoices):
        ACTIVATION = "activation", "Activation"
        UPGRADE = "upgrade", "Plan upgrade"
        MONTHLY = "monthly", "Monthly subscription"

    class Status(models.TextChoices):
        OPEN = "open", "Open"  # issued, the card not charged yet
        PAID = "paid", "Paid"
        FAILED = "failed", "Failed"

    id = models.CharField(
        primary_key=True, max_length=40, default=id_factory("sin"), editable=False
    )
    number = models.PositiveIntegerField(unique=True)
    partner = models.ForeignKey(
        "accounts.Partner", on_delete=models.PROTECT, related_name="platform_invoices"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    plan = models.CharField(max_length=16, choices=Plan.choices)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()  # exclusive
    # [{"description", "quantity", "unit_amount_micros", "amount_micros"}], each amount
    # already rounded to the cent.
    lines = models.JSONField(default=list)
    subtotal_micros = models.BigIntegerField()
    total_micros = models.BigIntegerField()
    currency = models.CharField(max_length=3, default="USD")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    charge_id = models.CharField(max_length=64, blank=True)
    failure_message = models.CharField(max_length=300, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    # One invoice per (partner, period) for monthly fees; the charge's key for the others.
    idempotency_key = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField()
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-number"]
        indexes = [
            models.Index(fields=["partner", "-number"]),
            models.Index(fields=["status", "kind"]),
        ]

    def __str__(self) -> str:
        return self.display_number

    @property
    def display_number(self) -> str:
        return f"TL-{self.number:06d}"

    @property
    def total(self) -> Money:
        return Money(self.total_micros, self.currency)


class InvoiceCounter(models.Model):
    """The last number given to a platform invoice; its row lock orders concurrent issues."""

    name = models.CharField(primary_key=True, max_length=32)
    last_number = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name}: {self.last_number}"


# --- how a tenant pays its partner ----------------------------------------------------------


class BillingProfile(models.Model):
    """A partner's template for charging tenants (Settings → Billing Config).

    Pay-As-You-Go charges every extension, DID and minute at the per-unit rates, plus the
    base fee if one is set. Flat Rate charges the base fee, which covers the included
    quantities; what a tenant uses beyond them is charged at the same per-unit rates,
    which are then the profile's overage rates.
    """

    class PricingModel(models.TextChoices):
        PAY_AS_YOU_GO = "PAYG", "Pay-As-You-Go"
        FLAT_RATE = "FLAT_RATE", "Flat Rate"
        # Seats and add-ons from the licence catalog (`001_*.txt` "License Model"): the
        # tenant is billed for the licences it holds instead of per extension.
        LICENSE = "LICENSE", "Licence"

    id = models.CharField(
        primary_key=True, max_length=40, default=id_factory("bpf"), editable=False
    )
    partner = models.ForeignKey("accounts.Partner", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=80)
    description = models.CharField(max_length=300, blank=True)
    pricing_model = models.CharField(max_length=12, choices=PricingModel.choices)
    base_fee_micros = models.BigIntegerField(default=0)
    extension_monthly_micros = models.BigIntegerField(default=0)
    did_monthly_micros = models.BigIntegerField(default=0)
    toll_free_did_monthly_micros = models.BigIntegerField(default=0)
    per_minute_micros = models.BigIntegerField(default=0)
    # Beyond the partner guide: per-call-type tenant rates; null means per_minute applies.
    per_minute_local_micros = models.BigIntegerField(null=True, blank=True)
    per_minute_toll_free_micros = models.BigIntegerField(null=True, blank=True)
    included_extensions = models.PositiveIntegerField(default=0)
    included_dids = models.PositiveIntegerField(default=0)
    included_minutes = models.PositiveIntegerField(null=True, blank=True, default=0)  # null: all
    # A profile that ends (a free trial): this many days after a tenant is put on it, the
    # tenant moves to `converts_to`.
    expires_after_days = models.PositiveSmallIntegerField(null=True, blank=True)
    converts_to = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Days overdue before a tenant on this profile is suspended; null: the partner's own.
    suspension_after_days = models.PositiveSmallIntegerField(null=True, blank=True)
    is_default = models.BooleanField(default=False)  # given to new tenants
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["partner", "name"], name="billing_profile_name"),
            models.UniqueConstraint(
                fields=["partner"],
                condition=models.Q(is_default=True),
                name="billing_profile_one_default",
            ),
        ]
        indexes = [models.Index(fields=["partner", "created_at", "id"])]

    def __str__(self) -> str:
        return self.name

    @property
    def is_flat_rate(self) -> bool:
        return self.pricing_model == self.PricingModel.FLAT_RATE

    def minute_rate(self, call_class: str) -> Money:
        """What a billable minute of `call_class` (local, toll_free…) costs the tenant."""
        override = {
            "local": self.per_minute_local_micros,
            "toll_free": self.per_minute_toll_free_micros,
        }.get(call_class)
        return Money(self.per_minute_micros if override is None else override)


class TaxJurisdiction(models.Model):
    """A sales tax a partner collects (Settings → Billing → Tax Jurisdictions). Invoices
    copy the rate when they are created, so a change never touches an existing one."""

    id = models.CharField(
        primary_key=True, max_length=40, default=id_factory("txj"), editable=False
    )
    partner = models.ForeignKey("accounts.Partner", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=80)
    code = models.CharField(max_length=40)
    rate = models.DecimalField(max_digits=7, decimal_places=6)  # 0.085 is 8.5 %
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["code", "id"]
        constraints = [
            models.UniqueConstraint(fields=["partner", "code"], name="tax_jurisdiction_code")
        ]
        indexes = [models.Index(fields=["partner", "created_at", "id"])]

    def __str__(self) -> str:
        return f"{self.code} ({self.rate})"


class ServicePeriod(models.Model):
    """While a tenant held one billable thing (a number, later an extension): the
    history invoices prorate by, by days active in the billing period. Opened and closed
    where the thing changes hands (`billing.service_periods`)."""

    class Kind(models.TextChoices):
        DID_LOCAL = "did_local", "Standard DID"
        DID_TOLL_FREE = "did_toll_free", "Toll-free DID"
        EXTENSION = "extension", "Extension"

    partner = models.ForeignKey("accounts.Partner", on_delete=models.CASCADE, related_name="+")
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    object_id = models.CharField(max_length=40)  # did_…, ext_…
    label = models.CharField(max_length=64, blank=True)  # +15015550123
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)  # exclusive; null: still held

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "started_at"]),
            models.Index(fields=["object_id", "ended_at"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["object_id"],
                condition=models.Q(ended_at__isnull=True),
                name="service_period_one_open",
            )
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id} {self.label or self.object_id}"


class Invoice(models.Model):
    """A partner's invoice to one of its tenants (Settings → Billing → Tenant Invoices).

    Made by the billing-cycle job for each ended cycle, or off-cycle through the API.
    Each line is rounded to the cent, half-up; totals are sums of rounded lines. The
    tax jurisdiction's name and rate are copied in, so later changes never alter it.
    """

    class Status(models.TextChoices):
        DRAFT = "DRAFT", "Draft"
        SENT = "SENT", "Sent"
        PARTIALLY_PAID = "PARTIALLY_PAID", "Partially Paid"
        PAID = "PAID", "Paid"
        OVERDUE = "OVERDUE", "Overdue"
        CANCELLED = "CANCELLED", "Cancelled"

    class Kind(models.TextChoices):
        CYCLE = "cycle", "Billing cycle"
        OFF_CYCLE = "off_cycle", "Off-cycle"

    id = models.CharField(
        primary_key=True, max_length=40, default=id_factory("inv"), editable=False
    )
    partner = models.ForeignKey("accounts.Partner", on_delete=models.PROTECT, related_name="+")
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, related_name="+")
    number = models.PositiveIntegerField()  # sequential per partner, no gaps
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.CYCLE)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    period_start = models.DateField()
    period_end = models.DateField()  # exclusive
    billing_profile = models.ForeignKey(
        BillingProfile, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    billing_profile_name = models.CharField(max_length=80, blank=True)
    pricing_model = models.CharField(max_length=12, blank=True)
    tax_name = models.CharField(max_length=80, blank=True)
    tax_code = models.CharField(max_length=40, blank=True)
    tax_rate = models.DecimalField(max_digits=7, decimal_places=6, null=True, blank=True)
    subtotal_micros = models.BigIntegerField(default=0)
    tax_micros = models.BigIntegerField(default=0)
    total_micros = models.BigIntegerField(default=0)
    paid_micros = models.BigIntegerField(default=0)
    refunded_micros = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3, default="USD")
    memo = models.CharField(max_length=500, blank=True)
    issued_at = models.DateTimeField(null=True, blank=True)
    due_date = models.DateField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    overdue_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    last_reminder_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["partner", "number"], name="invoice_number_once"),
            models.UniqueConstraint(
                fields=["tenant", "period_start"],
                condition=models.Q(kind="cycle"),
                name="invoice_cycle_once",
            ),
        ]
        indexes = [
            models.Index(fields=["partner", "-number"]),
            models.Index(fields=["partner", "status"]),
            models.Index(fields=["tenant", "-number"]),
            models.Index(fields=["status", "due_date"]),
        ]

    def __str__(self) -> str:
        return self.display_number

    @property
    def display_number(self) -> str:
        return f"INV-{self.number:06d}"

    @property
    def amount_due_micros(self) -> int:
        if self.status in (self.Status.CANCELLED, self.Status.DRAFT):
            return 0
        return max(self.total_micros - self.paid_micros, 0)


class InvoiceLine(models.Model):
    class Kind(models.TextChoices):
        BASE_FEE = "base_fee", "Monthly base fee"
        EXTENSIONS = "extensions", "Extensions"
        DIDS = "dids", "Standard DIDs"
        TOLL_FREE_DIDS = "toll_free_dids", "Toll-free DIDs"
        MINUTES = "minutes", "Minutes"
        ONE_TIME = "one_time", "One-time charge"

    id = models.CharField(
        primary_key=True, max_length=40, default=id_factory("ivl"), editable=False
    )
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=16, choices=Kind.choices)
    description = models.CharField(max_length=200)
    quantity = models.DecimalField(max_digits=16, decimal_places=4)
    unit_price_micros = models.BigIntegerField()
    amount_micros = models.BigIntegerField()  # rounded to the cent, half-up

    class Meta:
        ordering = ["invoice", "position"]
        constraints = [
            models.UniqueConstraint(fields=["invoice", "position"], name="invoice_line_position")
        ]

    def __str__(self) -> str:
        return self.description


class InvoicePayment(models.Model):
    """Money in (a payment) or out (a refund, negative) against one invoice."""

    class Method(models.TextChoices):
        MANUAL = "manual", "Marked as paid"
        CARD = "card", "Card"
        CREDIT = "credit", "Account credit"
        REFUND = "refund", "Refund"

    id = models.CharField(
        primary_key=True, max_length=40, default=id_factory("ipy"), editable=False
    )
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="payments")
    method = models.CharField(max_length=8, choices=Method.choices)
    amount_micros = models.BigIntegerField()  # negative for a refund
    reference = models.CharField(max_length=100, blank=True)
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["invoice", "created_at", "id"]

    def __str__(self) -> str:
        return f"{self.invoice_id} {self.amount_micros}"


# --- collecting tenant invoices by card ---------------------------------------------------


class CollectionSettings(models.Model):
    """How a partner collects its tenants' invoices (Settings → Billing → Tenant Billing).

    PLATFORM: charged through the platform's processor account; the platform keeps the
    fee and pays the rest out. CONNECT: charged on the partner's own connected (Express)
    account, the fee taken as an application fee. CUSTOM_KEYS: charged with the
    partner's own secret key, no fee. The secret key is kept sealed (AES-256-GCM, see
    `core.crypto`) and never shown again; only its last four characters are kept clear.
    """

    class Mode(models.TextChoices):
        PLATFORM = "platform", "Platform"
        CONNECT = "connect", "Connect (Express)"
        CUSTOM_KEYS = "custom_keys", "Custom Keys"

    class ConnectStatus(models.TextChoices):
        NONE = "none", "Not started"
        PENDING = "pending", "Onboarding"
        ACTIVE = "active", "Active"
        RESTRICTED = "restricted", "Restricted"

    partner = models.OneToOneField(
        "accounts.Partner",
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="collection_settings",
    )
    mode = models.CharField(max_length=12, choices=Mode.choices, default=Mode.PLATFORM)
    statement_descriptor = models.CharField(max_length=22, blank=True)
    connect_account_id = models.CharField(max_length=64, blank=True)
    connect_status = models.CharField(
        max_length=12, choices=ConnectStatus.choices, default=ConnectStatus.NONE
    )
    connect_requirements = models.JSONField(default=list, blank=True)
    connect_checked_at = models.DateTimeField(null=True, blank=True)
    custom_secret_key_sealed = models.TextField(blank=True)
    custom_secret_key_last4 = models.CharField(max_length=4, blank=True)
    # A digest of the key, naming the account its cards were saved at (not a secret:
    # the key is 100+ random bits).
    custom_key_fingerprint = models.CharField(max_length=16, blank=True)
    custom_key_livemode = models.BooleanField(default=False)
    custom_publishable_key = models.CharField(max_length=255, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.partner_id}: {self.mode}"


class TenantPaymentMethod(models.Model):
    """A tenant's card on file at the account its partner collects with.

    `account` names that account ("platform", the connected account's `acct_…`, or
    "custom:<last4>" for the partner's own keys): a card lives at one Stripe account, so
    after the partner changes how it collects, cards saved at the old account cannot be
    charged and the tenant adds its card again.
    """

    id = models.CharField(
        primary_key=True, max_length=40, default=id_factory("tpm"), editable=False
    )
    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, related_name="payment_methods"
    )
    account = models.CharField(max_length=80)
    processor = models.CharField(max_length=16)
    customer_id = models.CharField(max_length=64)
    processor_id = models.CharField(max_length=64)
    brand = models.CharField(max_length=20, blank=True)
    last4 = models.CharField(max_length=4)
    exp_month = models.PositiveSmallIntegerField(null=True, blank=True)
    exp_year = models.PositiveSmallIntegerField(null=True, blank=True)
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-is_default", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant"],
                condition=models.Q(is_default=True, deleted_at__isnull=True),
                name="one_default_tenant_payment_method",
            )
        ]

    def __str__(self) -> str:
        return f"{self.brand} •••• {self.last4}"


class InvoiceCharge(models.Model):
    """One attempt to charge a tenant's card for an invoice.

    The attempt is written PENDING before the processor is called, with the idempotency
    key `invoice:<id>:<attempt>`, so a retry after a crash asks the processor again with
    the same key and is answered with the first outcome: a card is never charged twice
    for one attempt.
    """

    class Status(models.TextChoices):
        PENDING = "PENDING"
        SUCCEEDED = "SUCCEEDED"
        DECLINED = "DECLINED"
        REQUIRES_ACTION = "REQUIRES_ACTION"
        ERROR = "ERROR"  # the processor could not be reached; tried again later

    id = models.CharField(
        primary_key=True, max_length=40, default=id_factory("ich"), editable=False
    )
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="charges")
    attempt = models.PositiveSmallIntegerField()
    mode = models.CharField(max_length=12, choices=CollectionSettings.Mode.choices)
    account = models.CharField(max_length=80)
    payment_method = models.ForeignKey(
        TenantPaymentMethod, on_delete=models.PROTECT, related_name="charges"
    )
    amount_micros = models.BigIntegerField()
    fee_micros = models.BigIntegerField(default=0)
    refunded_micros = models.BigIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    processor_charge_id = models.CharField(max_length=64, blank=True)
    message = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField()
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["invoice", "attempt"]
        constraints = [
            models.UniqueConstraint(fields=["invoice", "attempt"], name="invoice_charge_attempt")
        ]
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return f"{self.invoice_id} #{self.attempt} {self.status}"

    @property
    def idempotency_key(self) -> str:
        return f"invoice:{self.invoice_id}:{self.attempt}"


class InvoiceCheckout(models.Model):
    """A hosted payment page for what an invoice has due (billing/checkout.py): the
    tenant pays by card on the processor's page (Stripe Checkout; with the simulated
    processor, the platform's own page), without a card on file.

    A checkout is not a card attempt: it never counts towards the automatic retries of
    `InvoiceCharge`. `token` is the unguessable part of the public page's address; the
    row is locked while a completion applies the payment, so it is applied once.
    """

    class Status(models.TextChoices):
        OPEN = "OPEN"
        COMPLETED = "COMPLETED"
        EXPIRED = "EXPIRED"

    id = models.CharField(
        primary_key=True, max_length=40, default=id_factory("ics"), editable=False
    )
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="checkouts")
    token = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    mode = models.CharField(max_length=12, choices=CollectionSettings.Mode.choices)
    account = models.CharField(max_length=80)
    processor = models.CharField(max_length=16)
    amount_micros = models.BigIntegerField()
    fee_micros = models.BigIntegerField(default=0)
    refunded_micros = models.BigIntegerField(default=0)
    # The processor's session (`cs_…`) and its hosted page; blank until the processor
    # answered.
    processor_session_id = models.CharField(max_length=255, blank=True)
    url = models.CharField(max_length=2000, blank=True)
    processor_charge_id = models.CharField(max_length=64, blank=True)
    message = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["invoice", "created_at"]
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return f"{self.invoice_id} checkout {self.status}"

    @property
    def idempotency_key(self) -> str:
        return f"checkout:{self.id}"

    @property
    def settled_at(self):
        return self.completed_at


class SimulatedCheckoutPayment(models.Model):
    """The simulated processor's record of a hosted checkout paid on its page, kept so
    every process gives the same answer for the session."""

    session_id = models.CharField(primary_key=True, max_length=64)
    charge_id = models.CharField(max_length=64)
    brand = models.CharField(max_length=20)
    last4 = models.CharField(max_length=4)
    paid_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.session_id}: {self.charge_id}"


class SimulatedConnectAccount(models.Model):
    """The simulated processor's connected accounts: whether the partner finished the
    simulated hosted onboarding, kept so every process gives the same answer."""

    id = models.CharField(primary_key=True, max_length=64)
    partner_id = models.CharField(max_length=40)
    details_submitted = models.BooleanField(default=False)
    charges_enabled = models.BooleanField(default=False)
    statement_descriptor = models.CharField(max_length=22, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.id


class TenantCharge(models.Model):
    """A one-time charge (a setup fee, a desk phone) waiting for the tenant's next cycle
    invoice; `invoice` is set when that invoice bills it, and a billed charge stays."""

    id = models.CharField(
        primary_key=True, max_length=40, default=id_factory("tch"), editable=False
    )
    partner = models.ForeignKey("accounts.Partner", on_delete=models.CASCADE, related_name="+")
    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, related_name="one_time_charges"
    )
    description = models.CharField(max_length=200)
    quantity = models.PositiveIntegerField(default=1)
    unit_price_micros = models.BigIntegerField()
    invoice = models.ForeignKey(
        Invoice, null=True, blank=True, on_delete=models.PROTECT, related_name="one_time_charges"
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["tenant", "invoice"])]

    def __str__(self) -> str:
        return f"{self.description} × {self.quantity}"

    @property
    def amount_micros(self) -> int:
        return self.unit_price_micros * self.quantity
