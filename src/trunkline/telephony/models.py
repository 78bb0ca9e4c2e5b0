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
from django.db.models.functions import Lower

from trunkline.core.ids import id_factory


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


class PbxNode(models.Model):
    """An Asterisk server of the platform (`002_*.txt`: platform staff keep the PBX
    nodes; documentation reuses the existing ones). Each tenant's phone system runs on
    one node; `capacity` is how many extensions the node is sized for, which is what
    placement weighs nodes by."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active: takes new tenants"
        DRAINING = "draining", "Draining: keeps its tenants, takes no new ones"
        OFFLINE = "offline", "Offline: out of service, takes no tenants"

    id = models.CharField(
        primary_key=True, max_length=40, default=id_factory("pbn"), editable=False
    )
    name = models.CharField(max_length=63)  # a DNS label: it names the node's config folder
    address = models.CharField(max_length=253)  # host name or IP the proxies send calls to
    capacity = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(Lower("name"), name="pbx_node_name_once")]

    def __str__(self) -> str:
        return self.name


class TenantPlacement(models.Model):
    """Which node runs the tenant's phone system. Tenants made while no node takes new
    tenants have no row until one does."""

    tenant = models.OneToOneField(
        "tenants.Tenant", primary_key=True, on_delete=models.CASCADE, related_name="placement"
    )
    node = models.ForeignKey(PbxNode, on_delete=models.RESTRICT, related_name="placements")
    placed_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["node"])]

    def __str__(self) -> str:
        return f"{self.tenant_id} on {self.node_id}"
