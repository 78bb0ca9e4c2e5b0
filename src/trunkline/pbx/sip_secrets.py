"""SIP passwords of devices and trunks: made up by the platform, sealed with the platform
key (the call engine's configuration needs them back, so they cannot be hashed) and shown
only by the call that sets them."""

from __future__ import annotations

import secrets
import string
from datetime import datetime

from trunkline.core import crypto

PASSWORD_LENGTH = 24
_ALPHABET = string.ascii_letters + string.digits


_KINDS = {"Device": "device", "SipTrunk": "trunk"}


def _context(holder) -> str:
    # The sealed bytes are bound to what holds them: a device's cannot be opened as a
    # trunk's, nor one device's as another's.
    return f"{_KINDS[type(holder).__name__]}_password:{holder.id}"


def sip_password_new(holder, now: datetime) -> str:
    """A fresh password sealed onto `holder` (a Device or SipTrunk, not yet saved)."""
    password = "".join(secrets.choice(_ALPHABET) for _ in range(PASSWORD_LENGTH))
    holder.sealed_password = crypto.seal_bytes(password.encode(), context=_context(holder))
    holder.password_set_at = now
    return password


def sip_password(holder) -> str:
    """The password, for the call engine's configuration only."""
    return crypto.open_bytes(bytes(holder.sealed_password), context=_context(holder)).decode()
