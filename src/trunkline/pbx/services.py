"""Sites and departments: creating, renaming, moving and deleting them.

Every change runs under the tenant's row lock, so two requests cannot both take a name,
both delete the last site, or build a department cycle between them.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from trunkline.core.actors import Actor
from trunkline.core.audit import audit_record
from trunkline.core.errors import Conflict, InvalidTransition, NotFound, ValidationFailed
from trunkline.pbx.models import Department, Site
from trunkline.tenants.models import Tenant
from trunkline.tenants.services import require_tenant_writer, tenant_lock
from trunkline.tenants.validation import clean_timezone

MAX_SITES = 200
MAX_DEPARTMENTS = 1000
MAX_DEPTH = 10  # departments nested at most this deep
DEFAULT_SITE_NAME = "Main site"


def clean_name(value, *, what: str) -> str:
    """A site's, department's or extension's name: 1 to 100 characters, spaces tidied."""
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > 100:
        raise ValidationFailed(f"{what} name is 1 to 100 characters", field="name")
    return " ".join(value.split())


def phone_system_lock(actor: Actor, tenant: Tenant) -> Tenant:
    """The tenant's row locked for a change to its phone system, once the actor may make
    it; a cancelled tenant's phone system does not change."""
    require_tenant_writer(actor, tenant)
    tenant = tenant_lock(tenant)
    if tenant.status == Tenant.Status.CANCELLED:
        raise InvalidTransition("a cancelled tenant's phone system cannot be changed")
    return tenant


def pbx_audit(
    actor: Actor, obj, action: str, before: dict | None = None, after: dict | None = None
) -> None:
    """The audit entry of a change to one of a tenant's phone-system objects."""
    audit_record(
        actor=actor,
        partner=obj.tenant.partner,
        action=action,
        object_type=action.split(".")[0],
        object_id=obj.id,
        tenant_id=obj.tenant_id,
        before=before,
        after=after,
    )


# --- sites --------------------------------------------------------------------------------


def site_json(site: Site) -> dict:
    return {
        "id": site.id,
        "tenant_id": site.tenant_id,
        "name": site.name,
        "timezone": site.timezone,
        "is_default": site.is_default,
        "created_at": site.created_at,
        "updated_at": site.updated_at,
    }


def plain(data: dict) -> dict:
    """A JSON view with its datetimes as ISO 8601 UTC strings, for audit rows and events."""
    return {
        key: value.isoformat().replace("+00:00", "Z") if isinstance(value, datetime) else value
        for key, value in data.items()
    }


def _name_free(model, tenant: Tenant, name: str, *, keep_id: str = "", **scope) -> None:
    taken = model.objects.filter(tenant=tenant, name__iexact=name, **scope).exclude(id=keep_id)
    if taken.exists():
        what = "site" if model is Site else "department"
        raise Conflict(f"the tenant already has a {what} named {name!r}", field="name")


def default_site_create(tenant: Tenant, now: datetime) -> Site:
    """The site a tenant is created with (in the transaction that creates the tenant)."""
    return Site.objects.create(
        partner_id=tenant.partner_id,
        tenant=tenant,
        name=DEFAULT_SITE_NAME,
        timezone=tenant.timezone,
        is_default=True,
        created_at=now,
        updated_at=now,
    )


def default_site(tenant: Tenant) -> Site:
    """The site used when a request names none."""
    return Site.objects.get(tenant=tenant, is_default=True)


def site_create(*, actor: Actor, tenant: Tenant, name, timezone_name=None) -> Site:
    name = clean_name(name, what="a site")
    zone = clean_timezone(timezone_name) if timezone_name is not None else None
    now = timezone.now()
    with transaction.atomic():
        tenant = phone_system_lock(actor, tenant)
        if Site.objects.filter(tenant=tenant).count() >= MAX_SITES:
            raise Conflict(f"a tenant has at most {MAX_SITES} sites")
        _name_free(Site, tenant, name)
        site = Site.objects.create(
            partner_id=tenant.partner_id,
            tenant=tenant,
            name=name,
            timezone=zone or tenant.timezone,
            created_at=now,
            updated_at=now,
        )
        pbx_audit(actor, site, "site.created", None, plain(site_json(site)))
    return site


