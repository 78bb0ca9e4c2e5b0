"""The SIP credentials directory the registrar reads.

One row per device. Its columns carry the names Kamailio's `auth_db` module expects of
a `subscriber` table (`username`, `domain`, `ha1`, `ha1b`), so the registrar
authenticates against this table directly, with no copy to keep in step.

`ha1` is MD5(username:domain:password), the digest HA1 of RFC 2617; `ha1b` is the same
over `username@domain`, for phones that send the domain inside the username. SIP digest
authentication needs exactly this value, so the registrar can check a response without
ever seeing the password. It is still a password equivalent *for this realm* (whoever
holds it can answer a challenge for that device), which is why it lives only in this
table, is never shown by the API, and changes with every password reset; the password
itself stays sealed on the device (`pbx.devices`).
"""

from __future__ import annotations

from django.db import models


class SipSubscriber(models.Model):
    device = models.OneToOneField(
        "pbx.Device",
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="sip_subscriber",
    )
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    username = models.CharField(max_length=80)
    # The tenant's SIP domain, `<sip_prefix>.<TRUNKLINE_SIP_DOMAIN>`: the digest realm too.
    domain = models.CharField(max_length=128)
    ha1 = models.CharField(max_length=32)
    ha1b = models.CharField(max_length=32)
    # The number the device's user answers to; calls to `<extension>@<domain>` ring it.
    extension = models.CharField(max_length=6)
    # Off while the tenant is suspended or cancelled: the registrar refuses the device.
    enabled = models.BooleanField(default=True)
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "sip_subscriber"
        constraints = [
            models.UniqueConstraint(fields=["username", "domain"], name="sip_subscriber_once")
        ]
        indexes = [models.Index(fields=["domain", "extension"], name="sip_subscriber_ext")]

    def __str__(self) -> str:
        return f"{self.username}@{self.domain}"
