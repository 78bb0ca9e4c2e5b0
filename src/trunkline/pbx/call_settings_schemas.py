"""The shape of a user's call settings: one strict document, the same in the API, in the
service that checks it and in the stored row.

Every object refuses unknown fields and values of the wrong type (no "true" for true), and
every string and list is bounded. What needs the tenant's data to check (that a forwarding
target is the tenant's, that a caller ID is one of its numbers) is checked by
`pbx.call_settings`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, create_model, model_serializer, model_validator

from trunkline.core.schemas import InSchema

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_LINKED_MOBILES = 5
MAX_RULES = 10
MAX_CALLERS = 50
MAX_WINDOWS = 7
E164 = r"^\+[1-9]\d{6,14}$"
# A whole number in E.164, or the start of one followed by `*` (every number it begins).
CALLER = r"^\+[1-9]\d{6,14}$|^\+[1-9]\d{0,13}\*$"
CLOCK = r"^([01]\d|2[0-3]):[0-5]\d$"
CLOCK_END = r"^(([01]\d|2[0-3]):[0-5]\d|24:00)$"


Number = Annotated[str, Field(pattern=E164, max_length=16)]
Caller = Annotated[str, Field(pattern=CALLER, max_length=16)]


class _Strict(InSchema):
    model_config = ConfigDict(extra="forbid", strict=True)


class ForwardDestination(_Strict):
    """Where a forwarded call goes: the destination shape of `pbx.references`."""

    type: str = Field(
        max_length=20,
        description="extension (a user), call_flow, voicemail or external, as the tenant has them",
        examples=["external"],
    )
    id: str | None = Field(
        default=None, max_length=64, description="the target's id, for every type but external"
    )
    number: str | None = Field(
        default=None,
        max_length=20,
        description="an external number in E.164 (type external only)",
        examples=["+15015550199"],
    )

    @model_serializer(mode="wrap")
    def _without_nulls(self, handler):
        # A destination shows only what its type has: {"type": "external", "number": …}.
        return {key: value for key, value in handler(self).items() if value is not None}


class RuleTimeWindow(_Strict):
    """A weekly window in the time zone of the user's site."""

    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(
        min_length=1, max_length=7, description="the days it applies", examples=[["mon", "fri"]]
    )
    start: str = Field(
        pattern=CLOCK, max_length=5, description="from HH:MM (24-hour)", examples=["09:00"]
    )
    end: str = Field(
        pattern=CLOCK_END,
        max_length=5,
        description="until HH:MM, after start; 24:00 is the end of the day (a window past "
        "midnight is two windows)",
        examples=["17:30"],
    )

    @model_validator(mode="after")
    def _ordered(self):
        if self.end <= self.start:
            raise ValueError("end is after start (split a window past midnight in two)")
        if len(set(self.days)) != len(self.days):
            raise ValueError("a day is listed twice")
        return self


class CallRule(_Strict):
    """Which calls a selective setting applies to: those in one of its time windows and
    from one of its callers. An empty list means any time, or any caller; a rule names at
    least one of the two."""

    name: str = Field(default="", max_length=100, description="a label for people")
    times: list[RuleTimeWindow] = Field(
        default_factory=list,
        max_length=MAX_WINDOWS,
        description=f"up to {MAX_WINDOWS} weekly windows; empty: at any time",
    )
    callers: list[Caller] = Field(
        default_factory=list,
        max_length=MAX_CALLERS,
        description=f"up to {MAX_CALLERS} calling numbers in E.164, or beginnings of numbers "
        "ending in * (+1501*); empty: any caller",
        examples=[["+15015550100", "+1501*"]],
    )

    @model_validator(mode="after")
    def _narrow(self):
        if not self.times and not self.callers:
            raise ValueError("a rule names times, callers or both")
        if len(set(self.callers)) != len(self.callers):
            raise ValueError("a caller is listed twice")
        return self


class ForwardRule(CallRule):
    destination: ForwardDestination = Field(description="where the calls the rule matches go")


class CallForward(_Strict):
    """Call forwarding on one condition."""

    enabled: bool = Field(default=False, description="forwarding on")
    destination: ForwardDestination | None = Field(
        default=None, description="where calls go; needed while enabled, kept while off"
    )


class CallForwardNoReply(CallForward):
    ring_seconds: int = Field(
        default=20, ge=5, le=120, description="how long the user's phones ring first"
    )


