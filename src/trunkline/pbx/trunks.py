"""SIP trunks to customers' on-prem PBXs (`000_*.txt`: trunks are "defined at site level";
numbers are then routed to them).

A trunk authenticates its PBX one of two ways:
- `registration`: the PBX registers with `TRUNKLINE_SIP_REGISTRAR` as
  `<sip prefix>-trunk-<n>` and a 24-character password the platform makes up, returned
  by the call that sets it (create, a switch to registration, `reset-password`) and
  otherwise never; it is kept sealed (AES-256-GCM) for the call engine's configuration;
- `ip`: the PBX is known by the addresses it sends from, up to `MAX_ADDRESSES`
  addresses or networks (IPv4 no wider than /24, IPv6 no wider than /48). Loopback,
  link-local, multicast, unspecified and reserved addresses are refused; private ones
  are accepted, for PBXs reached over a private interconnect.

Licences: creating or changing a trunk needs none, on any tenant. The seed's trunking
licences count concurrent trunk calls, "enforced in real time, not at provisioning"
(`000_*.txt`, "Trunking Licenses"), so they are checked when a call is set up.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from trunkline.core.actors import Actor
from trunkline.core.audit import changed_fields
from trunkline.core.errors import Conflict, NotFound, ValidationFailed
from trunkline.pbx.models import SipTrunk
from trunkline.pbx.references import delete_guard
from trunkline.pbx.services import clean_name, pbx_audit, phone_system_lock, plain, tenant_site
from trunkline.pbx.sip_secrets import sip_password, sip_password_new
from trunkline.tenants.models import Tenant

MAX_TRUNKS = 100  # per tenant
MAX_ADDRESSES = 20
MAX_CHANNELS = 1000
WIDEST = {4: 24, 6: 48}  # the shortest prefix accepted, per IP version
FIELDS = ("name", "site_id", "auth_mode", "allowed_ips", "max_channels")
Mode = SipTrunk.AuthMode


def trunk_json(trunk: SipTrunk) -> dict:
    from trunkline.phone_numbers.models import PhoneNumber

    registration = trunk.auth_mode == Mode.REGISTRATION
    numbers = PhoneNumber.objects.filter(
        tenant_id=trunk.tenant_id, route__type="trunk", route__id=trunk.id
    ).values_list("e164", flat=True)
    return {
        "id": trunk.id,
        "tenant_id": trunk.tenant_id,
        "site_id": trunk.site_id,
        "name": trunk.name,
        "auth_mode": trunk.auth_mode,
        "sip_username": trunk.sip_username or None,
        "registrar": settings.TRUNKLINE_SIP_REGISTRAR if registration else None,
        "password_set_at": trunk.password_set_at,
        "allowed_ips": list(trunk.allowed_ips),
        "max_channels": trunk.max_channels,
        "numbers": sorted(numbers),
        "created_at": trunk.created_at,
        "updated_at": trunk.updated_at,
    }


def trunk_password(trunk) -> str:
    """The trunk's SIP password, for the call engine's configuration only."""
    return sip_password(trunk)


def clean_address(value) -> str:
    """One address or network (CIDR), in its canonical form."""
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        raise ValidationFailed("allowed_ips holds IPv4 or IPv6 addresses", field="allowed_ips")
    try:
        network = ipaddress.ip_network(value.strip(), strict=True)
    except ValueError:
        raise ValidationFailed(
            f"{value!r} is not an IPv4 or IPv6 address or network (a network's host bits are 0)",
            field="allowed_ips",
        ) from None
    if network.prefixlen < WIDEST[network.version]:
        raise ValidationFailed(
            f"{value} is too wide: IPv4 networks are /24 or narrower, IPv6 /48 or narrower",
            field="allowed_ips",
        )
    address = network.network_address
    if (
        address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_unspecified
        or address.is_reserved
    ):
        raise ValidationFailed(f"{value} is not a PBX's address", field="allowed_ips")
    if network.prefixlen == network.max_prefixlen:
        return str(address)
    return str(network)


def clean_addresses(value) -> list[str]:
    if not isinstance(value, list) or len(value) > MAX_ADDRESSES:
        raise ValidationFailed(
            f"allowed_ips is a list of at most {MAX_ADDRESSES} addresses", field="allowed_ips"
        )
    found: list[str] = []
    for item in value:
        address = clean_address(item)
        if address not in found:
            found.append(address)
    return found


def _mode(value) -> str:
    if value not in Mode.values:
        raise ValidationFailed("auth_mode is " + ", ".join(Mode.values), field="auth_mode")
    return value


def _channels(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CHANNELS:
        raise ValidationFailed(f"max_channels is 1 to {MAX_CHANNELS}", field="max_channels")
    return value


def _username(tenant: Tenant) -> str:
    stem = f"{tenant.sip_prefix}-trunk-"
    taken = set(
        SipTrunk.objects.filter(sip_username__startswith=stem).values_list(
            "sip_username", flat=True
        )
    )
    n = 1
    while f"{stem}{n}" in taken:
        n += 1
    return f"{stem}{n}"


def _authenticate(trunk: SipTrunk, tenant: Tenant, mode: str, addresses, now: datetime):
    """Set the trunk up for `mode`; returns the new password when credentials were issued."""
    trunk.auth_mode = mode
    if mode == Mode.IP:
        trunk.allowed_ips = clean_addresses(addresses if addresses is not None else [])
        if not trunk.allowed_ips:
            raise ValidationFailed(
                "an IP-authenticated trunk names the addresses its PBX sends from",
                field="allowed_ips",
            )
        _addresses_free(trunk)
        trunk.sip_username, trunk.sealed_password, trunk.password_set_at = "", None, None
        return None
    if addresses:
        raise ValidationFailed(
            "allowed_ips is for IP-authenticated trunks; a registering PBX is known by its "
            "credentials",
            field="allowed_ips",
        )
    trunk.allowed_ips = []
    if trunk.sip_username:
        return None
    trunk.sip_username = _username(tenant)
    return sip_password_new(trunk, now)


def _addresses_free(trunk: SipTrunk) -> None:
    """The call engine knows an IP-authenticated trunk by where its calls come from, so no
    two trunks (of any tenant) may share an address, and none may claim a PBX node's:
    either would hand one PBX's calls to another tenant."""
    from trunkline.telephony.models import PbxNode

    mine = [ipaddress.ip_network(a) for a in trunk.allowed_ips]
    for node_address in PbxNode.objects.values_list("address", flat=True):
        try:
            node_ip = ipaddress.ip_address(node_address)
        except ValueError:
            continue  # a host name: the call engine's own, not matched by address
        if any(node_ip in network for network in mine):
            raise ValidationFailed(
                f"{node_ip} is one of the platform's own addresses", field="allowed_ips"
            )
    others = SipTrunk.objects.filter(auth_mode=Mode.IP).exclude(pk=trunk.pk)
    for other in others.only("allowed_ips"):
        for address in other.allowed_ips:
            theirs = ipaddress.ip_network(address)
            clash = next(
                (n for n in mine if n.version == theirs.version and n.overlaps(theirs)), None
            )
            if clash is not None:
                shown = clash.network_address if clash.num_addresses == 1 else clash
                raise Conflict(
                    f"{shown} is already a trunk's address on this platform",
                    field="allowed_ips",
                    type="address_taken",
                )


