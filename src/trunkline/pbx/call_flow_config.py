"""What each kind of call flow does, checked whole before it is stored.

- auto_attendant: named menus, each a greeting and keys (0–9, *, #) that send the caller
  to a destination, to another menu of the same attendant or back to the greeting; the
  menu callers hear in business hours, after hours and on holidays. A menu reached from
  an entry menu by one key press is level 2, and so on: "menu levels" are the deepest.
- hunt_group: members rung all at once or one after another, then a no-answer
  destination.
- queue: agents, hold music, how long and how many callers wait, where overflow goes.
- call_center: a queue with agents' skills, supervisors and opening hours; standard or
  premium.

`config_clean` answers the stored form and what it needs from licences (`Needs`): the
menu levels, the features the call flow's own licences must grant (a holiday menu, a
voicemail destination) and the features each member must have (call-center agents).
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field

from trunkline.core.errors import ValidationFailed
from trunkline.pbx.references import destination_clean, destination_types

KEYS = tuple("0123456789*#")
MENU_KEY = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
SKILL = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
SLUG = re.compile(r"[a-z0-9][a-z0-9_.-]{0,39}")
MAX_MENUS = 50
MAX_MEMBERS = 50
MAX_AGENTS = 200
MAX_SKILLS = 50
ENTRY_MENUS = ("business_hours_menu", "after_hours_menu", "holiday_menu")
RING_STRATEGIES = ("ring_all", "round_robin", "longest_idle", "fewest_calls", "random")


@dataclass
class Needs:
    menu_levels: int = 0
    features: set[str] = field(default_factory=set)
    # extension id -> features that member needs
    members: dict[str, set[str]] = field(default_factory=dict)
    needs_schedule: bool = False


class _Reader:
    """Reads one config object, refusing unknown keys and naming the path of any fault."""

    def __init__(self, value, path: str, allowed: set[str], required: set[str] = frozenset()):
        if not isinstance(value, dict):
            raise ValidationFailed(f"{path or 'config'} is an object", field=path or "config")
        unknown = set(value) - allowed
        if unknown:
            raise ValidationFailed(
                f"unknown field {sorted(unknown)[0]!r}", field=_join(path, sorted(unknown)[0])
            )
        missing = required - set(value)
        if missing:
            raise ValidationFailed(
                f"{sorted(missing)[0]} is required", field=_join(path, sorted(missing)[0])
            )
        self.value, self.path = value, path

    def at(self, key: str) -> str:
        return _join(self.path, key)

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        value = self.value.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValidationFailed(f"{key} is a whole number {low} to {high}", field=self.at(key))
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.value.get(key, default)
        if not isinstance(value, bool):
            raise ValidationFailed(f"{key} is true or false", field=self.at(key))
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: str | None = None) -> str:
        value = self.value.get(key, default)
        if value not in choices:
            raise ValidationFailed(f"{key} is one of {', '.join(choices)}", field=self.at(key))
        return value

    def text(self, key: str, default: str = "", limit: int = 500) -> str:
        value = self.value.get(key, default)
        if not isinstance(value, str) or len(value) > limit:
            raise ValidationFailed(
                f"{key} is text of at most {limit} characters", field=self.at(key)
            )
        return value.strip()

    def slug(self, key: str, default: str) -> str:
        value = self.value.get(key, default)
        if not isinstance(value, str) or not SLUG.fullmatch(value):
            raise ValidationFailed(
                f"{key} is a short name of lower-case letters, digits, '.', '_' or '-'",
                field=self.at(key),
            )
        return value


def _join(path: str, key) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


class ConfigContext:
    """What checking a config needs to know: the tenant, the call flow itself (to refuse
    a flow that sends calls straight back to itself) and how to find a member."""

    def __init__(self, tenant_id: str, flow_id: str | None, member_finder):
        self.tenant_id = tenant_id
        self.flow_id = flow_id
        self.member_finder = member_finder  # (tenant_id, extension id) -> bool

    def destination(self, value, path: str, *, nullable: bool = True) -> dict | None:
        if value is None and nullable:
            return None
        cleaned = destination_clean(self.tenant_id, value, field=path, allowed=destination_types())
        if cleaned.get("type") == "call_flow" and cleaned["id"] == self.flow_id:
            raise ValidationFailed("a call flow cannot send calls to itself", field=path)
        return cleaned

    def member(self, value, path: str) -> str:
        if (
            not isinstance(value, str)
            or len(value) > 64
            or not self.member_finder(self.tenant_id, value)
        ):
            from trunkline.core.errors import NotFound

            raise NotFound("no such user in this tenant", field=path)
        return value

    def members(self, values, path: str, limit: int, *, required: bool = True) -> list[str]:
        if not isinstance(values, list) or len(values) > limit or (required and not values):
            low = 1 if required else 0
            raise ValidationFailed(f"{path} lists {low} to {limit} users", field=path)
        found = [self.member(v, _join(path, i)) for i, v in enumerate(values)]
        if len(set(found)) != len(found):
            raise ValidationFailed("a user is listed once", field=path)
        return found


def _needs_voicemail(destination: dict | None, needs: Needs) -> None:
    if destination and destination["type"] == "voicemail":
        needs.features.add("voicemail")


# --- auto attendants --------------------------------------------------------------------------


def _menu_option(context: ConfigContext, value, path: str, menus: set[str], needs: Needs) -> dict:
    if isinstance(value, dict) and value.get("type") == "menu":
        reader = _Reader(value, path, {"type", "menu"}, {"menu"})
        if value["menu"] not in menus:
            raise ValidationFailed("no such menu in this auto attendant", field=reader.at("menu"))
        return {"type": "menu", "menu": value["menu"]}
    if isinstance(value, dict) and value.get("type") == "repeat":
        _Reader(value, path, {"type"})
        return {"type": "repeat"}
    destination = context.destination(value, path, nullable=False)
    _needs_voicemail(destination, needs)
    return destination


def _auto_attendant(context: ConfigContext, value, needs: Needs) -> dict:
    top = _Reader(
        value,
        "",
        {"menus", "dial_by_extension", *ENTRY_MENUS},
        {"menus", "business_hours_menu"},
    )
    menus_in = value["menus"]
    if not isinstance(menus_in, dict) or not 1 <= len(menus_in) <= MAX_MENUS:
        raise ValidationFailed(f"menus holds 1 to {MAX_MENUS} menus by key", field="menus")
    for key in menus_in:
        if not isinstance(key, str) or not MENU_KEY.fullmatch(key):
            raise ValidationFailed(
                "a menu's key is lower-case letters, digits, '_' or '-'", field=f"menus.{key}"
            )
    names = set(menus_in)
    menus: dict[str, dict] = {}
    for key, menu_in in menus_in.items():
        path = f"menus.{key}"
        menu = _Reader(
            menu_in,
            path,
            {
                "name",
                "greeting",
                "options",
                "timeout_seconds",
                "timeout_destination",
                "invalid_destination",
            },
            {"options"},
        )
        options_in = menu_in["options"]
        if not isinstance(options_in, dict) or len(options_in) > len(KEYS):
            raise ValidationFailed(
                "options maps keys 0-9, * and # to destinations", field=menu.at("options")
            )
        options = {}
        for digit, option in options_in.items():
            if digit not in KEYS:
                raise ValidationFailed(
                    "a menu key is 0-9, * or #", field=f"{menu.at('options')}.{digit}"
                )
            options[digit] = _menu_option(
                context, option, f"{menu.at('options')}.{digit}", names, needs
            )
        timeout_destination = context.destination(
            menu_in.get("timeout_destination"), menu.at("timeout_destination")
        )
        invalid_destination = context.destination(
            menu_in.get("invalid_destination"), menu.at("invalid_destination")
        )
        for destination in (timeout_destination, invalid_destination):
            _needs_voicemail(destination, needs)
        menus[key] = {
            "name": menu.text("name", default=key, limit=100) or key,
            "greeting": menu.text("greeting", limit=1000),
            "options": dict(sorted(options.items(), key=lambda item: KEYS.index(item[0]))),
            "timeout_seconds": menu.integer("timeout_seconds", 5, 1, 60),
            "timeout_destination": timeout_destination,
            "invalid_destination": invalid_destination,
        }
    entries = {}
    for entry in ENTRY_MENUS:
        chosen = value.get(entry)
        if chosen is None and entry != "business_hours_menu":
            entries[entry] = None
            continue
        if chosen not in menus:
            raise ValidationFailed(f"{entry} names one of the menus", field=entry)
        entries[entry] = chosen
    if entries["after_hours_menu"] or entries["holiday_menu"]:
        needs.needs_schedule = True
    if entries["after_hours_menu"]:
        needs.features.add("after_hours_menu")
    if entries["holiday_menu"]:
        needs.features.add("holiday_menu")
    needs.features.add("default_menu")
    needs.menu_levels = _levels(menus, [m for m in entries.values() if m])
    return {
        "menus": menus,
        **entries,
        "dial_by_extension": top.boolean("dial_by_extension", False),
    }


def _levels(menus: dict[str, dict], entries: list[str]) -> int:
    """The deepest menu level callers can reach: entry menus are level 1, a menu one key
    press away is level 2. A menu no caller can reach is refused."""
    depth = {entry: 1 for entry in entries}
    queue = deque(entries)
    while queue:
        key = queue.popleft()
        for option in menus[key]["options"].values():
            nested = option.get("menu") if option["type"] == "menu" else None
            if nested and nested not in depth:
                depth[nested] = depth[key] + 1
                queue.append(nested)
    unreached = sorted(set(menus) - set(depth))
    if unreached:
        raise ValidationFailed(
            f"menu {unreached[0]!r} is not reached from any entry menu",
            field=f"menus.{unreached[0]}",
        )
    return max(depth.values())


# --- hunt groups, queues, call centers -----------------------------------------------------


def _hunt_group(context: ConfigContext, value, needs: Needs) -> dict:
    reader = _Reader(
        value, "", {"strategy", "members", "ring_seconds", "no_answer_destination"}, {"members"}
    )
    destination = context.destination(value.get("no_answer_destination"), "no_answer_destination")
    _needs_voicemail(destination, needs)
    return {
        "strategy": reader.choice("strategy", ("simultaneous", "sequential"), "simultaneous"),
        "members": context.members(value["members"], "members", MAX_MEMBERS),
        "ring_seconds": reader.integer("ring_seconds", 20, 5, 300),
        "no_answer_destination": destination,
    }


QUEUE_FIELDS = {
    "agents",
    "ring_strategy",
    "hold_music",
    "max_wait_seconds",
    "max_callers",
    "announce_position",
    "overflow_destination",
}


def _waiting(context: ConfigContext, reader: _Reader, needs: Needs) -> dict:
    """The settings queues and call centers share."""
    overflow = context.destination(reader.value.get("overflow_destination"), "overflow_destination")
    _needs_voicemail(overflow, needs)
    return {
        "ring_strategy": reader.choice("ring_strategy", RING_STRATEGIES, "ring_all"),
        "hold_music": reader.slug("hold_music", "default"),
        "max_wait_seconds": reader.integer("max_wait_seconds", 300, 10, 7200),
        "max_callers": reader.integer("max_callers", 20, 1, 500),
        "announce_position": reader.boolean("announce_position", True),
        "overflow_destination": overflow,
    }


def _queue(context: ConfigContext, value, needs: Needs) -> dict:
    reader = _Reader(value, "", QUEUE_FIELDS, {"agents"})
    agents = context.members(value["agents"], "agents", MAX_AGENTS)
    for agent in agents:
        needs.members[agent] = {"basic_call_queues"}
    return {"agents": agents, **_waiting(context, reader, needs)}


def _call_center(context: ConfigContext, value, needs: Needs) -> dict:
    reader = _Reader(
        value,
        "",
        QUEUE_FIELDS | {"tier", "skills", "supervisors", "closed_destination"},
        {"agents"},
    )
    tier = reader.choice("tier", ("standard", "premium"), "standard")
    skills_in = value.get("skills", [])
    if (
        not isinstance(skills_in, list)
        or len(skills_in) > MAX_SKILLS
        or any(not isinstance(s, str) or not SKILL.fullmatch(s) for s in skills_in)
        or len(set(skills_in)) != len(skills_in)
    ):
        raise ValidationFailed(
            f"skills lists up to {MAX_SKILLS} distinct short names", field="skills"
        )
    if skills_in and tier != "premium":
        raise ValidationFailed("skills-based routing is a premium call center's", field="skills")
    agent_feature = f"call_center_{tier}"
    agents_in = value["agents"]
    if not isinstance(agents_in, list) or not 1 <= len(agents_in) <= MAX_AGENTS:
        raise ValidationFailed(f"agents lists 1 to {MAX_AGENTS} agents", field="agents")
    agents, seen = [], set()
    for index, agent_in in enumerate(agents_in):
        path = f"agents[{index}]"
        if isinstance(agent_in, str):
            agent_in = {"extension_id": agent_in}
        agent = _Reader(agent_in, path, {"extension_id", "skills"}, {"extension_id"})
        extension_id = context.member(agent_in["extension_id"], agent.at("extension_id"))
        if extension_id in seen:
            raise ValidationFailed("an agent is listed once", field=path)
        seen.add(extension_id)
        levels = agent_in.get("skills", {})
        if not isinstance(levels, dict):
            raise ValidationFailed(
                "an agent's skills map skill to level 1-10", field=agent.at("skills")
            )
        for skill, level in levels.items():
            if skill not in skills_in:
                raise ValidationFailed(
                    f"{skill!r} is not one of the call center's skills", field=agent.at("skills")
                )
            if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 10:
                raise ValidationFailed("a skill level is 1 to 10", field=agent.at("skills"))
        agents.append({"extension_id": extension_id, "skills": dict(sorted(levels.items()))})
        needs.members[extension_id] = {agent_feature}
    supervisors = context.members(value.get("supervisors", []), "supervisors", 50, required=False)
    if supervisors and tier != "premium":
        raise ValidationFailed("supervisors are a premium call center's", field="supervisors")
    for supervisor in supervisors:
        needs.members.setdefault(supervisor, set()).add("call_center_premium")
    closed = context.destination(value.get("closed_destination"), "closed_destination")
    _needs_voicemail(closed, needs)
    if closed is not None:
        needs.needs_schedule = True
    return {
        "tier": tier,
        "agents": agents,
        "skills": list(skills_in),
        "supervisors": supervisors,
        "closed_destination": closed,
        **_waiting(context, reader, needs),
    }


CHECKERS = {
    "auto_attendant": _auto_attendant,
    "hunt_group": _hunt_group,
    "queue": _queue,
    "call_center": _call_center,
}


def config_clean(kind: str, context: ConfigContext, value) -> tuple[dict, Needs]:
    needs = Needs()
    return CHECKERS[kind](context, value, needs), needs


def config_references(kind: str, config: dict):
    """(target type, target id, where) for everything the config sends calls to."""

    def destinations():
        if kind == "auto_attendant":
            for key, menu in config.get("menus", {}).items():
                label = f"menu {menu.get('name') or key}"
                for digit, option in menu.get("options", {}).items():
                    yield option, f"{label}, key {digit}"
                yield menu.get("timeout_destination"), f"{label}, no key pressed"
                yield menu.get("invalid_destination"), f"{label}, invalid key"
            return
        for key in ("no_answer_destination", "overflow_destination", "closed_destination"):
            yield config.get(key), key.replace("_", " ").replace(" destination", "")

    for destination, via in destinations():
        if destination and destination.get("id"):
            yield destination["type"], destination["id"], via
    for member in config.get("members", []):
        yield "extension", member, "member"
    for agent in config.get("agents", []):
        yield "extension", agent if isinstance(agent, str) else agent["extension_id"], "agent"
    for supervisor in config.get("supervisors", []):
        yield "extension", supervisor, "supervisor"
