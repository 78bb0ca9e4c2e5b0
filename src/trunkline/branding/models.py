"""A partner's white-label assets (the brand name and emails live on Partner itself)."""

from __future__ import annotations

from django.db import models


class PartnerLogo(models.Model):
    """The partner's logo, as the PNG Trunkline re-encoded it from the upload: at most
    MAX_HEIGHT pixels tall and without the upload's metadata. Kept in the database, so
    every web and worker process serves and draws the same file with no shared disk."""

    partner = models.OneToOneField(
        "accounts.Partner", primary_key=True, on_delete=models.CASCADE, related_name="logo"
    )
    image = models.BinaryField()
    content_type = models.CharField(max_length=40, default="image/png")
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    updated_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"logo of {self.partner_id} ({self.width}x{self.height})"
