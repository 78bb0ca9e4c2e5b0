"""Who is acting: a signed-in user, an API key or the platform itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trunkline.accounts.models import ApiKey, Partner, User


@dataclass(frozen=True)
class Actor:
    kind: str  # "user" | "api_key" | "system"
    partner: Partner | None = None
    user: User | None = None
    api_key: ApiKey | None = None
    # None means every tenant of the partner; a set restricts the actor to those tenant ids.
    tenant_ids: frozenset[str] | None = None
    acting_as_tenant: str | None = None
    can_write: bool = True
    request_id: str = ""
    ip_address: str | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def system(cls, partner: Partner | None = None, request_id: str = "") -> Actor:
        return cls(kind="system", partner=partner, request_id=request_id)

    @property
    def actor_id(self) -> str:
        if self.user is not None:
            return self.user.id
        if self.api_key is not None:
            return self.api_key.id
        return ""

    @property
    def label(self) -> str:
        if self.user is not None:
            return self.user.email
        if self.api_key is not None:
            return self.api_key.name
        return "system"

    @property
    def is_staff(self) -> bool:
        return self.kind == "system" or bool(self.user and self.user.is_staff)

    @property
    def is_platform(self) -> bool:
        """Platform staff, or an API key the operator marked as the platform's own
        (`trunkline create-api-key --platform`): what opens `/v1/platform/…`. A platform
        key is otherwise its partner's key: it is not staff everywhere `is_staff` is
        asked, so it never sees other partners' data."""
        return self.is_staff or bool(self.api_key is not None and self.api_key.platform)

    def sees_tenant(self, tenant_id: str) -> bool:
        return self.tenant_ids is None or tenant_id in self.tenant_ids
