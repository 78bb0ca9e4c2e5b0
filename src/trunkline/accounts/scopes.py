"""API key scopes from the contract: `<resource>:read|write`; write implies read; `all` is all."""

from __future__ import annotations

from trunkline.core.errors import ValidationFailed

RESOURCES = (
    "tenants",
    "phone_numbers",
    "extensions",
    "call_flows",
    "queues",
    "voicemail",
    "calls",
    "billing",
    "webhooks",
    "provisioning",
    "licenses",
)
ALL = "all"
SCOPE_NAMES = tuple(
    f"{resource}:{access}" for resource in RESOURCES for access in ("read", "write")
)


def normalize_scopes(requested: list[str] | str) -> list[str]:
    """Validate and canonicalise a scope list; `all` stands alone."""
    if isinstance(requested, str):
        requested = [part.strip() for part in requested.split(",") if part.strip()]
    if not requested:
        raise ValidationFailed("at least one scope is required", field="scopes")
    unknown = [scope for scope in requested if scope != ALL and scope not in SCOPE_NAMES]
    if unknown:
        raise ValidationFailed(f"unknown scope: {unknown[0]}", field="scopes")
    if ALL in requested:
        return [ALL]
    return sorted(set(requested), key=SCOPE_NAMES.index)


def grants(granted: frozenset[str] | set[str] | list[str], required: str) -> bool:
    if ALL in granted or required in granted:
        return True
    resource, _, access = required.partition(":")
    return access == "read" and f"{resource}:write" in granted
