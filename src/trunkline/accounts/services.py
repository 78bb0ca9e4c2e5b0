"""Partners and API keys. Team and sign-in flows live in `team.py` and `auth_flows.py`."""

from __future__ import annotations

from datetime import datetime

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from trunkline.accounts import keys
from trunkline.accounts.models import ApiKey, Partner, User
from trunkline.accounts.scopes import normalize_scopes
from trunkline.core.actors import Actor
from trunkline.core.audit import audit_record
from trunkline.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from trunkline.tenants import validation
from trunkline.tenants.models import Tenant

STAFF_MAX_RATE_LIMIT = 1_000_000
SLUG_ATTEMPTS = 10


def _require_admin(actor: Actor) -> None:
    if actor.kind == "system" or actor.is_staff:
        return
    if not actor.can_write or (actor.user is not None and not actor.user.is_partner_admin):
        raise PermissionDenied("only a Partner Admin can do this")


def _require_key_manager(actor: Actor, api_key: ApiKey | None = None) -> None:
    """Keys are managed by the partner's admins (or staff), and only the partner's own keys."""
    _require_admin(actor)
    if actor.kind == "api_key":
        # A key minting keys could widen its own scopes or tenants.
        raise PermissionDenied("API keys are managed by a Partner Admin, not by an API key")
    foreign = api_key is not None and (
        actor.partner is None or api_key.partner_id != actor.partner.id
    )
    if foreign and not actor.is_staff:
        raise NotFound("no such API key", field="api_key_id")


def _unique_slug(company_name: str) -> str:
    base = slugify(company_name)[:50] or "partner"
    slug, counter = base, 1
    while Partner.objects.filter(slug=slug).exists():
        counter += 1
        slug = f"{base}-{counter}"
    return slug


def validate_password_for(password: str, user: User | None = None, field: str = "password") -> None:
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError as DjangoValidationError

    try:
        validate_password(password, user)
    except DjangoValidationError as error:
        raise ValidationFailed(" ".join(error.messages), field=field) from None


def partner_create(
    *,
    actor: Actor,
    company_name: str,
    email: str,
    password: str,
    name: str = "",
    billing_email: str | None = None,
    email_verified: bool = True,
    now: datetime | None = None,
) -> tuple[Partner, User]:
    """A partner in its 14-day trial, with its first Partner Admin."""
    company_name = (company_name or "").strip()
    if not company_name or len(company_name) > 200:
        raise ValidationFailed("company name is 1 to 200 characters", field="company_name")
    email = validation.clean_email(email, field="email")
    billing_email = validation.clean_email(billing_email or email)
    validate_password_for(password)
    now = now or timezone.now()
    with transaction.atomic():
        if User.objects.filter(email=email).exists():
            raise Conflict(
                "an account with this email already exists", field="email", type="email_taken"
            )
        partner = Partner(company_name=company_name, billing_email=billing_email, created_at=now)
        partner.start_trial(now)
        for attempt in range(SLUG_ATTEMPTS):
            partner.slug = _unique_slug(company_name)
            try:
                with transaction.atomic():
                    partner.save(force_insert=True)
                break
            except IntegrityError:
                # Another partner of the same name took the slug since we looked.
                if attempt == SLUG_ATTEMPTS - 1:
                    raise
        try:
            with transaction.atomic():
                user = User.objects.create_user(
                    email,
                    password,
                    name=name.strip()[:150],
                    partner=partner,
                    role=User.Role.PARTNER_ADMIN,
                    email_verified_at=now if email_verified else None,
                )
        except IntegrityError:
            raise Conflict(
                "an account with this email already exists", field="email", type="email_taken"
            ) from None
        from trunkline.billing.profiles import billing_profiles_create_defaults

        billing_profiles_create_defaults(partner, now=now)
        audit_record(
            actor=actor
            if actor.partner
            else Actor(
                kind=actor.kind,
                partner=partner,
                user=actor.user,
                request_id=actor.request_id,
                ip_address=actor.ip_address,
            ),
            partner=partner,
            action="partner.created",
            object_type="partner",
            object_id=partner.id,
            after={
                "company_name": company_name,
                "admin": email,
                "trial_ends_at": partner.trial_ends_at.isoformat(),
            },
        )
    return partner, user


def _clean_rate_limit(rate_limit: int | None, *, staff: bool) -> int:
    if rate_limit is None:
        return ApiKey.DEFAULT_RATE_LIMIT
    ceiling = STAFF_MAX_RATE_LIMIT if staff else ApiKey.MAX_RATE_LIMIT
    if (
        isinstance(rate_limit, bool)
        or not isinstance(rate_limit, int)
        or not 1 <= rate_limit <= ceiling
    ):
        raise ValidationFailed(
            f"rate limit is 1 to {ceiling:,} requests a minute", field="rate_limit"
        )
    return rate_limit