class CallForwardSelective(_Strict):
    """Selective forwarding: calls matching a rule (by time and/or caller) go to the
    rule's destination; the first matching rule wins."""

    enabled: bool = Field(default=False, description="selective forwarding on")
    rules: list[ForwardRule] = Field(
        default_factory=list, max_length=MAX_RULES, description=f"up to {MAX_RULES} rules"
    )


class CallScreening(_Strict):
    """Selective rejection (calls matching a rule are refused) or acceptance (only calls
    matching a rule ring; the others are refused)."""

    enabled: bool = Field(default=False, description="on")
    rules: list[CallRule] = Field(
        default_factory=list, max_length=MAX_RULES, description=f"up to {MAX_RULES} rules"
    )


class SimultaneousRinging(_Strict):
    enabled: bool = Field(
        default=False, description="the linked mobiles ring together with the user's phones"
    )


class SequentialRinging(_Strict):
    enabled: bool = Field(
        default=False,
        description="incoming calls ring the user's phones, then each linked mobile in turn",
    )
    ring_seconds: int = Field(
        default=15, ge=5, le=60, description="how long each one rings before the next"
    )


class CallSettingsDoc(_Strict):
    """A user's call settings. Each is available only where the user's licences grant it
    (the Basic/Premium table of `000_*.txt`); a tenant not billed by licence has them all."""

    do_not_disturb: bool = Field(default=False, description="calls are not put through")
    forward_always: CallForward = Field(
        default_factory=CallForward, description="forward every call (unconditional)"
    )
    forward_busy: CallForward = Field(
        default_factory=CallForward, description="forward when the user is on a call"
    )
    forward_no_reply: CallForwardNoReply = Field(
        default_factory=CallForwardNoReply, description="forward when nobody answers"
    )
    forward_unreachable: CallForward = Field(
        default_factory=CallForward,
        description="forward when no phone of the user is registered",
    )
    forward_selective: CallForwardSelective = Field(
        default_factory=CallForwardSelective,
        description="forward by time or caller (Premium seats)",
    )
    linked_mobiles: list[Number] = Field(
        default_factory=list,
        max_length=MAX_LINKED_MOBILES,
        description=f"the user's mobile numbers in E.164, up to {MAX_LINKED_MOBILES}, each "
        "once; simultaneous and sequential ringing ring them in this order",
        examples=[["+15015550177"]],
    )
    simultaneous_ringing: SimultaneousRinging = Field(default_factory=SimultaneousRinging)
    sequential_ringing: SequentialRinging = Field(default_factory=SequentialRinging)
    reject_anonymous: bool = Field(
        default=False, description="refuse calls that withhold their number"
    )
    selective_rejection: CallScreening = Field(
        default_factory=CallScreening, description="refuse the calls the rules match"
    )
    selective_acceptance: CallScreening = Field(
        default_factory=CallScreening,
        description="let only the calls the rules match ring (Premium seats)",
    )
    hide_number: bool = Field(default=False, description="outgoing calls withhold the number")
    outgoing_caller_id: str | None = Field(
        default=None,
        max_length=20,
        description="flexible outgoing caller ID: one of the tenant's own numbers (E.164) "
        "shown on the user's outgoing calls; null shows the main number. Let go when the "
        "number leaves the tenant",
        examples=["+15015550123"],
    )


def _partial(model: type[InSchema], name: str) -> type[InSchema]:
    """`model` with every field optional (absent: unchanged), for a partial update."""
    fields = {
        key: (info.annotation | None, Field(default=None, description=info.description))
        for key, info in model.model_fields.items()
    }
    return create_model(name, __base__=_Strict, __doc__=model.__doc__, **fields)


def _section_patch(key: str, info):
    annotation = info.annotation
    if isinstance(annotation, type) and issubclass(annotation, _Strict):
        return (
            _partial(annotation, annotation.__name__ + "Patch") | None,
            Field(default=None, description=info.description),
        )
    return (annotation | None, Field(default=None, description=info.description))


CallSettingsPatch = create_model(
    "CallSettingsPatch",
    __base__=_Strict,
    __doc__="The settings to change; those not sent stay as they are. In an object (a "
    "forwarding condition, a ringing or screening setting) the fields not sent stay too; "
    "lists (rules, linked mobiles) are replaced whole. null sets a field back to its default.",
    **{key: _section_patch(key, info) for key, info in CallSettingsDoc.model_fields.items()},
)
