"""What the usage limits have already said: one row per alert, so each is sent once."""

from __future__ import annotations

from django.db import models


class LimitAlert(models.Model):
    """A tenant reached the alert threshold (or the cap) of one limit in one cycle."""

    class Level(models.TextChoices):
        THRESHOLD = "threshold"
        CAP = "cap"

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    cycle_start = models.DateField()
    limit = models.CharField(max_length=32)  # monthly_spend_limit, max_monthly_minutes
    level = models.CharField(max_length=10, choices=Level.choices)
    used = models.CharField(max_length=40)  # what was counted, as shown in the email
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "cycle_start", "limit", "level"], name="limit_alert_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id} {self.limit} {self.level} {self.cycle_start}"