def _name_free(tenant: Tenant, name: str, keep_id: str = "") -> None:
    if SipTrunk.objects.filter(tenant=tenant, name__iexact=name).exclude(pk=keep_id).exists():
        raise Conflict(f"the tenant already has a trunk named {name!r}", field="name")


def trunk_create(
    *, actor: Actor, tenant: Tenant, fields: dict, now: datetime | None = None
) -> tuple[SipTrunk, str | None]:
    """A new trunk ({name, site_id?, auth_mode, allowed_ips?, max_channels?}); returns
    it with its SIP password when it registers (shown this once), else None."""
    if set(fields) - set(FIELDS):
        raise ValidationFailed("a trunk has " + ", ".join(FIELDS), field="body")
    name = clean_name(fields.get("name"), what="a trunk's")
    mode = _mode(fields.get("auth_mode"))
    channels = _channels(fields.get("max_channels", 10))
    now = now or timezone.now()
    with transaction.atomic():
        tenant = phone_system_lock(actor, tenant)
        site = tenant_site(tenant, fields.get("site_id"))
        if SipTrunk.objects.filter(tenant=tenant).count() >= MAX_TRUNKS:
            raise Conflict(f"a tenant has at most {MAX_TRUNKS} trunks", type="limit_exceeded")
        _name_free(tenant, name)
        trunk = SipTrunk(
            partner_id=tenant.partner_id,
            tenant=tenant,
            site=site,
            name=name,
            max_channels=channels,
            created_at=now,
            updated_at=now,
        )
        password = _authenticate(trunk, tenant, mode, fields.get("allowed_ips"), now)
        trunk.save(force_insert=True)
        pbx_audit(actor, trunk, "trunk.created", after=plain(trunk_json(trunk)))
    return trunk, password


