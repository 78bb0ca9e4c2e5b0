"""Bearer-key authentication for `/v1`, with each operation's required scope.

A key's record is cached for 60 seconds, so the database is read once a minute per key;
revoking a key clears it here at once and in other processes within that minute.

The cache holds a stamp, not the record: each process keeps the records it loaded, in
memory, under the stamp that was current then, and uses one only while the cache still
holds that stamp. Deleting the cache entry (revocation) therefore drops the record as
before, and a call no longer unpickles two model instances from the cache.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from django.core.cache import cache
from django.utils import timezone
from ninja.security import HttpBearer

from trunkline.accounts import keys
from trunkline.accounts.models import ApiKey, Partner
from trunkline.accounts.scopes import grants
from trunkline.core import ratelimit
from trunkline.core.actors import Actor
from trunkline.core.errors import PermissionDenied, RateLimited
from trunkline.core.middleware import client_ip

CACHE_SECONDS = 60
LAST_USED_EVERY_SECONDS = 60
_MISSING = "missing"
MAX_HELD = 10_000  # records one process keeps; past that it starts afresh

# key hash -> (the cache's stamp when loaded, the record): this process's loaded records.
_held: dict[str, tuple[str, KeyRecord | str]] = {}


@dataclass(frozen=True)
class KeyRecord:
    api_key: ApiKey
    partner: Partner
    scopes: frozenset[str]
    tenant_ids: frozenset[str] | None
    revoked: bool
    expires_at: datetime | None


def cache_key_for(key_hash: str) -> str:
    return f"apikey:{key_hash}"


def _load(key_hash: str) -> KeyRecord | None:
    api_key = ApiKey.objects.select_related("partner").filter(key_hash=key_hash).first()
    if api_key is None:
        return None
    tenant_ids = frozenset(api_key.tenants.values_list("id", flat=True))
    return KeyRecord(
        api_key=api_key,
        partner=api_key.partner,
        scopes=frozenset(api_key.scopes),
        tenant_ids=tenant_ids or None,
        revoked=api_key.revoked_at is not None,
        expires_at=api_key.expires_at,
    )


def _record(key_hash: str) -> KeyRecord | str:
    name = cache_key_for(key_hash)
    stamp = cache.get(name)
    held = _held.get(key_hash)
    if stamp is not None and held is not None and held[0] == stamp:
        return held[1]
    record = _load(key_hash) or _MISSING
    if stamp is None:
        stamp = secrets.token_hex(8)
        cache.set(name, stamp, CACHE_SECONDS)
    if len(_held) >= MAX_HELD:
        _held.clear()
    _held[key_hash] = (stamp, record)
    return record


def resolve_key(token: str) -> KeyRecord | None:
    """The key's live record, or None when it is unknown, revoked or expired."""
    if not keys.looks_valid(token):
        return None
    record = _record(keys.digest(token))
    if record == _MISSING or record.revoked:
        return None
    if record.expires_at is not None and record.expires_at <= timezone.now():
        return None
    if record.partner.deleted_at is not None:
        return None
    return record


def _touch(record: KeyRecord) -> None:
    # At most one write a minute per key keeps "Last Used" honest without a write per call.
    if cache.add(f"apikey-used:{record.api_key.id}", 1, LAST_USED_EVERY_SECONDS):
        ApiKey.objects.filter(pk=record.api_key.pk).update(last_used_at=timezone.now())


def actor_for(request, record: KeyRecord) -> Actor:
    return Actor(
        kind="api_key",
        partner=record.partner,
        api_key=record.api_key,
        tenant_ids=record.tenant_ids,
        can_write=True,
        scopes=record.scopes,
        request_id=getattr(request, "request_id", ""),
        ip_address=client_ip(request),
    )


class KeyAuth(HttpBearer):
    """`auth=KeyAuth("tenants:write")` on an operation declares its scope where it is routed."""

    def __init__(self, scope: str):
        super().__init__()
        self.scope = scope

    def authenticate(self, request, token: str):
        record = resolve_key(token)
        if record is None:
            return None
        request.actor = actor_for(request, record)
        retry_after = ratelimit.hit("key", record.api_key.id, record.api_key.rate_limit)
        if retry_after is None:
            retry_after = ratelimit.hit("partner", record.partner.id, record.partner.api_rate_limit)
        if retry_after is not None:
            raise RateLimited("rate limit exceeded; retry later", retry_after=retry_after)
        _touch(record)
        if not grants(record.scopes, self.scope):
            raise PermissionDenied(f"this key lacks the {self.scope} scope")
        return record


def scope(name: str) -> KeyAuth:
    return KeyAuth(name)
