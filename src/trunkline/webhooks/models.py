"""Webhook endpoints, the deliveries fanned out to them, and every attempt made.

A delivery is one event for one endpoint; it is written in the transaction that wrote
the event (the transactional outbox), so a rolled-back change sends nothing and nothing
committed is lost. Workers claim due deliveries, make an attempt, record it, and either
finish the delivery or schedule the next attempt on the guide's retry plan.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from trunkline.core.ids import id_factory


class WebhookEndpoint(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "ACTIVE"
        DISABLED = "DISABLED"

    class DisabledReason(models.TextChoices):
        NONE = "", "—"
        MANUAL = "manual", "Disabled by you"
        FAILURES = "failures", "100 consecutive failures"
        GONE = "gone", "Your server answered 410 Gone"

    AUTO_DISABLE_AFTER = 100

    id = models.CharField(
        primary_key=True, max_length=40, default=id_factory("whe"), editable=False
    )
    partner = models.ForeignKey(
        "accounts.Partner", on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.CharField(max_length=2048)
    description = models.CharField(max_length=500, blank=True)
    events = models.JSONField(default=list)  # event type names, from core.events
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    disabled_reason = models.CharField(
        max_length=10, choices=DisabledReason.choices, blank=True, default=""
    )
    secret_encrypted = models.TextField()  # AES-256-GCM, context = the endpoint id
    secret_rotated_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True)  # history is kept

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["partner", "status"])]

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(models.Model):
    """One event for one endpoint, through all its attempts."""

    class Status(models.TextChoices):
        PENDING = "PENDING"  # not attempted yet, or being attempted
        FAILED = "FAILED"  # the last attempt failed; another is scheduled
        DELIVERED = "DELIVERED"
        DEAD = "DEAD"  # every attempt of the plan failed, or the endpoint went away

    MAX_ATTEMPTS = 8

    id = models.CharField(
        primary_key=True, max_length=40, default=id_factory("whd"), editable=False
    )
    partner = models.ForeignKey("accounts.Partner", on_delete=models.CASCADE, related_name="+")
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.ForeignKey("core.Event", on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    # When the next attempt is due; null once the delivery is finished.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # A worker's claim: the attempt in flight belongs to `claimed_by` until `claimed_until`.
    claimed_by = models.CharField(max_length=64, blank=True, default="")
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=255, blank=True, default="")
    delivered_at = models.DateTimeField(null=True, blank=True)
    # Set by Redeliver: the plan was started again, and its attempts are redeliveries.
    redelivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    OUTSTANDING = (Status.PENDING, Status.FAILED)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["next_attempt_at"], name="webhooks_delivery_due"),
            models.Index(fields=["endpoint", "-created_at"], name="webhooks_delivery_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} → {self.endpoint_id}"


class WebhookAttempt(models.Model):
    """One POST: what was sent and what came back (the first 4 KB of it)."""

    RESPONSE_BODY_LIMIT = 4096

    id = models.CharField(
        primary_key=True, max_length=40, default=id_factory("wha"), editable=False
    )
    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log"
    )
    number = models.PositiveSmallIntegerField()  # 1-based within the delivery's plan
    is_redelivery = models.BooleanField(default=False)
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    url = models.CharField(max_length=2048)
    request_headers = models.JSONField(default=dict)  # signatures included; never the secret
    request_body = models.TextField()
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)  # null: no answer
    response_headers = models.JSONField(default=dict)
    response_body = models.TextField(blank=True, default="")
    error = models.CharField(max_length=255, blank=True, default="")  # "Timeout", refused, …

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["delivery", "-started_at"])]

    def __str__(self) -> str:
        return f"{self.delivery_id} #{self.number}"
