"""A tenant's phone system: its sites and departments (`../shared/seeds/000_*.txt`,
"What are sites (or groups)?" and "What are departments?").

A site is where users, call flows and SIP trunks live; every tenant has at least one
(its default, made with the tenant), and what belongs to a site stays there. Departments
are the optional administrative tree beside it: nested, and users move between them at
any time.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from trunkline.core.ids import id_factory


class Site(models.Model):
    id = models.CharField(
        primary_key=True, max_length=40, default=id_factory("sit"), editable=False
    )
    partner = models.ForeignKey("accounts.Partner", on_delete=models.CASCADE, related_name="+")
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="sites")
    name = models.CharField(max_length=100)
    timezone = models.CharField(max_length=64)
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint("tenant", Lower("name"), name="site_name_once_per_tenant"),
            models.UniqueConstraint(
                fields=["tenant"], condition=Q(is_default=True), name="one_default_site"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Department(models.Model):
    id = models.CharField(
        primary_key=True, max_length=40, default=id_factory("dep"), editable=False
    )
    partner = models.ForeignKey("accounts.Partner", on_delete=models.CASCADE, related_name="+")
    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, related_name="departments"
    )
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.RESTRICT, related_name="children"
    )
    name = models.CharField(max_length=100)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["tenant", "parent"])]

    def __str__(self) -> str:
        return self.name


class Extension(models.Model):
    """A user's extension: the seat a tenant's person is reached at (`004_*.txt` counts,
    caps and bills "extensions"). It belongs to one site for good and, optionally, to a
    department; its number is unique in the tenant."""

    id = models.CharField(
        primary_key=True, max_length=40, default=id_factory("ext"), editable=False
    )
    partner = models.ForeignKey("accounts.Partner", on_delete=models.CASCADE, related_name="+")
    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, related_name="extensions"
    )
    # RESTRICT: a site with extensions is not deleted on its own (the service says so),
    # but goes with its tenant.
    site = models.ForeignKey(Site, on_delete=models.RESTRICT, related_name="extensions")
    department = models.ForeignKey(
        Department,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="extensions",
    )
    number = models.CharField(max_length=6)
    name = models.CharField(max_length=100)
    email = models.EmailField(blank=True)
    # The user's main phone number: one of the tenant's DIDs, one user's at a time. It is
    # let go when the number leaves the tenant.
    main_number = models.ForeignKey(
        "phone_numbers.PhoneNumber",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["number", "id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "number"], name="extension_number_once"),
            models.UniqueConstraint(
                fields=["main_number"],
                condition=Q(main_number__isnull=False),
                name="main_number_one_user",
            ),
        ]
        indexes = [models.Index(fields=["partner"])]

    def __str__(self) -> str:
        return f"{self.number} {self.name}"


class Device(models.Model):
    """A phone a user registers with: a desk phone (known by its MAC), a softphone, a
    DECT handset or the web phone. Each has its own SIP credentials, the username
    namespaced by the tenant's SIP prefix; the password is sealed with the platform key
    (the call engine's configuration needs it) and shown only when it is set."""

    class Kind(models.TextChoices):
        DESK_PHONE = "desk_phone", "IP desk phone"
        SOFTPHONE = "softphone", "Softphone"
        DECT = "dect", "DECT"
        WEB_PHONE = "web_phone", "Web phone"

    id = models.CharField(
        primary_key=True, max_length=40, default=id_factory("dev"), editable=False
    )
    partner = models.ForeignKey("accounts.Partner", on_delete=models.CASCADE, related_name="+")
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    extension = models.ForeignKey(Extension, on_delete=models.CASCADE, related_name="devices")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    name = models.CharField(max_length=100, blank=True)
    mac = models.CharField(max_length=12, blank=True)  # 12 upper-case hex digits
    sip_username = models.CharField(max_length=80, unique=True)
    sealed_password = models.BinaryField()
    password_set_at = models.DateTimeField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # A desk phone is on one desk: its MAC is in one tenant's system at a time.
            models.UniqueConstraint(fields=["mac"], condition=~Q(mac=""), name="device_mac_once")
        ]

    def __str__(self) -> str:
        return self.sip_username


class Schedule(models.Model):
    """Business hours and holidays (`000_*.txt`: call flows answer differently after
    hours and on holidays). Weekly opening windows and whole-day holidays, read in the
    schedule's time zone."""

    id = models.CharField(
        primary_key=True, max_length=40, default=id_factory("sch"), editable=False
    )
    partner = models.ForeignKey("accounts.Partner", on_delete=models.CASCADE, related_name="+")
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="schedules")
    name = models.CharField(max_length=100)
    timezone = models.CharField(max_length=64)
    # [{"days": ["mon", …], "from": "08:00", "to": "17:30"}]
    hours = models.JSONField(default=list)
    # [{"date": "2026-12-25", "name": "Christmas Day"}]
    holidays = models.JSONField(default=list)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint("tenant", Lower("name"), name="schedule_name_once_per_tenant")
        ]

    def __str__(self) -> str:
        return self.name