def _tenants_for_key(partner: Partner, tenant_ids: list[str] | None) -> list[Tenant]:
    if not tenant_ids:
        return []
    tenant_ids = list(dict.fromkeys(tenant_ids))
    found = list(Tenant.objects.filter(partner=partner, id__in=tenant_ids))
    if len(found) != len(tenant_ids):
        missing = sorted(set(tenant_ids) - {tenant.id for tenant in found})
        raise ValidationFailed(f"no such tenant: {missing[0]}", field="tenant_ids")
    return found


def api_key_create(
    *,
    actor: Actor,
    name: str,
    scopes: list[str] | str,
    tenant_ids: list[str] | None = None,
    rate_limit: int | None = None,
    expires_at: datetime | None = None,
    platform: bool = False,
) -> tuple[ApiKey, str]:
    """Create a key; the plaintext is returned here once and never stored. `platform`
    (staff only) makes it the operator's own key, which also opens `/v1/platform/…`."""
    _require_key_manager(actor)
    if platform and not actor.is_staff:
        raise PermissionDenied("only platform staff create platform keys")
    partner = actor.partner
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationFailed("name is 1 to 100 characters", field="name")
    scope_list = normalize_scopes(scopes)
    rate_limit = _clean_rate_limit(rate_limit, staff=actor.is_staff)
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationFailed("expiry must be in the future", field="expires_at")
    plaintext = keys.generate()
    with transaction.atomic():
        tenants = _tenants_for_key(partner, tenant_ids)
        api_key = ApiKey.objects.create(
            partner=partner,
            name=name,
            key_hash=keys.digest(plaintext),
            prefix=plaintext[: len(keys.KEY_PREFIX) + 4],
            last_four=plaintext[-4:],
            scopes=scope_list,
            rate_limit=rate_limit,
            expires_at=expires_at,
            platform=platform,
            created_by=actor.user,
        )
        api_key.tenants.set(tenants)
        audit_record(
            actor=actor,
            action="api_key.created",
            object_type="api_key",
            object_id=api_key.id,
            after={
                "name": name,
                "scopes": scope_list,
                "tenant_ids": sorted(t.id for t in tenants),
                "rate_limit": rate_limit,
                "masked": api_key.masked,
                **({"platform": True} if platform else {}),
            },
        )
    return api_key, plaintext


def _forget_cached(api_key: ApiKey) -> None:
    from trunkline.accounts.api_auth import cache_key_for

    transaction.on_commit(lambda: cache.delete(cache_key_for(api_key.key_hash)))


def api_key_update(
    *,
    actor: Actor,
    api_key: ApiKey,
    scopes: list[str] | str | None = None,
    tenant_ids: list[str] | None = None,
    rate_limit: int | None = None,
) -> ApiKey:
    """Scopes, tenant scope and rate limit can change; the key itself and its name cannot."""
    _require_key_manager(actor, api_key)
    with transaction.atomic():
        api_key = ApiKey.objects.select_for_update().get(pk=api_key.pk)
        if api_key.revoked_at is not None:
            raise Conflict("a revoked key cannot be edited", type="invalid_state_transition")
        before = {
            "scopes": api_key.scopes,
            "tenant_ids": sorted(api_key.tenants.values_list("id", flat=True)),
            "rate_limit": api_key.rate_limit,
        }
        if scopes is not None:
            api_key.scopes = normalize_scopes(scopes)
        if rate_limit is not None:
            api_key.rate_limit = _clean_rate_limit(rate_limit, staff=actor.is_staff)
        api_key.save()
        if tenant_ids is not None:
            api_key.tenants.set(_tenants_for_key(api_key.partner, tenant_ids))
        after = {
            "scopes": api_key.scopes,
            "tenant_ids": sorted(api_key.tenants.values_list("id", flat=True)),
            "rate_limit": api_key.rate_limit,
        }
        audit_record(
            actor=actor,
            action="api_key.updated",
            object_type="api_key",
            object_id=api_key.id,
            before=before,
            after=after,
        )
        _forget_cached(api_key)
    return api_key


def api_key_revoke(*, actor: Actor, api_key: ApiKey) -> ApiKey:
    _require_key_manager(actor, api_key)
    with transaction.atomic():
        api_key = ApiKey.objects.select_for_update().get(pk=api_key.pk)
        if api_key.revoked_at is not None:
            raise Conflict("the key is already revoked", type="invalid_state_transition")
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
        audit_record(
            actor=actor,
            action="api_key.revoked",
            object_type="api_key",
            object_id=api_key.id,
            after={"masked": api_key.masked},
        )
        _forget_cached(api_key)
    return api_key
