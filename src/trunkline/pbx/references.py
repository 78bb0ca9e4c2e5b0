"""Where calls go, and what points where.

A destination is one small JSON object, the same wherever a call is sent: an auto
attendant's menu key, a hunt group's no-answer target, a DID's route, a user's call
forwarding. Its `type` says what it points to; every type but the plain ones names an
object of the same tenant by `id`:

    {"type": "extension", "id": "ext_…"}      a user
    {"type": "call_flow", "id": "cfl_…"}      an auto attendant, hunt group, queue, center
    {"type": "voicemail", "id": "vmb_…"}      a voicemail box
    {"type": "trunk", "id": "trk_…"}          a SIP trunk (the on-prem PBX behind it)
    {"type": "external", "number": "+1…"}     a number outside the system (E.164)
    {"type": "hangup"}                        end the call

Each app that owns a kind of target registers how to find one (`target_register`), and
each app that stores destinations registers how to list what points at a target
(`referrer_source_register`). Deleting a target that anything still points at is refused
with the list of referrers, so no route is ever left dangling.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

import phonenumbers

from trunkline.core.errors import Conflict, NotFound, ValidationFailed

PLAIN_TYPES = ("external", "hangup")


@dataclass(frozen=True)
class Referrer:
    """Something that sends calls to a target: what it is, and where in it."""

    type: str  # "call_flow", "phone_number", "extension", …
    id: str
    name: str
    via: str  # e.g. "menu Main, key 1"


class InUse(Conflict):
    type = "in_use"

    def __init__(self, what: str, found: list[Referrer]):
        names = "; ".join(f"{r.name} ({r.via})" for r in found[:10])
        more = f" and {len(found) - 10} more" if len(found) > 10 else ""
        super().__init__(
            f"{what} is still a destination of {len(found)} "
            f"{'thing' if len(found) == 1 else 'things'}: {names}{more}; route them elsewhere "
            "first"
        )
        self.referrers = found

    def envelope(self) -> dict:
        body = super().envelope()
        body["error"]["referrers"] = [asdict(r) for r in self.referrers]
        return body


# type -> finder(tenant_id, id) -> (object, display name) or None
TARGETS: dict[str, Callable[[str, str], tuple[object, str] | None]] = {}
# source(tenant_id, target_type, target_id) -> referrers
SOURCES: list[Callable[[str, str, str], Iterable[Referrer]]] = []


def target_register(type_name: str, finder) -> None:
    TARGETS[type_name] = finder


def referrer_source_register(source) -> None:
    if source not in SOURCES:
        SOURCES.append(source)


def destination_types() -> tuple[str, ...]:
    return tuple(sorted(TARGETS)) + PLAIN_TYPES


def destination_clean(
    tenant_id: str, value, *, field: str, allowed: Iterable[str] | None = None
) -> dict:
    """A destination checked against the tenant's objects, in its stored form; 422 for a
    malformed one, 404 for an id that is not the tenant's."""
    types = tuple(allowed) if allowed is not None else destination_types()
    if not isinstance(value, dict) or not isinstance(value.get("type"), str):
        raise ValidationFailed(
            f"a destination is an object with a type ({', '.join(types)})", field=field
        )
    kind = value["type"]
    if kind not in types:
        raise ValidationFailed(f"destination type is one of {', '.join(types)}", field=field)
    extra = set(value) - {"type", "id", "number"}
    if extra:
        raise ValidationFailed(f"unknown destination field {sorted(extra)[0]!r}", field=field)
    if kind == "hangup":
        return {"type": "hangup"}
    if kind == "external":
        return {"type": "external", "number": external_number(value.get("number"), field=field)}
    target_id = value.get("id")
    if not isinstance(target_id, str) or not target_id or len(target_id) > 64:
        raise ValidationFailed(f"a {kind} destination names its id", field=field)
    if TARGETS[kind](tenant_id, target_id) is None:
        raise NotFound(f"no such {kind.replace('_', ' ')} in this tenant", field=field)
    return {"type": kind, "id": target_id}


def external_number(value, *, field: str) -> str:
    """A number outside the system, in E.164."""
    if not isinstance(value, str) or len(value) > 20:
        raise ValidationFailed("an external number is in E.164, like +15015550123", field=field)
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is None or not phonenumbers.is_valid_number(parsed):
        raise ValidationFailed(f"{value!r} is not a valid number in E.164", field=field)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def destination_label(tenant_id: str, destination: dict | None) -> str:
    """A person's words for a destination ("user 2001 Ana Ruiz", "hang up")."""
    if not destination:
        return "nothing"
    kind = destination["type"]
    if kind == "hangup":
        return "hang up"
    if kind == "external":
        return destination["number"]
    found = TARGETS.get(kind, lambda *_: None)(tenant_id, destination["id"])
    return found[1] if found else f"missing {kind}"


def points_at(destination: dict | None, target_type: str, target_id: str) -> bool:
    return bool(destination) and (
        destination.get("type") == target_type and destination.get("id") == target_id
    )


def referrers(tenant_id: str, target_type: str, target_id: str) -> list[Referrer]:
    found: list[Referrer] = []
    for source in SOURCES:
        found.extend(source(tenant_id, target_type, target_id))
    return found


def delete_guard(*, tenant_id: str, target_type: str, target_id: str, what: str) -> None:
    """Refuse (409 `in_use`, with `error.referrers`) deleting a target something routes to.
    Call it under the tenant's lock, so no route to it can be added meanwhile."""
    found = referrers(tenant_id, target_type, target_id)
    if found:
        raise InUse(what, found)


def target_get(tenant_id: str, target_type: str, target_id: str):
    found = TARGETS.get(target_type, lambda *_: None)(tenant_id, target_id)
    if found is None:
        raise NotFound(f"no such {target_type.replace('_', ' ')}", field="id")
    return found[0]