def site_update(*, actor: Actor, site: Site, changes: dict) -> Site:
    """Rename a site, change its time zone, or make it the default (`is_default: true`;
    the former default stops being it)."""
    if set(changes) - {"name", "timezone", "is_default"}:
        raise ValidationFailed("a site has name, timezone and is_default", field="body")
    with transaction.atomic():
        phone_system_lock(actor, site.tenant)
        site = Site.objects.select_related("tenant__partner").get(pk=site.pk)
        before = plain(site_json(site))
        if "name" in changes:
            site.name = clean_name(changes["name"], what="a site")
            _name_free(Site, site.tenant, site.name, keep_id=site.id)
        if "timezone" in changes:
            site.timezone = clean_timezone(changes["timezone"])
        if "is_default" in changes:
            if changes["is_default"] is not True:
                raise ValidationFailed("make another site the default instead", field="is_default")
            Site.objects.filter(tenant=site.tenant, is_default=True).exclude(pk=site.pk).update(
                is_default=False
            )
            site.is_default = True
        site.updated_at = timezone.now()
        site.save()
        pbx_audit(actor, site, "site.updated", before, plain(site_json(site)))
    return site


def site_delete(*, actor: Actor, site: Site) -> None:
    """Delete a site; never the tenant's default (make another the default first)."""
    with transaction.atomic():
        phone_system_lock(actor, site.tenant)
        site = Site.objects.select_related("tenant__partner").get(pk=site.pk)
        if site.is_default:
            raise InvalidTransition(
                "the default site cannot be deleted; make another site the default first"
            )
        held = list(site.extensions.order_by("number").values_list("number", flat=True)[:20])
        if held:
            raise Conflict(
                "the site still has extensions: "
                + ", ".join(held)
                + "; delete them or create them at another site first",
                type="site_not_empty",
            )
        for what, related in (
            ("call flows", site.call_flows),
            ("voicemail boxes", site.voicemail_boxes),
            ("trunks", site.trunks),
        ):
            names = list(related.order_by("name").values_list("name", flat=True)[:20])
            if names:
                raise Conflict(
                    f"the site still has {what}: " + ", ".join(names) + "; delete them first",
                    type="site_not_empty",
                )
        before = plain(site_json(site))
        site_id = site.id
        site.delete()
        site.id = site_id
        pbx_audit(actor, site, "site.deleted", before, None)


# --- departments ------------------------------------------------------------------------------


def department_json(department: Department) -> dict:
    return {
        "id": department.id,
        "tenant_id": department.tenant_id,
        "name": department.name,
        "parent_id": department.parent_id,
        "created_at": department.created_at,
        "updated_at": department.updated_at,
    }


def tenant_site(tenant: Tenant, site_id, *, field: str = "site_id") -> Site:
    """The tenant's site named by a request, or its default site for None; another
    tenant's, or an unknown id, is 404 on `field`."""
    if site_id is None:
        return Site.objects.get(tenant=tenant, is_default=True)
    found = (
        Site.objects.filter(tenant=tenant, pk=site_id).first() if isinstance(site_id, str) else None
    )
    if found is None:
        raise NotFound("no such site", field=field)
    return found


def tenant_department(tenant: Tenant, department_id, *, field: str) -> Department | None:
    """The tenant's department named by a request (None for none); another tenant's, or
    an unknown id, is 404 on `field`."""
    if department_id is None:
        return None
    found = (
        Department.objects.filter(tenant=tenant, pk=department_id).first()
        if isinstance(department_id, str)
        else None
    )
    if found is None:
        raise NotFound("no such department", field=field)
    return found


def _ancestors(department: Department | None) -> list[str]:
    """Ids from `department` up to the top of its tree."""
    chain: list[str] = []
    parents = (
        dict(
            Department.objects.filter(tenant_id=department.tenant_id).values_list("id", "parent_id")
        )
        if department is not None
        else {}
    )
    current = department.id if department is not None else None
    while current is not None and current not in chain:
        chain.append(current)
        current = parents.get(current)
    return chain


