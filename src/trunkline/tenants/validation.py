"""Field rules for tenants, shared by the API, the portal and the command line."""

from __future__ import annotations

import re
import zoneinfo
from functools import cache

import zipcodes
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


_CITY_WORDS = {"saint": "st", "sainte": "ste", "fort": "ft", "mount": "mt"}


def _city_key(name: str) -> str:
    words = re.sub(r"[^a-z0-9 ]", " ", name.casefold()).split()
    return " ".join(_CITY_WORDS.get(word, word) for word in words)


def _check_zip_and_city(zip5: str, state: str, city: str) -> None:
    """The ZIP exists, lies in the state, is not PO-box-only, and the city is one USPS
    accepts for it — what a carrier's 911 address validation would refuse otherwise."""
    field = "e911_address.postal_code"
    matches = zipcodes.matching(zip5)
    if not matches:
        raise ValidationFailed(f"ZIP code {zip5} does not exist", field=field)
    record = matches[0]
    if record["state"] != state:
        raise ValidationFailed(f"ZIP code {zip5} is in {record['state']}, not {state}", field=field)
    if record["zip_code_type"] in ("PO BOX", "MILITARY"):
        raise ValidationFailed(
            f"ZIP code {zip5} is for {record['zip_code_type'].lower()} addresses only; 911 needs "
            "the street address where the phones are",
            field=field,
        )
    accepted = [record["city"], *record["acceptable_cities"]]
    if _city_key(city) not in {_city_key(name) for name in accepted}:
        raise ValidationFailed(
            f"ZIP code {zip5} is {record['city']}, {state}; check the city",
            field="e911_address.city",
        )


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
    _check_zip_and_city(postal_code[:5], state, city)
    return {
        "street": street,
        "street2": (address.get("street2") or "").strip() or None,
        "city": city,
        "state": state,
        "postal_code": postal_code,
        "country": country,
    }
