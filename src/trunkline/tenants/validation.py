"""Field rules for tenants, shared by the API, the portal and the command line."""

from __future__ import annotations

import re
import zoneinfo
from functools import cache

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email

from trunkline.core.errors import ValidationFailed

# Always used with fullmatch: `$` would let a trailing newline through.
SIP_PREFIX = re.compile(r"[a-z0-9]{3,12}")
CNAM = re.compile(r"[A-Za-z0-9 &,\-.']{1,15}")
US_STATES = frozenset(
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH "
    "NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY PR VI GU AS MP".split()
)
POSTAL_CODE = re.compile(r"\d{5}(-\d{4})?")
# The first digit of a ZIP code names a group of states (the USPS national areas), so
# a ZIP from the wrong part of the country is caught without a full ZIP database.
# Exceptions: 005xx is New York (Holtsville), 885xx is Texas (El Paso), 569xx is DC.
_ZIP_AREAS = {
    "0": "CT MA ME NH NJ NY PR RI VT VI",
    "1": "DE NY PA",
    "2": "DC MD NC SC VA WV",
    "3": "AL FL GA MS TN",
    "4": "IN KY MI OH",
    "5": "DC IA MN MT ND SD WI",
    "6": "IL KS MO NE",
    "7": "AR LA OK TX",
    "8": "AZ CO ID NM NV TX UT WY",
    "9": "AK AS CA GU HI MP OR WA",
}
ZIP_AREA_STATES = {digit: frozenset(states.split()) for digit, states in _ZIP_AREAS.items()}


@cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def clean_name(value: str) -> str:
    value = (value or "").strip()
    if not value:
        raise ValidationFailed("name is required", field="name")
    if len(value) > 120:
        raise ValidationFailed("name is at most 120 characters", field="name")
    return value


def clean_sip_prefix(value: str) -> str:
    if not isinstance(value, str) or not SIP_PREFIX.fullmatch(value):
        raise ValidationFailed(
            "sip_prefix is 3 to 12 lowercase letters and digits", field="sip_prefix"
        )
    return value


def clean_email(value: str, field: str = "billing_email") -> str:
    value = (value or "").strip()
    try:
        validate_email(value)
    except DjangoValidationError:
        raise ValidationFailed(f"{field} is not a valid email address", field=field) from None
    return value.lower()


def clean_cnam(value: str | None, field: str = "default_cnam") -> str:
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or not CNAM.fullmatch(value):
        raise ValidationFailed(
            "caller ID name is at most 15 characters: letters, digits, spaces and & , - . '",
            field=field,
        )
    return value


def clean_timezone(value: str) -> str:
    if not isinstance(value, str) or value not in _zones():
        raise ValidationFailed(f"{value!r} is not an IANA time zone", field="timezone")
    return value


def clean_e911_address(address: dict | None) -> dict | None:
    """A US dispatchable address: street, city, two-letter state and ZIP are required."""
    if not address:
        return None
    street = (address.get("street") or "").strip()
    city = (address.get("city") or "").strip()
    state = (address.get("state") or "").strip().upper()
    postal_code = (address.get("postal_code") or "").strip()
    country = (address.get("country") or "US").strip().upper()
    if country != "US":
        raise ValidationFailed("E911 addresses are US addresses", field="e911_address.country")
    for name, value in (("street", street), ("city", city)):
        if not value:
            raise ValidationFailed(f"{name} is required", field=f"e911_address.{name}")
    if state not in US_STATES:
        raise ValidationFailed("state is a two-letter US state code", field="e911_address.state")
    if not POSTAL_CODE.fullmatch(postal_code):
        raise ValidationFailed("postal_code is a US ZIP code", field="e911_address.postal_code")
    if state not in ZIP_AREA_STATES[postal_code[0]]:
        raise ValidationFailed(
            f"ZIP code {postal_code} is not in {state}", field="e911_address.postal_code"
        )
    return {
        "street": street,
        "street2": (address.get("street2") or "").strip() or None,
        "city": city,
        "state": state,
        "postal_code": postal_code,
        "country": country,
    }