def _depth_below(department: Department) -> int:
    """How many levels hang under `department` (0 when it has no children)."""
    children: dict[str | None, list[str]] = {}
    for dept_id, parent_id in Department.objects.filter(tenant_id=department.tenant_id).values_list(
        "id", "parent_id"
    ):
        children.setdefault(parent_id, []).append(dept_id)
    level, depth = [department.id], 0
    while True:
        level = [child for parent in level for child in children.get(parent, [])]
        if not level:
            return depth
        depth += 1


def department_create(*, actor: Actor, tenant: Tenant, name, parent_id=None) -> Department:
    name = clean_name(name, what="a department")
    now = timezone.now()
    with transaction.atomic():
        tenant = phone_system_lock(actor, tenant)
        if Department.objects.filter(tenant=tenant).count() >= MAX_DEPARTMENTS:
            raise Conflict(f"a tenant has at most {MAX_DEPARTMENTS} departments")
        parent = tenant_department(tenant, parent_id, field="parent_id")
        if len(_ancestors(parent)) >= MAX_DEPTH:
            raise ValidationFailed(f"departments nest at most {MAX_DEPTH} deep", field="parent_id")
        _name_free(Department, tenant, name, parent=parent)
        department = Department.objects.create(
            partner_id=tenant.partner_id,
            tenant=tenant,
            parent=parent,
            name=name,
            created_at=now,
            updated_at=now,
        )
        pbx_audit(actor, department, "department.created", None, plain(department_json(department)))
    return department


def department_update(*, actor: Actor, department: Department, changes: dict) -> Department:
    """Rename a department or move it under another (`parent_id`; null: to the top).
    A move under itself or one of its own sub-departments is refused."""
    if set(changes) - {"name", "parent_id"}:
        raise ValidationFailed("a department has name and parent_id", field="body")
    with transaction.atomic():
        tenant = phone_system_lock(actor, department.tenant)
        department = Department.objects.select_related("tenant__partner").get(pk=department.pk)
        before = plain(department_json(department))
        if "parent_id" in changes:
            parent = tenant_department(tenant, changes["parent_id"], field="parent_id")
            above = _ancestors(parent)
            if department.id in above:
                raise ValidationFailed(
                    "a department cannot move under itself or its own sub-departments",
                    field="parent_id",
                    type="department_cycle",
                )
            if len(above) + 1 + _depth_below(department) > MAX_DEPTH:
                raise ValidationFailed(
                    f"departments nest at most {MAX_DEPTH} deep", field="parent_id"
                )
            department.parent = parent
        if "name" in changes:
            department.name = clean_name(changes["name"], what="a department")
        _name_free(
            Department,
            tenant,
            department.name,
            keep_id=department.id,
            parent_id=department.parent_id,
        )
        department.updated_at = timezone.now()
        department.save()
        pbx_audit(
            actor, department, "department.updated", before, plain(department_json(department))
        )
    return department


def department_delete(*, actor: Actor, department: Department) -> None:
    """Delete a department that has no sub-departments (move or delete those first)."""
    with transaction.atomic():
        phone_system_lock(actor, department.tenant)
        department = Department.objects.select_related("tenant__partner").get(pk=department.pk)
        children = list(department.children.values_list("name", flat=True))
        if children:
            raise Conflict(
                "the department has sub-departments: " + ", ".join(sorted(children)),
                type="department_not_empty",
            )
        before = plain(department_json(department))
        department_id = department.id
        department.delete()
        department.id = department_id
        pbx_audit(actor, department, "department.deleted", before, None)


def dial_number_free(tenant: Tenant, number: str, *, keep_id: str = "") -> None:
    """Users and call flows share the tenant's dial plan: refuse (409 `extension_taken`)
    a number one of them already has. The caller holds the tenant's lock."""
    from trunkline.pbx.models import CallFlow, Extension

    user = Extension.objects.filter(tenant=tenant, number=number).exclude(pk=keep_id).first()
    flow = CallFlow.objects.filter(tenant=tenant, number=number).exclude(pk=keep_id).first()
    if user is not None or flow is not None:
        holder = f"user {user.name}" if user else f"call flow {flow.name}"
        raise Conflict(
            f"extension {number} is taken by {holder}", field="number", type="extension_taken"
        )