class CallFlow(models.Model):
    """Something other than a person that answers calls: an auto attendant, a hunt group,
    a call queue or a call center (`000_*.txt`, "call flows"). Like users it lives at
    one site for good and may have an extension number in the tenant's dial plan; what
    it does is its `config`, checked by pbx/call_flow_config.py."""

    class Kind(models.TextChoices):
        AUTO_ATTENDANT = "auto_attendant", "Auto attendant"
        HUNT_GROUP = "hunt_group", "Hunt group"
        QUEUE = "queue", "Call queue"
        CALL_CENTER = "call_center", "Call center"

    id = models.CharField(
        primary_key=True, max_length=40, default=id_factory("cfl"), editable=False
    )
    partner = models.ForeignKey("accounts.Partner", on_delete=models.CASCADE, related_name="+")
    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, related_name="call_flows"
    )
    site = models.ForeignKey(Site, on_delete=models.RESTRICT, related_name="call_flows")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    name = models.CharField(max_length=100)
    number = models.CharField(max_length=6, blank=True)
    # Opening hours: an auto attendant's after-hours and holiday menus, a call center's
    # closed destination. RESTRICT backs up the delete guard.
    schedule = models.ForeignKey(
        Schedule, null=True, blank=True, on_delete=models.RESTRICT, related_name="call_flows"
    )
    config = models.JSONField(default=dict)
    # Queue and call-center agents' state: {extension id: {"status", "since"}}.
    agent_states = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "number"], condition=~Q(number=""), name="call_flow_number_once"
            ),
            models.UniqueConstraint("tenant", Lower("name"), name="call_flow_name_once"),
        ]
        indexes = [models.Index(fields=["tenant", "kind"])]

    def __str__(self) -> str:
        return self.name


class CallSettings(models.Model):
    """A user's call settings (`pbx.call_settings_schemas.CallSettingsDoc`), made the first
    time one changes; a user without a row has the defaults. The outgoing caller ID is a
    row of its own so the number can be let go when it leaves the tenant; `destination_ids`
    lists the ids the forwarding points at, so a delete guard finds them without reading
    every user's settings."""

    extension = models.OneToOneField(
        Extension, primary_key=True, on_delete=models.CASCADE, related_name="call_settings"
    )
    partner = models.ForeignKey("accounts.Partner", on_delete=models.CASCADE, related_name="+")
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    settings = models.JSONField(default=dict)
    outgoing_number = models.ForeignKey(
        "phone_numbers.PhoneNumber",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # " id1 id2 " (spaces around each) for a `contains` match on one id.
    destination_ids = models.TextField(blank=True, default="")
    updated_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["tenant"])]

    def __str__(self) -> str:
        return f"call settings of {self.extension_id}"


class VoicemailBox(models.Model):
    """A voicemail box at a site: one user's own (`owner`), or standalone, for call flows
    to send callers to (`000_*.txt`, "Voicemail for Call Flows: dedicated mailbox"). The
    PIN that opens it by phone is kept only as a password hash; new messages can be sent
    to email addresses, with the audio attached or not (`004_*.txt`, "Email Attach")."""

    class Greeting(models.TextChoices):
        DEFAULT = "default", "The system greeting with the box's number"
        NAME = "name", "The system greeting with the recorded name"
        CUSTOM = "custom", "A recorded greeting"

    id = models.CharField(
        primary_key=True, max_length=40, default=id_factory("vmb"), editable=False
    )
    partner = models.ForeignKey("accounts.Partner", on_delete=models.CASCADE, related_name="+")
    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, related_name="voicemail_boxes"
    )
    site = models.ForeignKey(Site, on_delete=models.RESTRICT, related_name="voicemail_boxes")
    # A user's own box goes with the user (whose delete is refused while anything still
    # routes to the box).
    owner = models.OneToOneField(
        Extension,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="voicemail_box",
    )
    name = models.CharField(max_length=100)
    pin_hash = models.CharField(max_length=200)
    pin_set_at = models.DateTimeField()
    emails = models.JSONField(default=list)  # addresses new messages are sent to
    attach_audio = models.BooleanField(default=False)
    greeting = models.CharField(max_length=10, choices=Greeting.choices, default=Greeting.DEFAULT)
    max_message_seconds = models.PositiveIntegerField(default=180)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["tenant", "site"])]

    def __str__(self) -> str:
        return self.name


class SipTrunk(models.Model):
    """A SIP trunk to a customer's on-prem PBX, at one site for good (`000_*.txt`: "you
    must create those trunks at site level. Only then can you decide to route certain
    numbers to your on-prem PBX"). The PBX either registers with credentials the platform
    issues (the password sealed with the platform key, shown only when it is set) or is
    known by the addresses it sends from."""

    class AuthMode(models.TextChoices):
        REGISTRATION = "registration", "Registration"
        IP = "ip", "IP authentication"

    id = models.CharField(
        primary_key=True, max_length=40, default=id_factory("trk"), editable=False
    )
    partner = models.ForeignKey("accounts.Partner", on_delete=models.CASCADE, related_name="+")
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="trunks")
    site = models.ForeignKey(Site, on_delete=models.RESTRICT, related_name="trunks")
    name = models.CharField(max_length=100)
    auth_mode = models.CharField(max_length=12, choices=AuthMode.choices)
    # Registration: set while the mode is registration, '' otherwise. Unique across the
    # platform so the call engine's endpoints never collide.
    sip_username = models.CharField(max_length=80, blank=True)
    sealed_password = models.BinaryField(null=True, blank=True)
    password_set_at = models.DateTimeField(null=True, blank=True)
    # IP authentication: the addresses and networks (CIDR) the PBX sends from.
    allowed_ips = models.JSONField(default=list)
    max_channels = models.PositiveIntegerField(default=10)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint("tenant", Lower("name"), name="trunk_name_once_per_tenant"),
            models.UniqueConstraint(
                fields=["sip_username"],
                condition=~Q(sip_username=""),
                name="trunk_username_once",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class UnassignedDidRoute(models.Model):
    """Where calls to the tenant's numbers that are routed nowhere go (the partner guide's
    "Unassigned DID Behavior"); no row, or a null destination, is the platform's default:
    a "this number isn't configured" message."""

    tenant = models.OneToOneField(
        "tenants.Tenant",
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="unassigned_did_route",
    )
    destination = models.JSONField(null=True, blank=True)
    updated_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"unassigned DIDs of {self.tenant_id}"
