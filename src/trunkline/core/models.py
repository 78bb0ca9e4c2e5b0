"""Cross-cutting records: the audit log, the event outbox, stored idempotent responses and
the periodic-job schedule."""

from django.db import models

from trunkline.core.ids import id_factory


class AuditEntry(models.Model):
    """Who changed what, written by the service in the same transaction as the change."""

    class ActorType(models.TextChoices):
        USER = "user"
        API_KEY = "api_key"
        SYSTEM = "system"

    id = models.CharField(
        primary_key=True, max_length=40, default=id_factory("aud"), editable=False
    )
    partner = models.ForeignKey(
        "accounts.Partner", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    actor_type = models.CharField(max_length=10, choices=ActorType.choices)
    actor_id = models.CharField(max_length=40, blank=True)  # usr_… / key_… ; kept after removal
    actor_label = models.CharField(max_length=255, blank=True)  # email or key name at the time
    acting_as_tenant = models.BooleanField(default=False)
    tenant_id = models.CharField(max_length=40, blank=True, db_index=True)
    action = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=40)
    object_id = models.CharField(max_length=64, db_index=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["partner", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.action} {self.object_id} by {self.actor_label or self.actor_type}"


class Event(models.Model):
    """The outbox: one row per domain event, delivered to webhook endpoints later."""

    id = models.CharField(
        primary_key=True, max_length=40, default=id_factory("evt"), editable=False
    )
    partner = models.ForeignKey("accounts.Partner", on_delete=models.CASCADE, related_name="events")
    type = models.CharField(max_length=64, db_index=True)
    payload = models.JSONField()
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"

    def envelope(self) -> dict:
        return {
            "id": self.id,
            "type": self.type,
            "created_at": self.created_at.isoformat().replace("+00:00", "Z"),
            "partner_id": self.partner_id,
            "data": self.payload,
        }


class IdempotencyRecord(models.Model):
    """The first response to a POST carrying an Idempotency-Key, replayed for 24 hours."""

    partner = models.ForeignKey("accounts.Partner", on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True)  # null while the first call runs
    response_body = models.BinaryField(null=True)
    response_content_type = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["partner", "key"], name="idempotency_key_per_partner")
        ]

    def __str__(self) -> str:
        return self.key


class PeriodicJobState(models.Model):
    """Where one periodic job (`core.jobs.JOBS`) stands: when it is next due, what ran last.

    Schedulers in any number of processes claim a due job by moving `next_due_at` forward
    with a conditional UPDATE; the one whose UPDATE matched enqueues the run.
    """

    name = models.CharField(primary_key=True, max_length=100)
    next_due_at = models.DateTimeField()
    last_due_at = models.DateTimeField(null=True, blank=True)  # the `now` the last run got
    last_claimed_at = models.DateTimeField(null=True, blank=True)  # clock time of that claim
    last_task_id = models.CharField(max_length=64, blank=True)  # empty when run in-process

    def __str__(self) -> str:
        return f"{self.name} next due {self.next_due_at.isoformat()}"


class OutgoingEmail(models.Model):
    """One email in the outbox: written in the transaction of the change that sends it,
    delivered after commit, retried with backoff while the mail server refuses it.

    The message itself (which may carry a password-reset or invitation link) is sealed
    with the platform key and wiped once delivered; recipients and subject stay as the
    delivery log.
    """

    class Status(models.TextChoices):
        QUEUED = "QUEUED"  # waiting for its first or next attempt
        SENDING = "SENDING"  # claimed by a process that is talking to the mail server
        SENT = "SENT"
        FAILED = "FAILED"  # gave up after the last attempt

    id = models.CharField(
        primary_key=True, max_length=40, default=id_factory("eml"), editable=False
    )
    partner = models.ForeignKey(
        "accounts.Partner", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    category = models.CharField(max_length=20)
    recipients = models.JSONField(default=list)
    subject = models.CharField(max_length=255)
    sealed_message = models.BinaryField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    next_attempt_at = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)
    # Set by the delivery that claimed the email, so a batch finds exactly its own.
    claim_token = models.CharField(max_length=32, blank=True, db_index=True)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.subject} → {', '.join(self.recipients)}"
