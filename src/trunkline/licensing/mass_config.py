"""Mass configuration: many users, their main numbers and add-on licences from one CSV
(`../shared/seeds/001_*.txt`, "Mass Configuration").

The file has the seed's columns — `Ext key`, `Number`, `User`, and `Addon license 1`,
`Addon license 2`, … holding add-on codes — and may add `Email`, `Site` (a site's name, for
new users) and `Seat` (the base licence of new users; `phone_system` by default, the seat the
seed's mass configuration is for). A row names a user by its extension:

- a new extension is created at its site with its seat, main number and add-ons;
- an existing one is updated: its name, email and main number as given, and its add-ons
  become exactly those listed (add-ons that are not listed are taken off).

The whole file is checked first, against the tenant as it is and against the rows before
it (two rows cannot share an extension or a number; the seats and add-ons the rows need
must be free at their sites, or free to allocate there). Every problem is reported with its
row and column. Only a file without one is applied, in one transaction: all or nothing.
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from trunkline.accounts.models import Partner
from trunkline.billing.models import ServicePeriod
from trunkline.core.actors import Actor
from trunkline.core.audit import audit_entry, audit_records, changed_fields, events_emit
from trunkline.core.errors import TrunklineError, ValidationFailed
from trunkline.licensing.models import (
    LicenseAllocation,
    LicenseAssignment,
    LicenseSku,
)
from trunkline.licensing.services import features_in_use, governed, overview
from trunkline.pbx.models import CallFlow, Extension, Site
from trunkline.tenants.models import Tenant
from trunkline.tenants.services import require_tenant_writer, tenant_lock
from trunkline.tenants.validation import clean_email

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 10_000
MAX_ERRORS = 1_000
DEFAULT_SEAT = "phone_system"
EXT, NUMBER, USER = "Ext key", "Number", "User"
EMAIL, SITE, SEAT = "Email", "Site", "Seat"
ADDON = re.compile(r"^addon licen[cs]e\s*(\d+)$", re.IGNORECASE)
KNOWN = {name.lower(): name for name in (EXT, NUMBER, USER, EMAIL, SITE, SEAT)}
T = LicenseAssignment.Target.EXTENSION

SAMPLE_ROWS = [
    (
        "101",
        "+15015550101",
        "John",
        ["device_ip_phone", "device_mobile_app", "license_dnc_checking_enabled", "call_recording"],
    ),
    (
        "102",
        "+15015550102",
        "Alice",
        ["device_ip_phone", "device_mobile_app", "license_dnc_checking_enabled", "call_recording"],
    ),
    ("104", "+15015550104", "Lucie", ["device_ip_phone", "device_desktop_app", "call_recording"]),
    ("109", "+15015550109", "Hallie", ["device_ip_phone", "device_desktop_app", "call_recording"]),
]


def sample_csv() -> str:
    """The sample file to fill in (the seed's sample, with US numbers)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([EXT, NUMBER, USER, *(f"Addon license {n}" for n in range(1, 5))])
    for ext, number, user, addons in SAMPLE_ROWS:
        writer.writerow([ext, number, user, *addons, *[""] * (4 - len(addons))])
    return out.getvalue()


class InvalidRows(ValidationFailed):
    """422 with every problem of the file, by row and column."""

    type = "invalid_rows"

    def __init__(self, errors: list[dict], total: int):
        shown = errors[:MAX_ERRORS]
        more = f" (the first {MAX_ERRORS} are listed)" if total > MAX_ERRORS else ""
        super().__init__(
            f"{total} problem{'s' if total != 1 else ''} in the file{more}; nothing was applied",
            field="file",
        )
        self.errors = shown

    def envelope(self) -> dict:
        body = super().envelope()
        body["error"]["errors"] = self.errors
        return body


@dataclass
class Row:
    line: int  # the row's line in the file (the header is line 1)
    ext: str
    name: str
    number: str  # E.164 or ""
    email: str | None  # None: the column is absent (left as it is)
    site_name: str
    seat: str
    addons: list[tuple[str, str]]  # (column, code)
    existing: Extension | None = None
    site: Site | None = None
    number_id: str | None = None


@dataclass
class Plan:
    rows: list[Row] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    # What applying will do, per (site id, sku): assignments added and removed.
    adds: dict = field(default_factory=lambda: defaultdict(int))
    removals: dict = field(default_factory=lambda: defaultdict(int))

    def error(self, line: int | None, column: str | None, message: str) -> None:
        self.errors.append({"row": line, "column": column, "message": message})


def _decode(data: bytes) -> str:
    if not isinstance(data, bytes | bytearray) or not data:
        raise ValidationFailed("the file is empty", field="file")
    if len(data) > MAX_BYTES:
        raise ValidationFailed(f"the file is over {MAX_BYTES // 1024 // 1024} MB", field="file")
    try:
        text = bytes(data).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed("the file is not UTF-8 text", field="file")
    if "\x00" in text:
        raise ValidationFailed("the file is not a CSV file", field="file")
    return text


def _header(plan: Plan, header: list[str]) -> dict:
    """{column name: index} of the header, refusing what it cannot read."""
    columns: dict[str, int] = {}
    addons: list[tuple[int, str, int]] = []
    for index, raw in enumerate(header):
        name = " ".join((raw or "").split())
        if not name:
            continue
        matched = ADDON.match(name)
        if matched:
            addons.append((int(matched.group(1)), f"Addon license {matched.group(1)}", index))
            continue
        canonical = KNOWN.get(name.lower())
        if canonical is None:
            plan.error(1, name, f"unknown column {name!r}")
        elif canonical in columns:
            plan.error(1, name, f"column {name!r} appears twice")
        else:
            columns[canonical] = index
    for required in (EXT, USER):
        if required not in columns:
            plan.error(1, required, f"the {required!r} column is missing")
    for _, name, index in sorted(addons):
        if name in columns:
            plan.error(1, name, f"column {name!r} appears twice")
        columns[name] = index
    return columns


def _parse(plan: Plan, tenant: Tenant, text: str) -> None:
    from trunkline.pbx.extensions import clean_number, e164_of

    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        plan.error(1, None, "the file has no header row")
        return
    columns = _header(plan, header)
    if plan.errors:
        return
    addon_columns = [name for name in columns if name.startswith("Addon license")]
    try:
        for line, cells in enumerate(reader, start=2):
            if not any(cell.strip() for cell in cells):
                continue
            if len(plan.rows) >= MAX_ROWS:
                plan.error(line, None, f"a file has at most {MAX_ROWS:,} rows")
                return

            def cell(name, cells=cells):
                index = columns.get(name)
                return cells[index].strip() if index is not None and index < len(cells) else ""

            if len(cells) > len(header):
                plan.error(line, None, "the row has more cells than the header")
            row = Row(
                line=line,
                ext=cell(EXT),
                name=" ".join(cell(USER).split()),
                number="",
                email=cell(EMAIL) if EMAIL in columns else None,
                site_name=cell(SITE),
                seat=cell(SEAT),
                addons=[(name, cell(name)) for name in addon_columns if cell(name)],
            )
            try:
                clean_number(row.ext)
            except ValidationFailed as refused:
                plan.error(line, EXT, refused.message)
            if not row.name:
                plan.error(line, USER, "the user's name is missing")
            elif len(row.name) > 100:
                plan.error(line, USER, "a name is at most 100 characters")
            if cell(NUMBER):
                try:
                    row.number = e164_of(cell(NUMBER))
                except ValidationFailed as refused:
                    plan.error(line, NUMBER, refused.message)
            if row.email:
                try:
                    row.email = clean_email(row.email, field=EMAIL)
                except TrunklineError as refused:
                    plan.error(line, EMAIL, refused.message)
            plan.rows.append(row)
    except csv.Error as broken:
        plan.error(reader.line_num, None, f"the file is not valid CSV: {broken}")


def _check(plan: Plan, tenant: Tenant) -> None:
    """Everything about the rows that depends on the tenant and on the other rows."""
    from trunkline.phone_numbers.models import PhoneNumber

    rules = governed(tenant)
    skus = {sku.code: sku for sku in LicenseSku.objects.filter(active=True)}
    existing = {e.number: e for e in Extension.objects.filter(tenant=tenant).select_related("site")}
    sites = {site.name.lower(): site for site in Site.objects.filter(tenant=tenant)}
    default_site = next(site for site in sites.values() if site.is_default)
    numbers = {
        n.e164: n.id
        for n in PhoneNumber.objects.filter(
            tenant=tenant,
            status__in=(PhoneNumber.Status.ACTIVE, PhoneNumber.Status.PENDING),
        )
    }
    main_of = dict(
        Extension.objects.filter(tenant=tenant, main_number__isnull=False).values_list(
            "main_number_id", "number"
        )
    )
    held_addons: dict[str, list[LicenseAssignment]] = defaultdict(list)
    seats: dict[str, LicenseAssignment] = {}
    for assignment in LicenseAssignment.objects.filter(tenant=tenant, target_type=T):
        if assignment.is_base:
            seats[assignment.target_id] = assignment
        else:
            held_addons[assignment.target_id].append(assignment)
    flow_numbers = dict(
        CallFlow.objects.filter(tenant=tenant).exclude(number="").values_list("number", "name")
    )
    seen_ext: dict[str, int] = {}
    seen_number: dict[str, int] = {}
    # Users whose main number the file changes: their old number is free for another row.
    moving = {row.ext for row in plan.rows if row.ext in existing and row.number}
    for row in plan.rows:
        if row.ext in seen_ext:
            plan.error(row.line, EXT, f"extension {row.ext} is also on row {seen_ext[row.ext]}")
        seen_ext.setdefault(row.ext, row.line)
        if row.ext in flow_numbers:
            plan.error(row.line, EXT, f"extension {row.ext} is call flow {flow_numbers[row.ext]}'s")
        row.existing = existing.get(row.ext)
        if row.existing is not None:
            row.site = row.existing.site
            if row.site_name and row.site_name.lower() != row.site.name.lower():
                plan.error(
                    row.line,
                    SITE,
                    f"extension {row.ext} is at {row.site.name}; a user stays at its site",
                )
        elif row.site_name:
            row.site = sites.get(row.site_name.lower())
            if row.site is None:
                plan.error(row.line, SITE, f"no site is named {row.site_name!r}")
        else:
            row.site = default_site
        if row.number:
            if row.number in seen_number:
                plan.error(
                    row.line, NUMBER, f"{row.number} is also on row {seen_number[row.number]}"
                )
            seen_number.setdefault(row.number, row.line)
            row.number_id = numbers.get(row.number)
            if row.number_id is None:
                plan.error(row.line, NUMBER, f"{row.number} is not one of the tenant's numbers")
            else:
                holder = main_of.get(row.number_id)
                if holder is not None and holder != row.ext and holder not in moving:
                    plan.error(
                        row.line, NUMBER, f"{row.number} is extension {holder}'s main number"
                    )
        codes_seen: set[str] = set()
        for column, code in row.addons:
            sku = skus.get(code)
            if not rules:
                plan.error(row.line, column, "this tenant's billing profile does not use licences")
            elif sku is None or sku.kind != LicenseSku.Kind.USER_ADDON:
                plan.error(row.line, column, f"{code!r} is not an add-on licence code")
            elif code in codes_seen:
                plan.error(row.line, column, f"{code} is listed twice")
            codes_seen.add(code)
        if row.seat:
            sku = skus.get(row.seat)
            if not rules:
                plan.error(row.line, SEAT, "this tenant's billing profile does not use licences")
            elif sku is None or sku.kind != LicenseSku.Kind.USER_BASE:
                plan.error(row.line, SEAT, f"{row.seat!r} is not a seat licence code")
    if rules:
        _capacity(plan, tenant, skus, seats, held_addons)


def _capacity(plan: Plan, tenant: Tenant, skus, seats, held_addons) -> None:
    """Walk the rows in order against the licences free at each site (and free to
    allocate), so the first row that finds none is the one reported."""
    from trunkline.pbx.devices import devices_of

    # The figures of the licence overview, as counters the walk moves on.
    allocated: dict[tuple[str, str], int] = {}
    used: dict[tuple[str, str], int] = {}
    unallocated: dict[str, int] = {}
    for figures in overview(tenant):
        unallocated[figures["sku"]] = figures["unallocated"]
        for site in figures["sites"]:
            allocated[(site["site_id"], figures["sku"])] = site["allocated"]
            used[(site["site_id"], figures["sku"])] = site["used"]

    def free(site_id: str, code: str) -> int:
        return allocated.get((site_id, code), 0) - used.get((site_id, code), 0)

    def take(site_id: str, code: str) -> bool:
        if free(site_id, code) <= 0:
            if unallocated.get(code, 0) <= 0:
                return False
            unallocated[code] -= 1
            allocated[(site_id, code)] = allocated.get((site_id, code), 0) + 1
        used[(site_id, code)] = used.get((site_id, code), 0) + 1
        plan.adds[(site_id, code)] += 1
        return True

    def give_back(site_id: str, code: str) -> None:
        used[(site_id, code)] -= 1
        plan.removals[(site_id, code)] += 1

    wrong = {error["row"] for error in plan.errors}
    switched_on = features_in_use(T, [row.existing.id for row in plan.rows if row.existing])
    for row in plan.rows:
        if row.line in wrong or row.site is None:
            continue  # already reported; what it would take is unknown
        site_id = row.site.id
        wanted = [code for _, code in row.addons]
        column_of = {code: column for column, code in row.addons}
        if row.existing is None:
            seat_code = row.seat or DEFAULT_SEAT
            if not take(site_id, seat_code):
                plan.error(
                    row.line,
                    SEAT,
                    f"no free {skus[seat_code].name} licence at {row.site.name}",
                )
                continue
            for code in wanted:
                if not take(site_id, code):
                    plan.error(
                        row.line,
                        column_of[code],
                        f"no free {skus[code].name} licence at {row.site.name}",
                    )
            continue
        current_seat = seats.get(row.existing.id)
        current = {a.sku_id for a in held_addons.get(row.existing.id, [])}
        for code in current - set(wanted):
            give_back(site_id, code)
        if row.seat and (current_seat is None or current_seat.sku_id != row.seat):
            if current_seat is not None:
                give_back(site_id, current_seat.sku_id)
            if not take(site_id, row.seat):
                plan.error(
                    row.line, SEAT, f"no free {skus[row.seat].name} licence at {row.site.name}"
                )
        elif current_seat is None and not take(site_id, DEFAULT_SEAT):
            plan.error(row.line, SEAT, f"no free {skus[DEFAULT_SEAT].name} licence")
        for code in wanted:
            if code not in current and not take(site_id, code):
                plan.error(
                    row.line,
                    column_of[code],
                    f"no free {skus[code].name} licence at {row.site.name}",
                )
        seat_code = row.seat or (current_seat.sku_id if current_seat else DEFAULT_SEAT)
        allowed = int((skus[seat_code].quotas or {}).get("devices", 0)) + sum(
            int((skus[code].quotas or {}).get("devices", 0)) for code in wanted
        )
        has = devices_of(T, row.existing.id)
        if has > allowed:
            plan.error(
                row.line,
                None,
                f"extension {row.ext} has {has} devices; these licences allow {allowed}",
            )
        granted = set(skus[seat_code].features or []).union(
            *((skus[code].features or []) for code in wanted)
        )
        missing = [
            words
            for feature, words in sorted(switched_on.get(row.existing.id, {}).items())
            if feature not in granted
        ]
        if missing:
            plan.error(
                row.line,
                None,
                f"extension {row.ext} has {', '.join(missing)} on, which these licences do "
                "not include; switch it off first",
            )


def _plan(tenant: Tenant, data: bytes) -> Plan:
    plan = Plan()
    _parse(plan, tenant, _decode(data))
    if any(error["row"] == 1 for error in plan.errors):
        return plan  # the header is unreadable: no row can be read
    if not plan.rows and not plan.errors:
        raise ValidationFailed("the file has no rows", field="file")
    _check(plan, tenant)
    return plan


def mass_config_check(*, actor: Actor, tenant: Tenant, data: bytes) -> dict:
    """Validate the file only: the summary applying it would give, or every problem."""
    require_tenant_writer(actor, tenant)
    plan = _plan(tenant, data)
    if plan.errors:
        raise InvalidRows(plan.errors, len(plan.errors))
    return _summary(plan, applied=False)


def _summary(plan: Plan, *, applied: bool) -> dict:
    return {
        "applied": applied,
        "rows": len(plan.rows),
        "created": sum(1 for row in plan.rows if row.existing is None),
        "updated": sum(1 for row in plan.rows if row.existing is not None),
        "licenses_assigned": sum(plan.adds.values()),
        "licenses_removed": sum(plan.removals.values()),
    }


def mass_config_apply(
    *, actor: Actor, tenant: Tenant, data: bytes, now: datetime | None = None
) -> dict:
    """Check the file under the tenant's lock and apply it in one transaction."""
    from trunkline.pbx.extensions import extensions_accept

    require_tenant_writer(actor, tenant)
    now = now or timezone.now()
    with transaction.atomic():
        partner = Partner.objects.select_for_update(no_key=True).get(pk=tenant.partner_id)
        tenant = tenant_lock(tenant)
        plan = _plan(tenant, data)
        if plan.errors:
            raise InvalidRows(plan.errors, len(plan.errors))
        adding = sum(1 for row in plan.rows if row.existing is None)
        if adding:
            extensions_accept(partner, tenant, now, adding=adding)
        _write(plan, actor, partner, tenant, now, licensed=governed(tenant))
    return _summary(plan, applied=True)


def _write(plan: Plan, actor: Actor, partner: Partner, tenant: Tenant, now, *, licensed) -> None:
    from trunkline.pbx.extensions import extension_json
    from trunkline.pbx.services import plain
    from trunkline.phone_numbers.models import PhoneNumber

    def event_view(
        extension: Extension, licenses: dict | None = None, additional: list | None = None
    ) -> dict:
        return plain(extension_json(extension, licenses, additional))

    # Allocations first: each site takes what its new assignments need beyond its free.
    for (site_id, code), count in plan.adds.items():
        row, _ = LicenseAllocation.objects.get_or_create(
            tenant=tenant, site_id=site_id, sku_id=code
        )
        used = LicenseAssignment.objects.filter(site_id=site_id, sku_id=code).count()
        freed = plan.removals.get((site_id, code), 0)
        needed = used - freed + count
        if needed > row.quantity:
            row.quantity = needed
            row.save(update_fields=["quantity"])

    # Users whose main number moves to another row let go of it first.
    moving = [row for row in plan.rows if row.number_id]
    Extension.objects.filter(
        tenant=tenant, main_number_id__in=[row.number_id for row in moving]
    ).update(main_number=None)

    numbers = PhoneNumber.objects.only("id", "e164").in_bulk([row.number_id for row in moving])
    created: list[Extension] = []
    for row in plan.rows:
        if row.existing is not None:
            continue
        created.append(
            Extension(
                partner=partner,
                tenant=tenant,
                site=row.site,
                number=row.ext,
                name=row.name,
                email=row.email or "",
                main_number=numbers.get(row.number_id),
                created_at=now,
                updated_at=now,
            )
        )
    Extension.objects.bulk_create(created, batch_size=500)
    ServicePeriod.objects.bulk_create(
        [
            ServicePeriod(
                partner_id=partner.id,
                tenant_id=tenant.id,
                kind=ServicePeriod.Kind.EXTENSION,
                object_id=extension.id,
                label=extension.number,
                started_at=now,
            )
            for extension in created
        ],
        batch_size=500,
    )
    by_ext = {extension.number: extension for extension in created}
    assignments: list[LicenseAssignment] = []
    removed: list[tuple[str, str]] = []
    updated: list[tuple[dict, Extension]] = []
    for row in plan.rows:
        if row.existing is None:
            extension = by_ext[row.ext]
            seat = row.seat or DEFAULT_SEAT
            codes = [(seat, True)] + [(code, False) for _, code in row.addons] if licensed else []
        else:
            extension = Extension.objects.get(pk=row.existing.pk)
            before = event_view(extension)
            extension.name = row.name
            if row.email is not None:
                extension.email = row.email
            if row.number_id:
                extension.main_number_id = row.number_id
            current = {
                a.sku_id: a
                for a in LicenseAssignment.objects.filter(target_type=T, target_id=extension.id)
            }
            wanted = {code for _, code in row.addons}
            seat = next((a for a in current.values() if a.is_base), None)
            codes = []
            for code, assignment in current.items():
                if not assignment.is_base and code not in wanted:
                    removed.append((extension.id, code))
            if row.seat and (seat is None or seat.sku_id != row.seat):
                if seat is not None:
                    removed.append((extension.id, seat.sku_id))
                codes.append((row.seat, True))
            elif seat is None and licensed:
                codes.append((DEFAULT_SEAT, True))
            codes += [(code, False) for code in wanted if code not in current]
            extension.updated_at = now
            extension.save()
            updated.append((before, extension))
        assignments += [
            LicenseAssignment(
                tenant=tenant,
                site_id=extension.site_id,
                sku_id=code,
                target_type=T,
                target_id=extension.id,
                is_base=is_base,
                created_at=now,
            )
            for code, is_base in codes
        ]
    for target_id, code in removed:
        LicenseAssignment.objects.filter(target_type=T, target_id=target_id, sku_id=code).delete()
    LicenseAssignment.objects.bulk_create(assignments, batch_size=500)

    licenses: dict[str, dict] = defaultdict(lambda: {"license": None, "addons": []})
    for assignment in sorted(assignments, key=lambda a: not a.is_base):
        entry = licenses[assignment.target_id]
        if assignment.is_base:
            entry["license"] = assignment.sku_id
        else:
            entry["addons"].append(assignment.sku_id)
    entries, events = [], []
    for extension in created:
        # A user just made has no numbers routed to it yet.
        view = event_view(extension, licenses[extension.id], [])
        entries.append(
            audit_entry(
                actor=actor,
                partner=partner,
                action="extension.created",
                object_type="extension",
                object_id=extension.id,
                tenant_id=tenant.id,
                after=view,
            )
        )
        events.append((partner, "extension.created", {"extension": view}))
    for before, extension in updated:
        after = event_view(extension)
        changed = {k: before[k] for k in changed_fields(before, after) if k != "updated_at"}
        entries.append(
            audit_entry(
                actor=actor,
                partner=partner,
                action="extension.updated",
                object_type="extension",
                object_id=extension.id,
                tenant_id=tenant.id,
                before=before,
                after=after,
            )
        )
        if changed:
            events.append(
                (
                    partner,
                    "extension.updated",
                    {"extension": after, "previous_attributes": changed},
                )
            )
    entries.append(
        audit_entry(
            actor=actor,
            partner=partner,
            action="license.mass_configured",
            object_type="tenant",
            object_id=tenant.id,
            tenant_id=tenant.id,
            after=_summary(plan, applied=True),
        )
    )
    audit_records(entries)
    if events:
        events_emit(events)