def trunk_update(*, actor: Actor, trunk: SipTrunk, changes: dict) -> tuple[SipTrunk, str | None]:
    """Rename the trunk, change its channels, its addresses or its way of authenticating;
    returns the new SIP password when a switch to registration issued one. The site is
    for good."""
    if "site_id" in changes:
        raise ValidationFailed(
            "a trunk stays at its site; make one at the other site instead", field="site_id"
        )
    if set(changes) - set(FIELDS):
        raise ValidationFailed("a trunk has " + ", ".join(FIELDS), field="body")
    now = timezone.now()
    with transaction.atomic():
        tenant = phone_system_lock(actor, trunk.tenant)
        trunk = SipTrunk.objects.select_for_update().get(pk=trunk.pk)
        before = plain(trunk_json(trunk))
        if "name" in changes:
            trunk.name = clean_name(changes["name"], what="a trunk's")
            _name_free(tenant, trunk.name, keep_id=trunk.id)
        if "max_channels" in changes:
            trunk.max_channels = _channels(changes["max_channels"])
        password = None
        if "auth_mode" in changes or "allowed_ips" in changes:
            mode = _mode(changes.get("auth_mode", trunk.auth_mode))
            addresses = changes.get("allowed_ips")
            if mode == Mode.IP and addresses is None:
                addresses = trunk.allowed_ips
            password = _authenticate(trunk, tenant, mode, addresses, now)
        after = plain(trunk_json(trunk))
        if not changed_fields(before, after):
            return trunk, None
        trunk.updated_at = now
        trunk.save()
        pbx_audit(actor, trunk, "trunk.updated", before=before, after=plain(trunk_json(trunk)))
    return trunk, password


def trunk_password_reset(
    *, actor: Actor, trunk: SipTrunk, now: datetime | None = None
) -> tuple[SipTrunk, str]:
    """A new SIP password for a registering trunk (the old one stops working at the next
    configuration push)."""
    now = now or timezone.now()
    with transaction.atomic():
        phone_system_lock(actor, trunk.tenant)
        trunk = SipTrunk.objects.select_for_update().get(pk=trunk.pk)
        if trunk.auth_mode != Mode.REGISTRATION:
            raise Conflict(
                "an IP-authenticated trunk has no password", type="invalid_state_transition"
            )
        password = sip_password_new(trunk, now)
        trunk.updated_at = now
        trunk.save(update_fields=["sealed_password", "password_set_at", "updated_at"])
        pbx_audit(actor, trunk, "trunk.password_reset")
    return trunk, password


def trunk_delete(*, actor: Actor, trunk: SipTrunk) -> None:
    """Delete a trunk no number routes to (409 `in_use` with the referrers otherwise)."""
    with transaction.atomic():
        tenant = phone_system_lock(actor, trunk.tenant)
        trunk = SipTrunk.objects.filter(pk=trunk.pk).first()
        if trunk is None:
            raise NotFound("no such trunk", field="trunk_id")
        delete_guard(
            tenant_id=tenant.id, target_type="trunk", target_id=trunk.id, what=f"trunk {trunk.name}"
        )
        view = plain(trunk_json(trunk))
        trunk_id = trunk.id
        trunk.delete()
        trunk.id = trunk_id
        pbx_audit(actor, trunk, "trunk.deleted", before=view)


def trunk_target(tenant_id: str, trunk_id: str):
    """A trunk as a call destination: (trunk, label) or None."""
    found = SipTrunk.objects.filter(tenant_id=tenant_id, pk=trunk_id).first()
    return (found, f"trunk {found.name}") if found else None
