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
        EXTENSION_MONTHLY = "extension_monthly", "Monthly extension"
        USAGE_LOCAL = "usage_local", "Per-minute local usage"
        USAGE_TOLL_FREE = "usage_toll_free", "Per-minute toll-free usage"
        USAGE_INTERNATIONAL = "usage_international", "Per-minute international usage"
        REFUND = "refund", "Refund"
        MANUAL_ADJUSTMENT = "manual_adjustment", "Manual adjustment"
        SUBSCRIPTION_INVOICE = "subscription_invoice", "Subscription invoice"

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
