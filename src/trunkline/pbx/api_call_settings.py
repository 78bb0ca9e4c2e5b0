"""`/v1/tenants/{id}/extensions/{ext_id}/call-settings`: a user's call settings (see
pbx/call_settings.py)."""

from __future__ import annotations

from datetime import datetime

from ninja import Router
from pydantic import Field

from trunkline.accounts.api_auth import scope
from trunkline.core.errors import NotFound
from trunkline.pbx import call_settings
from trunkline.pbx.call_settings_schemas import CallSettingsDoc, CallSettingsPatch
from trunkline.pbx.models import Extension
from trunkline.tenants import selectors as tenant_selectors

router = Router(tags=["Call settings"])
PATH = "/tenants/{tenant_id}/extensions/{extension_id}/call-settings"


class CallSettingsOut(CallSettingsDoc):
    extension_id: str
    tenant_id: str
    timezone: str = Field(description="the time zone of the user's site, where rule times apply")
    updated_at: datetime | None = Field(description="when a setting last changed; null: never")


def _extension(request, tenant_id: str, extension_id: str) -> Extension:
    """One of the tenant's users; another tenant's (or partner's) is 404."""
    tenant = tenant_selectors.tenant_get(actor=request.actor, tenant_id=tenant_id[:64])
    found = (
        Extension.objects.select_related("tenant__partner", "site")
        .filter(tenant=tenant, pk=extension_id[:64])
        .first()
    )
    if found is None:
        raise NotFound("no such extension", field="extension_id")
    return found


@router.get(PATH, response=CallSettingsOut, auth=scope("extensions:read"))
def get_call_settings(request, tenant_id: str, extension_id: str):
    """The user's call settings; a user who never changed one has the defaults (all off)."""
    return call_settings.call_settings_get(extension=_extension(request, tenant_id, extension_id))


@router.patch(PATH, response=CallSettingsOut, auth=scope("extensions:write"))
def update_call_settings(request, tenant_id: str, extension_id: str, payload: CallSettingsPatch):
    """Change some call settings; those not sent stay. Switching a setting on that the
    user's licences do not grant is 409 `license_required`, naming the licences that do;
    switching off is always allowed. A forwarding target or caller ID that is not the
    tenant's is 404; bad input is 422. Nothing changes when the request is refused."""
    return call_settings.call_settings_update(
        actor=request.actor,
        extension=_extension(request, tenant_id, extension_id),
        changes=payload.model_dump(exclude_unset=True),
    )
